//! The `mailtips` binary as an administrator runs it: start-up errors that name the problem,
//! SIGHUP reloading the directory file without dropping requests (a bad file keeps the old
//! directory; group metrics follow a good one), and SIGHUP reloading the config (live settings
//! swapped, the rest logged as needing a restart, a bad config refused and the old one kept).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mailtips::pb;
use mailtips::pb::mail_tip::Data;

use crate::support::*;

fn write_config(dir: &Path, port: u16) -> std::path::PathBuf {
    let config = DEMO_CONFIG
        .replace(
            "listen = \"127.0.0.1:50051\"",
            &format!("listen = \"127.0.0.1:{port}\""),
        )
        .replace(
            "# file = \"demo-directory.toml\"",
            "file = \"directory.toml\"",
        )
        // The reload test drives load from one peer: a budget it never meets.
        + "\n[auth]\nmode = \"none\"\nrecipients_per_minute = 1000000000\n";
    let path = dir.join("mailtips.toml");
    std::fs::write(&path, config).unwrap();
    path
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn connect(
    port: u16,
) -> pb::mail_tips_service_client::MailTipsServiceClient<tonic::transport::Channel> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match pb::mail_tips_service_client::MailTipsServiceClient::connect(format!(
            "http://127.0.0.1:{port}"
        ))
        .await
        {
            Ok(c) => return c,
            Err(e) if Instant::now() > deadline => panic!("server did not start: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

#[test]
fn bad_directory_file_is_refused_at_start_up_naming_entry_and_field() {
    let tmp = tempfile::tempdir().unwrap();
    let config = write_config(tmp.path(), free_port());
    std::fs::write(
        tmp.path().join("directory.toml"),
        "[[mailbox]]\naddress = \"a@contoso.com\"\n\n[[group]]\naddress = \"g@contoso.com\"\nmembers = [\"a@contoso.com\", \"broken\"]\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_mailtips"))
        .args(["serve", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("directory.toml: group[0] (g@contoso.com): field `members[1]`: missing '@'"),
        "{err}"
    );
}

#[test]
fn bad_config_is_refused_naming_the_key() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("bad.toml");
    std::fs::write(
        &path,
        "[org]\ninternal_domains = [{ domain = \"contoso.com\" }]\nlarge_audience_treshold = 10\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_mailtips"))
        .args(["check-config", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.toml") && err.contains("unknown field `large_audience_treshold`"),
        "{err}"
    );
}

#[tokio::test]
async fn sighup_reloads_without_dropping_requests() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = write_config(tmp.path(), port);
    let dir_file = tmp.path().join("directory.toml");
    std::fs::write(&dir_file, DEMO_DIRECTORY).unwrap();
    let server = Server(
        Command::new(env!("CARGO_BIN_EXE_mailtips"))
            .args(["serve", "--config"])
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut client = connect(port).await;
    let draft = request(
        TARO,
        &[("yuki.ito@contoso.com", To), ("partners@contoso.com", To)],
    );
    let external_count = |r: &pb::GetMailTipsResponse| {
        r.recipients[1].tips.iter().find_map(|t| match &t.data {
            Some(Data::External(d)) => Some(d.external_member_count),
            _ => None,
        })
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let before = loop {
        let r = client
            .get_mail_tips(draft.clone())
            .await
            .unwrap()
            .into_inner();
        if external_count(&r).is_some() || Instant::now() > deadline {
            break r;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(before.recipients[0].tips.is_empty());
    assert_eq!(external_count(&before), Some(2));

    // Requests keep flowing during every reload below; none may fail.
    let load = {
        let mut c = client.clone();
        let d = draft.clone();
        tokio::spawn(async move {
            let mut n = 0u32;
            let stop = Instant::now() + Duration::from_secs(2);
            while Instant::now() < stop {
                c.get_mail_tips(d.clone())
                    .await
                    .expect("no request fails during reload");
                n += 1;
            }
            n
        })
    };

    // A bad file: refused, the old directory stays.
    std::fs::write(&dir_file, "[[mailbox]]\naddress = \"oops\"\n").unwrap();
    signal(server.0.id(), "-HUP");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = client
        .get_mail_tips(draft.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        r.recipients[0].resolved_as,
        pb::ResolvedKind::Mailbox as i32,
        "old directory kept"
    );

    // A good file: Yuki turns automatic replies on, partners@ gains an external member.
    let changed = DEMO_DIRECTORY
        .replace(
            "address = \"yuki.ito@contoso.com\"\nname = \"伊藤 由紀\"\n",
            "address = \"yuki.ito@contoso.com\"\nname = \"伊藤 由紀\"\nauto_reply = { internal = \"On leave\" }\n",
        )
        .replace("\"mei.chen@supplier.example\"]", "\"mei.chen@supplier.example\", \"li.wei@supplier.example\"]");
    std::fs::write(&dir_file, changed).unwrap();
    signal(server.0.id(), "-HUP");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = client
            .get_mail_tips(draft.clone())
            .await
            .unwrap()
            .into_inner();
        if kinds(&r.recipients[0]) == [pb::TipKind::AutoReply] && external_count(&r) == Some(3) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "reload not seen within 30 s: {r:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let served = load.await.unwrap();
    assert!(served > 0);
}

/// The server's stderr lines, read on a thread, so that a test waits for a log event itself.
fn log_lines(child: &mut Child) -> std::sync::mpsc::Receiver<String> {
    use std::io::BufRead as _;
    let stderr = child.stderr.take().expect("stderr piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

/// Waits (up to 20 s) for a log line containing `needle` and returns it.
fn wait_for_log(lines: &std::sync::mpsc::Receiver<String>, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) if line.contains(needle) => return line,
            Ok(_) => {}
            Err(e) => panic!("no log line with {needle:?}: {e}"),
        }
    }
}

#[tokio::test]
async fn sighup_reloads_the_config_and_a_bad_one_keeps_the_running_one() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = write_config(tmp.path(), port);
    std::fs::write(tmp.path().join("directory.toml"), DEMO_DIRECTORY).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_mailtips"))
        .args(["serve", "--config"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = log_lines(&mut child);
    let server = Server(child);
    let mut client = connect(port).await;
    let mut draft = request(TARO, &[("john.smith@partner.example", To)]);
    draft.message_size_bytes = 30_000_000;
    let kinds_of = |r: &pb::GetMailTipsResponse| {
        let mut k = kinds(&r.recipients[0]);
        k.extend(
            r.draft_tips
                .iter()
                .filter_map(|t| pb::TipKind::try_from(t.kind).ok()),
        );
        k
    };
    let before = client
        .get_mail_tips(draft.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        kinds_of(&before),
        [pb::TipKind::ExternalRecipient, pb::TipKind::MessageTooLarge]
    );
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let webmail_granted = || async move {
        let preflight = "OPTIONS /mailtips.v1.MailTipsService/GetMailTips HTTP/1.1\r\n\
                         Host: 127.0.0.1\r\nOrigin: https://mail.contoso.com\r\n\
                         Access-Control-Request-Method: POST\r\nConnection: close\r\n\r\n";
        let (head, _) = http1(addr, preflight.as_bytes()).await;
        head.contains("access-control-allow-origin: https://mail.contoso.com")
    };
    assert!(!webmail_granted().await);

    // Live: a larger size limit, the external tip off and a CORS origin. Not live: the listen
    // address.
    let text = std::fs::read_to_string(&config).unwrap();
    let changed = text
        .replace("max_message_size = \"25MB\"", "max_message_size = \"50MB\"")
        .replace("external_recipient = true", "external_recipient = false")
        .replace(
            "cors_allowed_origins = []",
            "cors_allowed_origins = [\"https://mail.contoso.com\"]",
        )
        .replace(
            &format!("127.0.0.1:{port}"),
            &format!("127.0.0.1:{}", free_port()),
        );
    std::fs::write(&config, changed).unwrap();
    signal(server.0.id(), "-HUP");
    let restart = wait_for_log(&lines, "need a restart");
    assert!(restart.contains("server"), "{restart}");
    wait_for_log(&lines, "config reloaded");
    let after = client
        .get_mail_tips(draft.clone())
        .await
        .unwrap()
        .into_inner();
    assert!(kinds_of(&after).is_empty(), "{after:?}");
    let advertised = client
        .get_service_configuration(pb::GetServiceConfigurationRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(advertised.max_message_size_bytes, 50_000_000);
    assert!(webmail_granted().await, "the new CORS origin is granted");

    // A bad config: refused with its reason on one line; the running one stays.
    std::fs::write(
        &config,
        text.replace("\n[tips]\n", "\n[tips]\nauto_replies = false\n"),
    )
    .unwrap();
    signal(server.0.id(), "-HUP");
    let failed = wait_for_log(&lines, "config reload failed");
    assert!(failed.contains("unknown field `auto_replies`"), "{failed}");
    let kept = client.get_mail_tips(draft).await.unwrap().into_inner();
    assert!(kinds_of(&kept).is_empty(), "{kept:?}");
}
