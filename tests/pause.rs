//! CLIENT PAUSE across connections: what a pause holds back, what it lets through, and how
//! held commands resume. Each scenario runs on respd and, when it is installed, on a live
//! redis-server, and both must be observed the same way.
//!
//! "Held back" is observed as silence for a while (`HELD`), then the reply once the pause
//! ends. The silence is a lower bound only: a slow machine makes it longer, never shorter,
//! so no scenario depends on timing to pass.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::{show, skip_note, RawConn, RedisServer, TestServer};

/// How long a held command must stay unanswered.
const HELD: Duration = Duration::from_millis(200);

/// Runs `scenario` on respd and on redis-server (if installed).
fn on_both(name: &str, scenario: fn(SocketAddr)) {
    let server = TestServer::start();
    scenario(server.addr());
    match RedisServer::start() {
        Some(redis) => scenario(redis.addr()),
        None => skip_note(name),
    }
}

/// `blocked_clients` from INFO clients.
fn blocked_clients(c: &mut RawConn) -> u64 {
    let info = String::from_utf8_lossy(&c.words("INFO clients")).into_owned();
    info.lines()
        .find_map(|l| l.strip_prefix("blocked_clients:"))
        .expect("blocked_clients in INFO")
        .trim()
        .parse()
        .unwrap()
}

