//! The configuration surface against a live redis-server 7.0: every directive Redis knows is
//! known to respd (CONFIG GET), with the same defaults where respd keeps Redis's; CONFIG SET
//! refuses bad values of every kind with Redis's exact error; CONFIG GET takes several
//! patterns; a bad config file line gets Redis's reason.
//!
//! Each test starts its own redis-server (they CONFIG SET), or prints `SKIPPED:` without one.

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;

use common::{show, skip_note, RawConn, RedisServer, TestServer};

/// The (name, value) pairs of a RESP2 CONFIG GET reply (a flat array of bulk strings).
fn pairs(reply: &[u8]) -> BTreeMap<String, String> {
    let text = String::from_utf8_lossy(reply).into_owned();
    let mut lines = text.split("\r\n");
    let count: usize = lines
        .next()
        .and_then(|l| l.strip_prefix('*'))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("not an array: {text:?}"));
    let mut words = Vec::new();
    for _ in 0..count {
        let _len = lines.next();
        words.push(lines.next().unwrap_or_default().to_string());
    }
    words
        .chunks(2)
        .map(|p| (p[0].clone(), p[1].clone()))
        .collect()
}

fn config_get(addr: SocketAddr, patterns: &[&str]) -> BTreeMap<String, String> {
    let mut c = RawConn::connect(addr);
    let mut args: Vec<&[u8]> = vec![b"CONFIG", b"GET"];
    args.extend(patterns.iter().map(|p| p.as_bytes()));
    pairs(&c.cmd(&args))
}

/// Directives whose value differs between a test respd and a test redis-server for reasons
/// that are not about the configuration surface: where each was started (port, dir, files),
/// how (save, appendonly, daemonize given on redis-server's command line; maxclients fitted
/// to the open files limit), and the build (Debian's redis-server is built with TLS, but its
/// values are Redis's defaults too).
const DIFFERENT_BY_SETUP: &[&str] = &[
    "port",
    "bind",
    "dir",
    "save",
    "appendonly",
    "daemonize",
    "maxclients",
    "pidfile",
    "logfile",
    "supervised",
    "unixsocket",
];

#[test]
fn respd_knows_every_directive_redis_has() {
    let Some(redis) = RedisServer::start() else {
        skip_note("respd_knows_every_directive_redis_has");
        return;
    };
    let respd = TestServer::start();
    let theirs = config_get(redis.addr(), &["*"]);
    assert!(theirs.len() > 150, "redis listed only {}", theirs.len());
    let ours = config_get(respd.addr(), &["*"]);
    let mut missing = Vec::new();
    let mut different = Vec::new();
    for (name, value) in &theirs {
        // Ask by exact name too: that is how a client would.
        let exact = config_get(respd.addr(), &[name]);
        match exact.get(name) {
            None => missing.push(name.clone()),
            Some(v) if v != value && !DIFFERENT_BY_SETUP.contains(&name.as_str()) => {
                different.push(format!("{name}: respd {v:?}, redis {value:?}"))
            }
            Some(_) => {}
        }
        assert!(
            ours.contains_key(name),
            "CONFIG GET * on respd does not list {name}"
        );
    }
    assert!(missing.is_empty(), "respd lacks: {missing:?}");
    assert!(different.is_empty(), "defaults differ: {different:#?}");
    // And nothing respd lists is unknown to Redis (respd's own thread-stack-size aside).
    let extra: Vec<&String> = ours
        .keys()
        .filter(|n| !theirs.contains_key(*n) && *n != "thread-stack-size")
        .collect();
    assert!(
        extra.is_empty(),
        "respd lists directives Redis does not: {extra:?}"
    );
}

