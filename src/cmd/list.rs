//! List commands: pushing and popping at both ends, ranges, positional edits, searching, and
//! moving elements between lists.
//!
//! Counterpart of Redis `src/t_list.c`, checked against Redis 7.0.15. The blocking variants
//! (BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP) are not here: they need the server to park a
//! client until another one pushes, which the connection loop does not do yet.
//!
//! # Representation
//! A list is a [`VecDeque`] of byte strings ([`Value::List`]): O(1) push and pop at both ends
//! and O(1) indexing, which is what Redis's quicklist (a linked list of packed nodes) offers
//! for the ends and approximates in the middle. Redis 7.0 reports every list as `quicklist` in
//! OBJECT ENCODING, however small, and so does respd. Redis stores canonical integers inside
//! list nodes as numbers, but always gives back the same bytes it was given, so keeping plain
//! bytes is indistinguishable from outside.
//!
//! # Rules every command here follows
//! - A list never exists empty: a command that removes the last element deletes the key, and
//!   a command that would create a list with nothing in it creates no key.
//! - A key of another type gives [`CmdError::WrongType`]. Where Redis parses an argument
//!   before looking the key up (LRANGE's indexes, LPOP's count, LPOS's options, LMOVE's
//!   directions), that argument's error wins over WRONGTYPE; where it looks the key up first
//!   (LINDEX, LSET), a missing key or the wrong type is reported before a bad index.
//! - Read-only commands (LLEN, LRANGE, LINDEX, LPOS) use Redis's read lookup, which counts a
//!   keyspace hit or miss for INFO; the writers use the write lookup, which counts nothing and
//!   deletes an expired key on the spot.
//!
//! Shared bodies carry Redis's names: [`push_generic`] (LPUSH, RPUSH, LPUSHX, RPUSHX),
//! [`pop_generic`] (LPOP, RPOP), [`lmove_generic`] (LMOVE, RPOPLPUSH) and [`mpop_generic`]
//! (LMPOP).

use std::collections::VecDeque;

use super::{CmdError, CmdResult, CommandSpec, Ctx, Flags, Group, Handler, KeySpec};
use crate::notify;
use crate::protocol::{Argv, Reply};
use crate::store::{Db, Value};
use crate::util::{eq_ci, parse_i64};

/// The stored form of a list.
/// The list representation in the store.
pub type List = VecDeque<Vec<u8>>;

const RW_FAST: Flags = Flags::WRITE.union(Flags::DENYOOM).union(Flags::FAST);
const RW: Flags = Flags::WRITE.union(Flags::DENYOOM);

/// The list group's rows of the command table (arity, flags and key positions as Redis 7.0's
/// COMMAND INFO reports them).
#[rustfmt::skip]
pub(crate) static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("lpush", -3, RW_FAST, KeySpec::ONE, Group::List, Handler::Write(lpush)),
    CommandSpec::new("rpush", -3, RW_FAST, KeySpec::ONE, Group::List, Handler::Write(rpush)),
    CommandSpec::new("lpushx", -3, RW_FAST, KeySpec::ONE, Group::List, Handler::Write(lpushx)),
    CommandSpec::new("rpushx", -3, RW_FAST, KeySpec::ONE, Group::List, Handler::Write(rpushx)),
    CommandSpec::new("lpop", -2, Flags::WRITE.union(Flags::FAST), KeySpec::ONE, Group::List, Handler::Write(lpop)),
    CommandSpec::new("rpop", -2, Flags::WRITE.union(Flags::FAST), KeySpec::ONE, Group::List, Handler::Write(rpop)),
    CommandSpec::new("llen", 2, Flags::READONLY.union(Flags::FAST), KeySpec::ONE, Group::List, Handler::Read(llen)),
    CommandSpec::new("lrange", 4, Flags::READONLY, KeySpec::ONE, Group::List, Handler::Read(lrange)),
    CommandSpec::new("lindex", 3, Flags::READONLY, KeySpec::ONE, Group::List, Handler::Read(lindex)),
    CommandSpec::new("lset", 4, RW, KeySpec::ONE, Group::List, Handler::Write(lset)),
    CommandSpec::new("linsert", 5, RW, KeySpec::ONE, Group::List, Handler::Write(linsert)),
    CommandSpec::new("lrem", 4, Flags::WRITE, KeySpec::ONE, Group::List, Handler::Write(lrem)),
    CommandSpec::new("ltrim", 4, Flags::WRITE, KeySpec::ONE, Group::List, Handler::Write(ltrim)),
    CommandSpec::new("lpos", -3, Flags::READONLY, KeySpec::ONE, Group::List, Handler::Read(lpos)),
    CommandSpec::new("lmove", 5, RW, KeySpec::TWO, Group::List, Handler::Write(lmove)),
    CommandSpec::new("rpoplpush", 3, RW, KeySpec::TWO, Group::List, Handler::Write(rpoplpush)),
    // The keys follow a count, so first/last/step cannot describe them (Redis reports 0 0 0
    // and the movablekeys flag).
    CommandSpec::new("lmpop", -4, Flags::WRITE.union(Flags::MOVABLEKEYS), KeySpec::NONE, Group::List, Handler::Write(lmpop)),
    CommandSpec::new("blpop", -3, Flags::WRITE.union(Flags::NOSCRIPT).union(Flags::BLOCKING), KeySpec::new(1, -2, 1), Group::List, Handler::Write(blpop)),
    CommandSpec::new("brpop", -3, Flags::WRITE.union(Flags::NOSCRIPT).union(Flags::BLOCKING), KeySpec::new(1, -2, 1), Group::List, Handler::Write(brpop)),
    CommandSpec::new("blmove", 6, RW.union(Flags::NOSCRIPT).union(Flags::BLOCKING), KeySpec::TWO, Group::List, Handler::Write(blmove)),
    CommandSpec::new("brpoplpush", 4, RW.union(Flags::NOSCRIPT).union(Flags::BLOCKING), KeySpec::TWO, Group::List, Handler::Write(brpoplpush)),
    CommandSpec::new("blmpop", -5, Flags::WRITE.union(Flags::BLOCKING).union(Flags::MOVABLEKEYS), KeySpec::NONE, Group::List, Handler::Write(blmpop)),
];

