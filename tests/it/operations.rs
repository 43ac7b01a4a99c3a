//! What an operator watches: the admin listener's `/metrics` after real calls, `/readyz`
//! before and after the directory answers (LDAP not up yet, then up), and JSON logs where
//! every line, a failed reload's included, is one JSON object; and reflection serving the
//! error details' descriptors, so that grpcurl can print a `BadRequest`.

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use mailtips::directory::LdapDirectory;
use mailtips::directory::ldap::config::Preset;

use crate::support::slapd::*;
use crate::support::*;

/// `GET path` on the admin listener: the status code and the body.
async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let request = format!("GET {path} HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n");
    let (head, body) = http1(addr, request.as_bytes()).await;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status code");
    (status, String::from_utf8(body).expect("utf-8 body"))
}

/// The value of the sample `series` (name and labels as exposed), 0 when absent.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map_or(0.0, |v| v.trim().parse().expect("a number"))
}

fn with_admin(mut config: mailtips::config::Config) -> (mailtips::config::Config, SocketAddr) {
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    config.server.admin_listen = Some(addr);
    (config, addr)
}

#[tokio::test]
async fn metrics_move_with_real_calls() {
    let (config, admin) = with_admin(demo_config());
    let server = TestServer::with_directory_file(config, DEMO_DIRECTORY).await;
    eventually(Duration::from_secs(10), || async {
        tokio::net::TcpStream::connect(admin).await.is_ok()
    })
    .await
    .expect("the admin listener accepts");
    let (status, before) = get(admin, "/metrics").await;
    assert_eq!(status, 200);

    let ok = r#"mailtips_grpc_requests_total{method="GetMailTips",code="OK"}"#;
    let bad = r#"mailtips_grpc_requests_total{method="GetMailTips",code="INVALID_ARGUMENT"}"#;
    let recipients = "mailtips_request_recipients_count";
    let file_lookups = r#"mailtips_directory_lookup_duration_seconds_count{backend="file"}"#;
    server
        .tips(draft(TARO, &["kenji.suzuki@contoso.com"]))
        .await;
    server
        .tips(draft(TARO, &["hr@contoso.com", "board@contoso.com"]))
        .await;
    let refused = server
        .client()
        .get_mail_tips(draft("not an address", &["hr@contoso.com"]))
        .await
        .expect_err("a bad sender is refused");
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    let stream = server
        .client()
        .watch_mail_tips(draft(TARO, &["hr@contoso.com"]))
        .await
        .expect("watch")
        .into_inner();

    let (_, after) = get(admin, "/metrics").await;
    // Other tests in this process record into the same registry: at least our calls.
    assert!(sample(&after, ok) >= sample(&before, ok) + 2.0, "{after}");
    assert!(sample(&after, bad) >= sample(&before, bad) + 1.0, "{after}");
    assert!(sample(&after, recipients) >= sample(&before, recipients) + 2.0);
    assert!(sample(&after, file_lookups) >= sample(&before, file_lookups) + 2.0);
    assert!(
        sample(&after, "mailtips_watch_streams_open") >= 1.0,
        "{after}"
    );
    assert!(
        after.contains(
            r#"mailtips_grpc_request_duration_seconds_bucket{le="+Inf",method="GetMailTips"}"#
        ) || after.contains(
            r#"mailtips_grpc_request_duration_seconds_bucket{method="GetMailTips",le="+Inf"}"#
        ),
        "{after}"
    );
    drop(stream);

    assert_eq!(get(admin, "/livez").await.0, 200);
    assert_eq!(get(admin, "/nothing").await.0, 404);
    let _ = server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_only_once_the_directory_answered_and_group_metrics_are_computed() {
    let mut slapd = Slapd::start(Preset::Openldap, &demo_ldif(Preset::Openldap));
    slapd.stop();
    let (config, admin) = with_admin(demo_config());
    let ldap = LdapDirectory::new(slapd.ldap_config(Preset::Openldap), Default::default()).unwrap();
    let server = TestServer::over_ldap(config, ldap).await;
    eventually(Duration::from_secs(10), || async {
        tokio::net::TcpStream::connect(admin).await.is_ok()
    })
    .await
    .expect("the admin listener accepts");
    // slapd is down: group metrics cannot have been computed, whatever the timing.
    let (status, body) = get(admin, "/readyz").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(get(admin, "/livez").await.0, 200, "alive while not ready");

    slapd.restart();
    // The metrics job retries a failed run after 10 s.
    let ready = eventually(Duration::from_secs(60), || async {
        get(admin, "/readyz").await.0 == 200
    })
    .await;
    assert!(ready.is_some(), "ready once slapd is up");
    let (_, text) = get(admin, "/metrics").await;
    assert!(
        sample(&text, r#"mailtips_ldap_connects_total{result="ok"}"#) >= 1.0,
        "{text}"
    );
    assert!(
        sample(&text, "mailtips_group_metrics_failures_total") >= 1.0,
        "{text}"
    );
    assert!(
        sample(
            &text,
            "mailtips_group_metrics_last_success_timestamp_seconds"
        ) > 0.0
    );
    let _ = server.stop().await;
}

#[test]
fn json_logs_are_one_object_per_line_a_failed_reload_included() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = DEMO_CONFIG
        .replace(
            "listen = \"127.0.0.1:50051\"",
            &format!("listen = \"127.0.0.1:{port}\""),
        )
        .replace(
            "# file = \"demo-directory.toml\"",
            "file = \"directory.toml\"",
        )
        .replace("format = \"text\"", "format = \"json\"");
    std::fs::write(tmp.path().join("mailtips.toml"), config).unwrap();
    let dir_file = tmp.path().join("directory.toml");
    std::fs::write(&dir_file, DEMO_DIRECTORY).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_mailtips"))
        .args(["serve", "--config"])
        .arg(tmp.path().join("mailtips.toml"))
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    let mut wait_for = |needle: &str, seen: &mut Vec<String>| {
        for line in lines.by_ref() {
            let line = line.expect("a log line");
            let found = line.contains(needle);
            seen.push(line);
            if found {
                return;
            }
        }
        panic!("the server stopped before logging {needle:?}: {seen:?}");
    };
    wait_for("group metrics computed", &mut seen);
    // A TOML error spans several lines in its Display: the log still has one line for it.
    std::fs::write(&dir_file, "[[mailbox]]\naddress = \n").unwrap();
    signal(child.id(), "-HUP");
    wait_for("directory reload failed", &mut seen);
    let _ = child.kill();
    let _ = child.wait();
    for line in &seen {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line:?}"));
        assert!(
            v.get("level").is_some() && v.get("message").is_some(),
            "{line}"
        );
    }
    let failed = seen.last().unwrap();
    assert!(
        failed.contains("directory.toml"),
        "the cause is named: {failed}"
    );
    assert!(
        !seen.iter().any(|l| l.contains('\u{1b}')),
        "no colour codes"
    );
}

