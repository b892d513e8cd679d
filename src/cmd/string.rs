//! String commands: GET/SET and their variants, counters, ranges and LCS.
//!
//! Counterpart of Redis `src/t_string.c`, checked against Redis 7.0.15.
//!
//! A string value is stored in one of two forms ([`Value::Int`] or [`Value::Str`]), as Redis
//! keeps the "int" and "raw"/"embstr" encodings: SET, MSET, SETNX... store a canonical integer
//! as a number (Redis `tryObjectEncoding`), and INCR/DECR work on that number in place without
//! formatting or parsing it. Commands that edit bytes (APPEND, SETRANGE) turn the value into
//! bytes first, and INCRBYFLOAT stores its formatted result as bytes, as Redis does. Edited
//! bytes are marked "raw" ([`SmallBytes::Raw`]): Redis's `dbUnshareStringValue` leaves them
//! in that encoding whatever their length, where SET would pick "embstr" for 44 bytes or less.
//!
//! Shared bodies carry Redis's names: [`set_generic`] (SET, SETNX, SETEX, PSETEX),
//! [`incr_generic`] (INCR, DECR, INCRBY, DECRBY), [`mset_generic`] (MSET, MSETNX) and
//! [`parse_extended_string_args`] (the option parser SET and GETEX share).
//!
//! Keyspace statistics follow Redis: lookups that Redis does with `lookupKeyRead` (GET, MGET,
//! STRLEN, GETRANGE, LCS, GETEX, GETDEL, GETSET and SET ... GET) count a hit or a miss; the
//! write-side lookups of SET, INCR, APPEND, SETRANGE... (`lookupKeyWrite`) count nothing.

use std::borrow::Cow;

use super::{CmdError, CmdResult, CommandSpec, Ctx, Flags, Group, Handler, KeySpec};
use crate::notify;
use crate::protocol::{Argv, Reply};
use crate::store::{Db, SmallBytes, Value};
use crate::util::{eq_ci, parse_i64, push_i64, LongDouble};

const RW_FAST: Flags = Flags::WRITE.union(Flags::DENYOOM).union(Flags::FAST);
const RW: Flags = Flags::WRITE.union(Flags::DENYOOM);
const RO_FAST: Flags = Flags::READONLY.union(Flags::FAST);
/// MSET and MSETNX: keys at 1, 3, 5, ...
const KEY_VALUE_PAIRS: KeySpec = KeySpec::new(1, -1, 2);

/// The string group's rows of the command table (arity, flags and key positions as Redis 7.0's
/// COMMAND INFO reports them).
#[rustfmt::skip]
pub(crate) static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("get", 2, RO_FAST, KeySpec::ONE, Group::String, Handler::Read(get)),
    CommandSpec::new("set", -3, RW, KeySpec::ONE, Group::String, Handler::Write(set)),
    CommandSpec::new("setnx", 3, RW_FAST, KeySpec::ONE, Group::String, Handler::Write(setnx)),
    CommandSpec::new("setex", 4, RW, KeySpec::ONE, Group::String, Handler::Write(setex)),
    CommandSpec::new("psetex", 4, RW, KeySpec::ONE, Group::String, Handler::Write(psetex)),
    CommandSpec::new("getset", 3, RW_FAST, KeySpec::ONE, Group::String, Handler::Write(getset)),
    CommandSpec::new("getdel", 2, Flags::WRITE.union(Flags::FAST), KeySpec::ONE, Group::String, Handler::Write(getdel)),
    CommandSpec::new("getex", -2, Flags::WRITE.union(Flags::FAST), KeySpec::ONE, Group::String, Handler::Write(getex)),
    CommandSpec::new("mget", -2, RO_FAST, KeySpec::ALL, Group::String, Handler::Read(mget)),
    CommandSpec::new("mset", -3, RW, KEY_VALUE_PAIRS, Group::String, Handler::Write(mset)),
    CommandSpec::new("msetnx", -3, RW, KEY_VALUE_PAIRS, Group::String, Handler::Write(msetnx)),
    CommandSpec::new("append", 3, RW_FAST, KeySpec::ONE, Group::String, Handler::Write(append)),
    CommandSpec::new("strlen", 2, RO_FAST, KeySpec::ONE, Group::String, Handler::Read(strlen)),
    CommandSpec::new("incr", 2, RW_FAST, KeySpec::ONE, Group::String, Handler::Write(incr)),
    CommandSpec::new("decr", 2, RW_FAST, KeySpec::ONE, Group::String, Handler::Write(decr)),
    CommandSpec::new("incrby", 3, RW_FAST, KeySpec::ONE, Group::String, Handler::Write(incrby)),
    CommandSpec::new("decrby", 3, RW_FAST, KeySpec::ONE, Group::String, Handler::Write(decrby)),
    CommandSpec::new("incrbyfloat", 3, RW_FAST, KeySpec::ONE, Group::String, Handler::Write(incrbyfloat)),
    CommandSpec::new("getrange", 4, Flags::READONLY, KeySpec::ONE, Group::String, Handler::Read(getrange)),
    CommandSpec::new("setrange", 4, RW, KeySpec::ONE, Group::String, Handler::Write(setrange)),
    CommandSpec::new("substr", 4, Flags::READONLY, KeySpec::ONE, Group::String, Handler::Read(getrange)),
    CommandSpec::new("lcs", -3, Flags::READONLY, KeySpec::TWO, Group::String, Handler::Read(lcs)),
];

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Appends a string value as a bulk reply; `WrongType` for any other type.
pub(crate) fn reply_string(value: &Value, reply: &mut Reply) -> CmdResult {
    match value {
        Value::Str(s) => reply.bulk(s),
        Value::Int(n) => reply.bulk_i64(*n),
        _ => return Err(CmdError::WrongType),
    }
    Ok(())
}

