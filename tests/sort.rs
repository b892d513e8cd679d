//! SORT behaviour the case files cannot pin: the RESP3 nil of a GET that finds nothing (a
//! HELLO 3 reply carries the client id, so RESP3 stays out of case files), and the keyspace
//! hit and miss counters, which INFO reports with values that move between runs.
//!
//! Every check runs against respd and, when `redis-server` is installed, against a private
//! Redis 7.0 too: the rules asserted here are Redis's, so Redis must pass them as well.

mod common;

use std::net::SocketAddr;

use common::{
    keyspace_hits_and_misses, on_respd_and_own_redis, show, RawConn, RedisServer, TestServer,
};

#[test]
fn resp3_get_of_a_missing_key_is_null() {
    on_respd_and_own_redis("resp3_get_of_a_missing_key_is_null", |_, addr| {
        let mut c = RawConn::connect(addr);
        c.words("HELLO 3");
        c.words("RPUSH l b a");
        c.words("SET v_a 1");
        let reply = c.words("SORT l ALPHA GET # GET v_*");
        assert_eq!(
            reply,
            b"*4\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n_\r\n",
            "{}",
            show(&reply)
        );
        // The reply stays an array (not a RESP3 set), as in Redis.
        let reply = c.words("SORT_RO l ALPHA DESC");
        assert_eq!(reply, b"*2\r\n$1\r\nb\r\n$1\r\na\r\n", "{}", show(&reply));
        c.words("DEL l v_a");
    });
}

#[test]
fn every_lookup_counts_a_hit_or_a_miss() {
    let run = |addr: SocketAddr| {
        let mut c = RawConn::connect(addr);
        c.words("RPUSH l 1 2 3");
        c.words("MSET w_1 3 w_2 2");
        c.words("HSET h_1 f x");
        let before = keyspace_hits_and_misses(&mut c);
        // The key (hit), three BY lookups (2 hits, 1 miss), three GET lookups through a hash
        // pattern (1 hit, 2 misses) and '#' (no lookup).
        c.words("SORT l BY w_* GET # GET h_*->f");
        // A missing key (miss), BY nosort (no lookups), STORE (no read lookup).
        c.words("SORT nokey BY nosort STORE dst");
        // LIMIT applies before GET: one GET lookup (hit).
        c.words("SORT_RO l LIMIT 0 1 GET w_*");
        let after = keyspace_hits_and_misses(&mut c);
        c.words("DEL l w_1 w_2 h_1");
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
