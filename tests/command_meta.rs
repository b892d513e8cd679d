//! COMMAND INFO and COMMAND DOCS against a live Redis 7.0: for every command and subcommand
//! respd implements (its COMMAND LIST), in RESP2 and in RESP3, respd's reply must equal
//! Redis's. The only differences allowed are the fuzzer's by-design ones, applied by the same
//! code ([`rules::command_meta_view`]): a container lists only the subcommands respd has, and
//! subcommands come in no defined order. Skips loudly without `redis-server`.

#![allow(dead_code)]

mod common;
#[path = "fuzz/gen.rs"]
mod gen;
#[path = "fuzz/rules.rs"]
mod rules;

use std::collections::BTreeSet;

use common::{show, skip_note, RawConn, RedisServer, TestServer};

/// respd's COMMAND LIST, lowercased.
fn command_list(c: &mut RawConn) -> BTreeSet<String> {
    match rules::parse(&c.words("COMMAND LIST")) {
        Some(rules::Val::Agg(_, Some(items))) => items
            .into_iter()
            .filter_map(|v| match v {
                rules::Val::Bulk(_, Some(b)) => Some(String::from_utf8_lossy(&b).to_lowercase()),
                _ => None,
            })
            .collect(),
        other => panic!("COMMAND LIST: {other:?}"),
    }
}

/// Asks both servers `COMMAND <sub> <name>` for every name respd has, under protocol `resp`.
fn compare_all(sub: &str, resp: u8) {
    let Some(redis) = RedisServer::start() else {
        skip_note(&format!("COMMAND {sub} against redis-server (RESP{resp})"));
        return;
    };
    let respd = TestServer::start();
    let (mut a, mut b) = (respd.conn(), redis.conn());
    let names = command_list(&mut a);
    assert!(
        names.len() > 100,
        "respd lists only {} commands",
        names.len()
    );
    if resp == 3 {
        a.words("HELLO 3");
        b.words("HELLO 3");
    }
    let mut differing = Vec::new();
    for name in &names {
        let line = format!("COMMAND {sub} {name}");
        let (ra, rb) = (a.words(&line), b.words(&line));
        if !rules::agree_command_meta(sub, &ra, &rb, &names) {
            differing.push(format!(
                "{line}\n  respd: {}\n  redis: {}",
                show(&ra),
                show(&rb)
            ));
        }
    }
    // Several names at once, an unknown one among them, and a subcommand by its full name.
    let line = format!("COMMAND {sub} get nosuchcommand client|list sort");
    let (ra, rb) = (a.words(&line), b.words(&line));
    if !rules::agree_command_meta(sub, &ra, &rb, &names) {
        differing.push(format!(
            "{line}\n  respd: {}\n  redis: {}",
            show(&ra),
            show(&rb)
        ));
    }
    assert!(
        differing.is_empty(),
        "{} of {} differ:\n{}",
        differing.len(),
        names.len(),
        differing.join("\n")
    );
}

#[test]
fn command_info_matches_redis_resp2() {
    compare_all("INFO", 2);
}

#[test]
fn command_info_matches_redis_resp3() {
    compare_all("INFO", 3);
}

#[test]
fn command_docs_matches_redis_resp2() {
    compare_all("DOCS", 2);
}

#[test]
fn command_docs_matches_redis_resp3() {
    compare_all("DOCS", 3);
}

/// The by-design rule removes only subcommands respd lacks: a subcommand respd has but
/// leaves out of its reply is still a difference.
#[test]
fn the_subcommand_rule_hides_only_unimplemented_subcommands() {
    let entry = |subs: &[&str]| {
        let mut out = format!(
            "*1\r\n*10\r\n$6\r\nclient\r\n:-2\r\n~0\r\n:0\r\n:0\r\n:0\r\n~0\r\n~0\r\n~0\r\n*{}\r\n",
            subs.len()
        );
        for s in subs {
            out.push_str(&format!("*1\r\n${}\r\n{s}\r\n", s.len()));
        }
        out.into_bytes()
    };
    let names: BTreeSet<String> = ["client", "client|list", "client|id"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let redis = entry(&["client|pause", "client|id", "client|list"]);
    assert!(rules::agree_command_meta(
        "INFO",
        &entry(&["client|list", "client|id"]),
        &redis,
        &names
    ));
    assert!(!rules::agree_command_meta(
        "INFO",
        &entry(&["client|list"]),
        &redis,
        &names
    ));
}
