//! Set commands: adding, removing and testing members, random members, moving a member between
//! sets, intersections, unions and differences (with their STORE forms), and SSCAN.
//!
//! Counterpart of Redis `src/t_set.c`, checked against Redis 7.0.15.
//!
//! A set value ([`Value::Set`]) is a [`Set`] (`store/set.rs`): the members, and the encoding
//! Redis would have chosen (intset or hash table), which decides OBJECT ENCODING, the order
//! members are listed in, and whether SSCAN returns everything at once. This file holds the
//! commands; the type and its encoding rule are in the store.
//!
//! Rules shared by every command here, as in Redis:
//! - a key holding another type is `WRONGTYPE`; multi-key commands look their keys up from left
//!   to right and stop at the first wrong type, after counting the earlier lookups;
//! - a missing key is an empty set;
//! - a set emptied by SREM, SPOP or SMOVE is deleted, and no command creates an empty set
//!   (the STORE forms delete the destination instead).
//!
//! Keyspace statistics: the commands Redis runs with `lookupKeyRead` (SCARD, SISMEMBER,
//! SMISMEMBER, SMEMBERS, SRANDMEMBER, SSCAN, and the source keys of SINTER, SINTERCARD, SUNION,
//! SDIFF and their STORE forms) count a hit or a miss; SADD, SREM, SMOVE and SPOP
//! (`lookupKeyWrite`) count nothing.

use std::collections::HashSet;

use super::generic::parse_scan_cursor;
use super::{CmdError, CmdResult, CommandSpec, Ctx, Flags, Group, Handler, KeySpec};
use crate::glob;
use crate::notify;
use crate::protocol::{Argv, Reply};
use crate::store::set::Members;
use crate::store::{Db, Set, Value};
use crate::util::{eq_ci, parse_i64, random_u64};

/// How much bigger than the requested count a set must be before SRANDMEMBER picks members
/// one at a time instead of shuffling a copy of the whole set (Redis's
/// `SRANDMEMBER_SUB_STRATEGY_MUL`).
const SRANDMEMBER_SUB_STRATEGY_MUL: usize = 3;

const RW_FAST: Flags = Flags::WRITE.union(Flags::DENYOOM).union(Flags::FAST);
const W_FAST: Flags = Flags::WRITE.union(Flags::FAST);
const RW: Flags = Flags::WRITE.union(Flags::DENYOOM);
const RO_FAST: Flags = Flags::READONLY.union(Flags::FAST);
const RO: Flags = Flags::READONLY;

/// The set group's rows of the command table (arity, flags and key positions as Redis 7.0's
/// COMMAND INFO reports them).
#[rustfmt::skip]
pub(crate) static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("sadd", -3, RW_FAST, KeySpec::ONE, Group::Set, Handler::Write(sadd)),
    CommandSpec::new("srem", -3, W_FAST, KeySpec::ONE, Group::Set, Handler::Write(srem)),
    CommandSpec::new("scard", 2, RO_FAST, KeySpec::ONE, Group::Set, Handler::Read(scard)),
    CommandSpec::new("sismember", 3, RO_FAST, KeySpec::ONE, Group::Set, Handler::Read(sismember)),
    CommandSpec::new("smismember", -3, RO_FAST, KeySpec::ONE, Group::Set, Handler::Read(smismember)),
    CommandSpec::new("smembers", 2, RO, KeySpec::ONE, Group::Set, Handler::Read(smembers)),
    CommandSpec::new("spop", -2, W_FAST, KeySpec::ONE, Group::Set, Handler::Write(spop)),
    CommandSpec::new("srandmember", -2, RO, KeySpec::ONE, Group::Set, Handler::Read(srandmember)),
    CommandSpec::new("smove", 4, W_FAST, KeySpec::TWO, Group::Set, Handler::Write(smove)),
    CommandSpec::new("sinter", -2, RO, KeySpec::ALL, Group::Set, Handler::Read(sinter)),
    CommandSpec::new("sintercard", -3, RO.union(Flags::MOVABLEKEYS), KeySpec::NONE, Group::Set, Handler::Read(sintercard)),
    CommandSpec::new("sinterstore", -3, RW, KeySpec::ALL, Group::Set, Handler::Write(sinterstore)),
    CommandSpec::new("sunion", -2, RO, KeySpec::ALL, Group::Set, Handler::Read(sunion)),
    CommandSpec::new("sunionstore", -3, RW, KeySpec::ALL, Group::Set, Handler::Write(sunionstore)),
    CommandSpec::new("sdiff", -2, RO, KeySpec::ALL, Group::Set, Handler::Read(sdiff)),
    CommandSpec::new("sdiffstore", -3, RW, KeySpec::ALL, Group::Set, Handler::Write(sdiffstore)),
    CommandSpec::new("sscan", -3, RO, KeySpec::ONE, Group::Set, Handler::Read(sscan)),
];

