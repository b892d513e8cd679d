//! Authentication and ACLs over real sockets, compared byte for byte with a live
//! redis-server 7.0 started with the same settings (skipped with a `SKIPPED:` line when
//! redis-server is missing; respd's side is then still checked against the expected bytes).

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{encode, show, RawConn, RedisServer, TestServer};

/// One respd and, when available, one redis-server, configured alike.
struct Pair {
    respd: TestServer,
    redis: Option<Arc<RedisServer>>,
}

impl Pair {
    fn start(
        name: &str,
        edit: impl FnOnce(&mut respd::config::Config),
        redis_args: &[&str],
    ) -> Pair {
        let respd = TestServer::with_config(edit);
        let redis = RedisServer::start_with(redis_args).map(Arc::new);
        if redis.is_none() {
            println!("SKIPPED: {name}: redis-server not available, respd checked alone");
        }
        Pair { respd, redis }
    }

    fn conns(&self) -> (RawConn, Option<RawConn>) {
        (
            self.respd.conn(),
            self.redis.as_ref().map(|r| RawConn::connect(r.addr())),
        )
    }
}

/// A connection to each server of a pair, driven in step.
struct Both(RawConn, Option<RawConn>);

impl Both {
    fn new(pair: &Pair) -> Both {
        let (a, b) = pair.conns();
        Both(a, b)
    }

    /// Sends a command (words split on spaces) to both; returns respd's reply after checking
    /// that Redis answered the same bytes.
    fn cmd(&mut self, args: &[&[u8]]) -> Vec<u8> {
        let ours = self.0.cmd(args);
        if let Some(redis) = self.1.as_mut() {
            let theirs = redis.cmd(args);
            assert_eq!(
                show(&ours),
                show(&theirs),
                "respd and redis differ on {:?}",
                args.iter()
                    .map(|a| String::from_utf8_lossy(a))
                    .collect::<Vec<_>>()
            );
        }
        ours
    }

    fn words(&mut self, line: &str) -> Vec<u8> {
        let args: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
        self.cmd(&args)
    }

    /// `words`, and the reply must be `expected`.
    fn expect(&mut self, line: &str, expected: &[u8]) {
        let got = self.words(line);
        assert_eq!(show(&got), show(expected), "reply to {line}");
    }

    /// Sends raw bytes to both and checks the one reply and the close that follows.
    fn rejects_and_closes(&mut self, bytes: &[u8], expected: &[u8]) {
        for conn in std::iter::once(&mut self.0).chain(self.1.as_mut()) {
            conn.send(bytes);
            let got = conn.reply().expect("a reply");
            assert_eq!(show(&got), show(expected));
            assert!(conn.is_closed_within(Duration::from_secs(5)), "not closed");
        }
    }
}

fn bulk(text: &str) -> Vec<u8> {
    format!("${}\r\n{text}\r\n", text.len()).into_bytes()
}

const NOAUTH: &[u8] = b"-NOAUTH Authentication required.\r\n";
const WRONGPASS: &[u8] = b"-WRONGPASS invalid username-password pair or user is disabled.\r\n";

#[test]
fn auth_without_a_password_configured() {
    let pair = Pair::start("auth_without_a_password_configured", |_| {}, &[]);
    let mut c = Both::new(&pair);
    c.expect("AUTH foo", b"-ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?\r\n");
    c.expect("AUTH a b c", b"-ERR syntax error\r\n");
    c.expect("AUTH default whatever", b"+OK\r\n");
    c.expect("AUTH nosuchuser x", WRONGPASS);
    c.expect("ACL WHOAMI", b"$7\r\ndefault\r\n");
}

