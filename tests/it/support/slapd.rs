//! The LDAP tests' directory server: a real `slapd` (Debian's package) in a temporary directory
//! on a free loopback port, loaded with `slapadd`, optionally with TLS (a fresh test CA), and
//! killed by PID on drop. Also the demo organisation as LDIF, and the tests' one call of the
//! request-path lookup.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mailtips::directory::ldap::config::{LdapConfig, Preset};
use tempfile::TempDir;

use super::{free_port, repo};

pub const BASE: &str = "dc=contoso,dc=com";
/// The read-only account servers bind as (password in a file).
pub const READER_DN: &str = "cn=mailtips,dc=contoso,dc=com";
pub const READER_PASSWORD: &str = "reader-secret";
/// The account the metrics job binds as (password in an environment variable).
pub const WRITER_DN: &str = "cn=metrics,dc=contoso,dc=com";
pub const WRITER_PASSWORD: &str = "writer-secret";

const SLAPD: &str = "/usr/sbin/slapd";
const SLAPADD: &str = "/usr/sbin/slapadd";

/// A running slapd. Dropping it kills the process (by PID) and removes its files.
pub struct Slapd {
    pub port: u16,
    pub url: String,
    /// `ldaps://127.0.0.1:PORT` when started with TLS.
    pub ldaps_url: Option<String>,
    /// The PEM CA that signed the server certificate, when started with TLS.
    pub ca_file: Option<PathBuf>,
    dir: TempDir,
    conf: PathBuf,
    child: Option<Child>,
}

impl Slapd {
    /// Starts slapd with the schema for `preset` and `ldif` (which must hold the base entry)
    /// plus the reader and writer accounts.
    ///
    /// Panics, failing the test, when slapd is not installed.
    pub fn start(preset: Preset, ldif: &str) -> Slapd {
        Self::start_with(preset, ldif, false, false)
    }

    /// Like [`Slapd::start`], with the memberof overlay keeping every entry's direct groups in
    /// `memberOf` (for groups of the preset's class): the set-up docs/ldap.md asks for with
    /// `group_membership = "member-of"`. `slapadd` bypasses overlays, so `ldif` must carry the
    /// `memberOf` values ([`demo_ldif_member_of`], `ldif::export_with`).
    pub fn start_member_of(preset: Preset, ldif: &str) -> Slapd {
        Self::start_with(preset, ldif, false, true)
    }

    /// Like [`Slapd::start`], also serving ldaps:// and StartTLS with a certificate for
    /// 127.0.0.1 signed by a fresh test CA (`ca_file`).
    pub fn start_tls(preset: Preset, ldif: &str) -> Slapd {
        Self::start_with(preset, ldif, true, false)
    }

