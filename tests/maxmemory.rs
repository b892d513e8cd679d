//! `maxmemory` and eviction (see `src/evict.rs`).
//!
//! What is deterministic is compared with a live redis-server 7.0 byte for byte: with a limit
//! of 1 byte and `noeviction` (or a volatile policy and no key with a TTL), which commands are
//! refused and with what error, in and out of MULTI; every deny-oom command respd has, and the
//! writes that are not refused; with a limit nothing fits under, which keys each of the eight
//! policies evicts (all, those with a TTL, none) once CONFIG SET lowers the limit, and INFO's
//! evicted_keys and errorstats. What depends on the memory model (which
//! keys go, how many) is checked on respd alone: under every policy, writing many keys keeps
//! INFO's used_memory within one key of the limit, volatile policies never evict a key
//! without a TTL, and each eviction publishes an `evicted` event and counts in INFO.
//!
//! The LFU/LRU choice is process-wide in respd (see `src/store/access.rs`), so the policies
//! are all exercised by one test, in turn.

mod common;

use common::{same_reply, skip_note, RawConn, RedisServer, TestServer};

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

    same_reply(&mut ours, &mut theirs, &[b"SET", b"present", b"v"]);
    same_reply(&mut ours, &mut theirs, &[b"SET", b"x", b"1"]);
    same_reply(
        &mut ours,
        &mut theirs,
        &[b"CONFIG", b"SET", b"maxmemory", b"1"],
    );
    assert_eq!(
        same_reply(&mut ours, &mut theirs, &[b"SET", b"k", b"v"]),
        OOM
    );
    same_reply(&mut ours, &mut theirs, &[b"LPUSH", b"l", b"a"]);
    same_reply(&mut ours, &mut theirs, &[b"APPEND", b"present", b"more"]);
    // Reads and deletions are allowed: they do not grow memory.
    assert_eq!(
        same_reply(&mut ours, &mut theirs, &[b"GET", b"present"]),
        b"$1\r\nv\r\n"
    );
    same_reply(&mut ours, &mut theirs, &[b"EXISTS", b"k"]);
    assert_eq!(
        same_reply(&mut ours, &mut theirs, &[b"DEL", b"present"]),
        b":1\r\n"
    );
    same_reply(&mut ours, &mut theirs, &[b"PING"]);
    same_reply(&mut ours, &mut theirs, &[b"INFO", b"nosuchsection"]);
    // volatile-* with no key carrying a TTL: nothing to evict either.
    same_reply(
        &mut ours,
        &mut theirs,
        &[b"CONFIG", b"SET", b"maxmemory-policy", b"volatile-random"],
    );
    assert_eq!(same_reply(&mut ours, &mut theirs, &[b"INCR", b"x"]), OOM);
    same_reply(
        &mut ours,
        &mut theirs,
        &[b"CONFIG", b"SET", b"maxmemory-policy", b"noeviction"],
    );

    // Inside MULTI every queued command is refused, reads included, and dooms the EXEC;
    // DISCARD is not refused.
    same_reply(&mut ours, &mut theirs, &[b"MULTI"]);
    assert_eq!(same_reply(&mut ours, &mut theirs, &[b"GET", b"x"]), OOM);
    same_reply(&mut ours, &mut theirs, &[b"EXEC"]);
    same_reply(&mut ours, &mut theirs, &[b"MULTI"]);
    same_reply(&mut ours, &mut theirs, &[b"PING"]);
    same_reply(&mut ours, &mut theirs, &[b"DISCARD"]);

    // A write queued under the limit: the EXEC finds memory over it and aborts.
    same_reply(
        &mut ours,
        &mut theirs,
        &[b"CONFIG", b"SET", b"maxmemory", b"0"],
    );
    same_reply(&mut ours, &mut theirs, &[b"MULTI"]);
    same_reply(&mut ours, &mut theirs, &[b"SET", b"queued", b"v"]);
    let limit: &[&[u8]] = &[b"CONFIG", b"SET", b"maxmemory", b"1"];
    same_reply(&mut ours_admin, &mut theirs_admin, limit);
    let exec = same_reply(&mut ours, &mut theirs, &[b"EXEC"]);
    assert!(exec.starts_with(b"-EXECABORT Transaction discarded because of: OOM"));
    // An EXEC of reads only runs.
    same_reply(
        &mut ours,
        &mut theirs,
        &[b"CONFIG", b"SET", b"maxmemory", b"0"],
    );
    same_reply(&mut ours, &mut theirs, &[b"MULTI"]);
    same_reply(&mut ours, &mut theirs, &[b"GET", b"x"]);
    same_reply(&mut ours_admin, &mut theirs_admin, limit);
    assert_eq!(
        same_reply(&mut ours, &mut theirs, &[b"EXEC"]),
        b"*1\r\n$1\r\n1\r\n"
    );
    same_reply(
        &mut ours,
        &mut theirs,
        &[b"CONFIG", b"SET", b"maxmemory", b"0"],
    );
    same_reply(&mut ours, &mut theirs, &[b"SET", b"k", b"v"]);
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

