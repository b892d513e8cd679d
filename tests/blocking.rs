//! Blocking commands across connections: being served by another client's push, fairness,
//! timeouts, transactions, disconnects, CLIENT UNBLOCK, and many producers and consumers
//! losing and duplicating nothing.

mod common;

use std::collections::HashSet;
use std::thread;
use std::time::{Duration, Instant};

use common::{RawConn, TestServer};

fn client_id(c: &mut RawConn) -> u64 {
    let r = c.cmd(&[b"CLIENT", b"ID"]);
    std::str::from_utf8(&r[1..r.len() - 2])
        .unwrap()
        .parse()
        .unwrap()
}

/// Waits until `n` clients are blocked (INFO blocked_clients).
fn wait_blocked(c: &mut RawConn, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let want = format!("blocked_clients:{n}\r\n");
    loop {
        let info = String::from_utf8(c.cmd(&[b"INFO", b"clients"])).unwrap();
        if info.contains(&want) {
            return;
        }
        assert!(Instant::now() < deadline, "never saw {want:?} in {info}");
        thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_push_from_another_client_serves_the_blocked_one() {
    let server = TestServer::start();
    let mut waiter = server.conn();
    let mut pusher = server.conn();
    waiter.send(&common::encode(&[b"BLPOP", b"a", b"b", b"0"]));
    wait_blocked(&mut pusher, 1);
    assert_eq!(pusher.cmd(&[b"RPUSH", b"b", b"x", b"y"]), b":2\r\n");
    assert_eq!(waiter.reply().unwrap(), b"*2\r\n$1\r\nb\r\n$1\r\nx\r\n");
    assert_eq!(
        pusher.cmd(&[b"LRANGE", b"b", b"0", b"-1"]),
        b"*1\r\n$1\r\ny\r\n"
    );
    wait_blocked(&mut pusher, 0);
}

#[test]
fn the_first_client_to_block_is_served_first() {
    let server = TestServer::start();
    let mut control = server.conn();
    let mut clients: Vec<RawConn> = (0..3).map(|_| server.conn()).collect();
    for (i, c) in clients.iter_mut().enumerate() {
        c.send(&common::encode(&[b"BRPOP", b"q", b"0"]));
        wait_blocked(&mut control, i + 1);
    }
    assert_eq!(control.cmd(&[b"LPUSH", b"q", b"1", b"2", b"3"]), b":3\r\n");
    // BRPOP takes from the tail: 1 was pushed first, so it is at the tail.
    for (c, v) in clients.iter_mut().zip(["1", "2", "3"]) {
        assert_eq!(
            c.reply().unwrap(),
            format!("*2\r\n$1\r\nq\r\n$1\r\n{v}\r\n").as_bytes()
        );
    }
}

#[test]
fn a_push_inside_exec_serves_after_the_whole_transaction() {
    let server = TestServer::start();
    let mut waiter = server.conn();
    let mut writer = server.conn();
    waiter.send(&common::encode(&[b"BLPOP", b"k", b"0"]));
    wait_blocked(&mut writer, 1);
    assert_eq!(writer.cmd(&[b"MULTI"]), b"+OK\r\n");
    assert_eq!(writer.cmd(&[b"RPUSH", b"k", b"a", b"b"]), b"+QUEUED\r\n");
    assert_eq!(writer.cmd(&[b"LPOP", b"k"]), b"+QUEUED\r\n");
    // The transaction sees its own pushes first; the waiter gets what is left.
    assert_eq!(writer.cmd(&[b"EXEC"]), b"*2\r\n:2\r\n$1\r\na\r\n");
    assert_eq!(waiter.reply().unwrap(), b"*2\r\n$1\r\nk\r\n$1\r\nb\r\n");
}

#[test]
fn blmove_chains_wake_the_next_waiter() {
    let server = TestServer::start();
    let mut first = server.conn();
    let mut second = server.conn();
    let mut control = server.conn();
    second.send(&common::encode(&[b"BLPOP", b"dst", b"0"]));
    wait_blocked(&mut control, 1);
    first.send(&common::encode(&[
        b"BLMOVE", b"src", b"dst", b"LEFT", b"RIGHT", b"0",
    ]));
    wait_blocked(&mut control, 2);
    assert_eq!(control.cmd(&[b"RPUSH", b"src", b"v"]), b":1\r\n");
    assert_eq!(first.reply().unwrap(), b"$1\r\nv\r\n");
    assert_eq!(second.reply().unwrap(), b"*2\r\n$3\r\ndst\r\n$1\r\nv\r\n");
    assert_eq!(control.cmd(&[b"EXISTS", b"src", b"dst"]), b":0\r\n");
}

#[test]
fn a_timeout_answers_null_and_the_pipeline_behind_it_resumes() {
    let server = TestServer::start();
    let mut c = server.conn();
    let started = Instant::now();
    let mut batch = common::encode(&[b"BLPOP", b"nothing", b"0.2"]);
    batch.extend(common::encode(&[b"PING"]));
    c.send(&batch);
    assert_eq!(c.reply().unwrap(), b"*-1\r\n");
    assert!(
        started.elapsed() >= Duration::from_millis(190),
        "answered before the timeout"
    );
    assert_eq!(c.reply().unwrap(), b"+PONG\r\n");
}

#[test]
fn a_client_that_disconnects_while_blocked_is_forgotten() {
    let server = TestServer::start();
    let mut control = server.conn();
    {
        let mut gone = server.conn();
        gone.send(&common::encode(&[b"BLPOP", b"k", b"0"]));
        wait_blocked(&mut control, 1);
    }
    wait_blocked(&mut control, 0);
    // Nobody takes the element any more.
    assert_eq!(control.cmd(&[b"RPUSH", b"k", b"v"]), b":1\r\n");
    assert_eq!(control.cmd(&[b"LLEN", b"k"]), b":1\r\n");
}

#[test]
fn client_unblock_releases_with_timeout_or_error() {
    let server = TestServer::start();
    let mut control = server.conn();
    let mut blocked = server.conn();
    let id = client_id(&mut blocked).to_string();
    blocked.send(&common::encode(&[b"BZPOPMIN", b"z", b"0"]));
    wait_blocked(&mut control, 1);
    assert_eq!(
        control.cmd(&[b"CLIENT", b"UNBLOCK", id.as_bytes()]),
        b":1\r\n"
    );
    assert_eq!(blocked.reply().unwrap(), b"*-1\r\n");
    assert_eq!(
        control.cmd(&[b"CLIENT", b"UNBLOCK", id.as_bytes()]),
        b":0\r\n"
    );
    blocked.send(&common::encode(&[b"BLPOP", b"l", b"0"]));
    wait_blocked(&mut control, 1);
    assert_eq!(
        control.cmd(&[b"CLIENT", b"UNBLOCK", id.as_bytes(), b"ERROR"]),
        b":1\r\n"
    );
    assert_eq!(
        blocked.reply().unwrap(),
        b"-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n"
    );
}

/// Four producers push 2,000 numbered items each while four consumers BLPOP until they have
/// all been taken: every item must come out exactly once. (The 30 s timeout only bounds a
/// broken run; consumers stop on a "stop" item.)
#[test]
fn many_producers_and_consumers_lose_and_duplicate_nothing() {
    const PRODUCERS: usize = 4;
    const PER_PRODUCER: usize = 2000;
    let server = TestServer::start();
    let addr = server.addr();
    let consumers: Vec<_> = (0..4)
        .map(|_| {
            thread::spawn(move || {
                let mut c = RawConn::connect(addr);
                let mut got = Vec::new();
                loop {
                    let r = c.cmd(&[b"BLPOP", b"jobs", b"30"]);
                    if r == b"*-1\r\n" {
                        return got;
                    }
                    let text = String::from_utf8(r).unwrap();
                    let item = text.rsplit("\r\n").nth(1).unwrap().to_string();
                    if item == "stop" {
                        return got;
                    }
                    got.push(item);
                }
            })
        })
        .collect();
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            thread::spawn(move || {
                let mut c = RawConn::connect(addr);
                for i in 0..PER_PRODUCER {
                    let item = format!("{p}-{i}");
                    let r = c.cmd(&[b"RPUSH", b"jobs", item.as_bytes()]);
                    assert!(r.starts_with(b":"), "{}", common::show(&r));
                }
            })
        })
        .collect();
    for p in producers {
        p.join().unwrap();
    }
    let mut control = server.conn();
    for _ in 0..4 {
        control.cmd(&[b"RPUSH", b"jobs", b"stop"]);
    }
    let mut seen = HashSet::new();
    let mut total = 0;
    for c in consumers {
        for item in c.join().unwrap() {
            total += 1;
            assert!(seen.insert(item.clone()), "{item} was delivered twice");
        }
    }
    assert_eq!(total, PRODUCERS * PER_PRODUCER, "items were lost");
}

