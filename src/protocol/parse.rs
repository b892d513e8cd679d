//! The request parser: RESP multibulk and inline commands, resumable across reads.
//!
//! Counterpart of Redis `networking.c` (`processInputBuffer`, `processMultibulkBuffer`,
//! `processInlineBuffer`) and `sds.c` (`sdssplitargs`).
//!
//! A request arrives in one of two shapes, and the first byte decides which:
//!
//! ```text
//! *2\r\n$3\r\nGET\r\n$3\r\nkey\r\n      multibulk: what every client library sends
//! GET key\r\n                           inline: what a person types into telnet or nc
//! ```
//!
//! TCP delivers a byte stream, not messages, so a read may end anywhere: in the middle of a
//! length, between `\r` and `\n`, halfway through a bulk string. The parser is therefore
//! *resumable*: [`Parser::next_command`] consumes what it can, remembers where it stopped (how
//! many arguments of the current multibulk are still missing), and returns `Ok(false)` to ask
//! for more bytes. Arguments already parsed are kept in the caller's [`Argv`], so a command with
//! a million arguments arriving in a thousand reads is parsed once, not a thousand times.
//!
//! Lines are found with `memchr` (a vectorised search for `\r` or `\n`), never byte by byte.
//!
//! Limits protect memory, with Redis's names and defaults: an inline request or a length line
//! may not exceed 64 KiB without a newline, a bulk string may not exceed `proto-max-bulk-len`
//! (512 MB), and no space is reserved for a bulk before its bytes actually arrive, so a client
//! announcing `$1000000000` costs nothing until it sends the data.

use std::fmt;
use std::ops::Index;

/// Redis `PROTO_INLINE_MAX_SIZE`: the longest inline request, and the longest `*N` or `$N`
/// line the parser will wait for before calling the client broken.
pub const PROTO_INLINE_MAX_SIZE: usize = 64 * 1024;

/// The parser's limits (configurable ones come from the config).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// `proto-max-bulk-len`: the largest bulk string accepted, in bytes.
    pub max_bulk_len: u64,
    /// The client has not authenticated yet: Redis then refuses multibulks of more than 10
    /// arguments and bulks over 16 KiB (`authRequired` in `processMultibulkBuffer`), so an
    /// unauthenticated peer cannot make the server allocate much.
    pub unauthenticated: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bulk_len: 512 * 1024 * 1024,
            unauthenticated: false,
        }
    }
}

/// A request the parser cannot accept. After replying with [`ProtocolError::message`], the
/// connection is closed, as Redis does (`CLIENT_CLOSE_AFTER_REPLY`): once framing is lost there
/// is no way to know where the next command starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProtocolError {
    /// A `*` line longer than 64 KiB.
    TooBigMultibulkCount,
    /// `*N` where N is not an integer or is above `i32::MAX`.
    InvalidMultibulkLength,
    /// A `$` line longer than 64 KiB.
    TooBigBulkCount,
    /// Inside a multibulk, an argument that does not start with `$`.
    ExpectedDollar(u8),
    /// `$N` where N is not an integer, is negative, or is above `proto-max-bulk-len`.
    InvalidBulkLength,
    /// More than 10 arguments before authentication.
    UnauthenticatedMultibulkLength,
    /// A bulk over 16 KiB before authentication.
    UnauthenticatedBulkLength,
    /// An inline request longer than 64 KiB.
    TooBigInline,
    /// An inline request with an unterminated quote, or a closing quote not followed by a space.
    UnbalancedQuotes,
}

