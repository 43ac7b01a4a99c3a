//! Limits over the real server: fair load shedding (a caller past its share of recipients in
//! evaluation is refused at once with `RESOURCE_EXHAUSTED` and RetryInfo while another caller
//! is admitted), the caller's deadline (`grpc-timeout`) stopping an evaluation, a malformed
//! deadline or request body refused as `INVALID_ARGUMENT`, the caps on open watch streams, and
//! each caller's lane (its calls run one at a time, another caller's beside them) with a full
//! share refusing a call before its body is decoded.
//!
//! Slow evaluations come from a real slapd stopped with SIGSTOP (connections open, nothing
//! answered) and timeouts far longer than the test: a call is in evaluation until it is
//! cancelled or its deadline passes, whatever the machine's speed.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use bytes::{Buf, BufMut};
use mailtips::directory::LdapDirectory;
use mailtips::directory::ldap::config::Preset;
use mailtips::pb;
use mailtips::pb::mail_tips_service_client::MailTipsServiceClient;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::transport::Channel;
use tonic::{Code, Status};
use tonic_types::StatusExt;

use crate::support::slapd::*;
use crate::support::*;

/// A client whose connections come from `127.0.0.n`: another peer address, so another
/// anonymous caller.
async fn client_from(server: &TestServer, n: u8) -> MailTipsServiceClient<Channel> {
    MailTipsServiceClient::new(channel_from(server, n).await)
}

async fn channel_from(server: &TestServer, n: u8) -> Channel {
    tonic::transport::Endpoint::from_shared(server.url())
        .unwrap()
        .local_address(Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, n))))
        .connect()
        .await
        .expect("connect")
}

fn with_timeout(
    req: pb::GetMailTipsRequest,
    grpc_timeout: &str,
) -> tonic::Request<pb::GetMailTipsRequest> {
    let mut r = tonic::Request::new(req);
    // Sent as written, with no client-side timer: what the server answers is what is seen.
    r.metadata_mut()
        .insert("grpc-timeout", grpc_timeout.parse().unwrap());
    r
}

/// Wakes a stopped slapd when the test ends, whichever way it ends.
struct Resume(u32);

impl Drop for Resume {
    fn drop(&mut self) {
        signal(self.0, "-CONT");
    }
}

/// A tonic client keeps its own timer for a deadline: it gives up first (CANCELLED), or the
/// server's answer wins (DEADLINE_EXCEEDED). Either way the call was admitted; a refusal would
/// have come back at once as RESOURCE_EXHAUSTED.
fn client_deadline(req: pb::GetMailTipsRequest) -> tonic::Request<pb::GetMailTipsRequest> {
    let mut r = tonic::Request::new(req);
    r.set_timeout(Duration::from_millis(500));
    r
}

fn admitted(s: &Status) -> bool {
    matches!(s.code(), Code::Cancelled | Code::DeadlineExceeded)
}

/// `GetMailTips` over gRPC-web on HTTP/1.1 with a `grpc-timeout` header: the `grpc-status` the
/// server answers (from a trailers-only head or the trailer frame).
async fn grpc_web_status(server: &TestServer, req: pb::GetMailTipsRequest, timeout: &str) -> i32 {
    use prost::Message;
    let msg = req.encode_to_vec();
    let mut frame = vec![0u8];
    frame.extend_from_slice(&(msg.len() as u32).to_be_bytes());
    frame.extend_from_slice(&msg);
    let mut post = format!(
        "POST /mailtips.v1.MailTipsService/GetMailTips HTTP/1.1\r\nHost: {}\r\nContent-Type: application/grpc-web+proto\r\nX-Grpc-Web: 1\r\ngrpc-timeout: {timeout}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        server.addr,
        frame.len()
    )
    .into_bytes();
    post.extend_from_slice(&frame);
    let (head, body) = http1(server.addr, &post).await;
    let text = format!("{head}\n{}", String::from_utf8_lossy(&body));
    let at = text
        .find("grpc-status:")
        .unwrap_or_else(|| panic!("no grpc-status: {text}"));
    let digits: String = text[at + "grpc-status:".len()..]
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().unwrap()
}

