//! Test certificates made at test time (rcgen): a CA, a server certificate for 127.0.0.1 and
//! localhost, client certificates with a chosen DNS name, the files `[server.tls]` reads, and
//! the tonic client settings that trust the CA.

use std::path::{Path, PathBuf};

use mailtips::config::TlsConfig;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SanType,
};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use tonic::transport::{Certificate, ClientTlsConfig, Identity};

/// A certificate and its private key, PEM.
#[derive(Clone)]
pub struct Leaf {
    pub cert_pem: String,
    pub key_pem: String,
}

impl Leaf {
    /// The identity a tonic client presents with this certificate.
    pub fn identity(&self) -> Identity {
        Identity::from_pem(&self.cert_pem, &self.key_pem)
    }
}

/// A test certificate authority.
pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl TestCa {
    /// A new CA named `name`.
    pub fn new(name: &str) -> Self {
        let mut params = CertificateParams::default();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().expect("CA key");
        Self {
            issuer: CertifiedIssuer::self_signed(params, key).expect("CA certificate"),
        }
    }

    /// The CA certificate, PEM.
    pub fn pem(&self) -> String {
        self.issuer.pem()
    }

    fn leaf(&self, sans: Vec<SanType>, usage: ExtendedKeyUsagePurpose) -> Leaf {
        let mut params = CertificateParams::default();
        params
            .distinguished_name
            .push(DnType::CommonName, "mailtips test");
        params.subject_alt_names = sans;
        params.extended_key_usages = vec![usage];
        params.use_authority_key_identifier_extension = true;
        let key = KeyPair::generate().expect("leaf key");
        let cert = params.signed_by(&key, &self.issuer).expect("leaf");
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }

    /// A server certificate for 127.0.0.1 and localhost.
    pub fn server_cert(&self) -> Leaf {
        let ip = SanType::IpAddress([127, 0, 0, 1].into());
        let dns = SanType::DnsName("localhost".try_into().expect("dns name"));
        self.leaf(vec![ip, dns], ExtendedKeyUsagePurpose::ServerAuth)
    }

    /// A client certificate whose DNS SAN is `dns`.
    pub fn client_cert(&self, dns: &str) -> Leaf {
        let san = SanType::DnsName(dns.try_into().expect("dns name"));
        self.leaf(vec![san], ExtendedKeyUsagePurpose::ClientAuth)
    }

    /// tonic client settings trusting this CA (for `https://127.0.0.1:PORT`).
    pub fn client_tls(&self) -> ClientTlsConfig {
        ClientTlsConfig::new().ca_certificate(Certificate::from_pem(self.pem()))
    }
}

/// `[server.tls]` files written to a folder: the server certificate and key, and the client
/// CA when there is one.
pub struct TlsFiles {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    pub client_ca_file: Option<PathBuf>,
}

impl TlsFiles {
    /// Writes `leaf` (and `client_ca`'s certificate) into `dir`.
    pub fn write(dir: &Path, leaf: &Leaf, client_ca: Option<&TestCa>) -> Self {
        let cert_file = dir.join("server.pem");
        let key_file = dir.join("server.key");
        std::fs::write(&cert_file, &leaf.cert_pem).expect("write cert");
        std::fs::write(&key_file, &leaf.key_pem).expect("write key");
        let client_ca_file = client_ca.map(|ca| {
            let path = dir.join("clients.pem");
            std::fs::write(&path, ca.pem()).expect("write client CA");
            path
        });
        Self {
            cert_file,
            key_file,
            client_ca_file,
        }
    }

    /// The `[server.tls]` settings naming these files.
    pub fn config(&self) -> TlsConfig {
        TlsConfig {
            cert_file: self.cert_file.clone(),
            key_file: self.key_file.clone(),
            client_ca_file: self.client_ca_file.clone(),
        }
    }
}

/// The rustls client settings trusting `ca` for raw TLS connections (no client certificate),
/// offering `alpn`.
pub fn rustls_client(ca: &TestCa, alpn: &[&[u8]]) -> std::sync::Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    let der = CertificateDer::from_pem_slice(ca.pem().as_bytes()).expect("CA PEM");
    roots.add(der).expect("CA");
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocols")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    std::sync::Arc::new(config)
}

/// Opens a TLS connection to `addr` (as 127.0.0.1) trusting `ca`.
pub async fn connect(
    addr: std::net::SocketAddr,
    ca: &TestCa,
    alpn: &[&[u8]],
) -> std::io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let name = rustls::pki_types::ServerName::IpAddress(addr.ip().into());
    tokio_rustls::TlsConnector::from(rustls_client(ca, alpn))
        .connect(name, tcp)
        .await
}
