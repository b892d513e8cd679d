//! Scripting across connections and over time: what one connection's case file cannot show.
//!
//! - a script past `busy-reply-threshold` makes other clients get BUSY, SCRIPT KILL stops it,
//!   and FUNCTION KILL refuses to stop an EVAL script;
//! - a script is atomic: no other client's command runs between its commands;
//! - a script's effects reach the AOF as the commands it ran, in MULTI ... EXEC, not as EVAL;
//! - EVALSHA after SCRIPT FLUSH answers NOSCRIPT, and the `redis` crate's `Script` helper
//!   (EVALSHA first, EVAL on NOSCRIPT) works;
//! - a table that contains itself is answered as Redis answers it, without a crash;
//! - RESP3 conversions, which need HELLO 3 (its reply holds the connection id, so no case file).

mod common;

use std::thread;
use std::time::{Duration, Instant};

use common::{RawConn, TestServer};

/// Sends `PING` until the reply is not `+PONG` (the script became busy) or `deadline` passes.
fn wait_for_busy(conn: &mut RawConn, deadline: Duration) -> Vec<u8> {
    let started = Instant::now();
    loop {
        let reply = conn.cmd(&[b"PING"]);
        if reply != b"+PONG\r\n" || started.elapsed() > deadline {
            return reply;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_busy_script_answers_busy_and_script_kill_stops_it() {
    let server = TestServer::start();
    let mut admin = server.conn();
    assert_eq!(
        admin.cmd(&[b"CONFIG", b"SET", b"busy-reply-threshold", b"50"]),
        b"+OK\r\n"
    );
    let mut runner = server.conn();
    runner.send(&common::encode(&[b"EVAL", b"while true do end", b"0"]));
    let busy = wait_for_busy(&mut admin, Duration::from_secs(60));
    assert_eq!(
        busy,
        b"-BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.\r\n"
    );
    // FUNCTION KILL does not stop an EVAL script; FUNCTION STATS says why.
    assert_eq!(
        admin.cmd(&[b"FUNCTION", b"KILL"]),
        b"-BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.\r\n"
    );
    assert_eq!(admin.cmd(&[b"SCRIPT", b"KILL"]), b"+OK\r\n");
    let killed = runner.reply().unwrap();
    assert!(
        killed.starts_with(b"-ERR Script killed by user with SCRIPT KILL... script: "),
        "{}",
        common::show(&killed)
    );
    assert_eq!(admin.cmd(&[b"PING"]), b"+PONG\r\n");
    assert_eq!(
        admin.cmd(&[b"SCRIPT", b"KILL"]),
        b"-NOTBUSY No scripts in execution right now.\r\n"
    );
}

#[test]
fn a_killed_script_cannot_be_kept_alive_by_pcall() {
    let server = TestServer::start();
    let mut admin = server.conn();
    admin.cmd(&[b"CONFIG", b"SET", b"busy-reply-threshold", b"50"]);
    let mut runner = server.conn();
    let script = b"while true do pcall(function() while true do end end) end";
    runner.send(&common::encode(&[b"EVAL", script, b"0"]));
    assert!(wait_for_busy(&mut admin, Duration::from_secs(60)).starts_with(b"-BUSY"));
    assert_eq!(admin.cmd(&[b"SCRIPT", b"KILL"]), b"+OK\r\n");
    assert!(runner
        .reply()
        .unwrap()
        .starts_with(b"-ERR Script killed by user"));
}

#[test]
fn a_busy_function_is_stopped_by_function_kill() {
    let server = TestServer::start();
    let mut admin = server.conn();
    admin.cmd(&[b"CONFIG", b"SET", b"busy-reply-threshold", b"50"]);
    let code =
        b"#!lua name=spin\nredis.register_function('spin', function() while true do end end)";
    assert_eq!(admin.cmd(&[b"FUNCTION", b"LOAD", code]), b"$4\r\nspin\r\n");
    let mut runner = server.conn();
    runner.send(&common::encode(&[b"FCALL", b"spin", b"0"]));
    assert_eq!(
        wait_for_busy(&mut admin, Duration::from_secs(60)),
        b"-BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.\r\n"
    );
    let stats = admin.cmd(&[b"FUNCTION", b"STATS"]);
    assert!(
        stats.windows(4).any(|w| w == b"spin"),
        "{}",
        common::show(&stats)
    );
    assert_eq!(admin.cmd(&[b"FUNCTION", b"KILL"]), b"+OK\r\n");
    assert!(runner
        .reply()
        .unwrap()
        .starts_with(b"-ERR Script killed by user"));
}

/// Two clients run a script that increments a counter twice and returns both values, while
/// a third increments it directly: the two values of one script are always consecutive.
#[test]
fn a_script_is_atomic_against_concurrent_writers() {
    let server = TestServer::start();
    let addr = server.addr();
    let writer = thread::spawn(move || {
        let mut c = RawConn::connect(addr);
        for _ in 0..2000 {
            assert!(c.cmd(&[b"INCR", b"n"]).starts_with(b":"));
        }
    });
    let script: &[u8] = b"local a = redis.call('incr', KEYS[1]) local b = redis.call('incr', KEYS[1]) return {a, b}";
    let runners: Vec<_> = (0..2)
        .map(|_| {
            thread::spawn(move || {
                let mut c = RawConn::connect(addr);
                for _ in 0..1000 {
                    let reply = c.cmd(&[b"EVAL", script, b"1", b"n"]);
                    let text = String::from_utf8(reply).unwrap();
                    let numbers: Vec<i64> = text
                        .split("\r\n")
                        .filter_map(|l| l.strip_prefix(':'))
                        .map(|n| n.parse().unwrap())
                        .collect();
                    assert_eq!(numbers.len(), 2, "{text}");
                    assert_eq!(numbers[1], numbers[0] + 1, "{text}");
                }
            })
        })
        .collect();
    writer.join().unwrap();
    for r in runners {
        r.join().unwrap();
    }
}

#[test]
fn a_scripts_effects_reach_the_aof_as_a_transaction() {
    let dir = std::env::temp_dir().join(format!("respd-scripting-aof-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let dir_text = dir.to_string_lossy().into_owned();
    let server = TestServer::with_config(|c| {
        c.dir = dir_text.clone();
        c.appendonly = true;
    });
    let mut conn = server.conn();
    let script: &[u8] = b"redis.call('set', KEYS[1], 'v') redis.call('incr', KEYS[2]) return 1";
    assert_eq!(
        conn.cmd(&[b"EVAL", script, b"2", b"k", b"counter"]),
        b":1\r\n"
    );
    // A read-only script writes nothing.
    assert_eq!(
        conn.cmd(&[b"EVAL", b"return redis.call('get', KEYS[1])", b"1", b"k"]),
        b"$1\r\nv\r\n"
    );
    // The AOF is written as commands complete; read it until the transaction is there.
    let started = Instant::now();
    let text = loop {
        let mut all = Vec::new();
        for entry in walk(&dir) {
            all.extend(std::fs::read(entry).unwrap_or_default());
        }
        let text = String::from_utf8_lossy(&all).into_owned();
        if text.contains("EXEC") || started.elapsed() > Duration::from_secs(30) {
            break text;
        }
        thread::sleep(Duration::from_millis(20));
    };
    let multi = text.find("MULTI").expect("MULTI in the AOF");
    let set = text
        .find("$3\r\nset\r\n$1\r\nk\r\n$1\r\nv")
        .expect("SET in the AOF");
    let incr = text
        .find("$4\r\nincr\r\n$7\r\ncounter")
        .expect("INCR in the AOF");
    let exec = text.find("EXEC").expect("EXEC in the AOF");
    assert!(multi < set && set < incr && incr < exec, "{text}");
    assert!(!text.to_ascii_lowercase().contains("eval"), "{text}");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out.sort();
    out
}

#[test]
fn evalsha_after_script_flush_is_noscript_and_the_script_helper_reloads() {
    let server = TestServer::start();
    let mut conn = server.conn();
    let body: &[u8] = b"return redis.call('incr', KEYS[1])";
    let sha = conn.cmd(&[b"SCRIPT", b"LOAD", body]);
    let sha = &sha[5..45];
    assert_eq!(conn.cmd(&[b"EVALSHA", sha, b"1", b"c"]), b":1\r\n");
    assert_eq!(conn.cmd(&[b"SCRIPT", b"FLUSH"]), b"+OK\r\n");
    assert_eq!(
        conn.cmd(&[b"EVALSHA", sha, b"1", b"c"]),
        b"-NOSCRIPT No matching script. Please use EVAL.\r\n"
    );
    // The redis crate's Script: EVALSHA, then EVAL when the cache does not have it.
    let mut client = server.client();
    let script = redis::Script::new("return redis.call('incr', KEYS[1])");
    let n: i64 = script.key("c").invoke(&mut client).unwrap();
    assert_eq!(n, 2);
    let n: i64 = script.key("c").invoke(&mut client).unwrap();
    assert_eq!(n, 3);
    assert_eq!(conn.cmd(&[b"SCRIPT", b"EXISTS", sha]), b"*1\r\n:1\r\n");
}

#[test]
fn a_table_that_contains_itself_is_answered_like_redis() {
    let server = TestServer::start();
    let mut conn = server.conn();
    // Nested arrays until Redis's Lua stack would be full, then an error in the innermost:
    // 7995 headers of 4 bytes and the error (read as bytes: the reply is too deep for the
    // helpers' recursive parser).
    conn.send(&common::encode(&[
        b"EVAL",
        b"local t = {} t[1] = t return t",
        b"0",
    ]));
    let error: &[u8] = b"-ERR reached lua stack limit\r\n";
    let reply = conn.read_bytes(7995 * 4 + error.len());
    assert!(reply[..7995 * 4].chunks(4).all(|c| c == b"*1\r\n"));
    assert!(reply.ends_with(error));
    assert_eq!(conn.cmd(&[b"PING"]), b"+PONG\r\n");
}

#[test]
fn resp3_conversions() {
    let server = TestServer::start();
    let mut conn = server.conn();
    conn.cmd(&[b"HELLO", b"3"]);
    conn.cmd(&[b"HSET", b"h", b"f", b"v"]);
    let cases: &[(&[u8], &[u8])] = &[
        (b"return {map = {a = 1}}", b"%1\r\n$1\r\na\r\n:1\r\n"),
        (b"return {set = {a = true}}", b"~1\r\n$1\r\na\r\n"),
        (b"return {double = 3.14}", b",3.1400000000000001\r\n"),
        (b"return {big_number = '12345'}", b"(12345\r\n"),
        (
            b"return {verbatim_string = {format = 'txt', string = 'hi'}}",
            b"=6\r\ntxt:hi\r\n",
        ),
        (b"return nil", b"_\r\n"),
        (b"return false", b"_\r\n"),
        (b"redis.setresp(3) return false", b"#f\r\n"),
        (b"redis.setresp(3) return true", b"#t\r\n"),
        (
            b"redis.setresp(3) return redis.call('hgetall', 'h')",
            b"%1\r\n$1\r\nf\r\n$1\r\nv\r\n",
        ),
        (
            b"redis.setresp(3) return redis.call('get', 'nokey')",
            b"_\r\n",
        ),
        (
            b"redis.setresp(3) return redis.call('hgetall', 'h').map.f",
            b"$1\r\nv\r\n",
        ),
    ];
    for (script, expected) in cases {
        let reply = conn.cmd(&[b"EVAL", script, b"0"]);
        assert_eq!(
            common::show(&reply),
            common::show(expected),
            "{}",
            String::from_utf8_lossy(script)
        );
    }
}
