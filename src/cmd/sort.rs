//! SORT and SORT_RO: sorting the elements of a list, set or sorted set, by their own value or
//! by values looked up in other keys, with paging, projections (GET) and an optional STORE.
//!
//! Counterpart of Redis `src/sort.c`, checked against Redis 7.0.15.
//!
//! # How one SORT runs
//! The order of steps is Redis's, and each step is a function here:
//! 1. [`parse_options`] reads `BY`, `LIMIT`, `GET`, `ASC|DESC`, `ALPHA` and `STORE` from left
//!    to right. A bad option is reported before the key is even looked up, so `ERR syntax error`
//!    and a bad LIMIT number win over WRONGTYPE.
//! 2. The key is looked up: missing is an empty list, a string or hash is WRONGTYPE.
//! 3. [`load_elements`] copies the elements into a vector. With `BY` a pattern that has no `*`
//!    (by convention `BY nosort`) nothing will be sorted, so for a list or sorted set only the
//!    `LIMIT` window is taken, in the container's own order (reversed with DESC).
//! 4. Otherwise each element gets a sort key ([`SortKey`]): a number (the default), or bytes
//!    (`ALPHA`), taken from the element itself or from the key named by the `BY` pattern
//!    ([`lookup_by_pattern`]), and the vector is sorted ([`compare`]).
//! 5. The `LIMIT` window of the result, projected through the `GET` patterns, is replied as an
//!    array or, with STORE, saved as a list (an empty result deletes the destination).
//!
//! # Details worth knowing
//! - Numbers are read with C `strtod` rules ([`parse_score`]), not the stricter rules of
//!   command arguments: leading whitespace is skipped, the empty string is 0, hex floats and
//!   `inf` are accepted. A value that is not a number, is NaN, or overflows fails the whole
//!   command with `ERR One or more scores can't be converted into double`. (Redis 7.0 reads
//!   `errno` after `strtod` without clearing it first, so right after such a range error its
//!   next numeric SORTs can fail the same way; respd does not copy that bug.)
//! - Equal numbers are ordered by the elements' bytes, so a numeric SORT is deterministic.
//! - `ALPHA` compares bytes. Redis uses `strcoll`, which depends on the server's locale; in the
//!   C locale (what Redis gets with no `LANG`/`LC_*` set) that is `strcmp`, which stops at the
//!   first NUL byte. With STORE, Redis compares the full binary strings instead (so replicas
//!   with other locales store the same list); respd does the same.
//! - A set sorted `BY nosort` is returned in the set's own order, which is not defined for a
//!   hash-table set. With STORE (where the order must be reproducible) Redis sorts it `ALPHA`
//!   instead, and so does respd.
//! - Redis sorts with the C library's `qsort`, a stable merge sort on glibc, so elements whose
//!   `ALPHA`-`BY` keys are equal keep the container's order; respd's `sort_by` is stable too.
//!   (When `BY` and a narrowing `LIMIT` are combined, Redis switches to its own partial
//!   quicksort, which is not stable: equal keys may then come back in another order.)
//! - Every key lookup (the sorted key, each `BY` and `GET` key) counts a keyspace hit or miss,
//!   as Redis's `lookupKeyRead` does.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::VecDeque;

use super::{CmdError, CmdResult, CommandSpec, Ctx, Flags, Group, Handler, KeySpec};
use crate::protocol::{Argv, Reply};
use crate::store::{Db, Value};
use crate::util::{c_str, eq_ci, parse_f64, parse_i64};

/// The error Redis replies when a numeric sort meets a value that is not a number.
const ERR_NOT_DOUBLE: CmdError =
    CmdError::msg("ERR One or more scores can't be converted into double");