/// Bad values of every kind of directive, and a few that must be refused for other reasons
/// (immutable, alias named by its own name in the error).
const BAD_VALUES: &[(&str, &str)] = &[
    ("activerehashing", "maybe"),
    ("lazyfree-lazy-user-del", ""),
    ("maxmemory", "lots"),
    ("maxmemory", "-1"),
    ("repl-backlog-size", "0"),
    ("hz", "ten"),
    ("lfu-log-factor", "-1"),
    ("active-defrag-cycle-max", "100"),
    ("slowlog-log-slower-than", "-2"),
    ("maxclients", "0"),
    ("hash-max-ziplist-entries", "-1"),
    ("hash-max-listpack-value", "1x"),
    ("maxmemory-clients", "101%"),
    ("maxmemory-clients", "ten"),
    ("maxmemory-policy", "lru"),
    ("loglevel", "loud"),
    ("shutdown-on-sigterm", "save nosave"),
    ("shutdown-on-sigterm", "later"),
    ("oom-score-adj-values", "1 2"),
    ("oom-score-adj-values", "0 200 9000"),
    ("notify-keyspace-events", "KQ"),
    ("latency-tracking-info-percentiles", "50 101"),
    ("latency-tracking-info-percentiles", "fifty"),
    ("tracking-table-max-keys", "x"),
    ("daemonize", "yes"),
    ("slaveof", "127.0.0.1 1"),
    ("unixsocketperm", "700"),
    ("io-threads", "4"),
    ("no-such-directive", "1"),
];

/// Values that are accepted, then read back, on both.
const GOOD_VALUES: &[(&str, &str, &str)] = &[
    ("notify-keyspace-events", "KEA", "notify-keyspace-events"),
    ("notify-keyspace-events", "Exg$", "notify-keyspace-events"),
    ("maxmemory-clients", "10%", "maxmemory-clients"),
    ("maxmemory-clients", "1mb", "maxmemory-clients"),
    ("oom-score-adj", "relative", "oom-score-adj"),
    ("shutdown-on-sigterm", "now save", "shutdown-on-sigterm"),
    (
        "latency-tracking-info-percentiles",
        "50 99.9 100",
        "latency-tracking-info-percentiles",
    ),
    ("maxmemory", "2mb", "maxmemory"),
    ("maxmemory-policy", "ALLKEYS-LRU", "maxmemory-policy"),
    (
        "hash-max-ziplist-entries",
        "100",
        "hash-max-listpack-entries",
    ),
    ("slave-serve-stale-data", "no", "replica-serve-stale-data"),
    ("lua-time-limit", "100", "busy-reply-threshold"),
    ("list-max-ziplist-size", "-3", "list-max-listpack-size"),
    ("requirepass", "", "requirepass"),
    ("lazyfree-lazy-user-del", "YES", "lazyfree-lazy-user-del"),
];

#[test]
fn config_set_errors_and_values_are_redis_s() {
    let Some(redis) = RedisServer::start() else {
        skip_note("config_set_errors_and_values_are_redis_s");
        return;
    };
    let respd = TestServer::start();
    let mut ours = RawConn::connect(respd.addr());
    let mut theirs = RawConn::connect(redis.addr());
    for (name, value) in BAD_VALUES {
        let args: [&[u8]; 4] = [b"CONFIG", b"SET", name.as_bytes(), value.as_bytes()];
        let want = theirs.cmd(&args);
        assert!(want.starts_with(b"-"), "redis accepted {name} {value}");
        assert_eq!(
            show(&ours.cmd(&args)),
            show(&want),
            "CONFIG SET {name} {value:?}"
        );
    }
    for (name, value, shown_as) in GOOD_VALUES {
        let args: [&[u8]; 4] = [b"CONFIG", b"SET", name.as_bytes(), value.as_bytes()];
        assert_eq!(
            show(&theirs.cmd(&args)),
            show(b"+OK\r\n"),
            "redis: {name} {value}"
        );
        assert_eq!(
            show(&ours.cmd(&args)),
            show(b"+OK\r\n"),
            "respd: {name} {value}"
        );
        let get: [&[u8]; 3] = [b"CONFIG", b"GET", shown_as.as_bytes()];
        assert_eq!(
            show(&ours.cmd(&get)),
            show(&theirs.cmd(&get)),
            "CONFIG GET {shown_as} after CONFIG SET {name} {value}"
        );
    }
    // Several pairs, one bad: nothing changes on either.
    for conn in [&mut ours, &mut theirs] {
        let reply = conn.cmd(&[
            b"CONFIG",
            b"SET",
            b"maxmemory-samples",
            b"7",
            b"activerehashing",
            b"maybe",
        ]);
        assert!(
            reply.starts_with(b"-ERR CONFIG SET failed"),
            "{}",
            show(&reply)
        );
        assert_eq!(
            show(&conn.cmd(&[b"CONFIG", b"GET", b"maxmemory-samples"])),
            show(b"*2\r\n$17\r\nmaxmemory-samples\r\n$1\r\n5\r\n")
        );
    }
}

