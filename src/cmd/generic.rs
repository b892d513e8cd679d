//! Keyspace commands that work on keys of any type: deleting, testing, listing, renaming,
//! moving and copying keys, their time to live, and OBJECT introspection.
//!
//! Counterpart of Redis `src/db.c` (DEL, EXISTS, KEYS, SCAN, RENAME, MOVE, COPY, ...),
//! `src/expire.c` (EXPIRE and friends, TTL, PERSIST) and the OBJECT command of `src/object.c`.
//!
//! # Which lookup each command uses
//! Redis has two ways to look a key up, and which one a command uses is visible to clients:
//! - a *read* lookup (`lookupKeyRead`) counts a keyspace hit or miss for INFO and, unless
//!   asked not to, refreshes the key's access time (OBJECT IDLETIME). EXISTS, TYPE, TTL and
//!   OBJECT use it without refreshing ([`Db::peek`]); TOUCH and COPY's source refresh it
//!   ([`Db::get`]).
//! - a *write* lookup (`lookupKeyWrite`) counts nothing and deletes the key on the spot if its
//!   TTL has passed ([`Db::get_mut`]). RENAME, MOVE, EXPIRE and PERSIST use it.
//!
//! Read-only commands run under the read lock ([`Handler::Read`]), where an expired key can
//! only be treated as missing; the write lock deletes it. MOVE and COPY touch two databases, so
//! they take the whole keyspace ([`Handler::KeyspaceWrite`]).

use super::{CmdError, CmdResult, CommandSpec, Ctx, Flags, Group, Handler, KeySpec};
use crate::glob;
use crate::notify;
use crate::protocol::{Argv, Reply};
use crate::store::{access, Db, Entry, Key, Keyspace, Value};
use crate::util::{eq_ci, parse_i64};

/// The generic group's rows of the command table. Flags, arity and key positions are Redis
/// 7.0's, as `COMMAND INFO <name>` reports them.
#[rustfmt::skip]
pub(crate) static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("del", -2, Flags::WRITE, KeySpec::ALL, Group::Generic, Handler::Write(del)),
    CommandSpec::new("unlink", -2, Flags::WRITE.union(Flags::FAST), KeySpec::ALL, Group::Generic, Handler::Write(del)),
    CommandSpec::new("exists", -2, Flags::READONLY.union(Flags::FAST), KeySpec::ALL, Group::Generic, Handler::Read(exists)),
    CommandSpec::new("type", 2, Flags::READONLY.union(Flags::FAST), KeySpec::ONE, Group::Generic, Handler::Read(type_)),
    CommandSpec::new("keys", 2, Flags::READONLY, KeySpec::NONE, Group::Generic, Handler::Read(keys)),
    CommandSpec::new("scan", -2, Flags::READONLY, KeySpec::NONE, Group::Generic, Handler::Read(scan)),
    CommandSpec::new("randomkey", 1, Flags::READONLY, KeySpec::NONE, Group::Generic, Handler::Read(randomkey)),
    CommandSpec::new("rename", 3, Flags::WRITE, KeySpec::TWO, Group::Generic, Handler::Write(rename)),
    CommandSpec::new("renamenx", 3, Flags::WRITE.union(Flags::FAST), KeySpec::TWO, Group::Generic, Handler::Write(renamenx)),
    CommandSpec::new("move", 3, Flags::WRITE.union(Flags::FAST), KeySpec::ONE, Group::Generic, Handler::KeyspaceWrite(move_)),
    CommandSpec::new("copy", -3, Flags::WRITE.union(Flags::DENYOOM), KeySpec::TWO, Group::Generic, Handler::KeyspaceWrite(copy)),
    CommandSpec::new("touch", -2, Flags::READONLY.union(Flags::FAST), KeySpec::ALL, Group::Generic, Handler::Read(touch)),
    CommandSpec::new("expire", -3, Flags::WRITE.union(Flags::FAST), KeySpec::ONE, Group::Generic, Handler::Write(expire)),
    CommandSpec::new("pexpire", -3, Flags::WRITE.union(Flags::FAST), KeySpec::ONE, Group::Generic, Handler::Write(pexpire)),
    CommandSpec::new("expireat", -3, Flags::WRITE.union(Flags::FAST), KeySpec::ONE, Group::Generic, Handler::Write(expireat)),
    CommandSpec::new("pexpireat", -3, Flags::WRITE.union(Flags::FAST), KeySpec::ONE, Group::Generic, Handler::Write(pexpireat)),
    CommandSpec::new("ttl", 2, Flags::READONLY.union(Flags::FAST), KeySpec::ONE, Group::Generic, Handler::Read(ttl)),
    CommandSpec::new("pttl", 2, Flags::READONLY.union(Flags::FAST), KeySpec::ONE, Group::Generic, Handler::Read(pttl)),
    CommandSpec::new("expiretime", 2, Flags::READONLY.union(Flags::FAST), KeySpec::ONE, Group::Generic, Handler::Read(expiretime)),
    CommandSpec::new("pexpiretime", 2, Flags::READONLY.union(Flags::FAST), KeySpec::ONE, Group::Generic, Handler::Read(pexpiretime)),
    CommandSpec::new("persist", 2, Flags::WRITE.union(Flags::FAST), KeySpec::ONE, Group::Generic, Handler::Write(persist)),
    CommandSpec::new("object", -2, Flags::NONE, KeySpec::NONE, Group::Generic, Handler::Container).with_subcommands(OBJECT_SUBCOMMANDS),
];

