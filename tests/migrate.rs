//! MIGRATE over real sockets: respd to respd, respd to a live Redis 7.0 and Redis to respd
//! (the DUMP payloads are the same format both ways), with COPY, REPLACE, KEYS, AUTH, the
//! target's errors and the propagation of the source's DEL. The errors that need no target
//! are pinned by tests/cases/generic/migrate_errors.case.

mod common;

use std::net::SocketAddr;

use common::{show, skip_note, RawConn, RedisServer, TestServer};

/// `MIGRATE 127.0.0.1 <port of to> <rest>`, sent on `from`.
fn migrate(from: &mut RawConn, to: SocketAddr, rest: &str) -> Vec<u8> {
    let port = to.port().to_string();
    let mut args: Vec<&[u8]> = vec![b"MIGRATE", b"127.0.0.1", port.as_bytes()];
    args.extend(
        rest.split(' ')
            .map(|w| if w == "\"\"" { &b""[..] } else { w.as_bytes() }),
    );
    from.cmd(&args)
}

fn int(reply: &[u8]) -> i64 {
    let text = std::str::from_utf8(reply).unwrap();
    assert!(text.starts_with(':'), "not an integer: {text:?}");
    text[1..].trim_end().parse().unwrap()
}

/// Moves, copies and replaces keys from `src` to `dst` (each a respd or a Redis) and checks
/// what both ends hold afterwards.
fn exercise(src_addr: SocketAddr, dst_addr: SocketAddr) {
    let mut src = RawConn::connect(src_addr);
    let mut dst = RawConn::connect(dst_addr);
    for conn in [&mut src, &mut dst] {
        assert_eq!(conn.words("FLUSHALL"), b"+OK\r\n");
    }
    // A plain move, with its TTL, into another database.
    src.words("RPUSH list a b c");
    src.words("PEXPIRE list 100000");
    assert_eq!(migrate(&mut src, dst_addr, "list 3 5000"), b"+OK\r\n");
    assert_eq!(src.words("EXISTS list"), b":0\r\n");
    dst.words("SELECT 3");
    assert_eq!(
        show(&dst.words("LRANGE list 0 -1")),
        show(b"*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n")
    );
    let ttl = int(&dst.words("PTTL list"));
    assert!(ttl > 0 && ttl <= 100000, "{ttl}");
    dst.words("SELECT 0");

    // The key exists there: the target's BUSYKEY comes back, and the key stays here.
    src.words("SET s here");
    dst.words("SET s there");
    assert_eq!(
        show(&migrate(&mut src, dst_addr, "s 0 5000")),
        show(
            b"-ERR Target instance replied with error: BUSYKEY Target key name already exists.\r\n"
        )
    );
    assert_eq!(src.words("GET s"), b"$4\r\nhere\r\n");
    // REPLACE overwrites it; COPY keeps the source.
    assert_eq!(
        migrate(&mut src, dst_addr, "s 0 5000 COPY REPLACE"),
        b"+OK\r\n"
    );
    assert_eq!(src.words("GET s"), b"$4\r\nhere\r\n");
    assert_eq!(dst.words("GET s"), b"$4\r\nhere\r\n");
    assert_eq!(dst.words("TTL s"), b":-1\r\n");

    // KEYS: several keys in one pipeline, missing ones skipped; one refused key fails the
    // call but the others are still moved (and deleted here).
    src.words("SADD set1 x y");
    src.words("HSET hash f v");
    dst.words("SET busy 1");
    src.words("SET busy 2");
    let reply = migrate(
        &mut src,
        dst_addr,
        "\"\" 0 5000 KEYS set1 missing busy hash",
    );
    assert_eq!(
        show(&reply),
        show(
            b"-ERR Target instance replied with error: BUSYKEY Target key name already exists.\r\n"
        )
    );
    assert_eq!(src.words("EXISTS set1 hash busy"), b":1\r\n");
    assert_eq!(dst.words("SCARD set1"), b":2\r\n");
    assert_eq!(dst.words("HGET hash f"), b"$1\r\nv\r\n");
    assert_eq!(dst.words("GET busy"), b"$1\r\n1\r\n");

    // The cached connection remembers database 0 was selected; after a target error it
    // selects again. Either way the next key lands in the right database.
    src.words("SET again 1");
    assert_eq!(migrate(&mut src, dst_addr, "again 5 5000"), b"+OK\r\n");
    dst.words("SELECT 5");
    assert_eq!(dst.words("GET again"), b"$1\r\n1\r\n");
    dst.words("SELECT 0");

    // A SELECT the target refuses is its error; nothing moves.
    src.words("SET x 1");
    assert_eq!(
        show(&migrate(&mut src, dst_addr, "x 99 5000")),
        show(b"-ERR Target instance replied with error: ERR DB index is out of range\r\n")
    );
    assert_eq!(src.words("EXISTS x"), b":1\r\n");
    assert_eq!(
        migrate(&mut src, dst_addr, "nosuchkey 0 5000"),
        b"+NOKEY\r\n"
    );
}

