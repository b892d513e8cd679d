//! Streams across connections and files, against a live redis-server: blocked XREAD and
//! XREADGROUP served by another client's XADD (in the order they blocked), woken with an
//! error when their group or key goes away, answered at once inside MULTI; RESP3 shapes; DUMP
//! payloads and RDB files moving both ways; the AOF (records and rewrite) replaying to the
//! same stream, with no acknowledged XADD lost to `kill -9`; keyspace events; a redis-server
//! replica of respd ending with the same streams. The replies to single commands, errors
//! included, are pinned by tests/cases/stream/*.case.
//!
//! `stream-node-max-entries` is process-wide in respd (see `store::encoding_limits`): the
//! tests that set it compare nothing that depends on node boundaries of an in-process server.

mod common;
#[path = "common/process.rs"]
mod process;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::{encode, show, skip_note, RawConn, RedisServer, TestServer};
use process::{kill9, start, TempDir};

/// Held by every test of this file: some set `stream-node-max-entries`, which is
/// process-wide in respd (each respd started in this process publishes it again), so the
/// tests run one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn blocked_clients(conn: &mut RawConn) -> u64 {
    let info = conn.cmd(&[b"INFO", b"clients"]);
    String::from_utf8_lossy(&info)
        .lines()
        .find_map(|l| {
            l.strip_prefix("blocked_clients:")
                .map(|v| v.trim().parse().unwrap())
        })
        .unwrap_or(0)
}