/// The keys of every database, sorted, as `db:key` lines.
fn all_keys(conn: &mut RawConn) -> Vec<String> {
    let mut keys = vec![];
    for db in [b"0".as_slice(), b"3"] {
        conn.cmd(&[b"SELECT", db]);
        let reply = conn.cmd(&[b"KEYS", b"*"]);
        let text = String::from_utf8_lossy(&reply).into_owned();
        // Every other line of a flat array of bulk strings is a key.
        let lines: Vec<&str> = text.split("\r\n").collect();
        for key in lines.iter().skip(2).step_by(2) {
            if !key.is_empty() {
                keys.push(format!("{}:{key}", String::from_utf8_lossy(db)));
            }
        }
    }
    conn.cmd(&[b"SELECT", b"0"]);
    keys.sort();
    keys
}

/// What each policy evicts when the limit drops below anything that can fit (1 byte), as
/// Redis: every key for the `allkeys-*` policies, every key with a TTL (of every type, in
/// every database) for the `volatile-*` ones, nothing for `noeviction`. The limit is lowered
/// by CONFIG SET; Redis evicts from a timer it starts there and before the next command, respd
/// right after the CONFIG SET. Then a write is refused all the same (nothing fits), and
/// INFO's evicted_keys says how many went.
#[test]
fn each_policy_evicts_the_keys_redis_evicts_after_the_limit_is_lowered() {
    let server = TestServer::start();
    let redis = RedisServer::start();
    if redis.is_none() {
        skip_note("evictions per policy compared with redis-server");
    }
    let mut ours = server.conn();
    let mut theirs = redis.as_ref().map(|r| r.conn());
    for policy in [
        "noeviction",
        "allkeys-lru",
        "allkeys-lfu",
        "allkeys-random",
        "volatile-lru",
        "volatile-lfu",
        "volatile-random",
        "volatile-ttl",
    ] {
        let run = |ours: &mut RawConn, theirs: &mut Option<RawConn>, line: &str| {
            let args: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
            same_reply(ours, theirs, &args)
        };
        for line in [
            "CONFIG SET maxmemory 0",
            "FLUSHALL",
            "CONFIG RESETSTAT",
            &format!("CONFIG SET maxmemory-policy {policy}"),
        ] {
            run(&mut ours, &mut theirs, line);
        }
        for db in ["0", "3"] {
            run(&mut ours, &mut theirs, &format!("SELECT {db}"));
            for line in [
                "SET string v",
                "RPUSH list a b",
                "HSET hash f v",
                "SADD set m",
                "ZADD zset 1 m",
                "SET string-ttl v EX 1000",
                "RPUSH list-ttl a",
                "EXPIRE list-ttl 2000",
                "HSET hash-ttl f v",
                "PEXPIRE hash-ttl 3000000",
                "SADD set-ttl m",
                "EXPIRE set-ttl 500",
                "ZADD zset-ttl 1 m",
                "EXPIRE zset-ttl 100",
            ] {
                run(&mut ours, &mut theirs, line);
            }
        }
        run(&mut ours, &mut theirs, "SELECT 0");
        run(&mut ours, &mut theirs, "CONFIG SET maxmemory 1");
        let our_keys = all_keys(&mut ours);
        if let Some(redis) = theirs.as_mut() {
            assert_eq!(our_keys, all_keys(redis), "{policy}: keys left");
        }
        let left = match policy {
            "noeviction" => 20,
            p if p.starts_with("volatile") => 10,
            _ => 0,
        };
        assert_eq!(our_keys.len(), left, "{policy}: {our_keys:?}");
        assert_eq!(info_u64(&mut ours, "evicted_keys"), 20 - left as u64);
        if let Some(redis) = theirs.as_mut() {
            assert_eq!(info_u64(redis, "evicted_keys"), 20 - left as u64);
        }
        assert_eq!(run(&mut ours, &mut theirs, "SET more v"), OOM, "{policy}");
        assert_eq!(
            run(&mut ours, &mut theirs, "DBSIZE"),
            format!(":{}\r\n", left / 2).as_bytes()
        );
        run(&mut ours, &mut theirs, "CONFIG SET maxmemory 0");
    }
    run_reset(&mut ours, &mut theirs);
}

