//! Helpers for the unit tests that talk to a real server over a socket (compiled for tests
//! only).
//!
//! Some checks cannot live in the differential case files: RESP3 reply shapes (a case file
//! cannot record `HELLO 3`, whose reply holds the client id), values put straight into the
//! store, the keyspace hit and miss counters. Those tests start a server in-process on an
//! ephemeral loopback port and speak RESP to it with these few functions.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};

use crate::config::Config;
use crate::server::{self, ServerHandle};

/// Starts a server with the default configuration on `127.0.0.1:0` and connects to it. The
/// server stops when the handle is dropped.
pub fn start() -> (ServerHandle, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let handle = server::start(vec![listener], Config::default()).unwrap();
    let stream = TcpStream::connect(handle.local_addr()).unwrap();
    (handle, stream)
}

/// Sends one command as a RESP array of bulk strings.
pub fn send(stream: &mut TcpStream, args: &[&str]) {
    let mut out = format!("*{}\r\n", args.len());
    for a in args {
        out += &format!("${}\r\n{a}\r\n", a.len());
    }
    stream.write_all(out.as_bytes()).unwrap();
}

/// Sends one command and returns its whole reply (RESP2 or RESP3).
pub fn call(stream: &mut TcpStream, args: &[&str]) -> String {
    send(stream, args);
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while complete(&buf, 0).is_none() {
        let n = stream.read(&mut chunk).unwrap();
        assert!(n > 0, "connection closed");
        buf.extend_from_slice(&chunk[..n]);
    }
    String::from_utf8(buf).unwrap()
}

/// Sends one command and checks that the reply is exactly `expected`.
pub fn expect(stream: &mut TcpStream, args: &[&str], expected: &str) {
    send(stream, args);
    let mut buf = vec![0u8; expected.len()];
    stream.read_exact(&mut buf).unwrap();
    assert_eq!(String::from_utf8_lossy(&buf), expected, "{args:?}");
}

/// End of the reply starting at `pos`, if it is all there. Knows the types these tests meet:
/// bulk strings, arrays, maps, and one-line replies.
fn complete(buf: &[u8], pos: usize) -> Option<usize> {
    let line_end = pos + buf.get(pos..)?.windows(2).position(|w| w == b"\r\n")?;
    let n: i64 = std::str::from_utf8(&buf[pos + 1..line_end])
        .ok()?
        .parse()
        .unwrap_or(0);
    let elements = match buf[pos] {
        b'$' if n >= 0 => {
            let end = line_end + 2 + n as usize + 2;
            return (buf.len() >= end).then_some(end);
        }
        b'*' => n.max(0),
        b'%' => 2 * n.max(0),
        _ => return Some(line_end + 2),
    };
    (0..elements).try_fold(line_end + 2, |at, _| complete(buf, at))
}
