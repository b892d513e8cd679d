//! Pipelining tests: the examples of the Redis pipelining document, and the clients that make
//! a blocking server deadlock if it ever blocks in `write`.
//!
//! A client that pipelines writes many commands before reading replies. The dangerous ones
//! write a whole huge pipeline first (redis-py's pipeline, any `sendall`-then-read client):
//! their replies fill the server's send buffer while their requests fill the client's. If the
//! server then blocked in `write`, it would stop reading, the client would block in its own
//! `write`, and both would wait forever. See `src/connection.rs` for how respd avoids that;
//! these tests check it does, with a million commands, under a deadline so that a deadlock
//! fails the test instead of hanging it.
//!
//! The heavy tests take turns (see [`heavy`]) to keep memory and the two CPU cores sane.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::mpsc;
use std::sync::{Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use common::{encode, show, RawConn, TestServer};

/// The bound on every big pipeline test: generous for a debug build, finite for a deadlock.
const DEADLINE: Duration = Duration::from_secs(120);
/// Commands in the big pipeline.
const MILLION: usize = 1_000_000;

/// One heavy test at a time.
fn heavy() -> MutexGuard<'static, ()> {
    static HEAVY: Mutex<()> = Mutex::new(());
    HEAVY.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs `f` on its own thread and fails the test if it is not done within `limit`.
fn within<T: Send + 'static>(
    limit: Duration,
    what: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(limit) {
        Ok(v) => v,
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("{what}: not finished after {limit:?} (deadlock?)")
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => panic!("{what}: the worker thread panicked"),
    }
}

/// A socket for a big pipeline: long timeouts, but never infinite ones.
fn big_pipeline_socket(server: &TestServer) -> TcpStream {
    let s = TcpStream::connect(server.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(60))).unwrap();
    s
}

/// `count` copies of `command`, written in chunks of about 256 KB so the test never holds
/// the whole pipeline in memory.
fn write_repeated(mut stream: &TcpStream, command: &[u8], count: usize) -> std::io::Result<()> {
    let per_chunk = (256 * 1024 / command.len()).max(1);
    let chunk = command.repeat(per_chunk);
    let mut left = count;
    while left > 0 {
        let n = left.min(per_chunk);
        stream.write_all(&chunk[..n * command.len()])?;
        left -= n;
    }
    Ok(())
}

/// Reads `count` copies of `reply` and checks every byte; returns how many bytes matched
/// before the stream ended (or panics on a wrong byte).
fn read_repeated(mut stream: &TcpStream, reply: &[u8], count: usize) -> usize {
    // Compare against a block of whole replies with slice equality (memcmp), not byte loops.
    let block = reply.repeat((64 * 1024 / reply.len()).max(1));
    let total = reply.len() * count;
    let mut buf = vec![0u8; 256 * 1024];
    let mut offset = 0;
    while offset < total {
        let want = buf.len().min(total - offset);
        let n = match stream.read(&mut buf[..want]) {
            Ok(0) | Err(_) => return offset,
            Ok(n) => n,
        };
        let mut data = &buf[..n];
        while !data.is_empty() {
            let start = offset % block.len();
            let k = data.len().min(block.len() - start);
            if data[..k] != block[start..start + k] {
                let at = (0..k).find(|&i| data[i] != block[start + i]).unwrap();
                panic!(
                    "reply {} is corrupt at byte {}: got {}",
                    (offset + at) / reply.len(),
                    (offset + at) % reply.len(),
                    show(&data[at.saturating_sub(20)..(at + 40).min(k)])
                );
            }
            data = &data[k..];
            offset += k;
        }
    }
    offset
}

/// A server holding `k` = 100 bytes, and the exact reply to `GET k`.
fn server_with_value() -> (TestServer, Vec<u8>) {
    let server = TestServer::start();
    let value = b"0123456789".repeat(10);
    assert_eq!(server.conn().cmd(&[b"SET", b"k", &value]), b"+OK\r\n");
    let mut reply = b"$100\r\n".to_vec();
    reply.extend_from_slice(&value);
    reply.extend_from_slice(b"\r\n");
    (server, reply)
}

#[test]
fn netcat_example_is_byte_exact() {
    // (printf "PING\r\nPING\r\nPING\r\n"; sleep 1) | nc localhost 6379
    common::on_respd_and_redis("netcat_example_is_byte_exact", |name, addr| {
        let mut conn = RawConn::connect(addr);
        conn.send(b"PING\r\nPING\r\nPING\r\n");
        let got = conn.read_bytes(21);
        assert_eq!(show(&got), show(b"+PONG\r\n+PONG\r\n+PONG\r\n"), "{name}");
        conn.expect_silence(Duration::from_millis(100));
    });
}

#[test]
fn four_pipelined_incr_answer_one_to_four() {
    common::on_respd_and_redis("four_pipelined_incr_answer_one_to_four", |name, addr| {
        let mut conn = RawConn::connect(addr);
        let key = b"pipelining-test-X";
        conn.cmd(&[b"DEL", key]);
        let incr = encode(&[b"INCR", key]);
        conn.send(&incr.repeat(4));
        let got = conn.read_bytes(16);
        assert_eq!(show(&got), show(b":1\r\n:2\r\n:3\r\n:4\r\n"), "{name}");
        conn.expect_silence(Duration::from_millis(50));
        conn.cmd(&[b"DEL", key]);
    });
}

