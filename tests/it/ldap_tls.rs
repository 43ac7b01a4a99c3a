//! TLS to a real slapd: ldaps:// and StartTLS, with the server certificate verified against a
//! configured CA, and refused when it is not trusted.

use mailtips::directory::LdapDirectory;
use mailtips::directory::ldap::config::Preset;
use mailtips::domain::address::Address;

use crate::support::slapd::*;

async fn resolves(dir: &LdapDirectory) -> bool {
    let a = Address::parse("kenji.suzuki@contoso.com").unwrap();
    match dir.try_lookup(&[&a]).await {
        Ok(found) => found[0].is_some(),
        Err(e) => {
            eprintln!("lookup failed: {e}");
            false
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ldaps_and_starttls_verify_the_server() {
    let slapd = Slapd::start_tls(Preset::Openldap, &demo_ldif(Preset::Openldap));
    let ca = slapd.ca_file.clone().unwrap();

    // ldaps:// with the test CA.
    let mut c = slapd.ldap_config(Preset::Openldap);
    c.url = slapd.ldaps_url.clone().unwrap();
    c.tls_ca_file = Some(ca.clone());
    assert!(
        resolves(&LdapDirectory::new(c.clone(), Default::default()).unwrap()).await,
        "ldaps"
    );

    // StartTLS on ldap:// with the test CA.
    let mut s = slapd.ldap_config(Preset::Openldap);
    s.starttls = true;
    s.tls_ca_file = Some(ca);
    assert!(
        resolves(&LdapDirectory::new(s.clone(), Default::default()).unwrap()).await,
        "StartTLS"
    );

    // Not trusted: the system store does not know the test CA, so nothing is read.
    for mut untrusted in [c, s] {
        untrusted.tls_ca_file = None;
        let dir = LdapDirectory::new(untrusted, Default::default()).unwrap();
        assert!(!resolves(&dir).await, "an untrusted certificate is refused");
    }

    // `mailtips check-config` contacts the directory: ldaps with the CA from the config file.
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("mailtips.toml");
    let pw = dir.path().join("pw");
    std::fs::write(&pw, READER_PASSWORD).unwrap();
    let write_conf = |ca: &str| {
        std::fs::write(
            &conf,
            format!(
                "[org]\ninternal_domains = [{{ domain = \"contoso.com\" }}]\n\n\
                 [directory.ldap]\nurl = \"{}\"\nbase_dn = \"{BASE}\"\nbind_dn = \"{READER_DN}\"\n\
                 bind_password_file = \"pw\"\n{ca}",
                slapd.ldaps_url.as_ref().unwrap()
            ),
        )
        .unwrap();
    };
    let check = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_mailtips"))
            .args(["check-config", "--config"])
            .arg(&conf)
            .env("RUST_LOG", "off")
            .output()
            .expect("run mailtips check-config")
    };
    write_conf(&format!(
        "tls_ca_file = \"{}\"\n",
        slapd.ca_file.as_ref().unwrap().display()
    ));
    let out = check();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("answers"));
    write_conf("");
    let out = check();
    assert!(
        !out.status.success(),
        "untrusted certificate refused by check-config"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("while contacting the LDAP directory"), "{err}");
    assert!(!err.contains(READER_PASSWORD));

    // A CA file that is not a certificate is a start-up error naming the file.
    let bogus = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(bogus.path(), "not a certificate").unwrap();
    let mut b = slapd.ldap_config(Preset::Openldap);
    b.tls_ca_file = Some(bogus.path().to_owned());
    let err = LdapDirectory::new(b, Default::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("tls_ca_file"), "{err}");
}
