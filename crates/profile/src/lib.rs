//! Profiles: the OpenID Connect standard claims and custom attributes defined at run time, with
//! access rights per party (end user, UserInfo bearer, admin), validation, and generated defaults.

pub mod access;
pub mod annotations;
pub mod document;
pub mod generated;
pub mod images;
pub mod population;
pub mod rich_text;
pub mod schema;
pub mod service;
pub mod standard;
pub mod uploads;
pub mod validate;

pub use access::{Access, Level, Party};
pub use document::{Audience, Change, ProfileError};
pub use schema::{AttributeType, ProfileSchema, SchemaError};
pub use service::{Author, ChangeError, ProfileService, SchemaChangeError};
pub use store::accounts::IdentityKind;
/// Plain types of the data layer that callers of the domain crates hold and pass back: the
/// database handle, the clock, ids, who acted. (The HTTP crates know no more of `store`.)
pub use store::audit::Actor;
pub use store::{Clock, Db, SystemClock, Uuid};
pub use uploads::{ImageTarget, PublicImages, UploadError};

/// What a new profile starts with: a generated nickname (unless turned off) and avatar seed.
#[derive(Debug, Clone, PartialEq)]
pub struct NewProfile {
    pub standard_attributes: serde_json::Value,
    pub avatar_seed: String,
}

impl NewProfile {
    pub fn generated(with_nickname: bool) -> Self {
        let mut standard = serde_json::Map::new();
        if with_nickname {
            standard.insert("nickname".into(), generated::friendly_name().into());
        }
        Self {
            standard_attributes: serde_json::Value::Object(standard),
            avatar_seed: generated::avatar_seed(),
        }
    }
}
#[cfg(test)]
mod tests;