/// A BRPOPLPUSH / BLMOVE whose destination has become a non-list when an element arrives gets
/// WRONGTYPE and is unblocked; the element stays in the source (Redis's own suite: "BRPOPLPUSH
/// with wrong destination type", "BRPOPLPUSH maintains order of elements after failure").
/// Checked on respd and on Redis.
#[test]
fn a_blocked_move_to_a_wrong_type_destination_fails_with_wrongtype() {
    common::on_respd_and_redis(
        "a_blocked_move_to_a_wrong_type_destination_fails_with_wrongtype",
        |name, addr| {
            let mut control = RawConn::connect(addr);
            control.cmd(&[b"DEL", b"wt:src", b"wt:dst"]);
            assert_eq!(control.cmd(&[b"SET", b"wt:dst", b"nolist"]), b"+OK\r\n");
            let mut first = RawConn::connect(addr);
            let mut second = RawConn::connect(addr);
            first.send(&common::encode(&[
                b"BRPOPLPUSH",
                b"wt:src",
                b"wt:dst",
                b"0",
            ]));
            wait_blocked(&mut control, 1);
            second.send(&common::encode(&[
                b"BLMOVE", b"wt:src", b"wt:dst", b"LEFT", b"RIGHT", b"0",
            ]));
            wait_blocked(&mut control, 2);
            assert_eq!(
                control.cmd(&[b"RPUSH", b"wt:src", b"a", b"b", b"c"]),
                b":3\r\n"
            );
            let wrongtype =
                b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n";
            assert_eq!(first.reply().unwrap(), wrongtype, "{name}: first waiter");
            assert_eq!(second.reply().unwrap(), wrongtype, "{name}: second waiter");
            assert_eq!(
                control.cmd(&[b"LRANGE", b"wt:src", b"0", b"-1"]),
                b"*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n",
                "{name}: the elements stay, in order"
            );
            wait_blocked(&mut control, 0);
            control.cmd(&[b"DEL", b"wt:src", b"wt:dst"]);
        },
    );
}

