//! respd as a replication master: a fake replica (SYNC, then the raw stream) against respd
//! and against redis-server doing the same writes, and a real redis-server attached with
//! `--replicaof` that must end up with respd's data.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::{show, skip_note, RawConn, RedisServer, TestServer};

/// Sends `SYNC`, reads past the `$<len>` RDB payload, and returns the socket positioned at
/// the first byte of the command stream.
fn attach(addr: SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"SYNC\r\n").unwrap();
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        s.read_exact(&mut byte).unwrap();
        if byte[0] == b'\n' {
            if line.first() == Some(&b'$') {
                break;
            }
            line.clear(); // a bare newline is a keepalive
        } else if byte[0] != b'\r' {
            line.push(byte[0]);
        }
    }
    let len: usize = std::str::from_utf8(&line[1..]).unwrap().parse().unwrap();
    let mut rdb = vec![0u8; len];
    s.read_exact(&mut rdb).unwrap();
    assert!(
        rdb.starts_with(b"REDIS"),
        "payload: {}",
        show(&rdb[..len.min(16)])
    );
    s
}

/// Reads the stream until `until` appears in it (bounded by 5 s).
fn read_stream_until(s: &mut TcpStream, until: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline && !out.windows(until.len()).any(|w| w == until) {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(_) => break,
        }
    }
    out
}

/// Writes whose propagation is deterministic (no relative TTL, no random member).
const SCRIPT: &[&str] = &[
    "set foo bar",
    "getdel foo",
    "getdel foo",
    "del nosuchkey",
    "getset g 1",
    "rpush mylist a b c d",
    "lmpop 1 mylist left count 2",
    "lmpop 1 nosuchlist left",
    "blpop mylist 0",
    "zadd z 1 a 2 b 3 c",
    "zmpop 1 z max count 5",
    "multi",
    "incr n",
    "incr n",
    "exec",
    "pexpireat g 1000",
    // Writes that changed nothing are not propagated at all.
    "set g 1",
    "setnx g 2",
    "set g 3 nx",
    "set nokey 1 xx",
    "set g 4 xx get",
    "msetnx g 1 h 2",
    "hset h f v",
    "hsetnx h f w",
    "hdel h nofield",
    "hdel nohash f",
    "sadd s a",
    "sadd s a",
    "srem s nomember",
    "srem nos a",
    "smove s s a",
    "smove nos d a",
    "smove s d nomember",
    "zrem nosuch a",
    "lrem mylist 0 zzz",
    "persist mylist",
    "expire nosuchkey 10",
    "lpushx nosuchlist a",
    "lpop nosuchlist",
    "lpop mylist 0",
    "lmove nosuchlist x left right",
    "rpoplpush nosuchlist x",
    "unlink nosuch",
    "getex g",
    "getex g persist",
    "zpopmin nosuch",
    "lmpop 1 nosuchlist left",
    "zmpop 1 nosuch min",
    // What a command did, as the command it amounts to.
    "incrbyfloat fl 1.5",
    "sadd one x",
    "spop one",
    "sadd two x y",
    "spop two 5",
    "set e 1",
    "getex e pxat 1000",
    "set e2 1",
    "expireat e2 1",
    "set e3 1",
    "pexpireat e3 99999999999999",
    "getex e3 persist",
    "getex e3 exat 99999999999",
    "expireat e3 99999999999 gt",
    "set p 1 pxat 99999999999999",
    "del e3 nosuch",
    "rpush bl a b",
    "blmove bl bl2 left right 0",
    "brpoplpush bl bl2 0",
    "zadd bz 1 a 2 b",
    "bzpopmin bz 0",
    "bzmpop 0 1 bz max count 3",
    // ZADD and GEOADD (which propagates as its ZADD) only when they changed something; the
    // geo searches only when they stored or deleted something.
    "zadd z2 1 a",
    "zadd z2 1 a",
    "geoadd geo 13.361389 38.115556 Palermo 15.087269 37.502669 Catania",
    "geoadd geo 13.361389 38.115556 Palermo",
    "geoadd geo ch xx 13.361389 38.115557 Palermo",
    "georadius geo 15 37 200 km",
    "georadius geo 15 37 200 km store geodst",
    "geosearchstore geodst geo fromlonlat 50 50 byradius 1 km",
    "geosearchstore geodst geo fromlonlat 50 50 byradius 1 km",
    "georadiusbymember geo Palermo 200 km storedist geodst2",
    "set last 1",
];

