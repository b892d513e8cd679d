//! Small helpers shared by every layer: a per-thread pseudo-random generator, the wall clock in
//! milliseconds (and the [`Clock`] keys expire by, which tests can move by hand), and Redis's
//! strict number parsing and formatting rules.
//!
//! Redis is picky about numbers (`string2ll` in `util.c` rejects "+1", " 1" and "01"), and every
//! command that takes a number must agree, so the rules live here once. The same goes for
//! floating point: [`LongDouble`] (Redis `string2ld` / `ld2string`, the 80-bit arithmetic of
//! INCRBYFLOAT and HINCRBYFLOAT), [`parse_f64`] (Redis `string2d`) and [`format_f64`] (the
//! `%.17g` Redis 7.0 uses to reply doubles). Those are computed exactly on small big integers
//! rather than with `f64`, because `f64` answers differ visibly from Redis's (see the comment
//! above [`LongDouble`]'s helpers).

use std::cell::Cell;
use std::time::{SystemTime, UNIX_EPOCH};

mod clock;
mod float;
pub use clock::Clock;
pub use float::{format_f64, parse_f64, LongDouble};

thread_local! {
    static RNG_STATE: Cell<u64> = Cell::new(seed());
}

fn seed() -> u64 {
    // Mix the clock with the address of a stack variable so threads started in the same
    // nanosecond still get different sequences.
    let local = 0u8;
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let s = t ^ ((&local as *const u8 as u64).rotate_left(32)) ^ 0x9E37_79B9_7F4A_7C15;
    if s == 0 {
        1
    } else {
        s
    }
}

/// A fast, non-cryptographic random number (xorshift64*), one generator per thread.
///
/// Used where Redis uses `random()`: RANDOMKEY, sampling keys for active expiry, and picking
/// buckets in the dictionary. It needs to be cheap and unbiased enough, not secure.
pub(crate) fn random_u64() -> u64 {
    RNG_STATE.with(|cell| {
        let mut x = cell.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        cell.set(x);
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    })
}

/// Milliseconds since the Unix epoch: the clock every TTL is measured against.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Microseconds since the Unix epoch (MONITOR's timestamps, Redis `gettimeofday`).
pub(crate) fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// Parses a signed 64-bit integer exactly as Redis's `string2ll` does: optional '-', digits,
/// no '+', no spaces, no leading zeros (except "0" itself), no overflow.
pub(crate) fn parse_i64(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    let (negative, digits) = match s[0] {
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || digits[0] == b'0' {
        return None;
    }
    let mut magnitude: u64 = 0;
    for &b in digits {
        if !b.is_ascii_digit() {
            return None;
        }
        magnitude = magnitude.checked_mul(10)?.checked_add((b - b'0') as u64)?;
    }
    if negative {
        if magnitude > (i64::MAX as u64) + 1 {
            None
        } else {
            Some((magnitude as i64).wrapping_neg())
        }
    } else if magnitude > i64::MAX as u64 {
        None
    } else {
        Some(magnitude as i64)
    }
}

/// Parses a non-negative or negative integer that Redis would accept as a `long long`
/// argument. Same rules as [`parse_i64`].
pub(crate) fn parse_u64(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 20 || s[0] == b'-' || s[0] == b'+' {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    if s[0] == b'0' {
        return None;
    }
    let mut v: u64 = 0;
    for &b in s {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add((b - b'0') as u64)?;
    }
    Some(v)
}

/// Appends the decimal form of `v` to `out` without allocating.
pub(crate) fn push_i64(out: &mut Vec<u8>, v: i64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    let negative = v < 0;
    let mut n = v.unsigned_abs();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if negative {
        out.push(b'-');
    }
    out.extend_from_slice(&buf[i..]);
}

/// A string in double quotes with C escapes, as Redis's `sdscatrepr` writes it
/// (CONFIG REWRITE's quoted strings, MONITOR's arguments).
pub(crate) fn repr(value: &[u8]) -> Vec<u8> {
    let mut out = vec![b'"'];
    for &b in value {
        match b {
            b'\\' | b'"' => out.extend_from_slice(&[b'\\', b]),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x07 => out.extend_from_slice(b"\\a"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x20..=0x7e => out.push(b),
            _ => out.extend_from_slice(format!("\\x{b:02x}").as_bytes()),
        }
    }
    out.push(b'"');
    out
}

/// The bytes a C string function sees in an argument: everything before its first NUL byte.
/// Redis hands many arguments to `strtod`, `strchr` or a `%s` format, where a NUL ends them.
pub(crate) fn c_str(bytes: &[u8]) -> &[u8] {
    &bytes[..memchr::memchr(0, bytes).unwrap_or(bytes.len())]
}

/// Case-insensitive ASCII comparison of an argument with a keyword (`NX`, `WITHSCORES`, ...).
///
/// Redis compares keywords with `strcasecmp` on the argument's C string, so a NUL byte ends
/// the argument: `NX\0junk` is `NX` to Redis, and so it is here. (The keyword itself never
/// holds a NUL.)
pub(crate) fn eq_ci(arg: &[u8], keyword: &str) -> bool {
    let keyword = keyword.as_bytes();
    match arg.get(keyword.len()) {
        // Longer than the keyword: equal only if a NUL follows the keyword's length.
        Some(0) => arg[..keyword.len()].eq_ignore_ascii_case(keyword),
        Some(_) => false,
        None => arg.eq_ignore_ascii_case(keyword),
    }
}

/// The code of an error reply's text, as Redis's `afterErrorReply` takes it: the first word,
/// if a space comes within the first 32 bytes, else `ERR`.
pub(crate) fn error_code(text: &[u8]) -> &[u8] {
    match memchr::memchr(b' ', &text[..text.len().min(31)]) {
        Some(space) => &text[..space],
        None => b"ERR",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_compare_as_c_strings() {
        assert!(eq_ci(b"nx", "NX"));
        assert!(eq_ci(b"Nx\0junk", "NX"));
        assert!(!eq_ci(b"n\0", "NX"));
        assert!(!eq_ci(b"nxx", "NX"));
        assert!(!eq_ci(b"\0nx", "NX"));
    }

    #[test]
    fn error_codes_follow_redis() {
        assert_eq!(error_code(b"ERR syntax error"), b"ERR");
        assert_eq!(error_code(b"WRONGTYPE Operation"), b"WRONGTYPE");
        assert_eq!(error_code(b"ERR"), b"ERR");
        assert_eq!(
            error_code(b"NOSCRIPTNOSCRIPTNOSCRIPTNOSCRIPTNOSCRIPT x"),
            b"ERR"
        );
    }

    #[test]
    fn parse_i64_follows_string2ll() {
        assert_eq!(parse_i64(b"0"), Some(0));
        assert_eq!(parse_i64(b"-1"), Some(-1));
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_i64(b"9223372036854775808"), None);
        assert_eq!(parse_i64(b"-9223372036854775809"), None);
        for bad in [
            &b""[..],
            b"+1",
            b" 1",
            b"1 ",
            b"01",
            b"-0",
            b"-",
            b"1a",
            b"00",
        ] {
            assert_eq!(parse_i64(bad), None, "{:?}", bad);
        }
    }

    #[test]
    fn push_i64_formats_extremes() {
        for v in [0, 1, -1, 42, i64::MAX, i64::MIN] {
            let mut out = Vec::new();
            push_i64(&mut out, v);
            assert_eq!(out, v.to_string().as_bytes());
        }
    }

    #[test]
    fn random_is_not_constant() {
        let a = random_u64();
        let b = random_u64();
        assert_ne!(a, b);
    }
}