impl ProtocolError {
    /// The error text, exactly as Redis 7.0 words it (the `-ERR ` prefix is added by the
    /// reply writer). Bytes, not a `String`: the offending byte is echoed back raw, as Redis
    /// does, except `\r` and `\n`, which become spaces so the reply stays one line.
    pub fn message(&self) -> Vec<u8> {
        match self {
            ProtocolError::TooBigMultibulkCount => {
                b"Protocol error: too big mbulk count string".to_vec()
            }
            ProtocolError::InvalidMultibulkLength => {
                b"Protocol error: invalid multibulk length".to_vec()
            }
            ProtocolError::TooBigBulkCount => b"Protocol error: too big bulk count string".to_vec(),
            ProtocolError::ExpectedDollar(b) => {
                let shown = if *b == b'\r' || *b == b'\n' { b' ' } else { *b };
                let mut m = b"Protocol error: expected '$', got '".to_vec();
                m.push(shown);
                m.push(b'\'');
                m
            }
            ProtocolError::InvalidBulkLength => b"Protocol error: invalid bulk length".to_vec(),
            ProtocolError::UnauthenticatedMultibulkLength => {
                b"Protocol error: unauthenticated multibulk length".to_vec()
            }
            ProtocolError::UnauthenticatedBulkLength => {
                b"Protocol error: unauthenticated bulk length".to_vec()
            }
            ProtocolError::TooBigInline => b"Protocol error: too big inline request".to_vec(),
            ProtocolError::UnbalancedQuotes => {
                b"Protocol error: unbalanced quotes in request".to_vec()
            }
        }
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.message()))
    }
}

impl std::error::Error for ProtocolError {}

/// The argument vector of one command: `argv[0]` is the command name.
///
/// All arguments live in one contiguous buffer, with their end offsets alongside, so filling an
/// `Argv` that is reused from command to command allocates nothing once it has warmed up.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Argv {
    data: Vec<u8>,
    ends: Vec<usize>,
}

impl Argv {
    /// An empty argument vector.
    pub fn new() -> Self {
        Argv::default()
    }

    /// Builds an `Argv` from a list of arguments (handy in tests and for MULTI).
    pub(crate) fn from_args<I, A>(args: I) -> Self
    where
        I: IntoIterator<Item = A>,
        A: AsRef<[u8]>,
    {
        let mut argv = Argv::new();
        for a in args {
            argv.push(a.as_ref());
        }
        argv
    }

    /// Number of arguments, including the command name (Redis `argc`).
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// True when there are no arguments at all.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The i-th argument, if any.
    pub fn get(&self, i: usize) -> Option<&[u8]> {
        let end = *self.ends.get(i)?;
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        Some(&self.data[start..end])
    }

    /// Appends an argument.
    pub fn push(&mut self, arg: &[u8]) {
        self.data.extend_from_slice(arg);
        self.ends.push(self.data.len());
    }

    /// Removes every argument, keeping the allocations for reuse.
    pub fn clear(&mut self) {
        self.data.clear();
        self.ends.clear();
    }

    /// Iterates over the arguments.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &[u8]> + DoubleEndedIterator + '_ {
        (0..self.len()).map(move |i| &self[i])
    }

    /// Total bytes held by the arguments (Redis's `argv-mem` in CLIENT LIST).
    pub(crate) fn byte_len(&self) -> usize {
        self.data.len()
    }

    /// Bytes allocated for the arguments, whether used or not.
    pub(crate) fn capacity_bytes(&self) -> usize {
        self.data.capacity() + self.ends.capacity() * std::mem::size_of::<usize>()
    }

    /// Drops spare capacity beyond `keep` bytes, so one huge command does not pin its memory
    /// for the life of the connection.
    pub(crate) fn shrink_if_larger_than(&mut self, keep: usize) {
        if self.data.capacity() > keep {
            self.data = Vec::with_capacity(keep);
            self.ends = Vec::new();
        }
    }
}

impl Index<usize> for Argv {
    type Output = [u8];

    fn index(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.data[start..self.ends[i]]
    }
}

impl fmt::Debug for Argv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.iter().map(|a| String::from_utf8_lossy(a).into_owned()))
            .finish()
    }
}

/// Where the parser stopped in the current request (Redis keeps the same two facts in
/// `client->reqtype` and `client->multibulklen`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Between requests: the next byte decides multibulk or inline.
    Idle,
    /// Inside a multibulk: this many arguments are still to come.
    Multibulk { remaining: usize },
}

/// The resumable request parser of one connection.
#[derive(Debug, Clone)]
pub struct Parser {
    limits: Limits,
    state: State,
}

impl Parser {
    /// A parser enforcing `limits`.
    pub fn new(limits: Limits) -> Self {
        Parser {
            limits,
            state: State::Idle,
        }
    }