#[test]
fn requirepass_gates_every_command_but_the_no_auth_ones() {
    let pair = Pair::start(
        "requirepass_gates_every_command_but_the_no_auth_ones",
        |c| {
            c.kept.insert("requirepass", "foobar".into());
        },
        &["--requirepass", "foobar"],
    );
    let mut c = Both::new(&pair);
    for line in [
        "SET foo bar",
        "PING",
        "GET x",
        "SELECT 0",
        "CLIENT ID",
        "ACL WHOAMI",
        "MULTI",
        "COMMAND COUNT",
    ] {
        c.expect(line, NOAUTH);
    }
    c.expect("HELLO 2", b"-NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time\r\n");
    c.expect("HELLO 3 AUTH default wrong", WRONGPASS);
    c.expect("AUTH wrong!", WRONGPASS);
    c.expect("AUTH default wrong!", WRONGPASS);
    c.expect("AUTH foobar", b"+OK\r\n");
    c.expect("SET foo 100", b"+OK\r\n");
    c.expect("INCR foo", b":101\r\n");
    c.expect(
        "CONFIG GET requirepass",
        b"*2\r\n$11\r\nrequirepass\r\n$6\r\nfoobar\r\n",
    );
    // RESET returns to the unauthenticated default user.
    c.expect("RESET", b"+RESET\r\n");
    c.expect("GET foo", NOAUTH);
    c.expect("QUIT", b"+OK\r\n");

    // HELLO AUTH authenticates; SETNAME after it fails on its own.
    let mut c = Both::new(&pair);
    c.expect(
        "HELLO 2 AUTH default foobar SETNAME bad\x01name",
        b"-ERR Client names cannot contain spaces, newlines or special characters.\r\n",
    );
    c.expect("GET foo", b"$3\r\n101\r\n");
    // CONFIG SET requirepass changes the default user's password; open connections stay in.
    c.expect("CONFIG SET requirepass other", b"+OK\r\n");
    c.expect("GET foo", b"$3\r\n101\r\n");
    let mut d = Both::new(&pair);
    d.expect("AUTH foobar", WRONGPASS);
    d.expect("AUTH other", b"+OK\r\n");
    c.expect(
        "CONFIG SET requirepass",
        b"-ERR wrong number of arguments for 'config|set' command\r\n",
    );
    c.cmd(&[b"CONFIG", b"SET", b"requirepass", b""]);
    let mut e = Both::new(&pair);
    e.expect("PING", b"+PONG\r\n");
    e.expect(
        "ACL LIST",
        b"*1\r\n$34\r\nuser default on nopass ~* &* +@all\r\n",
    );
}

#[test]
fn binary_passwords_work() {
    let pair = Pair::start("binary_passwords_work", |_| {}, &[]);
    let mut c = Both::new(&pair);
    c.cmd(&[b"CONFIG", b"SET", b"requirepass", b"abc\x00def"]);
    let mut d = Both::new(&pair);
    assert_eq!(d.cmd(&[b"AUTH", b"abc"]), WRONGPASS);
    assert_eq!(d.cmd(&[b"AUTH", b"abc\x00def"]), b"+OK\r\n");
    // Not UTF-8 either.
    c.cmd(&[b"CONFIG", b"SET", b"requirepass", b"\xff\xfe"]);
    let mut e = Both::new(&pair);
    assert_eq!(e.cmd(&[b"AUTH", "\u{fffd}\u{fffd}".as_bytes()]), WRONGPASS);
    assert_eq!(e.cmd(&[b"AUTH", b"\xff\xfe"]), b"+OK\r\n");
    c.cmd(&[b"CONFIG", b"SET", b"requirepass", b""]);
}

#[test]
fn unauthenticated_clients_have_small_request_limits() {
    let pair = Pair::start(
        "unauthenticated_clients_have_small_request_limits",
        |c| {
            c.kept.insert("requirepass", "foobar".into());
        },
        &["--requirepass", "foobar"],
    );
    Both::new(&pair).rejects_and_closes(
        b"*100\r\n",
        b"-ERR Protocol error: unauthenticated multibulk length\r\n",
    );
    Both::new(&pair).rejects_and_closes(
        b"*1\r\n$100000000\r\n",
        b"-ERR Protocol error: unauthenticated bulk length\r\n",
    );
    // Authenticated in the same batch: the next command may be large.
    let mut c = Both::new(&pair);
    let big = vec![b'x'; 20000];
    let mut batch = encode(&[b"AUTH", b"foobar"]);
    batch.extend_from_slice(&encode(&[b"ECHO", &big]));
    for conn in std::iter::once(&mut c.0).chain(c.1.as_mut()) {
        conn.send(&batch);
        assert_eq!(conn.reply().unwrap(), b"+OK\r\n");
        assert_eq!(conn.reply().unwrap().len(), 20000 + 10); // "$20000\r\n" + data + CRLF
    }
}

