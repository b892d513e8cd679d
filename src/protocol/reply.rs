//! The reply writer: RESP2 and RESP3 encodings into an in-memory buffer.
//!
//! Counterpart of the `addReply*` family in Redis `networking.c`.
//!
//! Handlers never touch the socket. They append to a [`Reply`], which is only a `Vec<u8>` plus
//! the protocol version the client asked for with HELLO. The connection sends the whole buffer
//! once the batch of pipelined commands is done (see [`crate::connection`]), so a hundred
//! pipelined GETs cost one `send`, not a hundred.
//!
//! RESP2 and RESP3 differ only in a few shapes (null, map, set, double, boolean, verbatim and
//! push), so each method picks the encoding itself and handlers are written once for both.

use crate::util::push_i64;

/// An in-memory reply buffer for one connection.
#[derive(Debug, Default, Clone)]
pub struct Reply {
    buf: Vec<u8>,
    resp3: bool,
    /// Error replies written so far (never reset): commands compare it before and after
    /// they run to know whether they failed (Redis `stat_total_error_replies`).
    errors: u64,
    /// Error codes written since [`Reply::take_error_codes`], with their counts (INFO
    /// errorstats); a short list, since a batch rarely has more than one or two kinds.
    error_codes: Vec<(Vec<u8>, u64)>,
}

impl Reply {
    /// An empty RESP2 reply buffer.
    pub fn new() -> Self {
        Reply::default()
    }

    /// An empty buffer speaking RESP3 when `resp3` is true.
    pub(crate) fn with_protocol(resp3: bool) -> Self {
        Reply {
            resp3,
            ..Reply::default()
        }
    }

    /// True when the client switched to RESP3 with `HELLO 3`.
    pub(crate) fn is_resp3(&self) -> bool {
        self.resp3
    }

    /// Switches the encoding used from now on (HELLO).
    pub(crate) fn set_resp3(&mut self, resp3: bool) {
        self.resp3 = resp3;
    }

    /// The bytes written so far.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Number of bytes written so far.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// True if nothing was written.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Forgets everything written after `len` (used to undo a partial reply).
    pub fn truncate(&mut self, len: usize) {
        self.buf.truncate(len);
    }

    /// Gives the buffer to the caller (the connection's output queue), leaving it empty.
    pub(crate) fn take_bytes(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
    }