fn stream_of(addr: SocketAddr) -> Vec<u8> {
    let mut replica = attach(addr);
    let mut c = RawConn::connect(addr);
    for line in SCRIPT {
        c.words(line);
    }
    read_stream_until(&mut replica, b"$4\r\nlast\r\n$1\r\n1\r\n")
}

#[test]
fn stream_matches_redis() {
    let Some(redis) = RedisServer::start() else {
        return skip_note("stream_matches_redis");
    };
    let server = TestServer::start();
    let ours = stream_of(server.addr());
    let theirs = stream_of(redis.addr());
    // Command names are spelled as each client sent them (both servers propagate the argv);
    // compare case-insensitively.
    assert_eq!(
        show(&ours.to_ascii_lowercase()),
        show(&theirs.to_ascii_lowercase())
    );
}

/// Reads the next command of a replication stream as its words.
fn next_command(stream: &mut common::RespReader<TcpStream>) -> Vec<String> {
    let bytes = stream.reply().expect("a command in the stream");
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let mut lines = text.split("\r\n");
    let header = lines.next().unwrap();
    assert!(header.starts_with('*'), "not a command: {}", show(&bytes));
    // `$len`, then the word, for each argument.
    lines
        .skip(1)
        .step_by(2)
        .take(header[1..].parse().unwrap())
        .map(str::to_string)
        .collect()
}

/// The bulk strings of a flat reply (what SPOP popped).
fn bulks(reply: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(reply).into_owned();
    let lines: Vec<&str> = text.split("\r\n").collect();
    let first = usize::from(lines[0].starts_with(['*', '~']));
    lines[first..]
        .chunks(2)
        .filter(|pair| pair.len() == 2 && pair[0].starts_with('$') && pair[0] != "$-1")
        .map(|pair| pair[1].to_string())
        .collect()
}

