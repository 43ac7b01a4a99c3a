//! The directory: the two narrow traits its clients read through, and the backends.
//!
//! Two clients, two traits, each sized to its caller:
//! - [`Directory`], the request path's view: a *batch* lookup (a draft's addresses go to the
//!   backend at once, so LDAP can answer a whole draft in one search) that never fails, and
//!   the groups a sender belongs to.
//! - [`GroupSource`], the background group metrics job's view: the group graph, counts stored
//!   in the directory, and a signal when the directory was replaced.
//!
//! Domain types only: no backend types cross either trait. Backends: [`file`] (embedded TOML)
//! and [`ldap`]; [`cache`] sits above either and implements both traits.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;

use crate::domain::address::Address;
use crate::domain::{EntryId, GroupGraph, GroupMetrics};

pub mod cache;
pub mod file;
pub mod ldap;

pub use crate::domain::Lookup;
pub use cache::CachedDirectory;
pub use file::FileDirectory;
pub use ldap::LdapDirectory;

/// Why a directory call failed. The request path turns it into `pending` tips, never into a
/// failed request.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DirectoryError {
    #[error("directory unavailable: {0}")]
    Unavailable(String),
    #[error("directory timed out")]
    Timeout,
}

/// What the request path asks of a directory.
pub trait Directory: Send + Sync + 'static {
    /// Looks up many addresses at once (primary and proxy addresses), returning one answer
    /// per address, in order. Never fails: an address the backend could not answer for (it
    /// failed or timed out; logged at warn) is [`Lookup::Unknown`], which the request path
    /// turns into pending tips.
    fn lookup(&self, addresses: &[&Address]) -> impl Future<Output = Vec<Lookup>> + Send;

    /// Every group that holds `id`, directly or through nested groups. The request path asks
    /// only for an entry the lookup returned without them ([`crate::domain::Entry::groups`]).
    ///
    /// # Errors
    /// [`DirectoryError`] when the backend cannot answer.
    fn member_of(
        &self,
        id: &EntryId,
    ) -> impl Future<Output = Result<Arc<HashSet<EntryId>>, DirectoryError>> + Send;
}

/// What the background group metrics job asks of a directory.
pub trait GroupSource: Send + Sync + 'static {
    /// All groups with their direct members (shared: a backend that keeps the graph hands
    /// out its own, not a copy).
    ///
    /// # Errors
    /// [`DirectoryError`] when the backend cannot answer.
    fn group_graph(&self) -> impl Future<Output = Result<Arc<GroupGraph>, DirectoryError>> + Send;

    /// Group metrics computed elsewhere and stored in the directory (the `mailtips metrics`
    /// job writing back to LDAP), when this backend is set to read them; `None` means
    /// "compute them from [`GroupSource::group_graph`]".
    ///
    /// # Errors
    /// [`DirectoryError`] when the backend cannot answer.
    fn stored_group_metrics(
        &self,
    ) -> impl Future<Output = Result<Option<HashMap<EntryId, GroupMetrics>>, DirectoryError>> + Send
    {
        async { Ok(None) }
    }

    /// A signal that ticks whenever the directory's contents were replaced (a file reload), so
    /// that group metrics follow at once instead of at the next scheduled run. `None` for
    /// backends that change continuously (LDAP).
    fn changes(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        None
    }
}

// A shared backend (the server keeps an `Arc<FileDirectory>` to reload it) is a directory too.

impl<D: Directory> Directory for Arc<D> {
    fn lookup(&self, addresses: &[&Address]) -> impl Future<Output = Vec<Lookup>> + Send {
        (**self).lookup(addresses)
    }
    fn member_of(
        &self,
        id: &EntryId,
    ) -> impl Future<Output = Result<Arc<HashSet<EntryId>>, DirectoryError>> + Send {
        (**self).member_of(id)
    }
}

impl<G: GroupSource> GroupSource for Arc<G> {
    fn group_graph(&self) -> impl Future<Output = Result<Arc<GroupGraph>, DirectoryError>> + Send {
        (**self).group_graph()
    }
    fn stored_group_metrics(
        &self,
    ) -> impl Future<Output = Result<Option<HashMap<EntryId, GroupMetrics>>, DirectoryError>> + Send
    {
        (**self).stored_group_metrics()
    }
    fn changes(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        (**self).changes()
    }
}
