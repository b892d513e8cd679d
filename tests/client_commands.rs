//! CLIENT subcommands that change what a connection sees (CLIENT REPLY) or report on it
//! (CLIENT LIST / CLIENT INFO), checked against a live redis-server where one is installed.

mod common;

use std::net::SocketAddr;

use common::{encode, show, skip_note, RawConn, RedisServer, TestServer};

/// Sends `lines` (redis-cli style words) as one pipeline, then `PING end`, and returns every
/// byte that came back up to and including the `$3\r\nend\r\n` reply. Silenced replies simply
/// never arrive, so reading a fixed count of replies would hang; the marker bounds the read.
fn pipeline_until_marker(addr: SocketAddr, lines: &[&str]) -> Vec<u8> {
    let mut conn = RawConn::connect(addr);
    let mut out = Vec::new();
    for line in lines {
        let words: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
        out.extend(encode(&words));
    }
    out.extend(encode(&[b"PING", b"end"]));
    conn.send(&out);
    let mut got = Vec::new();
    for _ in 0..lines.len() + 1 {
        let reply = conn.reply().expect("reply");
        let done = reply == b"$3\r\nend\r\n";
        got.extend(reply);
        if done {
            return got;
        }
    }
    panic!("no end marker; got {}", show(&got));
}

/// Redis introspection.tcl's CLIENT REPLY tests and pubsub.tcl's "PubSub messages with
/// CLIENT REPLY OFF", as one pipeline.
const CLIENT_REPLY_SCRIPT: &[&str] = &[
    "CLIENT REPLY OFF",
    "PING a",
    "GET nosuchkey",
    "CLIENT REPLY bogus",
    "CLIENT REPLY ON",
    "PING b",
    "CLIENT REPLY SKIP",
    "PING c",
    "PING d",
    "CLIENT REPLY SKIP",
    "CLIENT REPLY ON",
    "CLIENT REPLY bogus",
    "CLIENT REPLY OFF",
    "CLIENT REPLY SKIP",
    "PING e",
    "SUBSCRIBE ch",
    "PSUBSCRIBE p*",
    "PING f",
    "UNSUBSCRIBE",
    "PUNSUBSCRIBE",
    "RESET",
    "PING g",
    "CLIENT REPLY SKIP",
    "CLIENT REPLY ON",
    "CLIENT REPLY SKIP",
    "HELLO 3", // silenced: its reply holds the client id, which differs
    "CLIENT REPLY OFF",
    "SUBSCRIBE ch2",
    "PING h",
    "CLIENT REPLY ON",
];

#[test]
fn client_reply_off_on_skip_match_redis() {
    let respd = TestServer::start();
    let ours = pipeline_until_marker(respd.addr(), CLIENT_REPLY_SCRIPT);
    // What must hold whether or not Redis is here to compare with.
    let text = String::from_utf8_lossy(&ours).to_string();
    assert!(
        !text.contains("$1\r\na\r\n") && !text.contains("$1\r\nc\r\n"),
        "{text:?}"
    );
    assert!(
        text.contains("$1\r\nb\r\n") && text.contains("$1\r\nd\r\n"),
        "{text:?}"
    );
    assert!(text.contains("subscribe\r\n$2\r\nch\r\n"), "{text:?}");
    let Some(redis) = RedisServer::start() else {
        skip_note("client_reply_off_on_skip_match_redis");
        return;
    };
    let theirs = pipeline_until_marker(redis.addr(), CLIENT_REPLY_SCRIPT);
    assert_eq!(show(&ours), show(&theirs));
}

#[test]
fn client_list_shows_the_running_command_in_qbuf() {
    // Redis trims the query buffer after the whole batch, so the command that asks sees its
    // own bytes: introspection.tcl expects `qbuf=26` for CLIENT LIST and CLIENT INFO.
    let respd = TestServer::start();
    let mut conn = respd.conn();
    for sub in [&b"LIST"[..], b"INFO"] {
        let reply = conn.cmd(&[b"CLIENT", sub]);
        let text = String::from_utf8_lossy(&reply).to_string();
        assert!(text.contains(" qbuf=26 "), "{text}");
    }
}

/// `qbuf + qbuf-free` of the connection named `name`, from CLIENT LIST on `observer`.
fn query_buffer_of(observer: &mut RawConn, name: &str) -> usize {
    let list = String::from_utf8_lossy(&observer.words("CLIENT LIST")).into_owned();
    let line = list
        .lines()
        .find(|l| l.contains(&format!(" name={name} ")))
        .unwrap_or_else(|| panic!("no client named {name} in {list}"));
    let field = |key: &str| -> usize {
        let start = line.find(&format!(" {key}=")).unwrap() + key.len() + 2;
        line[start..].split(' ').next().unwrap().parse().unwrap()
    };
    field("qbuf") + field("qbuf-free")
}

/// The query buffer is sized as Redis sizes it, which CLIENT LIST shows and Redis's own suite
/// checks (unit/querybuf): 16 KiB of room to read into while the connection is in use, given
/// back once it idles more than two seconds, and a buffer a large request made big shrinks
/// back to what the connection has recently needed, without going to zero while it is busy.
#[test]
fn the_query_buffer_is_given_back_when_idle_and_shrinks_after_a_large_request() {
    let server = TestServer::start();
    let mut observer = server.conn();
    let mut idle = server.conn();
    idle.words("CLIENT SETNAME idle");
    let size = query_buffer_of(&mut observer, "idle");
    assert!((16384..32768).contains(&size), "{size}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while query_buffer_of(&mut observer, "idle") != 0 {
        assert!(std::time::Instant::now() < deadline, "never given back");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // Still usable afterwards.
    assert_eq!(idle.words("PING"), b"+PONG\r\n");

    let mut busy = server.conn();
    busy.words("CLIENT SETNAME busy");
    let big = vec![b'A'; 400_000];
    assert_eq!(busy.cmd(&[b"SET", b"x", &big]), b"+OK\r\n");
    let after_big = query_buffer_of(&mut observer, "busy");
    assert!(after_big > 32768, "{after_big}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        assert_eq!(busy.words("SET x small"), b"+OK\r\n");
        let size = query_buffer_of(&mut observer, "busy");
        if size < after_big {
            assert!(size > 0, "a busy connection keeps room to read into");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never shrank");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}
