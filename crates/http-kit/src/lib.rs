//! What Tessera's two HTTP faces share — the pages crate (`web`: pages, OAuth endpoints, the
//! self-service API) and the Admin API — so that neither leans on the other: problem+json
//! answers, JSON bodies with their limits, the bearer header, multipart uploads, the client's
//! address behind trusted proxies, and the NUL guard at the door.
//!
//! Nothing here knows a route or a domain rule; it turns HTTP into plain values and domain errors
//! into HTTP.

pub mod bearer;
pub mod client_ip;
pub mod input_guard;
pub mod json;
pub mod problem;
pub mod problem_profile;
pub mod uploads;

pub use bearer::{Authorization, authorization};
pub use client_ip::{TrustedProxies, client_ip};
pub use json::{json_no_store, parse_json_body, wants_annotations};
pub use problem::Problem;
pub use problem_profile::change_problem;