/// Waits until `n` clients are blocked (no timing is asserted: this only orders the steps).
fn wait_blocked(conn: &mut RawConn, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while blocked_clients(conn) != n {
        assert!(Instant::now() < deadline, "expected {n} blocked clients");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Sends a command on `conn` without reading its reply.
fn send(conn: &mut RawConn, line: &str) {
    let args: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
    conn.send(&encode(&args));
}

/// The blocking scenario, run on one server; returns every reply in order.
fn blocking_scenario(addr: SocketAddr) -> Vec<Vec<u8>> {
    let mut main = RawConn::connect(addr);
    let mut a = RawConn::connect(addr);
    let mut b = RawConn::connect(addr);
    let mut out = Vec::new();
    out.push(main.words("FLUSHALL"));
    // XREAD on a missing key with $, served by the XADD that creates it.
    send(&mut a, "XREAD BLOCK 0 STREAMS s $");
    wait_blocked(&mut main, 1);
    out.push(main.words("XADD s 1-1 a 1"));
    out.push(a.reply().unwrap());
    // Two group readers: first blocked, first served; the second waits for the next entry.
    out.push(main.words("XGROUP CREATE s g $"));
    send(&mut a, "XREADGROUP GROUP g alice BLOCK 0 STREAMS s >");
    wait_blocked(&mut main, 1);
    send(&mut b, "XREADGROUP GROUP g bob BLOCK 0 COUNT 1 STREAMS s >");
    wait_blocked(&mut main, 2);
    out.push(main.words("XADD s 2-1 b 2"));
    out.push(a.reply().unwrap());
    wait_blocked(&mut main, 1);
    out.push(main.words("XADD s 3-1 c 3"));
    out.push(b.reply().unwrap());
    out.push(main.words("XPENDING s g"));
    // Served inside a transaction: after EXEC, with everything it added.
    send(&mut a, "XREAD BLOCK 0 COUNT 10 STREAMS s $");
    wait_blocked(&mut main, 1);
    out.push(main.words("MULTI"));
    out.push(main.words("XADD s 4-1 d 4"));
    out.push(main.words("XADD s 5-1 e 5"));
    out.push(main.words("EXEC"));
    out.push(a.reply().unwrap());
    // The group is destroyed, then the key deleted, under blocked group readers (who first
    // read what is there).
    out.push(main.words("XREADGROUP GROUP g zed STREAMS s >"));
    send(&mut a, "XREADGROUP GROUP g alice BLOCK 0 STREAMS s >");
    wait_blocked(&mut main, 1);
    out.push(main.words("XGROUP DESTROY s g"));
    out.push(a.reply().unwrap());
    out.push(main.words("XGROUP CREATE s g $"));
    send(&mut a, "XREADGROUP GROUP g alice BLOCK 0 STREAMS s >");
    wait_blocked(&mut main, 1);
    out.push(main.words("DEL s"));
    out.push(a.reply().unwrap());
    // A plain XREAD stays blocked when its key is deleted, and is served when it comes back.
    send(&mut a, "XREAD BLOCK 0 STREAMS s2 0");
    wait_blocked(&mut main, 1);
    out.push(main.words("SET s2 notastream"));
    out.push(main.words("DEL s2"));
    out.push(main.words("XADD s2 9-9 z z"));
    out.push(a.reply().unwrap());
    // CLIENT UNBLOCK, with the timeout reply and with the error.
    let id = a.words("CLIENT ID");
    let id = std::str::from_utf8(&id[1..id.len() - 2])
        .unwrap()
        .to_string();
    for how in ["TIMEOUT", "ERROR"] {
        send(&mut a, "XREADGROUP GROUP g alice BLOCK 0 STREAMS s2 >");
        out.push(a.reply().unwrap()); // NOGROUP: no group on s2 yet
        send(&mut a, "XREAD BLOCK 0 STREAMS s2 $");
        wait_blocked(&mut main, 1);
        out.push(main.words(&format!("CLIENT UNBLOCK {id} {how}")));
        out.push(a.reply().unwrap());
    }
    // Inside MULTI a blocking read answers at once.
    out.push(main.words("MULTI"));
    out.push(main.words("XREAD BLOCK 0 STREAMS nothing $"));
    out.push(main.words("EXEC"));
    // A timeout answers null.
    out.push(main.words("XREAD BLOCK 20 STREAMS nothing $"));
    out.push(main.words("XREADGROUP GROUP nog c BLOCK 20 STREAMS s2 >"));
    out
}

#[test]
fn blocked_readers_are_served_and_woken_as_redis_does() {
    let _serial = serial();
    let respd = TestServer::start();
    let ours = blocking_scenario(respd.addr());
    let Some(redis) = RedisServer::start() else {
        return skip_note("blocked_readers_are_served_and_woken_as_redis_does");
    };
    let theirs = blocking_scenario(redis.addr());
    for (i, (o, t)) in ours.iter().zip(&theirs).enumerate() {
        assert_eq!(show(o), show(t), "reply {i}");
    }
    assert_eq!(ours.len(), theirs.len());
}

/// Stream replies in RESP3, on one server.
fn resp3_scenario(addr: SocketAddr) -> Vec<Vec<u8>> {
    let mut c = RawConn::connect(addr);
    c.words("FLUSHALL");
    c.words("HELLO 3"); // its reply names the client id: not compared
    [
        "XADD s 1-1 a 1",
        "XADD s 2-1 b 2",
        "XADD t 1-1 c 3",
        "XREAD STREAMS s t 0 0",
        "XREAD COUNT 1 STREAMS s t 0 0",
        "XREAD STREAMS s 5",
        "XRANGE s - + COUNT 0",
        "XGROUP CREATE s g 0",
        "XREADGROUP GROUP g c STREAMS s >",
        "XREADGROUP GROUP g c STREAMS s >",
        "XDEL s 1-1",
        "XREADGROUP GROUP g c STREAMS s 0",
        "XINFO STREAM s",
        "XINFO GROUPS s",
        "XPENDING s g",
        "XGROUP CREATE e g $ MKSTREAM",
        "XPENDING e g",
        "XINFO STREAM e",
        "XAUTOCLAIM s g d 0 0 JUSTID",
        "XGROUP HELP",
        "XINFO HELP",
    ]
    .iter()
    .map(|line| c.words(line))
    .collect()
}

#[test]
fn resp3_replies_have_redis_shapes() {
    let _serial = serial();
    let respd = TestServer::start();
    let ours = resp3_scenario(respd.addr());
    let Some(redis) = RedisServer::start() else {
        return skip_note("resp3_replies_have_redis_shapes");
    };
    let theirs = resp3_scenario(redis.addr());
    for (i, (o, t)) in ours.iter().zip(&theirs).enumerate() {
        assert_eq!(show(o), show(t), "reply {i}");
    }
}

/// Builds a stream with several nodes, deleted entries, two groups, pending entries and an
/// idle consumer.
fn build_stream(c: &mut RawConn, key: &str) {
    c.words("CONFIG SET stream-node-max-entries 7");
    for i in 1..=40 {
        let field = if i % 3 == 0 { "other" } else { "f" };
        c.words(&format!("XADD {key} {i}-1 {field} v{i} n {}", i * 1000));
    }
    c.words(&format!("XDEL {key} 3-1 9-1 10-1 11-1 12-1 13-1 14-1"));
    c.words(&format!("XGROUP CREATE {key} g 0"));
    c.words(&format!("XREADGROUP GROUP g alice COUNT 5 STREAMS {key} >"));
    c.words(&format!("XREADGROUP GROUP g bob COUNT 2 STREAMS {key} >"));
    c.words(&format!("XACK {key} g 2-1"));
    c.words(&format!("XGROUP CREATECONSUMER {key} g carol"));
    c.words(&format!("XGROUP CREATE {key} g2 $ ENTRIESREAD 40"));
    c.words("CONFIG SET stream-node-max-entries 100");
}

/// What must survive a move, as the server holding the copy reports it.
fn describe(c: &mut RawConn, key: &str) -> Vec<Vec<u8>> {
    [
        format!("XRANGE {key} - +"),
        format!("XINFO STREAM {key} FULL"),
        format!("XINFO GROUPS {key}"),
        format!("XPENDING {key} g"),
    ]
    .iter()
    .map(|line| c.words(line))
    .collect()
}

/// The value of a bulk reply.
fn bulk(reply: &[u8]) -> Vec<u8> {
    let end = reply.iter().position(|&b| b == b'\r').unwrap();
    let len: usize = std::str::from_utf8(&reply[1..end])
        .unwrap()
        .parse()
        .unwrap();
    reply[end + 2..end + 2 + len].to_vec()
}

#[test]
fn dump_payloads_move_both_ways_with_redis() {
    let _serial = serial();
    let Some(redis) = RedisServer::start() else {
        return skip_note("dump_payloads_move_both_ways_with_redis");
    };
    let respd = TestServer::start();
    let mut theirs = redis.conn();
    let mut ours = respd.conn();
    build_stream(&mut theirs, "s");
    let expected = describe(&mut theirs, "s");
    // Redis -> respd: every reply about the copy is Redis's about the original.
    let payload = bulk(&theirs.cmd(&[b"DUMP", b"s"]));
    assert_eq!(ours.cmd(&[b"RESTORE", b"s", b"0", &payload]), b"+OK\r\n");
    let mine = describe(&mut ours, "s");
    assert_eq!(show(&mine[0]), show(&expected[0]));
    assert_eq!(show(&mine[2]), show(&expected[2]));
    assert_eq!(show(&mine[3]), show(&expected[3]));
    // respd -> Redis: Redis restores respd's payload to the same stream, nodes included.
    let payload = bulk(&ours.cmd(&[b"DUMP", b"s"]));
    assert_eq!(
        theirs.cmd(&[b"RESTORE", b"copy", b"0", &payload]),
        b"+OK\r\n"
    );
    let copy = describe(&mut theirs, "copy");
    for (c, e) in copy.iter().zip(&expected) {
        assert_eq!(show(c), show(e));
    }
    // A stream respd built itself, read back by Redis.
    build_stream(&mut ours, "built");
    let payload = bulk(&ours.cmd(&[b"DUMP", b"built"]));
    assert_eq!(
        theirs.cmd(&[b"RESTORE", b"built", b"0", &payload]),
        b"+OK\r\n"
    );
    let a = describe(&mut ours, "built");
    let b = describe(&mut theirs, "built");
    assert_eq!(show(&a[0]), show(&b[0]));
    assert_eq!(show(&a[3]), show(&b[3]));
}

#[test]
fn an_rdb_file_moves_both_ways_with_redis() {
    let _serial = serial();
    let dir = TempDir::new("streams", "rdb");
    let dump = dir.0.join("dump.rdb");
    let dir_arg = dir.0.to_str().unwrap();
    let Some(redis) = RedisServer::start_with(&["--dir", dir_arg]) else {
        return skip_note("an_rdb_file_moves_both_ways_with_redis");
    };
    // Redis -> respd.
    let mut theirs = redis.conn();
    build_stream(&mut theirs, "s");
    let expected = describe(&mut theirs, "s");
    assert_eq!(theirs.words("SAVE")[0], b'+');
    drop(redis);
    let (mut child, mut ours, _) = start(&dir.0, &[]);
    let mine = describe(&mut ours, "s");
    assert_eq!(show(&mine[0]), show(&expected[0]));
    assert_eq!(show(&mine[2]), show(&expected[2]));
    assert_eq!(show(&mine[3]), show(&expected[3]));
    // respd -> Redis: respd saves, a fresh redis-server loads the file.
    std::fs::remove_file(&dump).unwrap();
    assert_eq!(ours.words("SAVE"), b"+OK\r\n");
    kill9(&mut child);
    // Redis's own checker accepts the file, when it is installed.
    match std::process::Command::new("redis-check-rdb")
        .arg(&dump)
        .output()
    {
        Ok(out) => {
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            assert!(
                out.status.success() && text.contains("RDB looks OK"),
                "{text}"
            );
        }
        Err(_) => skip_note("an_rdb_file_moves_both_ways_with_redis: no redis-check-rdb"),
    }
    let Some(loaded) = RedisServer::start_with(&["--dir", dir_arg, "--dbfilename", "dump.rdb"])
    else {
        return;
    };
    let mut reloaded = loaded.conn();
    let copy = describe(&mut reloaded, "s");
    for (c, e) in copy.iter().zip(&expected) {
        assert_eq!(show(c), show(e));
    }
}

/// What a replay must rebuild. Not XINFO STREAM FULL: a consumer a replay creates is seen at
/// replay time (as in Redis), and the node size setting is not in the log. Not a group's
/// entries-read either: the XCLAIMs Redis logs for a read carry the last ID, not the counter,
/// so a replay (or a replica) estimates it as Redis's does.
fn describe_replayed(c: &mut RawConn, key: &str) -> Vec<Vec<u8>> {
    [
        format!("XRANGE {key} - +"),
        format!("XPENDING {key} g"),
        format!("XREADGROUP GROUP g alice STREAMS {key} 0"),
    ]
    .iter()
    .map(|line| c.words(line))
    .collect()
}

#[test]
fn the_aof_and_its_rewrite_replay_to_the_same_stream() {
    let _serial = serial();
    let dir = TempDir::new("streams", "aof");
    let args = ["--appendonly", "yes", "--appendfsync", "always"];
    let (mut child, mut c, port) = start(&dir.0, &args);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    c.words("CONFIG SET stream-node-max-entries 4");
    for i in 0..30 {
        // Generated IDs and an approximate trim: the log must hold what happened.
        c.words(&format!("XADD s MAXLEN ~ 10 * f {i}"));
    }
    c.words("XGROUP CREATE s g 0");
    c.words("XREADGROUP GROUP g alice COUNT 3 STREAMS s >");
    c.words("XREADGROUP GROUP g bob NOACK COUNT 2 STREAMS s >");
    let first = bulk(&c.words("XADD s * f x"));
    let first = String::from_utf8(first).unwrap();
    c.words(&format!("XCLAIM s g carol 0 {first} FORCE JUSTID"));
    c.words("XAUTOCLAIM s g dave 0 0 COUNT 1");
    // A blocked group reader served by an XADD: its delivery is logged too.
    c.words("XREADGROUP GROUP g frank STREAMS s >");
    let mut reader = RawConn::connect(addr);
    send(&mut reader, "XREADGROUP GROUP g erin BLOCK 0 STREAMS s >");
    wait_blocked(&mut c, 1);
    c.words("XADD s * f y");
    reader.reply().unwrap();
    let before = describe_replayed(&mut c, "s");
    let length = c.words("XLEN s");
    kill9(&mut child);

    let (mut child, mut c, _) = start(&dir.0, &args);
    assert_eq!(c.words("XLEN s"), length);
    let after = describe_replayed(&mut c, "s");
    for (a, b) in after.iter().zip(&before) {
        assert_eq!(show(a), show(b));
    }
    assert_eq!(c.words("BGREWRITEAOF")[0], b'+');
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let info = String::from_utf8_lossy(&c.words("INFO persistence")).into_owned();
        if info.contains("aof_rewrite_in_progress:0") && info.contains("aof_rewrites:1") {
            break;
        }
        assert!(Instant::now() < deadline, "rewrite did not finish: {info}");
        std::thread::sleep(Duration::from_millis(20));
    }
    kill9(&mut child);
    let (mut child, mut c, _) = start(&dir.0, &args);
    let rewritten = describe_replayed(&mut c, "s");
    for (a, b) in rewritten.iter().zip(&before) {
        assert_eq!(show(a), show(b));
    }
    kill9(&mut child);
}

/// The keyspace events a run of stream commands fires on one server, in order.
fn events_scenario(addr: SocketAddr) -> Vec<Vec<u8>> {
    let mut c = RawConn::connect(addr);
    let mut sub = RawConn::connect(addr);
    c.words("FLUSHALL");
    c.words("CONFIG SET notify-keyspace-events KEA");
    sub.words("PSUBSCRIBE __keyevent@0__:*");
    let lines = [
        "XADD s 1-1 a 1",
        "XADD s MAXLEN 1 2-1 a 1",
        "XTRIM s MAXLEN 0",
        "XADD s 3-1 a 1",
        "XDEL s 3-1",
        "XDEL s 3-1",
        "XGROUP CREATE s g $",
        "XGROUP CREATE s g $",
        "XGROUP CREATECONSUMER s g c",
        "XGROUP CREATECONSUMER s g c",
        "XGROUP SETID s g 0",
        "XADD s 4-1 a 1",
        "XREADGROUP GROUP g d STREAMS s >",
        "XCLAIM s g e 0 4-1",
        "XAUTOCLAIM s g f 0 0",
        "XGROUP DELCONSUMER s g c",
        "XGROUP DESTROY s g",
        "XSETID s 10-1",
        "XGROUP CREATE n g $ MKSTREAM",
        "XADD nm NOMKSTREAM 1-1 a b",
        "DEL s",
    ];
    for line in lines {
        c.words(line);
    }
    c.cmd(&[b"CONFIG", b"SET", b"notify-keyspace-events", b""]);
    let mut events = Vec::new();
    loop {
        let message = sub.reply().unwrap();
        let done = message.windows(5).any(|w| w == b":del\r");
        events.push(message);
        if done {
            return events;
        }
    }
}

#[test]
fn keyspace_events_are_redis_events() {
    let _serial = serial();
    let respd = TestServer::start();
    let ours = events_scenario(respd.addr());
    let Some(redis) = RedisServer::start() else {
        return skip_note("keyspace_events_are_redis_events");
    };
    let theirs = events_scenario(redis.addr());
    assert_eq!(
        ours.iter().map(|m| show(m)).collect::<Vec<_>>(),
        theirs.iter().map(|m| show(m)).collect::<Vec<_>>()
    );
}

#[test]
fn no_acknowledged_xadd_is_lost_to_kill_9_with_appendfsync_always() {
    let _serial = serial();
    let dir = TempDir::new("streams", "crash");
    let args = ["--appendonly", "yes", "--appendfsync", "always"];
    let (mut child, c, port) = start(&dir.0, &args);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let acked = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let acked = acked.clone();
            std::thread::spawn(move || {
                let mut conn = RawConn::connect(addr);
                for i in 0.. {
                    let field = format!("w{w}");
                    let value = i.to_string();
                    conn.send(&encode(&[
                        b"XADD",
                        b"s",
                        b"*",
                        field.as_bytes(),
                        value.as_bytes(),
                    ]));
                    match conn.reply() {
                        Ok(r) if r.starts_with(b"$") => acked.lock().unwrap().push(bulk(&r)),
                        _ => return,
                    }
                }
            })
        })
        .collect();
    // Kill once enough writes were acknowledged; the writers see the connection drop.
    let deadline = Instant::now() + Duration::from_secs(20);
    while acked.lock().unwrap().len() < 2000 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    kill9(&mut child);
    for w in writers {
        w.join().unwrap();
    }
    drop(c);
    let (mut child, mut c, _) = start(&dir.0, &args);
    let acked = acked.lock().unwrap();
    assert!(!acked.is_empty());
    for id in acked.iter() {
        let id = std::str::from_utf8(id).unwrap();
        let found = c.words(&format!("XRANGE s {id} {id}"));
        assert!(found.starts_with(b"*1\r\n"), "acknowledged {id} lost");
    }
    kill9(&mut child);
}