/// Waits until INFO reports `n` blocked clients (bounded by 5 s).
fn wait_blocked(c: &mut RawConn, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while blocked_clients(c) != n {
        assert!(Instant::now() < deadline, "never {n} blocked clients");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn writes_wait_for_the_pause_and_reads_do_not() {
    on_both("writes_wait_for_the_pause_and_reads_do_not", |addr| {
        let mut admin = RawConn::connect(addr);
        let mut client = RawConn::connect(addr);
        admin.words("DEL k");
        assert_eq!(admin.words("CLIENT PAUSE 60000 WRITE"), b"+OK\r\n");
        assert_eq!(client.words("GET k"), b"$-1\r\n");
        assert_eq!(client.words("PING"), b"+PONG\r\n");
        client.send(&common::encode(&[b"SET", b"k", b"v"]));
        client.expect_silence(HELD);
        wait_blocked(&mut admin, 1);
        let list = String::from_utf8_lossy(&admin.words("CLIENT LIST")).into_owned();
        assert!(
            list.lines()
                .any(|l| l.contains("flags=b") && l.contains("cmd=set")),
            "the held client shows the b flag and the command it waits with: {list}"
        );
        // The pausing client itself reads on; its writes wait too.
        assert_eq!(admin.words("GET k"), b"$-1\r\n");
        assert_eq!(admin.words("CLIENT UNPAUSE"), b"+OK\r\n");
        assert_eq!(client.reply().unwrap(), b"+OK\r\n");
        assert_eq!(admin.words("GET k"), b"$1\r\nv\r\n");
        assert_eq!(blocked_clients(&mut admin), 0);
    });
}

#[test]
fn a_pipeline_gets_the_replies_before_the_held_command_at_once() {
    on_both(
        "a_pipeline_gets_the_replies_before_the_held_command_at_once",
        |addr| {
            let mut admin = RawConn::connect(addr);
            let mut client = RawConn::connect(addr);
            admin.words("DEL a");
            admin.words("CLIENT PAUSE 60000 WRITE");
            let mut batch = common::encode(&[b"GET", b"a"]);
            batch.extend(common::encode(&[b"INCR", b"a"]));
            batch.extend(common::encode(&[b"GET", b"a"]));
            client.send(&batch);
            assert_eq!(client.reply().unwrap(), b"$-1\r\n");
            client.expect_silence(HELD);
            admin.words("CLIENT UNPAUSE");
            assert_eq!(client.reply().unwrap(), b":1\r\n");
            assert_eq!(client.reply().unwrap(), b"$1\r\n1\r\n");
        },
    );
}

#[test]
fn a_pause_ends_by_itself_and_all_holds_every_command() {
    on_both(
        "a_pause_ends_by_itself_and_all_holds_every_command",
        |addr| {
            let mut admin = RawConn::connect(addr);
            let mut client = RawConn::connect(addr);
            let started = Instant::now();
            assert_eq!(admin.words("CLIENT PAUSE 500 ALL"), b"+OK\r\n");
            client.send(&common::encode(&[b"PING"]));
            // No UNPAUSE: the reply comes when the pause's time is up, not before.
            assert_eq!(client.reply().unwrap(), b"+PONG\r\n");
            assert!(started.elapsed() >= Duration::from_millis(500));
        },
    );
}

#[test]
fn publish_and_transactions_with_writes_wait_read_only_transactions_do_not() {
    on_both(
        "publish_and_transactions_with_writes_wait_read_only_transactions_do_not",
        |addr| {
            let mut admin = RawConn::connect(addr);
            let mut reader = RawConn::connect(addr);
            let mut writer = RawConn::connect(addr);
            let mut publisher = RawConn::connect(addr);
            assert_eq!(writer.words("MULTI"), b"+OK\r\n");
            assert_eq!(writer.words("SET t 1"), b"+QUEUED\r\n");
            admin.words("CLIENT PAUSE 60000 WRITE");
            assert_eq!(reader.words("MULTI"), b"+OK\r\n");
            assert_eq!(reader.words("GET t"), b"+QUEUED\r\n");
            assert_eq!(reader.words("EXEC"), b"*1\r\n$-1\r\n");
            writer.send(&common::encode(&[b"EXEC"]));
            publisher.send(&common::encode(&[b"PUBLISH", b"ch", b"m"]));
            writer.expect_silence(HELD);
            publisher.expect_silence(Duration::from_millis(1));
            wait_blocked(&mut admin, 2);
            admin.words("CLIENT UNPAUSE");
            assert_eq!(show(&writer.reply().unwrap()), show(b"*1\r\n+OK\r\n"));
            assert_eq!(publisher.reply().unwrap(), b":0\r\n");
        },
    );
}

#[test]
fn a_held_client_that_leaves_is_forgotten() {
    on_both("a_held_client_that_leaves_is_forgotten", |addr| {
        let mut admin = RawConn::connect(addr);
        admin.words("CLIENT PAUSE 60000 WRITE");
        {
            let mut client = RawConn::connect(addr);
            client.send(&common::encode(&[b"SET", b"gone", b"1"]));
            wait_blocked(&mut admin, 1);
        }
        wait_blocked(&mut admin, 0);
        admin.words("CLIENT UNPAUSE");
        // Its command never ran.
        assert_eq!(admin.words("EXISTS gone"), b":0\r\n");
    });
}

#[test]
fn keys_do_not_expire_while_clients_are_paused() {
    on_both("keys_do_not_expire_while_clients_are_paused", |addr| {
        let mut admin = RawConn::connect(addr);
        let expired = |c: &mut RawConn| -> u64 {
            let info = String::from_utf8_lossy(&c.words("INFO stats")).into_owned();
            info.lines()
                .find_map(|l| l.strip_prefix("expired_keys:"))
                .unwrap()
                .trim()
                .parse()
                .unwrap()
        };
        admin.words("FLUSHALL");
        let before = expired(&mut admin);
        assert_eq!(admin.words("MULTI"), b"+OK\r\n");
        admin.words("SET e1 v PX 10");
        admin.words("SET e2 v PX 10");
        admin.words("CLIENT PAUSE 60000 WRITE");
        assert_eq!(admin.words("EXEC"), b"*3\r\n+OK\r\n+OK\r\n+OK\r\n");
        // Logically expired at once, but not deleted while the pause lasts, however many
        // active expiry cycles (ten a second) go by.
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(admin.words("GET e1"), b"$-1\r\n");
        assert_eq!(expired(&mut admin), before);
        admin.words("CLIENT UNPAUSE");
    });
}
