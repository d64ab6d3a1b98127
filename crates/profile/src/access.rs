//! Access rights: for each attribute, a level for each party.
//!
//! The parties are the end user (settings page, self-service API) and the bearer of an access
//! token (UserInfo). The Admin API always has full access and is not configured. Two rules hold for
//! every attribute: the bearer can never write (`readwrite` is refused), and whatever the end user
//! can see the bearer can see too (an end user reading a value no app could ever receive would be a
//! lie about what apps know).

use serde::{Deserialize, Serialize};

/// How much a party may do with an attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Hidden,
    Readonly,
    Readwrite,
}

impl Level {
    pub fn can_read(self) -> bool {
        self >= Level::Readonly
    }

    pub fn can_write(self) -> bool {
        self == Level::Readwrite
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Hidden => "hidden",
            Level::Readonly => "readonly",
            Level::Readwrite => "readwrite",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "hidden" => Some(Level::Hidden),
            "readonly" => Some(Level::Readonly),
            "readwrite" => Some(Level::Readwrite),
            _ => None,
        }
    }
}

/// The levels of one attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Access {
    pub end_user: Level,
    pub bearer: Level,
}

/// Why a pair of levels is not allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AccessError {
    #[error("bearer can never be readwrite")]
    BearerWrite,
    #[error("when end_user can see an attribute, bearer must see it too")]
    EndUserSeesMore,
}

impl Access {
    pub const HIDDEN: Access = Access {
        end_user: Level::Hidden,
        bearer: Level::Hidden,
    };

    pub const EDITABLE: Access = Access {
        end_user: Level::Readwrite,
        bearer: Level::Readonly,
    };

    /// Checks the two rules.
    pub fn new(end_user: Level, bearer: Level) -> Result<Self, AccessError> {
        if bearer == Level::Readwrite {
            return Err(AccessError::BearerWrite);
        }
        if end_user.can_read() && !bearer.can_read() {
            return Err(AccessError::EndUserSeesMore);
        }
        Ok(Self { end_user, bearer })
    }
}

/// Who is reading or writing a profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Party {
    EndUser,
    Bearer,
    Admin,
}

impl Access {
    pub fn level(&self, party: Party) -> Level {
        match party {
            Party::EndUser => self.end_user,
            Party::Bearer => self.bearer,
            Party::Admin => Level::Readwrite,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_combination_is_allowed_or_refused_as_the_rules_say() {
        use Level::*;
        let all = [Hidden, Readonly, Readwrite];
        for end_user in all {
            for bearer in all {
                let result = Access::new(end_user, bearer);
                let expected = match (end_user, bearer) {
                    (_, Readwrite) => Err(AccessError::BearerWrite),
                    (Readonly | Readwrite, Hidden) => Err(AccessError::EndUserSeesMore),
                    _ => Ok(Access { end_user, bearer }),
                };
                assert_eq!(result, expected, "end_user={end_user:?} bearer={bearer:?}");
            }
        }
        // The allowed set: hidden/hidden, hidden/readonly, readonly/readonly, readwrite/readonly.
        let allowed = all
            .iter()
            .flat_map(|e| all.iter().map(move |b| (*e, *b)))
            .filter(|(e, b)| Access::new(*e, *b).is_ok())
            .count();
        assert_eq!(allowed, 4);
    }

    #[test]
    fn the_admin_always_has_full_access() {
        assert_eq!(Access::HIDDEN.level(Party::Admin), Level::Readwrite);
        assert_eq!(Access::EDITABLE.level(Party::EndUser), Level::Readwrite);
        assert_eq!(Access::EDITABLE.level(Party::Bearer), Level::Readonly);
        assert!(Level::Readonly.can_read() && !Level::Readonly.can_write());
        assert_eq!(Level::parse("readwrite"), Some(Level::Readwrite));
        assert_eq!(Level::parse("write"), None);
    }
}
