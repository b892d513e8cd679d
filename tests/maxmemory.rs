//! `maxmemory` and eviction (see `src/evict.rs`).
//!
//! What is deterministic is compared with a live redis-server 7.0 byte for byte: with a limit
//! of 1 byte and `noeviction` (or a volatile policy and no key with a TTL), which commands are
//! refused and with what error, in and out of MULTI. What depends on the memory model (which
//! keys go, how many) is checked on respd alone: under every policy, writing many keys keeps
//! INFO's used_memory within one key of the limit, volatile policies never evict a key
//! without a TTL, and each eviction publishes an `evicted` event and counts in INFO.
//!
//! The LFU/LRU choice is process-wide in respd (see `src/store/access.rs`), so the policies
//! are all exercised by one test, in turn.

mod common;

use common::{skip_note, RawConn, RedisServer, TestServer};

/// Runs `cmd` on respd and, when it is there, on redis-server; the replies must be equal.
fn both(ours: &mut RawConn, theirs: &mut Option<RawConn>, cmd: &[&[u8]]) -> Vec<u8> {
    let mine = ours.cmd(cmd);
    if let Some(redis) = theirs.as_mut() {
        let reference = redis.cmd(cmd);
        assert_eq!(
            String::from_utf8_lossy(&mine),
            String::from_utf8_lossy(&reference),
            "{:?}",
            cmd.iter()
                .map(|a| String::from_utf8_lossy(a))
                .collect::<Vec<_>>()
        );
    }
    mine
}

const OOM: &[u8] = b"-OOM command not allowed when used memory > 'maxmemory'.\r\n";

#[test]
fn over_the_limit_with_nothing_to_evict_writes_are_refused_as_in_redis() {
    let server = TestServer::start();
    let redis = RedisServer::start();
    if redis.is_none() {
        skip_note("maxmemory refusals compared with redis-server");
    }
    let mut ours = server.conn();
    let mut theirs = redis.as_ref().map(|r| r.conn());
    // A second connection on each side, to change the limit while a MULTI is open.
    let mut ours_admin = server.conn();
    let mut theirs_admin = redis.as_ref().map(|r| r.conn());

    both(&mut ours, &mut theirs, &[b"SET", b"present", b"v"]);
    both(&mut ours, &mut theirs, &[b"SET", b"x", b"1"]);
    both(
        &mut ours,
        &mut theirs,
        &[b"CONFIG", b"SET", b"maxmemory", b"1"],
    );
    assert_eq!(both(&mut ours, &mut theirs, &[b"SET", b"k", b"v"]), OOM);
    both(&mut ours, &mut theirs, &[b"LPUSH", b"l", b"a"]);
    both(&mut ours, &mut theirs, &[b"APPEND", b"present", b"more"]);
    // Reads and deletions are allowed: they do not grow memory.
    assert_eq!(
        both(&mut ours, &mut theirs, &[b"GET", b"present"]),
        b"$1\r\nv\r\n"
    );
    both(&mut ours, &mut theirs, &[b"EXISTS", b"k"]);
    assert_eq!(
        both(&mut ours, &mut theirs, &[b"DEL", b"present"]),
        b":1\r\n"
    );
    both(&mut ours, &mut theirs, &[b"PING"]);
    both(&mut ours, &mut theirs, &[b"INFO", b"nosuchsection"]);
    // volatile-* with no key carrying a TTL: nothing to evict either.
    both(
        &mut ours,
        &mut theirs,
        &[b"CONFIG", b"SET", b"maxmemory-policy", b"volatile-random"],
    );
    assert_eq!(both(&mut ours, &mut theirs, &[b"INCR", b"x"]), OOM);
    both(
        &mut ours,
        &mut theirs,
        &[b"CONFIG", b"SET", b"maxmemory-policy", b"noeviction"],
    );

    // Inside MULTI every queued command is refused, reads included, and dooms the EXEC;
    // DISCARD is not refused.
    both(&mut ours, &mut theirs, &[b"MULTI"]);
    assert_eq!(both(&mut ours, &mut theirs, &[b"GET", b"x"]), OOM);
    both(&mut ours, &mut theirs, &[b"EXEC"]);
    both(&mut ours, &mut theirs, &[b"MULTI"]);
    both(&mut ours, &mut theirs, &[b"PING"]);
    both(&mut ours, &mut theirs, &[b"DISCARD"]);

    // A write queued under the limit: the EXEC finds memory over it and aborts.
    both(
        &mut ours,
        &mut theirs,
        &[b"CONFIG", b"SET", b"maxmemory", b"0"],
    );
    both(&mut ours, &mut theirs, &[b"MULTI"]);
    both(&mut ours, &mut theirs, &[b"SET", b"queued", b"v"]);
    let limit: &[&[u8]] = &[b"CONFIG", b"SET", b"maxmemory", b"1"];
    both(&mut ours_admin, &mut theirs_admin, limit);
    let exec = both(&mut ours, &mut theirs, &[b"EXEC"]);
    assert!(exec.starts_with(b"-EXECABORT Transaction discarded because of: OOM"));
    // An EXEC of reads only runs.
    both(
        &mut ours,
        &mut theirs,
        &[b"CONFIG", b"SET", b"maxmemory", b"0"],
    );
    both(&mut ours, &mut theirs, &[b"MULTI"]);
    both(&mut ours, &mut theirs, &[b"GET", b"x"]);
    both(&mut ours_admin, &mut theirs_admin, limit);
    assert_eq!(
        both(&mut ours, &mut theirs, &[b"EXEC"]),
        b"*1\r\n$1\r\n1\r\n"
    );
    both(
        &mut ours,
        &mut theirs,
        &[b"CONFIG", b"SET", b"maxmemory", b"0"],
    );
    both(&mut ours, &mut theirs, &[b"SET", b"k", b"v"]);
}

