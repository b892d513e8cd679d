//! Hash commands: fields and their values under one key.
//!
//! Counterpart of Redis `src/t_hash.c`, checked against Redis 7.0.15.
//!
//! A hash ([`Value::Hash`]) is a [`Hash`] (`store/hash.rs`): the fields, and the encoding Redis
//! would show (listpack or hash table), which decides the order HKEYS, HVALS, HGETALL and
//! HSCAN list fields in. This file holds the commands; the type and its encoding rule are in
//! the store, as Redis's `t_hash.c` keeps its "API" section apart from its commands.
//!
//! # Lookups
//! As in Redis, read commands (HGET, HMGET, HLEN, HGETALL, HSCAN, ...) use a *read* lookup,
//! which counts a keyspace hit or miss for INFO; write commands (HSET, HDEL, HINCRBY, ...) use
//! a *write* lookup, which counts nothing and deletes an expired key on the spot. Every command
//! answers `WrongType` for a key of another type.
//!
//! # Empty hashes
//! Redis never stores an empty hash: HDEL of the last field deletes the key, and a write
//! command creates its key only when it is about to store a field. The write commands below
//! compute everything that can fail *before* creating the key, so an error never leaves an
//! empty hash behind.

use std::collections::HashSet;

use super::generic::parse_scan_cursor;
use super::{CmdError, CmdResult, CommandSpec, Ctx, Flags, Group, Handler, KeySpec};
use crate::glob;
use crate::notify;
use crate::protocol::{Argv, Reply};
use crate::store::{Db, Hash, Value};
use crate::util::{eq_ci, parse_i64, push_i64, random_u64, LongDouble};

/// Copies of field/value pairs (what an HSCAN step collects).
type OwnedEntries = Vec<(Vec<u8>, Vec<u8>)>;

const RW_FAST: Flags = Flags::WRITE.union(Flags::DENYOOM).union(Flags::FAST);
const RO_FAST: Flags = Flags::READONLY.union(Flags::FAST);

/// The hash group's rows of the command table (arity, flags and key positions as Redis 7.0's
/// COMMAND INFO reports them).
#[rustfmt::skip]
pub(crate) static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("hset", -4, RW_FAST, KeySpec::ONE, Group::Hash, Handler::Write(hset)),
    CommandSpec::new("hsetnx", 4, RW_FAST, KeySpec::ONE, Group::Hash, Handler::Write(hsetnx)),
    CommandSpec::new("hget", 3, RO_FAST, KeySpec::ONE, Group::Hash, Handler::Read(hget)),
    CommandSpec::new("hmget", -3, RO_FAST, KeySpec::ONE, Group::Hash, Handler::Read(hmget)),
    CommandSpec::new("hmset", -4, RW_FAST, KeySpec::ONE, Group::Hash, Handler::Write(hmset)),
    CommandSpec::new("hdel", -3, Flags::WRITE.union(Flags::FAST), KeySpec::ONE, Group::Hash, Handler::Write(hdel)),
    CommandSpec::new("hlen", 2, RO_FAST, KeySpec::ONE, Group::Hash, Handler::Read(hlen)),
    CommandSpec::new("hstrlen", 3, RO_FAST, KeySpec::ONE, Group::Hash, Handler::Read(hstrlen)),
    CommandSpec::new("hexists", 3, RO_FAST, KeySpec::ONE, Group::Hash, Handler::Read(hexists)),
    CommandSpec::new("hkeys", 2, Flags::READONLY, KeySpec::ONE, Group::Hash, Handler::Read(hkeys)),
    CommandSpec::new("hvals", 2, Flags::READONLY, KeySpec::ONE, Group::Hash, Handler::Read(hvals)),
    CommandSpec::new("hgetall", 2, Flags::READONLY, KeySpec::ONE, Group::Hash, Handler::Read(hgetall)),
    CommandSpec::new("hincrby", 4, RW_FAST, KeySpec::ONE, Group::Hash, Handler::Write(hincrby)),
    CommandSpec::new("hincrbyfloat", 4, RW_FAST, KeySpec::ONE, Group::Hash, Handler::Write(hincrbyfloat)),
    CommandSpec::new("hrandfield", -2, Flags::READONLY, KeySpec::ONE, Group::Hash, Handler::Read(hrandfield)),
    CommandSpec::new("hscan", -3, Flags::READONLY, KeySpec::ONE, Group::Hash, Handler::Read(hscan)),
];

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Redis `lookupKeyRead` + `checkType`: the hash at `key` for a read command (`None` if
/// missing), counting a keyspace hit or miss. `WrongType` for a key of another type.
fn lookup_read<'d>(ctx: &mut Ctx, db: &'d Db, key: &[u8]) -> Result<Option<&'d Hash>, CmdError> {
    match ctx.lookup_read(db, key) {
        None => Ok(None),
        Some(Value::Hash(h)) => Ok(Some(h)),
        Some(_) => Err(CmdError::WrongType),
    }
}

