//! The append-only file, end to end with the real binary: restart after `kill -9`, the
//! `appendfsync always` crash promise, torn and corrupt files, BGREWRITEAOF, and switching the
//! AOF on over an existing dump (the data-loss trap Redis has).

mod common;
#[path = "common/process.rs"]
mod process;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::RawConn;
use process::{info_field, kill9, respd_command, start, TempDir};

fn int_reply(r: &[u8]) -> i64 {
    std::str::from_utf8(&r[1..r.len() - 2])
        .unwrap()
        .parse()
        .unwrap()
}

const AOF_ALWAYS: &[&str] = &["--appendonly", "yes", "--appendfsync", "always"];

/// Writes one key of every kind the log must carry, in two databases and a transaction.
fn write_sample(conn: &mut RawConn) {
    assert_eq!(conn.cmd(&[b"SET", b"s", b"v"]), b"+OK\r\n");
    assert_eq!(
        conn.cmd(&[b"SET", b"ttl", b"v", b"EX", b"100000"]),
        b"+OK\r\n"
    );
    assert_eq!(conn.cmd(&[b"SETEX", b"sx", b"100000", b"v"]), b"+OK\r\n");
    assert_eq!(conn.cmd(&[b"SET", b"e", b"v"]), b"+OK\r\n");
    assert_eq!(conn.cmd(&[b"EXPIRE", b"e", b"100000"]), b":1\r\n");
    assert_eq!(conn.cmd(&[b"INCRBY", b"n", b"41"]), b":41\r\n");
    assert_eq!(conn.cmd(&[b"INCR", b"n"]), b":42\r\n");
    assert_eq!(conn.cmd(&[b"RPUSH", b"l", b"a", b"b", b"c"]), b":3\r\n");
    assert_eq!(
        conn.cmd(&[b"HSET", b"h", b"f", b"1", b"g", b"2"]),
        b":2\r\n"
    );
    assert_eq!(conn.cmd(&[b"SADD", b"st", b"x", b"y"]), b":2\r\n");
    assert_eq!(
        conn.cmd(&[b"ZADD", b"z", b"1.5", b"m", b"-2", b"n"]),
        b":2\r\n"
    );
    assert_eq!(conn.cmd(&[b"DEL", b"gone"]), b":0\r\n");
    assert_eq!(conn.cmd(&[b"SET", b"gone", b"1"]), b"+OK\r\n");
    assert_eq!(conn.cmd(&[b"DEL", b"gone"]), b":1\r\n");
    assert_eq!(conn.cmd(&[b"MULTI"]), b"+OK\r\n");
    assert_eq!(conn.cmd(&[b"SET", b"tx1", b"a"]), b"+QUEUED\r\n");
    assert_eq!(conn.cmd(&[b"LPUSH", b"l", b"z"]), b"+QUEUED\r\n");
    assert_eq!(conn.cmd(&[b"EXEC"]), b"*2\r\n+OK\r\n:4\r\n");
    assert_eq!(conn.cmd(&[b"SELECT", b"3"]), b"+OK\r\n");
    assert_eq!(conn.cmd(&[b"SET", b"db3", b"three"]), b"+OK\r\n");
    assert_eq!(conn.cmd(&[b"SELECT", b"0"]), b"+OK\r\n");
}