fn run_reset(ours: &mut RawConn, theirs: &mut Option<RawConn>) {
    same_reply(
        ours,
        theirs,
        &[b"CONFIG", b"SET", b"maxmemory-policy", b"noeviction"],
    );
    same_reply(ours, theirs, &[b"FLUSHALL"]);
}

/// Every deny-oom command respd has (Redis's `denyoom` flag) is refused over the limit with
/// the same bytes as Redis, whatever its arguments; writes that cannot grow memory (deletions,
/// pops, TTL changes, RENAME) and reads still run. INFO errorstats counts the refusals alike.
#[test]
fn every_denyoom_command_is_refused_and_the_others_run_as_in_redis() {
    let server = TestServer::start();
    let redis = RedisServer::start();
    if redis.is_none() {
        skip_note("deny-oom commands compared with redis-server");
    }
    let mut ours = server.conn();
    let mut theirs = redis.as_ref().map(|r| r.conn());
    let run = |ours: &mut RawConn, theirs: &mut Option<RawConn>, line: &str| {
        let args: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
        same_reply(ours, theirs, &args)
    };
    for line in [
        "SET s 10",
        "RPUSH l a b c",
        "HSET h f 1",
        "SADD st a b",
        "ZADD z 1 a 2 b",
        "PFADD hll a",
        "CONFIG RESETSTAT",
        "CONFIG SET maxmemory 1",
    ] {
        run(&mut ours, &mut theirs, line);
    }
    let denyoom = [
        "APPEND s x",
        "BITFIELD s SET u8 0 1",
        "BITFIELD s GET u8 0",
        "BITOP AND dest s s",
        "BLMOVE l l2 LEFT RIGHT 0",
        "BRPOPLPUSH l l2 0",
        "COPY s s2",
        "DECR s",
        "DECRBY s 1",
        "GETSET s 1",
        "HINCRBY h f 1",
        "HINCRBYFLOAT h f 1.5",
        "HMSET h f v",
        "HSET h f v",
        "HSETNX h g v",
        "INCR s",
        "INCRBY s 1",
        "INCRBYFLOAT s 1.5",
        "LINSERT l BEFORE a x",
        "LMOVE l l2 LEFT RIGHT",
        "LPUSH l x",
        "LPUSHX l x",
        "LSET l 0 x",
        "MSET a 1 b 2",
        "MSETNX a 1",
        "PFADD hll b",
        "PFMERGE hll hll",
        "PSETEX s 1000 v",
        "RESTORE new 0 not-a-payload",
        "RPOPLPUSH l l2",
        "RPUSH l x",
        "RPUSHX l x",
        "SADD st x",
        "SDIFFSTORE d st",
        "SET s v",
        "SETBIT s 0 1",
        "SETEX s 10 v",
        "SETNX n v",
        "SETRANGE s 0 x",
        "SINTERSTORE d st",
        "SORT l",
        "SORT l STORE d",
        "SUNIONSTORE d st",
        "ZADD z 1 m",
        "ZDIFFSTORE d 1 z",
        "ZINCRBY z 1 m",
        "ZINTERSTORE d 1 z",
        "ZRANGESTORE d z 0 -1",
        "ZUNIONSTORE d 1 z",
    ];
    for line in denyoom {
        assert_eq!(run(&mut ours, &mut theirs, line), OOM, "{line}");
    }
    for line in [
        "GET s",
        "SORT_RO l",
        "EXISTS s l h st z",
        "EXPIRE s 100",
        "PERSIST s",
        "LPOP l",
        "RPOP l",
        "SREM st b",
        "SPOP st",
        "HDEL h f",
        "ZREM z a",
        "ZPOPMIN z",
        "RENAME hll hll2",
        "GETDEL s",
        "DEL hll2",
        "UNLINK nokey",
        "DBSIZE",
        "PING",
    ] {
        run(&mut ours, &mut theirs, line);
    }
    let oom_count = |conn: &mut RawConn| {
        let text = String::from_utf8_lossy(&conn.cmd(&[b"INFO", b"errorstats"])).into_owned();
        text.lines()
            .find(|l| l.starts_with("errorstat_OOM:"))
            .map(str::to_string)
    };
    let ours_count = oom_count(&mut ours);
    assert_eq!(
        ours_count,
        Some(format!("errorstat_OOM:count={}", denyoom.len()))
    );
    if let Some(redis) = theirs.as_mut() {
        assert_eq!(ours_count, oom_count(redis));
    }
    run(&mut ours, &mut theirs, "CONFIG SET maxmemory 0");
}
