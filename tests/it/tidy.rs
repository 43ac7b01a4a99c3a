//! Architecture checks over the source text, in the manner of rust-analyzer's tidy tests: the
//! layers of ARCHITECTURE.md import one way only, the domain stays pure, protobuf and LDAP stay
//! at their edges, `main.rs` stays thin, every file says what it is for, and nothing cites a
//! document outside the repository. A failure names the file, the line and the rule.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every `.rs` file under `dir`, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// A source file as the checks see it: its path under `src/` and its lines outside unit-test
/// modules (`#[cfg(test)] mod … { … }`, which may use anything).
struct Source {
    rel: String,
    lines: Vec<(usize, String)>,
    total_lines: usize,
    text: String,
}

fn sources() -> Vec<Source> {
    let src = root().join("src");
    rust_files(&src)
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).expect("read source");
            let rel = path
                .strip_prefix(&src)
                .expect("under src")
                .to_string_lossy()
                .replace('\\', "/");
            Source {
                rel,
                lines: code_lines(&text),
                total_lines: text.lines().count(),
                text,
            }
        })
        .collect()
}

/// The lines of `text` outside `#[cfg(test)]` items, numbered from 1, with `//` comments cut.
fn code_lines(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut skip_depth: Option<i64> = None;
    let mut pending_cfg_test = false;
    let mut depth: i64 = 0;
    for (i, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        let trimmed = code.trim();
        if skip_depth.is_none() && trimmed.starts_with("#[cfg(test)]") {
            pending_cfg_test = true;
            continue;
        }
        let opens = code.matches('{').count() as i64;
        let closes = code.matches('}').count() as i64;
        if pending_cfg_test {
            // The item after the attribute: skip it to its closing brace.
            pending_cfg_test = false;
            if opens > closes {
                skip_depth = Some(depth);
                depth += opens - closes;
                continue;
            }
            depth += opens - closes;
            continue;
        }
        depth += opens - closes;
        if let Some(d) = skip_depth {
            if depth <= d {
                skip_depth = None;
            }
            continue;
        }
        out.push((i + 1, code.to_owned()));
    }
    out
}

/// The top-level module a file belongs to: `domain/rules/mod.rs` → `domain`, `lib.rs` → `lib`.
fn module_of(rel: &str) -> &str {
    let first = rel.split('/').next().unwrap_or(rel);
    first.strip_suffix(".rs").unwrap_or(first)
}

/// The layers, innermost first. A module may use modules of a lower rank only; modules of the
/// same rank may not use each other.
fn rank(module: &str) -> Option<u8> {
    Some(match module {
        "domain" | "telemetry" => 0,
        "directory" => 1,
        "metrics" => 2,
        "service" | "config" => 3,
        "api" => 4,
        "tools" => 5,
        "lib" | "main" => 6,
        _ => return None,
    })
}

/// The crate modules a line names through `crate::…`.
fn crate_paths(line: &str) -> Vec<&str> {
    let mut found = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find("crate::") {
        let after = &rest[at + "crate::".len()..];
        let end = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(after.len());
        found.push(&after[..end]);
        rest = &after[end..];
    }
    found
}

/// Names `line` contains as whole words (`tokio` in `tokio::spawn`, not in `tokio_stream`).
fn names_word(line: &str, word: &str) -> bool {
    line.match_indices(word).any(|(at, _)| {
        let before = line[..at].chars().next_back();
        let after = line[at + word.len()..].chars().next();
        let boundary = |c: Option<char>| c.is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
        boundary(before) && boundary(after)
    })
}

fn fail(problems: &[String], rule: &str) {
    assert!(problems.is_empty(), "{rule}:\n  {}", problems.join("\n  "));
}

#[test]
fn every_source_file_belongs_to_a_layer() {
    let problems: Vec<String> = sources()
        .iter()
        .filter(|s| rank(module_of(&s.rel)).is_none())
        .map(|s| {
            format!(
                "src/{}: add its module to the layers in ARCHITECTURE.md and tidy.rs",
                s.rel
            )
        })
        .collect();
    fail(&problems, "every file under src/ is in a known layer");
}

#[test]
fn layers_import_inwards_only() {
    let mut problems = Vec::new();
    for s in sources() {
        let module = module_of(&s.rel);
        let Some(own) = rank(module) else { continue };
        for (n, line) in &s.lines {
            for used in crate_paths(line) {
                if used == module {
                    continue;
                }
                // Anything else after `crate::` is a re-export of lib.rs (`crate::pb`), which
                // the edge rule below covers.
                let Some(theirs) = rank(used) else { continue };
                if theirs >= own {
                    problems.push(format!(
                        "src/{}:{n}: {module} (layer {own}) uses crate::{used} (layer {theirs})",
                        s.rel
                    ));
                }
            }
        }
    }
    fail(
        &problems,
        "a layer uses only the layers inside it (domain ← directory ← metrics ← service, config ← api ← tools ← main)",
    );
}