// ---------------------------------------------------------------------------------------------
// Helpers: ends of a list, lookups, argument parsing, index arithmetic
// ---------------------------------------------------------------------------------------------

/// One end of a list (Redis's `LIST_HEAD` / `LIST_TAIL`, spelled LEFT / RIGHT by clients).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The head: index 0, LEFT, the L of LPUSH.
    Head,
    /// The tail: index -1, RIGHT, the R of RPUSH.
    Tail,
}

impl End {
    /// Parses LEFT or RIGHT, case-insensitively (Redis `getListPositionFromObjectOrReply`).
    ///
    /// Errors: `Syntax` for anything else.
    pub fn parse(arg: &[u8]) -> Result<End, CmdError> {
        if eq_ci(arg, "left") {
            Ok(End::Head)
        } else if eq_ci(arg, "right") {
            Ok(End::Tail)
        } else {
            Err(CmdError::Syntax)
        }
    }

    /// Adds `element` at this end.
    pub fn push(self, list: &mut List, element: Vec<u8>) {
        match self {
            End::Head => list.push_front(element),
            End::Tail => list.push_back(element),
        }
    }

    /// Removes the element at this end.
    pub fn pop(self, list: &mut List) -> Option<Vec<u8>> {
        match self {
            End::Head => list.pop_front(),
            End::Tail => list.pop_back(),
        }
    }

    /// The keyspace event of a push at this end: `lpush` or `rpush`.
    pub(crate) fn push_event(self) -> &'static str {
        match self {
            End::Head => "lpush",
            End::Tail => "rpush",
        }
    }

    /// The keyspace event of a pop at this end: `lpop` or `rpop`.
    pub(crate) fn pop_event(self) -> &'static str {
        match self {
            End::Head => "lpop",
            End::Tail => "rpop",
        }
    }
}

/// After elements were popped from `end` of the list at `key`: reports the pop, and deletes
/// the key, reporting `del`, if the list is now empty (Redis `listElementsRemoved`).
pub(crate) fn elements_removed(db: &mut Db, key: &[u8], end: End) {
    db.notify(notify::LIST, end.pop_event(), key);
    delete_if_empty(db, key);
}

/// Deletes `key`, reporting `del`, if it holds an empty list or sorted set: empty
/// aggregates do not exist in Redis.
pub(crate) fn delete_if_empty(db: &mut Db, key: &[u8]) {
    let empty = match db.peek(key, 0) {
        Some(entry) => match &entry.value {
            Value::List(l) => l.is_empty(),
            Value::ZSet(z) => z.is_empty(),
            Value::Set(s) => s.is_empty(),
            Value::Hash(h) => h.is_empty(),
            _ => false,
        },
        None => false,
    };
    if empty {
        db.remove(key);
        db.notify(notify::GENERIC, "del", key);
    }
}

/// Redis `lookupKeyRead` + `checkType`: the list at `key`, `None` if the key is missing.
/// Counts a keyspace hit or miss.
///
/// Errors: `WrongType` if the key holds another type.
fn list_read<'a>(ctx: &mut Ctx, db: &'a Db, key: &[u8]) -> Result<Option<&'a List>, CmdError> {
    match ctx.lookup_read(db, key) {
        None => Ok(None),
        Some(Value::List(list)) => Ok(Some(list)),
        Some(_) => Err(CmdError::WrongType),
    }
}

/// Redis `lookupKeyWrite` + `checkType`: the list at `key` for modification, `None` if the key
/// is missing. Counts nothing; an expired key is deleted on the way.
///
/// Errors: `WrongType` if the key holds another type.
fn list_write<'a>(ctx: &Ctx, db: &'a mut Db, key: &[u8]) -> Result<Option<&'a mut List>, CmdError> {
    match db.get_value_mut(key, ctx.now_ms) {
        None => Ok(None),
        Some(Value::List(list)) => Ok(Some(list)),
        Some(_) => Err(CmdError::WrongType),
    }
}

/// Reads an integer argument (Redis `getLongFromObjectOrReply`).
fn arg_i64(arg: &[u8]) -> Result<i64, CmdError> {
    parse_i64(arg).ok_or(CmdError::NotInteger)
}