    /// Changes the limits (CONFIG SET proto-max-bulk-len); applies to the next length read.
    pub(crate) fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    /// True when the parser is in the middle of a multibulk request.
    pub(crate) fn in_request(&self) -> bool {
        self.state != State::Idle
    }

    /// Parses the next command from `buf[*pos..]` into `argv`.
    ///
    /// - `Ok(true)`: `argv` holds a complete command; `*pos` is just past it.
    /// - `Ok(false)`: the bytes run out before a command is complete. Everything consumed so far
    ///   is remembered (in `self` and `argv`); call again with the same `argv` once more bytes
    ///   have been appended after `*pos`.
    /// - `Err(e)`: the request is malformed; the connection must reply `e` and close.
    ///
    /// Empty inline lines and `*0` / `*-1` headers are skipped silently, as Redis does.
    pub fn next_command(
        &mut self,
        buf: &[u8],
        pos: &mut usize,
        argv: &mut Argv,
    ) -> Result<bool, ProtocolError> {
        loop {
            match self.state {
                State::Idle => {
                    if *pos >= buf.len() {
                        return Ok(false);
                    }
                    argv.clear();
                    if buf[*pos] == b'*' {
                        let Some((count, next)) =
                            read_length_line(buf, *pos, ProtocolError::TooBigMultibulkCount)?
                        else {
                            return Ok(false);
                        };
                        // mirrors processMultibulkBuffer(): the count must fit an int.
                        let count = count
                            .filter(|&n| n <= i32::MAX as i64)
                            .ok_or(ProtocolError::InvalidMultibulkLength)?;
                        if count > 10 && self.limits.unauthenticated {
                            return Err(ProtocolError::UnauthenticatedMultibulkLength);
                        }
                        *pos = next;
                        if count <= 0 {
                            // '*0' and '*-1' are valid requests that do nothing.
                            continue;
                        }
                        self.state = State::Multibulk {
                            remaining: count as usize,
                        };
                    } else {
                        match parse_inline(buf, pos, argv)? {
                            InlineOutcome::Incomplete => return Ok(false),
                            InlineOutcome::Empty => continue,
                            InlineOutcome::Command => return Ok(true),
                        }
                    }
                }
                State::Multibulk { remaining } => {
                    let mut remaining = remaining;
                    while remaining > 0 {
                        if *pos >= buf.len() {
                            self.state = State::Multibulk { remaining };
                            return Ok(false);
                        }
                        let Some((len, data_start)) =
                            read_length_line(buf, *pos, ProtocolError::TooBigBulkCount)?
                        else {
                            self.state = State::Multibulk { remaining };
                            return Ok(false);
                        };
                        if buf[*pos] != b'$' {
                            self.state = State::Idle;
                            return Err(ProtocolError::ExpectedDollar(buf[*pos]));
                        }
                        let len = match len {
                            Some(n) if n >= 0 && (n as u64) <= self.limits.max_bulk_len => {
                                n as usize
                            }
                            _ => {
                                self.state = State::Idle;
                                return Err(ProtocolError::InvalidBulkLength);
                            }
                        };
                        if len > 16384 && self.limits.unauthenticated {
                            self.state = State::Idle;
                            return Err(ProtocolError::UnauthenticatedBulkLength);
                        }
                        // The bulk and its trailing CRLF must be all there; if not, leave the
                        // `$N` line unconsumed and re-read it next time (it is short).
                        let data_end = data_start + len;
                        if data_end + 2 > buf.len() {
                            self.state = State::Multibulk { remaining };
                            return Ok(false);
                        }
                        argv.push(&buf[data_start..data_end]);
                        // Redis skips the two bytes after the data without looking at them.
                        *pos = data_end + 2;
                        remaining -= 1;
                    }
                    self.state = State::Idle;
                    return Ok(true);
                }
            }
        }
    }
}