#[test]
fn a_redis_replica_of_respd_gets_the_same_streams() {
    let _serial = serial();
    let server = TestServer::start();
    let port = server.addr().port().to_string();
    let mut c = server.conn();
    c.words("XADD before 1-1 a b");
    let Some(replica) = RedisServer::start_with(&["--replicaof", "127.0.0.1", &port]) else {
        return skip_note("a_redis_replica_of_respd_gets_the_same_streams");
    };
    c.words("CONFIG SET stream-node-max-entries 4");
    for i in 0..30 {
        c.words(&format!("XADD s MAXLEN ~ 10 * f {i}"));
    }
    for line in [
        "XGROUP CREATE s g 0",
        "XREADGROUP GROUP g alice COUNT 3 STREAMS s >",
        "XREADGROUP GROUP g bob NOACK COUNT 2 STREAMS s >",
        "XAUTOCLAIM s g carol 0 0 COUNT 2",
        "XGROUP CREATECONSUMER s g dave",
        "XTRIM s MINID ~ 0",
        "XADD t 5-5 x y",
        "XDEL t 5-5",
        "XSETID t 9-9 ENTRIESADDED 3 MAXDELETEDID 5-5",
        "XGROUP CREATE t g2 $ MKSTREAM",
    ] {
        c.words(line);
    }
    c.words("CONFIG SET stream-node-max-entries 100");
    assert_eq!(c.words("WAIT 1 5000"), b":1\r\n");
    let mut r = replica.conn();
    for read in [
        "XRANGE before - +",
        "XRANGE s - +",
        "XPENDING s g",
        "XINFO STREAM t",
        "XINFO GROUPS t",
    ] {
        assert_eq!(show(&r.words(read)), show(&c.words(read)), "{read}");
    }
}