fn check_sample(conn: &mut RawConn) {
    assert_eq!(conn.cmd(&[b"GET", b"s"]), b"$1\r\nv\r\n");
    for key in [&b"ttl"[..], b"sx", b"e"] {
        let pttl = int_reply(&conn.cmd(&[b"PTTL", key]));
        assert!(pttl > 99_000_000 && pttl <= 100_000_000, "{pttl}");
    }
    assert_eq!(conn.cmd(&[b"GET", b"n"]), b"$2\r\n42\r\n");
    assert_eq!(
        conn.cmd(&[b"LRANGE", b"l", b"0", b"-1"]),
        b"*4\r\n$1\r\nz\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n"
    );
    assert_eq!(conn.cmd(&[b"HGET", b"h", b"g"]), b"$1\r\n2\r\n");
    assert_eq!(conn.cmd(&[b"SCARD", b"st"]), b":2\r\n");
    assert_eq!(conn.cmd(&[b"ZSCORE", b"z", b"m"]), b"$3\r\n1.5\r\n");
    assert_eq!(conn.cmd(&[b"EXISTS", b"gone"]), b":0\r\n");
    assert_eq!(conn.cmd(&[b"GET", b"tx1"]), b"$1\r\na\r\n");
    assert_eq!(conn.cmd(&[b"SELECT", b"3"]), b"+OK\r\n");
    assert_eq!(conn.cmd(&[b"GET", b"db3"]), b"$5\r\nthree\r\n");
    assert_eq!(conn.cmd(&[b"SELECT", b"0"]), b"+OK\r\n");
}

#[test]
fn every_write_comes_back_after_kill_9() {
    let dir = TempDir::new("aof", "restart");
    let (mut child, mut conn, _) = start(&dir.0, AOF_ALWAYS);
    assert_eq!(info_field(&mut conn, "aof_enabled"), "1");
    write_sample(&mut conn);
    kill9(&mut child);

    let text = String::from_utf8_lossy(&std::fs::read(dir.aof()).unwrap()).into_owned();
    // Relative expiries are logged as absolute ones; EXEC is wrapped in MULTI/EXEC.
    assert!(
        text.contains("PXAT") && text.contains("PEXPIREAT"),
        "{text}"
    );
    assert!(
        !text.contains("SETEX") && !text.contains("\r\nEX\r\n"),
        "{text}"
    );
    assert!(text.contains("MULTI") && text.contains("EXEC"), "{text}");

    let (mut child, mut conn, _) = start(&dir.0, AOF_ALWAYS);
    check_sample(&mut conn);
    kill9(&mut child);
}

