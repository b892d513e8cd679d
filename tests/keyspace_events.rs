//! Keyspace notifications (`notify-keyspace-events`), compared with a live redis-server 7.0:
//! a subscriber on each server must receive the same messages, byte for byte and in the same
//! order, for one script of commands that touches every data type and every event class.
//! Also: the directive's CONFIG GET rendering and the error for every bad CONFIG SET value.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::{RawConn, RedisServer, TestServer};

/// One step of a script: a command (space-separated words), or a pause that lets a TTL pass.
enum Step {
    Cmd(&'static str),
    /// Waits this long: the next command finds the key expired (both servers then report
    /// `expired` once, lazily or from their active cycle, before that command's events).
    Sleep(u64),
    /// DUMP `from`, then RESTORE `to` with the payload (RESTORE needs the server's own bytes).
    DumpRestore(&'static str, &'static str),
    /// A client blocks with this command; the next command must serve it.
    Blocked(&'static str),
}

use Step::{Blocked, Cmd, DumpRestore, Sleep};

/// Every data type, and every place Redis calls notifyKeyspaceEvent that respd has.
const SCRIPT: &[Step] = &[
    // strings
    Cmd("SET s1 v"),
    Cmd("SET s1 w EX 100"),
    Cmd("SET s1 x NX"),
    Cmd("SETEX s2 100 v"),
    Cmd("PSETEX s3 100000 v"),
    Cmd("GETSET s2 y"),
    Cmd("GETEX s3 EX 50"),
    Cmd("GETEX s3 PERSIST"),
    Cmd("GETEX s3 PERSIST"),
    Cmd("GETDEL s3"),
    Cmd("GETDEL s3"),
    Cmd("GET nosuchkey"),
    Cmd("MGET s1 nosuch1 nosuch2"),
    Cmd("MSET m1 a m2 b"),
    Cmd("MSETNX m1 a m3 c"),
    Cmd("APPEND m1 tail"),
    Cmd("APPEND newappend x"),
    Cmd("SETRANGE m2 3 zz"),
    Cmd("SETRANGE m2 1 "),
    Cmd("INCR counter"),
    Cmd("INCRBY counter 5"),
    Cmd("DECR counter"),
    Cmd("DECRBY counter 2"),
    Cmd("INCRBYFLOAT fl 1.5"),
    Cmd("SETBIT bits 7 1"),
    Cmd("SETBIT bits 7 1"),
    Cmd("SETBIT bits 100 0"),
    Cmd("BITFIELD bf SET u8 0 200 GET u8 0"),
    Cmd("BITFIELD bf OVERFLOW FAIL INCRBY u8 0 100"),
    Cmd("BITOP OR bdest bits bf"),
    Cmd("BITOP AND bdest nosuch1 nosuch2"),
    // generic
    Cmd("EXPIRE m1 100"),
    Cmd("PEXPIRE m1 100000 XX"),
    Cmd("EXPIRE m1 100 NX"),
    Cmd("PERSIST m1"),
    Cmd("PERSIST m1"),
    Cmd("EXPIRE m2 -1"),
    Cmd("PEXPIREAT m3 1"),
    Cmd("RENAME m1 r1"),
    Cmd("SET r2 old"),
    Cmd("RENAME r1 r2"),
    Cmd("RENAMENX r2 counter"),
    Cmd("COPY r2 c1"),
    Cmd("COPY r2 c1 REPLACE"),
    Cmd("COPY nosuchkey c2"),
    Cmd("MOVE c1 1"),
    Cmd("MOVE nosuchkey 1"),
    DumpRestore("r2", "restored"),
    Cmd("DEL r2 restored nosuchkey"),
    Cmd("UNLINK counter"),
    Cmd("EXISTS nosuchkey s1"),
    Cmd("TYPE nosuchkey"),
    Cmd("TTL nosuchkey"),
    Cmd("TOUCH nosuchkey s1"),
    Cmd("SET short v PX 5"),
    Sleep(60),
    Cmd("DEL short"),
    // lists
    Cmd("LPUSH l1 a b c"),
    Cmd("RPUSH l1 d e"),
    Cmd("LPUSHX nolist a"),
    Cmd("RPUSHX l1 f"),
    Cmd("LPOP l1"),
    Cmd("RPOP l1 2"),
    Cmd("LPOP l1 0"),
    Cmd("LSET l1 0 z"),
    Cmd("LINSERT l1 BEFORE z y"),
    Cmd("LINSERT l1 BEFORE nothere y"),
    Cmd("LREM l1 0 nothere"),
    Cmd("LREM l1 1 y"),
    Cmd("LTRIM l1 0 0"),
    Cmd("LMOVE l1 l2 LEFT RIGHT"),
    Cmd("RPOPLPUSH l2 l2"),
    Cmd("RPUSH l3 1 2 3"),
    Cmd("LMPOP 2 nolist l3 RIGHT COUNT 5"),
    Cmd("RPUSH l4 x"),
    Cmd("BLPOP nolist l4 0"),
    Blocked("BLPOP waited 0"),
    Cmd("RPUSH waited v1 v2"),
    Blocked("BLMOVE waitsrc waitdst RIGHT LEFT 0"),
    Cmd("LPUSH waitsrc only"),
    Cmd("SORT l2 STORE sorted ALPHA"),
    Cmd("SORT nolist STORE sorted"),
    // sets
    Cmd("SADD set1 a b c"),
    Cmd("SADD set1 a"),
    Cmd("SREM set1 x"),
    Cmd("SREM set1 a"),
    Cmd("SADD set2 b"),
    Cmd("SMOVE set1 set2 b"),
    Cmd("SMOVE set1 set2 c"),
    Cmd("SMOVE set2 set3 c"),
    Cmd("SADD one only"),
    Cmd("SPOP one"),
    Cmd("SADD two p"),
    Cmd("SPOP two 0"),
    Cmd("SPOP two 5"),
    Cmd("SINTERSTORE sdest set2 set3"),
    Cmd("SUNIONSTORE sdest set2 set3"),
    Cmd("SDIFFSTORE sdest set2 set2"),
    Cmd("SDIFFSTORE sdest set2 set2"),
    // hashes
    Cmd("HSET h1 f1 v1 f2 v2"),
    Cmd("HMSET h1 f1 v3"),
    Cmd("HSETNX h1 f1 x"),
    Cmd("HSETNX h1 f3 x"),
    Cmd("HINCRBY h1 n 3"),
    Cmd("HINCRBYFLOAT h1 fl 1.5"),
    Cmd("HDEL h1 nothere"),
    Cmd("HDEL h1 f1 f2 f3 n fl"),
    Cmd("HGET nosuchkey f"),
    // sorted sets
    Cmd("ZADD z1 1 a 2 b 3 c 4 d"),
    Cmd("ZADD z1 1 a"),
    Cmd("ZADD z1 XX CH 5 a"),
    Cmd("ZINCRBY z1 1 b"),
    Cmd("ZADD z1 NX INCR 1 b"),
    Cmd("ZREM z1 nothere"),
    Cmd("ZREM z1 d"),
    Cmd("ZREMRANGEBYSCORE z1 100 200"),
    Cmd("ZREMRANGEBYSCORE z1 5 5"),
    Cmd("ZADD z2 1 x 2 y 3 z 4 w"),
    Cmd("ZREMRANGEBYRANK z2 0 0"),
    Cmd("ZREMRANGEBYLEX z2 - (y"),
    Cmd("ZPOPMIN z2"),
    Cmd("ZPOPMAX z2 0"),
    Cmd("ZPOPMAX z2 10"),
    Cmd("ZUNIONSTORE zu 2 z1 nosuchkey"),
    Cmd("ZINTERSTORE zu 2 z1 nosuchkey"),
    Cmd("ZADD z3 1 a"),
    Cmd("ZDIFFSTORE zd 1 z3"),
    Cmd("ZRANGESTORE zr z1 0 -1"),
    Cmd("ZMPOP 1 zr MIN COUNT 10"),
    Cmd("BZPOPMAX nosuchkey z1 0"),
    Blocked("BZPOPMIN zwait 0"),
    Cmd("ZADD zwait 1 a 2 b"),
    Cmd("ZSCORE nosuchkey a"),
    // transactions: events as the commands run
    Cmd("MULTI"),
    Cmd("SET tx 1"),
    Cmd("INCR tx"),
    Cmd("DEL tx"),
    Cmd("EXEC"),
    // another database
    Cmd("SELECT 1"),
    Cmd("SET indb1 v"),
    Cmd("MOVE indb1 0"),
    Cmd("SELECT 0"),
    Cmd("FLUSHALL"),
];

/// The message a subscriber receives last: published after the script, it marks the end.
const END_CHANNEL: &str = "__keyspace@0__:end-of-script";

/// Waits (bounded) until exactly `n` clients are blocked on `c`'s server.
fn wait_blocked(c: &mut RawConn, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let info = String::from_utf8_lossy(&c.words("INFO clients")).into_owned();
        if info.contains(&format!("blocked_clients:{n}\r")) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the client never blocked: {info}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The bulk payload of a `$len\r\npayload\r\n` reply.
fn bulk_payload(reply: &[u8]) -> Vec<u8> {
    let start = reply.iter().position(|&b| b == b'\n').unwrap() + 1;
    reply[start..reply.len() - 2].to_vec()
}

/// Runs the script against `addr` with `notify-keyspace-events` set to `flags`, and returns
/// everything a PSUBSCRIBE `*` subscriber (RESP3 if `resp3`) received, and the replies.
fn run(addr: SocketAddr, flags: &str, resp3: bool) -> (Vec<u8>, Vec<u8>) {
    let mut c = RawConn::connect(addr);
    assert_eq!(c.words("FLUSHALL"), b"+OK\r\n");
    assert_eq!(
        c.cmd(&[
            b"CONFIG",
            b"SET",
            b"notify-keyspace-events",
            flags.as_bytes()
        ]),
        b"+OK\r\n"
    );
    let mut sub = RawConn::connect(addr);
    if resp3 {
        sub.words("HELLO 3");
    }
    sub.words("PSUBSCRIBE *");
    let mut replies = Vec::new();
    let mut waiters: Vec<RawConn> = Vec::new();
    for step in SCRIPT {
        match step {
            Cmd(line) => replies.extend(c.words(line)),
            Sleep(ms) => std::thread::sleep(Duration::from_millis(*ms)),
            DumpRestore(from, to) => {
                let payload = bulk_payload(&c.cmd(&[b"DUMP", from.as_bytes()]));
                replies.extend(c.cmd(&[b"RESTORE", to.as_bytes(), b"0", &payload]));
            }
            Blocked(line) => {
                // One waiter at a time: the previous one has been served and counted out.
                for mut waiter in waiters.drain(..) {
                    replies.extend(waiter.reply().expect("the blocked client was served"));
                }
                wait_blocked(&mut c, 0);
                let mut waiter = RawConn::connect(addr);
                let args: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
                waiter.send(&common::encode(&args));
                wait_blocked(&mut c, 1);
                waiters.push(waiter);
            }
        }
    }
    for mut waiter in waiters {
        replies.extend(waiter.reply().expect("the blocked client was served"));
    }
    c.cmd(&[b"PUBLISH", END_CHANNEL.as_bytes(), b"end"]);
    c.cmd(&[b"CONFIG", b"SET", b"notify-keyspace-events", b""]);
    let mut received = Vec::new();
    for _ in 0..10_000 {
        let message = sub.reply().expect("a message before the end marker");
        let last = message
            .windows(END_CHANNEL.len())
            .any(|w| w == END_CHANNEL.as_bytes());
        received.extend(message);
        if last {
            return (received, replies);
        }
    }
    panic!("no end marker among 10000 messages");
}

/// Splits a subscriber's stream into its messages, shown readably.
fn messages(stream: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let mut pos = 0;
    while let Ok(Some(parsed)) = common::parse_reply(stream, pos) {
        out.push(common::show(&stream[pos..parsed.end]));
        pos = parsed.end;
    }
    assert_eq!(pos, stream.len(), "unparsable subscriber stream");
    out
}

/// Runs the script on both servers with `flags` and compares what the subscribers got.
/// Returns how many messages each got (0 when redis-server is missing).
fn compare(flags: &str, resp3: bool) -> usize {
    let Some(redis) = RedisServer::start() else {
        common::skip_note("keyspace events differential test");
        return 0;
    };
    let respd = TestServer::start();
    let (want, want_replies) = run(redis.addr(), flags, resp3);
    let (got, got_replies) = run(respd.addr(), flags, resp3);
    assert_eq!(
        common::show(&got_replies),
        common::show(&want_replies),
        "command replies differ (flags {flags:?})"
    );
    // Message by message, so a failure names the first one that differs.
    let (want, got) = (messages(&want), messages(&got));
    for (i, (w, g)) in want.iter().zip(&got).enumerate() {
        assert_eq!(
            g,
            w,
            "message {i} differs (flags {flags:?}); before it: {:?}",
            &want[i.saturating_sub(3)..i]
        );
    }
    assert_eq!(
        got.len(),
        want.len(),
        "message counts differ (flags {flags:?})"
    );
    want.len()
}

#[test]
fn every_class_on_both_channels_matches_redis() {
    let n = compare("KEAnm", false);
    // Not vacuous: the script produces hundreds of messages.
    assert!(n == 0 || n > 300, "only {n} messages");
}

#[test]
fn keyspace_channel_only_with_resp3_pushes_matches_redis() {
    compare("Kg$lshzxtdn", true);
}

#[test]
fn masked_classes_match_redis() {
    // A class without K or E publishes nothing; E with some classes only those.
    compare("lx", false);
    compare("Ez", false);
    compare("Em", false);
}

/// CONFIG SET then CONFIG GET of `notify-keyspace-events` on `c`: the reply bytes of both.
fn set_and_get(c: &mut RawConn, value: &str) -> (Vec<u8>, Vec<u8>) {
    let set = c.cmd(&[
        b"CONFIG",
        b"SET",
        b"notify-keyspace-events",
        value.as_bytes(),
    ]);
    let get = c.cmd(&[b"CONFIG", b"GET", b"notify-keyspace-events"]);
    (set, get)
}

const VALUES: &[&str] = &[
    "",
    "KEA",
    "AKE",
    "KA",
    "EA",
    "gKE",
    "$lshzxeKE",
    "KEg$lshzxetdnm",
    "A",
    "An",
    "nm",
    "Km",
    "tdK",
    "AAAA",
    "KKEE",
    "a",
    "KEZ",
    "KE ",
    "x-",
    "K,E",
    "1",
];

#[test]
fn config_get_and_bad_values_match_redis() {
    let Some(redis) = RedisServer::start() else {
        return common::skip_note("notify-keyspace-events CONFIG SET/GET");
    };
    let respd = TestServer::start();
    let mut want = redis.conn();
    let mut got = respd.conn();
    for value in VALUES {
        let (want_set, want_get) = set_and_get(&mut want, value);
        let (got_set, got_get) = set_and_get(&mut got, value);
        assert_eq!(
            common::show(&got_set),
            common::show(&want_set),
            "CONFIG SET {value:?}"
        );
        assert_eq!(
            common::show(&got_get),
            common::show(&want_get),
            "after {value:?}"
        );
    }
}

/// Each bad value is refused with Redis's exact error, whatever the server beside it does.
#[test]
fn bad_values_are_refused_with_redis_error() {
    let respd = TestServer::start();
    let mut c = respd.conn();
    for bad in ["a", "KEZ", "KE ", "x-", "K,E", "1", "\u{e9}"] {
        let (set, get) = set_and_get(&mut c, bad);
        assert_eq!(
            common::show(&set),
            common::show(
                b"-ERR CONFIG SET failed (possibly related to argument 'notify-keyspace-events') - Invalid event class character. Use 'Ag$lshzxeKEtmdn'.\r\n"
            ),
            "CONFIG SET {bad:?}"
        );
        // The value in force is unchanged.
        assert_eq!(get, b"*2\r\n$22\r\nnotify-keyspace-events\r\n$0\r\n\r\n");
    }
}

/// The directive from the config (as a config file or --notify-keyspace-events would set
/// it) is in force from the start, and SUBSCRIBE on an exact channel works too.
#[test]
fn directive_from_config_publishes_at_once() {
    let respd = TestServer::with_config(|c| {
        c.apply("notify-keyspace-events", &["E$".to_string()])
            .unwrap()
    });
    let mut sub = respd.conn();
    sub.words("SUBSCRIBE __keyevent@0__:set");
    let mut c = respd.conn();
    c.words("SET k v");
    assert_eq!(
        common::show(&sub.reply().unwrap()),
        common::show(b"*3\r\n$7\r\nmessage\r\n$18\r\n__keyevent@0__:set\r\n$1\r\nk\r\n")
    );
}
