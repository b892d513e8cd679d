//! Sorted set commands: ZADD and friends, ranges, pops, and the set algebra.
//!
//! Counterpart of the command half of Redis `src/t_zset.c`, checked against Redis 7.0.15. The
//! data structure itself lives in [`crate::store::zset`].
//!
//! Shared bodies carry Redis's names: [`zadd_generic`] (ZADD, ZINCRBY), [`zrange_generic`]
//! (ZRANGE, ZREVRANGE, ZRANGEBYSCORE, ZREVRANGEBYSCORE, ZRANGEBYLEX, ZREVRANGEBYLEX,
//! ZRANGESTORE), [`zremrange_generic`] (ZREMRANGEBYRANK / BYSCORE / BYLEX),
//! [`zpop_generic`] (ZPOPMIN, ZPOPMAX, ZMPOP) and [`zset_op_generic`] (ZUNION, ZINTER, ZDIFF,
//! their STORE forms and ZINTERCARD).
//!
//! # Replies with scores
//! Scores are doubles: a bulk string formatted like C's `%.17g` in RESP2, a `,` double in RESP3.
//! A WITHSCORES reply is a flat array `member, score, member, score...` in RESP2, and an array
//! of `[member, score]` pairs in RESP3 (Redis 7.0 does the same, so RESP3 clients get a real
//! structure instead of having to pair elements up).
//!
//! # Order of checks
//! Like Redis, every command parses and validates all its arguments before it looks at the
//! key, so a syntax error is reported even for a missing key, and a command either runs fully
//! or not at all.
//!
//! Not implemented: the blocking variants BZPOPMIN, BZPOPMAX and BZMPOP.

use super::{CmdError, CmdResult, CommandSpec, Ctx, Flags, Group, Handler, KeySpec};
use crate::glob;
use crate::notify;
use crate::protocol::{Argv, Reply};
use crate::store::zset::{LexBound, LexRange, ScoreRange};
use crate::store::{Db, Dict, Value, ZSet};
use crate::util::{eq_ci, format_f64, parse_f64, parse_i64, random_u64};

const RW_FAST: Flags = Flags::WRITE.union(Flags::DENYOOM).union(Flags::FAST);
const W_FAST: Flags = Flags::WRITE.union(Flags::FAST);
const RW_MOVABLE: Flags = Flags::WRITE.union(Flags::DENYOOM).union(Flags::MOVABLEKEYS);
const RO_FAST: Flags = Flags::READONLY.union(Flags::FAST);
const RO_MOVABLE: Flags = Flags::READONLY.union(Flags::MOVABLEKEYS);

// One call per table row keeps the table readable; the arguments are the row's columns.
const fn row(
    name: &'static str,
    arity: i32,
    flags: Flags,
    keys: KeySpec,
    handler: Handler,
) -> CommandSpec {
    CommandSpec::new(name, arity, flags, keys, Group::SortedSet, handler)
}

/// The sorted set group's rows of the command table (arity, flags and key positions as Redis
/// 7.0's COMMAND INFO reports them).
#[rustfmt::skip]
pub(crate) static COMMANDS: &[CommandSpec] = &[
    row("zadd", -4, RW_FAST, KeySpec::ONE, Handler::Write(zadd)),
    row("zincrby", 4, RW_FAST, KeySpec::ONE, Handler::Write(zincrby)),
    row("zrem", -3, W_FAST, KeySpec::ONE, Handler::Write(zrem)),
    row("zcard", 2, RO_FAST, KeySpec::ONE, Handler::Read(zcard)),
    row("zscore", 3, RO_FAST, KeySpec::ONE, Handler::Read(zscore)),
    row("zmscore", -3, RO_FAST, KeySpec::ONE, Handler::Read(zmscore)),
    row("zrank", 3, RO_FAST, KeySpec::ONE, Handler::Read(zrank)),
    row("zrevrank", 3, RO_FAST, KeySpec::ONE, Handler::Read(zrevrank)),
    row("zcount", 4, RO_FAST, KeySpec::ONE, Handler::Read(zcount)),
    row("zlexcount", 4, RO_FAST, KeySpec::ONE, Handler::Read(zlexcount)),
    row("zrange", -4, Flags::READONLY, KeySpec::ONE, Handler::Read(zrange)),
    row("zrevrange", -4, Flags::READONLY, KeySpec::ONE, Handler::Read(zrevrange)),
    row("zrangebyscore", -4, Flags::READONLY, KeySpec::ONE, Handler::Read(zrangebyscore)),
    row("zrevrangebyscore", -4, Flags::READONLY, KeySpec::ONE, Handler::Read(zrevrangebyscore)),
    row("zrangebylex", -4, Flags::READONLY, KeySpec::ONE, Handler::Read(zrangebylex)),
    row("zrevrangebylex", -4, Flags::READONLY, KeySpec::ONE, Handler::Read(zrevrangebylex)),
    row("zrangestore", -5, Flags::WRITE.union(Flags::DENYOOM), KeySpec::TWO, Handler::Write(zrangestore)),
    row("zremrangebyrank", 4, Flags::WRITE, KeySpec::ONE, Handler::Write(zremrangebyrank)),
    row("zremrangebyscore", 4, Flags::WRITE, KeySpec::ONE, Handler::Write(zremrangebyscore)),
    row("zremrangebylex", 4, Flags::WRITE, KeySpec::ONE, Handler::Write(zremrangebylex)),
    row("zpopmin", -2, W_FAST, KeySpec::ONE, Handler::Write(zpopmin)),
    row("zpopmax", -2, W_FAST, KeySpec::ONE, Handler::Write(zpopmax)),
    row("zmpop", -4, Flags::WRITE.union(Flags::MOVABLEKEYS), KeySpec::NONE, Handler::Write(zmpop)),
    row("bzpopmin", -3, Flags::WRITE.union(Flags::NOSCRIPT).union(Flags::BLOCKING).union(Flags::FAST), KeySpec::new(1, -2, 1), Handler::Write(bzpopmin)),
    row("bzpopmax", -3, Flags::WRITE.union(Flags::NOSCRIPT).union(Flags::BLOCKING).union(Flags::FAST), KeySpec::new(1, -2, 1), Handler::Write(bzpopmax)),
    row("bzmpop", -5, Flags::WRITE.union(Flags::BLOCKING).union(Flags::MOVABLEKEYS), KeySpec::NONE, Handler::Write(bzmpop)),
    row("zunionstore", -4, RW_MOVABLE, KeySpec::ONE, Handler::Write(zunionstore)),
    row("zinterstore", -4, RW_MOVABLE, KeySpec::ONE, Handler::Write(zinterstore)),
    row("zdiffstore", -4, RW_MOVABLE, KeySpec::ONE, Handler::Write(zdiffstore)),
    row("zunion", -3, RO_MOVABLE, KeySpec::NONE, Handler::Read(zunion)),
    row("zinter", -3, RO_MOVABLE, KeySpec::NONE, Handler::Read(zinter)),
    row("zdiff", -3, RO_MOVABLE, KeySpec::NONE, Handler::Read(zdiff)),
    row("zintercard", -3, RO_MOVABLE, KeySpec::NONE, Handler::Read(zintercard)),
    row("zrandmember", -2, Flags::READONLY, KeySpec::ONE, Handler::Read(zrandmember)),
    row("zscan", -3, Flags::READONLY, KeySpec::ONE, Handler::Read(zscan)),
];

// ---------------------------------------------------------------------------------------------
// Lookups, argument parsing and reply helpers
// ---------------------------------------------------------------------------------------------

/// `ERR min or max is not a float`
const ERR_SCORE_RANGE: CmdError = CmdError::msg("ERR min or max is not a float");
/// `ERR min or max not valid string range item`
const ERR_LEX_RANGE: CmdError = CmdError::msg("ERR min or max not valid string range item");
/// `ERR resulting score is not a number (NaN)`
const ERR_NAN_SCORE: CmdError = CmdError::msg("ERR resulting score is not a number (NaN)");

/// Looks a sorted set up for reading (Redis `lookupKeyRead` + `checkType`): counts a keyspace
/// hit or miss; `WrongType` for a key of another type.
pub(crate) fn read_zset<'d>(
    ctx: &mut Ctx,
    db: &'d Db,
    key: &[u8],
) -> Result<Option<&'d ZSet>, CmdError> {
    match ctx.lookup_read(db, key) {
        None => Ok(None),
        Some(Value::ZSet(z)) => Ok(Some(z)),
        Some(_) => Err(CmdError::WrongType),
    }
}

/// Looks a sorted set up for writing (Redis `lookupKeyWrite` + `checkType`).
fn write_zset<'d>(ctx: &Ctx, db: &'d mut Db, key: &[u8]) -> Result<Option<&'d mut ZSet>, CmdError> {
    match db.get_value_mut(key, ctx.now_ms) {
        None => Ok(None),
        Some(Value::ZSet(z)) => Ok(Some(z)),
        Some(_) => Err(CmdError::WrongType),
    }
}

/// After members were removed from the sorted set at `key`: reports `event`, then deletes
/// the key, reporting `del`, if it is now empty (Redis never keeps an empty collection).
fn members_removed(db: &mut Db, key: &[u8], event: &'static str) {
    db.notify(notify::ZSET, event, key);
    crate::cmd::list::delete_if_empty(db, key);
}