/// The sort group's rows of the command table (arity, flags and key positions as Redis 7.0's
/// COMMAND INFO reports them: one fixed key, more found by `movablekeys` parsing).
#[rustfmt::skip]
pub(crate) static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("sort", -2, Flags::WRITE.union(Flags::DENYOOM).union(Flags::MOVABLEKEYS), KeySpec::ONE, Group::Generic, Handler::Write(sort)),
    CommandSpec::new("sort_ro", -2, Flags::READONLY.union(Flags::MOVABLEKEYS), KeySpec::ONE, Group::Generic, Handler::Read(sort_ro)),
];

/// ```text
/// SORT key [BY pattern] [LIMIT offset count] [GET pattern [GET pattern ...]] [ASC|DESC]
///     [ALPHA] [STORE destination]
/// ```
/// Without STORE: an array of the sorted elements (or, with GET, of the looked-up values, one
/// per GET per element, nil where a key or field is missing). With STORE: the number of
/// elements stored in the list at `destination` (0, and the destination deleted, if none).
///
/// Errors: [`CmdError::Syntax`] for an unknown or incomplete option,
/// [`CmdError::NotInteger`] for a LIMIT that is not a number, [`CmdError::WrongType`] if `key`
/// is not a list, set or sorted set, and `ERR One or more scores can't be converted into
/// double` when a numeric sort meets a non-number.
pub fn sort(ctx: &mut Ctx, db: &mut Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let opts = parse_options(argv, false, may_read_any_key(ctx, argv))?;
    let output = sort_generic(ctx, db, argv, &opts)?;
    match opts.store {
        None => reply_output(reply, &output),
        Some(destination) => {
            let count = output.len();
            if count == 0 {
                if db.delete(destination, ctx.now_ms) {
                    db.notify(crate::notify::GENERIC, "del", destination);
                }
            } else {
                // A GET whose key is missing stores an empty string: a list cannot hold nil.
                let list: VecDeque<Vec<u8>> = output
                    .into_iter()
                    .map(|v| v.map(Cow::into_owned).unwrap_or_default())
                    .collect();
                // Like SET, STORE replaces any value and drops its TTL.
                db.set(destination, Value::List(list), ctx.now_ms);
                db.notify(crate::notify::LIST, "sortstore", destination);
            }
            reply.int(count as i64);
        }
    }
    Ok(())
}

/// ```text
/// SORT_RO key [BY pattern] [LIMIT offset count] [GET pattern [GET pattern ...]] [ASC|DESC]
///     [ALPHA]
/// ```
/// SORT without STORE, flagged read-only so it may run on replicas. Same reply as SORT.
///
/// Errors: as SORT; `STORE` is an unknown option here, so it is [`CmdError::Syntax`].
pub fn sort_ro(ctx: &mut Ctx, db: &Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let opts = parse_options(argv, true, may_read_any_key(ctx, argv))?;
    let output = sort_generic(ctx, db, argv, &opts)?;
    reply_output(reply, &output);
    Ok(())
}

/// Replies a sort result as an array; nil for a GET that found nothing.
fn reply_output(reply: &mut Reply, output: &[Option<Cow<[u8]>>]) {
    reply.array(output.len());
    for value in output {
        match value {
            Some(bytes) => reply.bulk(bytes),
            None => reply.null(),
        }
    }
}

/// The parsed options of one SORT / SORT_RO call. Patterns borrow from argv.
#[derive(Debug, Default)]
struct SortOptions<'a> {
    /// DESC was given (the last of ASC/DESC wins).
    desc: bool,
    /// ALPHA: compare bytes instead of numbers.
    alpha: bool,
    /// LIMIT offset and count; count -1 (the default) means "to the end".
    limit_start: i64,
    limit_count: i64,
    /// The last BY pattern.
    by: Option<&'a [u8]>,
    /// Some BY pattern had no `*`: keep the container's order (Redis `dontsort`). Sticky: a
    /// later BY with a `*` does not undo it, as in Redis.
    dontsort: bool,
    /// GET patterns, in order.
    gets: Vec<&'a [u8]>,
    /// STORE destination (SORT only).
    store: Option<&'a [u8]>,
}

