//! The pages people see in a browser: sign-up, sign-in and sign-out, the code pages, password
//! reset, the settings page with its forms (profile, images, login IDs, password, sessions, apps,
//! upstream links) and upstream sign-in. Every page behind the sign-in takes
//! [`crate::signed_in::SignedIn`]; every form carries a CSRF token ([`crate::csrf`]).

pub mod identities;
pub mod mfa;
pub mod passkeys;
pub mod reset;
pub mod settings;
pub mod settings_form;
pub mod settings_images;
pub mod sign_in;
pub mod upstream;
pub mod verification;