/// Reads a `*N\r\n` or `$N\r\n` line starting at `start` (the `*`/`$` byte).
///
/// Returns `Ok(None)` if the line is not complete yet, `Ok(Some((value, next)))` otherwise, where
/// `value` is `None` if the digits are not a valid integer and `next` is the offset after the
/// line. A line with no `\r` in the first 64 KiB is an error (`too_big`).
fn read_length_line(
    buf: &[u8],
    start: usize,
    too_big: ProtocolError,
) -> Result<Option<(Option<i64>, usize)>, ProtocolError> {
    let Some(cr) = find_line_end(b'\r', &buf[start..]) else {
        if buf.len() - start > PROTO_INLINE_MAX_SIZE {
            return Err(too_big);
        }
        return Ok(None);
    };
    let cr = start + cr;
    // mirrors processMultibulkBuffer(): the byte after '\r' is assumed to be '\n' and skipped.
    if cr + 2 > buf.len() {
        return Ok(None);
    }
    // An empty line ("\r\n" where "$3" was expected) has no digits at all; the caller then
    // reports the missing '$' first, as Redis does.
    let digits = if cr > start {
        &buf[start + 1..cr]
    } else {
        &[][..]
    };
    Ok(Some((crate::util::parse_i64(digits), cr + 2)))
}

enum InlineOutcome {
    Incomplete,
    Empty,
    Command,
}

/// Finds the end of a request line, the way Redis does with C's `strchr`: the search stops at
/// a NUL byte, so a line with a NUL before its end is never seen as complete (Redis then waits,
/// and refuses the client once 64 KiB pile up). Matching that quirk keeps replies identical.
fn find_line_end(needle: u8, haystack: &[u8]) -> Option<usize> {
    let at = memchr::memchr2(needle, 0, haystack)?;
    (haystack[at] == needle).then_some(at)
}

/// Parses one inline request line (mirrors processInlineBuffer()).
fn parse_inline(
    buf: &[u8],
    pos: &mut usize,
    argv: &mut Argv,
) -> Result<InlineOutcome, ProtocolError> {
    let rest = &buf[*pos..];
    let Some(nl) = find_line_end(b'\n', rest) else {
        if rest.len() > PROTO_INLINE_MAX_SIZE {
            return Err(ProtocolError::TooBigInline);
        }
        return Ok(InlineOutcome::Incomplete);
    };
    let mut line = &rest[..nl];
    if line.last() == Some(&b'\r') {
        line = &line[..line.len() - 1];
    }
    split_args(line, argv).map_err(|_| ProtocolError::UnbalancedQuotes)?;
    *pos += nl + 1;
    if argv.is_empty() {
        Ok(InlineOutcome::Empty)
    } else {
        Ok(InlineOutcome::Command)
    }
}

/// The error of [`split_args`]: quotes that do not balance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnbalancedQuotes;

/// Splits a line into arguments the way Redis's `sdssplitargs` does (and redis-cli, and
/// redis.conf): spaces separate arguments; `"..."` understands `\n \r \t \b \a \\ \"` and
/// `\xHH`; `'...'` understands only `\'`; a closing quote must be followed by a space or the
/// end of the line.
pub fn split_args(line: &[u8], argv: &mut Argv) -> Result<(), UnbalancedQuotes> {
    // sdssplitargs reads a C string: a NUL byte is the end of the line, quotes open or not.
    let line = crate::util::c_str(line);
    let mut i = 0;
    let mut current: Vec<u8> = Vec::new();
    loop {
        while i < line.len() && is_space(line[i]) {
            i += 1;
        }
        if i >= line.len() {
            return Ok(());
        }
        current.clear();
        let mut in_double = false;
        let mut in_single = false;
        loop {
            if in_double {
                if i >= line.len() {
                    return Err(UnbalancedQuotes);
                }
                let c = line[i];
                if c == b'\\'
                    && i + 3 < line.len()
                    && line[i + 1] == b'x'
                    && line[i + 2].is_ascii_hexdigit()
                    && line[i + 3].is_ascii_hexdigit()
                {
                    current.push(hex_value(line[i + 2]) * 16 + hex_value(line[i + 3]));
                    i += 3;
                } else if c == b'\\' && i + 1 < line.len() {
                    i += 1;
                    current.push(match line[i] {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 0x08,
                        b'a' => 0x07,
                        other => other,
                    });
                } else if c == b'"' {
                    // The closing quote must be followed by a space or nothing at all.
                    if i + 1 < line.len() && !is_space(line[i + 1]) {
                        return Err(UnbalancedQuotes);
                    }
                    i += 1;
                    break;
                } else {
                    current.push(c);
                }
            } else if in_single {
                if i >= line.len() {
                    return Err(UnbalancedQuotes);
                }
                let c = line[i];
                if c == b'\\' && i + 1 < line.len() && line[i + 1] == b'\'' {
                    i += 1;
                    current.push(b'\'');
                } else if c == b'\'' {
                    if i + 1 < line.len() && !is_space(line[i + 1]) {
                        return Err(UnbalancedQuotes);
                    }
                    i += 1;
                    break;
                } else {
                    current.push(c);
                }
            } else {
                if i >= line.len() {
                    break;
                }
                match line[i] {
                    c if ends_bare_word(c) => break,
                    b'"' => in_double = true,
                    b'\'' => in_single = true,
                    c => current.push(c),
                }
            }
            i += 1;
        }
        argv.push(&current);
    }
}