/// Reads an integer that must lie in `min..=max` (Redis `getRangeLongFromObjectOrReply` with
/// a custom message): a non-number and an out-of-range number give the same `error`, as in
/// Redis.
fn arg_in_range(arg: &[u8], min: i64, max: i64, error: CmdError) -> Result<i64, CmdError> {
    match parse_i64(arg) {
        Some(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(error),
    }
}

/// Turns LRANGE/LTRIM's `start` and `stop` into an inclusive range of positions in a list of
/// `len` elements, or `None` when the range selects nothing.
///
/// Redis's rule: negative indexes count from the tail (-1 is the last element); a start
/// before the head is clamped to 0 and a stop past the tail to the last element; the range is
/// empty when start lies after stop or past the tail. (Adding a negative index to a length
/// cannot overflow, so no check is needed there.)
fn clamp_range(start: i64, stop: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let start = if start < 0 { len + start } else { start }.max(0);
    let stop = if stop < 0 { len + stop } else { stop };
    if start > stop || start >= len {
        return None;
    }
    Some((start as usize, stop.min(len - 1) as usize))
}

/// The position of one element (LINDEX, LSET): negative indexes count from the tail; `None`
/// when the index falls outside the list.
fn element_position(index: i64, len: usize) -> Option<usize> {
    let len = len as i64;
    let index = if index < 0 { len + index } else { index };
    (0..len).contains(&index).then_some(index as usize)
}

/// Writes `elements` as an array of bulk strings.
fn reply_elements<'a>(
    reply: &mut Reply,
    count: usize,
    elements: impl Iterator<Item = &'a Vec<u8>>,
) {
    reply.array(count);
    for element in elements {
        reply.bulk(element);
    }
}

// ---------------------------------------------------------------------------------------------
// LPUSH, RPUSH, LPUSHX, RPUSHX
// ---------------------------------------------------------------------------------------------

/// The body of LPUSH, RPUSH, LPUSHX and RPUSHX (Redis `pushGenericCommand` and
/// `pushxGenericCommand`): pushes `argv[2..]` one by one at `end`, so LPUSH of `a b c` leaves
/// `c b a` at the head. With `only_if_exists` (the X variants) a missing key is left alone and
/// the reply is 0. An existing key keeps its TTL.
///
/// Errors: `WrongType`.
pub(crate) fn push_generic(
    ctx: &mut Ctx,
    db: &mut Db,
    argv: &Argv,
    end: End,
    only_if_exists: bool,
    reply: &mut Reply,
) -> CmdResult {
    let key = &argv[1];
    let elements = argv.iter().skip(2).map(<[u8]>::to_vec);
    match list_write(ctx, db, key)? {
        Some(list) => {
            for element in elements {
                end.push(list, element);
            }
            reply.int(list.len() as i64);
        }
        None if only_if_exists => {
            reply.int(0);
            ctx.changes = Some(0);
            return Ok(());
        }
        None => {
            // The arity (at least one element) guarantees the new list is not empty.
            let mut list = List::with_capacity(argv.len() - 2);
            for element in elements {
                end.push(&mut list, element);
            }
            reply.int(list.len() as i64);
            db.set(key, Value::List(list), ctx.now_ms);
        }
    }
    db.notify(notify::LIST, end.push_event(), key);
    Ok(())
}

/// ```text
/// LPUSH key element [element ...]
/// ```
/// Integer: the length of the list after the pushes. Creates the list if needed.
/// Errors: `WrongType`.
pub fn lpush(ctx: &mut Ctx, db: &mut Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    push_generic(ctx, db, argv, End::Head, false, reply)
}

/// ```text
/// RPUSH key element [element ...]
/// ```
/// Integer: the length of the list after the pushes. Creates the list if needed.
/// Errors: `WrongType`.
pub fn rpush(ctx: &mut Ctx, db: &mut Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    push_generic(ctx, db, argv, End::Tail, false, reply)
}

/// ```text
/// LPUSHX key element [element ...]
/// ```
/// Integer: the length of the list after the pushes, 0 (and no key) if the list does not
/// exist. Errors: `WrongType`.
pub fn lpushx(ctx: &mut Ctx, db: &mut Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    push_generic(ctx, db, argv, End::Head, true, reply)
}

/// ```text
/// RPUSHX key element [element ...]
/// ```
/// Integer: the length of the list after the pushes, 0 (and no key) if the list does not
/// exist. Errors: `WrongType`.
pub(crate) fn rpushx(ctx: &mut Ctx, db: &mut Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    push_generic(ctx, db, argv, End::Tail, true, reply)
}

// ---------------------------------------------------------------------------------------------
// LPOP, RPOP, LMPOP
// ---------------------------------------------------------------------------------------------

/// The body of LPOP and RPOP (Redis `popGenericCommand`).
///
/// Without a count: the element (bulk), or null if the key is missing. With a count: an array
/// of up to `count` elements in popping order; an empty array for count 0 on an existing list;
/// the *null array* for a missing key, whatever the count (RESP2 `*-1`, RESP3 `_`).
/// The count is validated before the key is looked up.
///
/// Errors: `Message("ERR value is out of range, must be positive")` for a negative or
/// non-numeric count; `WrongArity` for more than one count (the table's arity, -2, cannot
/// say "at most 3"); `WrongType`.
pub(crate) fn pop_generic(
    ctx: &mut Ctx,
    db: &mut Db,
    argv: &Argv,
    end: End,
    reply: &mut Reply,
) -> CmdResult {
    let count = match argv.len() {
        2 => None,
        3 => Some(arg_in_range(&argv[2], 0, i64::MAX, CmdError::NotPositive)? as usize),
        _ => return Err(CmdError::WrongArity),
    };
    let key = &argv[1];
    let Some(list) = list_write(ctx, db, key)? else {
        match count {
            Some(_) => reply.null_array(),
            None => reply.null(),
        }
        ctx.changes = Some(0);
        return Ok(());
    };
    match count {
        None => {
            let element = end.pop(list).expect("stored lists are never empty");
            reply.bulk(&element);
        }
        Some(0) => {
            // mirrors popGenericCommand()'s fast exit: nothing popped, nothing reported
            reply.array(0);
            ctx.changes = Some(0);
            return Ok(());
        }
        Some(count) => {
            let n = count.min(list.len());
            reply.array(n);
            for _ in 0..n {
                let element = end.pop(list).expect("n is at most the length");
                reply.bulk(&element);
            }
        }
    }
    elements_removed(db, key, end);
    Ok(())
}