#[test]
fn appendfsync_always_keeps_every_acknowledged_write_through_kill_9() {
    let dir = TempDir::new("aof", "crash");
    let (mut child, _conn, port) = start(&dir.0, AOF_ALWAYS);
    let acked = Arc::new(AtomicU64::new(0));
    let writer = {
        let acked = acked.clone();
        std::thread::spawn(move || {
            let mut conn = RawConn::connect(std::net::SocketAddr::from(([127, 0, 0, 1], port)));
            for i in 0u64.. {
                let key = format!("key:{i}");
                conn.send(&common::encode(&[b"SET", key.as_bytes(), b"value"]));
                match conn.reply() {
                    Ok(r) if r == b"+OK\r\n" => acked.store(i + 1, Ordering::SeqCst),
                    _ => return,
                }
            }
        })
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while acked.load(Ordering::SeqCst) < 200 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    kill9(&mut child);
    writer.join().unwrap();
    let acked = acked.load(Ordering::SeqCst);
    assert!(acked >= 1, "no write was acknowledged");

    let (mut child, mut conn, _) = start(&dir.0, AOF_ALWAYS);
    for i in 0..acked {
        let key = format!("key:{i}");
        assert_eq!(
            conn.cmd(&[b"GET", key.as_bytes()]),
            b"$5\r\nvalue\r\n",
            "acknowledged write {i} of {acked} lost"
        );
    }
    kill9(&mut child);
}

#[test]
fn a_torn_last_record_is_cut_off_and_the_rest_loads() {
    let dir = TempDir::new("aof", "torn");
    let whole = b"*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n*5\r\n$4\r\nSADD\r\n$1\r\ns\r\n$1\r\nx\r\n$1\r\ny\r\n$1\r\nz\r\n";
    let mut bytes = whole.to_vec();
    bytes.extend_from_slice(b"*3\r\n$3\r\nSET\r\n$1\r\nb\r\n$5\r\n12"); // torn
    std::fs::write(dir.aof(), &bytes).unwrap();
    let (mut child, mut conn, _) = start(&dir.0, AOF_ALWAYS);
    assert_eq!(conn.cmd(&[b"GET", b"a"]), b"$1\r\n1\r\n");
    assert_eq!(conn.cmd(&[b"SCARD", b"s"]), b":3\r\n");
    assert_eq!(conn.cmd(&[b"EXISTS", b"b"]), b":0\r\n");
    assert!(dir.log().contains("short read"), "{}", dir.log());
    assert!(dir.log().contains("aof-load-truncated"), "{}", dir.log());
    // The file was cut after the last whole command, and appending goes on from there.
    assert_eq!(conn.cmd(&[b"SET", b"c", b"3"]), b"+OK\r\n");
    let after = std::fs::read(dir.aof()).unwrap();
    assert_eq!(&after[..whole.len()], &whole[..]);
    kill9(&mut child);
    let (mut child, mut conn, _) = start(&dir.0, AOF_ALWAYS);
    assert_eq!(conn.cmd(&[b"GET", b"c"]), b"$1\r\n3\r\n");
    kill9(&mut child);
}

#[test]
fn an_unfinished_multi_at_the_end_is_reverted() {
    let dir = TempDir::new("aof", "multi");
    let mut bytes = b"*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n".to_vec();
    bytes.extend_from_slice(b"*1\r\n$5\r\nMULTI\r\n*3\r\n$3\r\nSET\r\n$1\r\nb\r\n$1\r\n2\r\n");
    std::fs::write(dir.aof(), &bytes).unwrap();
    let (mut child, mut conn, _) = start(&dir.0, AOF_ALWAYS);
    assert_eq!(conn.cmd(&[b"GET", b"a"]), b"$1\r\n1\r\n");
    assert_eq!(conn.cmd(&[b"EXISTS", b"b"]), b":0\r\n");
    assert!(dir.log().contains("MULTI/EXEC"), "{}", dir.log());
    kill9(&mut child);
}

#[test]
fn a_multi_inside_an_open_multi_keeps_what_was_queued() {
    // A file a respd before one-record transactions could leave: a MULTI never closed (its
    // EXEC did not complete), later records, then a whole transaction. Redis's loader queues
    // on through the second MULTI and runs everything at its EXEC; dropping the first
    // MULTI's commands would lose writes that were acknowledged.
    let dir = TempDir::new("aof", "nested-multi");
    let mut bytes = b"*1\r\n$5\r\nMULTI\r\n*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n".to_vec();
    bytes.extend_from_slice(b"*3\r\n$3\r\nSET\r\n$1\r\nd\r\n$1\r\n4\r\n");
    bytes.extend_from_slice(b"*1\r\n$5\r\nMULTI\r\n*3\r\n$3\r\nSET\r\n$1\r\nb\r\n$1\r\n2\r\n");
    bytes.extend_from_slice(b"*1\r\n$4\r\nEXEC\r\n*3\r\n$3\r\nSET\r\n$1\r\ne\r\n$1\r\n5\r\n");
    std::fs::write(dir.aof(), &bytes).unwrap();
    let (mut child, mut conn, _) = start(&dir.0, AOF_ALWAYS);
    for (key, value) in [("a", "1"), ("d", "4"), ("b", "2"), ("e", "5")] {
        assert_eq!(
            conn.cmd(&[b"GET", key.as_bytes()]),
            format!("$1\r\n{value}\r\n").into_bytes(),
            "{key}"
        );
    }
    assert!(!dir.log().contains("Revert"), "{}", dir.log());
    assert_eq!(std::fs::read(dir.aof()).unwrap()[..bytes.len()], bytes[..]);
    kill9(&mut child);
}

#[test]
fn garbage_in_the_middle_refuses_to_start_naming_file_and_offset() {
    let dir = TempDir::new("aof", "garbage");
    let mut bytes = b"*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n".to_vec();
    bytes.extend_from_slice(b"hello\r\n*3\r\n$3\r\nSET\r\n$1\r\nb\r\n$1\r\n2\r\n");
    std::fs::write(dir.aof(), &bytes).unwrap();
    let status = respd_command(&dir.0, common::free_port(), AOF_ALWAYS)
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(1));
    let log = dir.log();
    assert!(log.contains("appendonly.aof"), "{log}");
    assert!(log.contains("offset 27"), "{log}");
    // Never touched.
    assert_eq!(std::fs::read(dir.aof()).unwrap(), bytes);
}