/// OBJECT's subcommands. The key is argument 2 (`OBJECT ENCODING key`).
const OBJECT_SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec::new(
        "encoding",
        3,
        Flags::READONLY,
        KeySpec::new(2, 2, 1),
        Group::Generic,
        Handler::Read(object_encoding),
    ),
    CommandSpec::new(
        "freq",
        3,
        Flags::READONLY,
        KeySpec::new(2, 2, 1),
        Group::Generic,
        Handler::Read(object_freq),
    ),
    CommandSpec::new(
        "help",
        2,
        Flags::LOADING.union(Flags::STALE),
        KeySpec::NONE,
        Group::Generic,
        Handler::Conn(object_help),
    ),
    CommandSpec::new(
        "idletime",
        3,
        Flags::READONLY,
        KeySpec::new(2, 2, 1),
        Group::Generic,
        Handler::Read(object_idletime),
    ),
    CommandSpec::new(
        "refcount",
        3,
        Flags::READONLY,
        KeySpec::new(2, 2, 1),
        Group::Generic,
        Handler::Read(object_refcount),
    ),
];

/// Redis's `shared.sameobjecterr`, shared by MOVE and COPY.
const SAME_OBJECT: CmdError = CmdError::msg("ERR source and destination objects are the same");

/// What Redis's `getIntFromObjectOrReply` says about an integer that does not fit an `int`.
const NOT_AN_INT: CmdError =
    CmdError::msg("ERR value is out of range, value must between -2147483648 and 2147483647");

/// Parses a database index the way SELECT, MOVE and COPY ... DB do: a 64-bit integer first
/// (`NotInteger`), then it must fit a C `int` (a different message, from
/// `getIntFromObjectOrReply`), then an existing database (`DbIndexOutOfRange`).
pub(crate) fn parse_db_index(arg: &[u8], db_count: usize) -> Result<usize, CmdError> {
    let n = parse_i64(arg).ok_or(CmdError::NotInteger)?;
    if n < i32::MIN as i64 || n > i32::MAX as i64 {
        return Err(NOT_AN_INT);
    }
    if n < 0 || n as usize >= db_count {
        return Err(CmdError::DbIndexOutOfRange);
    }
    Ok(n as usize)
}

/// Looks a key up the way Redis's read commands with `LOOKUP_NOTOUCH` do: counts a hit or a
/// miss, leaves the access time alone.
fn lookup_read_notouch<'d>(ctx: &mut Ctx, db: &'d Db, key: &[u8]) -> Option<&'d Entry> {
    let entry = db.peek(key, ctx.now_ms);
    ctx.count_lookup(db, key, entry.is_some());
    entry
}

// ---------------------------------------------------------------------------------------------
// DEL, UNLINK, EXISTS, TYPE, TOUCH
// ---------------------------------------------------------------------------------------------

/// ```text
/// DEL key [key ...]
/// UNLINK key [key ...]
/// ```
/// Integer: the number of keys removed. A key named twice is removed once. UNLINK is the same
/// here: Redis frees big values in a background thread, but dropping a value is already cheap
/// enough that respd does not need to.
pub fn del(ctx: &mut Ctx, db: &mut Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let removed = argv
        .iter()
        .skip(1)
        .filter(|k| {
            let deleted = db.delete(k, ctx.now_ms);
            if deleted {
                db.notify(notify::GENERIC, "del", k);
            }
            deleted
        })
        .count();
    reply.int(removed as i64);
    // One change per key removed; none at all records nothing.
    ctx.changes = Some(removed as u64);
    Ok(())
}

/// ```text
/// EXISTS key [key ...]
/// ```
/// Integer: how many of the arguments name an existing key. A key named twice counts twice.
pub fn exists(ctx: &mut Ctx, db: &Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let mut count = 0;
    for key in argv.iter().skip(1) {
        if lookup_read_notouch(ctx, db, key).is_some() {
            count += 1;
        }
    }
    reply.int(count);
    Ok(())
}

/// ```text
/// TYPE key
/// ```
/// Status reply: `string`, `list`, `set`, `hash`, ..., or `none` for a missing key.
/// (Named `type_` because `type` is a Rust keyword.)
pub(crate) fn type_(ctx: &mut Ctx, db: &Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let name = lookup_read_notouch(ctx, db, &argv[1]).map_or("none", |e| e.value.type_name());
    reply.simple(name);
    Ok(())
}

