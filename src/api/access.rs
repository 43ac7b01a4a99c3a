//! What an authenticated caller may do with a draft: the anti-harvest budget (GCRA, one cell
//! per recipient, keyed by [`CallerKey`]; `RESOURCE_EXHAUSTED` with `RetryInfo` past it) and
//! sender authorization (the service decides; this maps its refusal to `PERMISSION_DENIED`).
//! Every refusal is logged through [`crate::api::audit`].

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tonic::Status;
use tonic_types::{ErrorDetails, StatusExt};

use crate::api::auth::Authenticator;
use crate::api::caller::{Caller, CallerKey};
use crate::config::auth::AuthConfig;
use crate::directory::Directory;
use crate::domain::authz::Asker;
use crate::domain::{Draft, Evaluation};
use crate::service::{MailTips, Refusal};

/// How often idle callers' budget state is dropped, so the keyed state stays as small as the
/// set of recently active callers.
const HOUSEKEEPING: Duration = Duration::from_secs(60);

type KeyedLimiter = RateLimiter<CallerKey, DefaultKeyedStateStore<CallerKey>, DefaultClock>;

/// Per-caller recipient budgets.
pub(crate) struct Budget {
    callers: KeyedLimiter,
    /// Trusted services have their own, larger budgets.
    services: HashMap<Arc<str>, DefaultDirectRateLimiter>,
    clock: DefaultClock,
}

impl Budget {
    /// The budgets `[auth]` sets (its defaults when there is none). The burst is never below
    /// `max_recipients`, so a full draft can always pass once.
    pub(crate) fn new(auth: Option<&AuthConfig>, max_recipients: u32) -> Self {
        let default = AuthConfig::default();
        let auth = auth.unwrap_or(&default);
        let quota = |per_minute: NonZeroU32| {
            let burst = per_minute.max(NonZeroU32::new(max_recipients).unwrap_or(per_minute));
            Quota::per_minute(per_minute).allow_burst(burst)
        };
        let services = auth
            .trusted_service
            .iter()
            .map(|s| {
                let per_minute = s.recipients_per_minute.unwrap_or(
                    auth.recipients_per_minute
                        .saturating_mul(NonZeroU32::new(100).expect("non-zero")),
                );
                (
                    Arc::from(s.name.as_str()),
                    RateLimiter::direct(quota(per_minute)),
                )
            })
            .collect();
        Self {
            callers: RateLimiter::keyed(quota(auth.recipients_per_minute)),
            services,
            clock: DefaultClock::default(),
        }
    }

    /// Charges `caller` one cell per recipient.
    ///
    /// # Errors
    /// How long until the charge would pass, when over budget.
    pub(crate) fn charge(&self, caller: &Caller, recipients: usize) -> Result<(), Duration> {
        let Some(n) = u32::try_from(recipients).ok().and_then(NonZeroU32::new) else {
            return Ok(());
        };
        let service = match caller {
            Caller::Service { name } => self.services.get(name),
            _ => None,
        };
        let result = match service {
            Some(limiter) => limiter.check_n(n),
            None => self.callers.check_key_n(&caller.key(), n),
        };
        match result {
            Ok(Ok(())) => Ok(()),
            Ok(Err(not_until)) => Err(not_until.wait_time_from(self.clock.now())),
            // More than the burst: never passes; validation keeps drafts below it.
            Err(_) => Err(Duration::from_secs(60)),
        }
    }

    /// Drops the state of callers whose budget is full again, every minute, for ever.
    pub(crate) async fn housekeeping(self: Arc<Self>) {
        let mut tick = tokio::time::interval(HOUSEKEEPING);
        loop {
            tick.tick().await;
            self.callers.retain_recent();
            self.callers.shrink_to_fit();
        }
    }
}

/// The gate every draft passes on its way to the service.
pub(crate) struct Access {
    pub(crate) budget: Arc<Budget>,
    pub(crate) auth: Arc<Authenticator>,
}

impl Access {
    /// Charges `caller`'s budget for the draft, then evaluates it if `caller` may ask as its
    /// sender.
    ///
    /// # Errors
    /// `RESOURCE_EXHAUSTED` with `RetryInfo` over budget, `PERMISSION_DENIED` for a sender
    /// the caller may not ask as, `UNAVAILABLE` when the directory cannot tell.
    pub(crate) async fn evaluate<D: Directory>(
        &self,
        tips: &MailTips<D>,
        caller: &Caller,
        draft: &Draft,
    ) -> Result<Evaluation, Status> {
        if let Err(retry) = self.budget.charge(caller, draft.recipients.len()) {
            let message = format!(
                "{caller} is over its budget of recipient lookups; retry in {}s",
                retry.as_secs().max(1)
            );
            crate::api::audit::refused(caller, "throttled", &message);
            return Err(Status::with_error_details(
                tonic::Code::ResourceExhausted,
                message,
                ErrorDetails::with_retry_info(Some(retry)),
            ));
        }
        let asker = match caller {
            Caller::Anonymous { .. } => Asker::Anyone,
            Caller::User { address } => Asker::Person(address),
            Caller::Service { name } => Asker::Service {
                domains: self.auth.service_domains(name),
            },
        };
        tips.evaluate_as(asker, draft).await.map_err(|r| {
            let (status, reason) = match r {
                Refusal::Denied(why) => {
                    let m = format!("{caller} may not ask as {}: {why}", draft.sender);
                    (Status::permission_denied(m.clone()), m)
                }
                Refusal::Unavailable => {
                    let m = format!(
                        "the directory cannot tell now whether {caller} may ask as {}; retry",
                        draft.sender
                    );
                    (Status::unavailable(m.clone()), m)
                }
            };
            crate::api::audit::refused(caller, "denied", &reason);
            status
        })
    }
}
