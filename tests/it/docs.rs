//! Every example in the docs is checked: each TOML block of `docs/*.md` and the README parses
//! (a directory file, or a config, completed with an accepted domain when it has no `[org]`),
//! and each `mailtips tips` command shown with its output is run against the demo
//! organisation with the real binary and must print exactly that output.

use std::path::PathBuf;
use std::process::Command;

use mailtips::config::Config;
use mailtips::directory::FileDirectory;

use crate::support::*;

/// The fenced code blocks of a Markdown text: (language, content).
fn blocks(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut current: Option<(String, String)> = None;
    for line in text.lines() {
        let fence = line.trim_start().strip_prefix("```");
        match (&mut current, fence) {
            (None, Some(lang)) => current = Some((lang.trim().to_owned(), String::new())),
            (Some(_), Some(_)) => out.extend(current.take()),
            (Some((_, body)), None) => {
                body.push_str(line);
                body.push('\n');
            }
            (None, None) => {}
        }
    }
    out
}

fn documents() -> Vec<(PathBuf, String)> {
    let mut paths = vec![repo("README.md")];
    for e in std::fs::read_dir(repo("docs")).expect("docs/") {
        let p = e.expect("entry").path();
        if p.extension().is_some_and(|x| x == "md") {
            paths.push(p);
        }
    }
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).expect("read doc");
            (p, text)
        })
        .collect()
}

#[test]
fn every_toml_example_parses() {
    let mut checked = 0;
    for (path, text) in documents() {
        for (lang, body) in blocks(&text) {
            if lang != "toml" {
                continue;
            }
            checked += 1;
            let directory = ["[[mailbox]]", "[[group]]", "[[contact]]"]
                .iter()
                .any(|h| body.contains(h));
            if directory {
                let tmp = tempfile::tempdir().unwrap();
                let file = tmp.path().join("directory.toml");
                std::fs::write(&file, &body).unwrap();
                if let Err(e) = FileDirectory::load(&file, Default::default()) {
                    panic!(
                        "{}: a directory example does not load: {e}\n{body}",
                        path.display()
                    );
                }
            } else {
                let text = if body.contains("[org]") {
                    body.clone()
                } else {
                    format!("[org]\ninternal_domains = [{{ domain = \"contoso.com\" }}]\n{body}")
                };
                if let Err(e) = Config::from_toml(&text, &path) {
                    panic!(
                        "{}: a config example does not parse: {e}\n{body}",
                        path.display()
                    );
                }
            }
        }
    }
    assert!(checked >= 6, "only {checked} TOML examples found");
}

/// The arguments of a `mailtips tips` command in a shell block, continuation lines joined.
/// Commands that name their own `--server` address a deployment (TLS, tokens), not the demo:
/// their flags are checked by `auth_defaults::the_security_docs_examples_hold` instead.
fn tips_command(sh: &str) -> Option<Vec<String>> {
    let joined = sh.replace("\\\n", " ");
    joined.lines().find_map(|line| {
        let line = line.trim();
        let rest = line
            .strip_prefix("mailtips tips ")
            .or_else(|| line.strip_prefix("cargo run --release -- tips "))?;
        let args: Vec<String> = rest.split_whitespace().map(str::to_owned).collect();
        (!args.iter().any(|a| a == "--server")).then_some(args)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_tips_example_prints_what_the_docs_show() {
    let server = TestServer::embedded_demo(demo_config()).await;
    server.wait_for_metrics("all-staff@contoso.com").await;
    let url = server.url();
    let mut checked = 0;
    for (path, text) in documents() {
        let bs = blocks(&text);
        for (i, (lang, body)) in bs.iter().enumerate() {
            let Some(args) = (lang == "sh").then(|| tips_command(body)).flatten() else {
                continue;
            };
            let (_, shown) = bs.get(i + 1).expect("an output block after the command");
            let url = url.clone();
            let output = tokio::task::spawn_blocking(move || {
                Command::new(env!("CARGO_BIN_EXE_mailtips"))
                    .arg("tips")
                    .args(&args)
                    .args(["--server", &url])
                    .output()
                    .expect("run mailtips tips")
            })
            .await
            .unwrap();
            assert!(output.status.success(), "{}: {output:?}", path.display());
            let printed = String::from_utf8(output.stdout).unwrap();
            assert_eq!(
                printed,
                *shown,
                "{}: the example's output differs from what `mailtips tips` prints",
                path.display()
            );
            checked += 1;
        }
    }
    assert!(
        checked >= 3,
        "only {checked} `mailtips tips` examples found"
    );
}