#[test]
fn config_get_takes_several_patterns_without_duplicates() {
    let Some(redis) = RedisServer::start() else {
        skip_note("config_get_takes_several_patterns_without_duplicates");
        return;
    };
    let respd = TestServer::start();
    for patterns in [
        &["maxmemory*", "maxmemory", "lfu-*"][..],
        &["hash-max-*", "hash-max-ziplist-entries"][..],
        &["*slave*", "replica-priority"][..],
        &["timeout", "TIMEOUT", "no-such-thing"][..],
        &["key-load-delay", "*load-delay*"][..],
    ] {
        let mut ours = RawConn::connect(respd.addr());
        let mut theirs = RawConn::connect(redis.addr());
        let mut args: Vec<&[u8]> = vec![b"CONFIG", b"GET"];
        args.extend(patterns.iter().map(|p| p.as_bytes()));
        let (mine, want) = (ours.cmd(&args), theirs.cmd(&args));
        // Redis answers in hash table order; compare the pairs, and their number (no
        // duplicates).
        assert_eq!(pairs(&mine), pairs(&want), "CONFIG GET {patterns:?}");
        assert_eq!(
            mine.split(|&b| b == b'\n').next(),
            want.split(|&b| b == b'\n').next(),
            "CONFIG GET {patterns:?}: the number of replies"
        );
    }
}

/// The last lines of a failed start: the offending line and the reason.
fn config_file_error(binary: &str, text: &str) -> (String, String) {
    let dir = std::env::temp_dir().join(format!(
        "respd-config-error-{}-{}",
        std::process::id(),
        binary.replace('/', "_")
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("bad.conf");
    std::fs::write(&file, text).unwrap();
    let out = std::process::Command::new(binary)
        .arg(&file)
        .current_dir(&dir)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{binary} with {text:?}: {out:?}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let lines: Vec<&str> = stderr.trim_end().lines().collect();
    assert!(lines.len() >= 2, "{binary}: {stderr}");
    (
        lines[lines.len() - 2].to_string(),
        lines[lines.len() - 1].to_string(),
    )
}

#[test]
fn config_file_errors_name_the_line_and_redis_s_reason() {
    if !RedisServer::available() {
        skip_note("config_file_errors_name_the_line_and_redis_s_reason");
        return;
    }
    for bad in [
        "activerehashing maybe",
        "port 1 2",
        "maxmemory lots",
        "hz",
        "shutdown-on-sigint save nosave",
        "maxmemory-clients 200%",
        "replicaof localhost",
        "notify-keyspace-events Q",
        "unixsocketperm 999",
        "no-such-directive yes",
    ] {
        let text = format!("# a comment\nlazyfree-lazy-eviction no\n{bad}\n");
        let mine = config_file_error(env!("CARGO_BIN_EXE_respd"), &text);
        let want = config_file_error("redis-server", &text);
        assert_eq!(mine, want, "config file line {bad:?}");
    }
}