#[test]
fn noperm_errors_and_dryrun() {
    let pair = Pair::start("noperm_errors_and_dryrun", |_| {}, &[]);
    let mut admin = Both::new(&pair);
    admin.expect(
        "ACL SETUSER u on >pw -@all +get +set +publish +subscribe +psubscribe +acl|whoami %R~r* ~k* &chan*",
        b"+OK\r\n",
    );
    let mut u = Both::new(&pair);
    u.expect("AUTH u pw", b"+OK\r\n");
    u.expect("ACL WHOAMI", b"$1\r\nu\r\n");
    u.expect(
        "DEL k1",
        b"-NOPERM this user has no permissions to run the 'del' command\r\n",
    );
    u.expect(
        "CLIENT ID",
        b"-NOPERM this user has no permissions to run the 'client|id' command\r\n",
    );
    u.expect(
        "GET other",
        b"-NOPERM this user has no permissions to access one of the keys used as arguments\r\n",
    );
    u.expect(
        "SET r1 v",
        b"-NOPERM this user has no permissions to access one of the keys used as arguments\r\n",
    );
    u.expect("GET r1", b"$-1\r\n");
    u.expect("SET k1 v", b"+OK\r\n");
    u.expect(
        "PUBLISH other m",
        b"-NOPERM this user has no permissions to access one of the channels used as arguments\r\n",
    );
    u.expect("PUBLISH chan1 m", b":0\r\n");
    u.expect(
        "PSUBSCRIBE chan*x",
        b"-NOPERM this user has no permissions to access one of the channels used as arguments\r\n",
    );
    // Inside MULTI a refusal dooms the transaction.
    u.expect(
        "MULTI",
        b"-NOPERM this user has no permissions to run the 'multi' command\r\n",
    );

    admin.expect("ACL DRYRUN u get r1", b"+OK\r\n");
    admin.expect(
        "ACL DRYRUN u del r1",
        &bulk("This user has no permissions to run the 'del' command"),
    );
    admin.expect(
        "ACL DRYRUN u set r1 v",
        &bulk("This user has no permissions to access the 'r1' key"),
    );
    admin.expect(
        "ACL DRYRUN u publish x m",
        &bulk("This user has no permissions to access the 'x' channel"),
    );
    admin.expect(
        "ACL DRYRUN nobody get x",
        b"-ERR User 'nobody' not found\r\n",
    );
    admin.expect(
        "ACL DRYRUN u nosuch x",
        b"-ERR Command 'nosuch' not found\r\n",
    );
    admin.expect(
        "ACL DRYRUN u get",
        b"-ERR wrong number of arguments for 'get' command\r\n",
    );

    // The log: newest first, with Redis's fields (age and client line vary).
    let log = admin.0.words("ACL LOG 1");
    let text = String::from_utf8_lossy(&log);
    for part in [
        "$5\r\ncount\r\n:1\r\n",
        "$6\r\nreason\r\n$7\r\ncommand\r\n",
        "$7\r\ncontext\r\n$8\r\ntoplevel\r\n",
        "$6\r\nobject\r\n$5\r\nmulti\r\n",
        "cmd=multi ",
        "$8\r\nusername\r\n$1\r\nu\r\n",
        "age-seconds",
        "client-info",
        "user=u ",
    ] {
        assert!(text.contains(part), "{part:?} missing from {text:?}");
    }
    admin.0.words("ACL LOG RESET");
    admin.0.words("ACL DELUSER u");
    if let Some(r) = admin.1.as_mut() {
        r.words("ACL LOG RESET");
        r.words("ACL DELUSER u");
    }
}

#[test]
fn deleting_a_user_closes_its_connections() {
    let pair = Pair::start("deleting_a_user_closes_its_connections", |_| {}, &[]);
    let mut admin = Both::new(&pair);
    admin.expect("ACL SETUSER v on nopass +@all ~*", b"+OK\r\n");
    let mut v = Both::new(&pair);
    v.expect("AUTH v x", b"+OK\r\n");
    admin.expect("ACL DELUSER v", b":1\r\n");
    assert!(v.0.is_closed_within(Duration::from_secs(5)));
    if let Some(r) = v.1.as_mut() {
        assert!(r.is_closed_within(Duration::from_secs(5)));
    }
    // CLIENT KILL USER closes a user's connections.
    admin.expect("CLIENT KILL USER nosuch", b"-ERR No such user 'nosuch'\r\n");
    admin.expect("ACL SETUSER k on nopass +@all ~*", b"+OK\r\n");
    let mut k = Both::new(&pair);
    k.expect("AUTH k x", b"+OK\r\n");
    admin.expect("CLIENT KILL USER k", b":1\r\n");
    assert!(k.0.is_closed_within(Duration::from_secs(5)));
    admin.expect("ACL DELUSER k", b":1\r\n");
    // A user deleting itself gets its reply, then the close.
    admin.expect("ACL SETUSER w on nopass +@all ~*", b"+OK\r\n");
    let mut w = Both::new(&pair);
    w.expect("AUTH w x", b"+OK\r\n");
    w.expect("ACL DELUSER w", b":1\r\n");
    assert!(w.0.is_closed_within(Duration::from_secs(5)));
}

