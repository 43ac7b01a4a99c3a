//! The log subscriber: one line per event on stderr, as text or as JSON (`[log] format`).
//! Colours only when stderr is a terminal and `NO_COLOR` is unset or empty; `RUST_LOG`
//! overrides the level (`info` by default).

use std::io::IsTerminal as _;

use serde::Deserialize;

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines (`time LEVEL target: message key=value`).
    #[default]
    Text,
    /// One JSON object per line, for journald exports and log shippers.
    Json,
}

/// Installs the process's log subscriber; a second call does nothing.
pub fn init(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.with_ansi(colours()).try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
    };
}

/// Colours only on a terminal, and never with `NO_COLOR` set (no-color.org).
fn colours() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// An error and its causes on one line (`outer: cause: root cause`), newlines folded, for a
/// log field: a multi-line error (a TOML parse error shows the offending line) would otherwise
/// split one event over several lines.
pub fn one_line(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
        source = cause_of(source);
    }
    // Lines that are only a TOML snippet's gutter (`   |`) say nothing on one line.
    text.split('\n')
        .map(str::trim)
        .filter(|l| !l.is_empty() && *l != "|")
        .collect::<Vec<_>>()
        .join(" | ")
}

fn cause_of<'a>(
    e: Option<&'a (dyn std::error::Error + 'static)>,
) -> Option<&'a (dyn std::error::Error + 'static)> {
    e.and_then(|e| e.source())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("while reloading: {0}")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn one_line_keeps_the_cause_and_folds_newlines() {
        let e = Outer(std::io::Error::other(
            "line 3\n  |\n3 | x = \n  |     ^\nexpected a value",
        ));
        assert_eq!(
            one_line(&e),
            "while reloading: line 3 | 3 | x = | |     ^ | expected a value"
        );
    }
}
