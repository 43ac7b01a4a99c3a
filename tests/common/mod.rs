//! Test fixture: the real server on 127.0.0.1:0 with a directory file in a temporary folder,
//! and a tonic client connected to it over the socket.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use mailtips::config::Config;
use mailtips::directory::FileDirectory;
use mailtips::pb;
use mailtips::pb::mail_tips_service_client::MailTipsServiceClient;
use tonic::transport::Channel;

pub const DEMO_CONFIG: &str = include_str!("../../examples/mailtips.toml");
pub const DEMO_DIRECTORY: &str = include_str!("../../examples/demo-directory.toml");
pub const TARO: &str = "taro.yamada@contoso.com";

/// A running server; stops when dropped.
pub struct TestServer {
    pub addr: SocketAddr,
    pub directory: Arc<FileDirectory>,
    pub dir_path: PathBuf,
    _tmp: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl TestServer {
    /// The demo organisation with the demo config.
    pub async fn demo() -> Self {
        Self::start(DEMO_CONFIG, DEMO_DIRECTORY).await
    }

    /// A server with `config` (TOML) over a directory file holding `directory`.
    pub async fn start(config: &str, directory: &str) -> Self {
        let tmp = tempfile::tempdir().expect("temp dir");
        let dir_path = tmp.path().join("directory.toml");
        std::fs::write(&dir_path, directory).expect("write directory");
        let config = Config::from_toml(config, Path::new("test.toml")).expect("valid config");
        let directory = Arc::new(
            FileDirectory::load(&dir_path, config.address_rules()).expect("valid directory"),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(mailtips::api::server::serve_backend(
            config,
            mailtips::api::server::Backend::File(directory.clone()),
            listener,
            async move {
                let _ = stopped.await;
            },
        ));
        Self {
            addr,
            directory,
            dir_path,
            _tmp: tmp,
            stop: Some(stop),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub async fn channel(&self) -> Channel {
        Channel::from_shared(self.url())
            .expect("url")
            .connect()
            .await
            .expect("connect")
    }

    pub async fn client(&self) -> MailTipsServiceClient<Channel> {
        MailTipsServiceClient::new(self.channel().await)
    }

    /// Waits (bounded) until the background group metrics have been computed, by asking for a
    /// group's tips until LARGE_AUDIENCE is no longer pending.
    pub async fn wait_for_metrics(&self, group: &str) {
        let mut client = self.client().await;
        for _ in 0..200 {
            let r = client
                .get_mail_tips(request(TARO, &[(group, To)]))
                .await
                .expect("call")
                .into_inner();
            if !r.recipients[0]
                .pending
                .contains(&(pb::TipKind::LargeAudience as i32))
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("group metrics were not computed within 2 s");
    }
}

#[allow(unused_imports)]
pub use pb::RecipientField::{Bcc, Cc, To};

pub fn request(sender: &str, recipients: &[(&str, pb::RecipientField)]) -> pb::GetMailTipsRequest {
    pb::GetMailTipsRequest {
        sender: sender.to_owned(),
        recipients: recipients
            .iter()
            .map(|(a, f)| pb::Recipient {
                address: (*a).to_owned(),
                field: *f as i32,
            })
            .collect(),
        ..Default::default()
    }
}

/// The tip kinds of a recipient, in order.
pub fn kinds(r: &pb::RecipientTips) -> Vec<pb::TipKind> {
    r.tips
        .iter()
        .map(|t| pb::TipKind::try_from(t.kind).expect("known kind"))
        .collect()
}

pub fn tip(r: &pb::RecipientTips, kind: pb::TipKind) -> &pb::MailTip {
    r.tips
        .iter()
        .find(|t| t.kind == kind as i32)
        .unwrap_or_else(|| panic!("{:?} has no {kind:?}: {:?}", r.address, kinds(r)))
}