    /// Direct access to the buffer, for the connection's send path.
    pub(crate) fn buffer_mut(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    /// Appends bytes that are already valid RESP.
    pub fn raw(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// `+OK`
    pub fn ok(&mut self) {
        self.buf.extend_from_slice(b"+OK\r\n");
    }

    /// A simple string: `+text`. `text` must not contain CR or LF.
    pub fn simple(&mut self, text: &str) {
        self.buf.push(b'+');
        self.buf.extend_from_slice(text.as_bytes());
        self.buf.extend_from_slice(b"\r\n");
    }

    /// An error reply, `-CODE message`. `text` starts with the error code (`ERR`, `WRONGTYPE`,
    /// ...); if it does not, `ERR ` is put in front, as Redis's `addReplyError` does. CR and LF
    /// inside are replaced by spaces, so user input echoed in an error cannot break framing.
    pub fn error(&mut self, text: &[u8]) {
        // A bare code is an error too: SAVE's failure reply is just `-ERR` (Redis `shared.err`).
        let code_end = text.iter().position(|&c| c == b' ').unwrap_or(text.len());
        let has_code = text.first().is_some_and(|c| c.is_ascii_uppercase())
            && text[..code_end].iter().all(|c| c.is_ascii_uppercase());
        self.count_error(text, has_code);
        self.buf.push(b'-');
        if !has_code {
            self.buf.extend_from_slice(b"ERR ");
        }
        self.buf.extend(
            text.iter()
                .map(|&c| if c == b'\r' || c == b'\n' { b' ' } else { c }),
        );
        self.buf.extend_from_slice(b"\r\n");
    }

    /// Appends an error reply another thread rendered (the one that ends a blocked command),
    /// counting it as [`Reply::error`] counts its own (Redis `afterErrorReply` runs for the
    /// blocked client when it is unblocked with an error).
    pub(crate) fn raw_error(&mut self, line: &[u8]) {
        let text = line.strip_prefix(b"-").unwrap_or(line);
        let text = text.strip_suffix(b"\r\n").unwrap_or(text);
        self.count_error(text, true);
        self.buf.extend_from_slice(line);
    }

    /// An error sent exactly as given, without the `ERR ` that [`Reply::error`] adds to a
    /// text without a code: a script's `{err = "My Error"}` is sent as `-My Error`.
    pub(crate) fn error_verbatim(&mut self, text: &[u8]) {
        // Counted under its first word whatever it is (`MY_ERR_CODE`), as Redis counts it.
        self.count_error(text, true);
        self.buf.push(b'-');
        self.buf.extend(
            text.iter()
                .map(|&c| if c == b'\r' || c == b'\n' { b' ' } else { c }),
        );
        self.buf.extend_from_slice(b"\r\n");
    }

    /// An error sent as given, counted as an error reply of the command but not in INFO
    /// errorstats: a script's error that repeats one already counted when the command the
    /// script ran failed (Redis `ERR_REPLY_FLAG_NO_STATS_UPDATE`).
    pub(crate) fn error_uncounted(&mut self, text: &[u8]) {
        self.errors += 1;
        self.buf.push(b'-');
        self.buf.extend(
            text.iter()
                .map(|&c| if c == b'\r' || c == b'\n' { b' ' } else { c }),
        );
        self.buf.extend_from_slice(b"\r\n");
    }

    /// Adds error codes counted elsewhere (the commands a script ran) to INFO errorstats.
    pub(crate) fn add_error_codes(&mut self, codes: Vec<(Vec<u8>, u64)>) {
        for (code, n) in codes {
            match self.error_codes.iter_mut().find(|(c, _)| *c == code) {
                Some((_, m)) => *m += n,
                None => self.error_codes.push((code, n)),
            }
        }
    }

    /// Error replies written on this buffer since it was made.
    pub(crate) fn error_count(&self) -> u64 {
        self.errors
    }

    /// The error codes written since the last call, with their counts.
    pub(crate) fn take_error_codes(&mut self) -> Vec<(Vec<u8>, u64)> {
        std::mem::take(&mut self.error_codes)
    }

    /// Counts one error reply under its code (Redis `afterErrorReply`).
    fn count_error(&mut self, text: &[u8], has_code: bool) {
        self.errors += 1;
        let code: &[u8] = if has_code {
            crate::util::error_code(text)
        } else {
            b"ERR"
        };
        match self.error_codes.iter_mut().find(|(c, _)| c == code) {
            Some((_, n)) => *n += 1,
            None => self.error_codes.push((code.to_vec(), 1)),
        }
    }

    /// An integer: `:n`.
    pub fn int(&mut self, n: i64) {
        self.buf.push(b':');
        push_i64(&mut self.buf, n);
        self.buf.extend_from_slice(b"\r\n");
    }

    /// A length-prefixed header: `<prefix>n\r\n`.
    fn header(&mut self, prefix: u8, n: usize) {
        self.buf.push(prefix);
        push_i64(&mut self.buf, n as i64);
        self.buf.extend_from_slice(b"\r\n");
    }

    /// A bulk string: `$len\r\nbytes\r\n`. Binary safe.
    pub fn bulk(&mut self, bytes: &[u8]) {
        self.header(b'$', bytes.len());
        self.buf.extend_from_slice(bytes);
        self.buf.extend_from_slice(b"\r\n");
    }

    /// An integer sent as a bulk string (GET of a number stored as an integer).
    pub(crate) fn bulk_i64(&mut self, n: i64) {
        let mut digits = [0u8; 20];
        let mut tmp = Vec::with_capacity(20);
        push_i64(&mut tmp, n);
        digits[..tmp.len()].copy_from_slice(&tmp);
        self.bulk(&digits[..tmp.len()]);
    }

    /// The null bulk string: `$-1` in RESP2, `_` in RESP3.
    pub fn null(&mut self) {
        if self.resp3 {
            self.buf.extend_from_slice(b"_\r\n");
        } else {
            self.buf.extend_from_slice(b"$-1\r\n");
        }
    }

    /// The null array: `*-1` in RESP2, `_` in RESP3.
    pub(crate) fn null_array(&mut self) {
        if self.resp3 {
            self.buf.extend_from_slice(b"_\r\n");
        } else {
            self.buf.extend_from_slice(b"*-1\r\n");
        }
    }

    /// An array header; `n` elements must follow.
    pub fn array(&mut self, n: usize) {
        self.header(b'*', n);
    }

    /// A map header with `n` key/value pairs: `%n` in RESP3, a flat array of `2n` in RESP2.
    pub fn map(&mut self, n: usize) {
        if self.resp3 {
            self.header(b'%', n);
        } else {
            self.header(b'*', 2 * n);
        }
    }

    /// A set header: `~n` in RESP3, an array in RESP2.
    pub fn set(&mut self, n: usize) {
        if self.resp3 {
            self.header(b'~', n);
        } else {
            self.header(b'*', n);
        }
    }

    /// A push header (pub/sub messages): `>n` in RESP3, an array in RESP2.
    pub fn push(&mut self, n: usize) {
        if self.resp3 {
            self.header(b'>', n);
        } else {
            self.header(b'*', n);
        }
    }

    /// A boolean: `#t`/`#f` in RESP3, `:1`/`:0` in RESP2.
    pub(crate) fn boolean(&mut self, b: bool) {
        if self.resp3 {
            self.buf
                .extend_from_slice(if b { b"#t\r\n" } else { b"#f\r\n" });
        } else {
            self.int(b as i64);
        }
    }

    /// A double already formatted the Redis way: `,text` in RESP3, a bulk string in RESP2.
    pub(crate) fn double_text(&mut self, text: &[u8]) {
        if self.resp3 {
            self.buf.push(b',');
            self.buf.extend_from_slice(text);
            self.buf.extend_from_slice(b"\r\n");
        } else {
            self.bulk(text);
        }
    }

    /// Verbatim text (INFO, CLIENT LIST): `=len\r\ntxt:...` in RESP3, a bulk string in RESP2.
    pub fn verbatim(&mut self, text: &[u8]) {
        if self.resp3 {
            self.header(b'=', text.len() + 4);
            self.buf.extend_from_slice(b"txt:");
            self.buf.extend_from_slice(text);
            self.buf.extend_from_slice(b"\r\n");
        } else {
            self.bulk(text);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(resp3: bool, f: impl FnOnce(&mut Reply)) -> Vec<u8> {
        let mut r = Reply::with_protocol(resp3);
        f(&mut r);
        r.take_bytes()
    }

    #[test]
    fn resp2_shapes() {
        assert_eq!(with(false, |r| r.int(-42)), b":-42\r\n");
        assert_eq!(
            with(false, |r| r.int(i64::MIN)),
            b":-9223372036854775808\r\n"
        );
        assert_eq!(with(false, |r| r.bulk(b"")), b"$0\r\n\r\n");
        assert_eq!(with(false, |r| r.bulk(b"a\r\nb")), b"$4\r\na\r\nb\r\n");
        assert_eq!(with(false, |r| r.bulk_i64(-7)), b"$2\r\n-7\r\n");
        assert_eq!(with(false, |r| r.null()), b"$-1\r\n");
        assert_eq!(with(false, |r| r.null_array()), b"*-1\r\n");
        assert_eq!(with(false, |r| r.map(2)), b"*4\r\n");
        assert_eq!(with(false, |r| r.boolean(true)), b":1\r\n");
        assert_eq!(with(false, |r| r.double_text(b"1.5")), b"$3\r\n1.5\r\n");
        assert_eq!(with(false, |r| r.verbatim(b"hi")), b"$2\r\nhi\r\n");
    }

    #[test]
    fn resp3_shapes() {
        assert_eq!(with(true, |r| r.null()), b"_\r\n");
        assert_eq!(with(true, |r| r.null_array()), b"_\r\n");
        assert_eq!(with(true, |r| r.map(2)), b"%2\r\n");
        assert_eq!(with(true, |r| r.set(3)), b"~3\r\n");
        assert_eq!(with(true, |r| r.push(3)), b">3\r\n");
        assert_eq!(with(true, |r| r.boolean(false)), b"#f\r\n");
        assert_eq!(with(true, |r| r.double_text(b"inf")), b",inf\r\n");
        assert_eq!(with(true, |r| r.verbatim(b"hi")), b"=6\r\ntxt:hi\r\n");
    }

    #[test]
    fn errors_get_a_code_and_stay_on_one_line() {
        assert_eq!(
            with(false, |r| r.error(b"ERR syntax error")),
            b"-ERR syntax error\r\n"
        );
        assert_eq!(
            with(false, |r| r.error(b"WRONGTYPE Operation")),
            b"-WRONGTYPE Operation\r\n"
        );
        assert_eq!(
            with(false, |r| r.error(b"bad\r\nthing")),
            b"-ERR bad  thing\r\n"
        );
    }
}