#[tokio::test]
async fn reflection_serves_the_error_details_descriptors() {
    use prost::Message as _;
    use tokio_stream::StreamExt as _;
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    let server = TestServer::demo().await;
    let mut c = ServerReflectionClient::new(server.channel());
    let req = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::FileContainingSymbol(
            "google.rpc.BadRequest".into(),
        )),
    };
    let mut stream = c
        .server_reflection_info(tokio_stream::iter([req]))
        .await
        .unwrap()
        .into_inner();
    let resp = stream.next().await.unwrap().unwrap();
    let Some(MessageResponse::FileDescriptorResponse(fds)) = resp.message_response else {
        panic!("google.rpc.BadRequest is not known to reflection: {resp:?}")
    };
    let file = prost_types::FileDescriptorProto::decode(&fds.file_descriptor_proto[0][..]).unwrap();
    assert!(file.message_type.iter().any(|m| m.name() == "BadRequest"));
    // grpcurl then asks for each file it imports by name: all must be there too.
    for dependency in &file.dependency {
        let req = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::FileByFilename(dependency.clone())),
        };
        let mut stream = c
            .server_reflection_info(tokio_stream::iter([req]))
            .await
            .unwrap()
            .into_inner();
        let resp = stream.next().await.unwrap().unwrap();
        assert!(
            matches!(
                resp.message_response,
                Some(MessageResponse::FileDescriptorResponse(_))
            ),
            "{dependency}: {resp:?}"
        );
    }
}