#[test]
fn relative_expiries_and_random_pops_are_propagated_as_what_they_did() {
    let server = TestServer::start();
    let mut replica = common::RespReader::new(attach(server.addr()));
    let mut c = server.conn();
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64
    };
    let before = now();
    for line in [
        "set k v ex 100",
        "set k2 v px 100000 nx get",
        "setex k3 100 v",
        "psetex k4 100000 v",
        "expire k 200 nx",
        "expire k 200 xx",
        "pexpire k2 300000",
        "getex k3 ex 400",
        "sadd s a b c d e",
    ] {
        c.words(line);
    }
    let after = now();
    let popped = bulks(&c.words("spop s 2"));
    let popped_one = bulks(&c.words("spop s"));
    c.words("set end 1");
    let mut commands = Vec::new();
    loop {
        let command = next_command(&mut replica);
        if command.first().is_some_and(|w| w == "PING") {
            continue; // the master's keepalive
        }
        let done = command == ["set", "end", "1"];
        commands.push(command);
        if done {
            break;
        }
    }
    // A deadline `offset` ms from when the command ran.
    let deadline = |word: &str, offset: i64| {
        let at: i64 = word.parse().unwrap();
        assert!(
            (before + offset..=after + offset).contains(&at),
            "{at} is not {offset} ms after the command"
        );
    };
    let mut it = commands.into_iter();
    assert_eq!(it.next().unwrap(), ["SELECT", "0"]);
    let c1 = it.next().unwrap();
    assert_eq!(c1[..4], ["SET", "k", "v", "PXAT"]);
    deadline(&c1[4], 100_000);
    let c2 = it.next().unwrap();
    assert_eq!(c2[..4], ["SET", "k2", "v", "PXAT"], "NX and GET dropped");
    deadline(&c2[4], 100_000);
    for (key, offset) in [("k3", 100_000), ("k4", 100_000)] {
        let c = it.next().unwrap();
        assert_eq!(c[..4], ["SET", key, "v", "PXAT"]);
        deadline(&c[4], offset);
    }
    // `expire k 200 nx` was refused (k has a TTL): nothing.
    let c5 = it.next().unwrap();
    assert_eq!(c5[..2], ["PEXPIREAT", "k"]);
    deadline(&c5[2], 200_000);
    assert_eq!(c5[3], "xx");
    let c6 = it.next().unwrap();
    assert_eq!(c6[..2], ["PEXPIREAT", "k2"]);
    deadline(&c6[2], 300_000);
    let c7 = it.next().unwrap();
    assert_eq!(c7[..2], ["PEXPIREAT", "k3"]);
    deadline(&c7[2], 400_000);
    assert_eq!(it.next().unwrap()[..2], ["sadd", "s"]);
    // SPOP with a count: one SREM per member popped, as one transaction.
    assert_eq!(it.next().unwrap(), ["MULTI"]);
    for member in &popped {
        assert_eq!(it.next().unwrap(), ["SREM", "s", member.as_str()]);
    }
    assert_eq!(it.next().unwrap(), ["EXEC"]);
    assert_eq!(popped_one.len(), 1);
    assert_eq!(it.next().unwrap(), ["SREM", "s", popped_one[0].as_str()]);
    assert_eq!(it.next().unwrap(), ["set", "end", "1"]);
}

#[test]
fn served_blocked_pop_is_propagated_as_a_pop() {
    let server = TestServer::start();
    let mut replica = attach(server.addr());
    let mut waiter = RawConn::connect(server.addr());
    waiter.send(&common::encode(&[
        b"BLMPOP", b"0", b"1", b"l", b"LEFT", b"COUNT", b"5",
    ]));
    server.wait_for_clients(2, Duration::from_secs(5));
    // Give the waiter time to block (bounded; the assertion does not depend on timing).
    let mut c = RawConn::connect(server.addr());
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline
        && !String::from_utf8_lossy(&c.words("client list")).contains("flags=b")
    {
        std::thread::sleep(Duration::from_millis(10));
    }
    c.words("rpush l x y");
    assert_eq!(
        show(&waiter.reply().unwrap()),
        show(b"*2\r\n$1\r\nl\r\n*2\r\n$1\r\nx\r\n$1\r\ny\r\n")
    );
    c.words("set end 1");
    let stream = read_stream_until(&mut replica, b"$3\r\nend\r\n$1\r\n1\r\n");
    let expected =
        b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*4\r\n$5\r\nrpush\r\n$1\r\nl\r\n$1\r\nx\r\n$1\r\ny\r\n\
*3\r\n$4\r\nLPOP\r\n$1\r\nl\r\n$1\r\n2\r\n*3\r\n$3\r\nset\r\n$3\r\nend\r\n$1\r\n1\r\n";
    assert_eq!(show(&stream), show(expected));
}

#[test]
fn replconf_and_role_and_wait_without_replicas() {
    let server = TestServer::start();
    let mut c = server.conn();
    assert_eq!(c.words("replconf listening-port 1234"), b"+OK\r\n");
    assert_eq!(c.words("replconf capa eof capa psync2"), b"+OK\r\n");
    assert_eq!(
        show(&c.words("replconf foo bar")),
        show(b"-ERR Unrecognized REPLCONF option: foo\r\n")
    );
    assert_eq!(c.words("wait 0 0"), b":0\r\n");
    assert_eq!(c.words("wait 1 10"), b":0\r\n");
    assert_eq!(
        show(&c.words("role")),
        show(b"*3\r\n$6\r\nmaster\r\n:0\r\n*0\r\n")
    );
}

