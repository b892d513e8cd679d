//! The one RESP reply reader of the tests and the benches: where a reply ends
//! ([`parse_reply`]), its exact bytes off a stream ([`RespReader`]), and a decoded form for
//! tests that look inside ([`decode`]). It is written apart from respd's own code on purpose:
//! a test that read replies with the server's writer would check nothing.
//!
//! It depends on nothing but std, so the benches include it too
//! (`#[path = "../../tests/common/resp.rs"] mod resp;` in benches/common/mod.rs).

#![allow(dead_code)] // each test binary and bench uses a different subset

use std::io::{self, Read};
use std::net::TcpStream;
use std::time::Duration;

/// Encodes a command as a RESP multibulk, the way client libraries send it.
pub fn encode(args: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_command(&mut out, args);
    out
}

/// Appends one command in RESP multibulk form to `out` (a pipeline in the making).
pub fn encode_command(out: &mut Vec<u8>, args: &[&[u8]]) {
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
}

/// Renders bytes for a failure message: printable ASCII as is, the rest escaped
/// (`"+OK\r\n"`), so two replies that differ by one byte look different on screen.
pub fn show(bytes: &[u8]) -> String {
    let mut s = String::from("\"");
    for &b in bytes {
        match b {
            b'\r' => s.push_str("\\r"),
            b'\n' => s.push_str("\\n"),
            b'\t' => s.push_str("\\t"),
            b'"' => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            0x20..=0x7e => s.push(b as char),
            _ => s.push_str(&format!("\\x{b:02x}")),
        }
    }
    s.push('"');
    s
}

/// One parsed reply: where it ends, and for aggregates (`*`, `~`, `>`, `%`), the byte ranges
/// of its elements (maps count as 2n elements, as in tests/diffcase.py).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// Offset just past the reply.
    pub end: usize,
    /// Offset just past the reply's header line (`*3\r\n`).
    pub header_end: usize,
    /// Element ranges, for aggregates.
    pub elements: Option<Vec<(usize, usize)>>,
}

/// Finds the complete RESP2/RESP3 reply starting at `buf[pos]`.
///
/// `Ok(None)` means the reply is not complete yet; `Err` means the bytes are not RESP.
/// The rules are the ones tests/diffcase.py uses, so both runners split streams alike.
pub fn parse_reply(buf: &[u8], pos: usize) -> Result<Option<Parsed>, String> {
    if pos >= buf.len() {
        return Ok(None);
    }
    let Some(cr) = find_crlf(buf, pos) else {
        return Ok(None);
    };
    let header_end = cr + 2;
    let number = || -> Result<i64, String> {
        std::str::from_utf8(&buf[pos + 1..cr])
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("bad length line {}", show(&buf[pos..cr])))
    };
    match buf[pos] {
        b'+' | b'-' | b':' | b',' | b'#' | b'_' | b'(' => Ok(Some(Parsed {
            end: header_end,
            header_end,
            elements: None,
        })),
        b'$' | b'=' | b'!' => {
            let n = number()?;
            if n < 0 {
                return Ok(Some(Parsed {
                    end: header_end,
                    header_end,
                    elements: None,
                }));
            }
            let end = header_end + n as usize + 2;
            if buf.len() < end {
                return Ok(None);
            }
            Ok(Some(Parsed {
                end,
                header_end,
                elements: None,
            }))
        }
        t @ (b'*' | b'~' | b'>' | b'%' | b'|') => {
            let mut n = number()?;
            if t == b'%' || t == b'|' {
                n *= 2;
            }
            let mut p = header_end;
            let mut elements = Vec::new();
            for _ in 0..n.max(0) {
                let Some(e) = parse_reply(buf, p)? else {
                    return Ok(None);
                };
                elements.push((p, e.end));
                p = e.end;
            }
            if t == b'|' {
                // An attribute: the real reply follows it.
                return parse_reply(buf, p);
            }
            Ok(Some(Parsed {
                end: p,
                header_end,
                elements: Some(elements),
            }))
        }
        other => Err(format!(
            "not a RESP reply: starts with {} at {}",
            show(&[other]),
            show(&buf[pos..buf.len().min(pos + 40)])
        )),
    }
}

