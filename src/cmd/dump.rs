//! DUMP and RESTORE: a key's value as an opaque, checksummed blob, and back.
//!
//! Counterpart of the DUMP/RESTORE half of Redis `src/cluster.c` (`createDumpPayload`,
//! `verifyDumpPayload`, `dumpCommand`, `restoreCommand`). MIGRATE, which ships such blobs to
//! another server, is in [`super::migrate`].
//!
//! # The payload, byte by byte
//! ```text
//! <type byte> <value>      the value exactly as an RDB file stores it after the key
//!                          (rdb.rs: the same writer and loader as SAVE and the startup load)
//! <2 bytes>                the RDB version, little endian: 10, as Redis 7.0 writes
//! <8 bytes>                CRC-64 (Jones polynomial, Redis crc64.c) of everything before it,
//!                          little endian
//! ```
//! There is no key and no TTL in it: RESTORE names the key and gives the TTL. So a payload
//! DUMPed by Redis 7.0 restores in respd and the other way round; a payload of a newer RDB
//! version is refused, as Redis refuses it.
//!
//! # A payload is client input
//! Every length inside the payload comes from the client. The loader checks each one against
//! the bytes left before allocating (see [`rdb::restore_payload`]), so a corrupt or hostile
//! payload gets `ERR Bad data format` (or the checksum error, which catches almost every
//! accidental corruption first), never a panic or a huge allocation, and the keyspace is
//! unchanged: the value is fully decoded before anything is touched.

use super::{CmdError, CmdResult, CommandSpec, Ctx, Flags, Group, Handler, KeySpec};
use crate::persistence::rdb::{self, PayloadError};
use crate::protocol::{Argv, Reply};
use crate::store::{access, Db};
use crate::util::{eq_ci, parse_i64};

/// DUMP and RESTORE's rows of the command table (Redis puts them in the generic group).
/// Flags, arity and key positions are Redis 7.0's, as `COMMAND INFO` reports them.
#[rustfmt::skip]
pub(crate) static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("dump", 2, Flags::READONLY, KeySpec::ONE, Group::Generic, Handler::Read(dump)),
    CommandSpec::new("restore", -4, Flags::WRITE.union(Flags::DENYOOM), KeySpec::ONE, Group::Generic, Handler::Write(restore)),
];

const BUSY_KEY: CmdError = CmdError::msg("BUSYKEY Target key name already exists.");
const BAD_VERSION_OR_CHECKSUM: CmdError =
    CmdError::msg("ERR DUMP payload version or checksum are wrong");
const BAD_DATA: CmdError = CmdError::msg("ERR Bad data format");
const NEGATIVE_TTL: CmdError = CmdError::msg("ERR Invalid TTL value, must be >= 0");
const NEGATIVE_IDLETIME: CmdError = CmdError::msg("ERR Invalid IDLETIME value, must be >= 0");
const BAD_FREQ: CmdError = CmdError::msg("ERR Invalid FREQ value, must be >= 0 and <= 255");

/// ```text
/// DUMP key
/// ```
/// Bulk string: the payload described in the module docs; null if the key does not exist.
/// A read lookup: counts a hit or a miss and refreshes the access time, as Redis's
/// FUNCTION DUMP's payload of these libraries (see [`rdb::functions_payload`]); strings
/// compressed as the dump file's are.
pub(crate) fn functions_payload(ctx: &Ctx, codes: &[Vec<u8>]) -> Vec<u8> {
    let compression = ctx.shared.config.read().rdbcompression;
    rdb::functions_payload(codes, compression)
}

/// The libraries' code in a FUNCTION RESTORE payload (see [`rdb::functions_from_payload`]).
pub(crate) fn functions_from_payload(payload: &[u8]) -> Result<Vec<Vec<u8>>, &'static str> {
    rdb::functions_from_payload(payload)
}

/// `lookupKeyRead`. Strings are LZF-compressed as the dump file's are (`rdbcompression`).
/// Checked against Redis 7.0.15.
pub fn dump(ctx: &mut Ctx, db: &Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let Some(value) = ctx.lookup_read(db, &argv[1]) else {
        reply.null();
        return Ok(());
    };
    let compression = ctx.shared.config.read().rdbcompression;
    reply.bulk(&rdb::dump_payload(value, compression));
    Ok(())
}

/// The options after `key ttl serialized-value`.
#[derive(Debug, Default)]
struct RestoreOptions {
    replace: bool,
    absttl: bool,
    idletime: Option<u64>,
    freq: Option<u8>,
}

