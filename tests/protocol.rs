//! Protocol tests over real sockets: malformed requests, limits, binary safety, inline syntax.
//!
//! Counterpart of Redis `tests/unit/protocol.tcl`. Each malformed input gets its own test that
//! checks two things, on respd and (when installed) on a real `redis-server` with the same
//! bytes: the exact error reply, and that the connection is closed right after it. Redis closes
//! because after a framing error it cannot know where the next command starts
//! (`CLIENT_CLOSE_AFTER_REPLY` in `networking.c`); respd must do the same.
//!
//! Inputs that must be over 64 KiB are exactly `PROTO_INLINE_MAX_SIZE + 1` bytes: both
//! servers give up as soon as that many bytes are buffered, so nothing is left unread when they
//! close, and the kernel delivers the reply instead of a reset.

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use common::{encode, show, RawConn, RedisServer, TestServer};

/// Redis `PROTO_INLINE_MAX_SIZE`.
const INLINE_MAX: usize = 64 * 1024;

/// Tests that move megabytes or measure this process's memory take turns, so one does not
/// disturb the other's numbers and the two cores are not oversubscribed.
fn heavy() -> MutexGuard<'static, ()> {
    static HEAVY: Mutex<()> = Mutex::new(());
    HEAVY.lock().unwrap_or_else(|e| e.into_inner())
}

/// respd, plus the shared real Redis when there is one.
struct Servers {
    respd: TestServer,
    redis: Option<Arc<RedisServer>>,
}

impl Servers {
    fn start(test: &str) -> Servers {
        Servers::with(TestServer::start(), RedisServer::shared(), test)
    }

    fn with(respd: TestServer, redis: Option<Arc<RedisServer>>, test: &str) -> Servers {
        if redis.is_none() {
            common::skip_note(&format!("{test}: checked against respd only"));
        }
        Servers { respd, redis }
    }

    /// `("respd", addr)` and, if available, `("redis", addr)`.
    fn targets(&self) -> Vec<(&'static str, SocketAddr)> {
        let mut t = vec![("respd", self.respd.addr())];
        if let Some(r) = &self.redis {
            t.push(("redis", r.addr()));
        }
        t
    }

    /// Sends `input` on a new connection to each server; each must answer exactly `expected`
    /// and then close the connection.
    fn rejects(&self, input: &[u8], expected: &[u8]) {
        for (name, addr) in self.targets() {
            let mut conn = RawConn::connect(addr);
            // The server may close while a long input is still being written; the reply is
            // what matters, so a failed write is not an error here.
            let _ = conn.try_send(input);
            let reply = conn.reply().unwrap_or_else(|e| {
                panic!(
                    "{name}: no reply to {}: {e}",
                    show(&input[..input.len().min(64)])
                )
            });
            assert_eq!(
                show(&reply),
                show(expected),
                "{name}: wrong reply to {}",
                show(&input[..input.len().min(64)])
            );
            assert!(
                conn.is_closed_within(Duration::from_secs(5)),
                "{name}: connection still open after the protocol error"
            );
        }
    }

    /// Sends `input` on a new connection to each server and reads `replies.len()` replies,
    /// which must be exactly `replies`; the connection must stay open and quiet afterwards.
    fn answers(&self, input: &[u8], replies: &[&[u8]]) {
        for (name, addr) in self.targets() {
            let mut conn = RawConn::connect(addr);
            conn.send(input);
            for want in replies {
                let got = conn
                    .reply()
                    .unwrap_or_else(|e| panic!("{name}: missing reply {}: {e}", show(want)));
                assert_eq!(show(&got), show(want), "{name}: wrong reply");
            }
            conn.expect_silence(Duration::from_millis(100));
        }
    }
}