#[test]
fn migrate_between_two_respd() {
    let a = TestServer::start();
    let b = TestServer::start();
    exercise(a.addr(), b.addr());
    exercise(b.addr(), a.addr());
}

#[test]
fn migrate_between_respd_and_redis_both_ways() {
    let Some(redis) = RedisServer::start() else {
        return skip_note("MIGRATE between respd and redis-server");
    };
    let respd = TestServer::start();
    exercise(respd.addr(), redis.addr());
    exercise(redis.addr(), respd.addr());
}

#[test]
fn migrate_sends_auth_and_auth2() {
    let Some(redis) = RedisServer::start() else {
        return skip_note("MIGRATE AUTH to redis-server");
    };
    // Set after the start: the helper's readiness PING would not pass a password.
    assert_eq!(
        redis.conn().words("CONFIG SET requirepass secret"),
        b"+OK\r\n"
    );
    let respd = TestServer::start();
    let mut src = respd.conn();
    src.words("SET k v");
    assert_eq!(
        show(&migrate(&mut src, redis.addr(), "k 0 5000")),
        show(b"-ERR Target instance replied with error: NOAUTH Authentication required.\r\n")
    );
    assert_eq!(
        show(&migrate(&mut src, redis.addr(), "k 0 5000 AUTH wrong")),
        show(b"-ERR Target instance replied with error: WRONGPASS invalid username-password pair or user is disabled.\r\n")
    );
    assert_eq!(src.words("EXISTS k"), b":1\r\n");
    assert_eq!(
        migrate(&mut src, redis.addr(), "k 0 5000 COPY AUTH secret"),
        b"+OK\r\n"
    );
    assert_eq!(
        migrate(
            &mut src,
            redis.addr(),
            "k 0 5000 REPLACE AUTH2 default secret"
        ),
        b"+OK\r\n"
    );
    assert_eq!(src.words("EXISTS k"), b":0\r\n");
    let mut dst = redis.conn();
    dst.words("AUTH secret");
    assert_eq!(dst.words("GET k"), b"$1\r\nv\r\n");
}

/// A cached connection the target closed is noticed on the next MIGRATE, which reconnects
/// and succeeds (Redis retries once when nothing can have reached the target).
#[test]
fn a_cached_connection_closed_by_the_target_is_replaced() {
    let src = TestServer::start();
    let dst = TestServer::start();
    let mut conn = src.conn();
    conn.words("SET a 1");
    conn.words("SET b 2");
    assert_eq!(migrate(&mut conn, dst.addr(), "a 0 5000"), b"+OK\r\n");
    let mut target = dst.conn();
    // Kill every connection but this one: MIGRATE's cached one among them.
    assert_eq!(
        target.words("CLIENT KILL TYPE normal SKIPME yes"),
        b":1\r\n"
    );
    assert_eq!(migrate(&mut conn, dst.addr(), "b 0 5000"), b"+OK\r\n");
    assert_eq!(target.words("MGET a b"), b"*2\r\n$1\r\n1\r\n$1\r\n2\r\n");
}

/// The AOF gets the DEL of the keys the target acknowledged, not the MIGRATE (which would
/// migrate again on replay), and nothing for a COPY.
#[test]
fn the_source_propagates_del_of_the_moved_keys() {
    let dir = std::env::temp_dir().join(format!("respd-migrate-aof-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let dir_text = dir.to_string_lossy().into_owned();
    let src = TestServer::with_config(|c| {
        c.dir = dir_text.clone();
        c.appendonly = true;
        c.appendfsync = respd::config::AppendFsync::Always;
    });
    let dst = TestServer::start();
    let mut conn = src.conn();
    let mut target = dst.conn();
    conn.words("MSET k1 a k2 b k3 c");
    target.words("SET k3 taken");
    assert_eq!(migrate(&mut conn, dst.addr(), "k1 0 5000 COPY"), b"+OK\r\n");
    let reply = migrate(&mut conn, dst.addr(), "\"\" 0 5000 KEYS k1 k2 k3");
    assert!(reply.starts_with(b"-ERR Target instance replied with error: BUSYKEY"));
    assert_eq!(conn.words("EXISTS k1 k2 k3"), b":2\r\n");
    let aof = std::fs::read(dir.join("appendonly.aof")).unwrap();
    let aof = String::from_utf8_lossy(&aof);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(!aof.to_ascii_lowercase().contains("migrate"), "{aof}");
    // k1 (copied before) and k3 are refused there as BUSYKEY: only k2 moved.
    assert!(aof.ends_with("*2\r\n$3\r\nDEL\r\n$2\r\nk2\r\n"), "{aof}");
}
