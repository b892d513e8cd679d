//! Stream commands: an append-only log per key, read by range, by blocking reads, and by
//! consumer groups that share its entries out and track what was acknowledged.
//!
//! Counterpart of Redis `src/t_stream.c` (the commands half), checked against Redis 7.0.15.
//! The type itself, its nodes, trimming and the group bookkeeping are in `store/stream.rs`.
//!
//! # Effects
//! Stream commands state what the AOF and the replicas get as Redis does, so that a replay
//! rebuilds the same stream whatever the clock: XADD with `*` or `<ms>-*` is recorded with
//! the ID it generated, and an approximate trim (`~`) as the exact trim it turned out to be
//! (`MAXLEN = <length>` or `MINID = <first id>`). Reads through a group record, per entry
//! delivered or claimed, an `XCLAIM ... FORCE JUSTID LASTID` that recreates its pending
//! entry, plus `XGROUP SETID` when the group advanced with NOACK (Redis
//! `streamPropagateXCLAIM`, `streamPropagateGroupID`, `streamPropagateConsumerCreation`).
//!
//! # Blocking
//! XREAD and XREADGROUP with BLOCK wait through [`crate::blocking`] like BLPOP. XADD marks
//! its key ready; the serving step calls [`serve_blocked`] for each waiter, in the order they
//! blocked; a waiter whose stream has nothing past its ID stays blocked.

use super::{CmdError, CmdResult, CommandSpec, Ctx, Flags, Group, Handler, KeySpec};
use crate::blocking::{BlockedOp, StreamWait};
use crate::notify;
use crate::protocol::{Argv, Reply};
use crate::store::encoding_limits;
use crate::store::stream::{ConsumerGroup, Fields, Pending, Trim, INVALID_ENTRIES_READ};
use crate::store::{Db, Stream, StreamId, Value};
use crate::util::{c_str, eq_ci, parse_i64};

const INVALID_ID: CmdError =
    CmdError::msg("ERR Invalid stream ID specified as stream command argument");
const INVALID_START: CmdError = CmdError::msg("ERR invalid start ID for the interval");
const INVALID_END: CmdError = CmdError::msg("ERR invalid end ID for the interval");
/// What XREAD's BLOCK serves at most when no COUNT was given (Redis
/// `XREAD_BLOCKED_DEFAULT_COUNT`).
const BLOCKED_DEFAULT_COUNT: usize = 1000;

const RW: Flags = Flags::WRITE;
const RW_FAST: Flags = Flags::WRITE.union(Flags::FAST);
const RW_OOM: Flags = Flags::WRITE.union(Flags::DENYOOM);
const RO: Flags = Flags::READONLY;
const HELP: Flags = Flags::LOADING.union(Flags::STALE);
const SUB_KEY: KeySpec = KeySpec::new(2, 2, 1);

const fn row(
    name: &'static str,
    arity: i32,
    flags: Flags,
    keys: KeySpec,
    handler: Handler,
) -> CommandSpec {
    CommandSpec::new(name, arity, flags, keys, Group::Stream, handler)
}

#[rustfmt::skip]
static XGROUP_SUBCOMMANDS: &[CommandSpec] = &[
    row("create", -5, RW_OOM, SUB_KEY, Handler::Write(xgroup)),
    row("createconsumer", 5, RW_OOM, SUB_KEY, Handler::Write(xgroup)),
    row("delconsumer", 5, RW, SUB_KEY, Handler::Write(xgroup)),
    row("destroy", 4, RW, SUB_KEY, Handler::Write(xgroup)),
    row("help", 2, HELP, KeySpec::NONE, Handler::Conn(xgroup_help)),
    row("setid", -5, RW, SUB_KEY, Handler::Write(xgroup)),
];

#[rustfmt::skip]
static XINFO_SUBCOMMANDS: &[CommandSpec] = &[
    row("consumers", 4, RO, SUB_KEY, Handler::Read(xinfo_consumers)),
    row("groups", 3, RO, SUB_KEY, Handler::Read(xinfo_groups)),
    row("help", 2, HELP, KeySpec::NONE, Handler::Conn(xinfo_help)),
    row("stream", -3, RO, SUB_KEY, Handler::Read(xinfo_stream)),
];

/// The stream group's rows of the command table (arity, flags and key positions as Redis
/// 7.0's COMMAND INFO reports them).
#[rustfmt::skip]
pub(crate) static COMMANDS: &[CommandSpec] = &[
    row("xadd", -5, RW_OOM.union(Flags::FAST), KeySpec::ONE, Handler::Write(xadd)),
    row("xrange", -4, RO, KeySpec::ONE, Handler::Read(xrange)),
    row("xrevrange", -4, RO, KeySpec::ONE, Handler::Read(xrevrange)),
    row("xlen", 2, RO.union(Flags::FAST), KeySpec::ONE, Handler::Read(xlen)),
    row("xdel", -3, RW_FAST, KeySpec::ONE, Handler::Write(xdel)),
    row("xtrim", -4, RW, KeySpec::ONE, Handler::Write(xtrim)),
    // XREAD only reads, but takes the write lock: with BLOCK it registers as a waiter.
    row("xread", -4, RO.union(Flags::BLOCKING).union(Flags::MOVABLEKEYS), KeySpec::NONE, Handler::Write(xread)),
    row("xreadgroup", -7, RW.union(Flags::BLOCKING).union(Flags::MOVABLEKEYS), KeySpec::NONE, Handler::Write(xreadgroup)),
    row("xgroup", -2, Flags::NONE, KeySpec::NONE, Handler::Container).with_subcommands(XGROUP_SUBCOMMANDS),
    row("xack", -4, RW_FAST, KeySpec::ONE, Handler::Write(xack)),
    row("xpending", -3, RO, KeySpec::ONE, Handler::Read(xpending)),
    row("xclaim", -6, RW_FAST, KeySpec::ONE, Handler::Write(xclaim)),
    row("xautoclaim", -6, RW_FAST, KeySpec::ONE, Handler::Write(xautoclaim)),
    row("xinfo", -2, Flags::NONE, KeySpec::NONE, Handler::Container).with_subcommands(XINFO_SUBCOMMANDS),
    row("xsetid", -3, RW_OOM.union(Flags::FAST), KeySpec::ONE, Handler::Write(xsetid)),
];

// ---------------------------------------------------------------------------------------------
// Lookups, IDs, replies
// ---------------------------------------------------------------------------------------------

fn lookup_read<'d>(ctx: &mut Ctx, db: &'d Db, key: &[u8]) -> Result<Option<&'d Stream>, CmdError> {
    match ctx.lookup_read(db, key) {
        None => Ok(None),
        Some(Value::Stream(s)) => Ok(Some(s)),
        Some(_) => Err(CmdError::WrongType),
    }
}

fn lookup_write<'d>(
    ctx: &Ctx,
    db: &'d mut Db,
    key: &[u8],
) -> Result<Option<&'d mut Stream>, CmdError> {
    match db.get_value_mut(key, ctx.now_ms) {
        None => Ok(None),
        Some(Value::Stream(s)) => Ok(Some(s)),
        Some(_) => Err(CmdError::WrongType),
    }
}

/// The wall clock for the times streams record (IDs, delivery and seen times). A replayed
/// AOF runs with a clock at 0 so that no key expires half-way (see `persistence::aof`), but
/// Redis stamps a replayed XCLAIM's delivery, or a consumer it creates, with the real time.
fn clock(ctx: &Ctx) -> u64 {
    if ctx.loading {
        crate::util::now_ms()
    } else {
        ctx.now_ms
    }
}

fn stream_mut<'d>(db: &'d mut Db, key: &[u8], now_ms: u64) -> Option<&'d mut Stream> {
    match db.get_value_mut(key, now_ms) {
        Some(Value::Stream(s)) => Some(s),
        _ => None,
    }
}

/// Redis `string2ull`: a decimal u64, allowing what `strtoull` allows after a failed strict
/// parse (leading blanks, a `+`), refusing a negative number.
fn parse_u64_loose(s: &[u8]) -> Option<u64> {
    if let Some(n) = parse_i64(s) {
        return u64::try_from(n).ok();
    }
    let mut rest = s;
    while let Some((&c, tail)) = rest.split_first() {
        if c.is_ascii_whitespace() {
            rest = tail;
        } else {
            break;
        }
    }
    if let Some(tail) = rest.strip_prefix(b"+") {
        rest = tail;
    }
    if rest.is_empty() || !rest.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(rest).ok()?.parse().ok()
}