/// Redis `lookupKeyWrite` + `checkType`: the hash at `key` for a write command (`None` if
/// missing; an expired key is deleted first). `WrongType` for a key of another type.
fn lookup_write<'d>(
    ctx: &Ctx,
    db: &'d mut Db,
    key: &[u8],
) -> Result<Option<&'d mut Hash>, CmdError> {
    match db.get_value_mut(key, ctx.now_ms) {
        None => Ok(None),
        Some(Value::Hash(h)) => Ok(Some(h)),
        Some(_) => Err(CmdError::WrongType),
    }
}

/// Redis `hashTypeLookupWriteOrCreate`: the hash at `key`, created empty if missing.
///
/// The caller must store a field in it before returning (see "Empty hashes" in the module
/// docs), so call this only once nothing can fail any more.
fn lookup_write_or_create<'d>(
    ctx: &Ctx,
    db: &'d mut Db,
    key: &[u8],
) -> Result<&'d mut Hash, CmdError> {
    if lookup_write(ctx, db, key)?.is_none() {
        db.set(key, Value::Hash(Box::default()), ctx.now_ms);
    }
    match db.get_value_mut(key, ctx.now_ms) {
        Some(Value::Hash(h)) => Ok(h),
        _ => unreachable!("the hash was just found or created"),
    }
}

/// A uniformly random index below `n` (`n > 0`). The modulo bias is far below anything a
/// random-sampling command could show.
fn random_index(n: usize) -> usize {
    (random_u64() % n as u64) as usize
}

// ---------------------------------------------------------------------------------------------
// HSET, HMSET, HSETNX
// ---------------------------------------------------------------------------------------------

/// The body of HSET and HMSET: checks that the field/value arguments come in pairs, then sets
/// them all, creating the hash if needed. Returns how many fields are new.
///
/// Errors: `WrongArity` for an unpaired field (checked before the key, as Redis does);
/// `WrongType`.
fn hset_generic(ctx: &mut Ctx, db: &mut Db, argv: &Argv) -> Result<i64, CmdError> {
    // argv is: name key field value [field value ...], so pairs make an even count.
    if argv.len() % 2 == 1 {
        return Err(CmdError::WrongArity);
    }
    let hash = lookup_write_or_create(ctx, db, &argv[1])?;
    let mut created = 0;
    for pair in (2..argv.len()).step_by(2) {
        if hash
            .insert(argv[pair].to_vec(), argv[pair + 1].to_vec())
            .is_none()
        {
            created += 1;
        }
    }
    db.notify(notify::HASH, "hset", &argv[1]);
    Ok(created)
}

/// ```text
/// HSET key field value [field value ...]
/// ```
/// Integer: the number of fields that did not exist before (fields that existed are
/// overwritten and not counted). Creates the key if missing.
///
/// Errors: `WrongArity` ("ERR wrong number of arguments for 'hset' command") for an odd number
/// of field/value arguments; `WrongType`.
pub fn hset(ctx: &mut Ctx, db: &mut Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let created = hset_generic(ctx, db, argv)?;
    reply.int(created);
    Ok(())
}