/// One field of INFO, as text.
fn info_field(conn: &mut RawConn, name: &str) -> String {
    let reply = conn.cmd(&[b"INFO", b"everything"]);
    let text = String::from_utf8_lossy(&reply).into_owned();
    text.lines()
        .find_map(|line| line.strip_prefix(&format!("{name}:")))
        .unwrap_or_else(|| panic!("INFO has no {name}"))
        .to_string()
}

fn info_u64(conn: &mut RawConn, name: &str) -> u64 {
    info_field(conn, name).parse().unwrap()
}

#[test]
fn every_policy_keeps_used_memory_under_the_limit_and_volatile_ones_spare_persistent_keys() {
    let server = TestServer::start();
    let mut c = server.conn();
    let mut events = server.conn();
    c.cmd(&[b"CONFIG", b"SET", b"notify-keyspace-events", b"Ee"]);
    events.cmd(&[b"SUBSCRIBE", b"__keyevent@0__:evicted"]);
    let value = vec![b'v'; 100];
    for policy in [
        "allkeys-lru",
        "allkeys-lfu",
        "allkeys-random",
        "volatile-lru",
        "volatile-lfu",
        "volatile-random",
        "volatile-ttl",
    ] {
        let volatile = policy.starts_with("volatile");
        c.cmd(&[b"CONFIG", b"SET", b"maxmemory", b"0"]);
        c.cmd(&[b"FLUSHALL"]);
        c.cmd(&[b"CONFIG", b"RESETSTAT"]);
        c.cmd(&[b"CONFIG", b"SET", b"maxmemory-policy", policy.as_bytes()]);
        // Persistent keys first (they must all survive a volatile policy), then room for a
        // few hundred more keys.
        for i in 0..50 {
            c.cmd(&[b"SET", format!("keep:{i}").as_bytes(), &value]);
        }
        let limit = info_u64(&mut c, "used_memory") + 40 * 1024;
        c.cmd(&[
            b"CONFIG",
            b"SET",
            b"maxmemory",
            limit.to_string().as_bytes(),
        ]);
        assert_eq!(info_u64(&mut c, "maxmemory"), limit);
        assert_eq!(info_field(&mut c, "maxmemory_policy"), policy);
        for i in 0..2000 {
            let key = format!("{policy}:{i}");
            let reply = c.cmd(&[b"SET", key.as_bytes(), &value, b"EX", b"10000"]);
            assert_eq!(reply, b"+OK\r\n", "{policy} write {i}");
            if i % 200 == 0 {
                // Evicted before this write: at most this one key over the limit.
                let used = info_u64(&mut c, "used_memory");
                assert!(used < limit + 4096, "{policy}: {used} over {limit}");
            }
        }
        let used = info_u64(&mut c, "used_memory");
        assert!(used < limit + 4096, "{policy}: {used} over {limit}");
        let evicted = info_u64(&mut c, "evicted_keys");
        assert!(evicted > 0, "{policy} evicted nothing");
        if volatile {
            for i in 0..50 {
                let exists = c.cmd(&[b"EXISTS", format!("keep:{i}").as_bytes()]);
                assert_eq!(exists, b":1\r\n", "{policy} evicted keep:{i}");
            }
        }
        // Every eviction was published, in order with the rest.
        for _ in 0..evicted {
            let message = events.reply().unwrap();
            let text = String::from_utf8_lossy(&message);
            assert!(text.contains("__keyevent@0__:evicted"), "{text}");
        }
    }
    // A volatile policy with only persistent keys left refuses the write.
    c.cmd(&[b"CONFIG", b"SET", b"maxmemory", b"0"]);
    c.cmd(&[b"FLUSHALL"]);
    c.cmd(&[b"SET", b"persistent", &value]);
    c.cmd(&[b"CONFIG", b"SET", b"maxmemory-policy", b"volatile-lru"]);
    c.cmd(&[b"CONFIG", b"SET", b"maxmemory", b"1"]);
    assert_eq!(c.cmd(&[b"SET", b"more", b"v"]), OOM);
    assert_eq!(c.cmd(&[b"EXISTS", b"persistent"]), b":1\r\n");
    c.cmd(&[b"CONFIG", b"SET", b"maxmemory-policy", b"noeviction"]);
}