#[test]
fn swapdb_serves_a_client_blocked_in_the_database_that_gets_the_key() {
    // Redis list.tcl "SWAPDB awakes blocked client": blocked clients stay with their database
    // number, and SWAPDB serves those whose key arrives with the other contents.
    let server = TestServer::start();
    let mut waiter = server.conn();
    let mut control = server.conn();
    assert_eq!(control.cmd(&[b"SELECT", b"1"]), b"+OK\r\n");
    assert_eq!(control.cmd(&[b"RPUSH", b"k", b"hello"]), b":1\r\n");
    assert_eq!(waiter.cmd(&[b"SELECT", b"9"]), b"+OK\r\n");
    waiter.send(&common::encode(&[b"BRPOP", b"k", b"5"]));
    wait_blocked(&mut control, 1);
    assert_eq!(control.cmd(&[b"SWAPDB", b"1", b"9"]), b"+OK\r\n");
    assert_eq!(waiter.reply().unwrap(), b"*2\r\n$1\r\nk\r\n$5\r\nhello\r\n");
    wait_blocked(&mut control, 0);
    // The element was popped from database 9, which now holds what database 1 had.
    assert_eq!(control.cmd(&[b"SELECT", b"9"]), b"+OK\r\n");
    assert_eq!(control.cmd(&[b"EXISTS", b"k"]), b":0\r\n");
}

#[test]
fn swapdb_leaves_a_client_blocked_when_no_key_arrives() {
    let server = TestServer::start();
    let mut waiter = server.conn();
    let mut control = server.conn();
    assert_eq!(waiter.cmd(&[b"SELECT", b"9"]), b"+OK\r\n");
    waiter.send(&common::encode(&[b"BLPOP", b"k", b"0"]));
    wait_blocked(&mut control, 1);
    assert_eq!(control.cmd(&[b"SWAPDB", b"1", b"9"]), b"+OK\r\n");
    wait_blocked(&mut control, 1);
    // Still waiting in database 9, not in 1: a push to database 1 does not serve it.
    assert_eq!(control.cmd(&[b"SELECT", b"1"]), b"+OK\r\n");
    assert_eq!(control.cmd(&[b"RPUSH", b"k", b"a"]), b":1\r\n");
    assert_eq!(control.cmd(&[b"SELECT", b"9"]), b"+OK\r\n");
    assert_eq!(control.cmd(&[b"RPUSH", b"k", b"b"]), b":1\r\n");
    assert_eq!(waiter.reply().unwrap(), b"*2\r\n$1\r\nk\r\n$1\r\nb\r\n");
}
