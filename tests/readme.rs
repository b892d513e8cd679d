//! The README's list of supported commands must be exactly the command table's.

use std::collections::BTreeSet;

#[test]
fn readme_lists_exactly_the_commands_in_the_table() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let start = readme
        .find("<!-- commands -->")
        .expect("README has a commands section");
    let end = readme
        .find("<!-- /commands -->")
        .expect("README closes the commands section");
    let listed: BTreeSet<String> = readme[start..end]
        .split('`')
        .skip(1)
        .step_by(2)
        .flat_map(|chunk| {
            chunk
                .split(' ')
                .map(|s| s.to_ascii_lowercase())
                .collect::<Vec<_>>()
        })
        .filter(|s| !s.is_empty())
        .collect();
    let mut table = BTreeSet::new();
    for spec in respd::cmd::all_commands() {
        if spec.subcommands.is_empty() {
            table.insert(spec.name.to_string());
        } else {
            for sub in spec.subcommands {
                table.insert(format!("{}|{}", spec.name, sub.name));
            }
        }
    }
    let missing: Vec<_> = table.difference(&listed).collect();
    let extra: Vec<_> = listed.difference(&table).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "README is missing {missing:?} and lists unknown {extra:?}"
    );
}

/// Prints the section to paste into the README (run with `--ignored --nocapture`).
#[test]
#[ignore]
fn print_commands_section() {
    let mut by_group: std::collections::BTreeMap<&str, Vec<String>> = Default::default();
    for spec in respd::cmd::all_commands() {
        let names = if spec.subcommands.is_empty() {
            vec![spec.name.to_ascii_uppercase()]
        } else {
            spec.subcommands
                .iter()
                .map(|s| format!("{}|{}", spec.name, s.name).to_ascii_uppercase())
                .collect()
        };
        by_group.entry(spec.group.name()).or_default().extend(names);
    }
    for (group, mut names) in by_group {
        names.sort();
        let list: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
        println!("- **{group}**: {}", list.join(" "));
    }
}

/// tests/README.md describes every test file, so a newcomer finds what each one checks.
#[test]
fn tests_readme_lists_every_test_file() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let readme = std::fs::read_to_string(dir.join("README.md")).unwrap();
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name.ends_with(".rs") && !readme.contains(&format!("`{name}`")) {
            missing.push(name);
        }
    }
    missing.sort();
    assert!(
        missing.is_empty(),
        "tests/README.md has no row for {missing:?}"
    );
}
