//! The directory: the narrow trait every backend implements, and the backends.
//!
//! The main call is a *batch* lookup: a draft's addresses go to the backend at once, so LDAP
//! can answer a whole draft in one search. Domain types only: no backend types cross it.

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;

use crate::address::Address;
use crate::model::{Entry, EntryId, EntryKind};

pub mod file;

pub use file::{DirectoryFileError, FileDirectory};

/// Why a directory call failed. The request path turns it into `pending` tips, never into a
/// failed request.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DirectoryError {
    #[error("directory unavailable: {0}")]
    Unavailable(String),
    #[error("directory timed out")]
    Timeout,
}

/// A group's direct member, for group metrics.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Member {
    /// A directory object.
    Entry(EntryId, EntryKind),
    /// An address with no directory object (a one-off external member).
    External(Box<str>),
}

/// Every group with its direct members: what group metrics expand.
#[derive(Debug, Clone, Default)]
pub struct GroupGraph {
    pub groups: Vec<(EntryId, Vec<Member>)>,
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
    fn group_graph(&self) -> impl Future<Output = Result<GroupGraph, DirectoryError>> + Send {
        (**self).group_graph()
    }
    fn changes(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        (**self).changes()
    }
}