#[test]
fn multibulk_count_above_int_max_is_invalid() {
    let s = Servers::start("multibulk_count_above_int_max_is_invalid");
    s.rejects(
        b"*3000000000\r\n",
        b"-ERR Protocol error: invalid multibulk length\r\n",
    );
    s.rejects(
        b"*2147483648\r\n",
        b"-ERR Protocol error: invalid multibulk length\r\n",
    );
}

#[test]
fn multibulk_count_not_a_number_is_invalid() {
    let s = Servers::start("multibulk_count_not_a_number_is_invalid");
    s.rejects(
        b"*abc\r\n",
        b"-ERR Protocol error: invalid multibulk length\r\n",
    );
    s.rejects(
        b"*\r\n",
        b"-ERR Protocol error: invalid multibulk length\r\n",
    );
    s.rejects(
        b"*1x\r\n",
        b"-ERR Protocol error: invalid multibulk length\r\n",
    );
    s.rejects(
        b"* 1\r\n",
        b"-ERR Protocol error: invalid multibulk length\r\n",
    );
}

#[test]
fn negative_bulk_length_inside_multibulk_is_invalid() {
    let s = Servers::start("negative_bulk_length_inside_multibulk_is_invalid");
    s.rejects(
        b"*1\r\n$-1\r\n",
        b"-ERR Protocol error: invalid bulk length\r\n",
    );
}

#[test]
fn bulk_length_not_a_number_is_invalid() {
    let s = Servers::start("bulk_length_not_a_number_is_invalid");
    s.rejects(
        b"*1\r\n$abc\r\n",
        b"-ERR Protocol error: invalid bulk length\r\n",
    );
    s.rejects(
        b"*2\r\n$4\r\nECHO\r\n$\r\n",
        b"-ERR Protocol error: invalid bulk length\r\n",
    );
}

#[test]
fn bulk_over_default_proto_max_bulk_len_is_invalid() {
    let s = Servers::start("bulk_over_default_proto_max_bulk_len_is_invalid");
    // 512 MB is 536870912 bytes.
    s.rejects(
        b"*1\r\n$600000000\r\n",
        b"-ERR Protocol error: invalid bulk length\r\n",
    );
    s.rejects(
        b"*1\r\n$536870913\r\n",
        b"-ERR Protocol error: invalid bulk length\r\n",
    );
}

#[test]
fn one_gigabyte_bulk_header_is_invalid_with_the_default_limit() {
    let s = Servers::start("one_gigabyte_bulk_header_is_invalid_with_the_default_limit");
    s.rejects(
        b"*1\r\n$1000000000\r\n",
        b"-ERR Protocol error: invalid bulk length\r\n",
    );
}

#[test]
fn bulk_over_lowered_proto_max_bulk_len_is_invalid() {
    let _heavy = heavy();
    let respd = TestServer::with_config(|c| c.proto_max_bulk_len = 1024 * 1024);
    let redis = RedisServer::start_with(&["--proto-max-bulk-len", "1mb"]).map(Arc::new);
    let s = Servers::with(
        respd,
        redis,
        "bulk_over_lowered_proto_max_bulk_len_is_invalid",
    );
    s.rejects(
        b"*1\r\n$1048577\r\n",
        b"-ERR Protocol error: invalid bulk length\r\n",
    );
    // Exactly the limit is fine.
    let value = vec![b'v'; 1024 * 1024];
    let mut expected = b"$1048576\r\n".to_vec();
    expected.extend_from_slice(&value);
    expected.extend_from_slice(b"\r\n");
    s.answers(&encode(&[b"ECHO", &value]), &[&expected]);
}

#[test]
fn argument_not_starting_with_dollar() {
    let s = Servers::start("argument_not_starting_with_dollar");
    s.rejects(
        b"*1\r\nx\r\n",
        b"-ERR Protocol error: expected '$', got 'x'\r\n",
    );
    s.rejects(
        b"*2\r\n$4\r\nECHO\r\n:5\r\n",
        b"-ERR Protocol error: expected '$', got ':'\r\n",
    );
}