/// The event of a ZPOPMIN / ZPOPMAX (blocking or not, Redis `genericZpopCommand`).
fn pop_event(max: bool) -> &'static str {
    if max {
        "zpopmax"
    } else {
        "zpopmin"
    }
}

/// Stores a computed sorted set at `dst` (dropping any TTL), or deletes `dst` when the result
/// is empty, as ZUNIONSTORE and ZRANGESTORE do. Returns the stored size.
///
/// Reports `event` for a stored result, `del` for a destination deleted.
pub(crate) fn store_result(
    ctx: &Ctx,
    db: &mut Db,
    dst: &[u8],
    mut z: ZSet,
    event: &'static str,
) -> usize {
    let n = z.len();
    if n == 0 {
        if db.delete(dst, ctx.now_ms) {
            db.notify(notify::GENERIC, "del", dst);
        }
    } else {
        z.reset_encoding();
        db.set(dst, Value::ZSet(Box::new(z)), ctx.now_ms);
        db.notify(notify::ZSET, event, dst);
    }
    n
}

/// Parses a ZADD score or a weight (Redis `getDoubleFromObject`: `string2d` rules).
fn parse_score(arg: &[u8]) -> Result<f64, CmdError> {
    parse_f64(arg).ok_or(CmdError::NotFloat)
}