/// Redis `streamGenericParseIDOrReply`: `<ms>-<seq>`, `<ms>` (seq = `missing_seq`), and
/// unless `strict`, `-` and `+`. With `seq_star`, `<ms>-*` is accepted and reported by the
/// returned flag being false ("sequence not given").
fn parse_id_full(
    arg: &[u8],
    missing_seq: u64,
    strict: bool,
    seq_star: bool,
) -> Result<(StreamId, bool), CmdError> {
    if arg.len() > 127 {
        return Err(INVALID_ID);
    }
    // The C code reads the argument as a C string.
    let arg = c_str(arg);
    if arg == b"-" || arg == b"+" {
        if strict {
            return Err(INVALID_ID);
        }
        let id = if arg == b"-" {
            StreamId::MIN
        } else {
            StreamId::MAX
        };
        return Ok((id, true));
    }
    let (ms_part, seq_part) = match arg.iter().position(|&b| b == b'-') {
        Some(dash) => (&arg[..dash], Some(&arg[dash + 1..])),
        None => (arg, None),
    };
    let ms = parse_u64_loose(ms_part).ok_or(INVALID_ID)?;
    let (seq, seq_given) = match seq_part {
        Some(b"*") if seq_star => (0, false),
        Some(part) => (parse_u64_loose(part).ok_or(INVALID_ID)?, true),
        None => (missing_seq, true),
    };
    Ok((StreamId::new(ms, seq), seq_given))
}

fn parse_id(arg: &[u8], missing_seq: u64) -> Result<StreamId, CmdError> {
    parse_id_full(arg, missing_seq, false, false).map(|(id, _)| id)
}

fn parse_strict_id(arg: &[u8]) -> Result<StreamId, CmdError> {
    parse_id_full(arg, 0, true, false).map(|(id, _)| id)
}

/// Redis `streamParseIntervalIDOrReply`: an ID, or `(<id>` for an exclusive bound.
fn parse_interval_id(arg: &[u8], missing_seq: u64) -> Result<(StreamId, bool), CmdError> {
    if arg.len() > 1 && arg[0] == b'(' {
        return parse_id_full(&arg[1..], missing_seq, true, false).map(|(id, _)| (id, true));
    }
    parse_id(arg, missing_seq).map(|id| (id, false))
}

/// The interval's start, moved past it when exclusive.
fn range_start(arg: &[u8]) -> Result<StreamId, CmdError> {
    let (id, exclusive) = parse_interval_id(arg, 0)?;
    if exclusive {
        return id.next().ok_or(INVALID_START);
    }
    Ok(id)
}

/// The interval's end, moved before it when exclusive.
fn range_end(arg: &[u8]) -> Result<StreamId, CmdError> {
    let (id, exclusive) = parse_interval_id(arg, u64::MAX)?;
    if exclusive {
        return id.prev().ok_or(INVALID_END);
    }
    Ok(id)
}

fn parse_ll(arg: &[u8]) -> Result<i64, CmdError> {
    parse_i64(arg).ok_or(CmdError::NotInteger)
}

/// An error naming a key and a group, both as sent (Redis formats them with `%s`).
fn quoting2(a: &str, first: &[u8], b: &str, second: &[u8], c: &str) -> CmdError {
    let mut text = a.as_bytes().to_vec();
    text.extend_from_slice(c_str(first));
    text.extend_from_slice(b.as_bytes());
    text.extend_from_slice(c_str(second));
    text.extend_from_slice(c.as_bytes());
    CmdError::Quoting(text)
}

fn no_key_or_group(key: &[u8], group: &[u8]) -> CmdError {
    no_key_or_group_in(key, group, "")
}

/// `NOGROUP No such key '<key>' or consumer group '<group>'<context>`.
fn no_key_or_group_in(key: &[u8], group: &[u8], context: &str) -> CmdError {
    let tail = format!("'{context}");
    quoting2(
        "NOGROUP No such key '",
        key,
        "' or consumer group '",
        group,
        &tail,
    )
}

fn no_group_for_key(group: &[u8], key: &[u8]) -> CmdError {
    quoting2(
        "NOGROUP No such consumer group '",
        group,
        "' for key name '",
        key,
        "'",
    )
}

fn reply_id(reply: &mut Reply, id: StreamId) {
    reply.bulk(&id.to_bytes());
}

/// One entry: `[id, [field, value, ...]]`.
fn reply_entry(reply: &mut Reply, id: StreamId, fields: &Fields) {
    reply.array(2);
    reply_id(reply, id);
    reply.array(fields.len());
    for f in fields {
        reply.bulk(f);
    }
}

fn owned(args: &[&[u8]]) -> Vec<Vec<u8>> {
    args.iter().map(|a| a.to_vec()).collect()
}

/// `XCLAIM key group consumer 0 id TIME t RETRYCOUNT n FORCE JUSTID LASTID last`: the record
/// that recreates one pending entry on a replica (Redis `streamPropagateXCLAIM`).
fn xclaim_record(
    key: &[u8],
    group_name: &[u8],
    group: &ConsumerGroup,
    id: StreamId,
    p: &Pending,
) -> Vec<Vec<u8>> {
    owned(&[
        b"XCLAIM",
        key,
        group_name,
        &p.consumer,
        b"0",
        &id.to_bytes(),
        b"TIME",
        p.delivery_time.to_string().as_bytes(),
        b"RETRYCOUNT",
        p.delivery_count.to_string().as_bytes(),
        b"FORCE",
        b"JUSTID",
        b"LASTID",
        &group.last_id.to_bytes(),
    ])
}

/// `XGROUP SETID key group last ENTRIESREAD n` (Redis `streamPropagateGroupID`).
fn setid_record(key: &[u8], group_name: &[u8], group: &ConsumerGroup) -> Vec<Vec<u8>> {
    owned(&[
        b"XGROUP",
        b"SETID",
        key,
        group_name,
        &group.last_id.to_bytes(),
        b"ENTRIESREAD",
        group.entries_read.to_string().as_bytes(),
    ])
}

fn propagate_records(ctx: &mut Ctx, records: Vec<Vec<Vec<u8>>>) {
    for r in records {
        ctx.propagate_as(Argv::from_args(r));
    }
}

/// Looks a consumer up, refreshing its seen time, or creates it. Returns true if it was
/// created: the caller then reports `xgroup-createconsumer` (Redis `streamCreateConsumer`).
fn touch_consumer(group: &mut ConsumerGroup, name: &[u8], now_ms: u64) -> bool {
    match group.consumers.get_mut(name) {
        Some(c) => {
            c.seen_time = now_ms;
            false
        }
        None => {
            group.consumers.insert(
                name.to_vec(),
                crate::store::stream::Consumer {
                    seen_time: now_ms,
                    pel: Default::default(),
                },
            );
            true
        }
    }
}

// ---------------------------------------------------------------------------------------------
// XADD, XTRIM
// ---------------------------------------------------------------------------------------------

/// The options XADD and XTRIM share (Redis `streamAddTrimArgs`).
#[derive(Default)]
struct AddTrimArgs {
    /// XADD's explicit ID and whether its sequence was given.
    id: Option<(StreamId, bool)>,
    /// Position of XADD's ID argument.
    id_pos: usize,
    no_mkstream: bool,
    trim: Option<Trim>,
    /// Position of the MAXLEN/MINID value, for the record's rewrite.
    trim_arg_pos: usize,
    approx: bool,
    limit: u64,
}

