//! MEMORY USAGE and MEMORY STATS: the replies whose values depend on the server's own data
//! structures, so that the case files (tests/cases/server/memory.case) cannot pin their bytes.
//! What is checked here is what holds for respd and Redis alike: a key's usage is positive and
//! grows with its value, for every type, and MEMORY STATS has Redis's fields in Redis's order.

mod common;

use std::net::SocketAddr;

use common::{client_for, skip_note, RedisServer, TestServer};

fn usage(con: &mut redis::Connection, key: &str, samples: Option<i64>) -> Option<i64> {
    let mut cmd = redis::cmd("MEMORY");
    cmd.arg("USAGE").arg(key);
    if let Some(n) = samples {
        cmd.arg("SAMPLES").arg(n);
    }
    cmd.query(con).unwrap()
}

/// Fills `key` with `n` elements of the given type, each about `width` bytes.
fn fill(con: &mut redis::Connection, kind: &str, key: &str, n: usize, width: usize) {
    let _: () = redis::cmd("DEL").arg(key).query(con).unwrap();
    let pad = "x".repeat(width);
    let mut pipe = redis::pipe();
    for i in 0..n {
        let member = format!("{i}:{pad}");
        match kind {
            "string" => {
                pipe.cmd("SET").arg(key).arg(&member).ignore();
            }
            "list" => {
                pipe.cmd("RPUSH").arg(key).arg(&member).ignore();
            }
            "hash" => {
                pipe.cmd("HSET").arg(key).arg(&member).arg(&member).ignore();
            }
            "set" => {
                pipe.cmd("SADD").arg(key).arg(&member).ignore();
            }
            "zset" => {
                pipe.cmd("ZADD").arg(key).arg(i).arg(&member).ignore();
            }
            other => panic!("unknown type {other}"),
        }
    }
    let _: () = pipe.query(con).unwrap();
}

/// For every type: usage is positive, grows with the element size and with the element count,
/// and SAMPLES 0 (every element) agrees with the sampled estimate on uniform elements within
/// a small tolerance.
fn usage_grows_with_the_value(addr: SocketAddr, server: &str) {
    let mut con = client_for(addr);
    assert_eq!(usage(&mut con, "missing", None), None, "{server}");
    for kind in ["string", "list", "hash", "set", "zset"] {
        // Strings have one "element": the value itself.
        let count = |n: usize| if kind == "string" { 1 } else { n };
        fill(&mut con, kind, "k", count(10), 10);
        let small = usage(&mut con, "k", None).unwrap();
        assert!(small > 0, "{server} {kind}: {small}");
        fill(&mut con, kind, "k", count(10), 1000);
        let wide = usage(&mut con, "k", None).unwrap();
        assert!(
            wide > small,
            "{server} {kind}: wide {wide} <= small {small}"
        );
        if kind != "string" {
            fill(&mut con, kind, "k", 500, 10);
            let many = usage(&mut con, "k", None).unwrap();
            assert!(
                many > small * 10,
                "{server} {kind}: 500 elements {many}, 10: {small}"
            );
            let all = usage(&mut con, "k", Some(0)).unwrap();
            let diff = (all - many).abs();
            assert!(
                diff * 5 < all,
                "{server} {kind}: sampled {many} and exact {all} too far apart"
            );
        }
    }
}

#[test]
fn memory_usage_grows_with_the_value_for_every_type() {
    let respd = TestServer::start();
    usage_grows_with_the_value(respd.addr(), "respd");
    match RedisServer::start() {
        Some(redis) => usage_grows_with_the_value(redis.addr(), "redis"),
        None => skip_note("memory_usage_grows_with_the_value_for_every_type (redis half)"),
    }
}

/// The names MEMORY STATS replies, in order (nested `db.N` maps flattened to their name).
fn stats_names(addr: SocketAddr) -> Vec<String> {
    let mut con = client_for(addr);
    let _: () = redis::cmd("SET").arg("a").arg("1").query(&mut con).unwrap();
    let _: () = redis::cmd("SET")
        .arg("b")
        .arg("2")
        .arg("EX")
        .arg(100)
        .query(&mut con)
        .unwrap();
    let reply: redis::Value = redis::cmd("MEMORY").arg("STATS").query(&mut con).unwrap();
    let items = match reply {
        redis::Value::Array(items) => items,
        other => panic!("MEMORY STATS: {other:?}"),
    };
    let mut names = Vec::new();
    for pair in items.chunks(2) {
        let name = match &pair[0] {
            redis::Value::BulkString(b) => String::from_utf8(b.clone()).unwrap(),
            other => panic!("field name {other:?}"),
        };
        if let redis::Value::Array(inner) = &pair[1] {
            for sub in inner.chunks(2) {
                if let redis::Value::BulkString(b) = &sub[0] {
                    names.push(format!("{name}/{}", String::from_utf8_lossy(b)));
                }
            }
        }
        names.push(name);
    }
    names
}

#[test]
fn memory_stats_has_redis_fields_in_redis_order() {
    let respd = TestServer::start();
    let ours = stats_names(respd.addr());
    assert!(
        ours.contains(&"db.0/overhead.hashtable.expires".to_string()),
        "{ours:?}"
    );
    assert_eq!(ours.len(), 27 + 1 + 3, "{ours:?}"); // db.0 and its three fields
    let Some(redis) = RedisServer::start() else {
        skip_note("memory_stats_has_redis_fields_in_redis_order (redis half)");
        return;
    };
    assert_eq!(ours, stats_names(redis.addr()));
}

#[test]
fn memory_doctor_is_verbatim_text_in_resp3() {
    let respd = TestServer::start();
    let mut conn = respd.conn();
    conn.words("HELLO 3");
    let doctor = conn.words("MEMORY DOCTOR");
    assert!(
        doctor.starts_with(b"=272\r\ntxt:Hi Sam, this instance is empty"),
        "{}",
        common::show(&doctor)
    );
}
