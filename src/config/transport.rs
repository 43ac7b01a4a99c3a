//! The listening port's transport settings: `[server.tls]` (certificate, key, client CA) and
//! `[server.limits]` (what one connection, and all of them together, may hold). The server
//! (`api::listener`) applies them; this module only parses, defaults and checks them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// `[server.tls]`: serve TLS on the listening port. Files are PEM; relative paths are
/// relative to the config file. All three are read again on `SIGHUP`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// The certificate chain, leaf first.
    pub cert_file: PathBuf,
    /// The private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: PathBuf,
    /// Request client certificates signed by these CAs. A certificate that is sent must
    /// verify; a caller without one still connects (authentication decides what it may do).
    pub client_ca_file: Option<PathBuf>,
}

impl TlsConfig {
    /// Resolves relative paths against `base` (the config file's folder).
    pub(crate) fn resolve(&mut self, base: &Path) {
        for file in [&mut self.cert_file, &mut self.key_file]
            .into_iter()
            .chain(self.client_ca_file.as_mut())
        {
            if file.is_relative() {
                *file = base.join(&*file);
            }
        }
    }
}

/// `[server.limits]`: bounds on connections, so that no client can hold more than its share of
/// descriptors, memory or time. Every key has a default; docs/reliability.md says what each
/// one costs.
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
}

impl Default for LimitsConfig {
    fn default() -> Self {
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
        }
    }
}

impl LimitsConfig {
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
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