#[test]
fn empty_line_where_a_bulk_header_should_be() {
    let s = Servers::start("empty_line_where_a_bulk_header_should_be");
    // The byte found is the '\r', which Redis shows as a space.
    s.rejects(
        b"*1\r\n\r\n",
        b"-ERR Protocol error: expected '$', got ' '\r\n",
    );
    // And the connection's slot is given back.
    s.respd.wait_for_clients(0, Duration::from_secs(5));
    assert_eq!(
        s.respd
            .handle()
            .shared()
            .connected
            .load(std::sync::atomic::Ordering::Acquire),
        0
    );
}

#[test]
fn inline_request_over_64k_without_newline() {
    let s = Servers::start("inline_request_over_64k_without_newline");
    let input = vec![b'a'; INLINE_MAX + 1];
    s.rejects(&input, b"-ERR Protocol error: too big inline request\r\n");
}

#[test]
fn multibulk_count_line_over_64k() {
    let s = Servers::start("multibulk_count_line_over_64k");
    let mut input = b"*".to_vec();
    input.resize(INLINE_MAX + 1, b'1');
    s.rejects(
        &input,
        b"-ERR Protocol error: too big mbulk count string\r\n",
    );
}

#[test]
fn bulk_count_line_over_64k() {
    let s = Servers::start("bulk_count_line_over_64k");
    let mut input = b"*1\r\n$".to_vec();
    input.resize(4 + INLINE_MAX + 1, b'1');
    s.rejects(
        &input,
        b"-ERR Protocol error: too big bulk count string\r\n",
    );
}

#[test]
fn unbalanced_quotes_in_inline_request() {
    let s = Servers::start("unbalanced_quotes_in_inline_request");
    let error: &[u8] = b"-ERR Protocol error: unbalanced quotes in request\r\n";
    s.rejects(b"SET k \"abc\r\n", error);
    s.rejects(b"SET k 'abc\r\n", error);
    // A closing quote must be followed by a space or the end of the line.
    s.rejects(b"SET k \"a\"b\r\n", error);
    s.rejects(b"ECHO 'a'b\n", error);
}

/// A tiny deterministic generator (a 64-bit LCG), so "random" noise is the same every run.
struct Noise(u64);

impl Noise {
    fn byte(&mut self) -> u8 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 56) as u8
    }
}

#[test]
fn binary_noise_after_a_star_is_an_invalid_multibulk_length() {
    let s = Servers::start("binary_noise_after_a_star_is_an_invalid_multibulk_length");
    for seed in 1..=8u64 {
        let mut noise = Noise(seed);
        let mut input = b"*".to_vec();
        // Up to the first CR the bytes are the "count"; make sure it is not a number. No NUL
        // either: Redis looks for the CR with strchr(), which stops at a NUL, so a NUL before
        // the CR makes Redis wait for more input instead of answering.
        input.push(b'Z');
        for _ in 0..(10 + seed * 7) {
            let b = noise.byte();
            input.push(if b == b'\r' || b == 0 { b'?' } else { b });
        }
        input.extend_from_slice(b"\r\n");
        for _ in 0..200 {
            input.push(noise.byte());
        }
        s.rejects(&input, b"-ERR Protocol error: invalid multibulk length\r\n");
    }
    // The server is unharmed.
    assert_eq!(s.respd.raw(b"PING\r\n"), b"+PONG\r\n");
}

