//! Rules over respd's source itself: the module layering, and error texts written once.
//!
//! # Layering
//!
//! Every `crate::` path in `src/` must point to the same layer or a lower one.
//!
//! respd is meant to be read from the bottom up: bytes and sockets, then the protocol, then
//! the keyspace, then the state the server shares between connections, then the commands,
//! then what sits on top of commands (persistence, replication), then the connection loop,
//! then the server that starts it all. A module that reaches up breaks that reading order and
//! ties the layers into one knot, where no part can be understood, tested or changed alone.
//!
//! [`LAYERS`] is the intended order. The check reads every `.rs` file under `src/`, finds each
//! `crate::<module>` it names (in `use` lines and in paths written inline, comments excluded),
//! and compares the two layers. Where the code does not yet follow the order, the edge is
//! listed in `tests/layering/upward.txt`, one `file -> module` line each. The list is a
//! ratchet: the test fails on an upward edge that is not listed (a new knot) and on a listed
//! edge that no longer exists (a knot undone: delete its line so it cannot come back).
//!
//! # Error texts
//!
//! Every error a client can get is Redis's exact text, so each text is written once, where
//! every command that gives it refers to it (`src/cmd/error.rs` for the texts several command
//! groups share). [`each_error_text_is_written_once`] finds string literals that start with
//! an error code and fails on any written twice outside tests.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Layers, lowest first. A module may use modules of its own layer and of the layers below.
const LAYERS: &[(&str, &[&str])] = &[
    ("foundations", &["util", "sys", "glob", "sha256", "log"]),
    ("protocol", &["protocol"]),
    // Keyspace notifications are events the keyspace raises; notify.rs imports nothing.
    ("keyspace", &["store", "notify"]),
    (
        "shared state",
        &[
            "config",
            "config_rewrite",
            "acl",
            "client",
            "pubsub",
            "blocking",
            "monitor",
            "slowlog",
            "latency",
            "pause",
            "tracking",
            "shared",
        ],
    ),
    ("commands", &["cmd", "evict", "harness", "script"]),
    ("on top of commands", &["persistence", "replication"]),
    ("connection loop", &["connection"]),
    ("server", &["server", "systemd"]),
];

/// Names the crate root re-exports or defines (`lib.rs`), and the module they come from.
const ROOT_ITEMS: &[(&str, &str)] = &[
    ("Config", "config"),
    ("start", "server"),
    ("ServerHandle", "server"),
    // The log macros are `#[macro_export]`ed, so they live at the crate root.
    ("notice", "log"),
    ("warning", "log"),
    ("verbose", "log"),
    ("debug", "log"),
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS
        .iter()
        .position(|(_, modules)| modules.contains(&module))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The source without `//` comments (doc comments included: intra-doc links to higher
/// layers are how the lower layers point the reader onward, and are no dependency).
fn without_comments(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    for line in source.lines() {
        let mut in_string = false;
        let mut cut = line.len();
        let bytes = line.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'\\' if in_string => i += 1,
                b'"' => in_string = !in_string,
                b'/' if !in_string && bytes.get(i + 1) == Some(&b'/') => {
                    cut = i;
                    break;
                }
                _ => {}
            }
            i += 1;
        }
        out.push_str(&line[..cut]);
        out.push('\n');
    }
    out
}

fn identifier_at(text: &str) -> &str {
    let end = text
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(text.len());
    &text[..end]
}

/// The first path segment after each `crate::` (each element of a `crate::{a, b::c}` group).
fn crate_paths(source: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = source;
    while let Some(at) = rest.find("crate::") {
        // `$crate::` in macros is the same crate.
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0;
            let mut element_start = true;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => element_start = true,
                    c if element_start && (c.is_ascii_alphanumeric() || c == '_') => {
                        names.push(identifier_at(&group[i..]).to_string());
                        element_start = false;
                    }
                    _ => {}
                }
            }
        } else {
            names.push(identifier_at(rest).to_string());
        }
    }
    names
}

/// `src/cmd/list.rs` → (`cmd/list.rs`, `cmd`).
fn file_and_module(src: &Path, path: &Path) -> (String, String) {
    let relative = path
        .strip_prefix(src)
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let top = relative
        .split('/')
        .next()
        .unwrap()
        .trim_end_matches(".rs")
        .to_string();
    (relative, top)
}

/// Every upward edge in the tree, as `file -> module` lines.
fn upward_edges(src: &Path) -> BTreeSet<String> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let root_items: BTreeMap<&str, &str> = ROOT_ITEMS.iter().copied().collect();
    let mut edges = BTreeSet::new();
    for path in files {
        let (file, module) = file_and_module(src, &path);
        if module == "lib" || module == "main" {
            continue; // the root sees everything by definition
        }
        let from = layer_of(&module)
            .unwrap_or_else(|| panic!("src/{file}: module `{module}` is in no layer of LAYERS"));
        let source = without_comments(&std::fs::read_to_string(&path).unwrap());
        for name in crate_paths(&source) {
            let target = root_items.get(name.as_str()).copied().unwrap_or(&name);
            if target == module {
                continue;
            }
            let to = layer_of(target).unwrap_or_else(|| {
                panic!("src/{file}: `crate::{name}` names a module in no layer of LAYERS")
            });
            if to > from {
                edges.insert(format!("{file} -> {target}"));
            }
        }
    }
    edges
}

