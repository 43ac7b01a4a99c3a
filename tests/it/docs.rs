//! Every example in the docs is checked. Each TOML block of `docs/*.md` and the README is
//! valid: a directory file example (one with `[[mailbox]]`, `[[group]]` or `[[contact]]`) must
//! pass the directory file's validation as it stands, and a config example, laid over the
//! documented example config, must pass the config's; an administrator copies these blocks and
//! none may be refused. Each `mailtips tips` command shown with its output is run against the
//! demo organisation with the real binary and must print exactly that output.

use std::path::{Path, PathBuf};
use std::process::Command;

use mailtips::config::Config;
use mailtips::directory::file::Snapshot;

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

/// The ```toml blocks of a Markdown text, with the line each starts on.
fn toml_blocks(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (n, line) in text.lines().enumerate() {
        match &mut current {
            None if line.trim_start().starts_with("```toml") => {
                current = Some((n + 1, String::new()))
            }
            Some(_) if line.trim_start().starts_with("```") => out.extend(current.take()),
            Some((_, block)) => {
                block.push_str(line);
                block.push('\n');
            }
            None => {}
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

/// `over` laid onto `base`, tables merged key by key.
fn merge(base: &mut toml::Table, over: toml::Table) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

fn check_config_example(block: &str, at: &str) -> Result<(), String> {
    let example: toml::Table = toml::from_str(block).map_err(|e| e.to_string())?;
    let mut config: toml::Table = toml::from_str(DEMO_CONFIG).expect("the example config");
    // An example of some [directory.ldap] keys stands in a section that has the required ones.
    let touches_ldap = example
        .get("directory")
        .and_then(|d| d.get("ldap"))
        .is_some();
    if touches_ldap {
        merge(
            &mut config,
            toml::from_str(
                "[directory.ldap]\nurl = \"ldap://127.0.0.1\"\nbase_dn = \"dc=contoso,dc=com\"\n",
            )
            .unwrap(),
        );
    }
    merge(&mut config, example);
    let text = toml::to_string(&config).expect("serialise");
    Config::from_toml(&text, Path::new(at))
        .map(drop)
        .map_err(|e| e.to_string())
}

#[test]
fn every_toml_example_in_the_docs_is_valid() {
    let root = repo("");
    let mut pages: Vec<_> = std::fs::read_dir(root.join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    pages.push(root.join("README.md"));
    pages.sort();
    let (mut checked, mut problems) = (0, Vec::new());
    for page in pages {
        let text = std::fs::read_to_string(&page).unwrap();
        let name = page.strip_prefix(&root).unwrap().display().to_string();
        for (line, block) in toml_blocks(&text) {
            let at = format!("{name}:{line}");
            let is_directory = ["[[mailbox]]", "[[group]]", "[[contact]]"]
                .iter()
                .any(|k| block.contains(k));
            let result = if is_directory {
                Snapshot::parse(&block, &at, Default::default())
                    .map(drop)
                    .map_err(|e| e.to_string())
            } else {
                check_config_example(&block, &at)
            };
            if let Err(e) = result {
                problems.push(if e.contains(&at) {
                    e
                } else {
                    format!("{at}: {e}")
                });
            }
            checked += 1;
        }
    }
    assert!(
        problems.is_empty(),
        "invalid examples:\n{}",
        problems.join("\n")
    );
    assert!(checked >= 5, "only {checked} examples found");
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
