//! Who is calling: the identity that transport and authentication establish for a request,
//! and the key that per-caller budgets and caps are counted under.
//!
//! The authentication layer puts a [`Caller`] into each request's extensions before any
//! service sees it; everything after it (sender authorization, the anti-harvest budget, load
//! shedding, stream caps, logs) reads it with [`Caller::of`].

use std::fmt;
use std::hash::{Hash, Hasher};
use std::net::IpAddr;
use std::sync::Arc;

use crate::domain::address::Address;

/// The party behind a request.
#[allow(
    dead_code,
    reason = "User and Service are made by authentication, which lands next"
)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Caller {
    /// No credentials (only where authentication is off); counted by peer address.
    Anonymous { peer: Option<IpAddr> },
    /// A person or mailbox holding a verified bearer token naming `address`.
    User { address: Address },
    /// A trusted service, authenticated by its client certificate.
    Service { name: Arc<str> },
}

/// What per-caller limits are counted under: one key per identity, or per peer address for
/// anonymous callers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CallerKey {
    Peer(Option<IpAddr>),
    User(Address),
    Service(Arc<str>),
}

/// One write per key where the derived hash made up to four (the variant's and the option's
/// tags, then the address's): the admission and budget maps hash the key of every call. Keys
/// of different variants may share a hash; equality tells them apart.
impl Hash for CallerKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        match self {
            CallerKey::Peer(None) => state.write_u8(0),
            CallerKey::Peer(Some(IpAddr::V4(ip))) => state.write_u32(ip.to_bits()),
            CallerKey::Peer(Some(IpAddr::V6(ip))) => state.write_u128(ip.to_bits()),
            CallerKey::User(address) => address.hash(state),
            CallerKey::Service(name) => name.hash(state),
        }
    }
}

impl Caller {
    /// The caller of `request`: what authentication recorded, else an anonymous caller at
    /// the request's peer address.
    pub(crate) fn of<T>(request: &tonic::Request<T>) -> Self {
        Self::in_extensions(request.extensions())
    }

    /// The same for a request not yet decoded: what authentication recorded in `extensions`,
    /// else an anonymous caller at the peer address tonic recorded there.
    pub(crate) fn in_extensions(extensions: &http::Extensions) -> Self {
        extensions
            .get::<Caller>()
            .cloned()
            .unwrap_or_else(|| Caller::Anonymous {
                peer: crate::api::audit::peer_ip(extensions),
            })
    }

    /// The key per-caller limits count this caller under.
    pub(crate) fn key(&self) -> CallerKey {
        match self {
            Caller::Anonymous { peer } => CallerKey::Peer(*peer),
            Caller::User { address } => CallerKey::User(address.clone()),
            Caller::Service { name } => CallerKey::Service(name.clone()),
        }
    }
}

/// How a caller is named in logs and error messages.
impl fmt::Display for Caller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Caller::Anonymous { peer: Some(ip) } => write!(f, "anonymous caller at {ip}"),
            Caller::Anonymous { peer: None } => f.write_str("anonymous caller"),
            Caller::User { address } => write!(f, "user {address}"),
            Caller::Service { name } => write!(f, "trusted service {name}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::hash::{BuildHasher, RandomState};

    use super::*;

    #[test]
    fn equal_keys_hash_alike_and_different_keys_stay_apart() {
        let user = |a: &str| CallerKey::User(Address::parse(a).unwrap());
        let keys = [
            CallerKey::Peer(None),
            CallerKey::Peer(Some("127.0.0.1".parse().unwrap())),
            CallerKey::Peer(Some("127.0.0.2".parse().unwrap())),
            CallerKey::Peer(Some("::1".parse().unwrap())),
            CallerKey::Peer(Some("::ffff:127.0.0.1".parse().unwrap())),
            user("taro.yamada@contoso.com"),
            user("hanako.sato@contoso.com"),
            CallerKey::Service("gateway".into()),
            CallerKey::Service("archive".into()),
        ];
        let hasher = RandomState::new();
        for key in &keys {
            assert_eq!(hasher.hash_one(key), hasher.hash_one(key.clone()));
        }
        let same_user = user("Taro.Yamada@contoso.com");
        assert_eq!(same_user, keys[5]);
        assert_eq!(hasher.hash_one(&same_user), hasher.hash_one(&keys[5]));
        let set: HashSet<&CallerKey> = keys.iter().collect();
        assert_eq!(set.len(), keys.len());
    }
}