/// Parses RESTORE's options in Redis's order of checks: IDLETIME and FREQ exclude each
/// other (the second one given is a syntax error), and each value is checked as it is read.
fn parse_restore_options(argv: &Argv) -> Result<RestoreOptions, CmdError> {
    let mut opts = RestoreOptions::default();
    let mut i = 4;
    while i < argv.len() {
        let has_value = i + 1 < argv.len();
        if eq_ci(&argv[i], "replace") {
            opts.replace = true;
        } else if eq_ci(&argv[i], "absttl") {
            opts.absttl = true;
        } else if eq_ci(&argv[i], "idletime") && has_value && opts.freq.is_none() {
            let idle = parse_i64(&argv[i + 1]).ok_or(CmdError::NotInteger)?;
            opts.idletime = Some(u64::try_from(idle).map_err(|_| NEGATIVE_IDLETIME)?);
            i += 1;
        } else if eq_ci(&argv[i], "freq") && has_value && opts.idletime.is_none() {
            let freq = parse_i64(&argv[i + 1]).ok_or(CmdError::NotInteger)?;
            opts.freq = Some(u8::try_from(freq).map_err(|_| BAD_FREQ)?);
            i += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    Ok(opts)
}

/// ```text
/// RESTORE key ttl serialized-value [REPLACE] [ABSTTL] [IDLETIME seconds] [FREQ frequency]
/// ```
/// `+OK`. `ttl` is in milliseconds, 0 for none; with ABSTTL it is a Unix time in
/// milliseconds. A deadline already past creates nothing (and with REPLACE deletes the old
/// key) and still answers `+OK`, as Redis does.
///
/// Errors, in Redis's order: `Syntax` or the IDLETIME/FREQ range errors for the options;
/// `BUSYKEY` if the key exists and REPLACE was not given; `NotInteger` or
/// `ERR Invalid TTL value` for the TTL; `ERR DUMP payload version or checksum are wrong`;
/// `ERR Bad data format`. Checked against Redis 7.0.15.
///
/// The AOF records it with an absolute deadline (`... ABSTTL`), as Redis propagates it: see
/// [`crate::persistence::aof`].
pub fn restore(ctx: &mut Ctx, db: &mut Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let opts = parse_restore_options(argv)?;
    let key = &argv[1];
    let now = ctx.now_ms;
    // Redis `lookupKeyWrite`: an expired key is deleted and does not count as existing.
    db.expire_if_needed(key, now);
    if !opts.replace && db.contains(key, now) {
        return Err(BUSY_KEY);
    }
    let ttl = parse_i64(&argv[2]).ok_or(CmdError::NotInteger)?;
    if ttl < 0 {
        return Err(NEGATIVE_TTL);
    }
    let value = match rdb::restore_payload(&argv[3]) {
        Ok(value) => value,
        Err(PayloadError::VersionOrChecksum) => return Err(BAD_VERSION_OR_CHECKSUM),
        Err(PayloadError::BadData(_)) => return Err(BAD_DATA),
    };
    let deleted = opts.replace && db.delete(key, now);
    // Redis adds mstime() to a relative TTL without an overflow check, and the sum wraps: a
    // TTL near i64::MAX becomes a deadline in the past, so the key is not created (checked
    // against Redis 7.0.15: `RESTORE k 9223372036854775807 <payload>` answers +OK, no key).
    let deadline = match (ttl, opts.absttl) {
        (0, _) => None,
        (t, true) => Some(t),
        (t, false) => Some(t.wrapping_add(now as i64)),
    };
    // Redis `checkAlreadyExpired`: nothing is created; the key it replaced, if any, is
    // recorded as deleted.
    if deadline.is_some_and(|at| at <= now as i64) {
        if deleted {
            db.notify(crate::notify::GENERIC, "del", key);
            ctx.propagate_as(Argv::from_args([&b"DEL"[..], key]));
        } else {
            ctx.changes = Some(0);
        }
        reply.ok();
        return Ok(());
    }
    // mirrors restoreCommand(): a relative TTL is recorded as the deadline it gave, with
    // ABSTTL, so a replay does not restart the countdown.
    if let (Some(at), false) = (deadline, opts.absttl) {
        if ctx.records_wanted() {
            let mut record = Argv::new();
            for (i, arg) in argv.iter().enumerate() {
                match i {
                    2 => record.push(at.to_string().as_bytes()),
                    _ => record.push(arg),
                }
            }
            record.push(b"ABSTTL");
            ctx.propagate_as(record);
        }
    }
    db.set_with_expire(key, value, deadline.map(|at| at as u64), now);
    db.notify(crate::notify::GENERIC, "restore", key);
    // mirrors objectSetLRUOrLFU(): FREQ counts under an LFU policy, IDLETIME under any other
    // (the key keeps one or the other, see store::access); the one that does not apply is
    // ignored.
    if let Some(entry) = db.peek(key, now) {
        match (access::lfu_enabled(), opts.freq, opts.idletime) {
            (true, Some(freq), _) => entry.set_access_counter(now, freq),
            (false, _, Some(idle)) => entry.set_idle_seconds(now, idle),
            _ => {}
        }
    }
    reply.ok();
    Ok(())
}