#[test]
fn real_redis_replica_gets_the_data() {
    let server = TestServer::start();
    let port = server.addr().port().to_string();
    let mut c = server.conn();
    c.words("set before-sync 1");
    let Some(replica) = RedisServer::start_with(&["--replicaof", "127.0.0.1", &port]) else {
        return skip_note("real_redis_replica_gets_the_data");
    };
    for line in [
        "set s hello",
        "rpush l a b c",
        "hset h f v g w",
        "sadd set x y",
        "zadd z 1 a 2 b",
        "set t v ex 1000",
        "select 2",
        "set in-db-2 yes",
        "select 0",
        "incrbyfloat f 1.5",
    ] {
        c.words(line);
    }
    assert_eq!(c.words("wait 1 5000"), b":1\r\n");
    let info = String::from_utf8_lossy(&c.words("info replication")).into_owned();
    assert!(info.contains("connected_slaves:1"), "{info}");
    assert!(info.contains("state=online"), "{info}");
    let mut r = replica.conn();
    // Compared by value, per type: DUMP payloads may differ by encoding alone.
    for read in [
        "get before-sync",
        "get s",
        "lrange l 0 -1",
        "hmget h f g",
        "sort_ro set alpha",
        "zrange z 0 -1 withscores",
        "get t",
        "get f",
    ] {
        assert_eq!(show(&r.words(read)), show(&c.words(read)), "{read}");
    }
    let ttl = String::from_utf8_lossy(&r.words("pttl t")).into_owned();
    assert!(ttl.starts_with(":") && !ttl.starts_with(":-"), "{ttl}");
    r.words("select 2");
    assert_eq!(r.words("get in-db-2"), b"$3\r\nyes\r\n");
}

/// SYNC and PSYNC refusals, in the order of Redis's syncCommand: a PSYNC FAILOVER to a master,
/// replies still pending (earlier commands of the same batch), a PSYNC offset that is not an
/// integer; inside MULTI both are refused at queueing time. None of them turns the connection
/// into a replica: the PING after each is answered.
#[test]
fn sync_refusals_match_redis() {
    common::on_respd_and_redis("sync_refusals_match_redis", |who, addr| {
        let cases: &[(&[u8], &[u8])] = &[
            (
                b"PING\r\nSYNC\r\nPING\r\n",
                b"+PONG\r\n-ERR SYNC and PSYNC are invalid with pending output\r\n+PONG\r\n",
            ),
            (
                b"ECHO x\r\nPSYNC ? -1\r\nPING\r\n",
                b"$1\r\nx\r\n-ERR SYNC and PSYNC are invalid with pending output\r\n+PONG\r\n",
            ),
            (
                b"PSYNC ? -1 FAILOVER\r\nPING\r\n",
                b"-ERR PSYNC FAILOVER can't be sent to a master.\r\n+PONG\r\n",
            ),
            // The failover check comes before the pending-output one.
            (
                b"PING\r\nPSYNC ? -1 failover x\r\nPING\r\n",
                b"+PONG\r\n-ERR PSYNC FAILOVER can't be sent to a master.\r\n+PONG\r\n",
            ),
            (
                b"PSYNC ? notanumber\r\nPING\r\n",
                b"-ERR value is not an integer or out of range\r\n+PONG\r\n",
            ),
            (
                b"MULTI\r\nSYNC\r\nPSYNC ? -1\r\nEXEC\r\nPING\r\n",
                b"+OK\r\n-ERR Command not allowed inside a transaction\r\n\
-ERR Command not allowed inside a transaction\r\n\
-EXECABORT Transaction discarded because of previous errors.\r\n+PONG\r\n",
            ),
        ];
        for (request, expected) in cases {
            let mut c = RawConn::connect(addr);
            c.send(request);
            let got = c.read_bytes(expected.len());
            assert_eq!(show(&got), show(expected), "{who}: {}", show(request));
        }
    });
}
