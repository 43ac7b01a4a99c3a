//! Fair load shedding: a [`Gate`] bounds what is held at once (recipients in evaluation, open
//! watch streams), in total and per caller. A call past either bound is refused at once with
//! `RESOURCE_EXHAUSTED` and a `RetryInfo` detail; nothing waits in a queue. Because each
//! caller has its own bound below the total, one caller flooding fills its own share and
//! leaves the rest to everybody else.
//!
//! Per-caller state is one map entry per caller that holds something right now: an entry is
//! removed when its count drops to zero, so the map never outgrows what is in flight.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use dashmap::DashMap;
use tonic::Status;
use tonic_types::{ErrorDetails, StatusExt};

use crate::api::caller::CallerKey;

/// What a gate counts, for its refusal message.
#[derive(Debug, Clone, Copy)]
pub(crate) struct GateKind {
    /// "recipients in evaluation", "open WatchMailTips streams".
    pub(crate) what: &'static str,
    /// The config key of the total bound; the per-caller key adds `_per_caller`.
    pub(crate) key: &'static str,
    /// What `RetryInfo` tells a refused caller to wait.
    pub(crate) retry_after: Duration,
}

/// Bounds on units held at once, in total and per caller.
#[derive(Debug)]
pub(crate) struct Gate {
    kind: GateKind,
    total_limit: u64,
    per_caller_limit: u64,
    total: AtomicU64,
    per_caller: DashMap<CallerKey, u64>,
}

/// Units held by one call; given back when dropped (the call ended, failed or was cancelled).
#[derive(Debug)]
#[must_use = "the units are given back when the permit is dropped"]
pub(crate) struct Permit {
    gate: Arc<Gate>,
    key: CallerKey,
    units: u64,
}

impl Gate {
    pub(crate) fn new(kind: GateKind, total_limit: u32, per_caller_limit: u32) -> Arc<Self> {
        Arc::new(Self {
            kind,
            total_limit: total_limit.into(),
            per_caller_limit: per_caller_limit.min(total_limit).into(),
            total: AtomicU64::new(0),
            per_caller: DashMap::new(),
        })
    }

    /// Takes `units` for `key`, or refuses at once. A call heavier than the per-caller bound
    /// is counted as exactly that bound: it is admitted when its caller holds nothing else,
    /// never refused forever.
    ///
    /// # Errors
    /// `RESOURCE_EXHAUSTED` with `RetryInfo` when the caller's share or the total is full.
    pub(crate) fn try_acquire(
        self: &Arc<Self>,
        key: &CallerKey,
        units: u64,
    ) -> Result<Permit, Status> {
        let units = units.clamp(1, self.per_caller_limit);
        // The caller's own share first, under its map entry's lock.
        {
            let mut held = self.per_caller.entry(key.clone()).or_insert(0);
            if *held + units > self.per_caller_limit {
                let empty = *held == 0;
                drop(held);
                if empty {
                    self.per_caller.remove_if(key, |_, n| *n == 0);
                }
                return Err(self.refusal(true));
            }
            *held += units;
        }
        let total_ok = self
            .total
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| {
                (t + units <= self.total_limit).then_some(t + units)
            })
            .is_ok();
        if !total_ok {
            self.give_back_caller(key, units);
            return Err(self.refusal(false));
        }
        Ok(Permit {
            gate: self.clone(),
            key: key.clone(),
            units,
        })
    }

    fn give_back_caller(&self, key: &CallerKey, units: u64) {
        if let Some(mut held) = self.per_caller.get_mut(key) {
            *held -= units;
        }
        self.per_caller.remove_if(key, |_, n| *n == 0);
    }

    fn refusal(&self, per_caller: bool) -> Status {
        crate::telemetry::get().refused("shed");
        let k = self.kind;
        let message = if per_caller {
            format!(
                "too many {} for this caller (server.limits.{}_per_caller = {}); retry later",
                k.what, k.key, self.per_caller_limit
            )
        } else {
            format!(
                "the server has too many {} (server.limits.{} = {}); retry later",
                k.what, k.key, self.total_limit
            )
        };
        Status::with_error_details(
            tonic::Code::ResourceExhausted,
            message,
            ErrorDetails::with_retry_info(Some(k.retry_after)),
        )
    }

    /// Units held now, in total and by callers (for tests).
    #[cfg(test)]
    fn held(&self) -> (u64, usize) {
        (self.total.load(Ordering::Acquire), self.per_caller.len())
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.gate.total.fetch_sub(self.units, Ordering::AcqRel);
        self.gate.give_back_caller(&self.key, self.units);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};

    const KIND: GateKind = GateKind {
        what: "things",
        key: "max_things",
        retry_after: Duration::from_secs(1),
    };

    fn peer(n: u8) -> CallerKey {
        CallerKey::Peer(Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, n))))
    }

    #[test]
    fn per_caller_share_then_total() {
        let gate = Gate::new(KIND, 10, 4);
        let a = gate.try_acquire(&peer(1), 3).unwrap();
        let refused = gate.try_acquire(&peer(1), 2).unwrap_err();
        assert_eq!(refused.code(), tonic::Code::ResourceExhausted);
        assert!(
            refused.message().contains("max_things_per_caller"),
            "{refused:?}"
        );
        let retry = refused.get_error_details();
        assert_eq!(
            retry.retry_info().unwrap().retry_delay,
            Some(Duration::from_secs(1))
        );
        // Another caller is not affected by the first one's full share.
        let b = gate.try_acquire(&peer(2), 4).unwrap();
        let c = gate.try_acquire(&peer(3), 3).unwrap();
        // 10 of 10 held: the total refuses a fresh caller, and its entry does not linger.
        let refused = gate.try_acquire(&peer(4), 1).unwrap_err();
        assert!(
            refused.message().contains("server.limits.max_things ="),
            "{refused:?}"
        );
        assert_eq!(gate.held(), (10, 3));
        drop((a, b, c));
        assert_eq!(gate.held(), (0, 0), "no entry outlives what it counts");
    }

    #[test]
    fn a_call_heavier_than_the_share_is_admitted_alone() {
        let gate = Gate::new(KIND, 10, 4);
        let heavy = gate.try_acquire(&peer(1), 1_000).unwrap();
        assert_eq!(gate.held(), (4, 1));
        assert!(gate.try_acquire(&peer(1), 1).is_err());
        drop(heavy);
        // Zero weighs one.
        let _light = gate.try_acquire(&peer(1), 0).unwrap();
        assert_eq!(gate.held(), (1, 1));
    }

    #[test]
    fn refused_callers_leave_no_entry() {
        let gate = Gate::new(KIND, 2, 2);
        let _full = gate.try_acquire(&peer(1), 2).unwrap();
        for n in 2..200 {
            assert!(gate.try_acquire(&peer(n), 1).is_err());
        }
        assert_eq!(gate.held(), (2, 1));
    }
}