/// ```text
/// HMSET key field value [field value ...]
/// ```
/// Simple string `OK`. The same as HSET with a different reply (Redis deprecates it in favour
/// of HSET since 4.0).
///
/// Errors: `WrongArity` for an odd number of field/value arguments; `WrongType`.
pub(crate) fn hmset(ctx: &mut Ctx, db: &mut Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    hset_generic(ctx, db, argv)?;
    reply.ok();
    Ok(())
}

/// ```text
/// HSETNX key field value
/// ```
/// Integer: 1 if the field was set, 0 if it already existed (then nothing changes). Creates the
/// key if missing.
///
/// Errors: `WrongType`.
pub fn hsetnx(ctx: &mut Ctx, db: &mut Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let (key, field) = (&argv[1], &argv[2]);
    if lookup_write(ctx, db, key)?.is_some_and(|h| h.contains_key(field)) {
        reply.int(0);
        ctx.changes = Some(0);
        return Ok(());
    }
    lookup_write_or_create(ctx, db, key)?.insert(field.to_vec(), argv[3].to_vec());
    db.notify(notify::HASH, "hset", key);
    reply.int(1);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// HGET, HMGET, HLEN, HSTRLEN, HEXISTS
// ---------------------------------------------------------------------------------------------

/// ```text
/// HGET key field
/// ```
/// Bulk string: the field's value; null if the field or the key does not exist.
///
/// Errors: `WrongType`.
pub(crate) fn hget(ctx: &mut Ctx, db: &Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    match lookup_read(ctx, db, &argv[1])?.and_then(|h| h.get(&argv[2][..])) {
        Some(value) => reply.bulk(value),
        None => reply.null(),
    }
    Ok(())
}

/// ```text
/// HMGET key field [field ...]
/// ```
/// Array with one element per field asked for, in order: its value, or null for a missing
/// field. A missing key is an array of nulls.
///
/// Errors: `WrongType`.
pub fn hmget(ctx: &mut Ctx, db: &Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let hash = lookup_read(ctx, db, &argv[1])?;
    reply.array(argv.len() - 2);
    for field in argv.iter().skip(2) {
        match hash.and_then(|h| h.get(field)) {
            Some(value) => reply.bulk(value),
            None => reply.null(),
        }
    }
    Ok(())
}

/// ```text
/// HLEN key
/// ```
/// Integer: the number of fields, 0 for a missing key.
///
/// Errors: `WrongType`.
pub(crate) fn hlen(ctx: &mut Ctx, db: &Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let len = lookup_read(ctx, db, &argv[1])?.map_or(0, |h| h.len());
    reply.int(len as i64);
    Ok(())
}

/// ```text
/// HSTRLEN key field
/// ```
/// Integer: the length in bytes of the field's value, 0 if the field or the key is missing.
///
/// Errors: `WrongType`.
pub(crate) fn hstrlen(ctx: &mut Ctx, db: &Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let len = lookup_read(ctx, db, &argv[1])?
        .and_then(|h| h.get(&argv[2][..]))
        .map_or(0, |v| v.len());
    reply.int(len as i64);
    Ok(())
}

/// ```text
/// HEXISTS key field
/// ```
/// Integer: 1 if the field exists, 0 if it or the key does not.
///
/// Errors: `WrongType`.
pub(crate) fn hexists(ctx: &mut Ctx, db: &Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let found = lookup_read(ctx, db, &argv[1])?.is_some_and(|h| h.contains_key(&argv[2][..]));
    reply.int(found as i64);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// HDEL
// ---------------------------------------------------------------------------------------------

/// ```text
/// HDEL key field [field ...]
/// ```
/// Integer: the number of fields removed (a field named twice is removed once). Deleting the
/// last field deletes the key. A missing key removes nothing.
///
/// Errors: `WrongType`.
pub fn hdel(ctx: &mut Ctx, db: &mut Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let key = &argv[1];
    let Some(hash) = lookup_write(ctx, db, key)? else {
        reply.int(0);
        ctx.changes = Some(0);
        return Ok(());
    };
    let removed = argv
        .iter()
        .skip(2)
        .filter(|field| hash.remove(field).is_some())
        .count();
    let emptied = hash.is_empty();
    if removed > 0 {
        db.notify(notify::HASH, "hdel", key);
        if emptied {
            db.remove(key);
            db.notify(notify::GENERIC, "del", key);
        }
    }
    reply.int(removed as i64);
    ctx.changes = Some(removed as u64);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// HKEYS, HVALS, HGETALL
// ---------------------------------------------------------------------------------------------

/// What [`hgetall_generic`] lists of each field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Parts {
    /// The fields (HKEYS).
    Fields,
    /// The values (HVALS).
    Values,
    /// Both (HGETALL).
    Both,
}

/// The body of HKEYS, HVALS and HGETALL (Redis `genericHgetallCommand`). A missing key is an
/// empty array, or for HGETALL an empty map.
fn hgetall_generic(
    ctx: &mut Ctx,
    db: &Db,
    argv: &Argv,
    reply: &mut Reply,
    parts: Parts,
) -> CmdResult {
    let hash = lookup_read(ctx, db, &argv[1])?;
    let len = hash.map_or(0, |h| h.len());
    if parts == Parts::Both {
        reply.map(len);
    } else {
        reply.array(len);
    }
    for (field, value) in hash.into_iter().flat_map(|h| h.iter()) {
        if parts != Parts::Values {
            reply.bulk(field);
        }
        if parts != Parts::Fields {
            reply.bulk(value);
        }
    }
    Ok(())
}

/// ```text
/// HKEYS key
/// ```
/// Array of every field, in no particular order; empty for a missing key.
///
/// Errors: `WrongType`.
pub(crate) fn hkeys(ctx: &mut Ctx, db: &Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    hgetall_generic(ctx, db, argv, reply, Parts::Fields)
}

/// ```text
/// HVALS key
/// ```
/// Array of every value, in no particular order; empty for a missing key.
///
/// Errors: `WrongType`.
pub(crate) fn hvals(ctx: &mut Ctx, db: &Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    hgetall_generic(ctx, db, argv, reply, Parts::Values)
}

/// ```text
/// HGETALL key
/// ```
/// Every field and its value, in no particular order: a map in RESP3, a flat array
/// `field1 value1 field2 value2 ...` in RESP2. Empty for a missing key.
///
/// Errors: `WrongType`.
pub fn hgetall(ctx: &mut Ctx, db: &Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    hgetall_generic(ctx, db, argv, reply, Parts::Both)
}

// ---------------------------------------------------------------------------------------------
// HINCRBY, HINCRBYFLOAT
// ---------------------------------------------------------------------------------------------

/// ```text
/// HINCRBY key field increment
/// ```
/// Integer: the field's value after adding `increment` (a missing field or key counts as 0,
/// and is created).
///
/// Errors, in Redis's order: `NotInteger` for the increment; `WrongType`; "ERR hash value is
/// not an integer" when the stored value is not a canonical 64-bit integer ("1.5", "007",
/// " 1"); `Overflow`.
pub(crate) fn hincrby(ctx: &mut Ctx, db: &mut Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let (key, field) = (&argv[1], &argv[2]);
    let incr = parse_i64(&argv[3]).ok_or(CmdError::NotInteger)?;
    let old = match lookup_write(ctx, db, key)?.and_then(|h| h.get(field)) {
        Some(value) => parse_i64(value).ok_or(CmdError::msg("ERR hash value is not an integer"))?,
        None => 0,
    };
    let new = old.checked_add(incr).ok_or(CmdError::Overflow)?;
    let mut text = Vec::with_capacity(20);
    push_i64(&mut text, new);
    lookup_write_or_create(ctx, db, key)?.insert(field.to_vec(), text);
    db.notify(notify::HASH, "hincrby", key);
    reply.int(new);
    Ok(())
}

/// ```text
/// HINCRBYFLOAT key field increment
/// ```
/// Bulk string: the field's value after adding `increment`, computed in 80-bit long double
/// and printed without an exponent exactly as INCRBYFLOAT does ("10.5", "5000", "0.1"); the
/// field is stored as that text. A missing field or key counts as 0 and is created.
///
/// Errors, in Redis's order: `NotFloat` for the increment; "ERR value is NaN or Infinity" for
/// an infinite increment; `WrongType`; "ERR hash value is not a float" when the stored value
/// does not parse; `NanOrInfinity` when the sum overflows.
pub(crate) fn hincrbyfloat(
    ctx: &mut Ctx,
    db: &mut Db,
    argv: &Argv,
    reply: &mut Reply,
) -> CmdResult {
    let (key, field) = (&argv[1], &argv[2]);
    let incr = LongDouble::parse(&argv[3]).ok_or(CmdError::NotFloat)?;
    if !incr.is_finite() {
        return Err(CmdError::msg("ERR value is NaN or Infinity"));
    }
    let old = match lookup_write(ctx, db, key)?.and_then(|h| h.get(field)) {
        Some(value) => {
            LongDouble::parse(value).ok_or(CmdError::msg("ERR hash value is not a float"))?
        }
        None => LongDouble::ZERO,
    };
    let sum = old + incr;
    if !sum.is_finite() {
        return Err(CmdError::NanOrInfinity);
    }
    let text = sum.to_human();
    reply.bulk(&text);
    lookup_write_or_create(ctx, db, key)?.insert(field.to_vec(), text);
    db.notify(notify::HASH, "hincrbyfloat", key);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// HRANDFIELD
// ---------------------------------------------------------------------------------------------

/// ```text
/// HRANDFIELD key [count [WITHVALUES]]
/// ```
/// Without `count`: a bulk string, one random field, or null for a missing key.
///
/// With `count`: an array (empty for a missing key or a count of 0).
/// - `count > 0`: up to `count` *distinct* fields; the whole hash if `count` is at least its
///   size.
/// - `count < 0`: exactly `-count` fields drawn independently, so the same field may appear
///   several times.
///
/// With WITHVALUES each field is followed by its value: in RESP2 the array is flat
/// (`field1 value1 field2 value2 ...`, twice as long); in RESP3 it holds one two-element array
/// `[field, value]` per field (Redis 7.0's shape, not a map, since fields may repeat).
///
/// A huge negative count is served as in Redis: the reply is built in full, so it costs
/// memory in proportion to the count.
///
/// Errors, in Redis's order: `NotInteger` for a count that is not an integer; "ERR value is
/// out of range, value must between -9223372036854775807 and 9223372036854775807" for
/// -2^63; `Syntax` for a fourth argument other than WITHVALUES or more arguments; "ERR value
/// is out of range" for a count beyond ±2^62 with WITHVALUES (its reply length would
/// overflow); then `WrongType`.
pub(crate) fn hrandfield(ctx: &mut Ctx, db: &Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    if argv.len() == 2 {
        let Some(hash) = lookup_read(ctx, db, &argv[1])? else {
            reply.null();
            return Ok(());
        };
        match hash.random_entry() {
            Some((field, _)) => reply.bulk(field),
            None => reply.null(),
        }
        return Ok(());
    }

    // Redis reads the count as a C long limited to ±LONG_MAX, so that it can be negated.
    let count = parse_i64(&argv[2]).ok_or(CmdError::NotInteger)?;
    if count == i64::MIN {
        return Err(CmdError::COUNT_IS_I64_MIN);
    }
    if argv.len() > 4 || (argv.len() == 4 && !eq_ci(&argv[3], "withvalues")) {
        return Err(CmdError::Syntax);
    }
    let with_values = argv.len() == 4;
    if with_values && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&count) {
        return Err(CmdError::OUT_OF_RANGE);
    }

    let Some(hash) = lookup_read(ctx, db, &argv[1])? else {
        reply.array(0);
        return Ok(());
    };
    let picked = pick_random_fields(hash, count);
    reply_random_fields(reply, picked, with_values);
    Ok(())
}

/// The entries HRANDFIELD `count` returns, following Redis's `hrandfieldWithCountCommand`
/// strategies (the choice is invisible to clients except in cost).
enum Picked<'h> {
    /// `count < 0`: this many independent draws (may repeat).
    Repeated(&'h Hash, u64),
    /// Distinct entries.
    Distinct(Vec<(&'h Vec<u8>, &'h Vec<u8>)>),
}

/// Chooses the entries for HRANDFIELD with a count (see [`hrandfield`]).
fn pick_random_fields(hash: &Hash, count: i64) -> Picked<'_> {
    let size = hash.len();
    if count < 0 {
        return Picked::Repeated(hash, count.unsigned_abs());
    }
    let count = usize::try_from(count).unwrap_or(usize::MAX);
    if count >= size {
        // The whole hash.
        return Picked::Distinct(hash.iter().collect());
    }
    if count.saturating_mul(3) > size {
        // Most of the hash: shuffle just the first `count` places of a list of all entries
        // (a partial Fisher-Yates shuffle) and keep those.
        let mut all: Vec<_> = hash.iter().collect();
        for i in 0..count {
            let j = i + random_index(all.len() - i);
            all.swap(i, j);
        }
        all.truncate(count);
        return Picked::Distinct(all);
    }
    // A small part of a big hash: draw until `count` different fields have come up, which
    // takes few redraws when count is at most a third of the size.
    let mut seen = HashSet::with_capacity(count);
    let mut out = Vec::with_capacity(count);
    while out.len() < count {
        let Some((field, value)) = hash.random_entry() else {
            break;
        };
        if seen.insert(field) {
            out.push((field, value));
        }
    }
    Picked::Distinct(out)
}

/// Writes HRANDFIELD's array: fields alone, or with values in the RESP2 (flat) or RESP3
/// (pairs) shape.
fn reply_random_fields(reply: &mut Reply, picked: Picked<'_>, with_values: bool) {
    let n = match &picked {
        Picked::Repeated(_, n) => *n as usize,
        Picked::Distinct(entries) => entries.len(),
    };
    let flat_pairs = with_values && !reply.is_resp3();
    reply.array(if flat_pairs { n * 2 } else { n });
    let mut one = |field: &[u8], value: &[u8]| {
        if with_values && reply.is_resp3() {
            reply.array(2);
        }
        reply.bulk(field);
        if with_values {
            reply.bulk(value);
        }
    };
    match picked {
        Picked::Repeated(hash, n) => {
            for _ in 0..n {
                if let Some((field, value)) = hash.random_entry() {
                    one(field, value);
                }
            }
        }
        Picked::Distinct(entries) => {
            for (field, value) in entries {
                one(field, value);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// HSCAN
// ---------------------------------------------------------------------------------------------

/// ```text
/// HSCAN key cursor [MATCH pattern] [COUNT count]
/// ```
/// A two-element array: the next cursor (a bulk string, `0` when done) and a flat array
/// `field1 value1 field2 value2 ...`. The cursor follows SCAN's rules (see
/// [`super::generic::scan`]): every field present for the whole iteration is returned at
/// least once. `MATCH` filters fields with a glob pattern; `COUNT` (default 10) is a hint of
/// how much work to do per call and, as in Redis, counts fields and values alike, so it visits
/// about `count / 2` fields. A hash small enough for Redis's listpack encoding is returned
/// whole in one call with cursor 0, whatever the cursor and COUNT, as Redis does.
///
/// Errors, in Redis's order: "ERR invalid cursor"; then for a missing key the empty result
/// `["0", []]` with no option checked; `WrongType`; `NotInteger` for a non-numeric COUNT;
/// `Syntax` for a COUNT below 1, TYPE (SCAN's only), an unknown option or a missing value.
pub(crate) fn hscan(ctx: &mut Ctx, db: &Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let cursor = parse_scan_cursor(&argv[2]).ok_or(CmdError::INVALID_CURSOR)?;
    let Some(hash) = lookup_read(ctx, db, &argv[1])? else {
        reply.array(2);
        reply.bulk(b"0");
        reply.array(0);
        return Ok(());
    };

    let options = super::generic::ScanOptions::parse(argv, 3, false)?;
    let (count, pattern) = (options.count, options.pattern);

    let keep = |field: &[u8]| pattern.map_or(true, |p| glob::matches(p, field, false));
    let (next, found) = if hash.is_listpack() {
        let all = hash.iter().filter(|(f, _)| keep(f));
        (0, all.map(|(f, v)| (f.clone(), v.clone())).collect())
    } else {
        scan_entries(hash, cursor, count, keep)
    };

    reply.array(2);
    reply.bulk(next.to_string().as_bytes());
    reply.array(found.len() * 2);
    for (field, value) in &found {
        reply.bulk(field);
        reply.bulk(value);
    }
    Ok(())
}

/// One HSCAN step over a hash table (the hash branch of Redis `scanGenericCommand`): visits
/// buckets from `cursor` until `count` items were visited (a field and its value are two
/// items, as Redis counts them), the cursor is back to 0, or `10 * count` extra buckets were
/// visited. As in Redis, `count` counts entries before filtering, so a call may return few or
/// no entries with a non-zero cursor. Returns the next cursor and copies of the visited
/// entries whose field `keep` accepts.
fn scan_entries(
    hash: &Hash,
    mut cursor: u64,
    count: usize,
    keep: impl Fn(&[u8]) -> bool,
) -> (u64, OwnedEntries) {
    let mut found = Vec::new();
    let mut items = 0usize;
    let mut budget = count.saturating_mul(10);
    loop {
        cursor = hash.scan(cursor, |field, value| {
            items += 2;
            if keep(field) {
                found.push((field.clone(), value.clone()));
            }
        });
        if cursor == 0 || budget == 0 || items >= count {
            return (cursor, found);
        }
        budget -= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash_of(n: usize, value_len: usize) -> Hash {
        Hash::from_pairs((0..n).map(|i| (format!("f{i}").into_bytes(), vec![b'v'; value_len])))
    }

    #[test]
    fn distinct_picks_are_distinct_and_sized() {
        let hash = hash_of(100, 1);
        // 10 takes the "draw until distinct" path, 50 the partial shuffle, 200 the whole hash.
        for (count, expected) in [(1, 1), (10, 10), (50, 50), (99, 99), (100, 100), (200, 100)] {
            let Picked::Distinct(entries) = pick_random_fields(&hash, count) else {
                panic!("a positive count picks distinct entries");
            };
            assert_eq!(entries.len(), expected, "count {count}");
            let fields: HashSet<_> = entries.iter().map(|(f, _)| *f).collect();
            assert_eq!(fields.len(), expected, "count {count} repeated a field");
            for (f, v) in entries {
                assert_eq!(hash.get(f), Some(v));
            }
        }
    }

    #[test]
    fn scan_entries_visits_everything_across_calls() {
        let hash = hash_of(1000, 1);
        let (mut cursor, mut seen, mut calls) = (0, HashSet::new(), 0);
        loop {
            let (next, found) = scan_entries(&hash, cursor, 20, |_| true);
            cursor = next;
            seen.extend(found.into_iter().map(|(f, _)| f));
            calls += 1;
            if cursor == 0 {
                break;
            }
        }
        assert_eq!(seen.len(), 1000);
        // COUNT 20 is about ten fields a call.
        assert!(calls > 50, "{calls} calls");
    }
}