#[test]
fn exec_rechecks_the_rules() {
    let pair = Pair::start("exec_rechecks_the_rules", |_| {}, &[]);
    let mut admin = Both::new(&pair);
    admin.expect("ACL SETUSER t on nopass +@all ~*", b"+OK\r\n");
    let mut t = Both::new(&pair);
    t.expect("AUTH t x", b"+OK\r\n");
    t.expect("MULTI", b"+OK\r\n");
    t.expect("SET a 1", b"+QUEUED\r\n");
    t.expect("GET a", b"+QUEUED\r\n");
    admin.expect("ACL SETUSER t -set", b"+OK\r\n");
    t.expect("EXEC", b"*2\r\n-NOPERM ACLs rules changed between the moment the transaction was accumulated and the EXEC call. This command is no longer allowed for the following reason: no permission to execute the command or subcommand\r\n$-1\r\n");
    t.expect("MULTI", b"+OK\r\n");
    t.expect(
        "SET a 1",
        b"-NOPERM this user has no permissions to run the 'set' command\r\n",
    );
    t.expect(
        "EXEC",
        b"-EXECABORT Transaction discarded because of previous errors.\r\n",
    );
    admin.words("ACL DELUSER t");
}

#[test]
fn users_from_the_config_file_and_the_acl_file() {
    let dir = std::env::temp_dir().join(format!("respd-acl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("users.acl");
    std::fs::write(
        &path,
        "user alice on >a ~* &* +@all\nuser bob on nopass ~* -@all +@set\n",
    )
    .unwrap();
    let path_text = path.display().to_string();
    let respd = TestServer::with_config(|c| {
        c.kept.insert("aclfile", path_text.clone());
    });
    let mut c = respd.conn();
    assert_eq!(
        c.words("ACL USERS"),
        b"*3\r\n$5\r\nalice\r\n$3\r\nbob\r\n$7\r\ndefault\r\n"
    );
    assert_eq!(c.words("AUTH bob x"), b"+OK\r\n");
    assert_eq!(c.words("SADD s a"), b":1\r\n");
    assert_eq!(
        c.words("GET s"),
        b"-NOPERM this user has no permissions to run the 'get' command\r\n".to_vec()
    );
    let mut d = respd.conn();
    assert_eq!(d.words("ACL SETUSER carol on >c"), b"+OK\r\n");
    assert_eq!(d.words("ACL SAVE"), b"+OK\r\n");
    let saved = std::fs::read_to_string(&path).unwrap();
    assert!(saved.contains("user carol on #"), "{saved}");
    std::fs::write(&path, "user bob on nopass\nnot a user line\n").unwrap();
    let bad = d.words("ACL LOAD");
    assert_eq!(
        String::from_utf8_lossy(&bad),
        format!("-ERR {path_text}:2 should start with user keyword followed by the username. WARNING: ACL errors detected, no change to the previously active ACL rules was performed\r\n")
    );
    std::fs::write(&path, "user dave on nopass +@all ~*\n").unwrap();
    assert_eq!(d.words("ACL LOAD"), b"+OK\r\n");
    // bob was replaced: his connection is closed.
    assert!(c.is_closed_within(Duration::from_secs(5)));
    assert_eq!(
        d.words("ACL USERS"),
        b"*2\r\n$4\r\ndave\r\n$7\r\ndefault\r\n"
    );
    std::fs::remove_dir_all(&dir).ok();

    // `user` lines of the config file.
    let mut config = respd::config::Config::default();
    config
        .apply_text(
            "user default on nopass ~* &* +@all\nuser eve on >e +@all ~*\n",
            "test.conf",
        )
        .unwrap();
    let users = config.users.clone();
    let respd = TestServer::with_config(|c| c.users = users);
    let mut c = respd.conn();
    assert_eq!(c.words("AUTH eve e"), b"+OK\r\n");
    assert_eq!(c.words("ACL WHOAMI"), b"$3\r\neve\r\n");
    let error = respd::config::Config::default()
        .apply_text("user x on badrule\n", "test.conf")
        .unwrap_err();
    // Redis names the word two places before the bad rule (see check_user_directive).
    assert_eq!(error.reason, "Error in user declaration 'x': Syntax error");
}

/// Connects to `addr` from 127.0.0.2: still the loopback interface, but not the address
/// Redis counts as local (`islocalClient` compares the strings "127.0.0.1" and "::1").
fn connect_from_127_0_0_2(addr: std::net::SocketAddr) -> std::net::TcpStream {
    use rustix::net::{AddressFamily, SocketType};
    let fd = rustix::net::socket(AddressFamily::INET, SocketType::STREAM, None).unwrap();
    let from = std::net::SocketAddrV4::new(std::net::Ipv4Addr::new(127, 0, 0, 2), 0);
    rustix::net::bind(&fd, &from).unwrap();
    rustix::net::connect(&fd, &addr).unwrap();
    std::net::TcpStream::from(fd)
}

#[test]
fn protected_mode_denies_other_addresses_without_a_password() {
    use std::io::{Read, Write};
    let pair = Pair::start(
        "protected_mode_denies_other_addresses_without_a_password",
        |_| {},
        &[],
    );
    let mut addrs = vec![pair.respd.addr()];
    addrs.extend(pair.redis.as_ref().map(|r| r.addr()));
    for addr in &addrs {
        let mut s = connect_from_127_0_0_2(*addr);
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let _ = s.write_all(b"PING\r\n");
        let mut got = Vec::new();
        let _ = s.read_to_end(&mut got);
        let text = String::from_utf8_lossy(&got);
        assert!(text.starts_with("-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user."), "{addr}: {text}");
        assert!(
            text.ends_with("accepting connections from the outside.\r\n"),
            "{text}"
        );
    }
    // With a password, or with protected-mode off, the same client is served (the admin
    // connection, authenticated as default before, stays so).
    let mut admin = Both::new(&pair);
    admin.expect("CONFIG SET requirepass pw", b"+OK\r\n");
    for addr in &addrs {
        let mut s = connect_from_127_0_0_2(*addr);
        s.write_all(b"AUTH pw\r\n").unwrap();
        let mut buf = [0u8; 5];
        s.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"+OK\r\n");
    }
    admin.expect("AUTH pw", b"+OK\r\n");
    admin.cmd(&[b"CONFIG", b"SET", b"requirepass", b""]);
    admin.expect("CONFIG SET protected-mode no", b"+OK\r\n");
    for addr in &addrs {
        let mut s = connect_from_127_0_0_2(*addr);
        s.write_all(b"PING\r\n").unwrap();
        let mut buf = [0u8; 7];
        s.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"+PONG\r\n");
    }
}