/// ```text
/// TOUCH key [key ...]
/// ```
/// Integer: the number of existing keys; each one's access time is refreshed (OBJECT IDLETIME
/// drops to 0). A read-only command in Redis too: the access time is not data.
pub(crate) fn touch(ctx: &mut Ctx, db: &Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let mut count = 0;
    for key in argv.iter().skip(1) {
        let found = db.get(key, ctx.now_ms).is_some();
        ctx.count_lookup(db, key, found);
        count += found as i64;
    }
    reply.int(count);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// KEYS, SCAN, RANDOMKEY
// ---------------------------------------------------------------------------------------------

/// True if `key` matches a KEYS / SCAN MATCH pattern. A lone `*` is checked first, as Redis
/// does: it is not only faster, it is what lets the empty key show up, because the glob
/// matcher itself never matches an empty string.
fn key_matches(pattern: &[u8], key: &[u8]) -> bool {
    pattern == b"*" || glob::matches(pattern, key, false)
}

/// ```text
/// KEYS pattern
/// ```
/// Array of every live key matching the glob `pattern`, in no particular order. Keys whose TTL
/// has passed are left out (but not deleted: this runs under the read lock).
pub fn keys(ctx: &mut Ctx, db: &Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let pattern = &argv[1];
    let found: Vec<&[u8]> = db
        .iter()
        .filter(|(k, e)| key_matches(pattern, k) && !e.is_expired(ctx.now_ms))
        .map(|(k, _)| k)
        .collect();
    reply.array(found.len());
    for key in found {
        reply.bulk(key);
    }
    Ok(())
}

/// Parses a SCAN cursor exactly as Redis does, which is with C's `strtoul` rather than
/// Redis's strict integer rules (a cursor may be any `unsigned long`, beyond `i64`).
///
/// So, like Redis: the argument ends at its first NUL byte (it is a C string there); a leading
/// space is refused but a `+` or `-` sign is accepted (`-1` wraps around to `u64::MAX`, as
/// `strtoul` negates in unsigned arithmetic); leading zeros are fine; anything after the digits
/// or a value above `u64::MAX` is refused; and the empty string is cursor 0 (`strtoul` reads no
/// digits, and the "rest of the input" it points at is then empty).
pub(crate) fn parse_scan_cursor(arg: &[u8]) -> Option<u64> {
    let s = crate::util::c_str(arg);
    if s.is_empty() {
        return Some(0);
    }
    if matches!(s[0], b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r') {
        return None;
    }
    let (negative, digits) = match s[0] {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() {
        return None;
    }
    let mut value: u64 = 0;
    for &b in digits {
        if !b.is_ascii_digit() {
            return None;
        }
        value = value.checked_mul(10)?.checked_add((b - b'0') as u64)?;
    }
    Some(if negative {
        value.wrapping_neg()
    } else {
        value
    })
}

/// The work of one SCAN call on `db` (Redis `scanGenericCommand` for the keyspace).
///
/// Visits buckets from `cursor` until it has seen `count` entries, the cursor is back to 0, or
/// it has visited `10 * count` buckets (so a sparse table cannot make one call run long). As in
/// Redis, `count` counts the entries *visited*, before any filtering, so a call may return fewer
/// keys than `count`, or none, with a non-zero cursor. The visited keys for which `keep` says yes
/// and whose TTL has not passed are returned, with the next cursor.
///
/// The guarantee comes from [`Db::scan`]: a key that exists from the first call to the last is
/// returned at least once, however the table grows or shrinks in between.
pub(crate) fn scan_keys(
    db: &Db,
    mut cursor: u64,
    count: usize,
    now_ms: u64,
    mut keep: impl FnMut(&[u8], &Entry) -> bool,
) -> (u64, Vec<Key>) {
    let mut found = Vec::new();
    let mut visited = 0usize;
    let mut budget = count.saturating_mul(10);
    loop {
        cursor = db.scan(cursor, |key, entry| {
            visited += 1;
            if keep(key, entry) && !entry.is_expired(now_ms) {
                found.push(key.to_vec());
            }
        });
        if cursor == 0 || budget == 0 || visited >= count {
            break;
        }
        budget -= 1;
    }
    (cursor, found)
}

/// The options of SCAN, HSCAN, SSCAN and ZSCAN (Redis `scanGenericCommand`): `COUNT n` (a hint,
/// default 10), `MATCH pattern` and, for SCAN only, `TYPE type`. Later options win.
pub(crate) struct ScanOptions<'a> {
    /// How much work one call may do.
    pub count: usize,
    /// Only names matching this glob; `None` for every name (a lone `*` is the same as none,
    /// which also lets the empty name through, as Redis's special case does).
    pub pattern: Option<&'a [u8]>,
    /// SCAN's TYPE filter.
    pub type_name: Option<&'a [u8]>,
}

impl<'a> ScanOptions<'a> {
    /// Parses the options from `argv[first..]`.
    ///
    /// Errors: `NotInteger` for a non-numeric COUNT; `Syntax` for a COUNT below 1, an unknown
    /// option (TYPE unless `allow_type`) or an option without its value.
    pub(crate) fn parse(
        argv: &'a Argv,
        first: usize,
        allow_type: bool,
    ) -> Result<ScanOptions<'a>, CmdError> {
        let mut options = ScanOptions {
            count: 10,
            pattern: None,
            type_name: None,
        };
        let mut i = first;
        while i < argv.len() {
            let has_value = i + 1 < argv.len();
            if eq_ci(&argv[i], "count") && has_value {
                let n = parse_i64(&argv[i + 1]).ok_or(CmdError::NotInteger)?;
                if n < 1 {
                    return Err(CmdError::Syntax);
                }
                options.count = usize::try_from(n).unwrap_or(usize::MAX);
            } else if eq_ci(&argv[i], "match") && has_value {
                options.pattern = Some(&argv[i + 1]).filter(|p| *p != b"*");
            } else if allow_type && eq_ci(&argv[i], "type") && has_value {
                options.type_name = Some(&argv[i + 1]);
            } else {
                return Err(CmdError::Syntax);
            }
            i += 2;
        }
        Ok(options)
    }
}

