//! SORT behaviour the case files cannot pin: the RESP3 nil of a GET that finds nothing (a
//! HELLO 3 reply carries the client id, so RESP3 stays out of case files), and the keyspace
//! hit and miss counters, which INFO reports with values that move between runs.
//!
//! Every check runs against respd and, when `redis-server` is installed, against a private
//! Redis 7.0 too: the rules asserted here are Redis's, so Redis must pass them as well.

mod common;

use std::net::SocketAddr;

use common::{show, RawConn, RedisServer, TestServer};

/// Sends a command written as space-separated words and returns the raw reply.
fn call(c: &mut RawConn, line: &str) -> Vec<u8> {
    let args: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
    c.cmd(&args)
}

/// Runs `check` against respd and against a private redis-server when there is one.
fn on_both(check: impl Fn(SocketAddr)) {
    let respd = TestServer::start();
    check(respd.addr());
    match RedisServer::start() {
        Some(redis) => check(redis.addr()),
        None => println!("SKIPPED: SORT checks against redis-server (not installed)"),
    }
}

#[test]
fn resp3_get_of_a_missing_key_is_null() {
    on_both(|addr| {
        let mut c = RawConn::connect(addr);
        call(&mut c, "HELLO 3");
        call(&mut c, "RPUSH l b a");
        call(&mut c, "SET v_a 1");
        let reply = call(&mut c, "SORT l ALPHA GET # GET v_*");
        assert_eq!(
            reply,
            b"*4\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n_\r\n",
            "{}",
            show(&reply)
        );
        // The reply stays an array (not a RESP3 set), as in Redis.
        let reply = call(&mut c, "SORT_RO l ALPHA DESC");
        assert_eq!(reply, b"*2\r\n$1\r\nb\r\n$1\r\na\r\n", "{}", show(&reply));
        call(&mut c, "DEL l v_a");
    });
}

/// `keyspace_hits` and `keyspace_misses` from INFO stats.
fn hits_and_misses(c: &mut RawConn) -> (u64, u64) {
    let info = call(c, "INFO stats");
    let text = String::from_utf8_lossy(&info).into_owned();
    let field = |name: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {name} in INFO"))
    };
    (field("keyspace_hits:"), field("keyspace_misses:"))
}

#[test]
fn every_lookup_counts_a_hit_or_a_miss() {
    let run = |addr: SocketAddr| {
        let mut c = RawConn::connect(addr);
        call(&mut c, "RPUSH l 1 2 3");
        call(&mut c, "MSET w_1 3 w_2 2");
        call(&mut c, "HSET h_1 f x");
        let before = hits_and_misses(&mut c);
        // The key (hit), three BY lookups (2 hits, 1 miss), three GET lookups through a hash
        // pattern (1 hit, 2 misses) and '#' (no lookup).
        call(&mut c, "SORT l BY w_* GET # GET h_*->f");
        // A missing key (miss), BY nosort (no lookups), STORE (no read lookup).
        call(&mut c, "SORT nokey BY nosort STORE dst");
        // LIMIT applies before GET: one GET lookup (hit).
        call(&mut c, "SORT_RO l LIMIT 0 1 GET w_*");
        let after = hits_and_misses(&mut c);
        call(&mut c, "DEL l w_1 w_2 h_1");
        (after.0 - before.0, after.1 - before.1)
    };
    let respd = TestServer::start();
    let ours = run(respd.addr());
    assert_eq!(ours, (6, 4));
    match RedisServer::start() {
        Some(redis) => assert_eq!(run(redis.addr()), ours, "Redis counts differently"),
        None => println!("SKIPPED: keyspace counters against redis-server (not installed)"),
    }
}