/// Parses one end of a score range as Redis `zslParseRange` does, which uses C `strtod`
/// directly: leading whitespace is skipped, the empty string is 0, and NaN is refused.
fn parse_range_float(s: &[u8]) -> Option<f64> {
    if s.is_empty() {
        return Some(0.0);
    }
    let start = s
        .iter()
        .position(|&b| !matches!(b, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r'))?;
    let s = &s[start..];
    parse_f64(s)
        .or_else(|| {
            // `string2d` refuses values that overflow to infinity or underflow to zero, but
            // `strtod` alone (what ranges use) accepts them as inf / 0.
            let d: f64 = std::str::from_utf8(s).ok()?.parse().ok()?;
            (d.is_infinite() || d == 0.0).then_some(d)
        })
        .filter(|d| !d.is_nan())
}

/// Parses `min max` of a score range: a number includes itself, `(number` excludes it;
/// `-inf` / `+inf` work as numbers. Errors: `ERR min or max is not a float`.
///
/// Redis reads each bound as a C string (`zslParseRange` hands it to `strtod` and then wants
/// the terminating NUL), so a bound ends at its first NUL byte: `"3\x00junk"` is 3 and
/// `"\x00"` is the empty string, 0.
fn parse_score_range(min: &[u8], max: &[u8]) -> Result<ScoreRange, CmdError> {
    fn bound(arg: &[u8]) -> Option<(f64, bool)> {
        let arg = arg.split(|&b| b == 0).next().unwrap_or_default();
        match arg.first() {
            Some(b'(') => parse_range_float(&arg[1..]).map(|d| (d, true)),
            _ => parse_range_float(arg).map(|d| (d, false)),
        }
    }
    let (min, min_exclusive) = bound(min).ok_or(ERR_SCORE_RANGE)?;
    let (max, max_exclusive) = bound(max).ok_or(ERR_SCORE_RANGE)?;
    Ok(ScoreRange {
        min,
        max,
        min_exclusive,
        max_exclusive,
    })
}

/// Parses `min max` of a lex range: `-`, `+`, `[member` or `(member`. Errors:
/// `ERR min or max not valid string range item`.
fn parse_lex_range(min: &[u8], max: &[u8]) -> Result<LexRange, CmdError> {
    fn bound(arg: &[u8]) -> Option<LexBound> {
        match arg {
            b"-" => Some(LexBound::NegInf),
            b"+" => Some(LexBound::PosInf),
            [b'[', rest @ ..] => Some(LexBound::Inclusive(rest.to_vec())),
            [b'(', rest @ ..] => Some(LexBound::Exclusive(rest.to_vec())),
            _ => None,
        }
    }
    Ok(LexRange {
        min: bound(min).ok_or(ERR_LEX_RANGE)?,
        max: bound(max).ok_or(ERR_LEX_RANGE)?,
    })
}

/// Parses a signed 64-bit integer argument (`NotInteger` otherwise).
fn parse_long(arg: &[u8]) -> Result<i64, CmdError> {
    parse_i64(arg).ok_or(CmdError::NotInteger)
}

/// Parses an integer that must be at least `min`. Like Redis's
/// `getRangeLongFromObjectOrReply` with a message, the same `err` answers both a
/// non-integer and an out-of-range value.
fn parse_long_at_least(arg: &[u8], min: i64, err: CmdError) -> Result<i64, CmdError> {
    parse_i64(arg).filter(|&n| n >= min).ok_or(err)
}

/// A score reply: bulk string in RESP2, double in RESP3.
pub(crate) fn reply_score(reply: &mut Reply, score: f64) {
    reply.double_text(format_f64(score).as_bytes());
}

/// Replies with members, and their scores if `withscores`: a flat array in RESP2, an array of
/// `[member, score]` pairs in RESP3.
fn reply_members(reply: &mut Reply, items: &[(&[u8], f64)], withscores: bool) {
    reply_members_header(reply, items.len(), withscores);
    for (m, s) in items {
        reply_member(reply, m, *s, withscores);
    }
}

/// The array header for `n` members written by [`reply_member`].
fn reply_members_header(reply: &mut Reply, n: usize, withscores: bool) {
    let flat_pairs = withscores && !reply.is_resp3();
    reply.array(if flat_pairs { n * 2 } else { n });
}

/// One member of a [`reply_members`] array.
fn reply_member(reply: &mut Reply, member: &[u8], score: f64, withscores: bool) {
    if withscores && reply.is_resp3() {
        reply.array(2);
    }
    reply.bulk(member);
    if withscores {
        reply_score(reply, score);
    }
}

/// Turns a Redis rank range (negative counts from the end) into clamped 0-based inclusive
/// indexes, or `None` when it selects nothing.
fn clamp_rank_range(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let mut start = if start < 0 { len + start } else { start };
    let mut end = if end < 0 { len + end } else { end };
    if start < 0 {
        start = 0;
    }
    if start > end || start >= len {
        return None;
    }
    if end >= len {
        end = len - 1;
    }
    Some((start as usize, end as usize))
}

// ---------------------------------------------------------------------------------------------
// ZADD, ZINCRBY, ZREM, ZCARD, ZSCORE, ZMSCORE, ZRANK, ZREVRANK, ZCOUNT, ZLEXCOUNT
// ---------------------------------------------------------------------------------------------

/// ZADD's options, parsed.
#[derive(Default, Clone, Copy)]
struct ZaddFlags {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
    ch: bool,
    incr: bool,
}

/// What one element's update did (Redis `ZADD_OUT_*`).
enum AddOutcome {
    Added(f64),
    Updated(f64),
    Unchanged(f64),
    /// NX on an existing member, XX on a missing one, or GT/LT refused the new score.
    Skipped,
}

/// Adds or updates one member under ZADD's rules (Redis `zsetAdd`). `Err` if an increment
/// would make the score NaN (`inf` + `-inf`).
fn zset_add(z: &mut ZSet, member: &[u8], score: f64, f: ZaddFlags) -> Result<AddOutcome, CmdError> {
    match z.score(member) {
        Some(current) => {
            if f.nx {
                return Ok(AddOutcome::Skipped);
            }
            let new = if f.incr { score + current } else { score };
            if new.is_nan() {
                return Err(ERR_NAN_SCORE);
            }
            if (f.lt && new >= current) || (f.gt && new <= current) {
                return Ok(AddOutcome::Skipped);
            }
            if new == current {
                return Ok(AddOutcome::Unchanged(new));
            }
            z.insert(member, new);
            Ok(AddOutcome::Updated(new))
        }
        None if f.xx => Ok(AddOutcome::Skipped),
        None => {
            z.insert(member, score);
            Ok(AddOutcome::Added(score))
        }
    }
}

/// The body of ZADD and ZINCRBY (Redis `zaddGenericCommand`).
///
/// Reply: the number of members added (with CH: added or changed); with INCR the member's new
/// score, or null if the update was skipped (NX, XX, GT, LT).
fn zadd_generic(
    ctx: &mut Ctx,
    db: &mut Db,
    argv: &Argv,
    reply: &mut Reply,
    mut f: ZaddFlags,
) -> CmdResult {
    let key = &argv[1];
    let mut idx = 2;
    while idx < argv.len() {
        let opt = &argv[idx];
        if eq_ci(opt, "nx") {
            f.nx = true;
        } else if eq_ci(opt, "xx") {
            f.xx = true;
        } else if eq_ci(opt, "ch") {
            f.ch = true;
        } else if eq_ci(opt, "incr") {
            f.incr = true;
        } else if eq_ci(opt, "gt") {
            f.gt = true;
        } else if eq_ci(opt, "lt") {
            f.lt = true;
        } else {
            break;
        }
        idx += 1;
    }
    let rest = argv.len() - idx;
    if rest == 0 || rest % 2 != 0 {
        return Err(CmdError::Syntax);
    }
    if f.nx && f.xx {
        return Err(CmdError::msg(
            "ERR XX and NX options at the same time are not compatible",
        ));
    }
    if (f.nx && (f.gt || f.lt)) || (f.gt && f.lt) {
        return Err(CmdError::msg(
            "ERR GT, LT, and/or NX options at the same time are not compatible",
        ));
    }
    if f.incr && rest > 2 {
        return Err(CmdError::msg(
            "ERR INCR option supports a single increment-element pair",
        ));
    }
    let mut pairs = Vec::with_capacity(rest / 2);
    for i in (idx..argv.len()).step_by(2) {
        pairs.push((parse_score(&argv[i])?, &argv[i + 1]));
    }

    let exists = write_zset(ctx, db, key)?.is_some();
    let (mut added, mut updated, mut last) = (0, 0, None);
    if exists || !f.xx {
        if !exists {
            // Every pair is added to a new key (XX is ruled out), so it is never left empty.
            db.set(key, Value::ZSet(Box::default()), ctx.now_ms);
        }
        let z = write_zset(ctx, db, key)?.expect("just checked or created");
        for (score, member) in pairs {
            last = match zset_add(z, member, score, f)? {
                AddOutcome::Added(s) => {
                    added += 1;
                    Some(s)
                }
                AddOutcome::Updated(s) => {
                    updated += 1;
                    Some(s)
                }
                AddOutcome::Unchanged(s) => Some(s),
                AddOutcome::Skipped => None,
            };
        }
    }
    // mirrors zaddGenericCommand(): reported, counted and propagated only if something changed
    ctx.changes = Some((added + updated) as u64);
    if added > 0 || updated > 0 {
        db.notify(notify::ZSET, if f.incr { "zincr" } else { "zadd" }, key);
    }
    if f.incr {
        match last {
            Some(s) => reply_score(reply, s),
            None => reply.null(),
        }
    } else {
        reply.int(if f.ch { added + updated } else { added });
    }
    Ok(())
}

/// ```text
/// ZADD key [NX | XX] [GT | LT] [CH] [INCR] score member [score member ...]
/// ```
/// Integer: members added (with CH, added plus updated). With INCR: the new score (a double)
/// or null when NX / XX / GT / LT skipped the update.
///
/// Errors: `Syntax` (no pairs, odd count), `ERR XX and NX options at the same time are not
/// compatible`, `ERR GT, LT, and/or NX options at the same time are not compatible`,
/// `ERR INCR option supports a single increment-element pair`, `NotFloat`,
/// `ERR resulting score is not a number (NaN)`, `WrongType`.
pub fn zadd(ctx: &mut Ctx, db: &mut Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    zadd_generic(ctx, db, argv, reply, ZaddFlags::default())
}

/// ```text
/// ZINCRBY key increment member
/// ```
/// Double: the member's new score (a missing member starts at 0).
///
/// Errors: `NotFloat`, `ERR resulting score is not a number (NaN)`, `WrongType`.
pub(crate) fn zincrby(ctx: &mut Ctx, db: &mut Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    zadd_generic(
        ctx,
        db,
        argv,
        reply,
        ZaddFlags {
            incr: true,
            ..ZaddFlags::default()
        },
    )
}

/// ```text
/// ZREM key member [member ...]
/// ```
/// Integer: the number of members removed. Removing the last member deletes the key.
///
/// Errors: `WrongType`.
pub fn zrem(ctx: &mut Ctx, db: &mut Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let key = &argv[1];
    let Some(z) = write_zset(ctx, db, key)? else {
        reply.int(0);
        ctx.changes = Some(0);
        return Ok(());
    };
    let removed = argv
        .iter()
        .skip(2)
        .filter(|m| z.remove(m).is_some())
        .count();
    if removed > 0 {
        members_removed(db, key, "zrem");
    }
    reply.int(removed as i64);
    ctx.changes = Some(removed as u64);
    Ok(())
}

/// ```text
/// ZCARD key
/// ```
/// Integer: the number of members, 0 for a missing key.
///
/// Errors: `WrongType`.
pub(crate) fn zcard(ctx: &mut Ctx, db: &Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let n = read_zset(ctx, db, &argv[1])?.map_or(0, |z| z.len());
    reply.int(n as i64);
    Ok(())
}

/// ```text
/// ZSCORE key member
/// ```
/// Double: the member's score, or null if the key or the member is missing.
///
/// Errors: `WrongType`.
pub(crate) fn zscore(ctx: &mut Ctx, db: &Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    match read_zset(ctx, db, &argv[1])?.and_then(|z| z.score(&argv[2])) {
        Some(s) => reply_score(reply, s),
        None => reply.null(),
    }
    Ok(())
}

/// ```text
/// ZMSCORE key member [member ...]
/// ```
/// Array: each member's score (a double), or null for a missing member (all null for a
/// missing key).
///
/// Errors: `WrongType`.
pub(crate) fn zmscore(ctx: &mut Ctx, db: &Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let z = read_zset(ctx, db, &argv[1])?;
    reply.array(argv.len() - 2);
    for m in argv.iter().skip(2) {
        match z.and_then(|z| z.score(m)) {
            Some(s) => reply_score(reply, s),
            None => reply.null(),
        }
    }
    Ok(())
}

fn zrank_generic(
    ctx: &mut Ctx,
    db: &Db,
    argv: &Argv,
    reply: &mut Reply,
    reverse: bool,
) -> CmdResult {
    match read_zset(ctx, db, &argv[1])?.and_then(|z| z.rank(&argv[2], reverse)) {
        Some(r) => reply.int(r as i64),
        None => reply.null(),
    }
    Ok(())
}

/// ```text
/// ZRANK key member
/// ```
/// Integer: the member's 0-based position by ascending score, or null if missing.
///
/// Errors: `WrongType`.
pub(crate) fn zrank(ctx: &mut Ctx, db: &Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    zrank_generic(ctx, db, argv, reply, false)
}

/// ```text
/// ZREVRANK key member
/// ```
/// Integer: the member's 0-based position by descending score, or null if missing.
///
/// Errors: `WrongType`.
pub(crate) fn zrevrank(ctx: &mut Ctx, db: &Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    zrank_generic(ctx, db, argv, reply, true)
}

/// ```text
/// ZCOUNT key min max
/// ```
/// Integer: members with a score in the range (`(` excludes a bound; `-inf`, `+inf`).
///
/// Errors: `ERR min or max is not a float`, `WrongType`.
pub(crate) fn zcount(ctx: &mut Ctx, db: &Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let range = parse_score_range(&argv[2], &argv[3])?;
    let n = read_zset(ctx, db, &argv[1])?.map_or(0, |z| z.count_in_score_range(&range));
    reply.int(n as i64);
    Ok(())
}

/// ```text
/// ZLEXCOUNT key min max
/// ```
/// Integer: members in the lex range (`-`, `+`, `[member`, `(member`).
///
/// Errors: `ERR min or max not valid string range item`, `WrongType`.
pub(crate) fn zlexcount(ctx: &mut Ctx, db: &Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let range = parse_lex_range(&argv[2], &argv[3])?;
    let n = read_zset(ctx, db, &argv[1])?.map_or(0, |z| z.count_in_lex_range(&range));
    reply.int(n);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// ZRANGE and its variants
// ---------------------------------------------------------------------------------------------

/// How a range is given.
#[derive(Clone, Copy, PartialEq, Eq)]
enum RangeBy {
    /// Not fixed by the command: ZRANGE's BYSCORE / BYLEX may choose.
    Auto,
    Rank,
    Score,
    Lex,
}

/// A parsed range request.
enum RangeSpec {
    Rank(i64, i64),
    Score(ScoreRange),
    Lex(LexRange),
}

/// Everything ZRANGE and its variants parsed from argv.
struct RangeRequest {
    spec: RangeSpec,
    reverse: bool,
    withscores: bool,
    offset: i64,
    /// -1: no limit.
    limit: i64,
}

/// Parses `<min> <max> [BYSCORE | BYLEX] [REV] [LIMIT offset count] [WITHSCORES]` starting at
/// `first` (the index of min), as Redis `zrangeGenericCommand` does. `by` and `reverse` come
/// fixed from the older commands (ZRANGEBYSCORE...), which then refuse BYSCORE / REV.
fn parse_range_request(
    argv: &Argv,
    first: usize,
    mut by: RangeBy,
    reverse: Option<bool>,
    store: bool,
) -> Result<RangeRequest, CmdError> {
    let mut direction = reverse;
    let (mut withscores, mut offset, mut limit) = (false, 0, -1);
    let mut j = first + 2;
    while j < argv.len() {
        let left = argv.len() - j - 1;
        let opt = &argv[j];
        if !store && eq_ci(opt, "withscores") {
            withscores = true;
        } else if eq_ci(opt, "limit") && left >= 2 {
            offset = parse_long(&argv[j + 1])?;
            limit = parse_long(&argv[j + 2])?;
            j += 2;
        } else if direction.is_none() && eq_ci(opt, "rev") {
            direction = Some(true);
        } else if by == RangeBy::Auto && eq_ci(opt, "bylex") {
            by = RangeBy::Lex;
        } else if by == RangeBy::Auto && eq_ci(opt, "byscore") {
            by = RangeBy::Score;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    let reverse = direction.unwrap_or(false);
    if by == RangeBy::Auto {
        by = RangeBy::Rank;
    }
    if limit != -1 && by == RangeBy::Rank {
        return Err(CmdError::msg(
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        ));
    }
    if withscores && by == RangeBy::Lex {
        return Err(CmdError::msg(
            "ERR syntax error, WITHSCORES not supported in combination with BYLEX",
        ));
    }
    // Reversed score and lex ranges are written max first.
    let (lo, hi) = if reverse && by != RangeBy::Rank {
        (&argv[first + 1], &argv[first])
    } else {
        (&argv[first], &argv[first + 1])
    };
    let spec = match by {
        RangeBy::Score => RangeSpec::Score(parse_score_range(lo, hi)?),
        RangeBy::Lex => RangeSpec::Lex(parse_lex_range(lo, hi)?),
        _ => RangeSpec::Rank(parse_long(lo)?, parse_long(hi)?),
    };
    Ok(RangeRequest {
        spec,
        reverse,
        withscores,
        offset,
        limit,
    })
}

/// The elements a range request selects, in reply order.
fn collect_range<'z>(z: &'z ZSet, req: &RangeRequest) -> Vec<(&'z [u8], f64)> {
    // For a score or lex range, a negative offset selects nothing (Redis skips "offset"
    // elements counting down from a negative number, which never reaches zero) and a negative
    // limit means "no limit". A rank range ignores LIMIT: parsing refuses it there unless the
    // count is -1, and then Redis's rank code never looks at the offset, whatever its sign
    // (`ZRANGE z 1 -1 LIMIT -2 -1` is ranks 1 to -1).
    let offset = usize::try_from(req.offset).ok();
    let limit = usize::try_from(req.limit).ok();
    match &req.spec {
        RangeSpec::Rank(start, end) => match clamp_rank_range(*start, *end, z.len()) {
            Some((s, e)) => z.range_by_rank(s, e, req.reverse).collect(),
            None => Vec::new(),
        },
        RangeSpec::Score(r) => match offset {
            Some(offset) => z.range_by_score(r, req.reverse, offset, limit).collect(),
            None => Vec::new(),
        },
        RangeSpec::Lex(r) => match offset {
            Some(offset) => z.range_by_lex(r, req.reverse, offset, limit).collect(),
            None => Vec::new(),
        },
    }
}

/// The body of ZRANGE and the older range commands (Redis `zrangeGenericCommand`, reply side).
fn zrange_generic(
    ctx: &mut Ctx,
    db: &Db,
    argv: &Argv,
    reply: &mut Reply,
    by: RangeBy,
    reverse: Option<bool>,
) -> CmdResult {
    let req = parse_range_request(argv, 2, by, reverse, false)?;
    match read_zset(ctx, db, &argv[1])? {
        None => reply.array(0),
        Some(z) => reply_members(reply, &collect_range(z, &req), req.withscores),
    }
    Ok(())
}

/// ```text
/// ZRANGE key start stop [BYSCORE | BYLEX] [REV] [LIMIT offset count] [WITHSCORES]
/// ```
/// Array of members (with WITHSCORES, members and scores; pairs in RESP3). By default `start`
/// and `stop` are ranks (negative from the end); BYSCORE makes them scores (`(` exclusive,
/// `-inf` / `+inf`), BYLEX lex bounds. REV reverses the order, and then BYSCORE / BYLEX take
/// the bounds max first.
///
/// Errors: `Syntax`, `ERR syntax error, LIMIT is only supported in combination with either
/// BYSCORE or BYLEX`, `ERR syntax error, WITHSCORES not supported in combination with BYLEX`,
/// `NotInteger`, `ERR min or max is not a float`, `ERR min or max not valid string range
/// item`, `WrongType`.
pub fn zrange(ctx: &mut Ctx, db: &Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    zrange_generic(ctx, db, argv, reply, RangeBy::Auto, None)
}

/// ```text
/// ZREVRANGE key start stop [WITHSCORES]
/// ```
/// ZRANGE ... REV by rank. Errors as ZRANGE.
pub(crate) fn zrevrange(ctx: &mut Ctx, db: &Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    zrange_generic(ctx, db, argv, reply, RangeBy::Rank, Some(true))
}

/// ```text
/// ZRANGEBYSCORE key min max [WITHSCORES] [LIMIT offset count]
/// ```
/// ZRANGE ... BYSCORE. Errors as ZRANGE.
pub(crate) fn zrangebyscore(ctx: &mut Ctx, db: &Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    zrange_generic(ctx, db, argv, reply, RangeBy::Score, Some(false))
}

/// ```text
/// ZREVRANGEBYSCORE key max min [WITHSCORES] [LIMIT offset count]
/// ```
/// ZRANGE ... BYSCORE REV. Errors as ZRANGE.
pub(crate) fn zrevrangebyscore(
    ctx: &mut Ctx,
    db: &Db,
    argv: &Argv,
    reply: &mut Reply,
) -> CmdResult {
    zrange_generic(ctx, db, argv, reply, RangeBy::Score, Some(true))
}

/// ```text
/// ZRANGEBYLEX key min max [LIMIT offset count]
/// ```
/// ZRANGE ... BYLEX. Errors as ZRANGE.
pub(crate) fn zrangebylex(ctx: &mut Ctx, db: &Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    zrange_generic(ctx, db, argv, reply, RangeBy::Lex, Some(false))
}

/// ```text
/// ZREVRANGEBYLEX key max min [LIMIT offset count]
/// ```
/// ZRANGE ... BYLEX REV. Errors as ZRANGE.
pub(crate) fn zrevrangebylex(ctx: &mut Ctx, db: &Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    zrange_generic(ctx, db, argv, reply, RangeBy::Lex, Some(true))
}

/// ```text
/// ZRANGESTORE dst src min max [BYSCORE | BYLEX] [REV] [LIMIT offset count]
/// ```
/// Integer: the number of elements stored at `dst` (an empty result deletes `dst`).
///
/// Errors: as ZRANGE; WITHSCORES is a `Syntax` error here.
pub(crate) fn zrangestore(ctx: &mut Ctx, db: &mut Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let req = parse_range_request(argv, 3, RangeBy::Auto, None, true)?;
    let mut out = ZSet::new();
    if let Some(z) = read_zset(ctx, db, &argv[2])? {
        for (m, s) in collect_range(z, &req) {
            out.insert(m, s);
        }
    }
    let n = store_result(ctx, db, &argv[1], out, "zrangestore");
    reply.int(n as i64);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// ZREMRANGEBYRANK, ZREMRANGEBYSCORE, ZREMRANGEBYLEX
// ---------------------------------------------------------------------------------------------

/// The body of the ZREMRANGEBY* commands (Redis `zremrangeGenericCommand`): the range is
/// parsed before the key is looked at. Integer reply: members removed.
fn zremrange_generic(
    ctx: &mut Ctx,
    db: &mut Db,
    argv: &Argv,
    reply: &mut Reply,
    by: RangeBy,
) -> CmdResult {
    let spec = match by {
        RangeBy::Score => RangeSpec::Score(parse_score_range(&argv[2], &argv[3])?),
        RangeBy::Lex => RangeSpec::Lex(parse_lex_range(&argv[2], &argv[3])?),
        _ => RangeSpec::Rank(parse_long(&argv[2])?, parse_long(&argv[3])?),
    };
    let key = &argv[1];
    let Some(z) = write_zset(ctx, db, key)? else {
        reply.int(0);
        return Ok(());
    };
    let doomed: Vec<Vec<u8>> = match &spec {
        RangeSpec::Rank(start, end) => match clamp_rank_range(*start, *end, z.len()) {
            Some((s, e)) => z
                .range_by_rank(s, e, false)
                .map(|(m, _)| m.to_vec())
                .collect(),
            None => Vec::new(),
        },
        RangeSpec::Score(r) => z
            .range_by_score(r, false, 0, None)
            .map(|(m, _)| m.to_vec())
            .collect(),
        RangeSpec::Lex(r) => z.lex_range_to_remove(r).map(|(m, _)| m.to_vec()).collect(),
    };
    for m in &doomed {
        z.remove(m);
    }
    if !doomed.is_empty() {
        let event = match by {
            RangeBy::Score => "zremrangebyscore",
            RangeBy::Lex => "zremrangebylex",
            _ => "zremrangebyrank",
        };
        members_removed(db, key, event);
    }
    reply.int(doomed.len() as i64);
    Ok(())
}

/// ```text
/// ZREMRANGEBYRANK key start stop
/// ```
/// Integer: members removed whose rank is in `start..=stop` (negative from the end).
///
/// Errors: `NotInteger`, `WrongType`.
pub(crate) fn zremrangebyrank(
    ctx: &mut Ctx,
    db: &mut Db,
    argv: &Argv,
    reply: &mut Reply,
) -> CmdResult {
    zremrange_generic(ctx, db, argv, reply, RangeBy::Rank)
}

/// ```text
/// ZREMRANGEBYSCORE key min max
/// ```
/// Integer: members removed whose score is in the range.
///
/// Errors: `ERR min or max is not a float`, `WrongType`.
pub(crate) fn zremrangebyscore(
    ctx: &mut Ctx,
    db: &mut Db,
    argv: &Argv,
    reply: &mut Reply,
) -> CmdResult {
    zremrange_generic(ctx, db, argv, reply, RangeBy::Score)
}

/// ```text
/// ZREMRANGEBYLEX key min max
/// ```
/// Integer: members removed that are in the lex range.
///
/// Errors: `ERR min or max not valid string range item`, `WrongType`.
pub(crate) fn zremrangebylex(
    ctx: &mut Ctx,
    db: &mut Db,
    argv: &Argv,
    reply: &mut Reply,
) -> CmdResult {
    zremrange_generic(ctx, db, argv, reply, RangeBy::Lex)
}

// ---------------------------------------------------------------------------------------------
// ZPOPMIN, ZPOPMAX, ZMPOP
// ---------------------------------------------------------------------------------------------

/// How a pop replies (Redis `genericZpopCommand`'s `emitkey` / `use_nested_array`).
#[derive(Clone, Copy)]
struct PopShape {
    /// ZMPOP: `[key, [[member, score], ...]]`.
    with_key: bool,
    /// Pairs as two-element arrays (ZMPOP always, ZPOPMIN/MAX with a count in RESP3).
    nested: bool,
    /// Reply to "no key" with a null array (ZMPOP) instead of an empty one.
    null_when_empty: bool,
}

/// Pops up to `count` elements from the first existing key of `keys` (Redis
/// `genericZpopCommand`). A key of another type met first is `WrongType`.
fn zpop_generic(
    ctx: &mut Ctx,
    db: &mut Db,
    keys: &[&[u8]],
    max: bool,
    count: usize,
    shape: PopShape,
    reply: &mut Reply,
) -> CmdResult {
    let mut found = None;
    for key in keys {
        if write_zset(ctx, db, key)?.is_some() {
            found = Some(*key);
            break;
        }
    }
    let Some(key) = found else {
        if shape.null_when_empty {
            reply.null_array();
        } else {
            reply.array(0);
        }
        ctx.changes = Some(0);
        return Ok(());
    };
    if count == 0 {
        reply.array(0);
        ctx.changes = Some(0);
        return Ok(());
    }
    let z = write_zset(ctx, db, key)?.expect("found above");
    let n = count.min(z.len());
    if shape.with_key {
        reply.array(2);
        reply.bulk(key);
        reply.array(n);
    } else if shape.nested {
        reply.array(n);
    } else {
        reply.array(n * 2);
    }
    for _ in 0..n {
        let (m, s) = z.pop(max).expect("n <= len");
        if shape.nested {
            reply.array(2);
        }
        reply.bulk(&m);
        reply_score(reply, s);
    }
    members_removed(db, key, pop_event(max));
    // mirrors genericZpopCommand(): [B]ZMPOP is recorded as the ZPOPMIN/ZPOPMAX of the key
    // it popped from, with the number popped.
    if shape.with_key {
        let n = n.to_string();
        ctx.propagate_as(Argv::from_args([
            crate::blocking::zpop_name(max),
            key,
            n.as_bytes(),
        ]));
    }
    Ok(())
}

fn zpop_minmax(ctx: &mut Ctx, db: &mut Db, argv: &Argv, reply: &mut Reply, max: bool) -> CmdResult {
    if argv.len() > 3 {
        return Err(CmdError::Syntax);
    }
    let count = match argv.get(2) {
        Some(arg) => Some(parse_long_at_least(arg, 0, CmdError::NotPositive)? as usize),
        None => None,
    };
    let shape = PopShape {
        with_key: false,
        nested: reply.is_resp3() && count.is_some(),
        null_when_empty: false,
    };
    zpop_generic(ctx, db, &[&argv[1]], max, count.unwrap_or(1), shape, reply)
}

/// ```text
/// ZPOPMIN key [count]
/// ```
/// Array: the popped members with their scores, lowest first (flat; pairs in RESP3 when a
/// count is given). An emptied key is deleted.
///
/// Errors: `Syntax` (extra arguments), `NotInteger`, `ERR value is out of range, must be
/// positive`, `WrongType`.
pub fn zpopmin(ctx: &mut Ctx, db: &mut Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    zpop_minmax(ctx, db, argv, reply, false)
}

/// ```text
/// ZPOPMAX key [count]
/// ```
/// As ZPOPMIN, highest scores first.
pub(crate) fn zpopmax(ctx: &mut Ctx, db: &mut Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    zpop_minmax(ctx, db, argv, reply, true)
}

/// ```text
/// ZMPOP numkeys key [key ...] MIN | MAX [COUNT count]
/// ```
/// Array `[key, [[member, score], ...]]` from the first non-empty key, or a null array when
/// every key is missing.
///
/// Errors: `NotInteger`, `ERR numkeys should be greater than 0`, `Syntax`, `ERR count should
/// be greater than 0`, `WrongType`.
pub fn zmpop(ctx: &mut Ctx, db: &mut Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let (keys, max, count) = zmpop_arguments(argv, 1)?;
    let shape = PopShape {
        with_key: true,
        nested: true,
        null_when_empty: true,
    };
    zpop_generic(ctx, db, &keys, max, count, shape, reply)
}

/// Parses `numkeys key [key ...] MIN|MAX [COUNT count]` from `numkeys_index` on (ZMPOP: 1,
/// BZMPOP: 2), in Redis's order of checks.
fn zmpop_arguments(
    argv: &Argv,
    numkeys_index: usize,
) -> Result<(Vec<&[u8]>, bool, usize), CmdError> {
    let numkeys = parse_long_at_least(&argv[numkeys_index], 1, CmdError::NumkeysNotPositive)?;
    let where_idx = usize::try_from(numkeys)
        .unwrap_or(usize::MAX)
        .saturating_add(numkeys_index + 1);
    if where_idx >= argv.len() {
        return Err(CmdError::Syntax);
    }
    let max = if eq_ci(&argv[where_idx], "min") {
        false
    } else if eq_ci(&argv[where_idx], "max") {
        true
    } else {
        return Err(CmdError::Syntax);
    };
    let mut count: Option<usize> = None;
    let mut j = where_idx + 1;
    while j < argv.len() {
        if count.is_none() && eq_ci(&argv[j], "count") && j + 1 < argv.len() {
            let n = parse_long_at_least(&argv[j + 1], 1, CmdError::COUNT_NOT_POSITIVE)?;
            count = Some(n as usize);
            j += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let keys: Vec<&[u8]> = (numkeys_index + 1..where_idx)
        .map(|i| &argv[i][..])
        .collect();
    Ok((keys, max, count.unwrap_or(1)))
}

/// ```text
/// BZPOPMIN key [key ...] timeout
/// ```
/// `[key, member, score]` for the lowest member of the first non-empty sorted set; if all are
/// empty, blocks until one gets a member (same reply) or the timeout passes (null array).
///
/// Errors: the timeout errors (checked first), `WrongType`.
pub fn bzpopmin(ctx: &mut Ctx, db: &mut Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    blocking_zpop_generic(ctx, db, argv, false, reply)
}

/// ```text
/// BZPOPMAX key [key ...] timeout
/// ```
/// As [`bzpopmin`], for the highest member.
pub(crate) fn bzpopmax(ctx: &mut Ctx, db: &mut Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    blocking_zpop_generic(ctx, db, argv, true, reply)
}

/// The body of BZPOPMIN and BZPOPMAX (Redis `blockingGenericZpopCommand`).
fn blocking_zpop_generic(
    ctx: &mut Ctx,
    db: &mut Db,
    argv: &Argv,
    max: bool,
    reply: &mut Reply,
) -> CmdResult {
    let deadline = crate::blocking::parse_timeout(&argv[argv.len() - 1], ctx.now_ms)?;
    let keys: Vec<&[u8]> = (1..argv.len() - 1).map(|i| &argv[i][..]).collect();
    for &key in &keys {
        let Some(z) = write_zset(ctx, db, key)? else {
            continue;
        };
        let (member, score) = z.pop(max).expect("stored sorted sets are never empty");
        members_removed(db, key, pop_event(max));
        // mirrors blockingGenericZpopCommand(): served at once, recorded as the plain pop.
        ctx.propagate_as(Argv::from_args([crate::blocking::zpop_name(max), key]));
        reply.array(3);
        reply.bulk(key);
        reply.bulk(&member);
        reply_score(reply, score);
        return Ok(());
    }
    crate::blocking::block(
        ctx,
        db,
        &keys,
        crate::blocking::BlockedOp::ZPop { max },
        deadline,
        reply,
    )
}

/// ```text
/// BZMPOP timeout numkeys key [key ...] MIN|MAX [COUNT count]
/// ```
/// As ZMPOP, blocking while every key is missing.
///
/// Errors: those of ZMPOP, then the timeout errors.
pub fn bzmpop(ctx: &mut Ctx, db: &mut Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let (keys, max, count) = zmpop_arguments(argv, 2)?;
    let deadline = crate::blocking::parse_timeout(&argv[1], ctx.now_ms)?;
    for &key in &keys {
        if write_zset(ctx, db, key)?.is_some() {
            let shape = PopShape {
                with_key: true,
                nested: true,
                null_when_empty: true,
            };
            return zpop_generic(ctx, db, &keys, max, count, shape, reply);
        }
    }
    crate::blocking::block(
        ctx,
        db,
        &keys,
        crate::blocking::BlockedOp::ZMultiPop { max, count },
        deadline,
        reply,
    )
}

// ---------------------------------------------------------------------------------------------
// ZUNION, ZINTER, ZDIFF, their STORE forms, ZINTERCARD
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum SetOp {
    Union,
    Inter,
    Diff,
}

#[derive(Clone, Copy)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

/// One input of a set operation: a sorted set, a plain set (every member scores 1), or a
/// missing key (empty).
#[derive(Clone, Copy)]
enum Source<'a> {
    Missing,
    ZSet(&'a ZSet),
    Set(&'a Dict<Vec<u8>, ()>),
}

impl<'a> Source<'a> {
    fn len(&self) -> usize {
        match self {
            Source::Missing => 0,
            Source::ZSet(z) => z.len(),
            Source::Set(s) => s.len(),
        }
    }

    fn score(&self, member: &[u8]) -> Option<f64> {
        match self {
            Source::Missing => None,
            Source::ZSet(z) => z.score(member),
            Source::Set(s) => s.contains_key(member).then_some(1.0),
        }
    }

    fn elements(&self) -> Vec<(&'a [u8], f64)> {
        match *self {
            Source::Missing => Vec::new(),
            Source::ZSet(z) => z.iter().collect(),
            Source::Set(s) => s.keys().map(|m| (&m[..], 1.0)).collect(),
        }
    }
}

/// Combines two weighted scores (Redis `zunionInterAggregate`); `inf + -inf` gives 0.
fn aggregate(acc: f64, value: f64, how: Aggregate) -> f64 {
    match how {
        Aggregate::Sum => {
            let s = acc + value;
            if s.is_nan() {
                0.0
            } else {
                s
            }
        }
        Aggregate::Min => acc.min(value),
        Aggregate::Max => acc.max(value),
    }
}

/// A weighted score; `0 * inf` gives 0 as in Redis.
fn weighted(weight: f64, score: f64) -> f64 {
    let s = weight * score;
    if s.is_nan() {
        0.0
    } else {
        s
    }
}

/// Where the set operation's result goes.
enum OpOutput {
    /// ZUNION / ZINTER / ZDIFF: reply with the members (and scores with WITHSCORES).
    Reply,
    /// The STORE forms: a new key.
    Store,
    /// ZINTERCARD: only the size.
    Cardinality,
}

/// Parsed arguments of a set operation.
struct OpArgs {
    weights: Vec<f64>,
    how: Aggregate,
    withscores: bool,
    /// ZINTERCARD's LIMIT; 0 means none.
    limit: usize,
}

/// Reads the sources and parses the options of a set operation (Redis
/// `zunionInterDiffGenericCommand`, first half): numkeys, then the keys' types (before the
/// options, as Redis does), then WEIGHTS / AGGREGATE / WITHSCORES / LIMIT.
fn parse_set_op<'d>(
    ctx: &mut Ctx,
    db: &'d Db,
    argv: &Argv,
    numkeys_idx: usize,
    op: SetOp,
    output: &OpOutput,
    name: &str,
) -> Result<(Vec<Source<'d>>, OpArgs), CmdError> {
    let setnum = parse_long(&argv[numkeys_idx])?;
    if setnum < 1 {
        return Err(CmdError::owned(format!(
            "ERR at least 1 input key is needed for '{name}' command"
        )));
    }
    if setnum as u64 > (argv.len() - numkeys_idx - 1) as u64 {
        return Err(CmdError::Syntax);
    }
    let setnum = setnum as usize;
    let mut sources = Vec::with_capacity(setnum);
    for key in argv.iter().skip(numkeys_idx + 1).take(setnum) {
        let found = ctx.lookup_read(db, key);
        sources.push(match found {
            None => Source::Missing,
            Some(Value::ZSet(z)) => Source::ZSet(z),
            Some(Value::Set(s)) => Source::Set(s),
            Some(_) => return Err(CmdError::WrongType),
        });
    }
    let cardinality = matches!(output, OpOutput::Cardinality);
    let mut args = OpArgs {
        weights: vec![1.0; setnum],
        how: Aggregate::Sum,
        withscores: false,
        limit: 0,
    };
    let mut j = numkeys_idx + 1 + setnum;
    while j < argv.len() {
        let remaining = argv.len() - j;
        let opt = &argv[j];
        if op != SetOp::Diff && !cardinality && remaining > setnum && eq_ci(opt, "weights") {
            for i in 0..setnum {
                args.weights[i] = parse_f64(&argv[j + 1 + i])
                    .ok_or(CmdError::msg("ERR weight value is not a float"))?;
            }
            j += 1 + setnum;
        } else if op != SetOp::Diff && !cardinality && remaining >= 2 && eq_ci(opt, "aggregate") {
            let how = &argv[j + 1];
            args.how = if eq_ci(how, "sum") {
                Aggregate::Sum
            } else if eq_ci(how, "min") {
                Aggregate::Min
            } else if eq_ci(how, "max") {
                Aggregate::Max
            } else {
                return Err(CmdError::Syntax);
            };
            j += 2;
        } else if matches!(output, OpOutput::Reply) && eq_ci(opt, "withscores") {
            args.withscores = true;
            j += 1;
        } else if cardinality && remaining >= 2 && eq_ci(opt, "limit") {
            let n = parse_long_at_least(&argv[j + 1], 0, CmdError::LIMIT_NEGATIVE)?;
            args.limit = n as usize;
            j += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    Ok((sources, args))
}

/// Computes a set operation. Union and intersection visit the inputs smallest first, as Redis
/// does (which also fixes the order in which SUM adds the scores).
fn compute_set_op(sources: &[Source], args: &OpArgs, op: SetOp, stop_at: usize) -> ZSet {
    let mut out = ZSet::new();
    let mut order: Vec<usize> = (0..sources.len()).collect();
    if op != SetOp::Diff {
        order.sort_by_key(|&i| sources[i].len());
    }
    match op {
        SetOp::Inter => {
            let first = order[0];
            if sources[first].len() == 0 {
                return out;
            }
            'members: for (m, s) in sources[first].elements() {
                let mut score = weighted(args.weights[first], s);
                for &i in &order[1..] {
                    match sources[i].score(m) {
                        Some(other) => {
                            score = aggregate(score, weighted(args.weights[i], other), args.how)
                        }
                        None => continue 'members,
                    }
                }
                out.insert(m, score);
                if stop_at != 0 && out.len() >= stop_at {
                    break;
                }
            }
        }
        SetOp::Union => {
            for &i in &order {
                for (m, s) in sources[i].elements() {
                    let score = weighted(args.weights[i], s);
                    let total = match out.score(m) {
                        Some(acc) => aggregate(acc, score, args.how),
                        None => score,
                    };
                    out.insert(m, total);
                }
            }
        }
        SetOp::Diff => {
            for (m, s) in sources[0].elements() {
                if sources[1..].iter().all(|src| src.score(m).is_none()) {
                    out.insert(m, s);
                }
            }
        }
    }
    out
}

/// The body of the set operations (Redis `zunionInterDiffGenericCommand`).
fn zset_op_generic(
    ctx: &mut Ctx,
    db: &mut Db,
    argv: &Argv,
    reply: &mut Reply,
    op: SetOp,
    dst: &[u8],
    name: &'static str,
) -> CmdResult {
    let result = {
        let (sources, args) = parse_set_op(ctx, db, argv, 2, op, &OpOutput::Store, name)?;
        compute_set_op(&sources, &args, op, 0)
    };
    let n = store_result(ctx, db, dst, result, name);
    reply.int(n as i64);
    Ok(())
}

fn zset_op_reply(
    ctx: &mut Ctx,
    db: &Db,
    argv: &Argv,
    reply: &mut Reply,
    op: SetOp,
    name: &str,
) -> CmdResult {
    let (sources, args) = parse_set_op(ctx, db, argv, 1, op, &OpOutput::Reply, name)?;
    let result = compute_set_op(&sources, &args, op, 0);
    let items: Vec<(&[u8], f64)> = result.iter().collect();
    reply_members(reply, &items, args.withscores);
    Ok(())
}

/// ```text
/// ZUNIONSTORE destination numkeys key [key ...] [WEIGHTS weight ...] [AGGREGATE SUM|MIN|MAX]
/// ```
/// Integer: the size of the union stored at `destination` (an empty result deletes it).
/// Plain sets count as sorted sets whose members all score 1.
///
/// Errors: `NotInteger`, `ERR at least 1 input key is needed for 'zunionstore' command`,
/// `Syntax`, `ERR weight value is not a float`, `WrongType`.
pub fn zunionstore(ctx: &mut Ctx, db: &mut Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let dst = argv[1].to_vec();
    zset_op_generic(ctx, db, argv, reply, SetOp::Union, &dst, "zunionstore")
}

/// ```text
/// ZINTERSTORE destination numkeys key [key ...] [WEIGHTS weight ...] [AGGREGATE SUM|MIN|MAX]
/// ```
/// As ZUNIONSTORE, for the intersection.
pub(crate) fn zinterstore(ctx: &mut Ctx, db: &mut Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let dst = argv[1].to_vec();
    zset_op_generic(ctx, db, argv, reply, SetOp::Inter, &dst, "zinterstore")
}

/// ```text
/// ZDIFFSTORE destination numkeys key [key ...]
/// ```
/// Integer: the size of (first key minus the others) stored at `destination`; scores come
/// from the first key. Errors as ZUNIONSTORE (no WEIGHTS / AGGREGATE).
pub(crate) fn zdiffstore(ctx: &mut Ctx, db: &mut Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let dst = argv[1].to_vec();
    zset_op_generic(ctx, db, argv, reply, SetOp::Diff, &dst, "zdiffstore")
}

/// ```text
/// ZUNION numkeys key [key ...] [WEIGHTS weight ...] [AGGREGATE SUM|MIN|MAX] [WITHSCORES]
/// ```
/// Array: the union's members by ascending score (with scores: flat in RESP2, pairs in RESP3).
/// Errors as ZUNIONSTORE.
pub(crate) fn zunion(ctx: &mut Ctx, db: &Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    zset_op_reply(ctx, db, argv, reply, SetOp::Union, "zunion")
}

/// ```text
/// ZINTER numkeys key [key ...] [WEIGHTS weight ...] [AGGREGATE SUM|MIN|MAX] [WITHSCORES]
/// ```
/// As ZUNION, for the intersection.
pub(crate) fn zinter(ctx: &mut Ctx, db: &Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    zset_op_reply(ctx, db, argv, reply, SetOp::Inter, "zinter")
}

/// ```text
/// ZDIFF numkeys key [key ...] [WITHSCORES]
/// ```
/// As ZUNION, for the difference.
pub(crate) fn zdiff(ctx: &mut Ctx, db: &Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    zset_op_reply(ctx, db, argv, reply, SetOp::Diff, "zdiff")
}

/// ```text
/// ZINTERCARD numkeys key [key ...] [LIMIT limit]
/// ```
/// Integer: the size of the intersection, counting stops at `limit` (0: no limit).
///
/// Errors: `NotInteger`, `ERR at least 1 input key is needed for 'zintercard' command`,
/// `Syntax`, `ERR LIMIT can't be negative`, `WrongType`.
pub(crate) fn zintercard(ctx: &mut Ctx, db: &Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let (sources, args) = parse_set_op(
        ctx,
        db,
        argv,
        1,
        SetOp::Inter,
        &OpOutput::Cardinality,
        "zintercard",
    )?;
    let result = compute_set_op(&sources, &args, SetOp::Inter, args.limit);
    reply.int(result.len() as i64);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// ZRANDMEMBER, ZSCAN
// ---------------------------------------------------------------------------------------------

fn random_below(n: usize) -> usize {
    (random_u64() % n as u64) as usize
}

/// ```text
/// ZRANDMEMBER key [count [WITHSCORES]]
/// ```
/// Without count: a random member (bulk), or null for a missing key. With a positive count:
/// up to `count` distinct members (the whole set, highest score first, when `count` is at least its
/// size); with a negative count: exactly `-count` members, repeats allowed. WITHSCORES adds
/// scores (pairs in RESP3).
///
/// Errors: `NotInteger`, `Syntax`, `ERR value is out of range` (WITHSCORES with a count
/// beyond ±2^62), `WrongType`.
pub(crate) fn zrandmember(ctx: &mut Ctx, db: &Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    if argv.len() == 2 {
        match read_zset(ctx, db, &argv[1])? {
            Some(z) if !z.is_empty() => {
                let (m, _) = z.get_by_rank(random_below(z.len())).expect("in range");
                reply.bulk(m);
            }
            _ => reply.null(),
        }
        return Ok(());
    }
    let l = parse_long(&argv[2])?;
    if l == i64::MIN {
        return Err(CmdError::COUNT_IS_I64_MIN);
    }
    let withscores = match argv.len() {
        3 => false,
        4 if eq_ci(&argv[3], "withscores") => {
            if !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&l) {
                return Err(CmdError::OUT_OF_RANGE);
            }
            true
        }
        _ => return Err(CmdError::Syntax),
    };
    let Some(z) = read_zset(ctx, db, &argv[1])? else {
        reply.array(0);
        return Ok(());
    };
    let count = l.unsigned_abs() as usize;
    if l < 0 {
        // Independent draws, written as they are made: the count comes from the client, so
        // nothing is sized from it up front (Redis streams this case too). A count in the
        // billions still makes a reply that large, as in Redis.
        reply_members_header(reply, count, withscores);
        for _ in 0..count {
            let (m, s) = z.get_by_rank(random_below(z.len())).expect("in range");
            reply_member(reply, m, s, withscores);
        }
        return Ok(());
    }
    let items: Vec<(&[u8], f64)> = if count == 0 || z.is_empty() {
        Vec::new()
    } else if count >= z.len() {
        // The whole set; Redis 7.0 happens to list it from the highest score down.
        z.range_by_rank(0, z.len() - 1, true).collect()
    } else {
        // Pick `count` distinct ranks: remove random elements from a full list of ranks
        // until `count` remain, or draw fresh ranks until enough distinct ones turned up.
        let mut ranks: Vec<usize> = if count * 3 > z.len() {
            let mut all: Vec<usize> = (0..z.len()).collect();
            while all.len() > count {
                all.swap_remove(random_below(all.len()));
            }
            all
        } else {
            let mut picked = std::collections::HashSet::new();
            while picked.len() < count {
                picked.insert(random_below(z.len()));
            }
            picked.into_iter().collect()
        };
        ranks.sort_unstable();
        ranks
            .into_iter()
            .map(|r| z.get_by_rank(r).expect("in range"))
            .collect()
    };
    reply_members(reply, &items, withscores);
    Ok(())
}

/// ```text
/// ZSCAN key cursor [MATCH pattern] [COUNT count]
/// ```
/// A two-element array: the next cursor and a flat array of members and scores (scores as
/// bulk strings in both protocols). A small set (one Redis keeps as a listpack) is returned
/// whole with cursor 0, in order; a larger one is walked with the dict's reverse-binary
/// cursor, as SCAN walks the keyspace.
///
/// Errors: `ERR invalid cursor`, `NotInteger`, `Syntax`, `WrongType`.
pub(crate) fn zscan(ctx: &mut Ctx, db: &Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let cursor = super::generic::parse_scan_cursor(&argv[2]).ok_or(CmdError::INVALID_CURSOR)?;
    let Some(z) = read_zset(ctx, db, &argv[1])? else {
        reply.array(2);
        reply.bulk(b"0");
        reply.array(0);
        return Ok(());
    };
    let options = super::generic::ScanOptions::parse(argv, 3, false)?;
    let (count, pattern) = (options.count, options.pattern);
    let keep = |m: &[u8]| pattern.map_or(true, |p| glob::matches(p, m, false));
    let mut found: Vec<(Vec<u8>, f64)> = Vec::new();
    let mut next = 0;
    if z.is_listpack() && z.len() <= crate::store::encoding_limits::zset_max_listpack_entries() {
        found.extend(
            z.iter()
                .filter(|(m, _)| keep(m))
                .map(|(m, s)| (m.to_vec(), s)),
        );
    } else {
        let (mut visited, mut budget) = (0usize, count.saturating_mul(10));
        next = cursor;
        loop {
            next = z.scan(next, |m, s| {
                visited += 1;
                if keep(m) {
                    found.push((m.to_vec(), s));
                }
            });
            if next == 0 || budget == 0 || visited >= count {
                break;
            }
            budget -= 1;
        }
    }
    reply.array(2);
    reply.bulk(next.to_string().as_bytes());
    reply.array(found.len() * 2);
    for (m, s) in &found {
        reply.bulk(m);
        reply.bulk(score_text(*s).as_bytes());
    }
    Ok(())
}

/// A score as ZSCAN prints it (Redis `d2string`): integral values within ±2^62 as integers
/// (`100000000000000000`, and `0` for `-0`), anything else like `%.17g`.
fn score_text(d: f64) -> String {
    const LIMIT: f64 = (i64::MAX / 2) as f64;
    if d.is_finite() && (-LIMIT..=LIMIT).contains(&d) && d.fract() == 0.0 {
        (d as i64).to_string()
    } else {
        format_f64(d)
    }
}

#[cfg(test)]
mod tests {
    //! Unit checks of the parsing helpers, and end-to-end checks through the socket-free
    //! harness for what the differential case files cannot reach: plain sets as inputs (SADD
    //! lives in another group, so they are put in the store directly), RESP3 reply shapes and
    //! the rules random replies must follow. Expected bytes were recorded from Redis 7.0.15.

    use super::*;
    use crate::harness::Harness;

    /// Runs one command and checks that the reply is exactly `expected`.
    fn expect(h: &Harness, args: &[&str], expected: &str) {
        assert_eq!(h.call(args), expected, "{args:?}");
    }

    /// Runs one command and returns its RESP2 reply parsed as a flat list of bulk strings
    /// (the shape of ZRANDMEMBER and ZSCAN replies), with `$` headers dropped.
    fn call_lines(h: &Harness, args: &[&str]) -> Vec<String> {
        let reply = h.call(args);
        parse_flat(&reply).unwrap_or_else(|| panic!("not a whole reply: {reply:?}"))
    }

    /// Parses nested arrays of bulk strings into a flat list, or None if incomplete.
    fn parse_flat(text: &str) -> Option<Vec<String>> {
        let mut lines = text.split("\r\n");
        let mut out = Vec::new();
        let mut pending: i64 = 1;
        while pending > 0 {
            let line = lines.next()?;
            pending -= 1;
            match line.as_bytes().first()? {
                b'*' => pending += line[1..].parse::<i64>().ok()?,
                b'$' => out.push(lines.next()?.to_string()),
                _ => out.push(line.to_string()),
            }
        }
        Some(out)
    }

    fn put_set(h: &Harness, key: &[u8], members: &[&str]) {
        let mut set = Dict::new();
        for m in members {
            set.insert(m.as_bytes().to_vec(), ());
        }
        let now = h.now_ms();
        h.shared().store.write().db_mut(0).set(
            key,
            Value::Set(Box::new(crate::store::Set::from_members(set))),
            now,
        );
    }

    #[test]
    fn plain_sets_score_one_in_set_operations() {
        let h = Harness::new();
        put_set(&h, b"seta", &["a", "b", "d"]);
        expect(
            &h,
            &["ZADD", "zseta", "1", "a", "2", "b", "3", "c"],
            ":3\r\n",
        );
        expect(
            &h,
            &["ZUNION", "2", "zseta", "seta", "WITHSCORES"],
            "*8\r\n$1\r\nd\r\n$1\r\n1\r\n$1\r\na\r\n$1\r\n2\r\n$1\r\nb\r\n$1\r\n3\r\n$1\r\nc\r\n$1\r\n3\r\n",
        );
        expect(
            &h,
            &[
                "ZINTER",
                "2",
                "zseta",
                "seta",
                "WEIGHTS",
                "1",
                "10",
                "WITHSCORES",
            ],
            "*4\r\n$1\r\na\r\n$2\r\n11\r\n$1\r\nb\r\n$2\r\n12\r\n",
        );
        expect(
            &h,
            &["ZDIFF", "2", "zseta", "seta", "WITHSCORES"],
            "*2\r\n$1\r\nc\r\n$1\r\n3\r\n",
        );
        expect(&h, &["ZINTERCARD", "2", "zseta", "seta"], ":2\r\n");
        expect(&h, &["ZUNIONSTORE", "dst", "2", "seta", "seta"], ":3\r\n");
        expect(
            &h,
            &["ZRANGE", "dst", "0", "-1", "WITHSCORES"],
            "*6\r\n$1\r\na\r\n$1\r\n2\r\n$1\r\nb\r\n$1\r\n2\r\n$1\r\nd\r\n$1\r\n2\r\n",
        );
        expect(
            &h,
            &["ZDIFF", "2", "seta", "zseta", "WITHSCORES"],
            "*2\r\n$1\r\nd\r\n$1\r\n1\r\n",
        );
        // Only the set algebra accepts plain sets.
        let wrongtype = "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n";
        expect(&h, &["ZRANGE", "seta", "0", "-1"], wrongtype);
        expect(&h, &["ZMPOP", "1", "seta", "MIN"], wrongtype);
        expect(&h, &["ZADD", "seta", "1", "a"], wrongtype);
    }

    #[test]
    fn resp3_reply_shapes() {
        let h = Harness::new();
        h.run("HELLO 3");
        expect(
            &h,
            &["ZADD", "z", "1", "a", "2", "b", "3", "c", "-0", "d"],
            ":4\r\n",
        );
        expect(&h, &["ZSCORE", "z", "a"], ",1\r\n");
        expect(&h, &["ZMSCORE", "z", "a", "nope"], "*2\r\n,1\r\n_\r\n");
        expect(
            &h,
            &["ZRANGE", "z", "0", "-1", "WITHSCORES"],
            "*4\r\n*2\r\n$1\r\nd\r\n,0\r\n*2\r\n$1\r\na\r\n,1\r\n*2\r\n$1\r\nb\r\n,2\r\n*2\r\n$1\r\nc\r\n,3\r\n",
        );
        expect(&h, &["ZINCRBY", "z", "1", "a"], ",2\r\n");
        expect(&h, &["ZADD", "z", "NX", "INCR", "1", "a"], "_\r\n");
        expect(&h, &["ZPOPMIN", "z"], "*2\r\n$1\r\nd\r\n,0\r\n");
        expect(&h, &["ZPOPMIN", "z", "1"], "*1\r\n*2\r\n$1\r\na\r\n,2\r\n");
        expect(
            &h,
            &["ZMPOP", "1", "z", "MIN"],
            "*2\r\n$1\r\nz\r\n*1\r\n*2\r\n$1\r\nb\r\n,2\r\n",
        );
        expect(&h, &["ZMPOP", "1", "nokey", "MIN"], "_\r\n");
        expect(&h, &["ZRANK", "z", "nope"], "_\r\n");
        expect(&h, &["ZRANDMEMBER", "nokey"], "_\r\n");
        expect(
            &h,
            &["ZUNION", "1", "z", "WITHSCORES"],
            "*1\r\n*2\r\n$1\r\nc\r\n,3\r\n",
        );
        expect(&h, &["ZADD", "zi", "-inf", "a"], ":1\r\n");
        expect(&h, &["ZSCORE", "zi", "a"], ",-inf\r\n");
        // ZSCAN scores stay bulk strings.
        expect(
            &h,
            &["ZSCAN", "zi", "0"],
            "*2\r\n$1\r\n0\r\n*2\r\n$1\r\na\r\n$4\r\n-inf\r\n",
        );
    }

    #[test]
    fn zrandmember_counts_and_uniqueness() {
        let h = Harness::new();
        let mut args = vec!["ZADD", "z"];
        let names: Vec<String> = (0..20).map(|i| format!("m{i}")).collect();
        let scores: Vec<String> = (0..20).map(|i| i.to_string()).collect();
        for i in 0..20 {
            args.push(&scores[i]);
            args.push(&names[i]);
        }
        expect(&h, &args, ":20\r\n");
        for count in ["3", "10", "19"] {
            let got = call_lines(&h, &["ZRANDMEMBER", "z", count]);
            let distinct: std::collections::HashSet<_> = got.iter().collect();
            assert_eq!(got.len(), count.parse::<usize>().unwrap());
            assert_eq!(distinct.len(), got.len());
            assert!(got.iter().all(|m| names.contains(m)));
        }
        let got = call_lines(&h, &["ZRANDMEMBER", "z", "-50"]);
        assert_eq!(got.len(), 50);
        assert!(got.iter().all(|m| names.contains(m)));
        let got = call_lines(&h, &["ZRANDMEMBER", "z", "-7", "WITHSCORES"]);
        assert_eq!(got.len(), 14);
        for pair in got.chunks(2) {
            assert_eq!(pair[0], format!("m{}", pair[1]));
        }
        let one = call_lines(&h, &["ZRANDMEMBER", "z"]);
        assert!(names.contains(&one[0]));
    }

    #[test]
    fn zscan_walks_a_big_set_completely() {
        let h = Harness::new();
        let mut all = std::collections::HashSet::new();
        for chunk in 0..3 {
            let mut args = vec!["ZADD".to_string(), "big".to_string()];
            for i in chunk * 100..(chunk + 1) * 100 {
                args.push(i.to_string());
                args.push(format!("member:{i}"));
                all.insert(format!("member:{i}"));
            }
            let refs: Vec<&str> = args.iter().map(|a| a.as_str()).collect();
            expect(&h, &refs, ":100\r\n");
        }
        expect(&h, &["OBJECT", "ENCODING", "big"], "$8\r\nskiplist\r\n");
        let mut seen = std::collections::HashSet::new();
        let mut cursor = "0".to_string();
        let mut calls = 0;
        loop {
            let got = call_lines(&h, &["ZSCAN", "big", &cursor, "COUNT", "20"]);
            calls += 1;
            cursor = got[0].clone();
            for pair in got[1..].chunks(2) {
                assert_eq!(pair[0], format!("member:{}", pair[1]));
                seen.insert(pair[0].clone());
            }
            if cursor == "0" {
                break;
            }
        }
        assert_eq!(seen, all);
        assert!(calls > 1, "a skiplist-encoded set is scanned in steps");
    }

    #[test]
    fn range_floats_follow_strtod() {
        assert_eq!(parse_range_float(b""), Some(0.0));
        assert_eq!(parse_range_float(b"  1.5"), Some(1.5));
        assert_eq!(parse_range_float(b"  "), None);
        assert_eq!(parse_range_float(b"nan"), None);
        assert_eq!(parse_range_float(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_range_float(b"1x"), None);
        assert_eq!(parse_range_float(b"1e400"), Some(f64::INFINITY));
        assert_eq!(parse_range_float(b"-1e-400"), Some(0.0));
    }

    #[test]
    fn zscan_scores_print_like_d2string() {
        assert_eq!(score_text(1e17), "100000000000000000");
        assert_eq!(score_text(-0.0), "0");
        assert_eq!(score_text(0.5), "0.5");
        assert_eq!(score_text(1e19), "1e+19");
        assert_eq!(score_text(f64::INFINITY), "inf");
    }

    #[test]
    fn rank_ranges_clamp_like_redis() {
        assert_eq!(clamp_rank_range(0, -1, 3), Some((0, 2)));
        assert_eq!(clamp_rank_range(-10, 1, 3), Some((0, 1)));
        assert_eq!(clamp_rank_range(2, 100, 3), Some((2, 2)));
        assert_eq!(clamp_rank_range(3, 5, 3), None);
        assert_eq!(clamp_rank_range(2, 1, 3), None);
        assert_eq!(clamp_rank_range(0, -4, 3), None);
    }
}