#[test]
fn ten_thousand_pings_with_the_redis_crate_pipeline() {
    let server = TestServer::start();
    let mut con = server.client();
    let mut pipe = redis::pipe();
    for _ in 0..10_000 {
        pipe.cmd("PING");
    }
    let replies: Vec<String> = pipe.query(&mut con).unwrap();
    assert_eq!(replies.len(), 10_000);
    assert!(replies.iter().all(|r| r == "PONG"));
}

#[test]
fn ten_thousand_pings_raw() {
    let server = TestServer::start();
    let mut conn = server.conn();
    conn.send(&encode(&[b"PING"]).repeat(10_000));
    let got = conn.read_bytes(7 * 10_000);
    assert!(got == b"+PONG\r\n".repeat(10_000), "replies differ");
    conn.expect_silence(Duration::from_millis(50));
}

#[test]
fn million_gets_written_by_one_thread_read_after() {
    let _heavy = heavy();
    let (server, reply) = server_with_value();
    let stream = big_pipeline_socket(&server);
    let started = Instant::now();
    let read = within(DEADLINE, "1M GET pipeline", move || {
        let writer_stream = stream.try_clone().unwrap();
        let writer = thread::spawn(move || {
            write_repeated(&writer_stream, &encode(&[b"GET", b"k"]), MILLION)
        });
        // Read only after the writer finished, as a "send everything, then read" client does.
        writer.join().unwrap().expect("writing the pipeline");
        read_repeated(&stream, &reply, MILLION)
    });
    assert_eq!(read, 108 * MILLION, "replies ended early");
    eprintln!(
        "1M pipelined GETs (writer thread) took {:?}",
        started.elapsed()
    );
}

#[test]
fn million_gets_with_write_all_then_read_in_the_same_thread() {
    let _heavy = heavy();
    let (server, reply) = server_with_value();
    let stream = big_pipeline_socket(&server);
    let started = Instant::now();
    let read = within(DEADLINE, "1M GET write_all pipeline", move || {
        // One buffer, one write_all, like redis-py's pipeline or any sendall() client.
        let all = encode(&[b"GET", b"k"]).repeat(MILLION);
        (&stream).write_all(&all).expect("writing the pipeline");
        drop(all);
        read_repeated(&stream, &reply, MILLION)
    });
    assert_eq!(read, 108 * MILLION, "replies ended early");
    eprintln!("1M pipelined GETs (write_all) took {:?}", started.elapsed());
}

#[test]
fn a_client_that_never_reads_does_not_block_others() {
    let _heavy = heavy();
    let (server, _) = server_with_value();
    let lazy = big_pipeline_socket(&server);
    let writer_stream = lazy.try_clone().unwrap();
    let writer =
        thread::spawn(move || write_repeated(&writer_stream, &encode(&[b"GET", b"k"]), MILLION));
    let mut other = server.conn();
    let deadline = Instant::now() + DEADLINE;
    let mut pings = 0;
    // Ping while the lazy client's pipeline is being written...
    while !writer.is_finished() {
        assert!(
            Instant::now() < deadline,
            "the lazy client's writes never finished"
        );
        let t = Instant::now();
        assert_eq!(other.cmd(&[b"PING"]), b"+PONG\r\n");
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "PING took {:?}",
            t.elapsed()
        );
        pings += 1;
        thread::sleep(Duration::from_millis(20));
    }
    writer.join().unwrap().expect("the lazy client's writes");
    // ...and after: all its replies are queued, unread, and others are still served.
    for _ in 0..10 {
        let t = Instant::now();
        assert_eq!(other.cmd(&[b"PING"]), b"+PONG\r\n");
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "PING took {:?}",
            t.elapsed()
        );
    }
    eprintln!("{pings} PINGs answered while the 1M pipeline was being written");
    drop(lazy);
    server.wait_for_clients(1, Duration::from_secs(10));
}

#[test]
fn output_buffer_limit_closes_a_client_that_never_reads() {
    let _heavy = heavy();
    let server = TestServer::with_config(|c| {
        c.apply(
            "client-output-buffer-limit",
            &["normal", "1mb", "0", "0"].map(String::from),
        )
        .unwrap()
    });
    let value = b"0123456789".repeat(10);
    assert_eq!(server.conn().cmd(&[b"SET", b"k", &value]), b"+OK\r\n");
    let mut other = server.conn();
    let lazy = big_pipeline_socket(&server);
    // 300,000 replies of 108 bytes: 32 MB, far over 1 MB plus what the kernel's socket
    // buffers can absorb on loopback (up to about 10 MB with autotuning).
    const N: usize = 300_000;
    // The server may close while we are still writing: that is the point.
    let _ = within(DEADLINE, "writing to a client over its output limit", {
        let lazy = lazy.try_clone().unwrap();
        move || write_repeated(&lazy, &encode(&[b"GET", b"k"]), N)
    });
    server.wait_for_clients(1, Duration::from_secs(10));
    // What reaches the lazy client is a prefix of its replies, then the end.
    let mut reply = b"$100\r\n".to_vec();
    reply.extend_from_slice(&value);
    reply.extend_from_slice(b"\r\n");
    let got = within(DEADLINE, "reading the closed client", move || {
        read_repeated(&lazy, &reply, N)
    });
    assert!(
        got < 108 * N,
        "all replies arrived: the client was not closed"
    );
    assert_eq!(other.cmd(&[b"PING"]), b"+PONG\r\n");
    let disconnects = server
        .handle()
        .shared()
        .stats
        .client_output_limit_disconnects
        .load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(
        disconnects, 1,
        "the client was closed, but stats.client_output_limit_disconnects did not count it"
    );
}