#[test]
fn huge_bulk_header_reserves_no_memory_up_front() {
    let _heavy = heavy();
    let server = TestServer::start();
    let Some(before) = common::rss_bytes() else {
        eprintln!("SKIPPED: huge_bulk_header_reserves_no_memory_up_front: no /proc/self/status");
        return;
    };
    // 500 MB is under the 512 MB default, so this is a legal header; only 100 bytes follow.
    let mut clients = Vec::new();
    for _ in 0..4 {
        let mut c = server.conn();
        c.send(b"*2\r\n$4\r\nECHO\r\n$500000000\r\n");
        c.send(&[b'x'; 100]);
        clients.push(c);
    }
    server.wait_for_clients(4, Duration::from_secs(5));
    // Give the workers time to read and parse what was sent.
    std::thread::sleep(Duration::from_millis(300));
    for c in &mut clients {
        c.expect_silence(Duration::from_millis(10));
    }
    // Untouched reservations do not show in RSS (the kernel maps pages lazily), so look at
    // the query buffers' capacity too, as CLIENT LIST's qbuf/qbuf-free would.
    for client in server.handle().shared().clients.all() {
        let capacity = client.snapshot.lock().query_buffer_capacity;
        assert!(
            capacity < 1024 * 1024,
            "client id={} reserved {capacity} bytes of query buffer for 100 bytes of data",
            client.id
        );
    }
    let after = common::rss_bytes().unwrap();
    let grown = after.saturating_sub(before);
    assert!(
        grown < 50 * 1024 * 1024,
        "resident memory grew by {} MB after four 500 MB bulk headers",
        grown / (1024 * 1024)
    );
    // Others are served meanwhile, and the half-sent clients go away cleanly.
    assert_eq!(server.raw(b"PING\r\n"), b"+PONG\r\n");
    drop(clients);
    server.wait_for_clients(0, Duration::from_secs(5));
}

