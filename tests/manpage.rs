//! Keeps the manual pages and the example config file from drifting apart from the config
//! table.
//!
//! `man/respd.1`, `man/respd.conf.5` and `respd.conf` are written by hand (so they can explain
//! more than a one-line doc string), and `src/config.rs` `CONFIG_TABLE` is what the server
//! actually accepts. For every directive of the table, each must have an entry that states
//! the table's default and is marked `(runtime)` exactly when CONFIG SET may change it:
//! - respd.1: a `.BI --name` entry in OPTIONS;
//! - respd.conf.5: a `.BI name` entry in DIRECTIVES;
//! - respd.conf: a block of comment lines ending `#` then `# name <default>`.
//!
//! None of them may document a directive the table lacks, and respd.conf must parse, both as
//! it is and with every directive line uncommented (which must give the defaults).
//!
//! The directives accepted for compatibility only ([`ConfigSpec::no_effect`]: cluster,
//! replication, TLS...) are documented in one place instead, respd.conf.5's COMPATIBILITY
//! DIRECTIVES section, which is generated from the table: this test compares it, and
//! `RESPD_BLESS=1 cargo test --test manpage` writes it.

use respd::config::{ConfigSpec, Effect, CONFIG_TABLE};

/// The directives respd acts on, which each page documents one by one.
fn acting() -> impl Iterator<Item = &'static ConfigSpec> {
    CONFIG_TABLE.iter().filter(|spec| !spec.no_effect())
}

/// A page's text with the roff escapes these pages use turned back into plain characters.
fn plain_page(name: &str) -> String {
    let path = format!("{}/man/{name}", env!("CARGO_MANIFEST_DIR"));
    let roff = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    roff.replace("\\-", "-")
        .replace("\\fB", "")
        .replace("\\fI", "")
        .replace("\\fR", "")
        .replace("\\(dq", "\"")
}

/// The directive entries of a section: each paragraph tagged `.BI <prefix>name` with its body.
fn entries(page: &str, section: &str, prefix: &str) -> Vec<(String, String)> {
    let start = page
        .find(&format!("\n.SH {section}"))
        .unwrap_or_else(|| panic!("a {section} section"));
    let section = &page[start + 1..];
    let section = &section[..section[1..].find("\n.SH ").map_or(section.len(), |i| i + 1)];
    section
        .split("\n.TP\n")
        .skip(1)
        .filter_map(|entry| {
            let (tag, body) = entry.split_once('\n')?;
            let name = tag
                .strip_prefix(".BI ")?
                .strip_prefix(prefix)?
                .split_whitespace()
                .next()?;
            Some((name.to_string(), body.to_string()))
        })
        .collect()
}

/// respd.1's OPTIONS entries (`--name`).
fn option_entries(page: &str) -> Vec<(String, String)> {
    entries(page, "OPTIONS", "--")
}

#[test]
fn every_directive_is_in_the_man_page() {
    let page = plain_page("respd.1");
    let entries = option_entries(&page);
    for spec in acting() {
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
    for (name, _) in option_entries(&plain_page("respd.1")) {
        assert!(
            respd::config::lookup(&name).is_some(),
            "man/respd.1 documents `--{name}`, which src/config.rs CONFIG_TABLE does not have"
        );
    }
}

#[test]
fn every_directive_is_in_respd_conf_5() {
    let page = plain_page("respd.conf.5");
    let entries = entries(&page, "DIRECTIVES", "");
    for spec in acting() {
        let Some((_, body)) = entries.iter().find(|(name, _)| name == spec.name) else {
            panic!(
                "man/respd.conf.5 has no DIRECTIVES entry for `{}` (expected `.TP` then `.BI {} \" args\"`)",
                spec.name,
                spec.name.replace('-', "\\-")
            );
        };
        assert!(
            body.contains(&format!("Default: {}.", spec.default)),
            "man/respd.conf.5: the entry for `{}` should say `Default: {}.`",
            spec.name,
            spec.default
        );
        assert_eq!(
            body.contains("(runtime)"),
            spec.mutable,
            "man/respd.conf.5: `{}` should {}be marked (runtime)",
            spec.name,
            if spec.mutable { "" } else { "not " }
        );
    }
    for (name, _) in &entries {
        assert!(
            respd::config::lookup(name).is_some(),
            "man/respd.conf.5 documents `{name}`, which src/config.rs CONFIG_TABLE does not have"
        );
    }
}

/// The example config file.
fn example_conf() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/respd.conf");
    std::fs::read_to_string(path).expect("respd.conf is readable")
}

/// respd.conf's directive blocks: (the commented directive line without `# `, the comment
/// lines above it). A block is a run of lines between blank lines whose last two lines are
/// `#` and `# name value`.
fn conf_blocks(text: &str) -> Vec<(String, Vec<String>)> {
    text.split("\n\n")
        .filter_map(|block| {
            let lines: Vec<&str> = block.trim_end().lines().collect();
            let (last, rest) = lines.split_last()?;
            if rest.last() != Some(&"#") {
                return None;
            }
            let directive = last.strip_prefix("# ")?.to_string();
            Some((directive, rest.iter().map(|l| l.to_string()).collect()))
        })
        .collect()
}