/// ```text
/// SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]
/// ```
/// A two-element array: the next cursor (a bulk string; `0` when the iteration is complete)
/// and an array of keys. Start with cursor 0 and pass back each returned cursor. Every key
/// present for the whole iteration is returned at least once; keys added or removed meanwhile
/// may or may not be. `COUNT` (default 10) is a hint of how much work to do per call, `MATCH`
/// a glob filter, `TYPE` a type name filter (case-insensitive; an unknown name matches
/// nothing). Options may repeat; the last one wins.
///
/// Errors: `ERR invalid cursor`; `NotInteger` for a non-numeric COUNT; `Syntax` for a COUNT
/// below 1, an unknown option or a missing option value.
pub(crate) fn scan(ctx: &mut Ctx, db: &Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let cursor = parse_scan_cursor(&argv[1]).ok_or(CmdError::INVALID_CURSOR)?;
    let options = ScanOptions::parse(argv, 2, true)?;
    let (count, pattern, type_name) = (options.count, options.pattern, options.type_name);

    let now_ms = ctx.now_ms;
    let (mut hits, mut misses) = (0, 0);
    let (next, found) = scan_keys(db, cursor, count, now_ms, |key, entry| {
        if let Some(p) = pattern {
            if !glob::matches(p, key, false) {
                return false;
            }
        }
        if let Some(wanted) = type_name {
            // Redis looks each candidate up to learn its type, which counts as a read lookup;
            // an expired key has type "none" (and is dropped right after anyway).
            let name = if entry.is_expired(now_ms) {
                misses += 1;
                "none"
            } else {
                hits += 1;
                entry.value.type_name()
            };
            if !wanted.eq_ignore_ascii_case(name.as_bytes()) {
                return false;
            }
        }
        true
    });
    ctx.client.stats.hits += hits;
    ctx.client.stats.misses += misses;

    reply.array(2);
    reply.bulk(next.to_string().as_bytes());
    reply.array(found.len());
    for key in &found {
        reply.bulk(key);
    }
    Ok(())
}

