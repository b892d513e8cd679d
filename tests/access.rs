//! What a key remembers of its accesses: OBJECT IDLETIME under LRU and other policies, OBJECT
//! FREQ under an LFU `maxmemory-policy`, and what RESTORE's IDLETIME and FREQ set, on respd
//! and on a live redis-server side by side.
//!
//! This file holds one test on purpose: the policy is process-wide in respd (as
//! `server.maxmemory_policy` is in Redis), so a test that changes it must not share its
//! process with other in-process servers.

mod common;

use common::{same_reply, skip_note, RedisServer, TestServer};

#[test]
fn idle_time_and_access_counter_follow_the_policy_as_in_redis() {
    let server = TestServer::start();
    let mut ours = server.conn();
    let redis = RedisServer::start();
    if redis.is_none() {
        skip_note("access tracking compared with redis-server");
    }
    let mut theirs = redis.as_ref().map(|r| r.conn());

    same_reply(&mut ours, &mut theirs, &[b"SET", b"foo", b"bar"]);
    let payload = ours.cmd(&[b"DUMP", b"foo"]);
    let payload =
        &payload[payload.iter().position(|&b| b == b'\n').unwrap() + 1..payload.len() - 2];
    same_reply(&mut ours, &mut theirs, &[b"DEL", b"foo"]);

    // Under the default policy (noeviction: LRU-style tracking) there is no counter.
    let not_lfu = same_reply(&mut ours, &mut theirs, &[b"OBJECT", b"FREQ", b"missing"]);
    assert_eq!(not_lfu, b"$-1\r\n");
    same_reply(&mut ours, &mut theirs, &[b"SET", b"k", b"v"]);
    let err = same_reply(&mut ours, &mut theirs, &[b"OBJECT", b"FREQ", b"k"]);
    assert!(err.starts_with(b"-ERR An LFU maxmemory policy is not selected"));
    // RESTORE ... IDLETIME applies, FREQ is accepted and ignored.
    same_reply(
        &mut ours,
        &mut theirs,
        &[b"RESTORE", b"old", b"0", payload, b"IDLETIME", b"1000"],
    );
    assert_eq!(ours.cmd(&[b"OBJECT", b"IDLETIME", b"old"]), b":1000\r\n");
    same_reply(
        &mut ours,
        &mut theirs,
        &[b"RESTORE", b"f", b"0", payload, b"FREQ", b"100"],
    );
    same_reply(&mut ours, &mut theirs, &[b"OBJECT", b"IDLETIME", b"f"]);

    // An LFU policy: counters, starting at LFU_INIT_VAL (5) for a new key.
    same_reply(
        &mut ours,
        &mut theirs,
        &[b"CONFIG", b"SET", b"maxmemory-policy", b"allkeys-lfu"],
    );
    let err = same_reply(&mut ours, &mut theirs, &[b"OBJECT", b"IDLETIME", b"k"]);
    assert!(err.starts_with(b"-ERR An LFU maxmemory policy is selected, idle time not tracked"));
    same_reply(
        &mut ours,
        &mut theirs,
        &[b"RESTORE", b"foo", b"0", payload, b"FREQ", b"100"],
    );
    assert_eq!(
        same_reply(&mut ours, &mut theirs, &[b"OBJECT", b"FREQ", b"foo"]),
        b":100\r\n"
    );
    // Not an integer value: Redis shares the integers 0..9999 (one object, one field for all
    // of them, whatever their keys' accesses), which respd does not imitate.
    same_reply(&mut ours, &mut theirs, &[b"SET", b"new", b"abc"]);
    assert_eq!(
        same_reply(&mut ours, &mut theirs, &[b"OBJECT", b"FREQ", b"new"]),
        b":5\r\n"
    );
    // Each access below the initial value counts for sure: five reads make 5 -> 6 at least.
    for _ in 0..5 {
        same_reply(&mut ours, &mut theirs, &[b"GET", b"new"]);
    }
    let grown = ours.cmd(&[b"OBJECT", b"FREQ", b"new"]);
    assert!(grown.as_slice() > b":5\r\n".as_slice(), "{grown:?}");
    // IDLETIME given under LFU is ignored; the key starts at the initial counter.
    same_reply(
        &mut ours,
        &mut theirs,
        &[b"RESTORE", b"i", b"0", payload, b"IDLETIME", b"50"],
    );
    assert_eq!(
        same_reply(&mut ours, &mut theirs, &[b"OBJECT", b"FREQ", b"i"]),
        b":5\r\n"
    );

    // Back to an LRU policy: the fields are not converted, as in Redis ("will take some time
    // to adjust"), so only the error is compared.
    same_reply(
        &mut ours,
        &mut theirs,
        &[b"CONFIG", b"SET", b"maxmemory-policy", b"allkeys-lru"],
    );
    same_reply(&mut ours, &mut theirs, &[b"OBJECT", b"FREQ", b"foo"]);
    same_reply(
        &mut ours,
        &mut theirs,
        &[b"CONFIG", b"SET", b"maxmemory-policy", b"noeviction"],
    );
}