/// Whether the connection's user may read any key with this command: BY and GET patterns
/// name keys no key spec shows, so Redis allows them only then (`sortCommandGeneric`).
fn may_read_any_key(ctx: &Ctx, argv: &Argv) -> bool {
    match (&ctx.client.user, super::lookup(&argv[0])) {
        (Some(user), Some(spec)) => user.may_read_any_key(spec, argv),
        _ => true,
    }
}

/// Parses the options after the key, left to right (mirrors the loop at the top of Redis
/// `sortCommandGeneric`). `readonly` (SORT_RO) makes STORE an unknown option;
/// `may_read_any_key` false refuses BY with a pattern and GET.
fn parse_options(
    argv: &Argv,
    readonly: bool,
    may_read_any_key: bool,
) -> Result<SortOptions<'_>, CmdError> {
    let mut opts = SortOptions {
        limit_count: -1,
        ..SortOptions::default()
    };
    let mut j = 2;
    while j < argv.len() {
        let arg = &argv[j];
        let left = argv.len() - j - 1;
        if eq_ci(arg, "asc") {
            opts.desc = false;
        } else if eq_ci(arg, "desc") {
            opts.desc = true;
        } else if eq_ci(arg, "alpha") {
            opts.alpha = true;
        } else if eq_ci(arg, "limit") && left >= 2 {
            opts.limit_start = parse_i64(&argv[j + 1]).ok_or(CmdError::NotInteger)?;
            opts.limit_count = parse_i64(&argv[j + 2]).ok_or(CmdError::NotInteger)?;
            j += 2;
        } else if !readonly && eq_ci(arg, "store") && left >= 1 {
            opts.store = Some(&argv[j + 1]);
            j += 1;
        } else if eq_ci(arg, "by") && left >= 1 {
            let pattern = &argv[j + 1];
            opts.by = Some(pattern);
            // Redis looks for the `*` with strchr(), which stops at a NUL byte.
            if !c_str(pattern).contains(&b'*') {
                opts.dontsort = true;
            } else if !may_read_any_key {
                return Err(CmdError::msg(
                    "ERR BY option of SORT denied due to insufficient ACL permissions.",
                ));
            }
            j += 1;
        } else if eq_ci(arg, "get") && left >= 1 {
            if !may_read_any_key {
                return Err(CmdError::msg(
                    "ERR GET option of SORT denied due to insufficient ACL permissions.",
                ));
            }
            opts.gets.push(&argv[j + 1]);
            j += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    Ok(opts)
}

/// What an element is sorted by.
enum SortKey<'a> {
    /// Numeric sort: the score (0 when the BY key is missing).
    Score(f64),
    /// ALPHA with BY: the looked-up bytes, or None when the key or field is missing (such
    /// elements sort first).
    Bytes(Option<Cow<'a, [u8]>>),
    /// ALPHA without BY, or no sorting at all: the element itself is the key.
    Element,
}

/// One element of the vector being sorted (Redis `redisSortObject`).
struct Item<'a> {
    element: &'a [u8],
    key: SortKey<'a>,
}

