//! Identifiers. Team, collection and record ids are 128-bit random values, so the
//! server learns nothing from them; usernames are the one human-chosen name the
//! server sees (it needs them to look up a salt).

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum IdError {
    #[error("an id is 32 lowercase hex characters")]
    BadId,
    #[error("a username is 3–32 characters of a–z, 0–9, '.', '_' or '-', starting with a letter or digit")]
    BadUsername,
}

macro_rules! random_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub [u8; 16]);

        impl $name {
            /// A fresh random id from the operating system's CSPRNG.
            pub fn random() -> Self {
                let mut b = [0u8; 16];
                OsRng.fill_bytes(&mut b);
                Self(b)
            }
            pub fn as_bytes(&self) -> &[u8; 16] {
                &self.0
            }
            pub fn from_slice(s: &[u8]) -> Result<Self, IdError> {
                <[u8; 16]>::try_from(s).map(Self).map_err(|_| IdError::BadId)
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&hex::encode(self.0))
            }
        }
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self)
            }
        }
        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                if s.len() != 32 || s.bytes().any(|c| c.is_ascii_uppercase()) {
                    return Err(IdError::BadId);
                }
                let v = hex::decode(s).map_err(|_| IdError::BadId)?;
                Self::from_slice(&v)
            }
        }
        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

random_id!(
    /// A team: one membership chain, one sequence of changes.
    TeamId
);
random_id!(
    /// A collection of records that share keys (a portfolio, or a shared pool).
    CollectionId
);
random_id!(
    /// One record (customer, contact, interaction, task or deal).
    RecordId
);
random_id!(
    /// An invitation to a team (its secret never reaches the server).
    InviteId
);

/// A validated username: `[a-z0-9][a-z0-9._-]{2,31}`.
///
/// Shared, not owned: every field of every record names its author, so a clone must
/// not allocate (100,000 cached customers hold about a million of them).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Username(Arc<str>);

impl Username {
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let ok_len = (3..=32).contains(&s.len());
        let mut chars = s.chars();
        let ok_first = chars.next().is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        let ok_rest = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c));
        if ok_len && ok_first && ok_rest {
            Ok(Self(s.into()))
        } else {
            Err(IdError::BadUsername)
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl fmt::Debug for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Username({})", self.0)
    }
}
impl Serialize for Username {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}
impl<'de> Deserialize<'de> for Username {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Username::parse(&s).map_err(serde::de::Error::custom)
    }
}
impl FromStr for Username {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        Username::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_as_lowercase_hex() {
        let id = RecordId::random();
        let s = id.to_string();
        assert_eq!(s.len(), 32);
        assert_eq!(s.parse::<RecordId>().unwrap(), id);
        assert!(s.to_uppercase().parse::<RecordId>().is_err() || s == s.to_uppercase());
        assert_eq!(serde_json::from_str::<RecordId>(&serde_json::to_string(&id).unwrap()).unwrap(), id);
        assert!("xyz".parse::<TeamId>().is_err());
    }

    #[test]
    fn usernames_are_restricted() {
        assert!(Username::parse("alice").is_ok());
        assert!(Username::parse("a.b-c_9").is_ok());
        for bad in ["al", "Alice", "-alice", "alice smith", "", &"a".repeat(33), "ålice"] {
            assert!(Username::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert!(serde_json::from_str::<Username>("\"Bob\"").is_err());
    }
}