#[test]
fn the_domain_is_pure() {
    const FORBIDDEN: [&str; 8] = [
        "tonic",
        "prost",
        "ldap3",
        "tokio",
        "toml",
        "http",
        "std::fs",
        "SystemTime::now",
    ];
    let mut problems = Vec::new();
    for s in sources().iter().filter(|s| module_of(&s.rel) == "domain") {
        // The domain's unit tests are held to the same rule: pure code, pure tests.
        for (n, line) in s.text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for word in FORBIDDEN {
                if names_word(code, word) {
                    problems.push(format!("src/{}:{}: names {word}", s.rel, n + 1));
                }
            }
            for used in crate_paths(code) {
                if used != "domain" {
                    problems.push(format!("src/{}:{}: uses crate::{used}", s.rel, n + 1));
                }
            }
        }
    }
    fail(
        &problems,
        "the domain does no I/O, reads no clock, and knows no protobuf, LDAP, TOML, HTTP or runtime",
    );
}

#[test]
fn protobuf_and_ldap_stay_at_their_edges() {
    let mut problems = Vec::new();
    for s in sources() {
        let in_api_or_tools = s.rel.starts_with("api/") || s.rel.starts_with("tools/");
        let in_ldap = s.rel.starts_with("directory/ldap/");
        for (n, line) in &s.lines {
            for word in ["tonic", "prost", "prost_types", "pb"] {
                if !in_api_or_tools && s.rel != "lib.rs" && names_word(line, word) {
                    problems.push(format!(
                        "src/{}:{n}: names {word} outside api/ and tools/",
                        s.rel
                    ));
                }
            }
            if !in_ldap && names_word(line, "ldap3") {
                problems.push(format!(
                    "src/{}:{n}: names ldap3 outside directory/ldap/",
                    s.rel
                ));
            }
        }
    }
    fail(
        &problems,
        "protobuf and tonic live in api/ (and the client tools), ldap3 in directory/ldap/",
    );
}

#[test]
fn main_is_thin_and_files_are_small_and_say_what_they_are_for() {
    let mut problems = Vec::new();
    for s in sources() {
        if !s.text.starts_with("//!") {
            problems.push(format!(
                "src/{}: does not open with //! lines saying what it is for",
                s.rel
            ));
        }
        if s.rel == "main.rs" && s.total_lines > 150 {
            problems.push(format!(
                "src/main.rs: {} lines (at most 150: clap only)",
                s.total_lines
            ));
        }
        if s.total_lines > 600 {
            problems.push(format!(
                "src/{}: {} lines (at most 600: split it by concern)",
                s.rel, s.total_lines
            ));
        }
    }
    fail(
        &problems,
        "main.rs is thin; every file is small and opens with its purpose",
    );
}

#[test]
fn nothing_cites_documents_outside_the_repository() {
    let root = root();
    let mut files: Vec<PathBuf> = Vec::new();
    for dir in [
        "src", "tests", "benches", "docs", "proto", "examples", "scripts", "ldap", "web/src",
    ] {
        let d = root.join(dir);
        let mut stack = vec![d];
        while let Some(d) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&d) else {
                continue;
            };
            for e in entries.flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    files.push(p);
                }
            }
        }
    }
    for f in [
        "README.md",
        "ARCHITECTURE.md",
        "BENCHMARKS.md",
        "build.rs",
        "Cargo.toml",
    ] {
        files.push(root.join(f));
    }
    let this_file = root.join("tests/it/tidy.rs");
    let mut problems = Vec::new();
    for path in files {
        if path == this_file {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        for (n, line) in text.lines().enumerate() {
            if names_word(line, "SPEC") || line.contains("../shared") || line.contains("SPEC.md") {
                problems.push(format!(
                    "{}:{}: {}",
                    path.strip_prefix(&root).unwrap_or(&path).display(),
                    n + 1,
                    line.trim()
                ));
            }
        }
    }
    fail(
        &problems,
        "docs and comments stand on their own: no citation of a specification outside the repository",
    );
}

#[test]
fn the_checks_see_what_they_check() {
    // The helpers above must find what they look for, or every rule passes vacuously.
    assert_eq!(
        crate_paths("use crate::domain::{Tip}; crate::api::pb"),
        ["domain", "api"]
    );
    assert!(names_word("tokio::spawn(x)", "tokio"));
    assert!(!names_word("tokio_stream::wrappers", "tokio"));
    let text = "//! x\nuse crate::a;\n#[cfg(test)]\nmod tests {\n    use crate::b;\n}\nfn f() {}\n";
    let kept: Vec<String> = code_lines(text).into_iter().map(|(_, l)| l).collect();
    assert_eq!(kept, ["", "use crate::a;", "fn f() {}"]);
    assert_eq!(module_of("domain/rules/mod.rs"), "domain");
    assert_eq!(module_of("main.rs"), "main");
    let all = sources();
    assert!(
        all.iter().any(|s| s.rel == "domain/mod.rs"),
        "src/ was read"
    );
    assert!(all.iter().any(|s| s.rel == "api/grpc.rs"), "src/ was read");
}
