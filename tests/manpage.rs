//! Keeps the manual page and the config table from drifting apart.
//!
//! `man/respd.1` is written by hand (so it can explain more than a one-line doc string), and
//! `src/config.rs` `CONFIG_TABLE` is what the server actually accepts. This test reads the
//! page's OPTIONS section and checks, for every directive of the table, that it has an entry
//! (`--name`), that the entry states the table's default, and that it is marked `(runtime)`
//! exactly when CONFIG SET may change it. It also checks that the page documents no directive
//! the table lacks.

use respd::config::CONFIG_TABLE;

/// The page's text with the roff escapes this page uses turned back into plain characters.
fn plain_page() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/man/respd.1");
    let roff = std::fs::read_to_string(path).expect("man/respd.1 is readable");
    roff.replace("\\-", "-")
        .replace("\\fB", "")
        .replace("\\fI", "")
        .replace("\\fR", "")
        .replace("\\(dq", "\"")
}

/// The directive entries of the OPTIONS section: each `--name` tagged paragraph with its body.
fn option_entries(page: &str) -> Vec<(String, String)> {
    let start = page.find("\n.SH OPTIONS").expect("an OPTIONS section");
    let section = &page[start + 1..];
    let section = &section[..section[1..].find("\n.SH ").map_or(section.len(), |i| i + 1)];
    section
        .split("\n.TP\n")
        .skip(1)
        .filter_map(|entry| {
            let (tag, body) = entry.split_once('\n')?;
            let name = tag.strip_prefix(".BI --")?.split_whitespace().next()?;
            Some((name.to_string(), body.to_string()))
        })
        .collect()
}

#[test]
fn every_directive_is_in_the_man_page() {
    let page = plain_page();
    let entries = option_entries(&page);
    for spec in CONFIG_TABLE {
        let Some((_, body)) = entries.iter().find(|(name, _)| name == spec.name) else {
            panic!(
                "man/respd.1 has no OPTIONS entry for `{}` (expected a line `.BI \\-\\-{} ...`)",
                spec.name,
                spec.name.replace('-', "\\-")
            );
        };
        assert!(
            body.contains(&format!("Default: {}.", spec.default)),
            "man/respd.1: the entry for `{}` should say `Default: {}.`",
            spec.name,
            spec.default
        );
        assert_eq!(
            body.contains("(runtime)"),
            spec.mutable,
            "man/respd.1: `{}` should {}be marked (runtime)",
            spec.name,
            if spec.mutable { "" } else { "not " }
        );
    }
}

#[test]
fn the_man_page_documents_no_unknown_directive() {
    for (name, _) in option_entries(&plain_page()) {
        assert!(
            respd::config::lookup(&name).is_some(),
            "man/respd.1 documents `--{name}`, which src/config.rs CONFIG_TABLE does not have"
        );
    }
}