/// ```text
/// LPOP key [count]
/// ```
/// See [`pop_generic`]: the first element (bulk), or an array of the first `count` elements.
pub fn lpop(ctx: &mut Ctx, db: &mut Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    pop_generic(ctx, db, argv, End::Head, reply)
}

/// ```text
/// RPOP key [count]
/// ```
/// See [`pop_generic`]: the last element (bulk), or an array of the last `count` elements,
/// last first.
pub fn rpop(ctx: &mut Ctx, db: &mut Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    pop_generic(ctx, db, argv, End::Tail, reply)
}

/// The body of LMPOP (Redis `mpopGenericCommand`, non-blocking path): pops up to `count`
/// elements from `end` of the first non-empty list among `keys` and replies
/// `[key, [elements...]]`, or the null array if every key is missing.
///
/// Keys are visited in order and each is type-checked as it is reached, so a wrong-type key
/// after the first existing list goes unnoticed, as in Redis.
///
/// Errors: `WrongType`.
pub(crate) fn mpop_generic(
    ctx: &mut Ctx,
    db: &mut Db,
    keys: &[&[u8]],
    end: End,
    count: usize,
    reply: &mut Reply,
) -> CmdResult {
    for &key in keys {
        let Some(list) = list_write(ctx, db, key)? else {
            continue;
        };
        let n = count.min(list.len());
        reply.array(2);
        reply.bulk(key);
        reply.array(n);
        for _ in 0..n {
            let element = end.pop(list).expect("n is at most the length");
            reply.bulk(&element);
        }
        elements_removed(db, key, end);
        // mirrors mpopGenericCommand(): [B]LMPOP is recorded as the LPOP/RPOP of the key it
        // popped from, with the number popped.
        let n = n.to_string();
        ctx.propagate_as(Argv::from_args([
            crate::blocking::pop_name(end),
            key,
            n.as_bytes(),
        ]));
        return Ok(());
    }
    reply.null_array();
    ctx.changes = Some(0);
    Ok(())
}

/// ```text
/// LMPOP numkeys key [key ...] LEFT|RIGHT [COUNT count]
/// ```
/// Array `[key, [element ...]]` from the first non-empty list (see [`mpop_generic`]); the null
/// array when all are missing. COUNT defaults to 1 and may be given once.
///
/// Errors, in Redis's order (all before any key is looked up):
/// `Message("ERR numkeys should be greater than 0")` ([`CmdError::NumkeysNotPositive`]) for a
/// numkeys that is not a positive integer; `Syntax` when the arguments run out before
/// LEFT/RIGHT, for a direction other than LEFT/RIGHT, or for an unknown or repeated option;
/// `Message("ERR count should be greater than 0")`; then `WrongType`.
pub fn lmpop(ctx: &mut Ctx, db: &mut Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let (keys, end, count) = mpop_arguments(argv, 1)?;
    mpop_generic(ctx, db, &keys, end, count, reply)
}