#[test]
fn client_disconnecting_mid_command_does_not_disturb_others() {
    let server = TestServer::start();
    let mut half = server.conn();
    half.send(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$10\r\nabc");
    server.wait_for_clients(1, Duration::from_secs(5));
    drop(half);
    server.wait_for_clients(0, Duration::from_secs(5));
    // The half command never ran.
    let mut other = server.conn();
    assert_eq!(other.cmd(&[b"GET", b"k"]), b"$-1\r\n");
    assert_eq!(other.cmd(&[b"PING"]), b"+PONG\r\n");
    drop(other);
    server.wait_for_clients(0, Duration::from_secs(5));
}

#[test]
fn client_disconnecting_mid_reply_does_not_disturb_others() {
    let _heavy = heavy();
    let server = TestServer::start();
    let mut other = server.conn();
    let value = vec![b'v'; 1024 * 1024];
    assert_eq!(other.cmd(&[b"SET", b"big", &value]), b"+OK\r\n");
    for _ in 0..3 {
        let mut reader = server.conn();
        let mut pipeline = Vec::new();
        for _ in 0..16 {
            pipeline.extend_from_slice(&encode(&[b"GET", b"big"]));
        }
        reader.send(&pipeline);
        // Take a little of the 16 MB of replies, then vanish.
        let head = reader.read_bytes(1000);
        assert!(head.starts_with(b"$1048576\r\nvvv"));
        drop(reader);
        assert_eq!(other.cmd(&[b"PING"]), b"+PONG\r\n");
    }
    server.wait_for_clients(1, Duration::from_secs(5));
    assert_eq!(other.cmd(&[b"GET", b"big"]).len(), 1024 * 1024 + 12);
}

#[test]
fn binary_keys_and_values_round_trip_exactly() {
    let s = Servers::start("binary_keys_and_values_round_trip_exactly");
    let all: Vec<u8> = (0..=255u8).collect();
    let mut value = all.clone();
    value.extend(all.iter().rev());
    for (name, addr) in s.targets() {
        let mut conn = RawConn::connect(addr);
        conn.cmd(&[b"DEL", &all]);
        assert_eq!(conn.cmd(&[b"SET", &all, &value]), b"+OK\r\n", "{name}");
        let mut expected = b"$512\r\n".to_vec();
        expected.extend_from_slice(&value);
        expected.extend_from_slice(b"\r\n");
        assert_eq!(show(&conn.cmd(&[b"GET", &all])), show(&expected), "{name}");
        // Every single byte as a key of its own, pipelined.
        let mut pipeline = Vec::new();
        for b in 0..=255u8 {
            pipeline.extend_from_slice(&encode(&[b"SET", &[b], &[b, b'\r', b'\n', b]]));
        }
        for b in 0..=255u8 {
            pipeline.extend_from_slice(&encode(&[b"GET", &[b]]));
        }
        conn.send(&pipeline);
        for _ in 0..=255u8 {
            assert_eq!(conn.reply().unwrap(), b"+OK\r\n", "{name}");
        }
        for b in 0..=255u8 {
            let want = [b'$', b'4', b'\r', b'\n', b, b'\r', b'\n', b, b'\r', b'\n'];
            assert_eq!(show(&conn.reply().unwrap()), show(&want), "{name}");
        }
        let mut cleanup = vec![b"DEL".to_vec(), all.clone()];
        cleanup.extend((0..=255u8).map(|b| vec![b]));
        let cleanup: Vec<&[u8]> = cleanup.iter().map(Vec::as_slice).collect();
        assert_eq!(conn.cmd(&cleanup), b":257\r\n", "{name}");
    }
    // The same through a client library.
    let mut client = s.respd.client();
    let _: () = redis::cmd("SET")
        .arg(&all[..])
        .arg(&value[..])
        .query(&mut client)
        .unwrap();
    let got: Vec<u8> = redis::cmd("GET").arg(&all[..]).query(&mut client).unwrap();
    assert_eq!(got, value);
}

#[test]
fn inline_commands_with_quotes_and_escapes() {
    let s = Servers::start("inline_commands_with_quotes_and_escapes");
    s.answers(b"ECHO \"two words\"\r\n", &[b"$9\r\ntwo words\r\n"]);
    s.answers(b"ECHO 'it\\'s'\r\n", &[b"$4\r\nit's\r\n"]);
    s.answers(
        b"ECHO 'no \\n escapes'\r\n",
        &[b"$13\r\nno \\n escapes\r\n"],
    );
    s.answers(
        b"ECHO \"\\x41\\x00\\xff\\n\\r\\t\\b\\a\\\\\\\"\"\r\n",
        &[b"$10\r\nA\x00\xff\n\r\t\x08\x07\\\"\r\n"],
    );
    // \x with a bad hex digit is just an escaped 'x'.
    s.answers(b"ECHO \"\\xZZ\"\r\n", &[b"$3\r\nxZZ\r\n"]);
    s.answers(b"ECHO \"\"\r\n", &[b"$0\r\n\r\n"]);
    s.answers(b"   ECHO\t  spaced   \n", &[b"$6\r\nspaced\r\n"]);
    s.answers(b"ECHO bare\n", &[b"$4\r\nbare\r\n"]);
}

#[test]
fn inline_and_multibulk_mixed_in_one_stream() {
    let s = Servers::start("inline_and_multibulk_mixed_in_one_stream");
    s.answers(
        b"PING\r\n*1\r\n$4\r\nPING\r\nECHO hi\r\n*2\r\n$4\r\nECHO\r\n$3\r\na b\r\nECHO \"c d\"\n",
        &[
            b"+PONG\r\n",
            b"+PONG\r\n",
            b"$2\r\nhi\r\n",
            b"$3\r\na b\r\n",
            b"$3\r\nc d\r\n",
        ],
    );
}

#[test]
fn empty_requests_are_ignored() {
    let s = Servers::start("empty_requests_are_ignored");
    s.answers(
        b"*0\r\n*-1\r\n\r\n\n    \r\n\t\n*0\r\nPING\r\n*-5\r\n\r\n",
        &[b"+PONG\r\n"],
    );
}

#[test]
fn huge_multibulk_count_is_accepted_and_waits() {
    let _heavy = heavy();
    let s = Servers::start("huge_multibulk_count_is_accepted_and_waits");
    // Redis 7.0 only rejects counts above INT_MAX; 2^20 + 1 waits for its arguments.
    const N: usize = 1024 * 1024 + 1;
    let mut rest = b"$4\r\nECHO\r\n".to_vec();
    for _ in 1..N {
        rest.extend_from_slice(b"$1\r\na\r\n");
    }
    for (name, addr) in s.targets() {
        let mut conn = RawConn::connect(addr);
        conn.send(format!("*{N}\r\n").as_bytes());
        conn.expect_silence(Duration::from_millis(200));
        conn.send(&rest);
        let reply = conn.reply().unwrap();
        assert_eq!(
            show(&reply),
            show(b"-ERR wrong number of arguments for 'echo' command\r\n"),
            "{name}"
        );
        assert_eq!(conn.cmd(&[b"PING"]), b"+PONG\r\n", "{name}");
        // The largest legal count is accepted too (and just waits).
        let mut conn = RawConn::connect(addr);
        conn.send(b"*2147483647\r\n$4\r\nPING\r\n");
        conn.expect_silence(Duration::from_millis(200));
    }
}

#[test]
fn command_errors_keep_the_connection_open() {
    let s = Servers::start("command_errors_keep_the_connection_open");
    s.answers(
        b"NOSUCH a b\r\nGET\r\nPING\r\n",
        &[
            b"-ERR unknown command 'NOSUCH', with args beginning with: 'a' 'b' \r\n",
            b"-ERR wrong number of arguments for 'get' command\r\n",
            b"+PONG\r\n",
        ],
    );
}

#[test]
fn requests_split_at_every_byte_are_parsed_once() {
    // A pipeline trickled in one byte per write still yields exactly its replies.
    let server = TestServer::start();
    let mut conn = server.conn();
    let input = b"*2\r\n$4\r\nECHO\r\n$5\r\nhello\r\nPING\r\n*1\r\n$4\r\nPING\r\n";
    let deadline = Instant::now() + Duration::from_secs(20);
    for b in input {
        conn.send(&[*b]);
        assert!(Instant::now() < deadline, "trickling took too long");
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(conn.reply().unwrap(), b"$5\r\nhello\r\n");
    assert_eq!(conn.reply().unwrap(), b"+PONG\r\n");
    assert_eq!(conn.reply().unwrap(), b"+PONG\r\n");
    conn.expect_silence(Duration::from_millis(50));
}

/// A request far larger than one read arrives over many batches. Between batches the
/// connection drops spare memory of big finished commands; it once dropped the arguments of
/// the command still being read, so `SADD myset DEL DEL … victim` lost its head and the rest
/// ran as `DEL DEL … victim`. Nothing may be lost, and nothing may run that was not sent.
#[test]
fn command_over_a_megabyte_keeps_its_first_arguments() {
    let _heavy = heavy();
    let s = Servers::start("command_over_a_megabyte_keeps_its_first_arguments");
    let members = 400_000;
    let mut request =
        format!("*{}\r\n$4\r\nSADD\r\n$12\r\nbig:trustset\r\n", members + 3).into_bytes();
    for _ in 0..members {
        request.extend_from_slice(b"$3\r\nDEL\r\n");
    }
    request.extend_from_slice(b"$10\r\nbig:victim\r\n");
    assert!(request.len() > 3_500_000);
    for (name, addr) in s.targets() {
        let mut conn = RawConn::connect(addr);
        conn.cmd(&[b"DEL", b"big:trustset", b"big:victim"]);
        assert_eq!(
            conn.cmd(&[b"SET", b"big:victim", b"precious data"]),
            b"+OK\r\n"
        );
        conn.send(&request);
        assert_eq!(
            show(&conn.reply().unwrap()),
            show(b":2\r\n"),
            "{name}: SADD of two distinct members"
        );
        assert_eq!(
            conn.cmd(&[b"GET", b"big:victim"]),
            b"$13\r\nprecious data\r\n",
            "{name}: the string key survives"
        );
        assert_eq!(conn.cmd(&[b"SCARD", b"big:trustset"]), b":2\r\n", "{name}");
        conn.cmd(&[b"DEL", b"big:trustset", b"big:victim"]);
    }
}

/// The same defect seen through a long RPUSH and through an HSET of large values: every
/// element arrives, and no value is taken for a command name.
#[test]
fn long_rpush_and_large_hset_arrive_whole() {
    let _heavy = heavy();
    let s = Servers::start("long_rpush_and_large_hset_arrive_whole");
    let elements: Vec<Vec<u8>> = (0..200_000)
        .map(|i| format!("element-{i}").into_bytes())
        .collect();
    let mut rpush: Vec<&[u8]> = vec![b"RPUSH", b"big:list"];
    rpush.extend(elements.iter().map(|e| e.as_slice()));
    let value = vec![b'v'; 700 * 1024];
    let hset = encode(&[
        b"HSET",
        b"big:hash",
        b"f1",
        &value,
        b"f2",
        &value,
        b"f3",
        &value,
    ]);
    for (name, addr) in s.targets() {
        let mut conn = RawConn::connect(addr);
        conn.cmd(&[b"DEL", b"big:list", b"big:hash"]);
        assert_eq!(
            show(&conn.cmd(&rpush)),
            show(b":200000\r\n"),
            "{name}: RPUSH"
        );
        assert_eq!(
            conn.cmd(&[b"LINDEX", b"big:list", b"0"]),
            b"$9\r\nelement-0\r\n",
            "{name}: the first element is there"
        );
        conn.send(&hset);
        assert_eq!(
            show(&conn.reply().unwrap()),
            show(b":3\r\n"),
            "{name}: HSET"
        );
        assert_eq!(
            conn.cmd(&[b"HSTRLEN", b"big:hash", b"f1"]),
            b":716800\r\n",
            "{name}"
        );
        conn.cmd(&[b"DEL", b"big:list", b"big:hash"]);
    }
}

/// `CONFIG SET proto-max-bulk-len` binds connections that are already open, from their next
/// bulk header on, as in Redis.
#[test]
fn lowered_proto_max_bulk_len_applies_to_open_connections() {
    let _heavy = heavy();
    let respd = TestServer::start();
    let redis = RedisServer::start().map(Arc::new);
    let s = Servers::with(
        respd,
        redis,
        "lowered_proto_max_bulk_len_applies_to_open_connections",
    );
    for (name, addr) in s.targets() {
        let mut old = RawConn::connect(addr);
        assert_eq!(old.cmd(&[b"PING"]), b"+PONG\r\n", "{name}");
        let mut admin = RawConn::connect(addr);
        assert_eq!(
            admin.cmd(&[b"CONFIG", b"SET", b"proto-max-bulk-len", b"1mb"]),
            b"+OK\r\n",
            "{name}"
        );
        let _ = old.try_send(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2097152\r\n");
        assert_eq!(
            show(&old.reply().unwrap()),
            show(b"-ERR Protocol error: invalid bulk length\r\n"),
            "{name}: a 2 MB bulk on a connection opened before the change"
        );
        assert!(old.is_closed_within(Duration::from_secs(5)), "{name}");
    }
}

/// sdssplitargs ends a bare word only at space, tab, CR or LF: a vertical tab or form feed
/// inside one is part of the argument (between arguments they are skipped as blanks).
#[test]
fn inline_vertical_tab_and_form_feed_do_not_split_words() {
    let s = Servers::start("inline_vertical_tab_and_form_feed_do_not_split_words");
    s.answers(b"ECHO a\x0bb\r\n", &[b"$3\r\na\x0bb\r\n"]);
    s.answers(
        b"\x0cECHO\x0c c\x0cd \x0b\r\n",
        &[b"-ERR unknown command 'ECHO\x0c', with args beginning with: 'c\x0cd' \r\n"],
    );
    s.answers(b"ECHO \"q\"\x0b\r\n", &[b"$1\r\nq\r\n"]);
}
