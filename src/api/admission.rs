//! Fair load shedding: a [`Gate`] bounds what is held at once (recipients in evaluation, open
//! watch streams), in total and per caller. A call past either bound is refused at once with
//! `RESOURCE_EXHAUSTED` and a `RetryInfo` detail; nothing waits in a queue. Because each
//! caller has its own bound below the total, one caller flooding fills its own share and
//! leaves the rest to everybody else.
//!
//! A gate may also give each caller a *lane*: at most so many units of one caller's admitted
//! calls run at once ([`Permit::turn`]); its other calls wait their turn, still counted under
//! the bounds. The bounds limit what a caller holds, the lane how much of the server's CPU it
//! takes: a caller flooding with heavy calls keeps its share of the bound full, and without a
//! lane every one of them would be running on the server's few workers, ahead of everybody
//! else. Weighed like the bounds, a lane of 1,000 recipients runs one 1,000-recipient draft at
//! a time, or a hundred 10-recipient drafts (light calls waiting on the directory are not
//! held up behind each other).
//!
//! Per-caller state is one map entry per caller that holds something right now: an entry is
//! removed when its count drops to zero, so the map never outgrows what is in flight.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use dashmap::DashMap;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
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
    per_caller: DashMap<CallerKey, Share>,
    /// Units of one caller's calls that run at once, when the gate has lanes.
    lane_width: Option<u32>,
}

/// What one caller holds: units, and its lane (made when the gate has lanes).
#[derive(Debug, Default)]
struct Share {
    units: u64,
    lane: Option<Arc<Semaphore>>,
}

/// Units held by one call; given back when dropped (the call ended, failed or was cancelled).
#[derive(Debug)]
#[must_use = "the units are given back when the permit is dropped"]
pub(crate) struct Permit {
    gate: Arc<Gate>,
    key: CallerKey,
    units: u64,
    lane: Option<Arc<Semaphore>>,
}

impl Gate {
    pub(crate) fn new(kind: GateKind, total_limit: u32, per_caller_limit: u32) -> Arc<Self> {
        Self::with_lanes(kind, total_limit, per_caller_limit, None)
    }

    /// A gate whose callers each run at most `lane_width` units of their admitted calls at
    /// once (a call heavier than that runs alone).
    pub(crate) fn with_lanes(
        kind: GateKind,
        total_limit: u32,
        per_caller_limit: u32,
        lane_width: Option<u32>,
    ) -> Arc<Self> {
        Arc::new(Self {
            kind,
            total_limit: total_limit.into(),
            per_caller_limit: per_caller_limit.min(total_limit).into(),
            total: AtomicU64::new(0),
            per_caller: DashMap::new(),
            lane_width: lane_width.map(|w| w.clamp(1, u32::MAX >> 3)),
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
        let lane = {
            let mut held = self.per_caller.entry(key.clone()).or_default();
            if held.units + units > self.per_caller_limit {
                let empty = held.units == 0;
                drop(held);
                if empty {
                    self.per_caller.remove_if(key, |_, s| s.units == 0);
                }
                return Err(self.refusal(true));
            }
            held.units += units;
            if let Some(width) = self.lane_width {
                held.lane
                    .get_or_insert_with(|| Arc::new(Semaphore::new(width as usize)))
                    .clone()
                    .into()
            } else {
                None
            }
        };
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
            lane,
        })
    }

    fn give_back_caller(&self, key: &CallerKey, units: u64) {
        if let Some(mut held) = self.per_caller.get_mut(key) {
            held.units -= units;
        }
        self.per_caller.remove_if(key, |_, s| s.units == 0);
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

impl Permit {
    /// Waits for this call's turn in its caller's lane (its units, or the whole lane when it
    /// is heavier): the returned guard is held while the call runs. Calls wait in the order
    /// they came; a call that waits still holds its units, so a caller's queue is bounded by
    /// its share. `None` at once when the gate has no lanes.
    pub(crate) async fn turn(&self) -> Option<OwnedSemaphorePermit> {
        let width = self.gate.lane_width?;
        let units = u32::try_from(self.units).unwrap_or(u32::MAX).min(width);
        // The lane's semaphore is never closed.
        self.lane.clone()?.acquire_many_owned(units).await.ok()
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

    #[tokio::test]
    async fn a_lane_runs_one_callers_calls_in_turn_and_not_the_others() {
        use futures_util::FutureExt;
        let gate = Gate::with_lanes(KIND, 100, 40, Some(10));
        let (a1, a2, a3) = (
            gate.try_acquire(&peer(1), 6).unwrap(),
            gate.try_acquire(&peer(1), 5).unwrap(),
            gate.try_acquire(&peer(1), 4).unwrap(),
        );
        let running = a1.turn().await.expect("a lane");
        // Six of ten running: the caller's next call of five waits for the first...
        assert!(a2.turn().now_or_never().is_none());
        // ...one of four fits beside it...
        let beside = a3.turn().now_or_never().flatten().expect("fits");
        // ...and another caller has a lane of its own.
        let b = gate.try_acquire(&peer(2), 10).unwrap();
        assert!(b.turn().now_or_never().flatten().is_some());
        drop((running, beside));
        assert!(a2.turn().now_or_never().flatten().is_some());
        // A call heavier than the lane runs alone, not never.
        let heavy = gate.try_acquire(&peer(3), 30).unwrap();
        assert!(heavy.turn().now_or_never().flatten().is_some());
        // Without lanes, no turn to wait for.
        let plain = Gate::new(KIND, 10, 4);
        let p = plain.try_acquire(&peer(1), 1).unwrap();
        assert!(matches!(p.turn().now_or_never(), Some(None)));
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
