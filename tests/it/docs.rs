//! Every TOML example in the documentation is valid: a directory file example (one with
//! `[[mailbox]]`, `[[group]]` or `[[contact]]`) must pass the directory file's validation as it
//! stands, and a config example, laid over the documented example config, must pass the
//! config's. An administrator copies these blocks; none may be refused.

use std::path::Path;

use mailtips::config::Config;
use mailtips::directory::file::Snapshot;

use crate::support::*;

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
