//! `[server.tls]`: the listening port's certificate, key and client CA. The server
//! (`api::tls`) reads and reloads the files; this module only parses and resolves the paths.

use std::path::{Path, PathBuf};

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