// ---------------------------------------------------------------------------------------------
// Helpers: encoding, lookups, replies, randomness
// ---------------------------------------------------------------------------------------------

/// Replies with a whole set: a RESP3 set (`~`), an array in RESP2.
fn reply_members(reply: &mut Reply, members: &Set) {
    reply.set(members.len());
    for m in members.ordered() {
        reply.bulk(m);
    }
}

/// The set inside a value, or `WRONGTYPE` (Redis `checkType`).
fn as_set(value: &Value) -> Result<&Set, CmdError> {
    match value {
        Value::Set(members) => Ok(members),
        _ => Err(CmdError::WrongType),
    }
}

/// Redis `lookupKeyRead` + `checkType`: an expired key is missing, the lookup counts a
/// keyspace hit or miss and refreshes the access time.
fn lookup_read<'d>(ctx: &mut Ctx, db: &'d Db, key: &[u8]) -> Result<Option<&'d Set>, CmdError> {
    match ctx.lookup_read(db, key) {
        Some(value) => as_set(value).map(Some),
        None => Ok(None),
    }
}

/// Redis `lookupKeyWrite` + `checkType`: an expired key is deleted and reported missing;
/// nothing is counted.
fn lookup_write<'d>(
    ctx: &Ctx,
    db: &'d mut Db,
    key: &[u8],
) -> Result<Option<&'d mut Set>, CmdError> {
    match db.get_value_mut(key, ctx.now_ms) {
        Some(Value::Set(members)) => Ok(Some(members)),
        Some(_) => Err(CmdError::WrongType),
        None => Ok(None),
    }
}

/// Looks up every key of a multi-key command, left to right, as Redis's
/// `sinterGenericCommand` and `sunionDiffGenericCommand` do: a missing key is `None` (an empty
/// set), and the first key of another type ends the command with `WRONGTYPE`, even if an
/// earlier key was missing.
fn lookup_all<'d, 'a>(
    ctx: &mut Ctx,
    db: &'d Db,
    keys: impl Iterator<Item = &'a [u8]>,
) -> Result<Vec<Option<&'d Set>>, CmdError> {
    keys.map(|key| lookup_read(ctx, db, key)).collect()
}

/// A uniformly distributed number in `0..n` (`n > 0`), from the high bits of
/// [`random_u64`] by a multiply-shift.
fn random_below(n: usize) -> usize {
    ((u128::from(random_u64()) * n as u128) >> 64) as usize
}

/// A random member of a non-empty set.
fn random_member(members: &Members) -> &[u8] {
    members
        .random_entry()
        .map(|(m, _)| m.as_slice())
        .unwrap_or_default()
}

