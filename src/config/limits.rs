//! `[server.limits]`: what one connection, and all of them together, may hold (descriptors,
//! HTTP/2 streams and windows, idle and slow time), what callers may hold at once (recipients
//! in evaluation, open watch streams and the recipients they keep) in total and per caller, and
//! how long a stop may take. The server (`api::listener`, `api::admission`) applies them; this
//! module parses, defaults and checks them. docs/reliability.md says why each default is where
//! it is.

use std::num::NonZeroU32;
use std::time::Duration;

use serde::Deserialize;

/// `[server.limits]`: bounds on connections and on what callers may hold at once, so that no
/// client can take more than its share of descriptors, memory or time. Past a bound a
/// connection is closed or a call refused at once with `RESOURCE_EXHAUSTED`, never queued.
/// Every key has a default; docs/reliability.md says what each one costs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Open connections at most (lowered at start-up to what the descriptor limit allows).
    /// Past it, the connection idle the longest is closed to make room, or, when none is
    /// idle, the new connection is closed at once.
    pub max_connections: u32,
    /// A connection with no open request for this long is closed.
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// The TLS handshake must finish within this.
    #[serde(with = "humantime_serde")]
    pub handshake_timeout: Duration,
    /// A request's body must have arrived in full this long after its headers.
    #[serde(with = "humantime_serde")]
    pub request_body_timeout: Duration,
    /// HTTP/2 streams (calls) open at once on one connection (`SETTINGS_MAX_CONCURRENT_STREAMS`).
    pub max_concurrent_streams: u32,
    /// HTTP/2 keepalive: ping a connection after this long without frames...
    #[serde(with = "humantime_serde")]
    pub keepalive_interval: Duration,
    /// ...and close it when the ping is not answered within this.
    #[serde(with = "humantime_serde")]
    pub keepalive_timeout: Duration,
    /// HTTP/2 receive window per stream, bytes: what a client may send ahead on one call.
    pub stream_window: u32,
    /// HTTP/2 receive window per connection, bytes: the same for all its calls together.
    pub connection_window: u32,
    /// Largest HTTP/2 frame accepted, bytes.
    pub max_frame_size: u32,
    /// Largest header block accepted, bytes.
    pub max_header_list_size: u32,

    /// Recipients in evaluation at once, all callers together (a call weighs one per recipient
    /// plus one for the sender; `GetMailTips` and each `WatchMailTips` opening).
    pub max_evaluating_recipients: NonZeroU32,
    /// The same, per caller (identity, or peer address when anonymous).
    pub max_evaluating_recipients_per_caller: NonZeroU32,
    /// Recipients of one caller's `GetMailTips` calls decoded, evaluated and answered at once
    /// (weighed as above; a heavier call runs alone); the caller's other admitted calls wait
    /// their turn (still counted above). 0: 1,000 for every two of the server's cores, so that
    /// one caller's heavy drafts never take every core while others call.
    pub max_running_recipients_per_caller: u32,
    /// Open `WatchMailTips` streams, all callers together.
    pub max_watch_streams: NonZeroU32,
    /// Open `WatchMailTips` streams per caller.
    pub max_watch_streams_per_caller: NonZeroU32,
    /// Recipients of the drafts open `WatchMailTips` streams hold (each stream keeps its draft
    /// to evaluate it again), all callers together: bounds the streams' memory whatever
    /// their size.
    pub max_watched_recipients: NonZeroU32,
    /// The same, per caller.
    pub max_watched_recipients_per_caller: NonZeroU32,
    /// After SIGTERM or SIGINT: how long in-flight calls may take before the process exits
    /// anyway.
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: Duration,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        let n = |v| NonZeroU32::new(v).expect("non-zero");
        Self {
            max_connections: 4096,
            idle_timeout: Duration::from_secs(60),
            handshake_timeout: Duration::from_secs(10),
            request_body_timeout: Duration::from_secs(10),
            max_concurrent_streams: 200,
            keepalive_interval: Duration::from_secs(30),
            keepalive_timeout: Duration::from_secs(10),
            stream_window: 256 << 10,
            connection_window: 1 << 20,
            max_frame_size: 16 << 10,
            max_header_list_size: 16 << 10,
            max_evaluating_recipients: n(32_000),
            max_evaluating_recipients_per_caller: n(4_000),
            max_running_recipients_per_caller: 0,
            max_watch_streams: n(10_000),
            max_watch_streams_per_caller: n(256),
            max_watched_recipients: n(250_000),
            max_watched_recipients_per_caller: n(10_000),
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

impl LimitsConfig {
    /// `max_running_recipients_per_caller`, with 0 resolved to 1,000 for every two of
    /// `cores` (rounded up).
    pub(crate) fn running_recipients_per_caller(&self, cores: usize) -> u32 {
        match self.max_running_recipients_per_caller {
            0 => u32::try_from(cores.div_ceil(2).max(1))
                .unwrap_or(u32::MAX)
                .saturating_mul(1_000),
            n => n,
        }
    }

    /// Rules serde cannot express.
    ///
    /// # Errors
    /// The offending key and why.
    pub(crate) fn validate(&self) -> Result<(), (&'static str, String)> {
        let positive = [
            ("server.limits.max_connections", self.max_connections),
            (
                "server.limits.max_concurrent_streams",
                self.max_concurrent_streams,
            ),
        ];
        for (key, value) in positive {
            if value == 0 {
                return Err((key, "must be at least 1".into()));
            }
        }
        let durations = [
            ("server.limits.idle_timeout", self.idle_timeout),
            ("server.limits.handshake_timeout", self.handshake_timeout),
            (
                "server.limits.request_body_timeout",
                self.request_body_timeout,
            ),
            ("server.limits.keepalive_interval", self.keepalive_interval),
            ("server.limits.keepalive_timeout", self.keepalive_timeout),
        ];
        for (key, value) in durations {
            if value.is_zero() {
                return Err((key, "must be longer than 0s".into()));
            }
        }
        // RFC 9113 §6.5.2 bounds; the windows at least one frame.
        if !(16_384..=16_777_215).contains(&self.max_frame_size) {
            return Err((
                "server.limits.max_frame_size",
                "must be between 16384 and 16777215".into(),
            ));
        }
        let windows = [
            ("server.limits.stream_window", self.stream_window),
            ("server.limits.connection_window", self.connection_window),
        ];
        for (key, value) in windows {
            if !(self.max_frame_size..=(1 << 31) - 1).contains(&value) {
                return Err((
                    key,
                    format!(
                        "must be between max_frame_size ({}) and 2147483647",
                        self.max_frame_size
                    ),
                ));
            }
        }
        if self.max_header_list_size < 4096 {
            return Err((
                "server.limits.max_header_list_size",
                "must be at least 4096".into(),
            ));
        }
        for (key, per_caller, total) in [
            (
                "server.limits.max_evaluating_recipients_per_caller",
                self.max_evaluating_recipients_per_caller,
                self.max_evaluating_recipients,
            ),
            (
                "server.limits.max_watch_streams_per_caller",
                self.max_watch_streams_per_caller,
                self.max_watch_streams,
            ),
            (
                "server.limits.max_watched_recipients_per_caller",
                self.max_watched_recipients_per_caller,
                self.max_watched_recipients,
            ),
        ] {
            if per_caller > total {
                return Err((key, format!("{per_caller} is above the total ({total})")));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::Config;

    #[test]
    fn defaults_are_valid_and_bad_values_are_named() {
        assert_eq!(LimitsConfig::default().validate(), Ok(()));
        let bad = |set: fn(&mut LimitsConfig)| {
            let mut l = LimitsConfig::default();
            set(&mut l);
            l.validate().unwrap_err().0
        };
        assert_eq!(
            bad(|l| l.max_connections = 0),
            "server.limits.max_connections"
        );
        assert_eq!(
            bad(|l| l.idle_timeout = Duration::ZERO),
            "server.limits.idle_timeout"
        );
        assert_eq!(
            bad(|l| l.stream_window = 100),
            "server.limits.stream_window"
        );
        assert_eq!(
            bad(|l| l.max_frame_size = 1 << 30),
            "server.limits.max_frame_size"
        );
        assert_eq!(
            bad(|l| l.max_header_list_size = 10),
            "server.limits.max_header_list_size"
        );
    }

    /// The `[server.limits]` example in docs/reliability.md parses and shows the defaults.
    #[test]
    fn the_documented_example_is_the_defaults() {
        let doc = include_str!("../../docs/reliability.md");
        let block = doc
            .split("```toml\n")
            .nth(1)
            .and_then(|rest| rest.split("```").next())
            .expect("a toml block");
        let text = format!("{block}\n[org]\ninternal_domains = [{{ domain = \"contoso.com\" }}]\n");
        let config = Config::from_toml(&text, Path::new("reliability.md")).expect("valid");
        let (shown, default) = (config.server.limits, super::LimitsConfig::default());
        assert_eq!(format!("{shown:?}"), format!("{default:?}"));
    }

    #[test]
    fn running_recipients_default_to_a_thousand_per_two_cores() {
        let mut l = LimitsConfig::default();
        let resolved =
            |l: &LimitsConfig| [1, 2, 3, 16].map(|cores| l.running_recipients_per_caller(cores));
        assert_eq!(resolved(&l), [1_000, 1_000, 2_000, 8_000]);
        l.max_running_recipients_per_caller = 3;
        assert_eq!(resolved(&l), [3, 3, 3, 3]);
    }

    #[test]
    fn a_share_above_its_total_is_refused() {
        let text = "[server.limits]\nmax_watch_streams = 10\nmax_watch_streams_per_caller = 11\n\
                    [org]\ninternal_domains = [{ domain = \"contoso.com\" }]\n";
        let err = Config::from_toml(text, Path::new("t.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("server.limits.max_watch_streams_per_caller: 11 is above the total (10)"),
            "{err}"
        );
    }
}