/// Runs the lookup, sort and projection steps of SORT and returns the output values in order
/// (one per element, or one per GET per element). Side effects: none besides keyspace
/// statistics; STORE is left to the caller.
fn sort_generic<'a>(
    ctx: &mut Ctx,
    db: &'a Db,
    argv: &Argv,
    opts: &SortOptions<'a>,
) -> Result<Vec<Option<Cow<'a, [u8]>>>, CmdError> {
    let value = lookup_read(ctx, db, &argv[1]);
    if let Some(v) = value {
        if !matches!(v, Value::List(_) | Value::Set(_) | Value::ZSet(_)) {
            return Err(CmdError::WrongType);
        }
    }
    // Redis `sortCommandGeneric` converts a sorted set to a skiplist before reading it, SORT_RO
    // included, whatever is asked of it afterwards: OBJECT ENCODING shows it.
    if let Some(Value::ZSet(z)) = value {
        z.convert_to_skiplist();
    }
    let mut dontsort = opts.dontsort;
    let mut alpha = opts.alpha;
    let mut by = opts.by;
    // A set has no order of its own that would be the same on a replica, so a stored result
    // is sorted ALPHA, and so is one a script reads (Redis does both).
    if dontsort && matches!(value, Some(Value::Set(_))) && (opts.store.is_some() || ctx.in_script) {
        dontsort = false;
        alpha = true;
        by = None;
    }

    let len = match value {
        Some(Value::List(l)) => l.len(),
        Some(Value::Set(s)) => s.len(),
        Some(Value::ZSet(z)) => z.len(),
        _ => 0,
    } as i64;
    let (mut start, mut end) = limit_window(opts.limit_start, opts.limit_count, len);

    let mut items = load_elements(value, dontsort, opts.desc, start, end);
    if dontsort && !matches!(value, Some(Value::Set(_))) && end >= start {
        // Only the window was loaded: it is now the whole vector.
        end -= start;
        start = 0;
    }

    if !dontsort {
        let mut conversion_error = false;
        for item in &mut items {
            let by_value = match by {
                Some(pattern) => match lookup_by_pattern(ctx, db, pattern, item.element) {
                    Some(v) => Some(v),
                    None if alpha => {
                        item.key = SortKey::Bytes(None);
                        continue;
                    }
                    None => {
                        item.key = SortKey::Score(0.0);
                        continue;
                    }
                },
                None => None,
            };
            item.key = match (alpha, by_value) {
                (true, Some(v)) => SortKey::Bytes(Some(v)),
                (true, None) => SortKey::Element,
                (false, v) => {
                    let bytes = v.as_deref().unwrap_or(item.element);
                    match parse_score(bytes) {
                        Some(score) => SortKey::Score(score),
                        None => {
                            // Redis finishes loading (and counting lookups) before replying.
                            conversion_error = true;
                            SortKey::Score(0.0)
                        }
                    }
                }
            };
        }
        if conversion_error {
            return Err(ERR_NOT_DOUBLE);
        }
        let binary = opts.store.is_some();
        items.sort_by(|a, b| {
            let ord = compare(a, b, binary);
            if opts.desc {
                ord.reverse()
            } else {
                ord
            }
        });
    }

    let mut output = Vec::new();
    if end >= start {
        for item in &items[start as usize..=end as usize] {
            if opts.gets.is_empty() {
                output.push(Some(Cow::Borrowed(item.element)));
            }
            for pattern in &opts.gets {
                output.push(lookup_by_pattern(ctx, db, pattern, item.element));
            }
        }
    }
    Ok(output)
}

/// Turns LIMIT offset/count into an inclusive window `start..=end` of a vector of `len`
/// elements; `end < start` means nothing. Mirrors Redis's clamping, including its quirk for
/// an offset past the end (`start = len-1, end = len-2`).
fn limit_window(limit_start: i64, limit_count: i64, len: i64) -> (i64, i64) {
    // Clamping to len first keeps `start + count` from overflowing.
    let mut start = limit_start.clamp(0, len);
    let count = limit_count.clamp(-1, len);
    let mut end = if count < 0 {
        len - 1
    } else {
        start + count - 1
    };
    if start >= len {
        start = len - 1;
        end = len - 2;
    }
    if end >= len {
        end = len - 1;
    }
    (start, end)
}