/// ```text
/// RANDOMKEY
/// ```
/// Bulk string: a random live key, or null when the database has none.
pub(crate) fn randomkey(ctx: &mut Ctx, db: &Db, _argv: &Argv, reply: &mut Reply) -> CmdResult {
    match db.random_key(ctx.now_ms) {
        Some(key) => reply.bulk(key),
        None => reply.null(),
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// RENAME, RENAMENX, MOVE, COPY
// ---------------------------------------------------------------------------------------------

/// The body of RENAME and RENAMENX (Redis `renameGenericCommand`). The value moves to the new
/// name with its TTL and access time; a key renamed to itself is left alone.
fn rename_generic(
    ctx: &mut Ctx,
    db: &mut Db,
    argv: &Argv,
    reply: &mut Reply,
    nx: bool,
) -> CmdResult {
    let (src, dst) = (&argv[1], &argv[2]);
    let now = ctx.now_ms;
    if db.get_mut(src, now).is_none() {
        return Err(CmdError::NoSuchKey);
    }
    // Redis 7.0 checks existence first, so renaming a missing key to itself is still an error.
    if src == dst {
        if nx {
            reply.int(0);
        } else {
            reply.ok();
        }
        return Ok(());
    }
    if nx && db.get_mut(dst, now).is_some() {
        reply.int(0);
        return Ok(());
    }
    let entry = db.take(src, now).expect("looked up above");
    // Redis deletes an existing destination before adding the key anew (so "new" is
    // reported even then), then reports "rename_from" and "rename_to".
    db.remove(dst);
    db.insert(dst.to_vec(), entry);
    db.notify(notify::GENERIC, "rename_from", src);
    db.notify(notify::GENERIC, "rename_to", dst);
    if nx {
        reply.int(1);
    } else {
        reply.ok();
    }
    Ok(())
}

/// ```text
/// RENAME key newkey
/// ```
/// `+OK`. An existing `newkey` is overwritten. Errors: `NoSuchKey`.
pub(crate) fn rename(ctx: &mut Ctx, db: &mut Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    rename_generic(ctx, db, argv, reply, false)
}

/// ```text
/// RENAMENX key newkey
/// ```
/// Integer: 1 if renamed, 0 if `newkey` already exists (or is `key` itself).
/// Errors: `NoSuchKey`.
pub(crate) fn renamenx(ctx: &mut Ctx, db: &mut Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    rename_generic(ctx, db, argv, reply, true)
}

/// ```text
/// MOVE key db
/// ```
/// Integer: 1 if the key was moved to database `db` (with its TTL), 0 if it does not exist
/// here or already exists there.
///
/// Errors, checked in Redis's order before the key is looked at: `NotInteger`, "value is out
/// of range" for an index beyond a C `int`, `DbIndexOutOfRange`, then `ERR source and
/// destination objects are the same` when `db` is the selected database.
pub(crate) fn move_(
    ctx: &mut Ctx,
    keyspace: &mut Keyspace,
    argv: &Argv,
    reply: &mut Reply,
) -> CmdResult {
    let key = &argv[1];
    let from = ctx.client.db;
    let to = parse_db_index(&argv[2], keyspace.db_count())?;
    if from == to {
        return Err(SAME_OBJECT);
    }
    let now = ctx.now_ms;
    let (src, dst) = keyspace.two_dbs_mut(from, to);
    if src.get_mut(key, now).is_none() || dst.get_mut(key, now).is_some() {
        reply.int(0);
        return Ok(());
    }
    let entry = src.take(key, now).expect("looked up above");
    dst.insert(key.to_vec(), entry);
    src.notify(notify::GENERIC, "move_from", key);
    dst.notify(notify::GENERIC, "move_to", key);
    reply.int(1);
    Ok(())
}

/// ```text
/// COPY source destination [DB destination-db] [REPLACE]
/// ```
/// Integer: 1 if copied (value and TTL), 0 if `source` is missing or `destination` exists
/// and REPLACE was not given. The copy is a new value: its access time starts now.
///
/// Errors: `Syntax` for an unknown option or DB without a value; DB's index errors as for
/// MOVE; `ERR source and destination objects are the same` for a copy onto itself.
pub fn copy(ctx: &mut Ctx, keyspace: &mut Keyspace, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let (src_key, dst_key) = (&argv[1], &argv[2]);
    let from = ctx.client.db;
    let mut to = from;
    let mut replace = false;
    let mut i = 3;
    while i < argv.len() {
        if eq_ci(&argv[i], "replace") {
            replace = true;
        } else if eq_ci(&argv[i], "db") && i + 1 < argv.len() {
            to = parse_db_index(&argv[i + 1], keyspace.db_count())?;
            i += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    if from == to && src_key == dst_key {
        return Err(SAME_OBJECT);
    }

    let now = ctx.now_ms;
    // Redis reads the source with a read lookup (a hit or a miss, the access time refreshed),
    // which on a primary also deletes it if expired. A read, not `get_mut`: COPY never
    // modifies its source, so a client WATCHing it must not see it touched (Redis signals
    // only the destination, and only when it writes it).
    let src_db = keyspace.db_mut(from);
    src_db.expire_if_needed(src_key, now);
    let source = src_db
        .get(src_key, now)
        .map(|e| (e.value.clone(), e.expire_at()));
    ctx.count_lookup(keyspace.db(from), src_key, source.is_some());
    let Some((value, expire_at)) = source else {
        reply.int(0);
        return Ok(());
    };
    // Redis `lookupKeyWrite` on the destination: expires it, touches nothing for WATCH (a
    // refused COPY leaves it as it was).
    let dst = keyspace.db_mut(to);
    dst.expire_if_needed(dst_key, now);
    if dst.get(dst_key, now).is_some() && !replace {
        reply.int(0);
        return Ok(());
    }
    // Redis deletes a replaced destination first, so the copy is always a new key.
    dst.remove(dst_key);
    dst.set_with_expire(dst_key, value, expire_at, now);
    dst.notify(notify::GENERIC, "copy_to", dst_key);
    reply.int(1);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// EXPIRE family, TTL family, PERSIST
// ---------------------------------------------------------------------------------------------

/// The NX / XX / GT / LT conditions of the EXPIRE family.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct ExpireConditions {
    /// Only if the key has no TTL.
    nx: bool,
    /// Only if the key has a TTL.
    xx: bool,
    /// Only if the new deadline is later than the current one (no TTL counts as infinite).
    gt: bool,
    /// Only if the new deadline is earlier than the current one.
    lt: bool,
}

/// How an option list was refused: with a regular error, or with "Unsupported option" and
/// the offending argument, which Redis echoes byte for byte (so it may not be valid UTF-8,
/// and does not fit [`CmdError`]'s text).
enum ExpireOptionError {
    Cmd(CmdError),
    Unsupported(Vec<u8>),
}

/// Parses the options after `key seconds` (Redis `parseExtendedExpireArgumentsOrReply`).
/// Every option is read first, then the combinations are checked.
fn parse_expire_conditions(argv: &Argv) -> Result<ExpireConditions, ExpireOptionError> {
    let mut c = ExpireConditions::default();
    for opt in argv.iter().skip(3) {
        if eq_ci(opt, "nx") {
            c.nx = true;
        } else if eq_ci(opt, "xx") {
            c.xx = true;
        } else if eq_ci(opt, "gt") {
            c.gt = true;
        } else if eq_ci(opt, "lt") {
            c.lt = true;
        } else {
            return Err(ExpireOptionError::Unsupported(opt.to_vec()));
        }
    }
    if c.nx && (c.xx || c.gt || c.lt) {
        return Err(ExpireOptionError::Cmd(CmdError::msg(
            "ERR NX and XX, GT or LT options at the same time are not compatible",
        )));
    }
    if c.gt && c.lt {
        return Err(ExpireOptionError::Cmd(CmdError::msg(
            "ERR GT and LT options at the same time are not compatible",
        )));
    }
    Ok(c)
}

/// Renders `ERR Unsupported option <opt>` the way Redis's `addReplyErrorFormat` does: the
/// option is a C string (it ends at a NUL byte), and CR/LF are trimmed from the end of the
/// message (the ones in the middle become spaces when the error is written).
fn unsupported_option_message(opt: &[u8]) -> Vec<u8> {
    let opt = crate::util::c_str(opt);
    let mut msg = b"ERR Unsupported option ".to_vec();
    msg.extend_from_slice(opt);
    while msg.last().is_some_and(|&c| c == b'\r' || c == b'\n') {
        msg.pop();
    }
    msg
}

/// The unit of an EXPIRE-family argument.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Unit {
    Seconds,
    Milliseconds,
}

/// The body of EXPIRE, PEXPIRE, EXPIREAT and PEXPIREAT (Redis `expireGenericCommand`).
///
/// `basetime` is what the argument is relative to: now for EXPIRE/PEXPIRE, 0 (the epoch) for
/// the -AT forms. The order of checks is Redis's: options, the number, overflow, then the key.
/// A deadline that is already past deletes the key and still answers 1, as Redis does.
fn expire_generic(
    ctx: &mut Ctx,
    db: &mut Db,
    argv: &Argv,
    reply: &mut Reply,
    basetime: i64,
    unit: Unit,
) -> CmdResult {
    let conditions = match parse_expire_conditions(argv) {
        Ok(c) => c,
        Err(ExpireOptionError::Cmd(e)) => return Err(e),
        Err(ExpireOptionError::Unsupported(opt)) => {
            // Written directly rather than returned: the text echoes arbitrary bytes.
            reply.error(&unsupported_option_message(&opt));
            return Ok(());
        }
    };
    let mut when = parse_i64(&argv[2]).ok_or(CmdError::NotInteger)?;
    if unit == Unit::Seconds {
        when = when.checked_mul(1000).ok_or(CmdError::InvalidExpire)?;
    }
    // Negative values are allowed (they mean "already expired"); only overflow is an error.
    let when = when.checked_add(basetime).ok_or(CmdError::InvalidExpire)?;

    let key = &argv[1];
    let now = ctx.now_ms;
    // Decide first, with a lookup that does not mark the key for WATCH: a refused condition
    // changes nothing, and Redis signals the key only when it set or removed a TTL.
    db.expire_if_needed(key, now);
    let Some(entry) = db.peek(key, now) else {
        reply.int(0);
        ctx.changes = Some(0);
        return Ok(());
    };
    let current = entry.expire_at().map(|t| t as i64);
    let refused = (conditions.nx && current.is_some())
        || (conditions.xx && current.is_none())
        // No TTL is an infinite TTL: nothing is greater.
        || (conditions.gt && !matches!(current, Some(c) if when > c))
        // ... and anything is less, even a deadline in the past.
        || (conditions.lt && current.is_some_and(|c| when >= c));
    if refused {
        reply.int(0);
        ctx.changes = Some(0);
        return Ok(());
    }
    // From here on the key changes: the write lookup lets WATCH see it.
    db.get_mut(key, now);
    // mirrors expireGenericCommand(): a deadline already past deletes the key ("del")
    // and is recorded as that DEL; any other deadline is recorded as the absolute one it
    // gave, `PEXPIREAT key ms [condition]`, so a replay expires the key when this server
    // would have.
    if when <= now as i64 {
        db.delete(key, now);
        db.notify(notify::GENERIC, "del", key);
        ctx.propagate_as(Argv::from_args([&b"DEL"[..], key]));
    } else {
        db.set_expire(key, Some(when as u64), now);
        db.notify(notify::GENERIC, "expire", key);
        let already_absolute_ms = basetime == 0 && unit == Unit::Milliseconds;
        if !already_absolute_ms && ctx.records_wanted() {
            let at = when.to_string();
            let mut record = Argv::from_args([&b"PEXPIREAT"[..], key, at.as_bytes()]);
            for option in argv.iter().skip(3) {
                record.push(option);
            }
            ctx.propagate_as(record);
        }
    }
    reply.int(1);
    Ok(())
}

/// ```text
/// EXPIRE key seconds [NX | XX | GT | LT]
/// ```
/// Integer: 1 if the TTL was set (or the key deleted, for a time already past), 0 if the key
/// does not exist or a condition refused. Errors: `NotInteger`, `InvalidExpire` (overflow),
/// `ERR Unsupported option ...`, and the NX/XX/GT/LT compatibility errors.
pub fn expire(ctx: &mut Ctx, db: &mut Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let now = ctx.now_ms as i64;
    expire_generic(ctx, db, argv, reply, now, Unit::Seconds)
}

/// ```text
/// PEXPIRE key milliseconds [NX | XX | GT | LT]
/// ```
/// As EXPIRE, in milliseconds.
pub fn pexpire(ctx: &mut Ctx, db: &mut Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let now = ctx.now_ms as i64;
    expire_generic(ctx, db, argv, reply, now, Unit::Milliseconds)
}

/// ```text
/// EXPIREAT key unix-time-seconds [NX | XX | GT | LT]
/// ```
/// As EXPIRE, with an absolute Unix time in seconds.
pub fn expireat(ctx: &mut Ctx, db: &mut Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    expire_generic(ctx, db, argv, reply, 0, Unit::Seconds)
}

/// ```text
/// PEXPIREAT key unix-time-milliseconds [NX | XX | GT | LT]
/// ```
/// As EXPIRE, with an absolute Unix time in milliseconds.
pub fn pexpireat(ctx: &mut Ctx, db: &mut Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    expire_generic(ctx, db, argv, reply, 0, Unit::Milliseconds)
}

/// The body of TTL, PTTL, EXPIRETIME and PEXPIRETIME (Redis `ttlGenericCommand`): -2 for a
/// missing key, -1 for a key without TTL, else the remaining time (`absolute` false) or the
/// deadline (`absolute` true). Seconds are rounded to the nearest, as Redis does with
/// `(ms + 500) / 1000`.
fn ttl_generic(ctx: &mut Ctx, db: &Db, argv: &Argv, reply: &mut Reply, unit: Unit, absolute: bool) {
    let Some(entry) = lookup_read_notouch(ctx, db, &argv[1]) else {
        reply.int(-2);
        return;
    };
    let Some(deadline) = entry.expire_at() else {
        reply.int(-1);
        return;
    };
    // Redis clamps a negative result to 0 for both forms.
    let ms = if absolute {
        deadline as i64
    } else {
        (deadline as i64).saturating_sub(ctx.now_ms as i64)
    }
    .max(0);
    reply.int(match unit {
        Unit::Milliseconds => ms,
        // `(ms + 500) / 1000` without the addition, which overflows for a deadline near
        // i64::MAX (PEXPIREAT k 9223372036854775807; Redis answers EXPIRETIME 9223372036854776).
        Unit::Seconds => ms / 1000 + i64::from(ms % 1000 >= 500),
    });
}

/// ```text
/// TTL key
/// ```
/// Integer: seconds left (rounded), -1 without TTL, -2 if the key does not exist.
pub fn ttl(ctx: &mut Ctx, db: &Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    ttl_generic(ctx, db, argv, reply, Unit::Seconds, false);
    Ok(())
}

/// ```text
/// PTTL key
/// ```
/// Integer: milliseconds left, -1 without TTL, -2 if the key does not exist.
pub fn pttl(ctx: &mut Ctx, db: &Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    ttl_generic(ctx, db, argv, reply, Unit::Milliseconds, false);
    Ok(())
}

/// ```text
/// EXPIRETIME key
/// ```
/// Integer: the deadline as a Unix time in seconds (rounded), -1 without TTL, -2 if the key
/// does not exist.
pub(crate) fn expiretime(ctx: &mut Ctx, db: &Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    ttl_generic(ctx, db, argv, reply, Unit::Seconds, true);
    Ok(())
}

/// ```text
/// PEXPIRETIME key
/// ```
/// Integer: the deadline as a Unix time in milliseconds, -1 without TTL, -2 if the key does
/// not exist.
pub(crate) fn pexpiretime(ctx: &mut Ctx, db: &Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    ttl_generic(ctx, db, argv, reply, Unit::Milliseconds, true);
    Ok(())
}

/// ```text
/// PERSIST key
/// ```
/// Integer: 1 if a TTL was removed, 0 if the key has none or does not exist.
pub fn persist(ctx: &mut Ctx, db: &mut Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let key = &argv[1];
    let had_ttl = db
        .get_mut(key, ctx.now_ms)
        .is_some_and(|e| e.expire_at().is_some());
    if had_ttl {
        db.set_expire(key, None, ctx.now_ms);
        db.notify(notify::GENERIC, "persist", key);
    } else {
        ctx.changes = Some(0);
    }
    reply.int(had_ttl as i64);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// OBJECT
// ---------------------------------------------------------------------------------------------

/// Redis's `OBJ_SHARED_REFCOUNT`: the reference count reported for shared objects, which are
/// never freed.
const OBJ_SHARED_REFCOUNT: i64 = i32::MAX as i64;

/// Redis's `OBJ_SHARED_INTEGERS`: the integers 0 .. 9999 are preallocated once and shared by
/// every key that holds one.
const OBJ_SHARED_INTEGERS: i64 = 10_000;

/// OBJECT's lookup (Redis `objectCommandLookup`): a read lookup that leaves the access time
/// alone, so that asking for IDLETIME does not reset it.
fn object_lookup<'d>(ctx: &mut Ctx, db: &'d Db, argv: &Argv) -> Option<&'d Entry> {
    lookup_read_notouch(ctx, db, &argv[2])
}

/// ```text
/// OBJECT ENCODING key
/// ```
/// Bulk string: the name Redis would give the value's internal representation (`int`,
/// `embstr`, `raw`, `quicklist`, `hashtable`, ...), or null if the key does not exist.
pub(crate) fn object_encoding(ctx: &mut Ctx, db: &Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    match object_lookup(ctx, db, argv) {
        Some(entry) => reply.bulk(entry.value.encoding().as_bytes()),
        None => reply.null(),
    }
    Ok(())
}

/// ```text
/// OBJECT REFCOUNT key
/// ```
/// Integer: the value's reference count as Redis would report it, or null if the key does
/// not exist. respd does not share values, but Redis does share the integers 0 to 9999 and
/// reports them with `OBJ_SHARED_REFCOUNT` (2147483647); every other value has one owner.
pub(crate) fn object_refcount(ctx: &mut Ctx, db: &Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    match object_lookup(ctx, db, argv) {
        Some(entry) => reply.int(match entry.value {
            Value::Int(n) if (0..OBJ_SHARED_INTEGERS).contains(&n) => OBJ_SHARED_REFCOUNT,
            _ => 1,
        }),
        None => reply.null(),
    }
    Ok(())
}

/// ```text
/// OBJECT IDLETIME key
/// ```
/// Integer: seconds since the key was last read or written, or null if it does not exist.
/// Under an LFU `maxmemory-policy` the key keeps an access counter instead of a time (see
/// `store::access`), so Redis's error.
pub(crate) fn object_idletime(ctx: &mut Ctx, db: &Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let Some(entry) = object_lookup(ctx, db, argv) else {
        reply.null();
        return Ok(());
    };
    if access::lfu_enabled() {
        return Err(CmdError::msg(
            "ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that \
             when switching between policies at runtime LRU and LFU data will take some time \
             to adjust.",
        ));
    }
    reply.int(entry.idle_seconds(ctx.now_ms) as i64);
    Ok(())
}

/// ```text
/// OBJECT FREQ key
/// ```
/// Integer: the key's logarithmic access counter (Redis `LFUDecrAndReturn`), or null if the
/// key does not exist. Only an LFU `maxmemory-policy` keeps the counter; otherwise Redis's
/// error. respd evicts nothing, but it counts as Redis does (see `store::access`).
pub(crate) fn object_freq(ctx: &mut Ctx, db: &Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let Some(entry) = object_lookup(ctx, db, argv) else {
        reply.null();
        return Ok(());
    };
    if !access::lfu_enabled() {
        return Err(CmdError::msg(
            "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please \
             note that when switching between policies at runtime LRU and LFU data will take \
             some time to adjust.",
        ));
    }
    reply.int(i64::from(entry.access_counter(ctx.now_ms)));
    Ok(())
}

/// OBJECT HELP's lines, as Redis 7.0 prints them.
const OBJECT_HELP: &[&str] = &[
    "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "ENCODING <key>",
    "    Return the kind of internal representation used in order to store the value",
    "    associated with a <key>.",
    "FREQ <key>",
    "    Return the access frequency index of the <key>. The returned integer is",
    "    proportional to the logarithm of the recent access frequency of the key.",
    "IDLETIME <key>",
    "    Return the idle time of the <key>, that is the approximated number of",
    "    seconds elapsed since the last access to the key.",
    "REFCOUNT <key>",
    "    Return the number of references of the value associated with the specified",
    "    <key>.",
    "HELP",
    "    Prints this help.",
];

/// ```text
/// OBJECT HELP
/// ```
/// Array of status lines describing the subcommands.
pub(crate) fn object_help(_ctx: &mut Ctx, _argv: &Argv, reply: &mut Reply) -> CmdResult {
    reply.array(OBJECT_HELP.len());
    for line in OBJECT_HELP {
        reply.simple(line);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn scan_cursor_follows_strtoul() {
        assert_eq!(parse_scan_cursor(b"0"), Some(0));
        assert_eq!(parse_scan_cursor(b""), Some(0));
        assert_eq!(parse_scan_cursor(b"007"), Some(7));
        assert_eq!(parse_scan_cursor(b"+5"), Some(5));
        assert_eq!(parse_scan_cursor(b"-1"), Some(u64::MAX));
        assert_eq!(parse_scan_cursor(b"5\0junk"), Some(5));
        assert_eq!(parse_scan_cursor(b"18446744073709551615"), Some(u64::MAX));
        for bad in [
            &b"18446744073709551616"[..],
            b" 1",
            b"1 ",
            b"x",
            b"+",
            b"-",
            b"0x10",
        ] {
            assert_eq!(parse_scan_cursor(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn unsupported_option_is_echoed_like_redis() {
        assert_eq!(
            unsupported_option_message(b"foo\r\n"),
            b"ERR Unsupported option foo".to_vec()
        );
        assert_eq!(
            unsupported_option_message(b"x\0yz"),
            b"ERR Unsupported option x".to_vec()
        );
    }

    /// Redis's SCAN guarantee, checked while the table doubles several times and then shrinks:
    /// a key present from the first call to the last is returned, whatever is added or removed
    /// between calls.
    #[test]
    fn scan_returns_every_key_present_for_the_whole_scan() {
        let now = 1_000;
        let value = || Value::from_slice(b"v");
        for round in 0..12usize {
            let mut db = Db::new();
            let stable: Vec<Key> = (0..20 + 10 * round)
                .map(|i| format!("stable:{i}").into_bytes())
                .collect();
            for k in &stable {
                db.set(k, value(), now);
            }
            for i in 0..100 {
                db.set(format!("extra:{i}").as_bytes(), value(), now);
            }
            let (mut seen, mut cursor, mut step) = (HashSet::new(), 0, 0);
            let (mut grew, mut emptied) = (false, false);
            loop {
                let (next, keys) = scan_keys(&db, cursor, 3 + round, now, |_, _| true);
                seen.extend(keys);
                cursor = next;
                if cursor == 0 {
                    break;
                }
                // Churn between calls: first grow the table well past a few doublings, then
                // delete everything that is not stable, which makes it shrink.
                step += 1;
                if step <= 4 + round {
                    for i in 0..150 {
                        db.set(format!("new:{step}:{i}").as_bytes(), value(), now);
                    }
                    grew = true;
                } else {
                    let victims: Vec<Key> = db
                        .iter()
                        .map(|(k, _)| k.to_vec())
                        .filter(|k| !k.starts_with(b"stable:"))
                        .take(200)
                        .collect();
                    emptied |= !victims.is_empty();
                    for k in victims {
                        db.delete(&k, now);
                    }
                }
                assert!(step < 100_000, "scan did not terminate");
            }
            assert!(grew && emptied, "round {round}: the table was not churned");
            for k in &stable {
                assert!(
                    seen.contains(k),
                    "round {round}: {} never returned",
                    String::from_utf8_lossy(k)
                );
            }
        }
    }

    #[test]
    fn scan_skips_expired_keys_and_counts_visits_before_filtering() {
        let now = 10_000;
        let mut db = Db::new();
        db.set(b"live", Value::from_slice(b"v"), now);
        db.set_with_expire(b"gone", Value::from_slice(b"v"), Some(now - 1), now);
        let (cursor, keys) = scan_keys(&db, 0, 1000, now, |_, _| true);
        assert_eq!(cursor, 0);
        assert_eq!(keys, vec![b"live".to_vec()]);
        // A filter that refuses everything still lets the scan finish.
        let (cursor, keys) = scan_keys(&db, 0, 1000, now, |_, _| false);
        assert_eq!((cursor, keys.len()), (0, 0));
    }
}
