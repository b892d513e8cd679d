//! Transactions across clients: what one connection's case file cannot show.
//!
//! - WATCH is invalidated by a write from *another* client;
//! - EXEC is atomic: while it runs, no other client's command interleaves with it;
//! - a client that disconnects with keys watched leaves nothing behind.

mod common;

use std::thread;
use std::time::Duration;

use common::TestServer;

#[test]
fn a_write_by_another_client_fails_exec() {
    let server = TestServer::start();
    let mut a = server.conn();
    let mut b = server.conn();
    assert_eq!(a.cmd(&[b"SET", b"k", b"1"]), b"+OK\r\n");
    assert_eq!(a.cmd(&[b"WATCH", b"k"]), b"+OK\r\n");
    assert_eq!(b.cmd(&[b"INCR", b"k"]), b":2\r\n");
    assert_eq!(a.cmd(&[b"MULTI"]), b"+OK\r\n");
    assert_eq!(a.cmd(&[b"SET", b"k", b"100"]), b"+QUEUED\r\n");
    assert_eq!(a.cmd(&[b"EXEC"]), b"*-1\r\n");
    assert_eq!(a.cmd(&[b"GET", b"k"]), b"$1\r\n2\r\n");
    // Without interference the same sequence succeeds.
    assert_eq!(a.cmd(&[b"WATCH", b"k"]), b"+OK\r\n");
    assert_eq!(b.cmd(&[b"GET", b"k"]), b"$1\r\n2\r\n");
    assert_eq!(a.cmd(&[b"MULTI"]), b"+OK\r\n");
    assert_eq!(a.cmd(&[b"SET", b"k", b"100"]), b"+QUEUED\r\n");
    assert_eq!(a.cmd(&[b"EXEC"]), b"*1\r\n+OK\r\n");
}

#[test]
fn the_active_expiry_cycle_counts_as_a_change() {
    let server = TestServer::start();
    let mut a = server.conn();
    assert_eq!(a.cmd(&[b"SET", b"k", b"1", b"PX", b"30"]), b"+OK\r\n");
    assert_eq!(a.cmd(&[b"WATCH", b"k"]), b"+OK\r\n");
    thread::sleep(Duration::from_millis(300));
    assert_eq!(a.cmd(&[b"MULTI"]), b"+OK\r\n");
    assert_eq!(a.cmd(&[b"PING"]), b"+QUEUED\r\n");
    assert_eq!(a.cmd(&[b"EXEC"]), b"*-1\r\n");
}

/// Two clients each run many `MULTI; INCR n; GET n; INCR n; GET n; EXEC` while a third writes
/// n directly. If EXEC were not atomic, another write could land between a transaction's INCR
/// and its GET, and the GET would not be exactly one more than... itself: the pairs inside one
/// EXEC must always be consecutive values.
#[test]
fn exec_is_atomic_against_concurrent_writers() {
    let server = TestServer::start();
    let addr = server.addr();
    let writer = thread::spawn(move || {
        let mut c = common::RawConn::connect(addr);
        for _ in 0..3000 {
            assert!(c.cmd(&[b"INCR", b"n"]).starts_with(b":"));
        }
    });
    let mut transactors = Vec::new();
    for _ in 0..2 {
        transactors.push(thread::spawn(move || {
            let mut c = common::RawConn::connect(addr);
            for _ in 0..300 {
                assert_eq!(c.cmd(&[b"MULTI"]), b"+OK\r\n");
                for cmd in [&b"INCR"[..], b"GET", b"INCR", b"GET"] {
                    assert_eq!(c.cmd(&[cmd, b"n"]), b"+QUEUED\r\n");
                }
                let reply = String::from_utf8(c.cmd(&[b"EXEC"])).unwrap();
                let numbers: Vec<i64> = reply
                    .split("\r\n")
                    .filter(|l| {
                        l.starts_with(':') || l.chars().next().is_some_and(|ch| ch.is_ascii_digit())
                    })
                    .map(|l| l.trim_start_matches(':').parse().unwrap())
                    .collect();
                assert_eq!(numbers.len(), 4, "{reply:?}");
                assert_eq!(numbers[0], numbers[1], "{reply:?}");
                assert_eq!(
                    numbers[2],
                    numbers[0] + 1,
                    "another command ran inside EXEC: {reply:?}"
                );
                assert_eq!(numbers[3], numbers[2], "{reply:?}");
            }
        }));
    }
    writer.join().unwrap();
    for t in transactors {
        t.join().unwrap();
    }
    let mut c = server.conn();
    assert_eq!(c.cmd(&[b"GET", b"n"]), b"$4\r\n4200\r\n");
}

#[test]
fn disconnecting_while_watching_leaves_no_watcher_behind() {
    let server = TestServer::start();
    {
        let mut a = server.conn();
        assert_eq!(a.cmd(&[b"WATCH", b"k1", b"k2"]), b"+OK\r\n");
    }
    server.wait_for_clients(0, Duration::from_secs(5));
    // A new watcher on the same key behaves normally after the old one left.
    let mut b = server.conn();
    assert_eq!(b.cmd(&[b"WATCH", b"k1"]), b"+OK\r\n");
    assert_eq!(b.cmd(&[b"MULTI"]), b"+OK\r\n");
    assert_eq!(b.cmd(&[b"SET", b"k1", b"v"]), b"+QUEUED\r\n");
    assert_eq!(b.cmd(&[b"EXEC"]), b"*1\r\n+OK\r\n");
}
