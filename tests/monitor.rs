//! MONITOR and SLOWLOG (see `src/monitor.rs`, `src/slowlog.rs`, `src/cmd/monitor.rs`),
//! compared with a live redis-server 7.0 over real sockets.
//!
//! Each test starts its own respd and its own redis-server (the tests change the slow log's
//! settings, so the shared redis-server would not do) and runs the same commands on both.
//! What changes from run to run is checked, then replaced before the comparison:
//!
//! - a MONITOR line `+<unix secs>.<usecs> [<db> <ip:port>] "arg" ...`: the time must be now
//!   with six digits of microseconds, and the address must be the local address of the
//!   connection that ran the command; the line is then compared as `[<db> <who>] "arg" ...`;
//! - a SLOWLOG GET entry `[id, unix time, microseconds, [args], "ip:port", name]`: the time
//!   must be now, the duration an integer at least 0, the address the client's; ids, args
//!   and names are compared as they are (both servers are fresh, so ids match too).
//!
//! Without a redis-server the tests still check respd against the expectations written here
//! and print a `SKIPPED:` line saying the comparison did not happen.

mod common;
#[path = "common/process.rs"]
mod process;

use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use common::{parse_reply, show, skip_note, RawConn, RedisServer, TestServer};

/// A reply, parsed into a tree (the RESP types these tests meet).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Value {
    Int(i64),
    Bulk(Vec<u8>),
    Array(Vec<Value>),
    /// Anything else, as its exact bytes (status, error, null...).
    Other(Vec<u8>),
}