/// Copies the elements to sort into a vector (Redis loads `redisSortObject`s the same way).
///
/// With `dontsort`, a list or sorted set contributes only the window `start..=end`, counted
/// from the tail (the highest score) when `desc`: this is how `BY nosort` keeps the native
/// order and how its LIMIT applies by position or rank. A set always contributes everything,
/// in its iteration order (ascending for a set Redis would keep as an intset).
fn load_elements(
    value: Option<&Value>,
    dontsort: bool,
    desc: bool,
    start: i64,
    end: i64,
) -> Vec<Item<'_>> {
    fn item(element: &[u8]) -> Item<'_> {
        Item {
            element,
            key: SortKey::Element,
        }
    }
    let window = if end >= start {
        (end - start + 1) as usize
    } else {
        0
    };
    match value {
        Some(Value::List(_) | Value::ZSet(_)) if dontsort && window == 0 => Vec::new(),
        Some(Value::List(list)) if dontsort => {
            let start = start as usize;
            if desc {
                let from = list.len() - start;
                list.range(..from)
                    .rev()
                    .take(window)
                    .map(|e| item(e))
                    .collect()
            } else {
                list.range(start..).take(window).map(|e| item(e)).collect()
            }
        }
        Some(Value::List(list)) => list.iter().map(|e| item(e)).collect(),
        Some(Value::ZSet(z)) if dontsort => z
            .range_by_rank(start as usize, end as usize, desc)
            .map(|(m, _)| item(m))
            .collect(),
        Some(Value::ZSet(z)) => z.iter().map(|(m, _)| item(m)).collect(),
        Some(Value::Set(s)) => {
            let mut members: Vec<&[u8]> = s.keys().map(Vec::as_slice).collect();
            if s.is_intset() {
                // Redis keeps small all-integer sets sorted; see crate::cmd::set.
                members.sort_by_key(|m| parse_i64(m).unwrap_or(0));
            }
            members.into_iter().map(item).collect()
        }
        _ => Vec::new(),
    }
}

/// Orders two items by their sort keys (Redis `sortCompare`, before DESC is applied).
/// `binary`: STORE is in effect, so ALPHA compares whole binary strings rather than C strings.
fn compare(a: &Item, b: &Item, binary: bool) -> Ordering {
    let text = |x: &[u8], y: &[u8]| {
        if binary {
            x.cmp(y)
        } else {
            c_str(x).cmp(c_str(y))
        }
    };
    match (&a.key, &b.key) {
        (SortKey::Score(x), SortKey::Score(y)) => match x.partial_cmp(y) {
            // Equal scores (0 and -0 included) fall back to the elements' bytes, so the
            // result does not depend on the sort algorithm.
            Some(Ordering::Equal) | None => a.element.cmp(b.element),
            Some(ord) => ord,
        },
        (SortKey::Bytes(x), SortKey::Bytes(y)) => match (x, y) {
            (Some(x), Some(y)) => text(x, y),
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Less,
            (Some(_), None) => Ordering::Greater,
        },
        _ => text(a.element, b.element),
    }
}

/// Looks up the key (and hash field) a BY or GET pattern names for one element (Redis
/// `lookupKeyByPattern`):
/// - `#` is the element itself;
/// - the first `*` is replaced by the element; a pattern without `*` names nothing (nil);
/// - `key*->field` reads `field` of the hash at the substituted key (when something follows
///   the `->`); otherwise the substituted key must hold a string.
///
/// Anything else (missing key, wrong type, missing field) is None. Redis scans the pattern
/// for `#`, `*` and `->` as a C string, so a NUL byte ends that scan, and so it does here.
fn lookup_by_pattern<'a>(
    ctx: &mut Ctx,
    db: &'a Db,
    pattern: &[u8],
    element: &'a [u8],
) -> Option<Cow<'a, [u8]>> {
    let scanned = c_str(pattern);
    if scanned == b"#" {
        return Some(Cow::Borrowed(element));
    }
    let star = scanned.iter().position(|&b| b == b'*')?;
    let arrow = scanned[star + 1..]
        .windows(2)
        .position(|w| w == b"->")
        .map(|i| star + 1 + i)
        .filter(|&i| pattern.get(i + 2).is_some_and(|&b| b != 0));
    let (postfix, field) = match arrow {
        Some(i) => (&pattern[star + 1..i], Some(&pattern[i + 2..])),
        None => (&pattern[star + 1..], None),
    };
    let mut key = Vec::with_capacity(pattern.len() + element.len());
    key.extend_from_slice(&pattern[..star]);
    key.extend_from_slice(element);
    key.extend_from_slice(postfix);

    match (lookup_read(ctx, db, &key)?, field) {
        (Value::Hash(hash), Some(field)) => hash.get(field).map(|v| Cow::Borrowed(v.as_slice())),
        (Value::Str(s), None) => Some(Cow::Borrowed(s.as_slice())),
        (Value::Int(n), None) => Some(Cow::Owned(n.to_string().into_bytes())),
        _ => None,
    }
}