/// C's `isspace` in the "C" locale, which is what sdssplitargs uses to skip the blanks
/// between arguments and to check what follows a closing quote.
fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

/// The bytes that end an unquoted argument. sdssplitargs lists only these four (and NUL)
/// here, not all of `isspace`: a vertical tab or form feed inside a bare word is part of it,
/// so `SET a\x0bb c` sets the key "a\x0bb", although the same bytes *between* arguments are
/// skipped as blanks. Odd, but it is what Redis 7.0 does, and so what clients see.
fn ends_bare_word(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r')
}

fn hex_value(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        _ => c - b'A' + 10,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses everything in `buf` in one go.
    fn parse_all(buf: &[u8]) -> Result<Vec<Vec<Vec<u8>>>, ProtocolError> {
        let mut parser = Parser::new(Limits::default());
        let mut argv = Argv::new();
        let mut pos = 0;
        let mut out = Vec::new();
        while parser.next_command(buf, &mut pos, &mut argv)? {
            out.push(argv.iter().map(|a| a.to_vec()).collect());
        }
        Ok(out)
    }

    fn args(list: &[&str]) -> Vec<Vec<u8>> {
        list.iter().map(|s| s.as_bytes().to_vec()).collect()
    }

    const PIPELINE: &[u8] =
        b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\nPING\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n\
*0\r\n\r\necho \"a\\x41\\n\" 'b c'\r\n*1\r\n$0\r\n\r\nINCR x\n";

    fn pipeline_commands() -> Vec<Vec<Vec<u8>>> {
        vec![
            args(&["SET", "k", "hello"]),
            args(&["PING"]),
            args(&["GET", "k"]),
            args(&["echo", "aA\n", "b c"]),
            args(&[""]),
            args(&["INCR", "x"]),
        ]
    }

    #[test]
    fn parses_a_mixed_pipeline() {
        assert_eq!(parse_all(PIPELINE).unwrap(), pipeline_commands());
    }

    /// Feeds `bytes` to one parser in pieces cut at the given points, the way reads would
    /// deliver them, compacting consumed bytes as the connection does.
    fn parse_in_pieces(bytes: &[u8], cuts: &[usize]) -> Vec<Vec<Vec<u8>>> {
        let mut parser = Parser::new(Limits::default());
        let mut argv = Argv::new();
        let mut qbuf: Vec<u8> = Vec::new();
        let mut out = Vec::new();
        let mut last = 0;
        for &cut in cuts.iter().chain(std::iter::once(&bytes.len())) {
            qbuf.extend_from_slice(&bytes[last..cut]);
            last = cut;
            let mut pos = 0;
            while parser.next_command(&qbuf, &mut pos, &mut argv).unwrap() {
                out.push(argv.iter().map(|a| a.to_vec()).collect());
            }
            qbuf.drain(..pos);
        }
        out
    }

    #[test]
    fn every_split_point_gives_the_same_commands() {
        let expected = pipeline_commands();
        for cut in 0..=PIPELINE.len() {
            assert_eq!(
                parse_in_pieces(PIPELINE, &[cut]),
                expected,
                "split at byte {cut}"
            );
        }
    }

    #[test]
    fn every_pair_of_split_points_gives_the_same_commands() {
        let expected = pipeline_commands();
        for a in 0..=PIPELINE.len() {
            for b in a..=PIPELINE.len() {
                assert_eq!(
                    parse_in_pieces(PIPELINE, &[a, b]),
                    expected,
                    "split at {a} and {b}"
                );
            }
        }
    }

    #[test]
    fn byte_by_byte_delivery_works() {
        let cuts: Vec<usize> = (1..PIPELINE.len()).collect();
        assert_eq!(parse_in_pieces(PIPELINE, &cuts), pipeline_commands());
    }

    #[test]
    fn incomplete_input_asks_for_more() {
        for partial in [
            &b"*"[..],
            b"*2",
            b"*2\r",
            b"*2\r\n$3\r\nGET\r\n$1\r\nk",
            b"*2\r\n$3\r\nGET\r\n$1\r\nk\r",
            b"PING",
            b"PING\r",
        ] {
            let mut parser = Parser::new(Limits::default());
            let mut argv = Argv::new();
            let mut pos = 0;
            assert_eq!(
                parser.next_command(partial, &mut pos, &mut argv),
                Ok(false),
                "{:?}",
                partial
            );
        }
    }

    #[test]
    fn binary_arguments_round_trip() {
        let mut req = b"*2\r\n$4\r\n".to_vec();
        req.extend_from_slice(&[0, 0xff, b'\r', b'\n']);
        req.extend_from_slice(b"\r\n$0\r\n\r\n");
        assert_eq!(
            parse_all(&req).unwrap(),
            vec![vec![vec![0, 0xff, b'\r', b'\n'], vec![]]]
        );
    }

    #[test]
    fn protocol_errors_have_redis_wording() {
        let cases: &[(&[u8], &str)] = &[
            (
                b"*3000000000\r\n",
                "Protocol error: invalid multibulk length",
            ),
            (b"*abc\r\n", "Protocol error: invalid multibulk length"),
            (b"*1\r\nx3\r\n", "Protocol error: expected '$', got 'x'"),
            (b"*1\r\n$-1\r\n", "Protocol error: invalid bulk length"),
            (b"*1\r\n$abc\r\n", "Protocol error: invalid bulk length"),
            (
                b"*1\r\n$600000000\r\n",
                "Protocol error: invalid bulk length",
            ),
            (
                b"*1\r\n$1000000000\r\n",
                "Protocol error: invalid bulk length",
            ),
            (
                b"SET \"a b\r\n",
                "Protocol error: unbalanced quotes in request",
            ),
            (
                b"SET 'a\r\n",
                "Protocol error: unbalanced quotes in request",
            ),
            (
                b"SET \"a\"b\r\n",
                "Protocol error: unbalanced quotes in request",
            ),
        ];
        for (input, message) in cases {
            assert_eq!(
                parse_all(input).unwrap_err().message(),
                message.as_bytes(),
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn an_empty_line_instead_of_a_bulk_header_is_a_missing_dollar() {
        assert_eq!(
            parse_all(b"*1\r\n\r\n"),
            Err(ProtocolError::ExpectedDollar(b'\r'))
        );
        assert_eq!(
            ProtocolError::ExpectedDollar(b'\r').message(),
            b"Protocol error: expected '$', got ' '"
        );
    }

    #[test]
    fn a_nul_byte_hides_the_end_of_a_line_as_in_redis() {
        let mut parser = Parser::new(Limits::default());
        let mut argv = Argv::new();
        for input in [&b"PING\0\r\n"[..], b"*1\0\r\n", b"*1\r\n$1\0\r\na\r\n"] {
            let mut pos = 0;
            assert_eq!(
                parser.next_command(input, &mut pos, &mut argv),
                Ok(false),
                "{:?}",
                input
            );
            parser = Parser::new(Limits::default());
        }
        let mut noisy = b"PING\0".to_vec();
        noisy.extend(vec![b'x'; PROTO_INLINE_MAX_SIZE + 1]);
        assert_eq!(parse_all(&noisy), Err(ProtocolError::TooBigInline));
    }

    #[test]
    fn oversized_lines_are_refused() {
        let long = vec![b'a'; PROTO_INLINE_MAX_SIZE + 1];
        assert_eq!(parse_all(&long), Err(ProtocolError::TooBigInline));
        let mut mbulk = b"*".to_vec();
        mbulk.extend(vec![b'1'; PROTO_INLINE_MAX_SIZE + 1]);
        assert_eq!(parse_all(&mbulk), Err(ProtocolError::TooBigMultibulkCount));
        let mut bulk = b"*1\r\n$".to_vec();
        bulk.extend(vec![b'1'; PROTO_INLINE_MAX_SIZE + 1]);
        assert_eq!(parse_all(&bulk), Err(ProtocolError::TooBigBulkCount));
    }

    #[test]
    fn a_huge_count_reserves_nothing() {
        // Redis accepts counts up to i32::MAX; the arguments are only stored as they arrive.
        let mut parser = Parser::new(Limits::default());
        let mut argv = Argv::new();
        let mut pos = 0;
        assert_eq!(
            parser.next_command(b"*2147483647\r\n$1\r\na\r\n", &mut pos, &mut argv),
            Ok(false)
        );
        assert!(argv.capacity_bytes() < 1024);
    }

    #[test]
    fn bulk_limit_is_configurable() {
        let mut parser = Parser::new(Limits {
            max_bulk_len: 3,
            unauthenticated: false,
        });
        let mut argv = Argv::new();
        let mut pos = 0;
        assert_eq!(
            parser.next_command(b"*1\r\n$3\r\nabc\r\n", &mut pos, &mut argv),
            Ok(true)
        );
        let mut pos = 0;
        assert_eq!(
            parser.next_command(b"*1\r\n$4\r\nabcd\r\n", &mut pos, &mut argv),
            Err(ProtocolError::InvalidBulkLength)
        );
    }

    #[test]
    fn split_args_matches_sdssplitargs() {
        let split = |s: &[u8]| {
            let mut a = Argv::new();
            split_args(s, &mut a).map(|_| a.iter().map(|x| x.to_vec()).collect::<Vec<_>>())
        };
        assert_eq!(split(b"  set  a   b  ").unwrap(), args(&["set", "a", "b"]));
        assert_eq!(split(b"\"\" ''").unwrap(), args(&["", ""]));
        assert_eq!(split(b"\"\\x4g\"").unwrap(), args(&["x4g"]));
        assert_eq!(
            split(b"'it\\'s' \"q\\\"\"").unwrap(),
            args(&["it's", "q\""])
        );
        assert_eq!(
            split(b"\"\\t\\r\\n\\b\\a\\\\\"").unwrap(),
            vec![b"\t\r\n\x08\x07\\".to_vec()]
        );
        assert_eq!(split(b"'a\\nb'").unwrap(), args(&["a\\nb"]));
        assert!(split(b"\"abc").is_err());
        assert!(split(b"'abc\"").is_err());
        assert!(split(b"'abc'x").is_err());
    }

    #[test]
    fn split_args_keeps_vertical_tab_and_form_feed_inside_bare_words() {
        let split = |s: &[u8]| {
            let mut a = Argv::new();
            split_args(s, &mut a).map(|_| a.iter().map(|x| x.to_vec()).collect::<Vec<_>>())
        };
        // Inside a word they are ordinary bytes; between words they are blanks.
        assert_eq!(
            split(b"SET a\x0bb c").unwrap(),
            vec![b"SET".to_vec(), b"a\x0bb".to_vec(), b"c".to_vec()]
        );
        assert_eq!(split(b"\x0c SET\x0c").unwrap(), vec![b"SET\x0c".to_vec()]);
        // After a closing quote, though, they count as the space that must follow it.
        assert_eq!(split(b"\"q\"\x0b1").unwrap(), args(&["q", "1"]));
        // A NUL ends the line, as it ends the C string sdssplitargs reads.
        assert_eq!(split(b"get a\0b c").unwrap(), args(&["get", "a"]));
        assert!(split(b"get \"a\0b\" c").is_err());
    }
}
