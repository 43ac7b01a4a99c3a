//! Stopping cleanly: on the shutdown signal the health service says `NOT_SERVING` at once, open
//! `WatchMailTips` streams end with `UNAVAILABLE`, and the server returns once its calls are
//! done, or when the grace period runs out whatever clients do; the binary exits 0 on SIGTERM.

use std::process::{Command, Stdio};
use std::time::Duration;

use mailtips::pb;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};

use crate::support::*;

type Watch = tonic::Streaming<pb::GetMailTipsResponse>;

async fn open_watches(
    client: &mut pb::mail_tips_service_client::MailTipsServiceClient<tonic::transport::Channel>,
    n: usize,
) -> Vec<Watch> {
    let mut streams = Vec::new();
    for _ in 0..n {
        let mut s = client
            .watch_mail_tips(request(TARO, &[("yuki.ito@contoso.com", To)]))
            .await
            .expect("WatchMailTips")
            .into_inner();
        s.message().await.unwrap().expect("the first answer");
        streams.push(s);
    }
    streams
}

async fn health_watch(
    channel: tonic::transport::Channel,
    service: &str,
) -> tonic::Streaming<HealthCheckResponse> {
    let mut health = HealthClient::new(channel);
    let mut w = health
        .watch(HealthCheckRequest {
            service: service.into(),
        })
        .await
        .unwrap()
        .into_inner();
    let first = w.message().await.unwrap().unwrap();
    assert_eq!(first.status, ServingStatus::Serving as i32);
    w
}

async fn ends_unavailable(mut s: Watch) {
    let end = tokio::time::timeout(Duration::from_secs(30), s.message())
        .await
        .expect("the stream ends when the server stops");
    let status = end.expect_err("ends with a status, not an answer or a clean end");
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
}

#[tokio::test]
async fn stop_drains_health_and_ends_watch_streams_unavailable() {
    let mut config = demo_config();
    // Long: the server below must return because its calls are done, not because of the grace.
    config.server.limits.shutdown_grace = Duration::from_secs(600);
    let mut server = TestServer::with_directory_file(config, DEMO_DIRECTORY).await;
    let mut client = server.client();
    let streams = open_watches(&mut client, 3).await;
    let mut whole = health_watch(server.channel(), "").await;
    let mut service = health_watch(server.channel(), "mailtips.v1.MailTipsService").await;

    server.begin_stop();
    for w in [&mut whole, &mut service] {
        let next = w.message().await.unwrap().expect("a status change");
        assert_eq!(next.status, ServingStatus::NotServing as i32);
    }
    // A load balancer that saw NOT_SERVING goes away; the streams end, clients reconnect.
    drop((whole, service));
    for s in streams {
        ends_unavailable(s).await;
    }
    drop(client);
    let ended = tokio::time::timeout(Duration::from_secs(60), server.stop())
        .await
        .expect("the server returns once its calls are done");
    ended.expect("a clean stop");
}

#[tokio::test]
async fn stop_returns_after_the_grace_period_whatever_clients_do() {
    let mut config = demo_config();
    config.server.limits.shutdown_grace = Duration::from_millis(300);
    let mut server = TestServer::with_directory_file(config, DEMO_DIRECTORY).await;
    // A health watch never ends by itself: the client holds it open through the stop.
    let held = health_watch(server.channel(), "").await;
    server.begin_stop();
    let ended = tokio::time::timeout(Duration::from_secs(60), server.stop())
        .await
        .expect("the server returns when the grace period is over");
    ended.expect("a clean stop");
    drop(held);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_open_streams_exits_0_within_the_grace_period() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = DEMO_CONFIG
        .replace(
            "listen = \"127.0.0.1:50051\"",
            &format!("listen = \"127.0.0.1:{port}\""),
        )
        .replace("shutdown_grace = \"10s\"", "shutdown_grace = \"2s\"");
    assert!(
        config.contains("shutdown_grace = \"2s\""),
        "the example names the key"
    );
    let path = tmp.path().join("mailtips.toml");
    std::fs::write(&path, config).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_mailtips"))
        .args(["serve", "--config"])
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let channel = connect_channel(port).await;
    let mut client = pb::mail_tips_service_client::MailTipsServiceClient::new(channel.clone());
    let streams = open_watches(&mut client, 5).await;
    // Held open through the stop: the process must still exit when the grace period ends.
    let held = health_watch(channel, "").await;

    signal(child.id(), "-TERM");
    for s in streams {
        ends_unavailable(s).await;
    }
    // Bounded wait on the exit itself; how long it took is reported, not asserted.
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("still running 60 s after SIGTERM (grace 2 s)");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    eprintln!("exited {:?} after SIGTERM (grace 2 s)", started.elapsed());
    assert!(status.success(), "{status:?}");
    drop(held);
}