#[test]
fn respd_conf_lists_every_directive_with_its_default() {
    let blocks = conf_blocks(&example_conf());
    for spec in acting() {
        let line = format!("{} {}", spec.name, spec.default);
        let Some((_, comments)) = blocks.iter().find(|(d, _)| *d == line) else {
            panic!("respd.conf has no block ending `#` / `# {line}`");
        };
        assert_eq!(
            comments.iter().any(|c| c == "# (runtime)"),
            spec.mutable,
            "respd.conf: `{}` should {}be marked `# (runtime)`",
            spec.name,
            if spec.mutable { "" } else { "not " }
        );
    }
    for (directive, _) in &blocks {
        let name = directive.split_whitespace().next().unwrap_or("");
        assert!(
            respd::config::lookup(name).is_some(),
            "respd.conf shows `{name}`, which src/config.rs CONFIG_TABLE does not have"
        );
    }
}

#[test]
fn respd_conf_parses_and_its_commented_lines_are_the_defaults() {
    let text = example_conf();
    let mut as_shipped = respd::Config::default();
    as_shipped
        .apply_text(&text, "respd.conf")
        .expect("respd.conf as shipped");
    let uncommented: String = conf_blocks(&text)
        .into_iter()
        .map(|(directive, _)| directive + "\n")
        .collect();
    let mut config = respd::Config::default();
    config
        .apply_text(&uncommented, "respd.conf, uncommented")
        .expect("every directive line of respd.conf parses");
    for spec in CONFIG_TABLE {
        // The example turns snapshots on (respd's own default is in-memory only); every other
        // directive is shipped at its default.
        if let Some((_, value)) = EXAMPLE_SETTINGS.iter().find(|(name, _)| *name == spec.name) {
            assert_eq!(
                spec.get_value(&as_shipped),
                *value,
                "respd.conf should set `{}`",
                spec.name
            );
            continue;
        }
        assert_eq!(
            spec.get_value(&config),
            spec.get_value(&as_shipped),
            "respd.conf: `{}` as written is not the default",
            spec.name
        );
    }
}

/// Directives the example respd.conf sets to something other than the default, on purpose.
const EXAMPLE_SETTINGS: &[(&str, &str)] = &[("save", "3600 1 300 100 60 10000")];

const COMPAT_BEGIN: &str = ".\\\" BEGIN generated from src/config.rs CONFIG_TABLE by tests/manpage.rs (RESPD_BLESS=1 cargo test --test manpage)\n";
const COMPAT_END: &str = ".\\\" END generated\n";

/// Roff text for a plain string: hyphens as `\-`, backslashes doubled.
fn roff(text: &str) -> String {
    text.replace('\\', "\\e").replace('-', "\\-")
}

/// The COMPATIBILITY DIRECTIVES entries, one `.TP` paragraph per directive accepted for
/// compatibility only, in table order.
fn compatibility_entries() -> String {
    let mut out = String::new();
    for spec in CONFIG_TABLE.iter().filter(|spec| spec.no_effect()) {
        out.push_str(&format!(".TP\n.B {}\n", roff(spec.name)));
        if !spec.aliases.is_empty() {
            out.push_str(&format!(
                "Also spelled {}.\n",
                roff(&spec.aliases.join(", "))
            ));
        }
        out.push_str(&format!("Default: {}.", roff(spec.default)));
        if spec.mutable {
            out.push_str(" (runtime)");
        }
        if spec.effect == Effect::IgnoredWarn {
            out.push_str(" Warned about at start when set to another value.");
        }
        out.push_str(&format!("\n{}\n", roff(spec.doc)));
    }
    out
}

#[test]
fn the_compatibility_section_is_generated_from_the_table() {
    let path = format!("{}/man/respd.conf.5", env!("CARGO_MANIFEST_DIR"));
    let page = std::fs::read_to_string(&path).unwrap();
    let start = page
        .find(COMPAT_BEGIN)
        .unwrap_or_else(|| panic!("{path} has no line {COMPAT_BEGIN:?}"))
        + COMPAT_BEGIN.len();
    let end = start
        + page[start..]
            .find(COMPAT_END)
            .unwrap_or_else(|| panic!("{path} has no line {COMPAT_END:?}"));
    let wanted = compatibility_entries();
    if std::env::var_os("RESPD_BLESS").is_some() {
        let updated = format!("{}{wanted}{}", &page[..start], &page[end..]);
        std::fs::write(&path, updated).unwrap();
        return;
    }
    assert!(
        page[start..end] == wanted,
        "{path}: the COMPATIBILITY DIRECTIVES entries differ from CONFIG_TABLE; run RESPD_BLESS=1 cargo test --test manpage"
    );
}
