//! TLS on the listening port: reads `[server.tls]`'s PEM files into a rustls server config
//! (ring, ALPN `h2` and `http/1.1`, optional client certificates) and keeps it behind an
//! [`ArcSwap`], so that `SIGHUP` swaps in new certificates for new connections while open ones
//! keep theirs.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use crate::config::TlsConfig;

/// Why `[server.tls]`'s files could not be used; always names the file.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("server.tls: cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("server.tls: {path}: {message}")]
    File { path: PathBuf, message: String },
}

impl TlsError {
    fn file(path: &Path, message: impl Into<String>) -> Self {
        Self::File {
            path: path.to_owned(),
            message: message.into(),
        }
    }
}

/// The server's TLS settings as read from the files, swappable while serving.
pub(crate) struct TlsFiles {
    files: TlsConfig,
    current: ArcSwap<rustls::ServerConfig>,
}

impl TlsFiles {
    /// Reads the files.
    ///
    /// # Errors
    /// [`TlsError`] naming the file that is missing, unreadable, not PEM, or not matching.
    pub(crate) fn load(files: TlsConfig) -> Result<Self, TlsError> {
        let config = server_config(&files)?;
        Ok(Self {
            files,
            current: ArcSwap::from_pointee(config),
        })
    }

    /// Reads the files again; new connections get the new certificate. On an error the
    /// previous settings stay.
    ///
    /// # Errors
    /// [`TlsError`] as [`TlsFiles::load`].
    pub(crate) fn reload(&self) -> Result<(), TlsError> {
        self.current.store(Arc::new(server_config(&self.files)?));
        Ok(())
    }

    /// The TLS handshake of one connection, with the settings current now.
    pub(crate) async fn accept(&self, tcp: TcpStream) -> std::io::Result<TlsStream<TcpStream>> {
        TlsAcceptor::from(self.current.load_full())
            .accept(tcp)
            .await
    }
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_owned(),
        source,
    })
}

/// Every certificate in a PEM file; at least one.
fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read(path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::file(path, format!("not a PEM certificate file: {e}")))?;
    if certs.is_empty() {
        return Err(TlsError::file(path, "holds no PEM certificate"));
    }
    Ok(certs)
}

/// The rustls server config `files` describe.
fn server_config(files: &TlsConfig) -> Result<rustls::ServerConfig, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain = certificates(&files.cert_file)?;
    let key_pem = read(&files.key_file)?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
        TlsError::file(
            &files.key_file,
            format!("no PEM private key (PKCS#8, PKCS#1 or SEC1): {e}"),
        )
    })?;
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::file(&files.cert_file, e.to_string()))?;
    let builder = match &files.client_ca_file {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in certificates(ca)? {
                roots
                    .add(cert)
                    .map_err(|e| TlsError::file(ca, format!("not a CA certificate: {e}")))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .allow_unauthenticated()
                .build()
                .map_err(|e| TlsError::file(ca, e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder.with_single_cert(chain, key).map_err(|e| match e {
        rustls::Error::InconsistentKeys(_) => TlsError::file(
            &files.key_file,
            format!(
                "does not match the certificate in {}",
                files.cert_file.display()
            ),
        ),
        e => TlsError::file(&files.key_file, e.to_string()),
    })?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_reload_keeps_the_previous_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let files = TlsConfig {
            cert_file: dir.path().join("server.pem"),
            key_file: dir.path().join("server.key"),
            client_ca_file: None,
        };
        let write = |names: &[&str]| {
            let made = rcgen::generate_simple_self_signed(
                names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>(),
            )
            .unwrap();
            std::fs::write(&files.cert_file, made.cert.pem()).unwrap();
            std::fs::write(&files.key_file, made.signing_key.serialize_pem()).unwrap();
        };
        write(&["localhost"]);
        let tls = TlsFiles::load(files.clone()).unwrap();
        let before = tls.current.load_full();
        std::fs::write(&files.key_file, "garbage").unwrap();
        let err = tls.reload().unwrap_err().to_string();
        assert!(err.contains("server.key"), "{err}");
        assert!(Arc::ptr_eq(&before, &tls.current.load_full()));
        write(&["localhost", "mail.contoso.com"]);
        tls.reload().unwrap();
        assert!(!Arc::ptr_eq(&before, &tls.current.load_full()));
        assert_eq!(tls.current.load().alpn_protocols, [&b"h2"[..], b"http/1.1"]);
    }
}
