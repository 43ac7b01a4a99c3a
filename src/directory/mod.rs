//! The directory: the narrow trait every backend implements, and the backends.
//!
//! The main call is a *batch* lookup: a draft's addresses go to the backend at once, so LDAP
//! can answer a whole draft in one search. Domain types only: no backend types cross it.
//! Backends: [`file`] (embedded TOML) and [`ldap`]; [`cache`] sits above either.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;

use crate::domain::address::Address;
use crate::domain::{Entry, EntryId, GroupGraph, GroupMetrics};

pub mod cache;
pub mod file;
pub mod ldap;

pub use crate::domain::Lookup;
pub use cache::CachedDirectory;
pub use file::{DirectoryFileError, FileDirectory};
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

/// A source of directory facts.
pub trait Directory: Send + Sync + 'static {
    /// Looks up many addresses at once (primary and proxy addresses), returning one answer per
    /// address, in order.
    ///
    /// # Errors
    /// [`DirectoryError`] when the backend cannot answer; the caller marks tips pending.
    fn lookup(
        &self,
        addresses: &[Address],
    ) -> impl Future<Output = Result<Vec<Option<Arc<Entry>>>, DirectoryError>> + Send;

    /// Every group that holds `id`, directly or through nested groups.
    ///
    /// # Errors
    /// [`DirectoryError`] when the backend cannot answer.
    fn member_of(
        &self,
        id: &EntryId,
    ) -> impl Future<Output = Result<Arc<HashSet<EntryId>>, DirectoryError>> + Send;

    /// Like [`Directory::lookup`], but answers address by address, so that what is known (a
    /// cache) is served while the rest is [`Lookup::Unknown`]. The default maps a failed
    /// `lookup` to `Unknown` for every address.
    fn lookup_each(&self, addresses: &[Address]) -> impl Future<Output = Vec<Lookup>> + Send {
        async move {
            match self.lookup(addresses).await {
                Ok(found) => {
                    let mut each: Vec<Lookup> = found
                        .into_iter()
                        .take(addresses.len())
                        .map(|e| e.map_or(Lookup::NotFound, Lookup::Found))
                        .collect();
                    // A backend that answered fewer addresses than asked: the rest is unknown.
                    each.resize(addresses.len(), Lookup::Unknown);
                    each
                }
                Err(e) => {
                    tracing::warn!(error = %e, "directory lookup failed; tips pending");
                    vec![Lookup::Unknown; addresses.len()]
                }
            }
        }
    }

    /// Group metrics computed elsewhere and stored in the directory (the `mailtips metrics`
    /// job writing back to LDAP), when this backend is set to read them; `None` means
    /// "compute them from [`Directory::group_graph`]".
    ///
    /// # Errors
    /// [`DirectoryError`] when the backend cannot answer.
    fn stored_group_metrics(
        &self,
    ) -> impl Future<Output = Result<Option<HashMap<EntryId, GroupMetrics>>, DirectoryError>> + Send
    {
        async { Ok(None) }
    }

    /// All groups with their direct members, for the background group metrics job.
    ///
    /// # Errors
    /// [`DirectoryError`] when the backend cannot answer.
    fn group_graph(&self) -> impl Future<Output = Result<GroupGraph, DirectoryError>> + Send;

    /// A signal that ticks whenever the directory's contents were replaced (a file reload), so
    /// that group metrics follow at once instead of at the next scheduled run. `None` for
    /// backends that change continuously (LDAP).
    fn changes(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        None
    }
}

impl<D: Directory> Directory for Arc<D> {
    fn lookup(
        &self,
        addresses: &[Address],
    ) -> impl Future<Output = Result<Vec<Option<Arc<Entry>>>, DirectoryError>> + Send {
        (**self).lookup(addresses)
    }
    fn member_of(
        &self,
        id: &EntryId,
    ) -> impl Future<Output = Result<Arc<HashSet<EntryId>>, DirectoryError>> + Send {
        (**self).member_of(id)
    }
    fn lookup_each(&self, addresses: &[Address]) -> impl Future<Output = Vec<Lookup>> + Send {
        (**self).lookup_each(addresses)
    }
    fn stored_group_metrics(
        &self,
    ) -> impl Future<Output = Result<Option<HashMap<EntryId, GroupMetrics>>, DirectoryError>> + Send
    {
        (**self).stored_group_metrics()
    }
    fn group_graph(&self) -> impl Future<Output = Result<GroupGraph, DirectoryError>> + Send {
        (**self).group_graph()
    }
    fn changes(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        (**self).changes()
    }
}
