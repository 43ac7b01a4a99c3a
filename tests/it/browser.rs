//! End-to-end test of the compose page in real headless Chromium: starts the real server
//! in-process on `127.0.0.1:0` with the embedded demo configuration and directory, then runs
//! `web/tests/e2e.mjs` (playwright-core driving Debian's `/usr/bin/chromium`) against it.
//!
//! Needs `chromium`, `node` and `web/node_modules` (`npm ci` in `web/`); `scripts/test.sh`
//! installs them. Without them this test fails and says how to install them: it never passes
//! without a browser. Screenshots land in `test-artifacts/` (or `$MAILTIPS_ARTIFACTS`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::*;

/// The whole browser run, far above its usual 15 s.
const BROWSER_TIMEOUT: Duration = Duration::from_secs(240);

/// Everything the browser run needs, or a message saying how to install what is missing.
fn prerequisites(chromium: &Path) -> Result<(), String> {
    let mut missing = Vec::new();
    if !chromium.exists() {
        missing.push(format!(
            "Chromium is not at {} (install it: `apt-get update && apt-get install -y chromium`, \
             or set MAILTIPS_CHROMIUM)",
            chromium.display()
        ));
    }
    if Command::new("node").arg("--version").output().is_err() {
        missing.push("node is not on PATH (install Node.js 20 or newer)".to_owned());
    }
    if !repo("web/node_modules/playwright-core").exists() {
        missing.push("web/node_modules is missing (run `npm ci` in web/)".to_owned());
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "the browser test cannot run: {}. `scripts/test.sh` installs all of these.",
            missing.join("; ")
        ))
    }
}

#[test]
fn compose_page_in_real_chromium() {
    let chromium = std::env::var_os("MAILTIPS_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    if let Err(message) = prerequisites(&chromium) {
        panic!("{message}");
    }
    let artifacts = std::env::var_os("MAILTIPS_ARTIFACTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo("test-artifacts"));

    // The real server, as `mailtips serve` runs it with no flags, on a free port.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let config = demo_config();
    assert!(config.server.web_page, "the demo config serves the page");
    let server = runtime.block_on(TestServer::embedded_demo(config));

    let mut child = Command::new("node")
        .arg(repo("web/tests/e2e.mjs"))
        .current_dir(repo("web"))
        .env("MAILTIPS_URL", format!("{}/", server.url()))
        .env("MAILTIPS_ARTIFACTS", &artifacts)
        .env("MAILTIPS_CHROMIUM", &chromium)
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start node");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for node") {
            break Some(status);
        }
        if started.elapsed() > BROWSER_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };

    // Graceful shutdown waits for open connections; a browser left behind by a killed run
    // could hold a WatchMailTips stream open, so give it a bound rather than hang.
    let stopped = runtime
        .block_on(async { tokio::time::timeout(Duration::from_secs(10), server.stop()).await });
    runtime.shutdown_background();
    if let Ok(result) = stopped {
        result.expect("server ran cleanly");
    }
    match status {
        None => panic!("the browser run took more than {BROWSER_TIMEOUT:?} and was stopped"),
        Some(s) => assert!(
            s.success(),
            "the browser test failed ({s}); its steps are printed above, screenshots of the \
             failure are in {}",
            artifacts.display()
        ),
    }
    for shot in [
        "compose-desktop-en.png",
        "compose-desktop-ja.png",
        "compose-phone-ja.png",
        "compose-phone-collapsed-en.png",
        "compose-new-tips-en.png",
        "compose-new-tips-ja.png",
    ] {
        assert!(
            artifacts.join(shot).exists(),
            "screenshot {shot} was not saved"
        );
    }
}