#[test]
fn bgrewriteaof_gives_an_equivalent_smaller_file() {
    let dir = TempDir::new("aof", "rewrite");
    let (mut child, mut conn, _) = start(&dir.0, AOF_ALWAYS);
    write_sample(&mut conn);
    for i in 0..200 {
        let v = i.to_string();
        assert_eq!(conn.cmd(&[b"SET", b"counter", v.as_bytes()]), b"+OK\r\n");
    }
    let big: Vec<Vec<u8>> = (0..150).map(|i| format!("m{i}").into_bytes()).collect();
    let mut sadd: Vec<&[u8]> = vec![b"SADD", b"bigset"];
    sadd.extend(big.iter().map(|m| &m[..]));
    assert_eq!(conn.cmd(&sadd), b":150\r\n");
    let before = std::fs::metadata(dir.aof()).unwrap().len();
    assert_eq!(
        conn.cmd(&[b"BGREWRITEAOF"]),
        b"+Background append only file rewriting started\r\n"
    );
    // Writes made during and after the rewrite are kept.
    assert_eq!(conn.cmd(&[b"SET", b"during", b"1"]), b"+OK\r\n");
    let deadline = Instant::now() + Duration::from_secs(10);
    while info_field(&mut conn, "aof_rewrite_in_progress") != "0" {
        assert!(Instant::now() < deadline, "rewrite did not finish");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(info_field(&mut conn, "aof_last_bgrewrite_status"), "ok");
    assert_eq!(conn.cmd(&[b"SET", b"after", b"2"]), b"+OK\r\n");
    let after = std::fs::metadata(dir.aof()).unwrap().len();
    assert!(after < before, "{after} >= {before}");
    assert_eq!(info_field(&mut conn, "aof_current_size"), after.to_string());
    kill9(&mut child);

    let (mut child, mut conn, _) = start(&dir.0, AOF_ALWAYS);
    check_sample(&mut conn);
    assert_eq!(conn.cmd(&[b"GET", b"counter"]), b"$3\r\n199\r\n");
    assert_eq!(conn.cmd(&[b"SCARD", b"bigset"]), b":150\r\n");
    assert_eq!(conn.cmd(&[b"GET", b"during"]), b"$1\r\n1\r\n");
    assert_eq!(conn.cmd(&[b"GET", b"after"]), b"$1\r\n2\r\n");
    kill9(&mut child);
}

#[test]
fn turning_appendonly_on_over_a_dump_loads_the_dump_first() {
    let dir = TempDir::new("aof", "toggle");
    let (mut child, mut conn, _) = start(&dir.0, &[]);
    write_sample(&mut conn);
    assert_eq!(conn.cmd(&[b"SAVE"]), b"+OK\r\n");
    kill9(&mut child);
    assert!(!dir.aof().exists());

    // At start: the dump is loaded and written out as the first AOF.
    let (mut child, mut conn, _) = start(&dir.0, AOF_ALWAYS);
    check_sample(&mut conn);
    assert!(dir.aof().exists());
    assert_eq!(conn.cmd(&[b"SET", b"new", b"1"]), b"+OK\r\n");
    kill9(&mut child);
    std::fs::remove_file(dir.0.join("dump.rdb")).unwrap();
    let (mut child, mut conn, _) = start(&dir.0, AOF_ALWAYS);
    check_sample(&mut conn);
    assert_eq!(conn.cmd(&[b"GET", b"new"]), b"$1\r\n1\r\n");
    kill9(&mut child);
}

#[test]
fn config_set_appendonly_yes_writes_the_file_from_memory() {
    let dir = TempDir::new("aof", "config-set");
    let (mut child, mut conn, _) = start(&dir.0, &[]);
    write_sample(&mut conn);
    assert_eq!(
        conn.cmd(&[
            b"CONFIG",
            b"SET",
            b"appendonly",
            b"yes",
            b"appendfsync",
            b"always"
        ]),
        b"+OK\r\n"
    );
    assert_eq!(info_field(&mut conn, "aof_enabled"), "1");
    assert_eq!(conn.cmd(&[b"SET", b"later", b"1"]), b"+OK\r\n");
    let deadline = Instant::now() + Duration::from_secs(10);
    while info_field(&mut conn, "aof_rewrite_in_progress") != "0" {
        assert!(Instant::now() < deadline, "rewrite did not finish");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(conn.cmd(&[b"SET", b"last", b"1"]), b"+OK\r\n");
    kill9(&mut child);
    let (mut child, mut conn, _) = start(&dir.0, AOF_ALWAYS);
    check_sample(&mut conn);
    assert_eq!(conn.cmd(&[b"GET", b"later"]), b"$1\r\n1\r\n");
    assert_eq!(conn.cmd(&[b"GET", b"last"]), b"$1\r\n1\r\n");
    kill9(&mut child);
}

#[test]
fn spop_and_served_blocking_pops_replay_to_the_same_data() {
    let dir = TempDir::new("aof", "pops");
    let (mut child, mut conn, port) = start(&dir.0, AOF_ALWAYS);
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    assert_eq!(
        conn.cmd(&[b"SADD", b"s", b"a", b"b", b"c", b"d"]),
        b":4\r\n"
    );
    let popped = conn.cmd(&[b"SPOP", b"s", b"2"]);
    assert!(popped.starts_with(b"*2\r\n"));
    conn.cmd(&[b"SPOP", b"s"]);
    let left = conn.cmd(&[b"SMEMBERS", b"s"]);
    // A BLPOP and a BLMOVE that wait, then are served by later pushes.
    let mut blpop = RawConn::connect(addr);
    blpop.send(&common::encode(&[b"BLPOP", b"q", b"0"]));
    let mut blmove = RawConn::connect(addr);
    blmove.send(&common::encode(&[
        b"BLMOVE", b"q2", b"dst", b"LEFT", b"RIGHT", b"0",
    ]));
    let deadline = Instant::now() + Duration::from_secs(10);
    while info_blocked(&mut conn) < 2 {
        assert!(Instant::now() < deadline, "clients did not block");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(conn.cmd(&[b"RPUSH", b"q", b"x", b"y"]), b":2\r\n");
    assert_eq!(blpop.reply().unwrap(), b"*2\r\n$1\r\nq\r\n$1\r\nx\r\n");
    assert_eq!(conn.cmd(&[b"MULTI"]), b"+OK\r\n");
    assert_eq!(conn.cmd(&[b"RPUSH", b"q2", b"m", b"n"]), b"+QUEUED\r\n");
    assert_eq!(conn.cmd(&[b"EXEC"]), b"*1\r\n:2\r\n");
    assert_eq!(blmove.reply().unwrap(), b"$1\r\nm\r\n");
    kill9(&mut child);

    let (mut child, mut conn, _) = start(&dir.0, AOF_ALWAYS);
    assert_eq!(conn.cmd(&[b"SMEMBERS", b"s"]), left);
    assert_eq!(
        conn.cmd(&[b"LRANGE", b"q", b"0", b"-1"]),
        b"*1\r\n$1\r\ny\r\n"
    );
    assert_eq!(
        conn.cmd(&[b"LRANGE", b"q2", b"0", b"-1"]),
        b"*1\r\n$1\r\nn\r\n"
    );
    assert_eq!(
        conn.cmd(&[b"LRANGE", b"dst", b"0", b"-1"]),
        b"*1\r\n$1\r\nm\r\n"
    );
    kill9(&mut child);
}

fn info_blocked(conn: &mut RawConn) -> u64 {
    let info = conn.cmd(&[b"INFO", b"clients"]);
    String::from_utf8_lossy(&info)
        .lines()
        .find_map(|l| {
            l.strip_prefix("blocked_clients:")
                .map(|v| v.trim().parse().unwrap())
        })
        .unwrap_or(0)
}

#[test]
fn the_file_is_rewritten_automatically_when_it_doubles() {
    let dir = TempDir::new("aof", "auto");
    let (mut child, mut conn, _) = start(
        &dir.0,
        &["--appendonly", "yes", "--auto-aof-rewrite-min-size", "2kb"],
    );
    assert_eq!(conn.cmd(&[b"SET", b"keep", b"1"]), b"+OK\r\n");
    for i in 0..100 {
        let v = i.to_string();
        assert_eq!(conn.cmd(&[b"SET", b"counter", v.as_bytes()]), b"+OK\r\n");
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while info_field(&mut conn, "aof_rewrites") == "0" {
        assert!(Instant::now() < deadline, "no automatic rewrite");
        std::thread::sleep(Duration::from_millis(20));
    }
    while info_field(&mut conn, "aof_rewrite_in_progress") != "0" {
        std::thread::sleep(Duration::from_millis(20));
    }
    let size: u64 = info_field(&mut conn, "aof_current_size").parse().unwrap();
    assert!(size < 2048, "{size}");
    kill9(&mut child);
    let (mut child, mut conn, _) = start(&dir.0, &["--appendonly", "yes"]);
    assert_eq!(conn.cmd(&[b"GET", b"counter"]), b"$2\r\n99\r\n");
    assert_eq!(conn.cmd(&[b"GET", b"keep"]), b"$1\r\n1\r\n");
    kill9(&mut child);
}

#[test]
fn replayed_keys_are_not_reported_idle_for_decades() {
    let dir = TempDir::new("aof", "idle");
    let (mut child, mut conn, _) = start(&dir.0, AOF_ALWAYS);
    assert_eq!(conn.cmd(&[b"SET", b"k", b"v"]), b"+OK\r\n");
    kill9(&mut child);
    let (mut child, mut conn, _) = start(&dir.0, AOF_ALWAYS);
    assert!(int_reply(&conn.cmd(&[b"OBJECT", b"IDLETIME", b"k"])) < 100);
    kill9(&mut child);
}

#[test]
fn a_kill_during_bgrewriteaof_keeps_the_data() {
    let dir = TempDir::new("aof", "kill-rewrite");
    let (mut child, mut conn, _) = start(&dir.0, &["--appendonly", "yes"]);
    let n = 5000;
    let mut batch = Vec::new();
    for i in 0..n {
        let key = format!("key:{i}");
        batch.extend_from_slice(&common::encode(&[b"SET", key.as_bytes(), b"value"]));
    }
    conn.send(&batch);
    for _ in 0..n {
        assert_eq!(conn.reply().unwrap(), b"+OK\r\n");
    }
    assert_eq!(
        conn.cmd(&[b"BGREWRITEAOF"]),
        b"+Background append only file rewriting started\r\n"
    );
    kill9(&mut child);
    let (mut child, mut conn, _) = start(&dir.0, &["--appendonly", "yes"]);
    assert_eq!(conn.cmd(&[b"DBSIZE"]), format!(":{n}\r\n").into_bytes());
    kill9(&mut child);
}
