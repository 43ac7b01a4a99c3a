//! A real OpenID Connect provider for the tests: Debian's `glewlwyd`, started on a free
//! loopback port over HTTPS (a certificate from the test CA) in a temporary folder, with an
//! SQLite database holding one user, one client (`mailtips`, implicit flow) and an OIDC plugin
//! signing ES256 ID tokens with a key made here. [`Glewlwyd::id_token`] logs in as the user
//! and takes an ID token from the authorization endpoint, as a browser would. Killed on drop.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use serde_json::json;

use super::tls::TestCa;

const GLEWLWYD: &str = "/usr/bin/glewlwyd";
const SQLITE3: &str = "/usr/bin/sqlite3";
/// The database schema the package ships (with the `admin` user, password `password`).
const SCHEMA: &str = "/usr/share/dbconfig-common/data/glewlwyd/install/sqlite3";
/// The client id, and so the ID tokens' audience.
pub const CLIENT_ID: &str = "mailtips";
const REDIRECT_URI: &str = "https://client.test/cb";

/// A running glewlwyd.
pub struct Glewlwyd {
    /// The `iss` of its tokens, and the base of its discovery document.
    pub issuer: String,
    /// The test CA's certificate, PEM, in a file: the issuer's HTTPS trust anchor.
    pub ca_file: std::path::PathBuf,
    port: u16,
    ca_pem: String,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Glewlwyd {
    /// Starts glewlwyd with a user whose e-mail address is `email`.
    pub fn start(ca: &TestCa, email: &str) -> Self {
        for bin in [GLEWLWYD, SQLITE3, SCHEMA] {
            assert!(
                Path::new(bin).exists(),
                "{bin} not found: the OpenID Connect test needs a real provider. Install it with \
                 `apt-get install glewlwyd sqlite3` (scripts/test.sh does this for you)."
            );
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let d = dir.path();
        let port = super::free_port();
        let issuer = format!("https://127.0.0.1:{port}/api/oidc");
        let server = ca.server_cert();
        std::fs::write(d.join("tls.pem"), &server.cert_pem).unwrap();
        std::fs::write(d.join("tls.key"), &server.key_pem).unwrap();
        let ca_file = d.join("ca.pem");
        std::fs::write(&ca_file, ca.pem()).unwrap();

        let signing = rcgen::KeyPair::generate().expect("signing key");
        let plugin = json!({
            "iss": issuer, "jwt-type": "ecdsa", "jwt-key-size": "256",
            "key": signing.serialize_pem(), "cert": signing.public_key_pem(),
            "access-token-duration": 3600, "refresh-token-duration": 1209600,
            "code-duration": 600, "refresh-token-rolling": true, "allow-non-oidc": false,
            "auth-type-code-enabled": true, "auth-type-token-enabled": true,
            "auth-type-id-token-enabled": true, "auth-type-none-enabled": true,
            "auth-type-password-enabled": false, "auth-type-client-enabled": false,
            "auth-type-refresh-enabled": true, "scope": [], "additional-parameters": [],
            "claims": [], "jwks-show": true, "email-claim": "mandatory",
            "email-claim-scope": [], "name-claim": "on-demand", "name-claim-scope": [],
            "scope-claim": "no", "scope-claim-scope": [], "allowed-scope": ["openid"],
            "address-claim": {"type": "no", "mandatory": false}, "secret-type": "pairwise",
            "request-parameter-allow": false,
        });
        let q = |s: &str| s.replace('\'', "''");
        let sql = format!(
            "{schema}
INSERT INTO g_plugin_module_instance (gpmi_module, gpmi_name, gpmi_display_name, gpmi_parameters)
  VALUES ('oidc', 'oidc', 'OpenID Connect', '{plugin}');
UPDATE g_user SET gu_email = '{email}' WHERE gu_username = 'admin';
INSERT INTO g_user_scope (gus_name) VALUES ('openid');
INSERT INTO g_user_scope_user (gu_id, gus_id) VALUES
  ((SELECT gu_id FROM g_user WHERE gu_username = 'admin'),
   (SELECT gus_id FROM g_user_scope WHERE gus_name = 'openid'));
INSERT INTO g_client (gc_client_id, gc_name, gc_confidential, gc_enabled)
  VALUES ('{CLIENT_ID}', 'mailtips', 0, 1);
INSERT INTO g_client_property (gc_id, gcp_name, gcp_value) VALUES
  ((SELECT gc_id FROM g_client WHERE gc_client_id = '{CLIENT_ID}'), 'authorization_type', 'id_token'),
  ((SELECT gc_id FROM g_client WHERE gc_client_id = '{CLIENT_ID}'), 'redirect_uri', '{REDIRECT_URI}');
INSERT INTO g_client_user_scope (gs_id, gcus_username, gcus_client_id, gcus_enabled) VALUES
  ((SELECT gs_id FROM g_scope WHERE gs_name = 'openid'), 'admin', '{CLIENT_ID}', 1);
",
            schema = std::fs::read_to_string(SCHEMA).expect("the glewlwyd schema"),
            plugin = q(&plugin.to_string()),
            email = q(email),
        );
        let db = d.join("glewlwyd.db");
        let mut sqlite = Command::new(SQLITE3)
            .arg(&db)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("sqlite3");
        use std::io::Write;
        sqlite
            .stdin
            .take()
            .unwrap()
            .write_all(sql.as_bytes())
            .unwrap();
        assert!(sqlite.wait().unwrap().success(), "sqlite3 failed");

        let conf = d.join("glewlwyd.conf");
        std::fs::write(
            &conf,
            format!(
                "port={port}\nexternal_url=\"https://127.0.0.1:{port}\"\nlogin_url=\"login.html\"\n\
                 api_prefix=\"api\"\nallow_origin=\"*\"\ncookie_secure=1\nsession_expiration=3600\n\
                 session_key=\"GLEWLWYD2_SESSION_ID\"\nadmin_session_authentication=\"cookie\"\n\
                 profile_session_authentication=\"cookie\"\nadmin_scope=\"g_admin\"\n\
                 profile_scope=\"g_profile\"\nuser_module_path=\"/usr/lib/glewlwyd/user\"\n\
                 client_module_path=\"/usr/lib/glewlwyd/client\"\n\
                 user_auth_scheme_module_path=\"/usr/lib/glewlwyd/scheme\"\n\
                 plugin_module_path=\"/usr/lib/glewlwyd/plugin\"\nuse_secure_connection=true\n\
                 secure_connection_key_file=\"{key}\"\nsecure_connection_pem_file=\"{pem}\"\n\
                 hash_algorithm=\"SHA512\"\n\
                 database = {{ type = \"sqlite3\"; path = \"{db}\"; }};\n",
                key = d.join("tls.key").display(),
                pem = d.join("tls.pem").display(),
                db = db.display(),
            ),
        )
        .unwrap();
        let log = std::fs::File::create(d.join("glewlwyd.log")).unwrap();
        let child = Command::new(GLEWLWYD)
            .arg("-c")
            .arg(&conf)
            .args(["-m", "console", "-l", "WARNING"])
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start glewlwyd");
        let mut this = Self {
            issuer,
            ca_file,
            port,
            ca_pem: ca.pem(),
            child,
            _dir: dir,
        };
        this.wait_until_listening();
        this
    }

    fn wait_until_listening(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                let log = std::fs::read_to_string(self._dir.path().join("glewlwyd.log"))
                    .unwrap_or_default();
                panic!("glewlwyd exited ({status}):\n{log}");
            }
            assert!(
                Instant::now() < deadline,
                "glewlwyd did not listen within 15 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn client(&self) -> reqwest::Client {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(self.ca_pem.as_bytes()).unwrap())
            .unwrap();
        let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap()
    }

    /// Logs in as the user (password `password`) and takes an ID token for [`CLIENT_ID`]
    /// from the authorization endpoint (implicit flow: the token in the redirect's fragment).
    pub async fn id_token(&self) -> String {
        let base = format!("https://127.0.0.1:{}/api", self.port);
        let client = self.client();
        let login = client
            .post(format!("{base}/auth/"))
            .header("content-type", "application/json")
            .body(r#"{"username":"admin","password":"password"}"#)
            .send()
            .await
            .expect("login");
        assert!(login.status().is_success(), "login: {}", login.status());
        let cookie = login
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| v.split(';').next())
            .collect::<Vec<_>>()
            .join("; ");
        let auth = client
            .get(format!(
                "{base}/oidc/auth?response_type=id_token&client_id={CLIENT_ID}\
                 &redirect_uri=https%3A%2F%2Fclient.test%2Fcb&scope=openid&nonce=n1&g_continue"
            ))
            .header("cookie", cookie)
            .send()
            .await
            .expect("authorize");
        let location = auth
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        location
            .split_once("#")
            .and_then(|(_, fragment)| {
                fragment
                    .split('&')
                    .find_map(|kv| kv.strip_prefix("id_token="))
            })
            .unwrap_or_else(|| panic!("no id_token in the redirect: {location:?}"))
            .to_owned()
    }
}

impl Drop for Glewlwyd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
