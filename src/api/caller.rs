//! Who is calling: the identity that transport and authentication establish for a request,
//! and the key that per-caller budgets and caps are counted under.
//!
//! The authentication layer puts a [`Caller`] into each request's extensions before any
//! service sees it; everything after it (sender authorization, the anti-harvest budget, load
//! shedding, stream caps, logs) reads it with [`Caller::of`].

use std::fmt;
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
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum CallerKey {
    Peer(Option<IpAddr>),
    User(Address),
    Service(Arc<str>),
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