/// Parses `numkeys key [key ...] LEFT|RIGHT [COUNT count]` starting at `numkeys_index`
/// (LMPOP: 1, BLMPOP: 2, after the timeout), in Redis's order of checks.
fn mpop_arguments(argv: &Argv, numkeys_index: usize) -> Result<(Vec<&[u8]>, End, usize), CmdError> {
    let numkeys = arg_in_range(
        &argv[numkeys_index],
        1,
        i64::MAX,
        CmdError::NumkeysNotPositive,
    )? as usize;
    // The direction follows the keys; checked_add because numkeys may be as large as
    // i64::MAX, which Redis also answers with a syntax error.
    let where_idx = match numkeys.checked_add(numkeys_index + 1) {
        Some(i) if i < argv.len() => i,
        _ => return Err(CmdError::Syntax),
    };
    let end = End::parse(&argv[where_idx])?;
    let mut count = None;
    let mut j = where_idx + 1;
    while j < argv.len() {
        let more_args = j + 1 < argv.len();
        if count.is_none() && eq_ci(&argv[j], "count") && more_args {
            j += 1;
            count =
                Some(arg_in_range(&argv[j], 1, i64::MAX, CmdError::COUNT_NOT_POSITIVE)? as usize);
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    let keys: Vec<&[u8]> = (numkeys_index + 1..where_idx).map(|i| &argv[i]).collect();
    Ok((keys, end, count.unwrap_or(1)))
}

// ---------------------------------------------------------------------------------------------
// Blocking variants: BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP (see crate::blocking)
// ---------------------------------------------------------------------------------------------

/// ```text
/// BLPOP key [key ...] timeout
/// ```
/// `[key, element]` from the first non-empty list; if all are empty, blocks until an element
/// arrives (then the same reply) or `timeout` seconds pass (null array; 0 waits forever).
/// Inside MULTI/EXEC it never blocks and answers the null array at once.
///
/// Errors: "timeout is not a float or out of range", "timeout is negative" (checked first),
/// `WrongType` for a key reached before the first non-empty list.
pub fn blpop(ctx: &mut Ctx, db: &mut Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    blocking_pop_generic(ctx, db, argv, End::Head, reply)
}

/// ```text
/// BRPOP key [key ...] timeout
/// ```
/// As [`blpop`], from the tail.
pub(crate) fn brpop(ctx: &mut Ctx, db: &mut Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    blocking_pop_generic(ctx, db, argv, End::Tail, reply)
}

/// The body of BLPOP and BRPOP (Redis `blockingPopGenericCommand`).
fn blocking_pop_generic(
    ctx: &mut Ctx,
    db: &mut Db,
    argv: &Argv,
    end: End,
    reply: &mut Reply,
) -> CmdResult {
    let deadline = crate::blocking::parse_timeout(&argv[argv.len() - 1], ctx.now_ms)?;
    let keys: Vec<&[u8]> = (1..argv.len() - 1).map(|i| &argv[i]).collect();
    for &key in &keys {
        let Some(list) = list_write(ctx, db, key)? else {
            continue;
        };
        let element = end.pop(list).expect("stored lists are never empty");
        elements_removed(db, key, end);
        // mirrors blockingPopGenericCommand(): served at once, recorded as the plain pop.
        ctx.propagate_as(Argv::from_args([crate::blocking::pop_name(end), key]));
        reply.array(2);
        reply.bulk(key);
        reply.bulk(&element);
        return Ok(());
    }
    crate::blocking::block(
        ctx,
        db,
        &keys,
        crate::blocking::BlockedOp::Pop(end),
        deadline,
        reply,
    )
}

/// ```text
/// BLMOVE source destination LEFT|RIGHT LEFT|RIGHT timeout
/// ```
/// As LMOVE when `source` exists; otherwise blocks until it does (the moved element) or the
/// timeout passes (null).
///
/// Errors: `Syntax` for a bad direction, then the timeout errors, then `WrongType`.
pub fn blmove(ctx: &mut Ctx, db: &mut Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let from = End::parse(&argv[3])?;
    let to = End::parse(&argv[4])?;
    blocking_move_generic(ctx, db, argv, from, to, &argv[5], reply)
}

/// ```text
/// BRPOPLPUSH source destination timeout
/// ```
/// BLMOVE source destination RIGHT LEFT timeout.
pub fn brpoplpush(ctx: &mut Ctx, db: &mut Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    blocking_move_generic(ctx, db, argv, End::Tail, End::Head, &argv[3], reply)
}

/// The body of BLMOVE and BRPOPLPUSH (Redis `blmoveGenericCommand`): only the source is
/// looked at before blocking; the destination is checked when the move happens.
fn blocking_move_generic(
    ctx: &mut Ctx,
    db: &mut Db,
    argv: &Argv,
    from: End,
    to: End,
    timeout: &[u8],
    reply: &mut Reply,
) -> CmdResult {
    let deadline = crate::blocking::parse_timeout(timeout, ctx.now_ms)?;
    if list_write(ctx, db, &argv[1])?.is_some() {
        lmove_generic(ctx, db, &argv[1], &argv[2], from, to, reply)?;
        // mirrors blmoveGenericCommand(): served at once, recorded as the non-blocking move.
        let record = match argv.len() {
            6 => Argv::from_args([&b"LMOVE"[..], &argv[1], &argv[2], &argv[3], &argv[4]]),
            _ => Argv::from_args([&b"RPOPLPUSH"[..], &argv[1], &argv[2]]),
        };
        ctx.propagate_as(record);
        return Ok(());
    }
    let op = crate::blocking::BlockedOp::Move {
        from,
        to,
        destination: argv[2].to_vec(),
    };
    crate::blocking::block(ctx, db, &[&argv[1]], op, deadline, reply)
}

/// ```text
/// BLMPOP timeout numkeys key [key ...] LEFT|RIGHT [COUNT count]
/// ```
/// As LMPOP, blocking while every list is missing.
///
/// Errors: those of LMPOP, then the timeout errors (Redis parses the timeout last here).
pub(crate) fn blmpop(ctx: &mut Ctx, db: &mut Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let (keys, end, count) = mpop_arguments(argv, 2)?;
    let deadline = crate::blocking::parse_timeout(&argv[1], ctx.now_ms)?;
    for &key in &keys {
        if list_write(ctx, db, key)?.is_some() {
            return mpop_generic(ctx, db, &keys, end, count, reply);
        }
    }
    crate::blocking::block(
        ctx,
        db,
        &keys,
        crate::blocking::BlockedOp::MultiPop { end, count },
        deadline,
        reply,
    )
}

// ---------------------------------------------------------------------------------------------
// LLEN, LRANGE, LINDEX, LPOS (read only)
// ---------------------------------------------------------------------------------------------

/// ```text
/// LLEN key
/// ```
/// Integer: the number of elements, 0 for a missing key. Errors: `WrongType`.
pub(crate) fn llen(ctx: &mut Ctx, db: &Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let len = list_read(ctx, db, &argv[1])?.map_or(0, VecDeque::len);
    reply.int(len as i64);
    Ok(())
}

/// ```text
/// LRANGE key start stop
/// ```
/// Array of the elements from `start` to `stop`, both inclusive, negative indexes counting
/// from the tail (see `clamp_range`); an empty array for a missing key or an empty range.
///
/// Errors: `NotInteger` (checked before the key is looked up), `WrongType`.
pub fn lrange(ctx: &mut Ctx, db: &Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let start = arg_i64(&argv[2])?;
    let stop = arg_i64(&argv[3])?;
    let Some(list) = list_read(ctx, db, &argv[1])? else {
        reply.array(0);
        return Ok(());
    };
    match clamp_range(start, stop, list.len()) {
        Some((first, last)) => reply_elements(reply, last - first + 1, list.range(first..=last)),
        None => reply.array(0),
    }
    Ok(())
}

/// ```text
/// LINDEX key index
/// ```
/// The element at `index` (bulk; negative counts from the tail), or null when the index is
/// out of range or the key is missing.
///
/// Errors: `WrongType`, then `NotInteger`. The key is looked up first, so a missing key
/// answers null even to a non-numeric index.
pub(crate) fn lindex(ctx: &mut Ctx, db: &Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let Some(list) = list_read(ctx, db, &argv[1])? else {
        reply.null();
        return Ok(());
    };
    let index = arg_i64(&argv[2])?;
    match element_position(index, list.len()) {
        Some(i) => reply.bulk(&list[i]),
        None => reply.null(),
    }
    Ok(())
}

/// ```text
/// LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len]
/// ```
/// The index (from the head) of the first match, or null; with COUNT, an array of the
/// indexes of up to `num-matches` matches (COUNT 0: all of them), possibly empty.
///
/// RANK n starts reporting at the n-th match; a negative rank scans from the tail (indexes are
/// still counted from the head). MAXLEN n compares at most n elements (0: no limit). Options
/// may repeat; the last one wins. All options are validated before the key is looked up.
///
/// Errors: `Syntax` (unknown option or missing value); `NotInteger` (RANK); the RANK-zero
/// message; `Message("ERR COUNT can't be negative")` and `Message("ERR MAXLEN can't be
/// negative")` (also for non-numbers, as in Redis); `WrongType`.
pub(crate) fn lpos(ctx: &mut Ctx, db: &Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let element = &argv[2];
    let mut rank: i64 = 1;
    let mut count: Option<i64> = None;
    let mut maxlen: i64 = 0;
    let mut j = 3;
    while j < argv.len() {
        let option = &argv[j];
        let Some(value) = argv.get(j + 1) else {
            return Err(CmdError::Syntax);
        };
        if eq_ci(option, "rank") {
            rank = arg_i64(value)?;
            if rank == 0 {
                return Err(CmdError::msg(
                    "ERR RANK can't be zero: use 1 to start from the first match, 2 from the \
                     second ... or use negative to start from the end of the list",
                ));
            }
        } else if eq_ci(option, "count") {
            let error = CmdError::msg("ERR COUNT can't be negative");
            count = Some(arg_in_range(value, 0, i64::MAX, error)?);
        } else if eq_ci(option, "maxlen") {
            let error = CmdError::msg("ERR MAXLEN can't be negative");
            maxlen = arg_in_range(value, 0, i64::MAX, error)?;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 2;
    }
    let Some(list) = list_read(ctx, db, &argv[1])? else {
        match count {
            Some(_) => reply.array(0),
            None => reply.null(),
        }
        return Ok(());
    };

    // A negative rank means "scan from the tail". Redis negates it with plain C arithmetic,
    // so i64::MIN stays negative and then matches from the very first hit; the wrapping
    // operations below reproduce that (observed on 7.0.15) instead of panicking.
    let from_tail = rank < 0;
    if from_tail {
        rank = rank.wrapping_neg();
    }
    let len = list.len();
    let scan_limit = if maxlen == 0 {
        len
    } else {
        len.min(maxlen as usize)
    };
    let mut matches: i64 = 0;
    let mut found: Vec<usize> = Vec::new();
    for step in 0..scan_limit {
        // Indexes in the reply always count from the head, whichever way the scan goes.
        let i = if from_tail { len - 1 - step } else { step };
        if list[i] != element {
            continue;
        }
        matches += 1;
        if matches < rank {
            continue;
        }
        found.push(i);
        match count {
            None => break,
            Some(count) if count != 0 && matches.wrapping_sub(rank).wrapping_add(1) >= count => {
                break
            }
            Some(_) => {}
        }
    }
    match count {
        Some(_) => {
            reply.array(found.len());
            for i in found {
                reply.int(i as i64);
            }
        }
        None => match found.first() {
            Some(&i) => reply.int(i as i64),
            None => reply.null(),
        },
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// LSET, LINSERT, LREM, LTRIM (edits in place)
// ---------------------------------------------------------------------------------------------

/// ```text
/// LSET key index element
/// ```
/// `+OK` after replacing the element at `index` (negative counts from the tail).
///
/// Errors, in Redis's order: `NoSuchKey` for a missing key, `WrongType`, `NotInteger`, then
/// `Message("ERR index out of range")`.
pub(crate) fn lset(ctx: &mut Ctx, db: &mut Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let Some(list) = list_write(ctx, db, &argv[1])? else {
        return Err(CmdError::NoSuchKey);
    };
    let index = arg_i64(&argv[2])?;
    let Some(i) = element_position(index, list.len()) else {
        return Err(CmdError::msg("ERR index out of range"));
    };
    list[i] = argv[3].to_vec();
    db.notify(notify::LIST, "lset", &argv[1]);
    reply.ok();
    Ok(())
}

/// ```text
/// LINSERT key BEFORE|AFTER pivot element
/// ```
/// Integer: the new length after inserting `element` next to the first occurrence of
/// `pivot` (from the head); -1 if the pivot is not in the list; 0 if the key is missing.
///
/// Errors: `Syntax` (neither BEFORE nor AFTER; checked before the key), `WrongType`.
pub(crate) fn linsert(ctx: &mut Ctx, db: &mut Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let after = if eq_ci(&argv[2], "after") {
        true
    } else if eq_ci(&argv[2], "before") {
        false
    } else {
        return Err(CmdError::Syntax);
    };
    let Some(list) = list_write(ctx, db, &argv[1])? else {
        reply.int(0);
        return Ok(());
    };
    let pivot = &argv[3];
    match list.iter().position(|e| e.as_slice() == pivot) {
        Some(i) => {
            list.insert(if after { i + 1 } else { i }, argv[4].to_vec());
            reply.int(list.len() as i64);
            db.notify(notify::LIST, "linsert", &argv[1]);
        }
        None => reply.int(-1),
    }
    Ok(())
}

/// ```text
/// LREM key count element
/// ```
/// Integer: how many elements equal to `element` were removed: the first `count` from the
/// head if `count` > 0, the last `-count` from the tail if `count` < 0, all of them if 0.
/// Deletes the key if the list becomes empty; 0 for a missing key.
///
/// Errors: `NotInteger` (checked before the key), `WrongType`.
pub fn lrem(ctx: &mut Ctx, db: &mut Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let count = arg_i64(&argv[2])?;
    let key = &argv[1];
    let element = &argv[3];
    // Count first, with a lookup that does not mark the key for WATCH: Redis signals the key
    // only when something was removed.
    db.expire_if_needed(key, ctx.now_ms);
    let total = match db.peek(key, ctx.now_ms).map(|e| &e.value) {
        None => 0,
        Some(Value::List(list)) => list.iter().filter(|e| e.as_slice() == element).count(),
        Some(_) => return Err(CmdError::WrongType),
    };
    if total == 0 {
        reply.int(0);
        ctx.changes = Some(0);
        return Ok(());
    }
    let Some(list) = list_write(ctx, db, key)? else {
        reply.int(0);
        ctx.changes = Some(0);
        return Ok(());
    };
    let limit = usize::try_from(count.unsigned_abs()).unwrap_or(usize::MAX);
    let remove = if count == 0 { total } else { total.min(limit) };
    // Which matches go: from the head, matches 1..=remove; from the tail, the last `remove`
    // ones, i.e. every match after the first `total - remove`. One pass either way.
    let keep_first = if count < 0 { total - remove } else { 0 };
    let mut seen = 0;
    list.retain(|e| {
        if e.as_slice() != element {
            return true;
        }
        seen += 1;
        seen <= keep_first || seen > keep_first + remove
    });
    if remove > 0 {
        db.notify(notify::LIST, "lrem", key);
    }
    delete_if_empty(db, key);
    reply.int(remove as i64);
    ctx.changes = Some(remove as u64);
    Ok(())
}

/// ```text
/// LTRIM key start stop
/// ```
/// `+OK` after keeping only the elements from `start` to `stop` (inclusive, same index rules
/// as LRANGE). An empty range deletes the key; a missing key is fine.
///
/// Errors: `NotInteger` (checked before the key), `WrongType`.
pub(crate) fn ltrim(ctx: &mut Ctx, db: &mut Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let start = arg_i64(&argv[2])?;
    let stop = arg_i64(&argv[3])?;
    let key = &argv[1];
    if let Some(list) = list_write(ctx, db, key)? {
        match clamp_range(start, stop, list.len()) {
            Some((first, last)) => {
                list.truncate(last + 1);
                list.drain(..first);
            }
            None => list.clear(),
        }
        db.notify(notify::LIST, "ltrim", key);
        delete_if_empty(db, key);
    }
    reply.ok();
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// LMOVE, RPOPLPUSH
// ---------------------------------------------------------------------------------------------

/// The body of LMOVE and RPOPLPUSH (Redis `lmoveGenericCommand`): pops an element from `from`
/// of the list at `source` and pushes it at `to` of the list at `destination` (created if
/// needed), replying the element; null if `source` is missing (the destination is then not
/// even looked at).
///
/// With the same key on both sides the element moves within one list (LMOVE k k LEFT RIGHT
/// rotates it), and the list never becomes empty on the way, so a one-element list survives.
/// The destination keeps its TTL.
///
/// Errors: `WrongType` for either key; nothing is popped when the destination has the wrong
/// type.
pub(crate) fn lmove_generic(
    ctx: &mut Ctx,
    db: &mut Db,
    source: &[u8],
    destination: &[u8],
    from: End,
    to: End,
    reply: &mut Reply,
) -> CmdResult {
    if list_write(ctx, db, source)?.is_none() {
        reply.null();
        ctx.changes = Some(0);
        return Ok(());
    }
    // Validate the destination before touching the source. Each lookup borrows the whole
    // database, so the source is looked up again afterwards rather than held across the
    // destination's lookup (a second hash probe, and no unsafe aliasing when both are one key).
    let destination_exists = list_write(ctx, db, destination)?.is_some();
    let list = list_write(ctx, db, source)?.expect("checked above");
    let element = from.pop(list).expect("stored lists are never empty");
    reply.bulk(&element);
    if source == destination {
        to.push(list, element);
    } else if destination_exists {
        let list = list_write(ctx, db, destination)?.expect("checked above");
        to.push(list, element);
    } else {
        db.set(
            destination,
            Value::List(VecDeque::from([element])),
            ctx.now_ms,
        );
    }
    // mirrors lmoveGenericCommand(): the push is reported first (lmoveHandlePush), then the
    // pop, then the source's deletion if it is now empty
    db.notify(notify::LIST, to.push_event(), destination);
    elements_removed(db, source, from);
    Ok(())
}

/// ```text
/// LMOVE source destination LEFT|RIGHT LEFT|RIGHT
/// ```
/// The moved element (bulk), or null if `source` is missing. See [`lmove_generic`].
///
/// Errors: `Syntax` for a direction other than LEFT/RIGHT (checked before the keys),
/// `WrongType`.
pub fn lmove(ctx: &mut Ctx, db: &mut Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let from = End::parse(&argv[3])?;
    let to = End::parse(&argv[4])?;
    lmove_generic(ctx, db, &argv[1], &argv[2], from, to, reply)
}

/// ```text
/// RPOPLPUSH source destination
/// ```
/// LMOVE source destination RIGHT LEFT: the moved element (bulk), or null.
/// Errors: `WrongType`.
pub fn rpoplpush(ctx: &mut Ctx, db: &mut Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    lmove_generic(ctx, db, &argv[1], &argv[2], End::Tail, End::Head, reply)
}

#[cfg(test)]
mod tests {
    //! Index arithmetic, plus what the differential case files cannot show: RESP3 reply shapes
    //! (a case file cannot record HELLO 3, whose reply holds the client id) and the keyspace
    //! hit/miss counters, run through the socket-free harness. Expected bytes and counts were
    //! taken from Redis 7.0.15.

    use super::*;
    use crate::harness::Harness;

    #[test]
    fn resp3_nulls_and_arrays() {
        let h = Harness::new();
        h.run("HELLO 3");
        for (cmd, expected) in [
            (&["LPOP", "nokey", "2"][..], "_\r\n"),
            (&["LPOP", "nokey"], "_\r\n"),
            (&["LMPOP", "1", "nokey", "LEFT"], "_\r\n"),
            (&["LPOS", "nokey", "a"], "_\r\n"),
            (&["LPOS", "nokey", "a", "COUNT", "0"], "*0\r\n"),
            (&["LINDEX", "nokey", "0"], "_\r\n"),
            (&["RPUSH", "l", "a", "b"], ":2\r\n"),
            (&["LPOP", "l", "0"], "*0\r\n"),
            (
                &["LMPOP", "1", "l", "RIGHT", "COUNT", "5"],
                "*2\r\n$1\r\nl\r\n*2\r\n$1\r\nb\r\n$1\r\na\r\n",
            ),
            (&["LMOVE", "nokey", "x", "LEFT", "LEFT"], "_\r\n"),
        ] {
            assert_eq!(h.call(cmd), expected, "{cmd:?}");
        }
    }

    #[test]
    fn keyspace_hits_and_misses_follow_redis() {
        let h = Harness::new();
        for cmd in [
            &["LLEN", "missing"][..],
            &["RPUSH", "l", "a", "b", "c"],
            &["LLEN", "l"],
            &["LRANGE", "l", "0", "-1"],
            &["LRANGE", "missing", "0", "-1"],
            &["LINDEX", "l", "0"],
            &["LINDEX", "missing", "0"],
            &["LPOS", "l", "a"],
            &["LPOS", "missing", "a"],
            &["LPUSH", "l", "x"],
            &["LPOP", "l"],
            &["RPOP", "missing"],
            &["LSET", "l", "0", "y"],
            &["LINSERT", "l", "BEFORE", "y", "z"],
            &["LREM", "l", "0", "z"],
            &["LTRIM", "l", "0", "-1"],
            &["LMOVE", "l", "l2", "LEFT", "LEFT"],
            &["RPOPLPUSH", "l", "l2"],
            &["LMPOP", "2", "missing", "l", "LEFT"],
            &["LPUSHX", "missing", "a"],
        ] {
            h.call(cmd);
        }
        let totals = h.shared().totals();
        // Counted by redis-server 7.0.15 for the same sequence (INFO stats): only the
        // read-only commands count.
        assert_eq!(totals.hits, 4);
        assert_eq!(totals.misses, 4);
    }

    #[test]
    fn ranges_follow_redis_index_rules() {
        assert_eq!(clamp_range(0, -1, 3), Some((0, 2)));
        assert_eq!(clamp_range(-100, 100, 3), Some((0, 2)));
        assert_eq!(clamp_range(1, 0, 3), None);
        assert_eq!(clamp_range(3, 5, 3), None);
        assert_eq!(clamp_range(-1, -1, 3), Some((2, 2)));
        assert_eq!(clamp_range(0, -4, 3), None);
        assert_eq!(clamp_range(i64::MIN, i64::MAX, 3), Some((0, 2)));
        assert_eq!(clamp_range(0, 0, 0), None);
        assert_eq!(element_position(-1, 3), Some(2));
        assert_eq!(element_position(-4, 3), None);
        assert_eq!(element_position(3, 3), None);
        assert_eq!(element_position(i64::MIN, 3), None);
    }
}