fn tree(buf: &[u8]) -> Value {
    let parsed = parse_reply(buf, 0)
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("incomplete reply {}", show(buf)));
    let header = &buf[..parsed.header_end];
    match (buf[0], parsed.elements) {
        (b'*', Some(elements)) => Value::Array(
            elements
                .into_iter()
                .map(|(a, b)| tree(&buf[a..b]))
                .collect(),
        ),
        (b':', _) => Value::Int(
            std::str::from_utf8(&header[1..header.len() - 2])
                .unwrap()
                .parse()
                .unwrap(),
        ),
        (b'$', _) if buf[1] != b'-' => Value::Bulk(buf[parsed.header_end..parsed.end - 2].to_vec()),
        _ => Value::Other(buf[..parsed.end].to_vec()),
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The two servers of a comparison: respd, and redis-server when installed.
struct Pair {
    respd: TestServer,
    redis: Option<RedisServer>,
}

impl Pair {
    fn start(test: &str) -> Pair {
        let redis = RedisServer::start();
        if redis.is_none() {
            skip_note(&format!(
                "{test}: checked against respd's expectations only"
            ));
        }
        Pair {
            respd: TestServer::start(),
            redis,
        }
    }

    /// The servers to run a check on, with a name for assertion messages.
    fn servers(&self) -> Vec<(&'static str, SocketAddr)> {
        let mut all = vec![("respd", self.respd.addr())];
        if let Some(redis) = &self.redis {
            all.push(("redis", redis.addr()));
        }
        all
    }
}

/// The connections a MONITOR check knows by name: the address of each, as a MONITOR line
/// would show it, and the name the normalised line uses instead.
struct Who(Vec<(String, &'static str)>);

impl Who {
    fn of(conns: &[(&RawConn, &'static str)]) -> Who {
        Who(conns
            .iter()
            .map(|(c, name)| (c.stream().local_addr().unwrap().to_string(), *name))
            .collect())
    }
}

/// Checks one MONITOR line and returns it as `[<db> <who>] "arg" ...`.
fn normalise_line(reply: &[u8], who: &Who, started: u64) -> String {
    let text = String::from_utf8_lossy(reply).into_owned();
    let line = text
        .strip_prefix('+')
        .and_then(|t| t.strip_suffix("\r\n"))
        .unwrap_or_else(|| panic!("not a MONITOR line: {}", show(reply)));
    let (time, rest) = line.split_once(' ').expect("time, then the rest");
    let (secs, usecs) = time.split_once('.').expect("secs.usecs");
    let secs: u64 = secs.parse().expect("seconds");
    assert!(
        secs + 1 >= started && secs <= unix_now() + 1,
        "MONITOR time {secs} is not now: {line}"
    );
    assert!(
        usecs.len() == 6 && usecs.bytes().all(|b| b.is_ascii_digit()),
        "microseconds in six digits: {line}"
    );
    let rest = rest.strip_prefix('[').expect("[db addr]");
    let (bracket, args) = rest.split_once("] ").expect("[db addr] then args");
    let (db, addr) = bracket.split_once(' ').expect("db addr");
    let name = who
        .0
        .iter()
        .find(|(a, _)| a == addr)
        .map(|(_, n)| *n)
        .unwrap_or_else(|| panic!("address {addr} is no connection of the test: {line}"));
    format!("[{db} {name}] {args}")
}

/// Sends `args` on `conn` and reads `n` replies; each is returned as is, but a MONITOR line
/// (a status reply starting with a digit) is normalised with [`normalise_line`].
/// With no `args`, only reads.
fn step(conn: &mut RawConn, args: &[&[u8]], n: usize, who: &Who, started: u64) -> Vec<String> {
    if !args.is_empty() {
        conn.send(&common::encode(args));
    }
    read(conn, n, who, started)
}

fn read(conn: &mut RawConn, n: usize, who: &Who, started: u64) -> Vec<String> {
    (0..n)
        .map(|_| {
            let reply = conn.reply().expect("a reply");
            if reply.len() > 1 && reply[0] == b'+' && reply[1].is_ascii_digit() {
                normalise_line(&reply, who, started)
            } else {
                show(&reply)
            }
        })
        .collect()
}

/// Every byte, so that each is shown as `sdscatrepr` would.
fn all_bytes() -> Vec<u8> {
    (0..=255u8).collect()
}

/// What one client's commands look like on a monitor: a script of commands, refused ones,
/// admin ones and passwords included, run by one connection while another monitors. Read until
/// the ECHO that ends the script shows.
fn monitor_transcript(addr: SocketAddr, started: u64) -> Vec<String> {
    let mut monitor = RawConn::connect(addr);
    let mut actor = RawConn::connect(addr);
    let who = Who::of(&[(&monitor, "monitor"), (&actor, "actor")]);
    assert_eq!(monitor.cmd(&[b"MONITOR"]), b"+OK\r\n");
    let long = vec![b'x'; 300];
    let bytes = all_bytes();
    let script: &[&[&[u8]]] = &[
        &[b"SET", b"k", b"v"],
        &[b"set", b"bin", &bytes],
        &[b"SET", b"n", b"123"],
        &[b"SET", b"long", &long],
        &[b"ECHO", b""],
        &[b"GET", b"k"],
        &[b"LPUSH", b"k", b"x"], // WRONGTYPE: it ran, so it shows
        // Commands Redis propagates rewritten show as they were called.
        &[b"SET", b"ttl", b"v", b"EX", b"100"],
        &[b"EXPIRE", b"ttl", b"200"],
        &[b"GETEX", b"ttl", b"PERSIST"],
        &[b"INCRBYFLOAT", b"float", b"1.5"],
        &[b"GETSET", b"float", b"2"],
        &[b"SADD", b"set", b"a"],
        &[b"SPOP", b"set", b"10"],
        &[b"SELECT", b"5"],
        &[b"SET", b"in5", b"v"],
        &[b"SELECT", b"0"],
        // Refused before running: not shown.
        &[b"NOSUCH", b"a"],
        &[b"SET", b"arity"],
        &[b"CONFIG", b"NOSUCH"],
        // Admin commands: not shown.
        &[b"CONFIG", b"GET", b"maxmemory"],
        &[b"CONFIG", b"SET", b"slowlog-max-len", b"128"],
        &[b"SLOWLOG", b"LEN"],
        &[b"CLIENT", b"LIST", b"ID", b"1"],
        &[b"ACL", b"SETUSER", b"someone", b"on", b">secret"],
        &[b"ACL", b"DELUSER", b"someone"],
        &[b"LASTSAVE"],
        &[b"ROLE"],
        // Not admin: shown.
        &[b"CLIENT", b"SETNAME", b"actor-name"],
        &[b"CLIENT", b"GETNAME"],
        &[b"ACL", b"WHOAMI"],
        &[b"INFO", b"nosuchsection"],
        &[b"DBSIZE"],
        // Passwords are redacted, whether the command succeeds or not.
        &[b"AUTH", b"wrong"],
        &[b"AUTH", b"someone", b"wrong"],
        &[b"HELLO", b"2", b"AUTH", b"default", b"wrong"],
        &[b"HELLO", b"2", b"AUTH", b"default", b"pw", b"SETNAME", b"x"],
        &[
            b"MIGRATE",
            b"127.0.0.1",
            b"1",
            b"nokey",
            b"0",
            b"10",
            b"AUTH",
            b"secret",
        ],
        &[
            b"MIGRATE",
            b"127.0.0.1",
            b"1",
            b"",
            b"0",
            b"10",
            b"COPY",
            b"AUTH2",
            b"user",
            b"secret",
            b"KEYS",
            b"nokey",
        ],
        // Transactions: MULTI, each queued command as it runs, then EXEC.
        &[b"MULTI"],
        &[b"INCR", b"counter"],
        &[b"SET", b"m", b"1"],
        &[b"EXEC"],
        // An EXEC refused for a queueing error shows, so that the MULTI is seen to end.
        &[b"MULTI"],
        &[b"NOSUCH"],
        &[b"EXEC"],
        &[b"MULTI"],
        &[b"GET", b"k"],
        &[b"DISCARD"],
        &[b"EXEC"],
        // MONITOR inside EXEC is refused (and, admin, not shown).
        &[b"MULTI"],
        &[b"MONITOR"],
        &[b"EXEC"],
        &[b"WATCH", b"k"],
        &[b"UNWATCH"],
        &[b"PUBLISH", b"channel", b"message"],
        // A blocking command shows when it runs, not when it ends.
        &[b"BLPOP", b"empty", b"0.01"],
        &[b"FLUSHDB"],
    ];
    for command in script {
        actor.cmd(command);
    }
    // An inline command shows as its arguments.
    actor.send(b"SET inline \"a b\\x00\"\r\n");
    actor.reply().unwrap();
    actor.cmd(&[b"ECHO", b"end-of-script"]);
    let mut lines = vec![];
    loop {
        let line = read(&mut monitor, 1, &who, started).remove(0);
        let done = line.ends_with("\"ECHO\" \"end-of-script\"");
        lines.push(line);
        if done {
            return lines;
        }
    }
}

#[test]
fn monitor_shows_what_redis_shows_and_redacts_passwords() {
    let pair = Pair::start("monitor transcript");
    let started = unix_now();
    let ours = monitor_transcript(pair.respd.addr(), started);
    // What respd must show whether or not Redis is there to compare with.
    let expected_here = [
        r#"[0 actor] "SET" "k" "v""#,
        r#"[0 actor] "SET" "ttl" "v" "EX" "100""#,
        r#"[0 actor] "SPOP" "set" "10""#,
        r#"[0 actor] "AUTH" "(redacted)""#,
        r#"[0 actor] "AUTH" "(redacted)" "(redacted)""#,
        r#"[0 actor] "HELLO" "2" "AUTH" "(redacted)" "(redacted)""#,
        r#"[0 actor] "MIGRATE" "127.0.0.1" "1" "nokey" "0" "10" "AUTH" "(redacted)""#,
        r#"[5 actor] "SET" "in5" "v""#,
        r#"[0 actor] "SET" "inline" "a b\x00""#,
    ];
    for line in expected_here {
        assert!(ours.iter().any(|l| l == line), "no {line} in {ours:#?}");
    }
    for hidden in ["NOSUCH", "CONFIG", "SLOWLOG", "LIST", "SETUSER", "DELUSER"] {
        assert!(
            !ours.iter().any(|l| l.contains(&format!("\"{hidden}\""))),
            "{hidden} must not show: {ours:#?}"
        );
    }
    let binary = &ours[1];
    assert!(
        binary.starts_with(r#"[0 actor] "set" "bin" "\x00\x01\x02\x03\x04\x05\x06\a\b\t\n\x0b"#),
        "{binary}"
    );
    assert!(
        binary.contains(r##" !\"#$%&'()*+,-./0123456789"##),
        "{binary}"
    );
    assert!(binary.contains(r#"XYZ[\\]^_`abc"#), "{binary}");
    assert!(binary.contains(r#"}~\x7f\x80\x81"#), "{binary}");
    assert!(binary.ends_with(r#"\xfe\xff""#), "{binary}");
    if let Some(redis) = &pair.redis {
        let theirs = monitor_transcript(redis.addr(), started);
        assert_eq!(ours, theirs, "MONITOR lines differ from Redis's");
    }
}

/// What a client in MONITOR mode may still send, and what it gets back: each step sends one
/// command on the monitor connection and lists the replies it must read (its own MONITOR
/// lines included), the same on respd and Redis.
#[test]
fn a_monitor_may_ping_reset_and_quit_but_not_touch_the_keyspace() {
    let pair = Pair::start("monitor connection's own commands");
    let started = unix_now();
    for (server, addr) in pair.servers() {
        let mut monitor = RawConn::connect(addr);
        let mut other = RawConn::connect(addr);
        let mut actor = RawConn::connect(addr);
        let who = Who::of(&[(&monitor, "monitor"), (&other, "other"), (&actor, "actor")]);
        let check = |conn: &mut RawConn, args: &[&[u8]], expected: &[&str]| {
            let got = step(conn, args, expected.len(), &who, started);
            assert_eq!(got, expected, "{server}: {}", show(&common::encode(args)));
        };
        check(&mut monitor, &[b"MONITOR"], &[r#""+OK\r\n""#]);
        check(&mut other, &[b"MONITOR"], &[r#""+OK\r\n""#]);
        // Its own commands show to it after their reply; the other monitor sees them too.
        check(
            &mut monitor,
            &[b"PING"],
            &[r#""+PONG\r\n""#, r#"[0 monitor] "PING""#],
        );
        check(&mut other, &[], &[r#"[0 monitor] "PING""#]);
        check(
            &mut other,
            &[b"ECHO", b"o"],
            &[r#""$1\r\no\r\n""#, r#"[0 other] "ECHO" "o""#],
        );
        check(&mut monitor, &[], &[r#"[0 other] "ECHO" "o""#]);
        // A monitor is a replica to Redis: no reads, no writes, nothing refused is shown.
        let refused = r#""-ERR Replica can't interact with the keyspace\r\n""#;
        check(&mut monitor, &[b"GET", b"k"], &[refused]);
        check(&mut monitor, &[b"SET", b"k", b"v"], &[refused]);
        check(&mut monitor, &[b"DBSIZE"], &[refused]);
        check(&mut monitor, &[b"PUBLISH", b"c", b"m"], &[refused]);
        // MONITOR again: no reply at all.
        check(&mut monitor, &[b"MONITOR"], &[]);
        check(
            &mut monitor,
            &[b"SELECT", b"2"],
            &[r#""+OK\r\n""#, r#"[2 monitor] "SELECT" "2""#],
        );
        check(
            &mut monitor,
            &[b"CLIENT", b"GETNAME"],
            &[r#""$-1\r\n""#, r#"[2 monitor] "CLIENT" "GETNAME""#],
        );
        // Inside MULTI a refused read dooms the transaction; EXEC still shows.
        check(
            &mut monitor,
            &[b"MULTI"],
            &[r#""+OK\r\n""#, r#"[2 monitor] "MULTI""#],
        );
        check(&mut monitor, &[b"GET", b"k"], &[refused]);
        check(
            &mut monitor,
            &[b"EXEC"],
            &[
                r#""-EXECABORT Transaction discarded because of previous errors.\r\n""#,
                r#"[2 monitor] "EXEC""#,
            ],
        );
        // Another client's commands, with the db it runs in.
        check(&mut actor, &[b"SET", b"a", b"1"], &[r#""+OK\r\n""#]);
        check(&mut monitor, &[], &[r#"[0 actor] "SET" "a" "1""#]);
        check(
            &mut other,
            &[],
            &[
                r#"[2 monitor] "SELECT" "2""#,
                r#"[2 monitor] "CLIENT" "GETNAME""#,
                r#"[2 monitor] "MULTI""#,
                r#"[2 monitor] "EXEC""#,
                r#"[0 actor] "SET" "a" "1""#,
            ],
        );
        // RESET ends monitoring before the line is fed: the others see it (in db 0, where
        // RESET took it), it does not.
        check(&mut monitor, &[b"RESET"], &[r#""+RESET\r\n""#]);
        check(&mut other, &[], &[r#"[0 monitor] "RESET""#]);
        check(&mut actor, &[b"SET", b"b", b"2"], &[r#""+OK\r\n""#]);
        check(&mut other, &[], &[r#"[0 actor] "SET" "b" "2""#]);
        // Back to a normal client: it reads and writes again, and is not shown its commands.
        check(&mut monitor, &[b"GET", b"a"], &[r#""$1\r\n1\r\n""#]);
        check(&mut other, &[], &[r#"[0 monitor] "GET" "a""#]);
        // QUIT: +OK, its own line is dropped (the connection is closing), others see it.
        check(&mut monitor, &[b"MONITOR"], &[r#""+OK\r\n""#]);
        check(&mut monitor, &[b"QUIT"], &[r#""+OK\r\n""#]);
        assert!(
            monitor.is_closed_within(common::REPLY_TIMEOUT),
            "{server}: QUIT closes"
        );
        check(&mut other, &[], &[r#"[0 monitor] "QUIT""#]);
        // A subscribed monitor (RESP2) is held to the Pub/Sub commands first.
        check(
            &mut other,
            &[b"SUBSCRIBE", b"ch"],
            &[
                r#""*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n""#,
                r#"[0 other] "SUBSCRIBE" "ch""#,
            ],
        );
        check(
            &mut other,
            &[b"GET", b"k"],
            &[
                r#""-ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n""#,
            ],
        );
        check(
            &mut other,
            &[b"EXEC"],
            &[
                r#""-EXECABORT Transaction discarded because of: Can't execute 'exec': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n""#,
                r#"[0 other] "EXEC""#,
            ],
        );
        check(&mut other, &[b"RESET"], &[r#""+RESET\r\n""#]);
        check(&mut other, &[b"PING"], &[r#""+PONG\r\n""#]);
    }
}

#[test]
fn monitor_inside_a_transaction_or_resp3_is_as_in_redis() {
    let pair = Pair::start("MONITOR in MULTI and in RESP3");
    let started = unix_now();
    let mut transcripts = vec![];
    for (server, addr) in pair.servers() {
        let mut got = vec![];
        let mut c = RawConn::connect(addr);
        got.push(show(&c.cmd(&[b"MULTI"])));
        got.push(show(&c.cmd(&[b"MONITOR"])));
        got.push(show(&c.cmd(&[b"EXEC"])));
        // In RESP3 the lines are the same simple strings, not pushes.
        let mut monitor = RawConn::connect(addr);
        let mut actor = RawConn::connect(addr);
        let who = Who::of(&[(&monitor, "monitor"), (&actor, "actor")]);
        monitor.cmd(&[b"HELLO", b"3"]);
        got.push(show(&monitor.cmd(&[b"MONITOR"])));
        actor.cmd(&[b"HELLO", b"3"]);
        actor.cmd(&[b"HSET", b"h", b"f", b"v"]);
        got.extend(read(&mut monitor, 2, &who, started));
        // CLIENT INFO is no keyspace command: a monitor may send it, and it shows flag O.
        let info = monitor.cmd(&[b"CLIENT", b"INFO"]);
        assert!(
            String::from_utf8_lossy(&info).contains(" flags=O "),
            "{server}: {}",
            show(&info)
        );
        transcripts.push(got);
    }
    assert_eq!(
        transcripts[0],
        [
            r#""+OK\r\n""#,
            r#""+QUEUED\r\n""#,
            r#""*1\r\n-ERR MONITOR isn't allowed for DENY BLOCKING client\r\n""#,
            r#""+OK\r\n""#,
            r#"[0 actor] "HELLO" "3""#,
            r#"[0 actor] "HSET" "h" "f" "v""#,
        ]
    );
    if transcripts.len() == 2 {
        assert_eq!(transcripts[0], transcripts[1], "respd, then redis");
    }
}

// ---------------------------------------------------------------------------------------
// SLOWLOG

/// Checks each SLOWLOG GET entry of `reply` (six fields; time now; duration an integer; the
/// address one of `who`) and returns it with time and duration replaced by 0 and the address
/// by its name.
fn normalise_slowlog(reply: &[u8], who: &Who, started: u64) -> Value {
    let Value::Array(entries) = tree(reply) else {
        panic!("SLOWLOG GET: not an array: {}", show(reply));
    };
    Value::Array(
        entries
            .into_iter()
            .map(|entry| {
                let Value::Array(mut fields) = entry else {
                    panic!("entry not an array: {}", show(reply));
                };
                assert_eq!(fields.len(), 6, "six fields: {fields:?}");
                assert!(matches!(fields[0], Value::Int(id) if id >= 0), "{fields:?}");
                let Value::Int(time) = fields[1] else {
                    panic!("time: {fields:?}")
                };
                assert!(
                    time as u64 + 1 >= started && time as u64 <= unix_now() + 1,
                    "time is now: {fields:?}"
                );
                assert!(matches!(fields[2], Value::Int(us) if us >= 0), "{fields:?}");
                assert!(matches!(fields[3], Value::Array(_)), "{fields:?}");
                let Value::Bulk(addr) = &fields[4] else {
                    panic!("address: {fields:?}")
                };
                let addr = String::from_utf8_lossy(addr).into_owned();
                let name = who
                    .0
                    .iter()
                    .find(|(a, _)| *a == addr)
                    .map(|(_, n)| *n)
                    .unwrap_or_else(|| panic!("{addr} is no connection of the test"));
                fields[1] = Value::Int(0);
                fields[2] = Value::Int(0);
                fields[4] = Value::Bulk(name.as_bytes().to_vec());
                Value::Array(fields)
            })
            .collect(),
    )
}

/// The arguments of each entry, newest first, as text.
fn slowlog_args(entries: &Value) -> Vec<String> {
    let Value::Array(entries) = entries else {
        unreachable!()
    };
    entries
        .iter()
        .map(|e| {
            let Value::Array(fields) = e else {
                unreachable!()
            };
            let Value::Array(args) = &fields[3] else {
                unreachable!()
            };
            args.iter()
                .map(|a| match a {
                    Value::Bulk(b) => String::from_utf8_lossy(b).into_owned(),
                    other => format!("{other:?}"),
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

/// Runs a script with every command logged (slowlog-log-slower-than 0), then returns the
/// normalised SLOWLOG GET -1 (read over RESP2 and RESP3: the same bytes) and the replies.
fn slowlog_transcript(addr: SocketAddr, started: u64) -> (Value, Vec<Vec<u8>>) {
    let mut c = RawConn::connect(addr);
    let mut other = RawConn::connect(addr);
    let mut blocked = RawConn::connect(addr);
    let who = Who::of(&[(&c, "c"), (&other, "other"), (&blocked, "blocked")]);
    let mut replies = vec![];
    let many: Vec<Vec<u8>> = (0..40).map(|i| format!("m{i}").into_bytes()).collect();
    let mut sadd: Vec<&[u8]> = vec![b"SADD", b"many"];
    sadd.extend(many.iter().map(|m| m.as_slice()));
    let exactly_32: Vec<&[u8]> = sadd[..32].to_vec();
    let exactly_33: Vec<&[u8]> = sadd[..33].to_vec();
    let long128 = vec![b'a'; 128];
    let long129 = vec![b'b'; 129];
    let long1000 = vec![b'c'; 1000];
    let bytes = all_bytes();
    let script: Vec<Vec<&[u8]>> = vec![
        vec![b"CONFIG", b"SET", b"slowlog-log-slower-than", b"0"],
        vec![b"SLOWLOG", b"RESET"],
        vec![b"SET", b"k", b"v"],
        // Commands Redis propagates rewritten are logged as they were called.
        vec![b"SET", b"ttl", b"v", b"EX", b"100"],
        vec![b"EXPIRE", b"ttl", b"200"],
        vec![b"GETEX", b"ttl", b"PERSIST"],
        vec![b"INCRBYFLOAT", b"float", b"1.5"],
        vec![b"GETSET", b"float", b"2"],
        vec![b"SADD", b"set", b"a"],
        vec![b"SPOP", b"set", b"10"],
        vec![b"CLIENT", b"SETNAME", b"first-name"],
        vec![b"GET", b"k"],
        sadd.clone(),
        exactly_32,
        exactly_33,
        vec![b"SET", b"a128", &long128],
        vec![b"SET", b"a129", &long129],
        vec![b"SET", &long1000, &bytes],
        // Refused before running: not logged.
        vec![b"NOSUCH", b"x"],
        vec![b"GET"],
        // Passwords and secrets are redacted.
        vec![b"AUTH", b"wrong"],
        vec![b"AUTH", b"user", b"wrong"],
        vec![b"HELLO", b"2", b"AUTH", b"default", b"wrong"],
        vec![b"ACL", b"SETUSER", b"slowlog-user", b"on", b">pw", b"+get"],
        vec![b"ACL", b"SETUSER", b"bad user", b"+get"],
        vec![b"ACL", b"DELUSER", b"slowlog-user"],
        vec![b"CONFIG", b"SET", b"requirepass", b""],
        vec![b"CONFIG", b"SET", b"masterauth", b"secret"],
        vec![b"CONFIG", b"SET", b"masteruser", b"someone"],
        vec![
            b"CONFIG",
            b"SET",
            b"maxmemory-policy",
            b"noeviction",
            b"masterauth",
            b"again",
        ],
        vec![b"CONFIG", b"SET", b"masterauth", b""],
        vec![
            b"MIGRATE",
            b"127.0.0.1",
            b"1",
            b"nokey",
            b"0",
            b"10",
            b"AUTH",
            b"secret",
        ],
        vec![
            b"MIGRATE",
            b"127.0.0.1",
            b"1",
            b"",
            b"0",
            b"10",
            b"AUTH2",
            b"user",
            b"secret",
            b"KEYS",
            b"nokey",
        ],
        // EXEC is not logged, the commands it ran are; errors are logged too.
        vec![b"MULTI"],
        vec![b"INCR", b"counter"],
        vec![b"LPUSH", b"k", b"wrongtype"],
        vec![b"EXEC"],
        vec![b"CLIENT", b"SETNAME", b""],
        vec![b"SELECT", b"3"],
        vec![b"SLOWLOG", b"LEN"],
    ];
    for command in &script {
        replies.push(c.cmd(command));
    }
    // Another connection, with its own name.
    other.cmd(&[b"CLIENT", b"SETNAME", b"other-name"]);
    other.cmd(&[b"PING"]);
    // A blocking command that times out is not logged when it ends (Redis 7.0 logs a
    // blocked command only when a write serves it).
    replies.push(blocked.cmd(&[b"BLPOP", b"nolist", b"0.01"]));
    c.cmd(&[b"CONFIG", b"SET", b"slowlog-log-slower-than", b"-1"]);
    let get = c.cmd(&[b"SLOWLOG", b"GET", b"-1"]);
    c.cmd(&[b"HELLO", b"3"]);
    assert_eq!(
        c.cmd(&[b"SLOWLOG", b"GET", b"-1"]),
        get,
        "RESP3 is the same"
    );
    (normalise_slowlog(&get, &who, started), replies)
}

#[test]
fn slowlog_entries_are_redis_entries_shortened_and_redacted() {
    let pair = Pair::start("SLOWLOG entries");
    let started = unix_now();
    let (ours, our_replies) = slowlog_transcript(pair.respd.addr(), started);
    let args = slowlog_args(&ours);
    let b129 = format!("{}... (1 more bytes)", "b".repeat(128));
    let c1000 = format!("{}... (872 more bytes)", "c".repeat(128));
    // Newest first.
    let expected_in_order = [
        "PING".to_string(),
        "CLIENT SETNAME other-name".into(),
        "SLOWLOG LEN".into(),
        "SELECT 3".into(),
        "CLIENT SETNAME ".into(),
        "LPUSH k wrongtype".into(),
        "INCR counter".into(),
        "MULTI".into(),
        "MIGRATE 127.0.0.1 1  0 10 AUTH2 (redacted) (redacted) KEYS nokey".into(),
        "MIGRATE 127.0.0.1 1 nokey 0 10 AUTH (redacted)".into(),
        "CONFIG SET masterauth (redacted)".into(),
        "CONFIG SET maxmemory-policy noeviction masterauth (redacted)".into(),
        "CONFIG SET masteruser (redacted)".into(),
        "CONFIG SET masterauth (redacted)".into(),
        "CONFIG SET requirepass (redacted)".into(),
        "ACL DELUSER slowlog-user".into(),
        "ACL SETUSER (redacted) (redacted)".into(),
        "ACL SETUSER (redacted) (redacted) (redacted) (redacted)".into(),
        "HELLO 2 AUTH (redacted) (redacted)".into(),
        "AUTH (redacted) (redacted)".into(),
        "AUTH (redacted)".into(),
    ];
    assert_eq!(
        args[..expected_in_order.len()],
        expected_in_order,
        "{args:#?}"
    );
    assert!(args.contains(&format!("SET a129 {b129}")), "{args:#?}");
    assert!(args.iter().any(|a| a.starts_with(&format!("SET {c1000} "))));
    assert!(args.contains(&format!("SET a128 {}", "a".repeat(128))));
    let sadd_31 = (0..29).map(|i| format!(" m{i}")).collect::<String>();
    assert!(args.contains(&format!("SADD many{sadd_31} ... (11 more arguments)")));
    let sadd_32 = (0..30).map(|i| format!(" m{i}")).collect::<String>();
    assert!(
        args.contains(&format!("SADD many{sadd_32}")),
        "32 are kept whole"
    );
    assert!(args.contains(&format!("SADD many{sadd_31} ... (2 more arguments)")));
    assert!(!args.iter().any(|a| a.contains("NOSUCH") || a == "GET"));
    assert!(!args
        .iter()
        .any(|a| a.starts_with("EXEC") || a.starts_with("BLPOP")));
    for called in [
        "SET ttl v EX 100",
        "EXPIRE ttl 200",
        "SPOP set 10",
        "GETSET float 2",
    ] {
        assert!(args.iter().any(|a| a == called), "{called} in {args:#?}");
    }
    assert_eq!(args.last().unwrap(), "SLOWLOG RESET");
    if let Some(redis) = &pair.redis {
        let (theirs, their_replies) = slowlog_transcript(redis.addr(), started);
        assert_eq!(slowlog_args(&theirs), args, "arguments as Redis logs them");
        assert_eq!(ours, theirs, "entries (ids, names, addresses) as Redis's");
        assert_eq!(our_replies.len(), their_replies.len());
        for (i, (a, b)) in our_replies.iter().zip(&their_replies).enumerate() {
            // HELLO's reply carries the client id, which differs.
            if a.starts_with(b"*14\r\n") {
                continue;
            }
            assert_eq!(show(a), show(b), "reply {i}");
        }
    }
}

/// SLOWLOG's subcommands, its errors and its two settings: each reply compared with Redis
/// (SLOWLOG GET normalised), and the lengths checked against what Redis does.
fn slowlog_commands_transcript(addr: SocketAddr, started: u64) -> Vec<String> {
    let mut c = RawConn::connect(addr);
    let who = Who::of(&[(&c, "c")]);
    let mut out = vec![];
    let mut run = |c: &mut RawConn, line: &str| {
        let args: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
        let reply = c.cmd(&args);
        let shown = if line.starts_with("SLOWLOG GET") && reply.starts_with(b"*") {
            format!("{:?}", normalise_slowlog(&reply, &who, started))
        } else {
            show(&reply)
        };
        out.push(format!("{line} -> {shown}"));
    };
    for line in [
        "SLOWLOG HELP",
        "SLOWLOG help",
        "SLOWLOG HELP extra",
        "SLOWLOG",
        "SLOWLOG NOSUCH",
        "SLOWLOG LEN x",
        "SLOWLOG RESET x",
        "SLOWLOG GET 1 2",
        "SLOWLOG GET -2",
        "SLOWLOG GET abc",
        "SLOWLOG GET 1.5",
        "SLOWLOG GET 9223372036854775808",
        // The settings' ranges.
        "CONFIG SET slowlog-log-slower-than -2",
        "CONFIG SET slowlog-log-slower-than abc",
        "CONFIG SET slowlog-max-len -1",
        "CONFIG GET slowlog-max-len",
        "CONFIG GET slowlog-log-slower-than",
        // Logging everything, with at most 3 entries.
        "CONFIG SET slowlog-max-len 3",
        "CONFIG SET slowlog-log-slower-than 0",
        "SLOWLOG RESET",
        "SET a 1",
        "SET b 2",
        "SET c 3",
        "SET d 4",
        "SLOWLOG LEN",
        "SLOWLOG GET",
        "SLOWLOG GET 0",
        "SLOWLOG GET 1",
        "SLOWLOG GET -1",
        // A longer limit keeps what there is; a shorter one trims at the next entry.
        "CONFIG SET slowlog-max-len 10",
        "SLOWLOG LEN",
        "CONFIG SET slowlog-max-len 1",
        "SLOWLOG LEN",
        "SLOWLOG GET -1",
        // 0 keeps nothing.
        "CONFIG SET slowlog-max-len 0",
        "SLOWLOG LEN",
        "CONFIG SET slowlog-max-len 128",
        // A negative threshold logs nothing, not even the commands around it.
        "CONFIG SET slowlog-log-slower-than -1",
        "SLOWLOG RESET",
        "SET e 5",
        "SLOWLOG LEN",
        // A high one logs only what is slower.
        "CONFIG SET slowlog-log-slower-than 10000000",
        "SET f 6",
        "SLOWLOG LEN",
        "SLOWLOG GET",
    ] {
        run(&mut c, line);
    }
    out
}

#[test]
fn slowlog_subcommands_errors_and_limits_are_as_in_redis() {
    let pair = Pair::start("SLOWLOG subcommands");
    let started = unix_now();
    let ours = slowlog_commands_transcript(pair.respd.addr(), started);
    let find = |line: &str| {
        ours.iter()
            .filter(|l| l.starts_with(&format!("{line} -> ")))
            .map(|l| l[line.len() + 4..].to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        find("SLOWLOG GET -2"),
        [r#""-ERR count should be greater than or equal to -1\r\n""#]
    );
    let len = |n: u32| format!("\":{n}\\r\\n\"");
    // The trimming happens as an entry is added: 3 kept of 5; the LEN then the CONFIG SET
    // before the second LEN make 4 under the new limit of 10; the limit 1 leaves the CONFIG
    // SET that set it; 0 keeps nothing, and nothing is logged below or above the threshold.
    assert_eq!(find("SLOWLOG LEN"), [3, 4, 1, 0, 0, 0].map(len));
    assert_eq!(find("SLOWLOG GET 0"), ["Array([])"]);
    if let Some(redis) = &pair.redis {
        let theirs = slowlog_commands_transcript(redis.addr(), started);
        for (a, b) in ours.iter().zip(&theirs) {
            assert_eq!(a, b);
        }
        assert_eq!(ours.len(), theirs.len());
    }
}

/// Waits until INFO shows `n` blocked clients (bounded by the reply timeout).
fn wait_blocked(c: &mut RawConn, n: usize) {
    let deadline = std::time::Instant::now() + common::REPLY_TIMEOUT;
    loop {
        let info = String::from_utf8_lossy(&c.cmd(&[b"INFO", b"clients"])).into_owned();
        if info.contains(&format!("blocked_clients:{n}\r\n")) {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "{info}");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// A blocked command goes to the slow log when a write serves it, with its own arguments
/// (not the LPOP it propagates as); one that times out is not logged; one CLIENT UNBLOCK
/// releases leaves an entry without arguments.
fn blocked_slowlog_transcript(addr: SocketAddr, started: u64) -> Value {
    let mut c = RawConn::connect(addr);
    let mut blocked = RawConn::connect(addr);
    let who = Who::of(&[(&c, "c"), (&blocked, "blocked")]);
    c.cmd(&[b"CONFIG", b"SET", b"slowlog-log-slower-than", b"-1"]);
    blocked.cmd(&[b"CLIENT", b"SETNAME", b"waiting"]);
    blocked.send(&common::encode(&[b"BLPOP", b"list", b"0"]));
    wait_blocked(&mut c, 1);
    c.cmd(&[b"CONFIG", b"SET", b"slowlog-log-slower-than", b"0"]);
    c.cmd(&[b"SLOWLOG", b"RESET"]);
    // Served after the EXEC, so after the LPUSH's own entry.
    c.cmd(&[b"MULTI"]);
    c.cmd(&[b"LPUSH", b"list", b"a"]);
    c.cmd(&[b"EXEC"]);
    assert_eq!(blocked.reply().unwrap(), b"*2\r\n$4\r\nlist\r\n$1\r\na\r\n");
    // Timed out: not logged. Then released by CLIENT UNBLOCK.
    blocked.send(&common::encode(&[b"BRPOP", b"list", b"0.01"]));
    assert_eq!(blocked.reply().unwrap(), b"*-1\r\n");
    c.cmd(&[b"CONFIG", b"SET", b"slowlog-log-slower-than", b"-1"]);
    blocked.send(&common::encode(&[b"BZPOPMIN", b"zset", b"0"]));
    wait_blocked(&mut c, 1);
    let id = String::from_utf8_lossy(&blocked_id(&mut c)).into_owned();
    c.cmd(&[b"CONFIG", b"SET", b"slowlog-log-slower-than", b"0"]);
    c.cmd(&[b"CLIENT", b"UNBLOCK", id.as_bytes()]);
    assert_eq!(blocked.reply().unwrap(), b"*-1\r\n");
    c.cmd(&[b"CONFIG", b"SET", b"slowlog-log-slower-than", b"-1"]);
    normalise_slowlog(&c.cmd(&[b"SLOWLOG", b"GET", b"-1"]), &who, started)
}

/// The id of the client named `waiting`, from CLIENT LIST.
fn blocked_id(c: &mut RawConn) -> Vec<u8> {
    let list = String::from_utf8_lossy(&c.cmd(&[b"CLIENT", b"LIST"])).into_owned();
    let line = list
        .lines()
        .find(|l| l.contains(" name=waiting "))
        .expect("the blocked client");
    line.strip_prefix("id=")
        .and_then(|l| l.split(' ').next())
        .unwrap()
        .as_bytes()
        .to_vec()
}

#[test]
fn slowlog_logs_a_blocked_command_when_a_write_serves_it() {
    let pair = Pair::start("SLOWLOG of blocked commands");
    let started = unix_now();
    let ours = blocked_slowlog_transcript(pair.respd.addr(), started);
    let mut args = slowlog_args(&ours);
    assert!(args[0].starts_with("CLIENT UNBLOCK "), "{args:?}");
    args[0] = "CLIENT UNBLOCK".into();
    assert_eq!(
        args,
        [
            "CLIENT UNBLOCK",
            // Redis 7.0.15 logs the released client with no arguments (it logs it after
            // resetting it).
            "",
            "CONFIG SET slowlog-log-slower-than 0",
            "BLPOP list 0",
            "LPUSH list a",
            "MULTI",
            "SLOWLOG RESET",
        ]
    );
    if let Some(redis) = &pair.redis {
        let theirs = blocked_slowlog_transcript(redis.addr(), started);
        // The CLIENT UNBLOCK's id argument differs between the servers.
        let without_ids = |v: &Value| {
            let mut args = slowlog_args(v);
            args.retain(|a| !a.starts_with("CLIENT UNBLOCK"));
            args
        };
        assert_eq!(without_ids(&ours), without_ids(&theirs));
        let Value::Array(ours) = ours else {
            unreachable!()
        };
        let Value::Array(theirs) = theirs else {
            unreachable!()
        };
        assert_eq!(ours[1..], theirs[1..], "entries but the CLIENT UNBLOCK");
    }
}

/// Commands replayed from the append-only file at start go neither to the slow log (Redis runs
/// them outside `call()`), nor, had anyone been there to see them, to the monitors, even with
/// `slowlog-log-slower-than 0` set from the start; a MULTI block in the file included.
#[test]
fn the_aof_replay_is_not_slow_logged() {
    let mut aof = vec![];
    for command in [
        &[b"SELECT".as_slice(), b"0"][..],
        &[b"SET", b"a", b"1"],
        &[b"MULTI"],
        &[b"INCR", b"counter"],
        &[b"SET", b"b", b"2"],
        &[b"EXEC"],
        &[b"RPUSH", b"list", b"x"],
    ] {
        aof.extend(common::encode(command));
    }
    let settings = ["--appendonly", "yes", "--slowlog-log-slower-than", "0"];
    let ours_dir = process::TempDir::new("monitor", "aof-replay");
    std::fs::write(ours_dir.aof(), &aof).unwrap();
    let (child, mut ours, _) = process::start(&ours_dir.0, &settings);
    let _child = process::KillOnDrop(child);
    let theirs_dir = process::TempDir::new("monitor", "aof-replay-redis");
    std::fs::write(theirs_dir.aof(), &aof).unwrap();
    let mut redis_args = vec!["--dir", theirs_dir.0.to_str().unwrap()];
    redis_args.extend(settings);
    let redis = RedisServer::start_with(&redis_args);
    if redis.is_none() {
        skip_note("AOF replay and the slow log, compared with redis-server");
    }
    let mut theirs = redis.as_ref().map(|r| r.conn());
    for conn in std::iter::once(&mut ours).chain(theirs.as_mut()) {
        assert_eq!(conn.cmd(&[b"DBSIZE"]), b":4\r\n", "the AOF was loaded");
        // The DBSIZE just run is the only entry (but for the PING that saw Redis start).
        let log = conn.cmd(&[b"SLOWLOG", b"GET", b"-1"]);
        let mut args = slowlog_args(&tree(&log));
        args.retain(|a| a != "PING");
        assert_eq!(args, ["DBSIZE"], "{}", show(&log));
    }
}

/// A monitor that does not read is held to `client-output-buffer-limit normal` (Redis flags it
/// a replica but counts it as a normal client there): under the default normal limit (none)
/// it gets every line, however late, even with a small replica limit; past a normal hard
/// limit it is disconnected, and the clients it watches go on. 32 MB of commands is far more
/// than the kernel's socket buffers hold.
#[test]
fn a_monitor_that_does_not_read_is_cut_off_at_the_normal_output_limit() {
    let pair = Pair::start("MONITOR output limit");
    for (server, addr) in pair.servers() {
        let mut admin = RawConn::connect(addr);
        let mut monitor = RawConn::connect(addr);
        assert_eq!(monitor.cmd(&[b"MONITOR"]), b"+OK\r\n");
        let mut actor = RawConn::connect(addr);
        let value = vec![b'v'; 4096];
        let batch: Vec<u8> = (0..256)
            .flat_map(|i| common::encode(&[b"SET", format!("k{i}").as_bytes(), &value]))
            .collect();
        let write_32mb = |actor: &mut RawConn| {
            for _ in 0..32 {
                actor.send(&batch);
                for _ in 0..256 {
                    assert_eq!(actor.reply().unwrap(), b"+OK\r\n", "{server}");
                }
            }
        };
        for class in ["replica", "normal"] {
            let limit = format!("{class} 1mb 0 0");
            let set: &[&[u8]] = &[
                b"CONFIG",
                b"SET",
                b"client-output-buffer-limit",
                limit.as_bytes(),
            ];
            assert_eq!(admin.cmd(set), b"+OK\r\n");
            write_32mb(&mut actor);
            if class == "replica" {
                // Not its class: every line is there to read.
                for _ in 0..32 * 256 {
                    monitor.reply().unwrap();
                }
                continue;
            }
            // What it was sent before the cut is there to read; then the connection ends.
            let mut lines = 0;
            while monitor.reply().is_ok() {
                lines += 1;
            }
            assert!(lines < 32 * 256, "{server}: {lines} lines, not cut off");
        }
        assert_eq!(actor.cmd(&[b"PING"]), b"+PONG\r\n", "{server}");
        let list = String::from_utf8_lossy(&admin.cmd(&[b"CLIENT", b"LIST"])).into_owned();
        assert!(!list.contains("flags=O"), "{server}: {list}");
    }
}