    fn start_with(preset: Preset, ldif: &str, tls: bool, member_of: bool) -> Slapd {
        for bin in [SLAPD, SLAPADD] {
            assert!(
                Path::new(bin).exists(),
                "{bin} not found: the LDAP tests need a real OpenLDAP server. Install it with \
                 `apt-get install slapd ldap-utils` (scripts/test.sh does this for you)."
            );
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let db = dir.path().join("db");
        std::fs::create_dir(&db).unwrap();
        let mut schemas = vec![
            "/etc/ldap/schema/core.schema".to_owned(),
            "/etc/ldap/schema/cosine.schema".to_owned(),
            "/etc/ldap/schema/inetorgperson.schema".to_owned(),
            repo("ldap/mailtips.schema").display().to_string(),
        ];
        if preset == Preset::ActiveDirectory {
            schemas.push(repo("ldap/ad-test.schema").display().to_string());
        }
        let group_class = match preset {
            Preset::Openldap => "groupOfNames",
            Preset::ActiveDirectory => "group",
        };
        let (module, overlay) = if member_of {
            (
                "moduleload memberof\n".to_owned(),
                format!("overlay memberof\nmemberof-group-oc {group_class}\n"),
            )
        } else {
            (String::new(), String::new())
        };
        let mut includes: String = schemas.iter().map(|s| format!("include {s}\n")).collect();
        let ca_file = tls.then(|| {
            let d = dir.path();
            make_certificates(d);
            includes.push_str(&format!(
                "TLSCACertificateFile {}\nTLSCertificateFile {}\nTLSCertificateKeyFile {}\n",
                d.join("ca.pem").display(),
                d.join("server.pem").display(),
                d.join("server.key").display()
            ));
            d.join("ca.pem")
        });
        let conf = dir.path().join("slapd.conf");
        std::fs::write(
            &conf,
            format!(
                "{includes}\
pidfile {dir}/slapd.pid
argsfile {dir}/slapd.args
modulepath /usr/lib/ldap
moduleload back_mdb
{module}database mdb
maxsize 1073741824
suffix \"{BASE}\"
rootdn \"cn=admin,{BASE}\"
rootpw admin-secret
directory {db}
index objectClass eq
index mail eq
index member eq
index mailtipsProxyAddress eq
{proxy_index}
limits users size.soft=unlimited size.hard=unlimited size.prtotal=unlimited
access to attrs=userPassword by anonymous auth by * none
access to * by dn.exact=\"{WRITER_DN}\" write by users read by * none
{overlay}",
                dir = dir.path().display(),
                db = db.display(),
                proxy_index = if preset == Preset::ActiveDirectory {
                    "index proxyAddresses eq\nindex msExchExtensionCustomAttribute1 eq"
                } else {
                    "index mailtipsSendFrom eq"
                },
            ),
        )
        .unwrap();
        let accounts = format!(
            "dn: {READER_DN}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\n\
             cn: mailtips\nuserPassword: {READER_PASSWORD}\n\n\
             dn: {WRITER_DN}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\n\
             cn: metrics\nuserPassword: {WRITER_PASSWORD}\n\n"
        );
        let data = dir.path().join("data.ldif");
        std::fs::write(&data, format!("{ldif}\n{accounts}")).unwrap();
        let out = Command::new(SLAPADD)
            .args(["-q", "-f"])
            .arg(&conf)
            .arg("-l")
            .arg(&data)
            .output()
            .expect("run slapadd");
        assert!(
            out.status.success(),
            "slapadd failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let port = free_port();
        let ldaps_port = tls.then(free_port);
        let mut s = Slapd {
            port,
            url: format!("ldap://127.0.0.1:{port}"),
            ldaps_url: ldaps_port.map(|p| format!("ldaps://127.0.0.1:{p}")),
            ca_file,
            dir,
            conf,
            child: None,
        };
        s.restart();
        s
    }

    /// Starts the process (again) on the same port and data, and waits until it accepts
    /// connections.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "slapd already running");
        let mut urls = format!("ldap://127.0.0.1:{}/", self.port);
        if let Some(u) = &self.ldaps_url {
            urls.push_str(&format!(" {u}/"));
        }
        let child = Command::new(SLAPD)
            // -d 0: stay in the foreground so the child's PID is slapd's.
            .args(["-d", "0", "-h"])
            .arg(urls)
            .arg("-f")
            .arg(&self.conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn slapd");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("slapd exited at start-up: {status}");
            }
            assert!(Instant::now() < deadline, "slapd did not start within 10 s");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the process by PID and waits for it (the data stays for [`Slapd::restart`]).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The `[directory.ldap]` settings for this server, binding as the reader with the
    /// password read from a file.
    pub fn ldap_config(&self, preset: Preset) -> LdapConfig {
        let pw = self.dir.path().join("reader.pw");
        std::fs::write(&pw, format!("{READER_PASSWORD}\n")).unwrap();
        let text = format!(
            "url = \"{}\"\nbase_dn = \"{BASE}\"\nbind_dn = \"{READER_DN}\"\n\
             bind_password_file = \"{}\"\npreset = \"{}\"\nconnect_timeout = \"1s\"\n\
             operation_timeout = \"1s\"\n",
            self.url,
            pw.display(),
            match preset {
                Preset::Openldap => "openldap",
                Preset::ActiveDirectory => "active-directory",
            }
        );
        toml::from_str(&text).expect("ldap config")
    }
}

/// A test CA and a server certificate for 127.0.0.1 signed by it (EC P-256), with openssl.
fn make_certificates(d: &Path) {
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(d)
            .output()
            .expect("openssl is needed for the TLS tests (apt-get install openssl)");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    std::fs::write(
        d.join("server.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n\
         keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut ca = vec![
        "req",
        "-x509",
        "-days",
        "2",
        "-subj",
        "/CN=mailtips test CA",
    ];
    ca.extend(ec);
    ca.extend(["-keyout", "ca.key", "-out", "ca.pem"]);
    openssl(&ca);
    let mut csr = vec!["req", "-subj", "/CN=127.0.0.1"];
    csr.extend(ec);
    csr.extend(["-keyout", "server.key", "-out", "server.csr"]);
    openssl(&csr);
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "server.ext",
        "-out",
        "server.pem",
    ]);
}

impl Drop for Slapd {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The demo organisation as LDIF for `preset`.
pub fn demo_ldif(preset: Preset) -> String {
    let snap = mailtips::directory::FileDirectory::demo(Default::default()).snapshot();
    mailtips::directory::ldap::ldif::export(&snap, preset, BASE).expect("export")
}

/// The same with each object's direct groups in `memberOf`, for [`Slapd::start_member_of`].
pub fn demo_ldif_member_of(preset: Preset) -> String {
    let snap = mailtips::directory::FileDirectory::demo(Default::default()).snapshot();
    mailtips::directory::ldap::ldif::export_with(&snap, preset, BASE, true).expect("export")
}