/// Redis `lookupKeyRead`: the live value at `key`, counting a keyspace hit or miss.
fn lookup_read<'a>(ctx: &mut Ctx, db: &'a Db, key: &[u8]) -> Option<&'a Value> {
    ctx.lookup_read(db, key)
}

/// Reads a sort score as Redis does: C `strtod` over the value as a C string, which must be
/// consumed to its end (or to its first NUL byte). So leading whitespace is skipped, the
/// empty string is 0 (strtod reads nothing and stops at the end), whitespace alone is an
/// error, hex floats and `inf` are numbers. None for NaN and for a range error (overflow, or
/// a nonzero value too small for a normal double).
///
/// One approximation: glibc reports a range error for a subnormal result only when it is
/// inexact; respd treats a decimal subnormal as inexact (an exact one needs hundreds of
/// digits) and a hexadecimal one as exact.
fn parse_score(value: &[u8]) -> Option<f64> {
    let s = c_str(value);
    if s.is_empty() {
        return Some(0.0);
    }
    let skip = s
        .iter()
        .position(|&b| !matches!(b, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r'))
        .unwrap_or(s.len());
    let s = &s[skip..];
    let score = parse_f64(s)?;
    let subnormal = score != 0.0 && score.abs() < f64::MIN_POSITIVE;
    let hex = s.iter().any(|&b| b == b'x' || b == b'X');
    if subnormal && !hex {
        return None;
    }
    Some(score)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_window_matches_redis_clamping() {
        // Whole vector.
        assert_eq!(limit_window(0, -1, 5), (0, 4));
        // A window inside, one running past the end, a negative offset.
        assert_eq!(limit_window(1, 2, 5), (1, 2));
        assert_eq!(limit_window(3, 10, 5), (3, 4));
        assert_eq!(limit_window(-5, 2, 5), (0, 1));
        // Count 0 and an offset past the end select nothing.
        assert_eq!(limit_window(2, 0, 5), (2, 1));
        assert_eq!(limit_window(7, 2, 5), (4, 3));
        // No overflow with extreme values; an empty vector selects nothing.
        assert_eq!(limit_window(1, i64::MAX, 5), (1, 4));
        assert_eq!(limit_window(i64::MAX, i64::MAX, 5), (4, 3));
        assert_eq!(limit_window(0, -1, 0), (-1, -2));
    }

    #[test]
    fn scores_follow_strtod() {
        assert_eq!(parse_score(b""), Some(0.0));
        assert_eq!(parse_score(b" 1"), Some(1.0));
        assert_eq!(parse_score(b"\t-2.5"), Some(-2.5));
        assert_eq!(parse_score(b"0x10"), Some(16.0));
        assert_eq!(parse_score(b"inf"), Some(f64::INFINITY));
        assert_eq!(parse_score(b"1\0junk"), Some(1.0));
        for bad in [
            &b"  "[..],
            b"1 ",
            b"nan",
            b"abc",
            b"1e400",
            b"1e-400",
            b"4e-320",
            b"-",
        ] {
            assert_eq!(parse_score(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }
}