fn find_crlf(buf: &[u8], from: usize) -> Option<usize> {
    buf[from..]
        .windows(2)
        .position(|w| w == b"\r\n")
        .map(|i| from + i)
}

/// Rebuilds an aggregate reply with its elements sorted bytewise (the `!sort` directive).
pub fn sorted_reply(buf: &[u8], parsed: &Parsed) -> Vec<u8> {
    let mut out = buf[..parsed.header_end].to_vec();
    match &parsed.elements {
        Some(elements) => {
            let mut parts: Vec<&[u8]> = elements.iter().map(|&(a, b)| &buf[a..b]).collect();
            parts.sort();
            for p in parts {
                out.extend_from_slice(p);
            }
            out
        }
        None => buf[..parsed.end].to_vec(),
    }
}

/// Reads whole RESP replies from a byte stream, keeping any bytes past the current reply.
pub struct RespReader<R> {
    inner: R,
    buf: Vec<u8>,
}

impl<R: Read> RespReader<R> {
    /// Wraps a stream.
    pub fn new(inner: R) -> Self {
        RespReader {
            inner,
            buf: Vec::new(),
        }
    }

    /// The stream.
    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// Bytes received but not returned yet.
    pub fn buffered(&self) -> &[u8] {
        &self.buf
    }

    fn fill(&mut self) -> io::Result<()> {
        let mut chunk = [0u8; 64 * 1024];
        let n = self.inner.read(&mut chunk)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "connection closed by the server (after {} unparsed bytes: {})",
                    self.buf.len(),
                    show(&self.buf[..self.buf.len().min(200)])
                ),
            ));
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }

    /// Reads one complete reply and returns its exact bytes. A closed connection is
    /// `UnexpectedEof`; a read timeout is `WouldBlock`/`TimedOut`.
    pub fn reply(&mut self) -> io::Result<Vec<u8>> {
        self.reply_sorted(false)
    }

    /// Like [`RespReader::reply`]; with `sort`, aggregate elements are sorted bytewise.
    pub fn reply_sorted(&mut self, sort: bool) -> io::Result<Vec<u8>> {
        loop {
            let parsed = parse_reply(&self.buf, 0)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            if let Some(p) = parsed {
                let out = if sort {
                    sorted_reply(&self.buf, &p)
                } else {
                    self.buf[..p.end].to_vec()
                };
                self.buf.drain(..p.end);
                return Ok(out);
            }
            self.fill()?;
        }
    }

    /// Reads until `n` bytes are available or the stream ends or times out; returns them.
    pub fn read_bytes(&mut self, n: usize) -> Vec<u8> {
        while self.buf.len() < n {
            if self.fill().is_err() {
                break;
            }
        }
        let take = n.min(self.buf.len());
        self.buf.drain(..take).collect()
    }
}

impl RespReader<TcpStream> {
    /// True if the peer closed (EOF or reset) within `wait`. Bytes that arrive instead are
    /// kept in the buffer and mean "still open".
    pub fn is_closed_within(&mut self, wait: Duration) -> bool {
        if !self.buf.is_empty() {
            return false;
        }
        let old = self.inner.read_timeout().ok().flatten();
        self.inner
            .set_read_timeout(Some(wait.max(Duration::from_millis(1))))
            .unwrap();
        let mut byte = [0u8; 4096];
        let closed = match self.inner.read(&mut byte) {
            Ok(0) => true,
            Ok(n) => {
                self.buf.extend_from_slice(&byte[..n]);
                false
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                false
            }
            Err(_) => true, // reset: closed, and not gracefully
        };
        let _ = self.inner.set_read_timeout(old);
        closed
    }
}

/// A decoded reply, kept close to the wire: the type byte and the payload.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Val {
    /// `+`, `-`, `:`, `,`, `#`, `_`, `(`: the type byte and the line.
    Line(u8, Vec<u8>),
    /// `$`, `=`, `!`: the type byte and the payload (`None` for `$-1`).
    Bulk(u8, Option<Vec<u8>>),
    /// `*`, `~`, `>`, `%`: the type byte and the elements (maps flattened to 2n).
    Agg(u8, Option<Vec<Val>>),
}