/// Redis `streamParseAddOrTrimArgsOrReply`.
fn parse_add_trim(ctx: &Ctx, argv: &Argv, xadd: bool) -> Result<AddTrimArgs, CmdError> {
    const BOTH: CmdError = CmdError::msg(
        "ERR syntax error, MAXLEN and MINID options at the same time are not compatible",
    );
    let mut args = AddTrimArgs::default();
    let mut limit: Option<i64> = None;
    let mut i = 2;
    while i < argv.len() {
        let more = argv.len() - 1 - i;
        let opt = &argv[i];
        if xadd && opt == b"*" {
            break;
        } else if (eq_ci(opt, "maxlen") || eq_ci(opt, "minid")) && more > 0 {
            if args.trim.is_some() {
                return Err(BOTH);
            }
            args.approx = false;
            let next = &argv[i + 1];
            if more >= 2 && next == b"~" {
                args.approx = true;
                i += 1;
            } else if more >= 2 && next == b"=" {
                i += 1;
            }
            if eq_ci(opt, "maxlen") {
                let n = parse_ll(&argv[i + 1])?;
                if n < 0 {
                    return Err(CmdError::msg("ERR The MAXLEN argument must be >= 0."));
                }
                args.trim = Some(Trim::MaxLen(n as u64));
            } else {
                args.trim = Some(Trim::MinId(parse_strict_id(&argv[i + 1])?));
            }
            i += 1;
            args.trim_arg_pos = i;
        } else if eq_ci(opt, "limit") && more > 0 {
            let n = parse_ll(&argv[i + 1])?;
            if n < 0 {
                return Err(CmdError::msg("ERR The LIMIT argument must be >= 0."));
            }
            limit = Some(n);
            i += 1;
        } else if xadd && eq_ci(opt, "nomkstream") {
            args.no_mkstream = true;
        } else if xadd {
            args.id = Some(parse_id_full(opt, 0, true, true)?);
            break;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    args.id_pos = i;
    if limit.is_some_and(|n| n > 0) && args.trim.is_none() {
        return Err(CmdError::msg(
            "ERR syntax error, LIMIT cannot be used without specifying a trimming strategy",
        ));
    }
    if !xadd && args.trim.is_none() {
        return Err(CmdError::msg(
            "ERR syntax error, XTRIM must be called with a trimming strategy",
        ));
    }
    if ctx.loading {
        // A replayed record is applied exactly (its trim was already rewritten).
        args.limit = 0;
    } else if let Some(n) = limit {
        if !args.approx {
            return Err(CmdError::msg(
                "ERR syntax error, LIMIT cannot be used without the special ~ option",
            ));
        }
        args.limit = n as u64;
    } else if args.approx {
        let per_node = encoding_limits::stream_node_max_entries() as u64;
        args.limit = per_node.saturating_mul(100);
        if args.limit == 0 {
            args.limit = 10000;
        }
        args.limit = args.limit.min(1_000_000);
    }
    Ok(args)
}

/// Rewrites an approximate trim in `record` as the exact trim it turned out to be (Redis
/// `streamRewriteApproxSpecifier` + `streamRewriteTrimArgument`).
fn rewrite_trim(record: &mut [Vec<u8>], args: &AddTrimArgs, s: &Stream) {
    record[args.trim_arg_pos - 1] = b"=".to_vec();
    record[args.trim_arg_pos] = match args.trim {
        Some(Trim::MaxLen(_)) => s.len().to_string().into_bytes(),
        _ => s.edge_id(false).unwrap_or_default().to_bytes(),
    };
}

/// ```text
/// XADD key [NOMKSTREAM] [MAXLEN|MINID [=|~] threshold [LIMIT count]] *|id field value ...
/// ```
/// Bulk reply: the new entry's ID; null with NOMKSTREAM on a missing key.
fn xadd(ctx: &mut Ctx, db: &mut Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let args = parse_add_trim(ctx, argv, true)?;
    let field_pos = args.id_pos + 1;
    let nargs = argv.len().saturating_sub(field_pos);
    if field_pos > argv.len() || nargs < 2 || nargs % 2 == 1 {
        return Err(CmdError::WrongArity);
    }
    if let Some((id, true)) = args.id {
        if id.is_zero() {
            return Err(CmdError::msg(
                "ERR The ID specified in XADD must be greater than 0-0",
            ));
        }
    }
    let key = &argv[1];
    if lookup_write(ctx, db, key)?.is_none() {
        if args.no_mkstream {
            reply.null();
            ctx.propagate_nothing();
            ctx.changes = Some(0);
            return Ok(());
        }
        db.set(key, Value::Stream(Box::default()), ctx.now_ms);
    }
    let s = stream_mut(db, key, ctx.now_ms).expect("the stream was just found or created");
    if s.last_id == StreamId::MAX {
        return Err(CmdError::msg(
            "ERR The stream has exhausted the last possible ID, unable to add more items",
        ));
    }
    let id = match args.id {
        Some((id, true)) => Some(id),
        Some((id, false)) => {
            if s.last_id.ms == id.ms {
                if s.last_id.seq == u64::MAX {
                    None
                } else {
                    Some(StreamId::new(id.ms, s.last_id.seq + 1))
                }
            } else {
                Some(id)
            }
        }
        None => {
            let ms = clock(ctx);
            if ms > s.last_id.ms {
                Some(StreamId::new(ms, 0))
            } else {
                s.last_id.next()
            }
        }
    };
    let fields: Fields = argv.iter().skip(field_pos).map(|a| a.to_vec()).collect();
    let appended = match id {
        None => Err(crate::store::stream::AppendError::NotGreater),
        Some(id) => s.append(
            id,
            fields,
            encoding_limits::stream_node_max_entries(),
            encoding_limits::stream_node_max_bytes(),
        ),
    };
    match appended {
        Ok(()) => {}
        Err(crate::store::stream::AppendError::NotGreater) => {
            return Err(CmdError::msg(
                "ERR The ID specified in XADD is equal or smaller than the target stream top item",
            ))
        }
        Err(crate::store::stream::AppendError::TooLarge) => {
            return Err(CmdError::msg("ERR Elements are too large to be stored"))
        }
    }
    let id = s.last_id;
    reply_id(reply, id);
    let mut record: Vec<Vec<u8>> = argv.iter().map(|a| a.to_vec()).collect();
    let mut trimmed = 0;
    if let Some(how) = args.trim {
        trimmed = s.trim(how, args.approx, args.limit);
        if args.approx {
            rewrite_trim(&mut record, &args, s);
        }
    }
    db.notify(notify::STREAM, "xadd", key);
    if trimmed > 0 {
        db.notify(notify::STREAM, "xtrim", key);
    }
    if !matches!(args.id, Some((_, true))) {
        record[args.id_pos] = id.to_bytes();
    }
    if args.approx || !matches!(args.id, Some((_, true))) {
        ctx.propagate_as(Argv::from_args(record));
    }
    db.signal_ready(key);
    Ok(())
}

/// ```text
/// XTRIM key MAXLEN|MINID [=|~] threshold [LIMIT count]
/// ```
/// Integer reply: how many entries were removed.
fn xtrim(ctx: &mut Ctx, db: &mut Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let args = parse_add_trim(ctx, argv, false)?;
    let key = &argv[1];
    let Some(s) = lookup_write(ctx, db, key)? else {
        reply.int(0);
        ctx.changes = Some(0);
        return Ok(());
    };
    let trimmed = s.trim(
        args.trim.expect("XTRIM has a strategy"),
        args.approx,
        args.limit,
    );
    if trimmed > 0 && args.approx {
        let mut record: Vec<Vec<u8>> = argv.iter().map(|a| a.to_vec()).collect();
        rewrite_trim(&mut record, &args, s);
        ctx.propagate_as(Argv::from_args(record));
    }
    if trimmed > 0 {
        db.notify(notify::STREAM, "xtrim", key);
    }
    ctx.changes = Some(trimmed);
    reply.int(trimmed as i64);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// XRANGE, XREVRANGE, XLEN, XDEL
// ---------------------------------------------------------------------------------------------

fn xrange(ctx: &mut Ctx, db: &Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    xrange_generic(ctx, db, argv, reply, false)
}

fn xrevrange(ctx: &mut Ctx, db: &Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    xrange_generic(ctx, db, argv, reply, true)
}

/// ```text
/// XRANGE key start end [COUNT count]      XREVRANGE key end start [COUNT count]
/// ```
/// Array of entries; `(` makes a bound exclusive, `-` and `+` are the extremes.
fn xrange_generic(ctx: &mut Ctx, db: &Db, argv: &Argv, reply: &mut Reply, rev: bool) -> CmdResult {
    let (start_arg, end_arg) = if rev {
        (&argv[3], &argv[2])
    } else {
        (&argv[2], &argv[3])
    };
    let start = range_start(start_arg)?;
    let end = range_end(end_arg)?;
    let mut count: i64 = -1;
    let mut j = 4;
    while j < argv.len() {
        if eq_ci(&argv[j], "count") && j + 1 < argv.len() {
            count = parse_ll(&argv[j + 1])?.max(0);
            j += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let Some(s) = lookup_read(ctx, db, &argv[1])? else {
        reply.array(0);
        return Ok(());
    };
    if count == 0 {
        reply.null_array();
        return Ok(());
    }
    let limit = if count < 0 {
        usize::MAX
    } else {
        count as usize
    };
    let entries: Vec<(StreamId, Fields)> = s.range(start, end, rev).take(limit).collect();
    reply.array(entries.len());
    for (id, fields) in &entries {
        reply_entry(reply, *id, fields);
    }
    Ok(())
}

/// ```text
/// XLEN key
/// ```
fn xlen(ctx: &mut Ctx, db: &Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let len = lookup_read(ctx, db, &argv[1])?.map_or(0, |s| s.len());
    reply.int(len as i64);
    Ok(())
}

/// ```text
/// XDEL key id [id ...]
/// ```
/// Integer reply: how many entries were deleted.
fn xdel(ctx: &mut Ctx, db: &mut Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let key = &argv[1];
    let Some(s) = lookup_write(ctx, db, key)? else {
        reply.int(0);
        ctx.changes = Some(0);
        return Ok(());
    };
    let ids = argv
        .iter()
        .skip(2)
        .map(parse_strict_id)
        .collect::<Result<Vec<_>, _>>()?;
    let deleted = s.delete_ids(&ids);
    if deleted > 0 {
        db.notify(notify::STREAM, "xdel", key);
    }
    ctx.changes = Some(deleted);
    reply.int(deleted as i64);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// XREAD, XREADGROUP
// ---------------------------------------------------------------------------------------------

fn xread(ctx: &mut Ctx, db: &mut Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    xread_generic(ctx, db, argv, reply, false)
}

fn xreadgroup(ctx: &mut Ctx, db: &mut Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    // Only the effects below go to the AOF and replicas (Redis `preventCommandPropagation`).
    ctx.propagate_nothing();
    xread_generic(ctx, db, argv, reply, true)
}

/// Entries read, each with its fields (None: deleted since it was delivered).
type Delivered = Vec<(StreamId, Option<Fields>)>;

/// Commands to propagate, each as its arguments.
type Records = Vec<Vec<Vec<u8>>>;

/// What one XREADGROUP delivers from one stream: the reply entries, and the records.
struct Delivery {
    entries: Delivered,
    records: Records,
}

/// Reads entries after `after` for a group's consumer, moving them into its PEL unless
/// `noack` (Redis `streamReplyWithRange` with a group).
#[allow(clippy::too_many_arguments)]
fn deliver_new(
    s: &mut Stream,
    key: &[u8],
    group_name: &[u8],
    consumer: &[u8],
    after: StreamId,
    count: usize,
    noack: bool,
    now_ms: u64,
) -> Delivery {
    let mut out = Delivery {
        entries: Vec::new(),
        records: Vec::new(),
    };
    let Some(start) = after.next() else {
        return out;
    };
    let limit = if count == 0 { usize::MAX } else { count };
    let found: Vec<(StreamId, Fields)> = s.range(start, StreamId::MAX, false).take(limit).collect();
    let mut propagate_last_id = false;
    for (id, fields) in found {
        s.advance_group(group_name, id);
        if noack {
            propagate_last_id = true;
        }
        let group = s.groups.get_mut(group_name).expect("the group exists");
        if !noack {
            // A new pending entry, or one delivered before (to this consumer or another)
            // handed over afresh.
            let p = group.pel.entry(id).or_insert_with(|| Pending {
                delivery_time: now_ms,
                delivery_count: 1,
                consumer: consumer.to_vec(),
            });
            p.delivery_time = now_ms;
            p.delivery_count = 1;
            group.assign(id, consumer);
            let p = &group.pel[&id];
            out.records
                .push(xclaim_record(key, group_name, group, id, p));
        }
        out.entries.push((id, Some(fields)));
    }
    if propagate_last_id {
        // Only records the NOACK case: with acknowledgements, the XCLAIMs carry LASTID.
        let group = &s.groups[group_name];
        out.records.push(setid_record(key, group_name, group));
    }
    out
}

/// A consumer's history: its pending entries from `start`, each delivered again (Redis
/// `streamReplyWithRangeFromConsumerPEL`); a deleted entry is `[id, nil]`.
fn deliver_history(
    s: &mut Stream,
    group_name: &[u8],
    consumer: &[u8],
    start: StreamId,
    count: usize,
    now_ms: u64,
) -> Delivery {
    let limit = if count == 0 { usize::MAX } else { count };
    let ids: Vec<StreamId> = s.groups[group_name].consumers[consumer]
        .pel
        .range(start..)
        .take(limit)
        .copied()
        .collect();
    let mut entries = Vec::with_capacity(ids.len());
    for id in ids {
        let fields = s.get(id);
        if fields.is_some() {
            let group = s.groups.get_mut(group_name).expect("the group exists");
            if let Some(p) = group.pel.get_mut(&id) {
                p.delivery_time = now_ms;
                p.delivery_count += 1;
            }
        }
        entries.push((id, fields));
    }
    Delivery {
        entries,
        records: Vec::new(),
    }
}

/// XREAD's outer reply: an array of `[key, entries]` in RESP2, a map of key to entries in
/// RESP3.
fn top_level(reply: &mut Reply, n: usize) {
    if reply.is_resp3() {
        reply.map(n);
    } else {
        reply.array(n);
    }
}

fn reply_delivery(reply: &mut Reply, key: &[u8], entries: &[(StreamId, Option<Fields>)]) {
    if !reply.is_resp3() {
        reply.array(2);
    }
    reply.bulk(key);
    reply.array(entries.len());
    for (id, fields) in entries {
        match fields {
            Some(f) => reply_entry(reply, *id, f),
            None => {
                reply.array(2);
                reply_id(reply, *id);
                reply.null_array();
            }
        }
    }
}

/// ```text
/// XREAD [COUNT count] [BLOCK ms] STREAMS key [key ...] id [id ...]
/// XREADGROUP GROUP group consumer [COUNT count] [BLOCK ms] [NOACK] STREAMS key ... id ...
/// ```
/// Per stream with something to read, `[key, entries]` (a map in RESP3); null when nothing
/// was read and the command does not block.
fn xread_generic(
    ctx: &mut Ctx,
    db: &mut Db,
    argv: &Argv,
    reply: &mut Reply,
    group_read: bool,
) -> CmdResult {
    let mut timeout: Option<i64> = None;
    let mut count: i64 = 0;
    let mut streams_arg = 0;
    let mut noack = false;
    let mut group: Option<(&[u8], &[u8])> = None;
    let mut i = 1;
    while i < argv.len() {
        let more = argv.len() - i - 1;
        let o = &argv[i];
        if eq_ci(o, "block") && more > 0 {
            // mirrors xreadCommand(): a script may not block (checked before the timeout).
            if ctx.in_script {
                let mut text = b"ERR ".to_vec();
                text.extend_from_slice(&argv[0]);
                text.extend_from_slice(b" command is not allowed with BLOCK option from scripts");
                return Err(CmdError::Quoting(text));
            }
            i += 1;
            let ms = parse_i64(&argv[i]).ok_or(CmdError::TIMEOUT_NOT_INTEGER)?;
            if ms < 0 {
                return Err(CmdError::TIMEOUT_NEGATIVE);
            }
            timeout = Some(ms);
        } else if eq_ci(o, "count") && more > 0 {
            i += 1;
            count = parse_ll(&argv[i])?.max(0);
        } else if eq_ci(o, "streams") && more > 0 {
            streams_arg = i + 1;
            if (argv.len() - streams_arg) % 2 != 0 {
                return Err(CmdError::msg(
                    "ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified.",
                ));
            }
            break;
        } else if eq_ci(o, "group") && more >= 2 {
            if !group_read {
                return Err(CmdError::msg(
                    "ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead.",
                ));
            }
            group = Some((&argv[i + 1], &argv[i + 2]));
            i += 2;
        } else if eq_ci(o, "noack") {
            if !group_read {
                return Err(CmdError::msg(
                    "ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead.",
                ));
            }
            noack = true;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    if streams_arg == 0 {
        return Err(CmdError::Syntax);
    }
    if group_read && group.is_none() {
        return Err(CmdError::msg("ERR Missing GROUP option for XREADGROUP"));
    }
    let nstreams = (argv.len() - streams_arg) / 2;
    // The ID each stream is read after; MAX stands for `>`.
    let mut ids = Vec::with_capacity(nstreams);
    for n in 0..nstreams {
        let key = &argv[streams_arg + n];
        let arg = &argv[streams_arg + nstreams + n];
        let s = lookup_read(ctx, db, key)?;
        if let Some((group_name, _)) = group {
            if !s.is_some_and(|s| s.groups.contains_key(group_name)) {
                return Err(no_key_or_group_in(
                    key,
                    group_name,
                    " in XREADGROUP with GROUP option",
                ));
            }
        }
        let id = if arg == b"$" {
            if group_read {
                return Err(CmdError::msg(
                    "ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set.",
                ));
            }
            s.map_or(StreamId::MIN, |s| s.last_id)
        } else if arg == b">" {
            if !group_read {
                return Err(CmdError::msg(
                    "ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.",
                ));
            }
            StreamId::MAX
        } else {
            parse_strict_id(arg)?
        };
        ids.push(id);
    }
    let count = count as usize;
    let mut served: Vec<(Vec<u8>, Delivered)> = Vec::new();
    let mut records = Vec::new();
    for (n, &after) in ids.iter().enumerate() {
        let key = &argv[streams_arg + n];
        let Some(s) = lookup_read(ctx, db, key)? else {
            continue;
        };
        let last_valid = s.edge_id(true);
        let (serve, history) = match group {
            Some(_) if after != StreamId::MAX => (true, true),
            Some((g, _)) => (last_valid.is_some_and(|m| m > s.groups[g].last_id), false),
            None => (last_valid.is_some_and(|m| m > after), false),
        };
        if !serve {
            continue;
        }
        let now = clock(ctx);
        let delivery = match group {
            None => Delivery {
                entries: s
                    .range(after.next().unwrap_or(StreamId::MAX), StreamId::MAX, false)
                    .take(if count == 0 { usize::MAX } else { count })
                    .map(|(id, f)| (id, Some(f)))
                    .collect(),
                records: Vec::new(),
            },
            Some((group_name, consumer)) => {
                let s = stream_mut(db, key, ctx.now_ms).expect("the stream exists");
                let g = s.groups.get_mut(group_name).expect("group");
                let created = touch_consumer(g, consumer, now);
                if created {
                    db.notify(notify::STREAM, "xgroup-createconsumer", key);
                }
                let s = stream_mut(db, key, ctx.now_ms).expect("the stream exists");
                let mut records = Vec::new();
                if created && noack {
                    records.push(owned(&[
                        b"XGROUP",
                        b"CREATECONSUMER",
                        key,
                        group_name,
                        consumer,
                    ]));
                }
                let mut d = if history {
                    match after.next() {
                        Some(start) => deliver_history(s, group_name, consumer, start, count, now),
                        None => Delivery {
                            entries: Vec::new(),
                            records: Vec::new(),
                        },
                    }
                } else {
                    let after = s.groups[group_name].last_id;
                    deliver_new(s, key, group_name, consumer, after, count, noack, now)
                };
                records.append(&mut d.records);
                d.records = records;
                d
            }
        };
        records.extend(delivery.records);
        served.push((key.to_vec(), delivery.entries));
    }
    if !served.is_empty() {
        ctx.changes = Some(if group.is_some() { 1 } else { 0 });
        propagate_records(ctx, records);
        top_level(reply, served.len());
        for (key, entries) in &served {
            reply_delivery(reply, key, entries);
        }
        return Ok(());
    }
    propagate_records(ctx, records);
    let Some(ms) = timeout else {
        reply.null_array();
        return Ok(());
    };
    let keys: Vec<&[u8]> = (0..nstreams).map(|n| &argv[streams_arg + n]).collect();
    let mut waits: Vec<(Vec<u8>, StreamId)> = Vec::new();
    for (key, id) in keys.iter().zip(&ids) {
        if !waits.iter().any(|(k, _)| k == key) {
            waits.push((key.to_vec(), *id));
        }
    }
    let op = BlockedOp::Stream(Box::new(StreamWait {
        ids: waits,
        count: if count == 0 {
            BLOCKED_DEFAULT_COUNT
        } else {
            count
        },
        group: group.map(|(g, c)| (g.to_vec(), c.to_vec())),
        noack,
    }));
    let deadline = (ms > 0).then(|| ctx.now_ms.saturating_add(ms as u64));
    crate::blocking::block(ctx, db, &keys, op, deadline, reply)
}

/// Serves a client blocked in XREAD or XREADGROUP on `key` (Redis
/// `serveClientsBlockedOnStreamKey`): its reply and the records to propagate, or None when
/// the stream has nothing past the waiter's ID (it stays blocked). A group reader whose
/// group is gone gets an error, and one whose key is gone or no longer a stream too.
pub(crate) fn serve_blocked(
    db: &mut Db,
    key: &[u8],
    wait: &StreamWait,
    resp3: bool,
    now_ms: u64,
) -> Option<(Vec<u8>, Records)> {
    let mut reply = Reply::with_protocol(resp3);
    let is_stream = matches!(db.get_value(key, now_ms), Some(Value::Stream(_)));
    if !is_stream {
        wait.group.as_ref()?;
        reply.error(b"UNBLOCKED the stream key no longer exists");
        return Some((reply.take_bytes(), Vec::new()));
    }
    let s = stream_mut(db, key, now_ms)?;
    let mut after = wait.ids.iter().find(|(k, _)| k == key)?.1;
    if let Some((group_name, _)) = &wait.group {
        match s.groups.get(group_name) {
            None => {
                reply.error(
                    b"NOGROUP the consumer group this client was blocked on no longer exists",
                );
                return Some((reply.take_bytes(), Vec::new()));
            }
            Some(g) => after = g.last_id,
        }
    }
    if s.last_id <= after {
        return None;
    }
    let delivery = match &wait.group {
        None => Delivery {
            entries: s
                .range(after.next()?, StreamId::MAX, false)
                .take(wait.count)
                .map(|(id, f)| (id, Some(f)))
                .collect(),
            records: Vec::new(),
        },
        Some((group_name, consumer)) => {
            let created = touch_consumer(s.groups.get_mut(group_name)?, consumer, now_ms);
            if created {
                db.notify(notify::STREAM, "xgroup-createconsumer", key);
            }
            let s = stream_mut(db, key, now_ms)?;
            let mut records = Vec::new();
            if created && wait.noack {
                records.push(owned(&[
                    b"XGROUP",
                    b"CREATECONSUMER",
                    key,
                    group_name,
                    consumer,
                ]));
            }
            let mut d = deliver_new(
                s, key, group_name, consumer, after, wait.count, wait.noack, now_ms,
            );
            records.append(&mut d.records);
            d.records = records;
            d
        }
    };
    top_level(&mut reply, 1);
    reply_delivery(&mut reply, key, &delivery.entries);
    Some((reply.take_bytes(), delivery.records))
}

// ---------------------------------------------------------------------------------------------
// XGROUP
// ---------------------------------------------------------------------------------------------

/// ```text
/// XGROUP CREATE key group id|$ [MKSTREAM] [ENTRIESREAD n]
/// XGROUP SETID key group id|$ [ENTRIESREAD n]
/// XGROUP CREATECONSUMER|DELCONSUMER key group consumer
/// XGROUP DESTROY key group
/// ```
/// One handler for the subcommands, which share their argument checks (Redis
/// `xgroupCommand`).
fn xgroup(ctx: &mut Ctx, db: &mut Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let sub = &argv[1];
    let create = eq_ci(sub, "create");
    let setid = eq_ci(sub, "setid");
    let mut mkstream = false;
    let mut entries_read = INVALID_ENTRIES_READ;
    let mut i = 5;
    while i < argv.len() {
        if create && eq_ci(&argv[i], "mkstream") {
            mkstream = true;
            i += 1;
        } else if (create || setid) && eq_ci(&argv[i], "entriesread") && i + 1 < argv.len() {
            entries_read = parse_ll(&argv[i + 1])?;
            if entries_read < 0 && entries_read != INVALID_ENTRIES_READ {
                return Err(CmdError::msg(
                    "ERR value for ENTRIESREAD must be positive or -1",
                ));
            }
            i += 2;
        } else {
            return Err(CmdError::SubcommandSyntax);
        }
    }
    let key = &argv[2];
    let group_name = &argv[3];
    let exists = lookup_write(ctx, db, key)?.is_some();
    if !mkstream {
        if !exists {
            return Err(CmdError::msg(
                "ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.",
            ));
        }
        let s = stream_mut(db, key, ctx.now_ms).expect("exists");
        if !create && !eq_ci(sub, "destroy") && !s.groups.contains_key(group_name) {
            return Err(no_group_for_key(group_name, key));
        }
    }
    let now = clock(ctx);
    if create {
        let id_arg = &argv[4];
        let id = if id_arg == b"$" {
            lookup_write(ctx, db, key)?.map_or(StreamId::MIN, |s| s.last_id)
        } else {
            parse_strict_id(id_arg)?
        };
        if !exists {
            db.set(key, Value::Stream(Box::default()), ctx.now_ms);
        }
        let s = stream_mut(db, key, ctx.now_ms).expect("exists");
        if s.groups.contains_key(group_name) {
            // The stream MKSTREAM just created stays, as in Redis.
            return Err(CmdError::msg(
                "BUSYGROUP Consumer Group name already exists",
            ));
        }
        s.groups
            .insert(group_name.to_vec(), ConsumerGroup::new(id, entries_read));
        db.notify(notify::STREAM, "xgroup-create", key);
        reply.ok();
        return Ok(());
    }
    let s = stream_mut(db, key, ctx.now_ms).expect("exists");
    if setid {
        let id_arg = &argv[4];
        let id = if id_arg == b"$" {
            s.last_id
        } else {
            parse_id(id_arg, 0)?
        };
        let g = s.groups.get_mut(group_name).expect("checked");
        g.last_id = id;
        g.entries_read = entries_read;
        db.notify(notify::STREAM, "xgroup-setid", key);
        reply.ok();
    } else if eq_ci(sub, "destroy") {
        if s.groups.remove(group_name).is_some() {
            db.notify(notify::STREAM, "xgroup-destroy", key);
            db.signal_ready(key);
            reply.int(1);
        } else {
            ctx.changes = Some(0);
            reply.int(0);
        }
    } else if eq_ci(sub, "createconsumer") {
        let g = s.groups.get_mut(group_name).expect("checked");
        let created = !g.consumers.contains_key(&argv[4]) && touch_consumer(g, &argv[4], now);
        if created {
            db.notify(notify::STREAM, "xgroup-createconsumer", key);
        } else {
            ctx.changes = Some(0);
        }
        reply.int(created as i64);
    } else {
        let g = s.groups.get_mut(group_name).expect("checked");
        let mut pending = 0;
        if let Some(consumer) = g.consumers.remove(&argv[4]) {
            pending = consumer.pel.len();
            for id in consumer.pel {
                g.pel.remove(&id);
            }
            db.notify(notify::STREAM, "xgroup-delconsumer", key);
        } else {
            ctx.changes = Some(0);
        }
        reply.int(pending as i64);
    }
    Ok(())
}

fn xgroup_help(_ctx: &mut Ctx, _argv: &Argv, reply: &mut Reply) -> CmdResult {
    super::connection::reply_help(
        reply,
        "XGROUP",
        &[
            "CREATE <key> <groupname> <id|$> [option]",
            "    Create a new consumer group. Options are:",
            "    * MKSTREAM",
            "      Create the empty stream if it does not exist.",
            "    * ENTRIESREAD entries_read",
            "      Set the group's entries_read counter (internal use).",
            "CREATECONSUMER <key> <groupname> <consumer>",
            "    Create a new consumer in the specified group.",
            "DELCONSUMER <key> <groupname> <consumer>",
            "    Remove the specified consumer.",
            "DESTROY <key> <groupname>",
            "    Remove the specified group.",
            "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
            "    Set the current group ID and entries_read counter.",
        ],
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// XSETID, XACK, XPENDING
// ---------------------------------------------------------------------------------------------

/// ```text
/// XSETID key last-id [ENTRIESADDED n] [MAXDELETEDID id]
/// ```
fn xsetid(ctx: &mut Ctx, db: &mut Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let id = parse_strict_id(&argv[2])?;
    let mut entries_added: i64 = -1;
    let mut max_deleted = StreamId::MIN;
    let mut i = 3;
    while i < argv.len() {
        let more = argv.len() - 1 - i;
        if eq_ci(&argv[i], "entriesadded") && more > 0 {
            entries_added = parse_ll(&argv[i + 1])?;
            if entries_added < 0 {
                return Err(CmdError::msg("ERR entries_added must be positive"));
            }
            i += 2;
        } else if eq_ci(&argv[i], "maxdeletedid") && more > 0 {
            max_deleted = parse_strict_id(&argv[i + 1])?;
            if id < max_deleted {
                return Err(CmdError::msg(
                    "ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id",
                ));
            }
            i += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let key = &argv[1];
    let s = lookup_write(ctx, db, key)?.ok_or(CmdError::NoSuchKey)?;
    if !s.is_empty() {
        let max = s.edge_id(true).unwrap_or_default();
        if id < max {
            return Err(CmdError::msg(
                "ERR The ID specified in XSETID is smaller than the target stream top item",
            ));
        }
        if entries_added != -1 && s.len() > entries_added as u64 {
            return Err(CmdError::msg(
                "ERR The entries_added specified in XSETID is smaller than the target stream length",
            ));
        }
    }
    s.last_id = id;
    if entries_added != -1 {
        s.entries_added = entries_added as u64;
    }
    if !max_deleted.is_zero() {
        s.max_deleted_entry_id = max_deleted;
    }
    db.notify(notify::STREAM, "xsetid", key);
    reply.ok();
    Ok(())
}

/// ```text
/// XACK key group id [id ...]
/// ```
/// Integer reply: how many pending entries were acknowledged.
fn xack(ctx: &mut Ctx, db: &mut Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let exists = lookup_write(ctx, db, &argv[1])?.is_some();
    let has_group = exists
        && stream_mut(db, &argv[1], ctx.now_ms).is_some_and(|s| s.groups.contains_key(&argv[2]));
    if !has_group {
        ctx.changes = Some(0);
        reply.int(0);
        return Ok(());
    }
    let ids = argv
        .iter()
        .skip(3)
        .map(parse_strict_id)
        .collect::<Result<Vec<_>, _>>()?;
    let s = stream_mut(db, &argv[1], ctx.now_ms).expect("exists");
    let g = s.groups.get_mut(&argv[2]).expect("exists");
    let acked = ids
        .iter()
        .filter(|id| g.remove_pending(**id).is_some())
        .count();
    ctx.changes = Some(acked as u64);
    reply.int(acked as i64);
    Ok(())
}

/// ```text
/// XPENDING key group [[IDLE min-idle] start end count [consumer]]
/// ```
/// The summary (count, smallest and largest ID, per consumer counts) or the entries.
fn xpending(ctx: &mut Ctx, db: &Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let argc = argv.len();
    if argc != 3 && !(6..=9).contains(&argc) {
        return Err(CmdError::Syntax);
    }
    let mut range = None;
    let mut min_idle: i64 = 0;
    let mut consumer_filter: Option<&[u8]> = None;
    if argc >= 6 {
        let mut at = 3;
        if eq_ci(&argv[3], "idle") {
            min_idle = parse_ll(&argv[4])?;
            if argc < 8 {
                return Err(CmdError::Syntax);
            }
            at += 2;
        }
        let count = parse_ll(&argv[at + 2])?.max(0);
        let start = range_start(&argv[at])?;
        let end = range_end(&argv[at + 1])?;
        if at + 3 < argc {
            consumer_filter = Some(&argv[at + 3]);
        }
        range = Some((start, end, count as usize));
    }
    let key = &argv[1];
    let group_name = &argv[2];
    let s = lookup_read(ctx, db, key)?;
    let Some(g) = s.and_then(|s| s.groups.get(group_name)) else {
        return Err(no_key_or_group(key, group_name));
    };
    let Some((start, end, count)) = range else {
        reply.array(4);
        reply.int(g.pel.len() as i64);
        match (g.pel.keys().next(), g.pel.keys().next_back()) {
            (Some(first), Some(last)) => {
                reply_id(reply, *first);
                reply_id(reply, *last);
                let owners: Vec<(&Vec<u8>, usize)> = g
                    .consumers
                    .iter()
                    .filter(|(_, c)| !c.pel.is_empty())
                    .map(|(n, c)| (n, c.pel.len()))
                    .collect();
                reply.array(owners.len());
                for (name, n) in owners {
                    reply.array(2);
                    reply.bulk(name);
                    reply.bulk_i64(n as i64);
                }
            }
            _ => {
                reply.null();
                reply.null();
                reply.null_array();
            }
        }
        return Ok(());
    };
    let ids: Vec<StreamId> = match consumer_filter {
        Some(name) => match g.consumers.get(name) {
            None => {
                reply.array(0);
                return Ok(());
            }
            Some(c) if start <= end => c.pel.range(start..=end).copied().collect(),
            Some(_) => Vec::new(),
        },
        None if start <= end => g.pel.range(start..=end).map(|(id, _)| *id).collect(),
        None => Vec::new(),
    };
    let now = clock(ctx) as i64;
    let mut rows = Vec::new();
    for id in ids {
        if rows.len() >= count {
            break;
        }
        let p = &g.pel[&id];
        let idle = now - p.delivery_time as i64;
        if min_idle > 0 && idle < min_idle {
            continue;
        }
        rows.push((id, p, idle.max(0)));
    }
    reply.array(rows.len());
    for (id, p, idle) in rows {
        reply.array(4);
        reply_id(reply, id);
        reply.bulk(&p.consumer);
        reply.int(idle);
        reply.int(p.delivery_count as i64);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// XCLAIM, XAUTOCLAIM
// ---------------------------------------------------------------------------------------------

/// ```text
/// XCLAIM key group consumer min-idle-time id [id ...] [IDLE ms] [TIME unix-ms]
///        [RETRYCOUNT count] [FORCE] [JUSTID] [LASTID id]
/// ```
/// The claimed entries (or their IDs with JUSTID).
fn xclaim(ctx: &mut Ctx, db: &mut Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let key = &argv[1];
    let group_name = &argv[2];
    let now = clock(ctx);
    let exists = lookup_write(ctx, db, key)?.is_some();
    if !exists
        || !stream_mut(db, key, ctx.now_ms).is_some_and(|s| s.groups.contains_key(group_name))
    {
        return Err(no_key_or_group(key, group_name));
    }
    let min_idle = parse_i64(&argv[4])
        .ok_or(CmdError::msg(
            "ERR Invalid min-idle-time argument for XCLAIM",
        ))?
        .max(0);
    let mut ids = Vec::new();
    let mut j = 5;
    while j < argv.len() {
        match parse_strict_id(&argv[j]) {
            Ok(id) => ids.push((id, j)),
            Err(_) => break,
        }
        j += 1;
    }
    let mut retry_count: i64 = -1;
    let mut delivery_time: i64 = -1;
    let mut force = false;
    let mut justid = false;
    let mut last_id = StreamId::MIN;
    while j < argv.len() {
        let more = argv.len() - 1 - j;
        let opt = &argv[j];
        if eq_ci(opt, "force") {
            force = true;
        } else if eq_ci(opt, "justid") {
            justid = true;
        } else if eq_ci(opt, "idle") && more > 0 {
            j += 1;
            let idle = parse_i64(&argv[j])
                .ok_or(CmdError::msg("ERR Invalid IDLE option argument for XCLAIM"))?;
            delivery_time = now as i64 - idle;
        } else if eq_ci(opt, "time") && more > 0 {
            j += 1;
            delivery_time = parse_i64(&argv[j])
                .ok_or(CmdError::msg("ERR Invalid TIME option argument for XCLAIM"))?;
        } else if eq_ci(opt, "retrycount") && more > 0 {
            j += 1;
            retry_count = parse_i64(&argv[j]).ok_or(CmdError::msg(
                "ERR Invalid RETRYCOUNT option argument for XCLAIM",
            ))?;
        } else if eq_ci(opt, "lastid") && more > 0 {
            j += 1;
            last_id = parse_strict_id(&argv[j])?;
        } else {
            return Err(CmdError::quoting(
                "ERR Unrecognized XCLAIM option '",
                opt,
                "'",
            ));
        }
        j += 1;
    }
    ctx.propagate_nothing();
    let s = stream_mut(db, key, ctx.now_ms).expect("exists");
    let mut changes: u64 = 0;
    let mut records = Vec::new();
    let mut propagate_last_id = false;
    {
        let g = s.groups.get_mut(group_name).expect("exists");
        if last_id > g.last_id {
            g.last_id = last_id;
            propagate_last_id = true;
        }
    }
    let delivery_time = if delivery_time < 0 || delivery_time > now as i64 {
        now
    } else {
        delivery_time as u64
    };
    let mut claimed: Vec<(StreamId, Option<Fields>)> = Vec::new();
    let mut consumer_ready = false;
    let mut created = false;
    for (id, pos) in ids {
        let s = stream_mut(db, key, ctx.now_ms).expect("exists");
        let fields = s.get(id);
        let g = s.groups.get_mut(group_name).expect("exists");
        let Some(fields) = fields else {
            if let Some(p) = g.pel.get(&id).cloned() {
                let mut rec = xclaim_record(key, group_name, g, id, &p);
                rec[5] = argv[pos].to_vec();
                records.push(rec);
                propagate_last_id = false;
                changes += 1;
                g.remove_pending(id);
            }
            continue;
        };
        if force && !g.pel.contains_key(&id) {
            g.pel.insert(
                id,
                Pending {
                    delivery_time: now,
                    delivery_count: 1,
                    consumer: Vec::new(),
                },
            );
        }
        let Some(p) = g.pel.get(&id) else {
            continue;
        };
        if !p.consumer.is_empty() && min_idle > 0 {
            let idle = now as i64 - p.delivery_time as i64;
            if idle < min_idle {
                continue;
            }
        }
        if !consumer_ready {
            created = touch_consumer(g, &argv[3], now);
            consumer_ready = true;
        }
        g.assign(id, &argv[3]);
        let p = g.pel.get_mut(&id).expect("pending");
        p.delivery_time = delivery_time;
        if retry_count >= 0 {
            p.delivery_count = retry_count as u64;
        } else if !justid {
            p.delivery_count += 1;
        }
        let p = p.clone();
        let mut rec = xclaim_record(key, group_name, g, id, &p);
        rec[5] = argv[pos].to_vec();
        records.push(rec);
        propagate_last_id = false;
        changes += 1;
        claimed.push((id, if justid { None } else { Some(fields) }));
    }
    if created {
        db.notify(notify::STREAM, "xgroup-createconsumer", key);
    }
    let s = stream_mut(db, key, ctx.now_ms).expect("exists");
    if propagate_last_id {
        records.push(setid_record(key, group_name, &s.groups[group_name]));
        changes += 1;
    }
    ctx.changes = Some(changes);
    propagate_records(ctx, records);
    reply.array(claimed.len());
    for (id, fields) in &claimed {
        match fields {
            Some(f) => reply_entry(reply, *id, f),
            None => reply_id(reply, *id),
        }
    }
    Ok(())
}

/// ```text
/// XAUTOCLAIM key group consumer min-idle-time start [COUNT count] [JUSTID]
/// ```
/// `[next start, claimed entries, IDs of deleted entries dropped from the PEL]`.
fn xautoclaim(ctx: &mut Ctx, db: &mut Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let min_idle = parse_i64(&argv[4])
        .ok_or(CmdError::msg(
            "ERR Invalid min-idle-time argument for XAUTOCLAIM",
        ))?
        .max(0);
    let start = range_start(&argv[5])?;
    let mut count: i64 = 100;
    let mut justid = false;
    let mut j = 6;
    while j < argv.len() {
        let more = argv.len() - 1 - j;
        if eq_ci(&argv[j], "count") && more > 0 {
            // Redis caps COUNT so that COUNT * 10 attempts cannot overflow.
            let max = i64::MAX / 16;
            count = parse_i64(&argv[j + 1])
                .filter(|n| (1..=max).contains(n))
                .ok_or(CmdError::COUNT_MUST_BE_POSITIVE)?;
            j += 1;
        } else if eq_ci(&argv[j], "justid") {
            justid = true;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    let key = &argv[1];
    let group_name = &argv[2];
    let now = clock(ctx);
    let exists = lookup_write(ctx, db, key)?.is_some();
    if !exists
        || !stream_mut(db, key, ctx.now_ms).is_some_and(|s| s.groups.contains_key(group_name))
    {
        return Err(no_key_or_group(key, group_name));
    }
    ctx.propagate_nothing();
    let mut attempts = count.saturating_mul(10);
    let s = stream_mut(db, key, ctx.now_ms).expect("exists");
    let candidates: Vec<StreamId> = s.groups[group_name]
        .pel
        .range(start..)
        .map(|(id, _)| *id)
        .collect();
    let mut records = Vec::new();
    let mut claimed: Vec<(StreamId, Option<Fields>)> = Vec::new();
    let mut deleted: Vec<StreamId> = Vec::new();
    let mut next = StreamId::MIN;
    let mut consumer_ready = false;
    let mut created = false;
    let mut it = candidates.into_iter();
    loop {
        if attempts == 0 || count == 0 {
            next = it.next().unwrap_or_default();
            break;
        }
        let Some(id) = it.next() else {
            break;
        };
        attempts -= 1;
        let s = stream_mut(db, key, ctx.now_ms).expect("exists");
        let fields = s.get(id);
        let g = s.groups.get_mut(group_name).expect("exists");
        let Some(fields) = fields else {
            let p = g.pel.get(&id).cloned().expect("pending");
            records.push(xclaim_record(key, group_name, g, id, &p));
            g.remove_pending(id);
            deleted.push(id);
            count -= 1;
            continue;
        };
        let p = &g.pel[&id];
        if min_idle > 0 && (now as i64 - p.delivery_time as i64) < min_idle {
            continue;
        }
        if !consumer_ready {
            created = touch_consumer(g, &argv[3], now);
            consumer_ready = true;
        }
        g.assign(id, &argv[3]);
        let p = g.pel.get_mut(&id).expect("pending");
        p.delivery_time = now;
        if !justid {
            p.delivery_count += 1;
        }
        let p = p.clone();
        records.push(xclaim_record(key, group_name, g, id, &p));
        claimed.push((id, if justid { None } else { Some(fields) }));
        count -= 1;
    }
    if created {
        db.notify(notify::STREAM, "xgroup-createconsumer", key);
    }
    ctx.changes = Some(records.len() as u64);
    propagate_records(ctx, records);
    reply.array(3);
    reply_id(reply, next);
    reply.array(claimed.len());
    for (id, fields) in &claimed {
        match fields {
            Some(f) => reply_entry(reply, *id, f),
            None => reply_id(reply, *id),
        }
    }
    reply.array(deleted.len());
    for id in deleted {
        reply_id(reply, id);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// XINFO
// ---------------------------------------------------------------------------------------------

fn xinfo_help(_ctx: &mut Ctx, _argv: &Argv, reply: &mut Reply) -> CmdResult {
    super::connection::reply_help(
        reply,
        "XINFO",
        &[
            "CONSUMERS <key> <groupname>",
            "    Show consumers of <groupname>.",
            "GROUPS <key>",
            "    Show the stream consumer groups.",
            "STREAM <key> [FULL [COUNT <count>]",
            "    Show information about the stream.",
        ],
    );
    Ok(())
}

fn xinfo_lookup<'d>(ctx: &mut Ctx, db: &'d Db, key: &[u8]) -> Result<&'d Stream, CmdError> {
    lookup_read(ctx, db, key)?.ok_or(CmdError::NoSuchKey)
}

/// ```text
/// XINFO CONSUMERS key group
/// ```
fn xinfo_consumers(ctx: &mut Ctx, db: &Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let s = xinfo_lookup(ctx, db, &argv[2])?;
    let g = s
        .groups
        .get(&argv[3])
        .ok_or_else(|| no_group_for_key(&argv[3], &argv[2]))?;
    reply.array(g.consumers.len());
    for (name, c) in &g.consumers {
        reply.map(3);
        reply.bulk(b"name");
        reply.bulk(name);
        reply.bulk(b"pending");
        reply.int(c.pel.len() as i64);
        reply.bulk(b"idle");
        reply.int((clock(ctx) as i64 - c.seen_time as i64).max(0));
    }
    Ok(())
}

fn reply_lag(reply: &mut Reply, s: &Stream, g: &ConsumerGroup) {
    match s.lag(g) {
        Some(lag) => reply.int(lag),
        None => reply.null(),
    }
}

fn reply_entries_read(reply: &mut Reply, g: &ConsumerGroup) {
    if g.entries_read != INVALID_ENTRIES_READ {
        reply.int(g.entries_read);
    } else {
        reply.null();
    }
}

/// ```text
/// XINFO GROUPS key
/// ```
fn xinfo_groups(ctx: &mut Ctx, db: &Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let s = xinfo_lookup(ctx, db, &argv[2])?;
    reply.array(s.groups.len());
    for (name, g) in &s.groups {
        reply.map(6);
        reply.bulk(b"name");
        reply.bulk(name);
        reply.bulk(b"consumers");
        reply.int(g.consumers.len() as i64);
        reply.bulk(b"pending");
        reply.int(g.pel.len() as i64);
        reply.bulk(b"last-delivered-id");
        reply_id(reply, g.last_id);
        reply.bulk(b"entries-read");
        reply_entries_read(reply, g);
        reply.bulk(b"lag");
        reply_lag(reply, s, g);
    }
    Ok(())
}

/// The radix tree's node count Redis reports. respd keeps no radix tree; this is the count
/// Redis's tree of 16-byte node keys shows for keys that differ in their last bytes (the
/// usual case: IDs close in time), one head node for an empty tree.
fn radix_nodes(keys: usize) -> usize {
    match keys {
        0 => 1,
        1 => 2,
        k => 2 * k + 2,
    }
}

/// ```text
/// XINFO STREAM key [FULL [COUNT count]]
/// ```
fn xinfo_stream(ctx: &mut Ctx, db: &Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    // The key is looked up before the options are read, as in Redis.
    let s = xinfo_lookup(ctx, db, &argv[2])?;
    let opts = &argv.iter().skip(3).collect::<Vec<_>>();
    let mut full = false;
    let mut count: i64 = 10;
    if !opts.is_empty() {
        if (opts.len() != 1 && opts.len() != 3) || !eq_ci(opts[0], "full") {
            return Err(CmdError::SubcommandSyntax);
        }
        full = true;
        if opts.len() == 3 {
            if !eq_ci(opts[1], "count") {
                return Err(CmdError::SubcommandSyntax);
            }
            count = parse_ll(opts[2])?;
            if count < 0 {
                count = 10;
            }
        }
    }
    let limit = if count == 0 {
        usize::MAX
    } else {
        count as usize
    };
    reply.map(if full { 9 } else { 10 });
    reply.bulk(b"length");
    reply.int(s.len() as i64);
    reply.bulk(b"radix-tree-keys");
    reply.int(s.nodes().len() as i64);
    reply.bulk(b"radix-tree-nodes");
    reply.int(radix_nodes(s.nodes().len()) as i64);
    reply.bulk(b"last-generated-id");
    reply_id(reply, s.last_id);
    reply.bulk(b"max-deleted-entry-id");
    reply_id(reply, s.max_deleted_entry_id);
    reply.bulk(b"entries-added");
    reply.int(s.entries_added as i64);
    reply.bulk(b"recorded-first-entry-id");
    reply_id(reply, s.first_id);
    if !full {
        reply.bulk(b"groups");
        reply.int(s.groups.len() as i64);
        reply.bulk(b"first-entry");
        match s.range(StreamId::MIN, StreamId::MAX, false).next() {
            Some((id, f)) => reply_entry(reply, id, &f),
            None => reply.null(),
        }
        reply.bulk(b"last-entry");
        match s.range(StreamId::MIN, StreamId::MAX, true).next() {
            Some((id, f)) => reply_entry(reply, id, &f),
            None => reply.null(),
        }
        return Ok(());
    }
    reply.bulk(b"entries");
    let entries: Vec<_> = s
        .range(StreamId::MIN, StreamId::MAX, false)
        .take(limit)
        .collect();
    reply.array(entries.len());
    for (id, f) in entries {
        reply_entry(reply, id, &f);
    }
    reply.bulk(b"groups");
    reply.array(s.groups.len());
    for (name, g) in &s.groups {
        reply.map(7);
        reply.bulk(b"name");
        reply.bulk(name);
        reply.bulk(b"last-delivered-id");
        reply_id(reply, g.last_id);
        reply.bulk(b"entries-read");
        reply_entries_read(reply, g);
        reply.bulk(b"lag");
        reply_lag(reply, s, g);
        reply.bulk(b"pel-count");
        reply.int(g.pel.len() as i64);
        reply.bulk(b"pending");
        let pel: Vec<_> = g.pel.iter().take(limit).collect();
        reply.array(pel.len());
        for (id, p) in pel {
            reply.array(4);
            reply_id(reply, *id);
            reply.bulk(&p.consumer);
            reply.int(p.delivery_time as i64);
            reply.int(p.delivery_count as i64);
        }
        reply.bulk(b"consumers");
        reply.array(g.consumers.len());
        for (cname, c) in &g.consumers {
            reply.map(4);
            reply.bulk(b"name");
            reply.bulk(cname);
            reply.bulk(b"seen-time");
            reply.int(c.seen_time as i64);
            reply.bulk(b"pel-count");
            reply.int(c.pel.len() as i64);
            reply.bulk(b"pending");
            let owned: Vec<_> = c.pel.iter().take(limit).collect();
            reply.array(owned.len());
            for id in owned {
                let p = &g.pel[id];
                reply.array(3);
                reply_id(reply, *id);
                reply.int(p.delivery_time as i64);
                reply.int(p.delivery_count as i64);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_as_redis_parses_them() {
        assert_eq!(
            parse_id(b"5", u64::MAX).unwrap(),
            StreamId::new(5, u64::MAX)
        );
        assert_eq!(parse_id(b"5-3", 0).unwrap(), StreamId::new(5, 3));
        assert_eq!(parse_id(b"-", 0).unwrap(), StreamId::MIN);
        assert!(parse_strict_id(b"+").is_err());
        assert!(parse_id(b"5-x", 0).is_err());
        assert!(parse_id(b"-5", 0).is_err());
        assert_eq!(
            parse_id_full(b"7-*", 0, true, true).unwrap(),
            (StreamId::new(7, 0), false)
        );
    }
}