/// Parses a count argument the way Redis's `getRangeLongFromObjectOrReply` does when given
/// its own message: anything that is not an integer in `min..=max` gets that message.
fn arg_in_range(arg: &[u8], min: i64, max: i64, error: CmdError) -> Result<i64, CmdError> {
    match parse_i64(arg) {
        Some(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(error),
    }
}

// ---------------------------------------------------------------------------------------------
// SADD, SREM, SCARD, SISMEMBER, SMISMEMBER, SMEMBERS
// ---------------------------------------------------------------------------------------------

/// ```text
/// SADD key member [member ...]
/// ```
/// Integer: the number of members that were not already in the set. Creates the key when it
/// is missing (never empty: there is at least one member).
///
/// Errors: `WrongType`.
pub fn sadd(ctx: &mut Ctx, db: &mut Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let key = &argv[1];
    if lookup_write(ctx, db, key)?.is_none() {
        db.set(key, Value::Set(Box::default()), ctx.now_ms);
    }
    let members = lookup_write(ctx, db, key)?.ok_or(CmdError::WrongType)?;
    let mut added = 0;
    for member in argv.iter().skip(2) {
        if !members.contains_key(member) {
            members.insert(member.to_vec());
            added += 1;
        }
    }
    if added > 0 {
        db.notify(notify::SET, "sadd", key);
    }
    reply.int(added);
    ctx.changes = Some(added as u64);
    Ok(())
}

/// ```text
/// SREM key member [member ...]
/// ```
/// Integer: the number of members removed (members not in the set are ignored; a missing key
/// removes nothing). The key is deleted when its last member goes.
///
/// Errors: `WrongType`.
pub fn srem(ctx: &mut Ctx, db: &mut Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let key = &argv[1];
    let Some(members) = lookup_write(ctx, db, key)? else {
        reply.int(0);
        ctx.changes = Some(0);
        return Ok(());
    };
    let mut removed = 0;
    for member in argv.iter().skip(2) {
        if members.remove(member) {
            removed += 1;
            if members.is_empty() {
                break;
            }
        }
    }
    let emptied = members.is_empty();
    if removed > 0 {
        db.notify(notify::SET, "srem", key);
        if emptied {
            db.remove(key);
            db.notify(notify::GENERIC, "del", key);
        }
    }
    reply.int(removed);
    ctx.changes = Some(removed as u64);
    Ok(())
}

/// ```text
/// SCARD key
/// ```
/// Integer: the number of members, 0 for a missing key.
///
/// Errors: `WrongType`.
pub fn scard(ctx: &mut Ctx, db: &Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let n = lookup_read(ctx, db, &argv[1])?.map_or(0, |m| m.len());
    reply.int(n as i64);
    Ok(())
}

/// ```text
/// SISMEMBER key member
/// ```
/// Integer: 1 if `member` is in the set, 0 if not or if the key is missing.
///
/// Errors: `WrongType`.
pub fn sismember(ctx: &mut Ctx, db: &Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let found = lookup_read(ctx, db, &argv[1])?.is_some_and(|m| m.contains_key(&argv[2]));
    reply.int(found as i64);
    Ok(())
}

/// ```text
/// SMISMEMBER key member [member ...]
/// ```
/// Array of integers, one per `member` in argument order: 1 if it is in the set, else 0 (all
/// 0 for a missing key).
///
/// Errors: `WrongType`.
pub fn smismember(ctx: &mut Ctx, db: &Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let members = lookup_read(ctx, db, &argv[1])?;
    reply.array(argv.len() - 2);
    for member in argv.iter().skip(2) {
        reply.int(members.is_some_and(|m| m.contains_key(member)) as i64);
    }
    Ok(())
}

/// ```text
/// SMEMBERS key
/// ```
/// Set (RESP3 `~`, array in RESP2) of every member; empty for a missing key. Redis 7.0 runs
/// SMEMBERS as a one-key SINTER, and so does this.
///
/// Errors: `WrongType`.
pub fn smembers(ctx: &mut Ctx, db: &Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    sinter(ctx, db, argv, reply)
}

// ---------------------------------------------------------------------------------------------
// SPOP, SRANDMEMBER
// ---------------------------------------------------------------------------------------------

/// ```text
/// SPOP key [count]
/// ```
/// Without `count`: bulk string, a random member, removed from the set; null for a missing
/// key. With `count`: a set (RESP3 `~`) of up to `count` distinct random members, all removed;
/// empty for a missing key or a count of 0. A count at least the set's size pops the whole set
/// (in Redis's order, see the module docs). The key is deleted when emptied.
///
/// The count is checked before the key is looked up, as in Redis.
///
/// Errors: `ERR value is out of range, must be positive` for a count that is negative or not
/// an integer; `Syntax` for more arguments; `WrongType`.
pub fn spop(ctx: &mut Ctx, db: &mut Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let key = &argv[1];
    match argv.len() {
        2 => {
            let Some(members) = lookup_write(ctx, db, key)? else {
                reply.null();
                ctx.changes = Some(0);
                return Ok(());
            };
            let member = random_member(members).to_vec();
            members.remove(&member);
            let emptied = members.is_empty();
            db.notify(notify::SET, "spop", key);
            if emptied {
                db.remove(key);
                db.notify(notify::GENERIC, "del", key);
            }
            // mirrors spopCommand(): the random pick is recorded as the SREM of the member
            // it chose, so a replay removes the same one.
            if ctx.records_wanted() {
                ctx.propagate_as(Argv::from_args([&b"SREM"[..], key, &member]));
            }
            reply.bulk(&member);
            Ok(())
        }
        3 => spop_with_count(ctx, db, argv, reply),
        _ => Err(CmdError::Syntax),
    }
}

/// SPOP with a count (Redis `spopWithCountCommand`).
///
/// Redis switches strategy when `count` is close to the size (it keeps the few survivors and
/// hands back the rest); popping one random member at a time is O(count) either way, since a
/// random pick from the dict is O(1) expected, so respd keeps to the one strategy.
fn spop_with_count(ctx: &mut Ctx, db: &mut Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let key = &argv[1];
    let count = arg_in_range(&argv[2], 0, i64::MAX, CmdError::NotPositive)? as u64;
    let Some(_members) = lookup_write(ctx, db, key)? else {
        reply.set(0);
        ctx.changes = Some(0);
        return Ok(());
    };
    if count == 0 {
        reply.set(0);
        ctx.changes = Some(0);
        return Ok(());
    }
    db.notify(notify::SET, "spop", key);
    let records = ctx.records_wanted();
    let members = lookup_write(ctx, db, key)?.ok_or(CmdError::WrongType)?;
    ctx.changes = Some(count.min(members.len() as u64));
    // mirrors spopWithCountCommand(): popping the whole set is recorded as its DEL; a part
    // of it as one SREM per member popped (one transaction, see `Effects`).
    if count >= members.len() as u64 {
        reply_members(reply, members);
        db.remove(key);
        db.notify(notify::GENERIC, "del", key);
        ctx.propagate_as(Argv::from_args([&b"DEL"[..], key]));
        return Ok(());
    }
    reply.set(count as usize);
    let mut popped = Vec::new();
    for _ in 0..count {
        let member = random_member(members).to_vec();
        members.remove(&member);
        reply.bulk(&member);
        if records {
            popped.push(member);
        }
    }
    for member in popped {
        ctx.propagate_as(Argv::from_args([&b"SREM"[..], key, &member]));
    }
    Ok(())
}

/// ```text
/// SRANDMEMBER key [count]
/// ```
/// Without `count`: bulk string, a random member (not removed); null for a missing key.
/// With `count`: an array (an array in RESP3 too, unlike SPOP) of
/// - `count > 0`: `min(count, size)` *distinct* members; the whole set (in Redis's order) when
///   `count` is at least the size;
/// - `count < 0`: exactly `|count|` members, each drawn independently, so repeats are possible;
/// - `count = 0`, or a missing key: empty.
///
/// The count is checked before the key is looked up, as in Redis.
///
/// Errors: `NotInteger`; `ERR value is out of range, value must between -9223372036854775807
/// and 9223372036854775807` for `i64::MIN` (whose absolute value does not fit); `Syntax` for
/// more arguments; `WrongType`.
pub fn srandmember(ctx: &mut Ctx, db: &Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    match argv.len() {
        2 => {
            match lookup_read(ctx, db, &argv[1])? {
                Some(members) => reply.bulk(random_member(members)),
                None => reply.null(),
            }
            Ok(())
        }
        3 => srandmember_with_count(ctx, db, argv, reply),
        _ => Err(CmdError::Syntax),
    }
}

/// SRANDMEMBER with a count (Redis `srandmemberWithCountCommand`), with Redis's four cases.
fn srandmember_with_count(ctx: &mut Ctx, db: &Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let n = parse_i64(&argv[2]).ok_or(CmdError::NotInteger)?;
    if n == i64::MIN {
        return Err(CmdError::COUNT_IS_I64_MIN);
    }
    let (count, distinct) = (n.unsigned_abs() as usize, n >= 0);
    let Some(members) = lookup_read(ctx, db, &argv[1])? else {
        reply.array(0);
        return Ok(());
    };
    if count == 0 {
        reply.array(0);
        return Ok(());
    }
    let size = members.len();

    // Case 1: repeats allowed (or a single member): independent draws.
    if !distinct || count == 1 {
        reply.array(count);
        for _ in 0..count {
            reply.bulk(random_member(members));
        }
        return Ok(());
    }

    // Case 2: as many as there are, or more: the whole set.
    if count >= size {
        reply.array(size);
        for m in members.ordered() {
            reply.bulk(m);
        }
        return Ok(());
    }

    // Case 3: most of the set. Random draws would keep hitting members already taken, so
    // shuffle a list of all members just far enough to choose `count` of them (Fisher-Yates).
    if count * SRANDMEMBER_SUB_STRATEGY_MUL > size {
        let mut all: Vec<&[u8]> = members.keys().map(|m| m.as_slice()).collect();
        for i in 0..count {
            let j = i + random_below(size - i);
            all.swap(i, j);
        }
        reply.array(count);
        for m in &all[..count] {
            reply.bulk(m);
        }
        return Ok(());
    }

    // Case 4: a small part of a big set: draw until `count` distinct members turned up. At
    // most a third of the set is taken, so each draw is new with probability at least 2/3.
    let mut seen: HashSet<&[u8]> = HashSet::with_capacity(count);
    let mut picked: Vec<&[u8]> = Vec::with_capacity(count);
    while picked.len() < count {
        let m = random_member(members);
        if seen.insert(m) {
            picked.push(m);
        }
    }
    reply.array(count);
    for m in picked {
        reply.bulk(m);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// SMOVE
// ---------------------------------------------------------------------------------------------

/// ```text
/// SMOVE source destination member
/// ```
/// Integer: 1 if `member` was moved (or, when `source` and `destination` are the same key, is
/// in the set), 0 if it is not in `source` or `source` does not exist. The destination is
/// created if needed; the source is deleted when emptied.
///
/// In Redis's order: a missing source answers 0 before any type check (so even a destination
/// of another type gets 0); then a source, or an existing destination, of another type is
/// `WRONGTYPE`, whether or not the member is there.
///
/// Errors: `WrongType`.
pub fn smove(ctx: &mut Ctx, db: &mut Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let (src, dst, member) = (&argv[1], &argv[2], &argv[3]);
    // Both lookups first, as Redis's two lookupKeyWrite calls: expired keys go now.
    db.expire_if_needed(src, ctx.now_ms);
    db.expire_if_needed(dst, ctx.now_ms);
    let Some(src_value) = db.get_value(src, ctx.now_ms) else {
        reply.int(0);
        ctx.changes = Some(0);
        return Ok(());
    };
    let src_set = as_set(src_value)?;
    if let Some(dst_value) = db.get_value(dst, ctx.now_ms) {
        as_set(dst_value)?;
    }
    if src == dst {
        reply.int(src_set.contains_key(member) as i64);
        ctx.changes = Some(0);
        return Ok(());
    }

    let src_set = lookup_write(ctx, db, src)?.ok_or(CmdError::WrongType)?;
    if !src_set.remove(member) {
        reply.int(0);
        ctx.changes = Some(0);
        return Ok(());
    }
    let emptied = src_set.is_empty();
    db.notify(notify::SET, "srem", src);
    if emptied {
        db.remove(src);
        db.notify(notify::GENERIC, "del", src);
    }
    // The destination counts as modified, for WATCH and for a "sadd" event, only if the
    // member was new to it (Redis's test "SMOVE only notify dstset when the addition is
    // successful"): a member already there leaves it untouched.
    let already_there = db
        .get_value(dst, ctx.now_ms)
        .is_some_and(|v| as_set(v).is_ok_and(|s| s.contains_key(member)));
    if !already_there {
        match lookup_write(ctx, db, dst)? {
            Some(dst_set) => {
                dst_set.insert(member.to_vec());
            }
            None => {
                let mut dst_set = Set::default();
                dst_set.insert(member.to_vec());
                db.set(dst, Value::Set(Box::new(dst_set)), ctx.now_ms);
            }
        }
        db.notify(notify::SET, "sadd", dst);
    }
    reply.int(1);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// SINTER, SINTERCARD, SINTERSTORE
// ---------------------------------------------------------------------------------------------

/// The intersection of `sets`, or `None` if one of them is missing (an empty result).
///
/// Walks the smallest set and keeps the members every other set has, as Redis does after
/// sorting the sets by size. Stops once `limit` members are found (0: no limit), which is
/// what makes `SINTERCARD ... LIMIT` cheap.
fn intersect(sets: &[Option<&Set>], limit: usize) -> Members {
    let mut out = Members::new();
    let Some(mut sets) = sets.iter().copied().collect::<Option<Vec<&Set>>>() else {
        return out;
    };
    sets.sort_by_key(|s| s.len());
    let (smallest, others) = sets.split_first().expect("at least one key");
    for member in smallest.keys() {
        if others.iter().all(|s| s.contains_key(member)) {
            out.insert(member.clone(), ());
            if out.len() == limit {
                break;
            }
        }
    }
    out
}

/// ```text
/// SINTER key [key ...]
/// ```
/// Set (RESP3 `~`) of the members present in every given set; empty if any key is missing.
///
/// Errors: `WrongType` (every key is type-checked, even after a missing one).
pub fn sinter(ctx: &mut Ctx, db: &Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let sets = lookup_all(ctx, db, argv.iter().skip(1))?;
    reply_members(reply, &Set::from_members(intersect(&sets, 0)));
    Ok(())
}

/// ```text
/// SINTERCARD numkeys key [key ...] [LIMIT limit]
/// ```
/// Integer: the size of the intersection, counting stops at `limit` when it is not 0.
/// `LIMIT` may repeat (the last wins).
///
/// Errors, in Redis's order: `ERR numkeys should be greater than 0` (also for a non-integer);
/// `ERR Number of keys can't be greater than number of args`; `ERR LIMIT can't be negative`
/// (also for a non-integer); `Syntax` for anything else after the keys; then `WrongType`.
pub fn sintercard(ctx: &mut Ctx, db: &Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let numkeys = arg_in_range(&argv[1], 1, i64::MAX, CmdError::NumkeysNotPositive)?;
    let numkeys = usize::try_from(numkeys).unwrap_or(usize::MAX);
    if numkeys > argv.len() - 2 {
        return Err(CmdError::NUMKEYS_OVER_ARGS);
    }
    let mut limit = 0;
    let mut i = 2 + numkeys;
    while i < argv.len() {
        if eq_ci(&argv[i], "limit") && i + 1 < argv.len() {
            limit = arg_in_range(&argv[i + 1], 0, i64::MAX, CmdError::LIMIT_NEGATIVE)?;
            i += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let sets = lookup_all(ctx, db, argv.iter().skip(2).take(numkeys))?;
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    reply.int(intersect(&sets, limit).len() as i64);
    Ok(())
}

/// Stores `result` under `dst` and replies with its size, or deletes `dst` when the result is
/// empty (Redis never stores an empty set). The destination's old value and TTL are
/// discarded, whatever its type.
///
/// Reports `event` (`sinterstore`, `sunionstore`, `sdiffstore`) for a stored result, `del`
/// for a destination deleted.
fn store_result(
    ctx: &Ctx,
    db: &mut Db,
    dst: &[u8],
    result: Members,
    event: &'static str,
    reply: &mut Reply,
) {
    let n = result.len();
    if n == 0 {
        if db.delete(dst, ctx.now_ms) {
            db.notify(notify::GENERIC, "del", dst);
        }
    } else {
        db.set(
            dst,
            Value::Set(Box::new(Set::from_members(result))),
            ctx.now_ms,
        );
        db.notify(notify::SET, event, dst);
    }
    reply.int(n as i64);
}

/// The source sets of a STORE command (`argv[2..]`), looked up as SINTER/SUNION/SDIFF would.
/// Runs under the write lock, where Redis's read lookup also deletes expired keys; so expired
/// sources are deleted first, then the sets are borrowed.
fn compute_store(
    ctx: &mut Ctx,
    db: &mut Db,
    argv: &Argv,
    op: fn(&[Option<&Set>]) -> Members,
) -> Result<Members, CmdError> {
    for key in argv.iter().skip(2) {
        db.expire_if_needed(key, ctx.now_ms);
    }
    let sets = lookup_all(ctx, db, argv.iter().skip(2))?;
    Ok(op(&sets))
}

/// ```text
/// SINTERSTORE destination key [key ...]
/// ```
/// Integer: the size of the intersection, which replaces `destination` (deleted if the
/// intersection is empty).
///
/// Errors: `WrongType` for a source key (the destination may hold anything); nothing is
/// written then.
pub fn sinterstore(ctx: &mut Ctx, db: &mut Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let result = compute_store(ctx, db, argv, |sets| intersect(sets, 0))?;
    store_result(ctx, db, &argv[1], result, "sinterstore", reply);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// SUNION, SUNIONSTORE, SDIFF, SDIFFSTORE
// ---------------------------------------------------------------------------------------------

/// The union of `sets` (missing keys add nothing).
fn union(sets: &[Option<&Set>]) -> Members {
    let mut out = Members::new();
    for set in sets.iter().flatten() {
        for member in set.keys() {
            if !out.contains_key(member) {
                out.insert(member.clone(), ());
            }
        }
    }
    out
}

/// The members of the first set that are in none of the others. A missing first key gives
/// an empty result; missing later keys subtract nothing.
fn difference(sets: &[Option<&Set>]) -> Members {
    let mut out = Members::new();
    let Some((Some(first), others)) = sets.split_first() else {
        return out;
    };
    for member in first.keys() {
        if !others.iter().flatten().any(|s| s.contains_key(member)) {
            out.insert(member.clone(), ());
        }
    }
    out
}

/// ```text
/// SUNION key [key ...]
/// ```
/// Set (RESP3 `~`) of the members present in any of the given sets.
///
/// Errors: `WrongType`.
pub fn sunion(ctx: &mut Ctx, db: &Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let sets = lookup_all(ctx, db, argv.iter().skip(1))?;
    reply_members(reply, &Set::from_members(union(&sets)));
    Ok(())
}

/// ```text
/// SUNIONSTORE destination key [key ...]
/// ```
/// Integer: the size of the union, which replaces `destination` (deleted if empty).
///
/// Errors: `WrongType` for a source key.
pub(crate) fn sunionstore(ctx: &mut Ctx, db: &mut Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let result = compute_store(ctx, db, argv, union)?;
    store_result(ctx, db, &argv[1], result, "sunionstore", reply);
    Ok(())
}

/// ```text
/// SDIFF key [key ...]
/// ```
/// Set (RESP3 `~`) of the members of the first set that are in none of the others.
///
/// Errors: `WrongType` (every key is type-checked, even when the first is missing).
pub fn sdiff(ctx: &mut Ctx, db: &Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let sets = lookup_all(ctx, db, argv.iter().skip(1))?;
    reply_members(reply, &Set::from_members(difference(&sets)));
    Ok(())
}

/// ```text
/// SDIFFSTORE destination key [key ...]
/// ```
/// Integer: the size of the difference, which replaces `destination` (deleted if empty).
///
/// Errors: `WrongType` for a source key.
pub fn sdiffstore(ctx: &mut Ctx, db: &mut Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let result = compute_store(ctx, db, argv, difference)?;
    store_result(ctx, db, &argv[1], result, "sdiffstore", reply);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// SSCAN
// ---------------------------------------------------------------------------------------------

/// One SSCAN step over a hash-table set (the set branch of Redis `scanGenericCommand`): visit
/// buckets from `cursor` until `count` members were seen, the cursor is back to 0, or
/// `10 * count` buckets were visited. Returns the next cursor and copies of the visited
/// members (the dict lends each member to the callback only for the call).
fn scan_members(members: &Members, mut cursor: u64, count: usize) -> (u64, Vec<Vec<u8>>) {
    let mut found: Vec<Vec<u8>> = Vec::new();
    let mut budget = count.saturating_mul(10);
    loop {
        cursor = members.scan(cursor, |m, _| found.push(m.clone()));
        if cursor == 0 || budget == 0 || found.len() >= count {
            break;
        }
        budget -= 1;
    }
    (cursor, found)
}

/// ```text
/// SSCAN key cursor [MATCH pattern] [COUNT count]
/// ```
/// A two-element array: the next cursor (bulk string, `0` when done) and an array of members.
/// Same contract as SCAN: every member present for the whole iteration is returned at least
/// once. `COUNT` (default 10) is how many members to visit, before `MATCH` filters them. A set
/// Redis keeps as an intset comes back whole, in one call, with cursor 0.
///
/// As in Redis, the cursor is parsed first, then the key is looked up, and the options are
/// read only for an existing set (a missing key answers `0` and nothing, whatever follows).
///
/// Errors: `ERR invalid cursor`; `WrongType`; `NotInteger` for a non-numeric COUNT; `Syntax`
/// for a COUNT below 1, an unknown option (TYPE is only for SCAN) or a missing value.
pub fn sscan(ctx: &mut Ctx, db: &Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let cursor = parse_scan_cursor(&argv[2]).ok_or(CmdError::INVALID_CURSOR)?;
    let Some(members) = lookup_read(ctx, db, &argv[1])? else {
        reply.array(2);
        reply.bulk(b"0");
        reply.array(0);
        return Ok(());
    };
    let options = super::generic::ScanOptions::parse(argv, 3, false)?;
    let (count, pattern) = (options.count, options.pattern);

    let (next, visited) = if members.is_intset() {
        (
            0,
            members.ordered().into_iter().map(<[u8]>::to_vec).collect(),
        )
    } else {
        scan_members(members, cursor, count)
    };
    let kept: Vec<Vec<u8>> = visited
        .into_iter()
        .filter(|m| pattern.map_or(true, |p| glob::matches(p, m, false)))
        .collect();
    reply.array(2);
    reply.bulk(next.to_string().as_bytes());
    reply.array(kept.len());
    for m in &kept {
        reply.bulk(m);
    }
    Ok(())
}