impl Val {
    /// The type byte.
    pub fn kind(&self) -> u8 {
        match self {
            Val::Line(t, _) | Val::Bulk(t, _) | Val::Agg(t, _) => *t,
        }
    }
}

/// Decodes the complete reply at the start of `buf` (split by [`parse_reply`]); `None` when
/// it is not a whole RESP reply.
pub fn parse(buf: &[u8]) -> Option<Val> {
    value_at(buf, 0)
}

fn value_at(buf: &[u8], pos: usize) -> Option<Val> {
    let parsed = parse_reply(buf, pos).ok()??;
    let kind = buf[pos];
    let line = &buf[pos + 1..parsed.header_end - 2];
    let absent = line.first() == Some(&b'-');
    Some(match kind {
        b'$' | b'=' | b'!' if absent => Val::Bulk(kind, None),
        b'$' | b'=' | b'!' => {
            Val::Bulk(kind, Some(buf[parsed.header_end..parsed.end - 2].to_vec()))
        }
        b'*' | b'~' | b'>' | b'%' if absent => Val::Agg(kind, None),
        b'*' | b'~' | b'>' | b'%' => {
            let elements = parsed.elements.unwrap_or_default();
            let items = elements.iter().map(|&(start, _)| value_at(buf, start));
            Val::Agg(kind, Some(items.collect::<Option<Vec<_>>>()?))
        }
        _ => Val::Line(kind, line.to_vec()),
    })
}

/// A decoded reply, detailed enough for tests that look inside replies whose bytes vary
/// (random members, hash order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resp {
    /// Bulk or simple string.
    Str(Vec<u8>),
    /// `:n`
    Int(i64),
    /// `$-1`, `*-1` or `_`.
    Null,
    /// `-ERR ...`
    Error(String),
    /// `*n` (and `~n` sets).
    Array(Vec<Resp>),
    /// `%n`: key/value pairs.
    Map(Vec<(Resp, Resp)>),
}

impl Resp {
    /// The string; panics on anything else.
    pub fn bytes(&self) -> &[u8] {
        match self {
            Resp::Str(s) => s,
            other => panic!("expected a string, got {other:?}"),
        }
    }

    /// The elements; panics on anything else.
    pub fn array(&self) -> &[Resp] {
        match self {
            Resp::Array(a) => a,
            other => panic!("expected an array, got {other:?}"),
        }
    }
}

/// Decodes the one complete reply `buf` holds (RESP2 or RESP3); panics on anything else.
pub fn decode(buf: &[u8]) -> Resp {
    Resp::from(parse(buf).unwrap_or_else(|| panic!("not a whole reply: {}", show(buf))))
}

impl From<Val> for Resp {
    fn from(value: Val) -> Resp {
        let text = |line: &[u8]| String::from_utf8_lossy(line).into_owned();
        match value {
            Val::Line(b'+', line) => Resp::Str(line),
            Val::Line(b'-', line) => Resp::Error(text(&line)),
            Val::Line(b':', line) => Resp::Int(text(&line).parse().expect("an integer reply")),
            Val::Line(b'_', _) | Val::Bulk(_, None) | Val::Agg(_, None) => Resp::Null,
            Val::Bulk(b'$', Some(bytes)) => Resp::Str(bytes),
            Val::Agg(b'*' | b'~', Some(items)) => {
                Resp::Array(items.into_iter().map(Resp::from).collect())
            }
            Val::Agg(b'%', Some(items)) => {
                let mut items = items.into_iter().map(Resp::from);
                let mut pairs = Vec::new();
                while let (Some(key), Some(value)) = (items.next(), items.next()) {
                    pairs.push((key, value));
                }
                Resp::Map(pairs)
            }
            other => panic!("unexpected reply type {}", show(&[other.kind()])),
        }
    }
}