/// The bytes of a string value (an integer is formatted); `WrongType` for any other type.
pub(crate) fn string_bytes(value: &Value) -> Result<Cow<'_, [u8]>, CmdError> {
    match value {
        Value::Str(s) => Ok(Cow::Borrowed(s)),
        Value::Int(n) => {
            let mut out = Vec::with_capacity(20);
            push_i64(&mut out, *n);
            Ok(Cow::Owned(out))
        }
        _ => Err(CmdError::WrongType),
    }
}

/// Length of a string value without formatting an integer.
fn string_len(value: &Value) -> Result<usize, CmdError> {
    match value {
        Value::Str(s) => Ok(s.len()),
        Value::Int(n) => Ok(n
            .unsigned_abs()
            .checked_ilog10()
            .map_or(1, |d| d as usize + 1)
            + usize::from(*n < 0)),
        _ => Err(CmdError::WrongType),
    }
}

/// Turns a string value into its byte form in place (APPEND, SETRANGE edit bytes) and returns
/// the bytes. Redis does the same when it "unshares" an int-encoded object before editing.
fn bytes_mut(value: &mut Value) -> Result<&mut Vec<u8>, CmdError> {
    if let Value::Int(n) = *value {
        let mut out = Vec::with_capacity(24);
        push_i64(&mut out, n);
        *value = Value::Str(SmallBytes::raw(out));
    }
    match value {
        Value::Str(s) => Ok(s.to_mut()),
        _ => Err(CmdError::WrongType),
    }
}

/// Redis `lookupKeyRead` on the read path: an expired key is missing, and the lookup counts
/// as a keyspace hit or miss.
fn lookup_read<'a>(ctx: &mut Ctx, db: &'a Db, key: &[u8]) -> Option<&'a Value> {
    ctx.lookup_read(db, key)
}

/// Redis `lookupKeyRead` from a write command (GETSET, GETDEL, GETEX, SET ... GET): as
/// [`lookup_read`], but an expired key is deleted on the way, as on a Redis master.
fn lookup_read_mut<'a>(ctx: &mut Ctx, db: &'a mut Db, key: &[u8]) -> Option<&'a mut Value> {
    db.expire_if_needed(key, ctx.now_ms);
    let found = db.contains(key, ctx.now_ms);
    ctx.count_lookup(db, key, found);
    if !found {
        return None;
    }
    db.get_value_mut(key, ctx.now_ms)
}

/// Redis `checkStringLength`: refuses a string that would grow past `proto-max-bulk-len`.
fn check_string_length(ctx: &Ctx, size: u64, append: u64) -> CmdResult {
    let limit = ctx.shared.config.read().proto_max_bulk_len;
    match size.checked_add(append) {
        Some(total) if total <= limit => Ok(()),
        _ => Err(CmdError::StringTooLong),
    }
}

/// Reads an integer argument (Redis `getLongLongFromObjectOrReply`).
fn arg_i64(arg: &[u8]) -> Result<i64, CmdError> {
    parse_i64(arg).ok_or(CmdError::NotInteger)
}

// ---------------------------------------------------------------------------------------------
// SET and GETEX options
// ---------------------------------------------------------------------------------------------

/// Which command [`parse_extended_string_args`] parses for: SET takes NX, XX, GET and KEEPTTL;
/// GETEX takes PERSIST; both take EX, PX, EXAT and PXAT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OptionsFor {
    /// SET key value [options]: options start at argv[3].
    Set,
    /// GETEX key [options]: options start at argv[2].
    Getex,
}

/// How an expire argument is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ExpireUnit {
    /// EX: seconds from now (also SETEX).
    Ex,
    /// PX: milliseconds from now (also PSETEX).
    Px,
    /// EXAT: a Unix time in seconds.
    ExAt,
    /// PXAT: a Unix time in milliseconds.
    PxAt,
}

/// The options of SET or GETEX after parsing (Redis's `OBJ_SET_NX`, `OBJ_EX`, ... flags).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct StringOptions<'a> {
    /// NX: only set a missing key.
    pub nx: bool,
    /// XX: only set an existing key.
    pub xx: bool,
    /// GET: reply with the old value.
    pub get: bool,
    /// KEEPTTL: keep the key's time to live.
    pub keepttl: bool,
    /// PERSIST (GETEX): remove the time to live.
    pub persist: bool,
    /// EX/PX/EXAT/PXAT and its argument.
    pub expire: Option<(ExpireUnit, &'a [u8])>,
}