#[test]
fn user_lines_on_the_command_line_are_checked_at_start() {
    for name in ["foo", "default"] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_respd"))
            .args(["--port", "0", "--user", name, "--user", name])
            .output()
            .expect("run respd");
        assert_eq!(out.status.code(), Some(1));
        let text = String::from_utf8_lossy(&out.stderr).into_owned()
            + &String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains(&format!("Error in user declaration '{name}': Duplicate user found. A user can only be defined once in config files")),
            "{text}"
        );
    }
}

#[test]
fn narrowing_channels_closes_the_subscribers_that_lose_theirs() {
    let pair = Pair::start(
        "narrowing_channels_closes_the_subscribers_that_lose_theirs",
        |_| {},
        &[],
    );
    let mut admin = Both::new(&pair);
    admin.expect(
        "ACL SETUSER ps on >p +@all ~* resetchannels &foo:1 &bar:*",
        b"+OK\r\n",
    );
    let mut sub = Both::new(&pair);
    sub.expect("AUTH ps p", b"+OK\r\n");
    sub.expect(
        "SUBSCRIBE foo:1",
        b"*3\r\n$9\r\nsubscribe\r\n$5\r\nfoo:1\r\n:1\r\n",
    );
    let mut psub = Both::new(&pair);
    psub.expect("AUTH ps p", b"+OK\r\n");
    psub.expect(
        "PSUBSCRIBE bar:*",
        b"*3\r\n$10\r\npsubscribe\r\n$5\r\nbar:*\r\n:1\r\n",
    );
    const PONG: &[u8] = b"*2\r\n$4\r\npong\r\n$0\r\n\r\n";
    // Keeping every pattern (and adding more) pardons them.
    admin.expect(
        "ACL SETUSER ps resetchannels &foo:1 &bar:* &baz",
        b"+OK\r\n",
    );
    sub.expect("PING", PONG);
    psub.expect("PING", PONG);
    // foo:1 is no longer allowed: its subscriber goes, the pattern subscriber stays.
    admin.expect("ACL SETUSER ps resetchannels &bar:*", b"+OK\r\n");
    assert!(sub.0.is_closed_within(Duration::from_secs(5)));
    if let Some(r) = sub.1.as_mut() {
        assert!(r.is_closed_within(Duration::from_secs(5)));
    }
    psub.expect("PING", PONG);
    // A pattern subscription needs the very same pattern.
    admin.expect("ACL SETUSER ps resetchannels &bar:x*", b"+OK\r\n");
    assert!(psub.0.is_closed_within(Duration::from_secs(5)));
    admin.expect("ACL DELUSER ps", b":1\r\n");
}