fn staff(range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("staff{i:02}@contoso.com")).collect()
}

fn refs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// The demo directory on slapd, for tests that freeze slapd with a draft in flight: one LDAP
/// connection (bound before slapd stops, so the stuck draft's search is sent on it), timeouts
/// far longer than the tests, and no group metrics job; with the config to adjust.
fn frozen_ldap_setup() -> (Slapd, LdapDirectory, mailtips::config::Config) {
    let slapd = Slapd::start(Preset::Openldap, &demo_ldif(Preset::Openldap));
    let mut lc = slapd.ldap_config(Preset::Openldap);
    lc.operation_timeout = Duration::from_secs(600);
    lc.connections = 1.try_into().unwrap();
    let ldap = LdapDirectory::new(lc, Default::default()).unwrap();
    let mut config = demo_config();
    config.org.group_metrics_enabled = false;
    config.directory.cache.backend_timeout = Duration::from_secs(600);
    (slapd, ldap, config)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_past_its_share_is_refused_while_others_are_admitted() {
    let (slapd, ldap, mut config) = frozen_ldap_setup();
    // A four-recipient draft (weight five: the recipients and the sender) fills a caller's share.
    config.server.limits.max_evaluating_recipients_per_caller = 5.try_into().unwrap();
    config.server.limits.max_evaluating_recipients = 8.try_into().unwrap();
    let server = TestServer::over_ldap(config, ldap.clone()).await;
    // Connected and bound while slapd still answers.
    assert!(fully_resolved(
        &server
            .tips(draft(TARO, &["kenji.suzuki@contoso.com"]))
            .await
    ));

    let pid = slapd.pid().expect("running");
    freeze(pid);
    let _resume = Resume(pid);
    let before = ldap.stats().searches;
    let heavy = staff(1..5);
    let a1 = tokio::spawn({
        let mut c = server.client();
        let req = with_timeout(draft(TARO, &refs(&heavy)), "600S");
        async move { c.get_mail_tips(req).await }
    });
    // In evaluation once its search has gone to the (stopped) slapd.
    eventually(Duration::from_secs(30), || async {
        ldap.stats().searches > before
    })
    .await
    .expect("the heavy draft reached the directory");

    // Bounded: were it admitted, it would wait for the stopped slapd.
    let refused = tokio::time::timeout(
        Duration::from_secs(30),
        server
            .client()
            .get_mail_tips(draft(TARO, &["yuki.ito@contoso.com"])),
    )
    .await
    .expect("refused at once, not admitted")
    .expect_err("past the caller's share");
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    assert!(
        refused
            .message()
            .contains("max_evaluating_recipients_per_caller = 5"),
        "{refused:?}"
    );
    let retry = refused.get_error_details();
    assert!(retry.retry_info().and_then(|r| r.retry_delay).is_some());

    // Another caller is admitted: its call is still in evaluation when the client gives up.
    let other = client_from(&server, 2)
        .await
        .get_mail_tips(client_deadline(draft(TARO, &refs(&staff(5..7)))))
        .await
        .expect_err("slapd is stopped");
    assert!(admitted(&other), "{other:?}");

    // The first caller cancels its heavy draft: its share comes back (once the server has seen
    // the cancellation), and its next call is admitted. Asked over gRPC-web, whose raw HTTP/1.1
    // client keeps no timer of its own, the server answers DEADLINE_EXCEEDED when the caller's
    // deadline passes, and drops the evaluation with its share before it answers, so the
    // caller is admitted again at once.
    a1.abort();
    let heavy_again = || draft(TARO, &refs(&staff(9..13)));
    let back = eventually(Duration::from_secs(30), || async {
        let status = grpc_web_status(&server, heavy_again(), "300m").await;
        assert!(
            status == Code::DeadlineExceeded as i32 || status == Code::ResourceExhausted as i32,
            "{status}"
        );
        status == Code::DeadlineExceeded as i32
    })
    .await;
    assert!(back.is_some(), "the cancelled call gave its share back");
    for _ in 0..3 {
        let status = grpc_web_status(&server, heavy_again(), "300m").await;
        assert_eq!(status, Code::DeadlineExceeded as i32);
    }

    signal(pid, "-CONT");
    let resp = server
        .tips(draft(TARO, &["kenji.suzuki@contoso.com"]))
        .await;
    assert_eq!(resp.recipients.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callers_calls_run_in_its_lane_and_a_full_share_refuses_before_decoding() {
    let (slapd, ldap, mut config) = frozen_ldap_setup();
    config.server.limits.max_evaluating_recipients_per_caller = 6.try_into().unwrap();
    // A lane of four: the stuck draft (weight four) takes it whole.
    config.server.limits.max_running_recipients_per_caller = 4;
    let server = TestServer::over_ldap(config, ldap.clone()).await;
    // Cached while slapd still answers: this draft is then answered from memory alone.
    let cached = || draft(TARO, &["kenji.suzuki@contoso.com"]);
    assert!(fully_resolved(&server.tips(cached()).await));

    let pid = slapd.pid().expect("running");
    freeze(pid);
    let _resume = Resume(pid);
    let before = ldap.stats().searches;
    // Caller 1 (127.0.0.1): a draft of three unknown recipients (weight four), in evaluation
    // until the test ends.
    let stuck = tokio::spawn({
        let mut c = server.client();
        let req = with_timeout(draft(TARO, &refs(&staff(1..4))), "600S");
        async move { c.get_mail_tips(req).await }
    });
    eventually(Duration::from_secs(30), || async {
        ldap.stats().searches > before
    })
    .await
    .expect("the draft reached the directory");

    // Its lane is taken: caller 1's cached draft, admitted (weight two, six of six), waits its
    // turn until the client gives up, though it needs nothing from slapd...
    let waited = server
        .client()
        .get_mail_tips(client_deadline(cached()))
        .await
        .expect_err("waits behind the stuck draft");
    assert!(admitted(&waited), "{waited:?}");
    // ...while another caller, in its own lane, is answered at once.
    let mut other = client_from(&server, 2).await;
    let answer = other.get_mail_tips(cached()).await.expect("its own lane");
    assert!(fully_resolved(&answer.into_inner()));

    // Two recipients whose addresses are not UTF-8: weighed from the bytes (three), so refused
    // for caller 1's share (four held) before anything decodes them; caller 2's share has room,
    // and validation refuses the first by name.
    let bytes = undecodable(&["zz1@contoso.com", "zz2@contoso.com"]);
    let raw = |channel: Channel, bytes: Vec<u8>| async move {
        let path = http::uri::PathAndQuery::from_static("/mailtips.v1.MailTipsService/GetMailTips");
        raw_client(channel)
            .await
            .unary(tonic::Request::new(bytes), path, Raw)
            .await
            .expect_err("refused")
    };
    // Refused whether or not the server has yet seen the cancelled call give back its two.
    let refused = raw(server.channel(), bytes.clone()).await;
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    assert!(
        refused
            .message()
            .contains("max_evaluating_recipients_per_caller = 6"),
        "{refused:?}"
    );
    let decoded = raw(channel_from(&server, 2).await, bytes).await;
    assert_eq!(decoded.code(), Code::InvalidArgument, "{decoded:?}");
    assert_eq!(
        decoded.message(),
        "recipients[0].address: is not UTF-8",
        "{decoded:?}"
    );

    // The stuck draft cancelled, caller 1's lane and share come back.
    stuck.abort();
    let back = eventually(Duration::from_secs(30), || {
        let mut c = server.client();
        async move { c.get_mail_tips(client_deadline(cached())).await.is_ok() }
    })
    .await;
    assert!(back.is_some(), "the lane came back");
}

#[tokio::test]
async fn deadlines_are_honoured_and_malformed_ones_or_bodies_are_invalid_argument() {
    let server = TestServer::demo().await;
    for bad in ["soon", "10", "-1S", "123456789S", "1.5S"] {
        let status = server
            .client()
            .get_mail_tips(with_timeout(draft(TARO, &["yuki.ito@contoso.com"]), bad))
            .await
            .expect_err(bad);
        assert_eq!(status.code(), Code::InvalidArgument, "{bad}: {status:?}");
        assert!(status.message().contains("grpc-timeout"), "{status:?}");
    }
    // A well-formed deadline is honoured and does not get in the way.
    let ok = server
        .client()
        .get_mail_tips(with_timeout(draft(TARO, &["yuki.ito@contoso.com"]), "30S"))
        .await
        .expect("within the deadline");
    assert_eq!(ok.into_inner().recipients.len(), 1);

    // A watch stream ends when the caller's deadline passes.
    let mut stream = server
        .client()
        .watch_mail_tips(with_timeout(draft(TARO, &["yuki.ito@contoso.com"]), "500m"))
        .await
        .expect("opened")
        .into_inner();
    stream.message().await.unwrap().expect("the first answer");
    let end = stream.message().await.expect_err("ended by the deadline");
    assert_eq!(end.code(), Code::DeadlineExceeded, "{end:?}");

    // Bytes that are not a GetMailTipsRequest, on both methods that take one.
    for method in ["GetMailTips", "WatchMailTips"] {
        let mut grpc = tonic::client::Grpc::new(server.channel());
        grpc.ready().await.unwrap();
        let path: http::uri::PathAndQuery = format!("/mailtips.v1.MailTipsService/{method}")
            .parse()
            .unwrap();
        let garbage = vec![0xff, 0xff, 0xff, 0xff];
        let status = if method == "GetMailTips" {
            grpc.unary(tonic::Request::new(garbage), path, Raw)
                .await
                .expect_err("not protobuf")
        } else {
            match grpc
                .server_streaming(tonic::Request::new(garbage), path, Raw)
                .await
            {
                Err(s) => s,
                Ok(mut stream) => stream.get_mut().message().await.expect_err("not protobuf"),
            }
        };
        assert_eq!(status.code(), Code::InvalidArgument, "{method}: {status:?}");
    }
}

#[tokio::test]
async fn watch_streams_are_capped_in_total_and_per_caller() {
    let mut config = demo_config();
    config.server.limits.max_watch_streams_per_caller = 2.try_into().unwrap();
    config.server.limits.max_watch_streams = 3.try_into().unwrap();
    let server = TestServer::with_directory_file(config, DEMO_DIRECTORY).await;
    let watch = |mut c: MailTipsServiceClient<Channel>| async move {
        c.watch_mail_tips(draft(TARO, &["yuki.ito@contoso.com"]))
            .await
            .map(tonic::Response::into_inner)
    };
    let refused = |r: Result<tonic::Streaming<pb::GetMailTipsResponse>, Status>, key: &str| {
        let s = r.expect_err("past the cap");
        assert_eq!(s.code(), Code::ResourceExhausted, "{s:?}");
        assert!(s.message().contains(key), "{s:?}");
        assert!(s.get_error_details().retry_info().is_some());
    };
    let a = client_from(&server, 1).await;
    let b = client_from(&server, 2).await;
    let a1 = watch(a.clone()).await.unwrap();
    let _a2 = watch(a.clone()).await.unwrap();
    refused(watch(a.clone()).await, "max_watch_streams_per_caller = 2");
    // Refused before decoding: a draft whose address is not UTF-8 (validation would answer
    // INVALID_ARGUMENT) gets the cap's RESOURCE_EXHAUSTED.
    let undecodable = raw_watch(channel_from(&server, 1).await).await;
    refused(Err(undecodable), "max_watch_streams_per_caller = 2");
    let _b1 = watch(b.clone()).await.unwrap();
    refused(watch(b.clone()).await, "max_watch_streams = 3");
    // A closed stream gives its slot back.
    drop(a1);
    let reopened = eventually(Duration::from_secs(30), || {
        let a = a.clone();
        async move { watch(a).await.is_ok() }
    })
    .await;
    assert!(reopened.is_some(), "the closed stream's slot came back");
}

/// A draft from Taro to `to`, encoded, with every "zz" in it made bytes that are not UTF-8:
/// the server refuses it (`INVALID_ARGUMENT`) once it reads it.
fn undecodable(to: &[&str]) -> Vec<u8> {
    use prost::Message;
    let mut bytes = draft(TARO, to).encode_to_vec();
    for at in 0..bytes.len() - 1 {
        if bytes[at..at + 2] == *b"zz" {
            bytes[at..at + 2].copy_from_slice(&[0xff, 0xfe]);
        }
    }
    bytes
}

/// A client sending and reading raw bytes ([`Raw`]) on `channel`, ready.
async fn raw_client(channel: Channel) -> tonic::client::Grpc<Channel> {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.unwrap();
    grpc
}

/// A `WatchMailTips` call whose one recipient's address is not UTF-8, sent as raw bytes: its
/// status.
async fn raw_watch(channel: Channel) -> Status {
    let path = http::uri::PathAndQuery::from_static("/mailtips.v1.MailTipsService/WatchMailTips");
    let request = tonic::Request::new(undecodable(&["zz@contoso.com"]));
    raw_client(channel)
        .await
        .server_streaming(request, path, Raw)
        .await
        .expect_err("refused")
}

/// Sends and reads raw bytes as gRPC messages.
#[derive(Debug, Clone, Copy, Default)]
struct Raw;

impl Codec for Raw {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = Raw;
    type Decoder = Raw;
    fn encoder(&mut self) -> Raw {
        Raw
    }
    fn decoder(&mut self) -> Raw {
        Raw
    }
}

impl Encoder for Raw {
    type Item = Vec<u8>;
    type Error = Status;
    fn encode(&mut self, item: Vec<u8>, buf: &mut EncodeBuf<'_>) -> Result<(), Status> {
        buf.put_slice(&item);
        Ok(())
    }
}

impl Decoder for Raw {
    type Item = Vec<u8>;
    type Error = Status;
    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
        Ok(Some(buf.copy_to_bytes(buf.remaining()).to_vec()))
    }
}

#[tokio::test]
async fn watch_streams_are_weighed_by_the_recipients_they_keep() {
    let mut config = demo_config();
    config.server.limits.max_watched_recipients_per_caller = 12.try_into().unwrap();
    let server = TestServer::with_directory_file(config, DEMO_DIRECTORY).await;
    let ten = staff(1..11);
    let mut client = server.client();
    let _big = client
        .watch_mail_tips(draft(TARO, &refs(&ten)))
        .await
        .expect("eleven of twelve");
    let s = client
        .watch_mail_tips(draft(TARO, &["yuki.ito@contoso.com"]))
        .await
        .expect_err("two more is past twelve");
    assert_eq!(s.code(), Code::ResourceExhausted, "{s:?}");
    assert!(
        s.message()
            .contains("max_watched_recipients_per_caller = 12"),
        "{s:?}"
    );
}

#[tokio::test]
async fn streams_whose_client_does_not_read_hold_no_evaluation_budget() {
    let mut config = demo_config();
    // One four-recipient draft (weight five) fills a caller's evaluation share.
    config.server.limits.max_evaluating_recipients_per_caller = 5.try_into().unwrap();
    let server = TestServer::with_directory_file(config, DEMO_DIRECTORY).await;
    // A client that never opens its receive window: the server cannot send it a byte of data.
    let stalled = tonic::transport::Endpoint::from_shared(server.url())
        .unwrap()
        .initial_stream_window_size(Some(0))
        .initial_connection_window_size(Some(0))
        .connect()
        .await
        .expect("connect");
    let mut stalled = MailTipsServiceClient::new(stalled);
    let four = staff(1..5);
    let mut idle = Vec::new();
    for _ in 0..20 {
        idle.push(
            stalled
                .watch_mail_tips(draft(TARO, &refs(&four)))
                .await
                .expect("opened: the first evaluation is admitted")
                .into_inner(),
        );
    }
    // The same caller (same peer address) is still admitted: the idle streams hold nothing of
    // its evaluation share.
    for _ in 0..3 {
        let resp = server.tips(draft(TARO, &refs(&four))).await;
        assert_eq!(resp.recipients.len(), 4);
    }
}