/// Parses the options of SET or GETEX (Redis `parseExtendedStringArgumentsOrReply`).
///
/// An option is accepted only if it does not conflict with one seen before (NX with XX; the
/// expire options with each other, KEEPTTL and PERSIST), so the same option may repeat and
/// the last argument wins. Anything else, including an expire option with no argument after
/// it, is `Syntax`.
pub(crate) fn parse_extended_string_args(
    argv: &Argv,
    which: OptionsFor,
) -> Result<StringOptions<'_>, CmdError> {
    let mut o = StringOptions::default();
    let set = which == OptionsFor::Set;
    let mut j = if set { 3 } else { 2 };
    while j < argv.len() {
        let opt = &argv[j];
        let next = (j + 1 < argv.len()).then(|| &argv[j + 1]);
        let timed = o.expire.map(|(unit, _)| unit);
        let no_expire_but = |allowed: ExpireUnit| timed.is_none() || timed == Some(allowed);
        if set && eq_ci(opt, "NX") && !o.xx {
            o.nx = true;
        } else if set && eq_ci(opt, "XX") && !o.nx {
            o.xx = true;
        } else if set && eq_ci(opt, "GET") {
            o.get = true;
        } else if set && eq_ci(opt, "KEEPTTL") && !o.persist && timed.is_none() {
            o.keepttl = true;
        } else if !set && eq_ci(opt, "PERSIST") && timed.is_none() && !o.keepttl {
            o.persist = true;
        } else if let (Some(unit), Some(next)) = (expire_unit(opt), next) {
            if o.keepttl || o.persist || !no_expire_but(unit) {
                return Err(CmdError::Syntax);
            }
            o.expire = Some((unit, next));
            j += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    Ok(o)
}

fn expire_unit(opt: &[u8]) -> Option<ExpireUnit> {
    [
        ("EX", ExpireUnit::Ex),
        ("PX", ExpireUnit::Px),
        ("EXAT", ExpireUnit::ExAt),
        ("PXAT", ExpireUnit::PxAt),
    ]
    .into_iter()
    .find(|(name, _)| eq_ci(opt, name))
    .map(|(_, unit)| unit)
}

/// Turns an expire argument into an absolute Unix time in milliseconds (Redis
/// `getExpireMillisecondsOrReply`).
///
/// Errors: `NotInteger`; `InvalidExpire` for zero or negative values, seconds that overflow
/// when multiplied by 1000, and relative times that overflow when added to now.
pub(crate) fn expire_at_ms(unit: ExpireUnit, arg: &[u8], now_ms: u64) -> Result<u64, CmdError> {
    let mut ms = arg_i64(arg)?;
    let seconds = matches!(unit, ExpireUnit::Ex | ExpireUnit::ExAt);
    if ms <= 0 || (seconds && ms > i64::MAX / 1000) {
        return Err(CmdError::InvalidExpire);
    }
    if seconds {
        ms *= 1000;
    }
    if matches!(unit, ExpireUnit::Ex | ExpireUnit::Px) {
        ms = ms
            .checked_add(now_ms as i64)
            .ok_or(CmdError::InvalidExpire)?;
    }
    Ok(ms as u64)
}

// ---------------------------------------------------------------------------------------------
// GET / SET family
// ---------------------------------------------------------------------------------------------

/// ```text
/// GET key
/// ```
/// Bulk string, or null if the key is missing. Errors: `WrongType`.
pub fn get(ctx: &mut Ctx, db: &Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    match lookup_read(ctx, db, &argv[1]) {
        Some(value) => reply_string(value, reply),
        None => {
            reply.null();
            Ok(())
        }
    }
}

/// What [`set_generic`] replies: `ok` after a write, `abort` when NX/XX prevent it (Redis's
/// `ok_reply` / `abort_reply` arguments).
#[derive(Clone, Copy)]
pub(crate) struct SetReplies {
    /// Reply after the value was written.
    pub ok: fn(&mut Reply),
    /// Reply when NX or XX prevented the write.
    pub abort: fn(&mut Reply),
}

/// SET, SETEX, PSETEX: `+OK`, or null when refused.
pub(crate) const SET_REPLIES: SetReplies = SetReplies {
    ok: Reply::ok,
    abort: Reply::null,
};

/// SETNX: `:1` or `:0`.
pub(crate) const SETNX_REPLIES: SetReplies = SetReplies {
    ok: |r| r.int(1),
    abort: |r| r.int(0),
};

/// The body of SET, SETNX, SETEX and PSETEX (Redis `setGenericCommand`).
///
/// Order, as in Redis: the expire argument is validated first, then GET replies with the old
/// value (or fails with `WrongType`), then NX/XX decide. A plain write drops the key's TTL;
/// KEEPTTL keeps it; an expire replaces it. `replies` says what to answer when the value is
/// written and when NX/XX refuse (neither is sent with GET: its reply is the old value).
pub(crate) fn set_generic(
    ctx: &mut Ctx,
    db: &mut Db,
    key: &[u8],
    value: &[u8],
    options: &StringOptions,
    replies: SetReplies,
    reply: &mut Reply,
) -> CmdResult {
    let expire_at = match options.expire {
        Some((unit, arg)) => Some(expire_at_ms(unit, arg, ctx.now_ms)?),
        None => None,
    };
    if options.get {
        match lookup_read_mut(ctx, db, key) {
            Some(old) => reply_string(old, reply)?,
            None => reply.null(),
        }
    }
    // Only NX and XX need to know whether the key exists; a plain SET does not look.
    let found = (options.nx || options.xx) && db.get(key, ctx.now_ms).is_some();
    if (options.nx && found) || (options.xx && !found) {
        if !options.get {
            (replies.abort)(reply);
        }
        ctx.changes = Some(0);
        return Ok(());
    }
    let value_bytes = value;
    let value = Value::from_slice(value);
    if let Some(at) = expire_at {
        db.set_with_expire(key, value, Some(at), ctx.now_ms);
    } else if options.keepttl {
        db.set_keep_ttl(key, value, ctx.now_ms);
    } else {
        db.set(key, value, ctx.now_ms);
    }
    // mirrors setGenericCommand(): "set", then "expire" when a TTL came with it
    db.notify(notify::STRING, "set", key);
    if let Some(at) = expire_at {
        db.notify(notify::GENERIC, "expire", key);
        // mirrors setGenericCommand(): an expiry is recorded as the deadline it gave,
        // `SET key value PXAT ms` (the other options dropped), so a replay expires the key
        // when this server would have.
        if ctx.records_wanted() {
            let at = at.to_string();
            ctx.propagate_as(Argv::from_args([
                &b"SET"[..],
                key,
                value_bytes,
                b"PXAT",
                at.as_bytes(),
            ]));
        }
    }
    if !options.get {
        (replies.ok)(reply);
    }
    Ok(())
}

/// ```text
/// SET key value [NX | XX] [GET] [EX seconds | PX milliseconds |
///     EXAT unix-time-seconds | PXAT unix-time-milliseconds | KEEPTTL]
/// ```
/// `+OK`, or null when NX/XX prevent the write; with GET, the old value (bulk or null)
/// whether or not the write happened. Errors: `Syntax` (unknown or conflicting options),
/// `NotInteger` / `InvalidExpire` (expire argument), `WrongType` (GET on a non-string; nothing
/// is written).
pub fn set(ctx: &mut Ctx, db: &mut Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let options = parse_extended_string_args(argv, OptionsFor::Set)?;
    set_generic(ctx, db, &argv[1], &argv[2], &options, SET_REPLIES, reply)?;
    // mirrors setGenericCommand(): GET only shapes the reply, so a SET that wrote is recorded
    // without it (with an expiry it was rewritten whole already).
    let wrote = ctx.changes != Some(0);
    if options.get && options.expire.is_none() && wrote && ctx.records_wanted() {
        let mut record = Argv::new();
        for (i, arg) in argv.iter().enumerate() {
            if i < 3 || !eq_ci(arg, "get") {
                record.push(arg);
            }
        }
        ctx.propagate_as(record);
    }
    Ok(())
}

/// ```text
/// SETNX key value
/// ```
/// Integer: 1 if the key was set, 0 if it already existed.
pub fn setnx(ctx: &mut Ctx, db: &mut Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let options = StringOptions {
        nx: true,
        ..Default::default()
    };
    set_generic(ctx, db, &argv[1], &argv[2], &options, SETNX_REPLIES, reply)
}

/// ```text
/// SETEX key seconds value
/// ```
/// `+OK`. Errors: `NotInteger`, `InvalidExpire` (reported as `'setex'`).
pub fn setex(ctx: &mut Ctx, db: &mut Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let options = StringOptions {
        expire: Some((ExpireUnit::Ex, &argv[2])),
        ..Default::default()
    };
    set_generic(ctx, db, &argv[1], &argv[3], &options, SET_REPLIES, reply)
}

/// ```text
/// PSETEX key milliseconds value
/// ```
/// `+OK`. Errors: `NotInteger`, `InvalidExpire` (reported as `'psetex'`).
pub fn psetex(ctx: &mut Ctx, db: &mut Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let options = StringOptions {
        expire: Some((ExpireUnit::Px, &argv[2])),
        ..Default::default()
    };
    set_generic(ctx, db, &argv[1], &argv[3], &options, SET_REPLIES, reply)
}

/// ```text
/// GETSET key value
/// ```
/// The old value (bulk or null); the key is set and its TTL dropped. Errors: `WrongType`
/// (nothing is written).
pub fn getset(ctx: &mut Ctx, db: &mut Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    match lookup_read_mut(ctx, db, &argv[1]) {
        Some(old) => reply_string(old, reply)?,
        None => reply.null(),
    }
    db.set(&argv[1], Value::from_slice(&argv[2]), ctx.now_ms);
    db.notify(notify::STRING, "set", &argv[1]);
    // mirrors getsetCommand(): recorded as the SET it amounts to.
    if ctx.records_wanted() {
        ctx.propagate_as(Argv::from_args([&b"SET"[..], &argv[1], &argv[2]]));
    }
    Ok(())
}

/// ```text
/// GETDEL key
/// ```
/// The value (bulk), deleting the key; null if it is missing. Errors: `WrongType` (the key is
/// kept).
pub fn getdel(ctx: &mut Ctx, db: &mut Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    match lookup_read_mut(ctx, db, &argv[1]) {
        Some(old) => reply_string(old, reply)?,
        None => {
            reply.null();
            ctx.changes = Some(0);
            return Ok(());
        }
    }
    db.remove(&argv[1]);
    db.notify(notify::GENERIC, "del", &argv[1]);
    // mirrors getdelCommand(): recorded as the DEL it amounts to.
    if ctx.records_wanted() {
        ctx.propagate_as(Argv::from_args([&b"DEL"[..], &argv[1]]));
    }
    Ok(())
}

/// ```text
/// GETEX key [EX seconds | PX milliseconds | EXAT unix-time-seconds |
///     PXAT unix-time-milliseconds | PERSIST]
/// ```
/// The value (bulk), or null if the key is missing (then the options are not validated any
/// further). Without options the TTL is untouched; EX/PX/EXAT/PXAT set it (an EXAT/PXAT time
/// already past deletes the key after replying); PERSIST removes it.
/// Errors: `Syntax`, `WrongType`, `NotInteger`, `InvalidExpire` (reported as `'getex'`).
pub fn getex(ctx: &mut Ctx, db: &mut Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let options = parse_extended_string_args(argv, OptionsFor::Getex)?;
    let key = &argv[1];
    let Some(value) = lookup_read_mut(ctx, db, key) else {
        reply.null();
        ctx.changes = Some(0);
        return Ok(());
    };
    if !value.is_string() {
        return Err(CmdError::WrongType);
    }
    let expire_at = match options.expire {
        Some((unit, arg)) => Some(expire_at_ms(unit, arg, ctx.now_ms)?),
        None => None,
    };
    reply_string(value, reply)?;
    let absolute = matches!(
        options.expire,
        Some((ExpireUnit::ExAt | ExpireUnit::PxAt, _))
    );
    match expire_at {
        // Redis `checkAlreadyExpired`: a deadline already reached deletes the key now.
        // mirrors getexCommand(): each change is recorded as the command it amounts to, a
        // deletion as DEL, a deadline as PEXPIREAT, a removed TTL as PERSIST.
        Some(at) if absolute && at <= ctx.now_ms => {
            db.remove(key);
            db.notify(notify::GENERIC, "del", key);
            ctx.propagate_as(Argv::from_args([&b"DEL"[..], key]));
        }
        Some(at) => {
            db.set_expire(key, Some(at), ctx.now_ms);
            db.notify(notify::GENERIC, "expire", key);
            let at = at.to_string();
            ctx.propagate_as(Argv::from_args([&b"PEXPIREAT"[..], key, at.as_bytes()]));
        }
        None if options.persist
            && db
                .get(key, ctx.now_ms)
                .is_some_and(|e| e.expire_at().is_some()) =>
        {
            db.set_expire(key, None, ctx.now_ms);
            db.notify(notify::GENERIC, "persist", key);
            ctx.propagate_as(Argv::from_args([&b"PERSIST"[..], key]));
        }
        // Nothing changed: a plain read, or PERSIST on a key with no TTL.
        None => ctx.changes = Some(0),
    }
    Ok(())
}

/// ```text
/// MGET key [key ...]
/// ```
/// Array of bulk strings; null for a missing key or one that is not a string (never an
/// error).
pub(crate) fn mget(ctx: &mut Ctx, db: &Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    reply.array(argv.len() - 1);
    for key in argv.iter().skip(1) {
        match lookup_read(ctx, db, key) {
            Some(value) if value.is_string() => reply_string(value, reply)?,
            _ => reply.null(),
        }
    }
    Ok(())
}

/// The body of MSET and MSETNX (Redis `msetGenericCommand`): every key is set and loses its
/// TTL; with `nx`, nothing is set if any key exists.
///
/// Errors: `WrongArity` when a key has no value (the table's arity cannot express "odd").
pub(crate) fn mset_generic(
    ctx: &mut Ctx,
    db: &mut Db,
    argv: &Argv,
    nx: bool,
    reply: &mut Reply,
) -> CmdResult {
    if argv.len() % 2 == 0 {
        return Err(CmdError::WrongArity);
    }
    let pairs = || (1..argv.len()).step_by(2).map(|j| (&argv[j], &argv[j + 1]));
    if nx && pairs().any(|(key, _)| db.get(key, ctx.now_ms).is_some()) {
        reply.int(0);
        ctx.changes = Some(0);
        return Ok(());
    }
    for (key, value) in pairs() {
        db.set(key, Value::from_slice(value), ctx.now_ms);
        db.notify(notify::STRING, "set", key);
    }
    if nx {
        reply.int(1);
    } else {
        reply.ok();
    }
    Ok(())
}

/// ```text
/// MSET key value [key value ...]
/// ```
/// `+OK`. Errors: `WrongArity` (odd number of arguments after the name).
pub(crate) fn mset(ctx: &mut Ctx, db: &mut Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    mset_generic(ctx, db, argv, false, reply)
}

/// ```text
/// MSETNX key value [key value ...]
/// ```
/// Integer: 1 if all keys were set, 0 if none was (some key existed). Errors: `WrongArity`.
pub fn msetnx(ctx: &mut Ctx, db: &mut Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    mset_generic(ctx, db, argv, true, reply)
}

// ---------------------------------------------------------------------------------------------
// APPEND, STRLEN, GETRANGE, SETRANGE
// ---------------------------------------------------------------------------------------------

/// ```text
/// APPEND key value
/// ```
/// Integer: the new length. Creates the key if missing; keeps the TTL.
/// Errors: `WrongType`, `StringTooLong` (past `proto-max-bulk-len`).
pub fn append(ctx: &mut Ctx, db: &mut Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let (key, tail) = (&argv[1], &argv[2]);
    let limit_check = |len: usize| check_string_length(ctx, len as u64, tail.len() as u64);
    let len = match db.get_value_mut(key, ctx.now_ms) {
        None => {
            db.set(key, Value::from_slice(tail), ctx.now_ms);
            tail.len()
        }
        Some(value) => {
            limit_check(string_len(value)?)?;
            let bytes = bytes_mut(value)?;
            bytes.extend_from_slice(tail);
            bytes.len()
        }
    };
    db.notify(notify::STRING, "append", key);
    reply.int(len as i64);
    Ok(())
}

/// ```text
/// STRLEN key
/// ```
/// Integer: the length of the value, 0 for a missing key. Errors: `WrongType`.
pub(crate) fn strlen(ctx: &mut Ctx, db: &Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let len = match lookup_read(ctx, db, &argv[1]) {
        Some(value) => string_len(value)?,
        None => 0,
    };
    reply.int(len as i64);
    Ok(())
}

/// ```text
/// GETRANGE key start end
/// SUBSTR key start end
/// ```
/// Bulk string: the bytes from `start` to `end` inclusive; negative offsets count from the
/// end, and the range is clamped to the string. Empty (never null) for a missing key or an
/// empty range. Errors: `NotInteger` (checked before the key), `WrongType`.
pub(crate) fn getrange(ctx: &mut Ctx, db: &Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let mut start = arg_i64(&argv[2])?;
    let mut end = arg_i64(&argv[3])?;
    let Some(value) = lookup_read(ctx, db, &argv[1]) else {
        reply.bulk(b"");
        return Ok(());
    };
    let s = string_bytes(value)?;
    let len = s.len() as i64;
    // Both offsets negative and crossed: empty, even though clamping would make them meet
    // at 0 (Redis 7.0 special-cases this).
    if start < 0 && end < 0 && start > end {
        reply.bulk(b"");
        return Ok(());
    }
    if start < 0 {
        start += len;
    }
    if end < 0 {
        end += len;
    }
    start = start.max(0);
    end = end.max(0).min(len - 1);
    if start > end || len == 0 {
        reply.bulk(b"");
    } else {
        reply.bulk(&s[start as usize..=end as usize]);
    }
    Ok(())
}

/// ```text
/// SETRANGE key offset value
/// ```
/// Integer: the new length. Overwrites from `offset`, padding with zero bytes; creates the key
/// if missing (unless `value` is empty: then nothing is created and the reply is 0); keeps the
/// TTL. Errors: `NotInteger`, "ERR offset is out of range" (negative offset), `WrongType`,
/// `StringTooLong` (offset + length past `proto-max-bulk-len`).
pub(crate) fn setrange(ctx: &mut Ctx, db: &mut Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let (key, patch) = (&argv[1], &argv[3]);
    let offset = arg_i64(&argv[2])?;
    if offset < 0 {
        return Err(CmdError::msg("ERR offset is out of range"));
    }
    let offset = offset as u64;
    let limit_check = || check_string_length(ctx, offset, patch.len() as u64);
    let len = match db.get_value_mut(key, ctx.now_ms) {
        None => {
            if patch.is_empty() {
                0
            } else {
                limit_check()?;
                let mut bytes = vec![0u8; offset as usize];
                bytes.extend_from_slice(patch);
                let len = bytes.len();
                // Redis builds the new string in place (`createObject`), never as "embstr"
                // or "int", whatever the bytes.
                db.set(key, Value::Str(SmallBytes::raw(bytes)), ctx.now_ms);
                len
            }
        }
        Some(value) => {
            let old_len = string_len(value)?;
            if patch.is_empty() {
                old_len
            } else {
                limit_check()?;
                let bytes = bytes_mut(value)?;
                let end = offset as usize + patch.len();
                if bytes.len() < end {
                    bytes.resize(end, 0);
                }
                bytes[offset as usize..end].copy_from_slice(patch);
                bytes.len()
            }
        }
    };
    // mirrors setrangeCommand(): an empty patch changes nothing and reports nothing
    if !patch.is_empty() {
        db.notify(notify::STRING, "setrange", key);
    }
    reply.int(len as i64);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Counters
// ---------------------------------------------------------------------------------------------

/// The body of INCR, DECR, INCRBY and DECRBY (Redis `incrDecrCommand`): adds `incr` to the
/// integer at `key` (0 if missing), keeping the TTL, and replies with the result.
///
/// A value already stored as [`Value::Int`] is updated in place: no parsing, no formatting.
/// Errors: `WrongType`; `NotInteger` for a string that is not a canonical 64-bit integer
/// ("+1", " 1", "1.0"); `Overflow`.
pub(crate) fn incr_generic(
    ctx: &mut Ctx,
    db: &mut Db,
    key: &[u8],
    incr: i64,
    reply: &mut Reply,
) -> CmdResult {
    let result = match db.get_value_mut(key, ctx.now_ms) {
        Some(value) => {
            let old = match value {
                // The fast path: the number is already a number.
                Value::Int(n) => *n,
                Value::Str(s) => parse_i64(s).ok_or(CmdError::NotInteger)?,
                _ => return Err(CmdError::WrongType),
            };
            let new = old.checked_add(incr).ok_or(CmdError::Overflow)?;
            *value = Value::Int(new);
            new
        }
        None => {
            db.set(key, Value::Int(incr), ctx.now_ms);
            incr
        }
    };
    // INCR, DECR, INCRBY and DECRBY all report "incrby" (Redis incrDecrCommand).
    db.notify(notify::STRING, "incrby", key);
    reply.int(result);
    Ok(())
}

/// ```text
/// INCR key
/// ```
/// Integer: the value after the increment. Errors: see [`incr_generic`].
pub fn incr(ctx: &mut Ctx, db: &mut Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    incr_generic(ctx, db, &argv[1], 1, reply)
}

/// ```text
/// DECR key
/// ```
/// Integer: the value after the decrement. Errors: see [`incr_generic`].
pub(crate) fn decr(ctx: &mut Ctx, db: &mut Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    incr_generic(ctx, db, &argv[1], -1, reply)
}

/// ```text
/// INCRBY key increment
/// ```
/// Integer: the value after the increment. Errors: `NotInteger` (the increment, checked
/// before the key), then see [`incr_generic`].
pub(crate) fn incrby(ctx: &mut Ctx, db: &mut Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let incr = arg_i64(&argv[2])?;
    incr_generic(ctx, db, &argv[1], incr, reply)
}

/// ```text
/// DECRBY key decrement
/// ```
/// Integer: the value after the decrement. Errors: `NotInteger`, "ERR decrement would
/// overflow" (a decrement of -2^63 cannot be negated), then see [`incr_generic`].
pub(crate) fn decrby(ctx: &mut Ctx, db: &mut Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let decr = arg_i64(&argv[2])?;
    let incr = decr
        .checked_neg()
        .ok_or(CmdError::msg("ERR decrement would overflow"))?;
    incr_generic(ctx, db, &argv[1], incr, reply)
}

/// ```text
/// INCRBYFLOAT key increment
/// ```
/// Bulk string: the new value, computed in 80-bit long double as Redis does and printed
/// without exponent ("10.5", "3000", "0.00001"); stored as that string, keeping the TTL.
/// Errors: `WrongType`, `NotFloat` (the stored value or the increment), `NanOrInfinity`.
pub fn incrbyfloat(ctx: &mut Ctx, db: &mut Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let (key, incr) = (&argv[1], &argv[2]);
    // Read first, write only on success: a failed INCRBYFLOAT must not touch the key for
    // WATCH (Redis signals the key only after it stored the new value).
    db.expire_if_needed(key, ctx.now_ms);
    let value = match db.get_value(key, ctx.now_ms) {
        None => LongDouble::ZERO,
        Some(Value::Int(n)) => LongDouble::from_i64(*n),
        Some(Value::Str(s)) => LongDouble::parse(s).ok_or(CmdError::NotFloat)?,
        Some(_) => return Err(CmdError::WrongType),
    };
    let incr = LongDouble::parse(incr).ok_or(CmdError::NotFloat)?;
    let sum = value + incr;
    if !sum.is_finite() {
        return Err(CmdError::NanOrInfinity);
    }
    let text = sum.to_human();
    reply.bulk(&text);
    // mirrors incrbyfloatCommand(): the result is recorded, not the increment, so that a
    // replay or a replica cannot round differently.
    if ctx.records_wanted() {
        ctx.propagate_as(Argv::from_args([&b"SET"[..], key, &text, b"KEEPTTL"]));
    }
    match db.get_value_mut(key, ctx.now_ms) {
        Some(slot) => *slot = Value::Str(text.into()),
        None => db.set(key, Value::Str(text.into()), ctx.now_ms),
    }
    db.notify(notify::STRING, "incrbyfloat", key);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// LCS
// ---------------------------------------------------------------------------------------------

/// One run of matching bytes found by LCS ... IDX: inclusive ranges in each string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct MatchRange {
    a: (usize, usize),
    b: (usize, usize),
}

/// An LCS input: a missing key is an empty string; a key of another type is an error.
fn lcs_operand(value: Option<&Value>) -> Result<Cow<'_, [u8]>, CmdError> {
    match value {
        None => Ok(Cow::Borrowed(&b""[..])),
        Some(v) => string_bytes(v)
            .map_err(|_| CmdError::msg("ERR The specified keys must contain string values")),
    }
}

/// ```text
/// LCS key1 key2 [LEN] [IDX] [MINMATCHLEN min-match-len] [WITHMATCHLEN]
/// ```
/// Missing keys count as empty strings. Replies:
/// - default: bulk string, the longest common subsequence;
/// - LEN: integer, its length;
/// - IDX: a map `matches` → array of `[[a_start, a_end], [b_start, b_end]]` (plus the match
///   length with WITHMATCHLEN), last match first, skipping matches shorter than
///   MINMATCHLEN; and `len` → integer.
///
/// Errors (in this order, as in Redis): "ERR The specified keys must contain string values",
/// `Syntax`, `NotInteger` (MINMATCHLEN), "ERR If you want both the length and indexes, please
/// just use IDX.", and the memory errors when the (len1+1)×(len2+1) table of 32-bit cells
/// would exceed `proto-max-bulk-len`.
pub(crate) fn lcs(ctx: &mut Ctx, db: &Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let a = lookup_read(ctx, db, &argv[1]);
    let b = lookup_read(ctx, db, &argv[2]);
    let (a, b) = (lcs_operand(a)?, lcs_operand(b)?);

    let (mut getlen, mut getidx, mut withmatchlen, mut minmatchlen) = (false, false, false, 0);
    let mut j = 3;
    while j < argv.len() {
        let opt = &argv[j];
        if eq_ci(opt, "IDX") {
            getidx = true;
        } else if eq_ci(opt, "LEN") {
            getlen = true;
        } else if eq_ci(opt, "WITHMATCHLEN") {
            withmatchlen = true;
        } else if eq_ci(opt, "MINMATCHLEN") && j + 1 < argv.len() {
            minmatchlen = arg_i64(&argv[j + 1])?.max(0) as u64;
            j += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    if getlen && getidx {
        return Err(CmdError::msg(
            "ERR If you want both the length and indexes, please just use IDX.",
        ));
    }
    if a.len() >= u32::MAX as usize - 1 || b.len() >= u32::MAX as usize - 1 {
        return Err(CmdError::msg("ERR String too long for LCS"));
    }

    // The classic dynamic programming table: cell (i, j) holds the LCS length of a[..i] and
    // b[..j]. Redis refuses a table bigger than proto-max-bulk-len bytes.
    let width = b.len() + 1;
    let cells = (a.len() + 1) * width;
    let limit = ctx.shared.config.read().proto_max_bulk_len;
    if cells as u64 * 4 > limit {
        return Err(CmdError::msg(
            "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len",
        ));
    }
    let mut table: Vec<u32> = Vec::new();
    if table.try_reserve_exact(cells).is_err() {
        return Err(CmdError::msg(
            "ERR Insufficient memory, failed allocating transient memory for LCS",
        ));
    }
    table.resize(cells, 0);
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            table[i * width + j] = if a[i - 1] == b[j - 1] {
                table[(i - 1) * width + j - 1] + 1
            } else {
                table[(i - 1) * width + j].max(table[i * width + j - 1])
            };
        }
    }
    let total = table[a.len() * width + b.len()];

    // Walk back from the end to recover the subsequence and, for IDX, the runs of
    // consecutive matches, in the same order and with the same choices as Redis.
    let compute = getidx || !getlen;
    let mut result = vec![0u8; if compute { total as usize } else { 0 }];
    let mut matches: Vec<(MatchRange, usize)> = Vec::new();
    let mut current: Option<MatchRange> = None;
    let (mut i, mut j, mut idx) = (a.len(), b.len(), total as usize);
    while compute && i > 0 && j > 0 {
        let mut emit = false;
        if a[i - 1] == b[j - 1] {
            result[idx - 1] = a[i - 1];
            match current.as_mut() {
                None => {
                    current = Some(MatchRange {
                        a: (i - 1, i - 1),
                        b: (j - 1, j - 1),
                    })
                }
                // Still contiguous: grow the run backwards.
                Some(run) if run.a.0 == i && run.b.0 == j => {
                    run.a.0 -= 1;
                    run.b.0 -= 1;
                }
                Some(_) => emit = true,
            }
            // A run that reached the start of either string is complete.
            if current.is_some_and(|run| run.a.0 == 0 || run.b.0 == 0) {
                emit = true;
            }
            idx -= 1;
            i -= 1;
            j -= 1;
        } else {
            if table[(i - 1) * width + j] > table[i * width + j - 1] {
                i -= 1;
            } else {
                j -= 1;
            }
            emit = current.is_some();
        }
        if emit {
            if let Some(run) = current.take() {
                let len = run.a.1 - run.a.0 + 1;
                if minmatchlen == 0 || len as u64 >= minmatchlen {
                    matches.push((run, len));
                }
            }
        }
    }

    if getidx {
        reply.map(2);
        reply.bulk(b"matches");
        reply.array(matches.len());
        for (run, len) in &matches {
            reply.array(2 + usize::from(withmatchlen));
            for (start, end) in [run.a, run.b] {
                reply.array(2);
                reply.int(start as i64);
                reply.int(end as i64);
            }
            if withmatchlen {
                reply.int(*len as i64);
            }
        }
        reply.bulk(b"len");
        reply.int(total as i64);
    } else if getlen {
        reply.int(total as i64);
    } else {
        reply.bulk(&result);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    //! End-to-end checks through the socket-free harness: string commands against keys of
    //! other types (created directly in the store, so the test depends on no other command
    //! group) and the keyspace hit/miss counters. Expected bytes were recorded from Redis
    //! 7.0.15.

    use std::collections::VecDeque;

    use crate::harness::Harness;
    use crate::store::Value;

    const WRONGTYPE: &str =
        "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n";

    #[test]
    fn commands_against_a_list_key() {
        let h = Harness::new();
        let list: VecDeque<Vec<u8>> = [b"a".to_vec()].into();
        let now = h.now_ms();
        h.shared()
            .store
            .write()
            .db_mut(0)
            .set(b"mylist", Value::List(list), now);
        h.call(&["SET", "str", "hello"]);
        for cmd in [
            &["GET", "mylist"][..],
            &["GETSET", "mylist", "v"],
            &["GETDEL", "mylist"],
            &["GETEX", "mylist"],
            &["GETEX", "mylist", "EX", "-1"],
            &["SET", "mylist", "v", "GET"],
            &["SET", "mylist", "v", "GET", "NX"],
            &["APPEND", "mylist", "v"],
            &["STRLEN", "mylist"],
            &["INCR", "mylist"],
            &["DECRBY", "mylist", "1"],
            &["INCRBYFLOAT", "mylist", "1"],
            &["GETRANGE", "mylist", "0", "-1"],
            &["SETRANGE", "mylist", "0", ""],
        ] {
            assert_eq!(h.call(cmd), WRONGTYPE, "{cmd:?}");
        }
        // Argument errors come first where Redis checks them first.
        assert_eq!(
            h.call(&["GETEX", "mylist", "BADOPT"]),
            "-ERR syntax error\r\n"
        );
        assert_eq!(
            h.call(&["SET", "mylist", "v", "GET", "EX", "0"]),
            "-ERR invalid expire time in 'set' command\r\n"
        );
        assert_eq!(
            h.call(&["INCRBY", "mylist", "abc"]),
            "-ERR value is not an integer or out of range\r\n"
        );
        assert_eq!(
            h.call(&["SETRANGE", "mylist", "-1", "v"]),
            "-ERR offset is out of range\r\n"
        );
        assert_eq!(
            h.call(&["LCS", "mylist", "str", "FOO"]),
            "-ERR The specified keys must contain string values\r\n"
        );
        assert_eq!(
            h.call(&["MGET", "str", "mylist", "nokey"]),
            "*3\r\n$5\r\nhello\r\n$-1\r\n$-1\r\n"
        );
        assert_eq!(h.call(&["MSETNX", "mylist", "v", "x", "y"]), ":0\r\n");
        assert_eq!(h.call(&["SETNX", "mylist", "v"]), ":0\r\n");
        // Nothing above replaced the list...
        assert_eq!(h.call(&["STRLEN", "mylist"]), WRONGTYPE);
        // ...but a plain SET does.
        assert_eq!(h.call(&["SET", "mylist", "now", "XX"]), "+OK\r\n");
        assert_eq!(h.call(&["GET", "mylist"]), "$3\r\nnow\r\n");
    }

    #[test]
    fn keyspace_hits_and_misses_follow_redis() {
        let h = Harness::new();
        for cmd in [
            &["GET", "missing"][..],
            &["SET", "k", "v"],
            &["GET", "k"],
            &["MGET", "k", "nokey"],
            &["STRLEN", "k"],
            &["GETRANGE", "nokey", "0", "1"],
            &["LCS", "k", "nokey"],
            &["INCR", "n"],
            &["APPEND", "k", "x"],
            &["SET", "k", "v", "GET"],
            &["GETSET", "k", "v"],
            &["GETEX", "k"],
            &["GETDEL", "k"],
            &["GETDEL", "k"],
            &["SETRANGE", "k", "0", "a"],
            &["INCRBYFLOAT", "f", "1"],
            &["SETNX", "k", "v"],
            &["MSETNX", "a", "1"],
            &["SET", "k", "v", "NX", "GET"],
            &["DECRBY", "n", "1"],
            &["SET", "k", "v", "XX"],
        ] {
            h.call(cmd);
        }
        let totals = h.shared().totals();
        // Counted by redis-server 7.0.15 for the same sequence (INFO stats).
        assert_eq!(totals.hits, 9);
        assert_eq!(totals.misses, 5);
    }

    #[test]
    fn incr_keeps_integers_as_integers() {
        let h = Harness::new();
        h.call(&["SET", "n", "41"]);
        assert_eq!(h.call(&["INCR", "n"]), ":42\r\n");
        h.call(&["APPEND", "s", "1"]);
        h.call(&["APPEND", "s", "0"]);
        assert_eq!(h.call(&["INCRBY", "s", "5"]), ":15\r\n");
        let store = h.shared().store.read();
        let now = h.now_ms();
        assert!(matches!(
            store.db(0).get_value(b"n", now),
            Some(Value::Int(42))
        ));
        // A string turned into a number by INCR is stored as a number from then on.
        assert!(matches!(
            store.db(0).get_value(b"s", now),
            Some(Value::Int(15))
        ));
    }
}
