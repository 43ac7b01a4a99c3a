//! `[server.limits]`: what callers may hold at once (recipients in evaluation, open watch
//! streams and the recipients they keep), in total and per caller, and how long a stop may
//! take. docs/reliability.md says why each default is where it is.

use std::num::NonZeroU32;
use std::time::Duration;

use serde::Deserialize;

/// Bounds on what callers may hold at once, and how long a stop may take. Past a bound a call
/// is refused at once with `RESOURCE_EXHAUSTED`, never queued. docs/reliability.md says why
/// each default is where it is.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Recipients in evaluation at once, all callers together (a call weighs one per recipient
    /// plus one for the sender; `GetMailTips` and each `WatchMailTips` opening).
    pub max_evaluating_recipients: NonZeroU32,
    /// The same, per caller (identity, or peer address when anonymous).
    pub max_evaluating_recipients_per_caller: NonZeroU32,
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
            max_evaluating_recipients: n(32_000),
            max_evaluating_recipients_per_caller: n(4_000),
            max_watch_streams: n(10_000),
            max_watch_streams_per_caller: n(256),
            max_watched_recipients: n(250_000),
            max_watched_recipients_per_caller: n(10_000),
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::Config;

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
