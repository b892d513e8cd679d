//! Counts, offsets and limits sent by a client must never size an allocation up front.
//!
//! `ZRANDMEMBER z -2147483649` on a three-member set once aborted the whole process: the
//! reply's two billion draws were collected in a `Vec` before a byte was written, and the
//! allocator refused 51 GB. Redis answers such a count by writing draw after draw, so its
//! memory grows with what it has written, never with what was asked; respd must do the same.
//!
//! The heap of this test process (the in-process server and the test) is measured with a
//! counting global allocator, installed in this test binary only. Each test here runs alone
//! (one test function), so no other test's allocations disturb the figures.

mod common;

use std::io::Read;

use common::{show, RawConn, TestServer};
use peak_alloc::PeakAlloc;

#[global_allocator]
static HEAP: PeakAlloc = PeakAlloc;

/// Sends `line` and reads a reply made of `header` and then `n` one-byte bulk strings, each
/// one of `members`, without keeping it: the reader's own buffer must not count as the
/// server's. Returns the peak heap growth (bytes) seen while the server answered.
fn peak_growth_for_one_byte_members(
    conn: &mut RawConn,
    line: &str,
    header: &[u8],
    n: usize,
    members: &[u8],
) -> usize {
    let before = HEAP.current_usage();
    HEAP.reset_peak_usage();
    let args: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
    conn.send(&common::encode(&args));
    let mut stream = conn.stream();
    let mut got_header = vec![0u8; header.len()];
    stream.read_exact(&mut got_header).expect("reply header");
    assert_eq!(got_header, header, "{line}: header {}", show(&got_header));
    // Each element is `$1\r\nX\r\n`: 7 bytes.
    let pattern = b"$1\r\n?\r\n";
    let mut buf = vec![0u8; 64 * 1024];
    let (mut seen, total) = (0usize, 7 * n);
    while seen < total {
        let want = (total - seen).min(buf.len());
        let got = stream.read(&mut buf[..want]).expect("reply body");
        assert!(
            got > 0,
            "{line}: connection closed after {seen} of {total} bytes"
        );
        for (i, &byte) in buf[..got].iter().enumerate() {
            let expect = pattern[(seen + i) % 7];
            assert!(
                if expect == b'?' {
                    members.contains(&byte)
                } else {
                    byte == expect
                },
                "{line}: unexpected byte {byte:#x} at {}",
                seen + i
            );
        }
        seen += got;
    }
    HEAP.peak_usage().saturating_sub(before)
}

#[test]
fn client_counts_do_not_size_allocations() {
    let server = TestServer::start();
    let mut conn = server.conn();
    assert_eq!(conn.words("ZADD z 1 a 2 b 3 c"), b":3\r\n");
    assert_eq!(conn.words("HSET h a 1 b 2 c 3"), b":3\r\n");
    assert_eq!(conn.words("SADD s a b c"), b":3\r\n");

    // A negative count: `n` draws with repeats, the reply itself n * 7 bytes. Collecting the
    // draws first took 24 bytes per draw on top of the reply (and 51 GB for the count in the
    // report); writing them as they are made needs about the reply alone, which a growing
    // buffer may hold with up to twice its length in capacity, plus the moment of a regrowth.
    let n = 2_000_000;
    for (line, header) in [
        (format!("ZRANDMEMBER z -{n}"), format!("*{n}\r\n")),
        (format!("HRANDFIELD h -{n}"), format!("*{n}\r\n")),
        (format!("SRANDMEMBER s -{n}"), format!("*{n}\r\n")),
    ] {
        let growth =
            peak_growth_for_one_byte_members(&mut conn, &line, header.as_bytes(), n, b"abc");
        println!(
            "{line}: peak heap growth {growth} bytes, reply {} bytes",
            7 * n
        );
        assert!(
            growth < 3 * 7 * n,
            "{line}: heap grew by {growth} bytes for a {} byte reply",
            7 * n
        );
    }

    // Huge counts whose replies are small: the heap must hardly move.
    let before = HEAP.current_usage();
    HEAP.reset_peak_usage();
    assert_eq!(conn.words("RPUSH l a b c"), b":3\r\n");
    for line in [
        "ZRANDMEMBER z 9223372036854775807",
        "ZRANDMEMBER z 4611686018427387903 WITHSCORES",
        "HRANDFIELD h 9223372036854775807",
        "HRANDFIELD h 4611686018427387903 WITHVALUES",
        "SRANDMEMBER s 9223372036854775807",
        "LRANGE l 0 9223372036854775807",
        "LPOS l a COUNT 9223372036854775807 MAXLEN 9223372036854775807",
        "SORT l ALPHA LIMIT 0 9223372036854775807",
        "ZRANGE z -inf +inf BYSCORE LIMIT 0 9223372036854775807",
        "ZRANGE z - + BYLEX LIMIT 0 9223372036854775807",
        "ZRANGE z 0 9223372036854775807",
        "ZINTERCARD 1 z LIMIT 9223372036854775807",
        "SINTERCARD 1 s LIMIT 9223372036854775807",
        "SCAN 0 COUNT 9223372036854775807",
        "HSCAN h 0 COUNT 9223372036854775807",
        "SSCAN s 0 COUNT 9223372036854775807",
        "ZSCAN z 0 COUNT 9223372036854775807",
        "GETRANGE l 0 9223372036854775807",
        "LPOP l 9223372036854775807",
        "ZPOPMIN z 9223372036854775807",
        "SPOP s 9223372036854775807",
        "ZMPOP 1 h MIN COUNT 9223372036854775807",
        "LMPOP 1 h LEFT COUNT 9223372036854775807",
    ] {
        let reply = conn.words(line);
        assert!(reply.len() < 200, "{line}: {}", show(&reply));
    }
    let growth = HEAP.peak_usage().saturating_sub(before);
    println!("small replies to huge counts: peak heap growth {growth} bytes");
    assert!(growth < 1 << 20, "heap grew by {growth} bytes");
}
