//! respd as a replica: REPLICAOF a live redis-server 7.0 and a respd, the data both ways
//! (the first synchronization and the writes after it, expiries and transactions included),
//! chained replicas, the READONLY refusal byte for byte against a redis-server replica,
//! REPLICAOF NO ONE, the link coming back after the master restarts, ROLE and INFO
//! replication. Every wait is a poll with a deadline, never a sleep that a test relies on.

mod common;
#[path = "common/process.rs"]
mod process;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::{show, skip_note, RawConn, RedisServer, TestServer};
use process::{KillOnDrop, TempDir};

/// How long a test waits for a replica to catch up before failing.
const CATCH_UP: Duration = Duration::from_secs(20);

/// Redis as a master that starts the transfer at once (its default waits 5 s for more
/// replicas to share a diskless transfer).
/// DEBUG DIGEST allowed, to compare whole datasets with Redis's own digest.
const QUICK_MASTER: &[&str] = &[
    "--repl-diskless-sync-delay",
    "0",
    "--enable-debug-command",
    "yes",
];

/// A respd that allows DEBUG DIGEST.
fn respd_with_debug() -> TestServer {
    TestServer::with_config(|c| c.enable_debug_command = respd::config::ProtectedAction::Yes)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// One field of INFO replication.
fn info_field(conn: &mut RawConn, name: &str) -> Option<String> {
    let info = text(&conn.words("info replication"));
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")).map(str::to_string))
}

/// Polls until `done` holds, failing with `what` after [`CATCH_UP`].
fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + CATCH_UP;
    while !done() {
        assert!(Instant::now() < deadline, "gave up waiting for: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until the replica at `replica` reports its link to the master up.
fn wait_link_up(replica: &mut RawConn) {
    wait_for("master_link_status:up", || {
        info_field(replica, "master_link_status").as_deref() == Some("up")
    });
}

/// `REPLICAOF 127.0.0.1 <port>` on `replica`.
fn replicaof(replica: &mut RawConn, master: SocketAddr) -> Vec<u8> {
    let port = master.port().to_string();
    replica.cmd(&[b"REPLICAOF", b"127.0.0.1", port.as_bytes()])
}

/// Synchronizations a master served, full and partial (INFO stats).
fn syncs_served(master: &mut RawConn) -> u64 {
    let stats = text(&master.words("info stats"));
    ["sync_full:", "sync_partial_ok:"]
        .iter()
        .map(|name| {
            stats
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        })
        .sum()
}

/// Waits until the master counts `n` replicas that acknowledged every write so far.
fn wait_acked(master: &mut RawConn, n: usize) {
    let want = format!(":{n}\r\n");
    wait_for("WAIT on the master", || {
        text(&master.words(&format!("wait {n} 1000"))) == want
    });
}

/// Writes of every type, with expiries, in two databases, and a transaction.
const WRITES: &[&str] = &[
    "set s hello",
    "append s -world",
    "rpush l a b c d",
    "lpop l",
    "hset h f v g w",
    "sadd set x y z",
    "srem set z",
    "zadd z 1 a 2 b 3 c",
    "incrbyfloat f 1.5",
    "set t v ex 1000",
    "pexpire s 500000",
    "xadd st 1-1 k v",
    "multi",
    "incr counter",
    "incr counter",
    "rpush l e",
    "exec",
    "select 2",
    "set in-db-2 yes",
    "select 0",
];

/// Reads that must agree between a master and its replica, compared by value (DUMP
/// payloads may differ by encoding alone).
const READS: &[&str] = &[
    "get s",
    "lrange l 0 -1",
    "hmget h f g",
    "sort_ro set alpha",
    "zrange z 0 -1 withscores",
    "get f",
    "get t",
    "get counter",
    "xrange st - +",
    "dbsize",
];

/// Checks that `replica` holds what `master` holds (the [`WRITES`]): same reads, TTLs
/// present, the key in database 2.
fn assert_same_data(master: &mut RawConn, replica: &mut RawConn) {
    for read in READS {
        let (ours, theirs) = (replica.words(read), master.words(read));
        if ours != theirs {
            let (mine, reference) = (replica.words("keys *"), master.words("keys *"));
            panic!(
                "{read}: replica {} master {}; keys: replica {} master {}",
                show(&ours),
                show(&theirs),
                show(&mine),
                show(&reference)
            );
        }
    }
    for key in ["t", "s"] {
        let ttl = text(&replica.words(&format!("pttl {key}")));
        assert!(
            ttl.starts_with(':') && !ttl.starts_with(":-"),
            "pttl {key}: {ttl}"
        );
    }
    replica.words("select 2");
    master.words("select 2");
    assert_eq!(
        show(&replica.words("get in-db-2")),
        show(&master.words("get in-db-2"))
    );
    replica.words("select 0");
    master.words("select 0");
}

/// Writes half of [`WRITES`] before the replica attaches (they arrive in the RDB) and the
/// rest after (they arrive in the stream).
fn write_around_sync(master: &mut RawConn, replica: &mut RawConn, master_addr: SocketAddr) {
    let (before, after) = WRITES.split_at(8);
    for line in before {
        master.words(line);
    }
    assert_eq!(replicaof(replica, master_addr), b"+OK\r\n");
    wait_link_up(replica);
    for line in after {
        master.words(line);
    }
    wait_acked(master, 1);
}

#[test]
fn follows_a_redis_master() {
    let Some(master) = RedisServer::start_with(QUICK_MASTER) else {
        return skip_note("follows_a_redis_master");
    };
    let replica = respd_with_debug();
    let (mut m, mut r) = (master.conn(), replica.conn());
    r.words("set stale-key 1"); // replaced by the master's data at the first sync
    write_around_sync(&mut m, &mut r, master.addr());
    assert_same_data(&mut m, &mut r);
    // The whole dataset, by Redis's own digest (keys, values, which keys have a TTL).
    let digest = m.words("debug digest");
    assert_eq!(digest.len(), 43, "{}", show(&digest));
    assert_eq!(show(&r.words("debug digest")), show(&digest));
    assert_eq!(r.words("exists stale-key"), b":0\r\n");
    // A script runs on the master; its effects reach the replica.
    m.words("eval redis.call('incrby','counter',10) 0");
    wait_acked(&mut m, 1);
    assert_eq!(r.words("get counter"), b"$2\r\n12\r\n");
    // A key that expires on the master leaves the replica when the master's DEL arrives
    // (a replica does not expire keys itself, so DBSIZE counts it until then).
    let keys = r.words("dbsize");
    m.words("set gone v px 50");
    wait_acked(&mut m, 1);
    wait_for("the master's DEL of the expired key", || {
        r.words("dbsize") == keys
    });
    // The offsets agree once acknowledged.
    wait_for("the replica's offset reaching the master's", || {
        info_field(&mut r, "master_repl_offset") == info_field(&mut m, "master_repl_offset")
    });
}

#[test]
fn follows_a_respd_master_and_feeds_a_chained_redis_replica() {
    let master = respd_with_debug();
    let replica = respd_with_debug();
    let (mut m, mut r) = (master.conn(), replica.conn());
    write_around_sync(&mut m, &mut r, master.addr());
    assert_same_data(&mut m, &mut r);
    assert_eq!(
        show(&r.words("debug digest")),
        show(&m.words("debug digest"))
    );
    // The master lists its replica by type; the replica drops its link on CLIENT KILL TYPE
    // master and connects again.
    assert_eq!(
        text(&m.words("client list type replica"))
            .matches(" addr=")
            .count(),
        1
    );
    let before = syncs_served(&mut m);
    assert_eq!(r.words("client kill type master"), b":1\r\n");
    wait_for("the replica to synchronize again", || {
        syncs_served(&mut m) > before
    });
    wait_link_up(&mut r);
    m.words("set after-kill 1");
    wait_acked(&mut m, 1);
    assert_eq!(r.words("get after-kill"), b"$1\r\n1\r\n");
    // The old form with the master's address does the same.
    let before = syncs_served(&mut m);
    let master_addr = format!("client kill {}", master.addr());
    assert_eq!(r.words(&master_addr), b"+OK\r\n");
    wait_for("the replica to synchronize again", || {
        syncs_served(&mut m) > before
    });
    wait_link_up(&mut r);
    let port = replica.addr().port().to_string();
    // A redis-server replica of the respd replica gets the master's stream through it.
    let Some(chained) = RedisServer::start_with(&["--replicaof", "127.0.0.1", &port]) else {
        return skip_note("follows_a_respd_master_and_feeds_a_chained_redis_replica: chained part");
    };
    let mut c = chained.conn();
    wait_link_up(&mut c);
    m.words("set after-chain 1");
    m.words("del l");
    wait_acked(&mut m, 1);
    wait_for("the chained replica's copy of after-chain", || {
        c.words("get after-chain") == b"$1\r\n1\r\n"
    });
    wait_for("the chained replica's DEL", || {
        c.words("exists l") == b":0\r\n"
    });
    assert_same_data(&mut m, &mut c);
}

#[test]
fn readonly_error_matches_a_redis_replica() {
    let Some(master) = RedisServer::start_with(QUICK_MASTER) else {
        return skip_note("readonly_error_matches_a_redis_replica");
    };
    let port = master.port().to_string();
    let Some(theirs) = RedisServer::start_with(&["--replicaof", "127.0.0.1", &port]) else {
        return skip_note("readonly_error_matches_a_redis_replica");
    };
    let ours = TestServer::start();
    let (mut o, mut t) = (ours.conn(), theirs.conn());
    assert_eq!(replicaof(&mut o, master.addr()), b"+OK\r\n");
    // Again: the same master.
    let again = replicaof(&mut o, master.addr());
    assert_eq!(again, replicaof(&mut t, master.addr()));
    assert_eq!(again, b"+OK Already connected to specified master\r\n");
    wait_link_up(&mut o);
    wait_link_up(&mut t);
    for cmd in [
        "set k v",
        "del k",
        "incr n",
        "multi",
        "set k v",
        "exec",
        "flushall",
        "get k",
        "replicaof 127.0.0.1 notaport",
        "replicaof 127.0.0.1 70000",
        "replicaof 127.0.0.1",
        "role",
    ] {
        let (mine, reference) = (o.words(cmd), t.words(cmd));
        if cmd == "role" {
            // The port differs; the shape and the state do not.
            assert!(
                text(&mine).starts_with("*5\r\n$5\r\nslave\r\n$9\r\n127.0.0.1\r\n"),
                "{}",
                show(&mine)
            );
            assert!(
                text(&mine).contains("$9\r\nconnected\r\n"),
                "{}",
                show(&mine)
            );
            continue;
        }
        assert_eq!(show(&mine), show(&reference), "{cmd}");
    }
    // Scripts: a write inside one, and a script that declares it writes.
    for script in [
        "redis.call('set','k','v')",
        "#!lua\nreturn redis.call('set','k','v')",
        "#!lua flags=no-writes\nreturn redis.call('get','k')",
    ] {
        let cmd: [&[u8]; 3] = [b"EVAL", script.as_bytes(), b"0"];
        assert_eq!(show(&o.cmd(&cmd)), show(&t.cmd(&cmd)), "{script}");
    }
    assert_eq!(
        o.words("set k v"),
        b"-READONLY You can't write against a read only replica.\r\n"
    );
    // replica-read-only no: writes are taken.
    o.words("config set replica-read-only no");
    assert_eq!(o.words("set local 1"), b"+OK\r\n");
}

#[test]
fn replicaof_no_one_keeps_the_data_and_takes_writes() {
    let master = TestServer::start();
    let replica = TestServer::start();
    let (mut m, mut r) = (master.conn(), replica.conn());
    write_around_sync(&mut m, &mut r, master.addr());
    let master_replid = info_field(&mut m, "master_replid").unwrap();
    assert_eq!(r.words("replicaof no one"), b"+OK\r\n");
    assert_eq!(info_field(&mut r, "role").as_deref(), Some("master"));
    // mirrors shiftReplicationId(): a new history, the master's id kept as the second one.
    assert_eq!(
        info_field(&mut r, "master_replid2").as_deref(),
        Some(master_replid.as_str())
    );
    assert_ne!(
        info_field(&mut r, "master_replid").as_deref(),
        Some(master_replid.as_str())
    );
    assert_same_data(&mut m, &mut r);
    assert_eq!(r.words("set now-writable 1"), b"+OK\r\n");
    // The old master's later writes no longer arrive.
    m.words("set after-promotion 1");
    assert_eq!(m.words("wait 1 100"), b":0\r\n");
    assert_eq!(r.words("exists after-promotion"), b":0\r\n");
    assert_eq!(r.words("replicaof no one"), b"+OK\r\n"); // already a master
}

#[test]
fn link_comes_back_after_the_master_restarts() {
    // The master is a respd process killed and started again on the same port; the replica
    // is a respd process following it from its configuration file's `replicaof`.
    let master_dir = TempDir::new("replica", "master");
    let replica_dir = TempDir::new("replica", "replica");
    let master_port = common::free_port();
    let start_master = || {
        let command = process::respd_command(&master_dir.0, master_port, &["--save", ""]);
        let (child, conn) = process::start_command(command, master_port);
        (KillOnDrop(child), conn)
    };
    let (mut master, mut m) = start_master();
    m.words("set before-restart 1");
    let port = master_port.to_string();
    let (replica, mut r, _) = process::start(
        &replica_dir.0,
        &["--save", "", "--replicaof", "127.0.0.1", &port],
    );
    let _replica = KillOnDrop(replica);
    wait_link_up(&mut r);
    wait_for("the first sync's data", || {
        r.words("get before-restart") == b"$1\r\n1\r\n"
    });
    process::kill9(&mut master.0);
    wait_for("master_link_status:down", || {
        info_field(&mut r, "master_link_status").as_deref() == Some("down")
    });
    // Stale data is served by default; with replica-serve-stale-data no, MASTERDOWN.
    assert_eq!(r.words("get before-restart"), b"$1\r\n1\r\n");
    r.words("config set replica-serve-stale-data no");
    assert_eq!(
        text(&r.words("get before-restart")),
        "-MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.\r\n"
    );
    assert!(info_field(&mut r, "master_link_down_since_seconds").is_some());
    r.words("config set replica-serve-stale-data yes");
    let (_master, mut m) = start_master();
    m.words("set after-restart 2");
    wait_link_up(&mut r);
    wait_acked(&mut m, 1);
    // The new master had no data from before: the replica's dataset is its own.
    assert_eq!(r.words("get after-restart"), b"$1\r\n2\r\n");
    assert_eq!(r.words("exists before-restart"), b":0\r\n");
    assert!(replica_dir.log().contains("Connecting to MASTER"));
}

#[test]
fn role_and_info_replication_as_a_redis_replica_shows_them() {
    let Some(master) = RedisServer::start_with(QUICK_MASTER) else {
        return skip_note("role_and_info_replication_as_a_redis_replica_shows_them");
    };
    let port = master.port().to_string();
    let Some(theirs) = RedisServer::start_with(&["--replicaof", "127.0.0.1", &port]) else {
        return skip_note("role_and_info_replication_as_a_redis_replica_shows_them");
    };
    let ours = TestServer::start();
    let (mut o, mut t, mut m) = (ours.conn(), theirs.conn(), master.conn());
    replicaof(&mut o, master.addr());
    wait_link_up(&mut o);
    wait_link_up(&mut t);
    m.words("set k v");
    wait_acked(&mut m, 2);
    // The same fields, in the same order, once both are connected.
    let names = |c: &mut RawConn| -> Vec<String> {
        text(&c.words("info replication"))
            .lines()
            .filter_map(|l| l.split_once(':').map(|(name, _)| name.to_string()))
            .collect()
    };
    assert_eq!(names(&mut o), names(&mut t));
    for field in [
        "role",
        "master_host",
        "master_port",
        "master_link_status",
        "master_sync_in_progress",
        "slave_priority",
        "slave_read_only",
        "replica_announced",
        "connected_slaves",
        "master_failover_state",
        "master_replid",
        "master_repl_offset",
    ] {
        assert_eq!(
            info_field(&mut o, field),
            info_field(&mut t, field),
            "{field}"
        );
    }
    let offset = info_field(&mut m, "master_repl_offset").unwrap();
    assert_eq!(
        info_field(&mut o, "slave_repl_offset").as_deref(),
        Some(offset.as_str())
    );
    // ROLE: slave, host, port, state, offset.
    let expected = format!(
        "*5\r\n$5\r\nslave\r\n$9\r\n127.0.0.1\r\n:{port}\r\n$9\r\nconnected\r\n:{offset}\r\n"
    );
    assert_eq!(text(&o.words("role")), expected);
    assert_eq!(text(&t.words("role")), expected);
    // The master lists both replicas.
    assert_eq!(info_field(&mut m, "connected_slaves").as_deref(), Some("2"));
}

#[test]
fn the_old_master_resyncs_partially_from_the_promoted_replica() {
    // PSYNC2: the promoted replica keeps the old history as its second id, so the old
    // master, turned replica, continues from its own offset instead of a full copy.
    let a = respd_with_debug();
    let b = respd_with_debug();
    let (mut a_conn, mut b_conn) = (a.conn(), b.conn());
    write_around_sync(&mut a_conn, &mut b_conn, a.addr());
    assert_eq!(b_conn.words("replicaof no one"), b"+OK\r\n");
    assert_eq!(replicaof(&mut a_conn, b.addr()), b"+OK\r\n");
    wait_link_up(&mut a_conn);
    b_conn.words("set written-on-b 1");
    wait_acked(&mut b_conn, 1);
    assert_eq!(a_conn.words("get written-on-b"), b"$1\r\n1\r\n");
    let stats = text(&b_conn.words("info stats"));
    assert!(stats.contains("sync_partial_ok:1\r\n"), "{stats}");
    assert!(stats.contains("sync_full:0\r\n"), "{stats}");
    assert_eq!(
        show(&a_conn.words("debug digest")),
        show(&b_conn.words("debug digest"))
    );
}

#[test]
fn becoming_a_replica_releases_blocked_clients() {
    // A pop served by this server on its own would make it differ from its master.
    let master = TestServer::start();
    let replica = TestServer::start();
    let mut blocked = replica.conn();
    blocked.send(b"BLPOP foo 0\r\n");
    let mut r = replica.conn();
    wait_for("the client to block", || {
        text(&r.words("info clients")).contains("blocked_clients:1\r\n")
    });
    assert_eq!(replicaof(&mut r, master.addr()), b"+OK\r\n");
    assert_eq!(
        text(&blocked.reply().unwrap()),
        "-UNBLOCKED force unblock from blocking operation, instance state changed (master -> replica?)\r\n"
    );
    // Inside a transaction too, where EXEC holds the keyspace (the link is not up yet when
    // the INFO queued after it runs).
    assert_eq!(r.words("replicaof no one"), b"+OK\r\n");
    r.words("multi");
    let port = master.addr().port().to_string();
    r.cmd(&[b"REPLICAOF", b"127.0.0.1", port.as_bytes()]);
    r.words("info replication");
    let exec = text(&r.words("exec"));
    assert!(exec.starts_with("*2\r\n+OK\r\n"), "{exec}");
    assert!(exec.contains("master_link_status:down"), "{exec}");
    wait_link_up(&mut r);
}