#[test]
fn modules_import_only_their_own_layer_and_those_below() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let found = upward_edges(&root.join("src"));
    let list_path = root.join("tests/layering/upward.txt");
    let listed: BTreeSet<String> = std::fs::read_to_string(&list_path)
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect();
    if std::env::var_os("RESPD_BLESS").is_some() {
        let mut text = String::from(
            "# Upward imports that remain (see tests/source_rules.rs): `file -> module`, one a line.\n\
             # This list may only shrink. Regenerate with RESPD_BLESS=1 cargo test --test source_rules.\n",
        );
        for edge in &found {
            text.push_str(edge);
            text.push('\n');
        }
        std::fs::write(&list_path, text).unwrap();
        return;
    }
    let new: Vec<&String> = found.difference(&listed).collect();
    let gone: Vec<&String> = listed.difference(&found).collect();
    assert!(
        new.is_empty(),
        "new upward imports (a lower layer reaching up; see LAYERS in tests/source_rules.rs):\n  {}",
        new.iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n  ")
    );
    assert!(
        gone.is_empty(),
        "upward imports listed in tests/layering/upward.txt that no longer exist; delete these \
         lines so they cannot come back:\n  {}",
        gone.iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n  ")
    );
}

#[test]
fn the_check_sees_use_groups_inline_paths_and_skips_comments() {
    let source = without_comments(
        "use crate::{store::Db, protocol::{Argv, Reply}};\n\
         // crate::server is mentioned in a comment only\n\
         let s = \"// not a comment\"; let x = crate::cmd::dispatch(); $crate::log::log();\n",
    );
    assert_eq!(
        crate_paths(&source),
        vec!["store", "protocol", "cmd", "log"],
        "{source}"
    );
}

/// The error codes Redis's replies start with, as respd writes them.
const ERROR_CODES: &[&str] = &[
    "ERR",
    "WRONGTYPE",
    "NOAUTH",
    "NOPERM",
    "NOPROTO",
    "WRONGPASS",
    "BUSYKEY",
    "EXECABORT",
    "OOM",
    "MISCONF",
    "NOSCRIPT",
    "READONLY",
    "LOADING",
    "IOERR",
    "INVALIDOBJ",
    "NOREPLICAS",
    "UNBLOCKED",
    "BUSY",
    "NOGROUP",
];

/// The string literals of `source` (`"..."` and `b"..."`, escapes kept as written).
fn string_literals(source: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let bytes = source.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\''
            && i + 2 < bytes.len()
            && (bytes[i + 2] == b'\'' || bytes[i + 1] == b'\\')
        {
            // a char literal such as '"' or '\\': skip it whole
            i = source[i + 1..]
                .find('\'')
                .map_or(bytes.len(), |e| i + 2 + e);
            continue;
        }
        if bytes[i] == b'"' {
            let start = i + 1;
            let mut j = start;
            while j < bytes.len() && bytes[j] != b'"' {
                if bytes[j] == b'\\' {
                    j += 1;
                }
                j += 1;
            }
            out.push(&source[start..j.min(bytes.len())]);
            i = j + 1;
        } else {
            i += 1;
        }
    }
    out
}

/// An error text in `literal`, if it is one: an error code, a space, and words. Fragments
/// (`"ERR "`, `"-ERR {}"`) and the protocol framing around a text are not texts of their own,
/// and a literal continued over lines (`\` at a line's end) is read as the one line it is.
fn error_text(literal: &str) -> Option<String> {
    let mut text = String::new();
    let mut lines = literal.split("\\\n");
    text.push_str(lines.next().unwrap_or(""));
    for line in lines {
        text.push_str(line.trim_start());
    }
    let text = text.trim_start_matches('-').trim_end_matches("\\r\\n");
    let (code, rest) = text.split_once(' ')?;
    let words = rest.trim();
    if !ERROR_CODES.contains(&code) || words.is_empty() || words.starts_with('{') {
        return None;
    }
    Some(text.to_string())
}

#[test]
fn each_error_text_is_written_once() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut seen: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for path in files {
        let (file, _) = file_and_module(&src, &path);
        let source = std::fs::read_to_string(&path).unwrap();
        // Tests state the texts they expect; that is not a second definition.
        let code = source.split("#[cfg(test)]").next().unwrap();
        for literal in string_literals(&without_comments(code)) {
            if let Some(text) = error_text(literal) {
                seen.entry(text).or_default().push(file.clone());
            }
        }
    }
    let twice: Vec<String> = seen
        .iter()
        .filter(|(_, files)| files.len() > 1)
        .map(|(text, files)| format!("{text:?} in {files:?}"))
        .collect();
    assert!(
        twice.is_empty(),
        "error texts written more than once (make one constant, in src/cmd/error.rs if several \
         command groups use it):\n  {}",
        twice.join("\n  ")
    );
}

#[test]
fn error_texts_are_found_in_literals_and_frames() {
    let source = "let a = \"ERR syntax error\"; let b = b\"-ERR syntax error\\r\\n\"; \
                  let c = '\"'; let d = \"ERR \"; let e = \"-ERR {}\"; \
                  let f = \"ERR one \\\n    two\";";
    let texts: Vec<String> = string_literals(source)
        .into_iter()
        .filter_map(error_text)
        .collect();
    assert_eq!(
        texts,
        ["ERR syntax error", "ERR syntax error", "ERR one two"]
    );
}
