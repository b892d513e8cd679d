//! Persistence commands: SAVE, BGSAVE, LASTSAVE, BGREWRITEAOF.
//!
//! Counterpart of the command half of Redis `rdb.c` (`saveCommand`, `bgsaveCommand`) and
//! `lastsaveCommand` in `server.c`. The work itself (the file format, the temp-file dance, the
//! background thread) lives in [`crate::persistence`]; these handlers only check arguments and
//! state and pick the reply. They belong to Redis's "server" command group.
//!
//! SAVE and BGSAVE take the keyspace *read* lock ([`Handler::KeyspaceRead`]): readers keep
//! being served while SAVE writes the file, writers wait, as in Redis where SAVE blocks
//! everything. BGSAVE holds the lock only while it copies the data.

use super::{CmdError, CmdResult, CommandSpec, Ctx, Flags, Group, Handler, KeySpec};
use crate::persistence::{self, BgsaveError};
use crate::protocol::{Argv, Reply};
use crate::store::Keyspace;
use crate::util::eq_ci;

/// The snapshot commands' table rows.
#[rustfmt::skip]
pub(crate) static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("save", 1, Flags::ADMIN .union(Flags::NOSCRIPT) .union(Flags::NO_ASYNC_LOADING) .union(Flags::NO_MULTI), KeySpec::NONE, Group::Server, Handler::KeyspaceRead(save)),
    CommandSpec::new("bgsave", -1, Flags::ADMIN .union(Flags::NOSCRIPT) .union(Flags::NO_ASYNC_LOADING), KeySpec::NONE, Group::Server, Handler::KeyspaceRead(bgsave)),
    CommandSpec::new("bgrewriteaof", 1, Flags::ADMIN .union(Flags::NOSCRIPT) .union(Flags::NO_ASYNC_LOADING), KeySpec::NONE, Group::Server, Handler::KeyspaceRead(bgrewriteaof)),
    CommandSpec::new("lastsave", 1, Flags::LOADING.union(Flags::STALE).union(Flags::FAST), KeySpec::NONE, Group::Server, Handler::Conn(lastsave)),
];

/// Redis's reply when a background save is already running.
const IN_PROGRESS: &str = "ERR Background save already in progress";

/// ```text
/// SAVE
/// ```
/// `+OK` once the dump file is written, synced and renamed into place.
///
/// Errors: `ERR Background save already in progress`; a bare `ERR` when the file cannot be
/// written (the reason goes to the log, as in Redis).
pub fn save(ctx: &mut Ctx, ks: &Keyspace, _argv: &Argv, reply: &mut Reply) -> CmdResult {
    if ctx.shared.persistence.bgsave_in_progress() {
        return Err(CmdError::msg(IN_PROGRESS));
    }
    persistence::save(ctx.shared, ks).map_err(|_| CmdError::msg("ERR"))?;
    reply.ok();
    Ok(())
}

/// ```text
/// BGSAVE [SCHEDULE]
/// ```
/// `+Background saving started`; with SCHEDULE while a save runs, `+Background saving
/// scheduled` (the cron starts it when the running one ends).
///
/// Errors: `Syntax` (another argument), `ERR Background save already in progress` (without
/// SCHEDULE), a bare `ERR` when the save thread cannot start.
pub(crate) fn bgsave(ctx: &mut Ctx, ks: &Keyspace, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let schedule = match argv.len() {
        1 => false,
        2 if eq_ci(&argv[1], "schedule") => true,
        _ => return Err(CmdError::Syntax),
    };
    if ctx.shared.persistence.bgsave_in_progress() {
        if schedule {
            persistence::schedule_bgsave(ctx.shared);
            reply.simple("Background saving scheduled");
            return Ok(());
        }
        return Err(CmdError::msg(IN_PROGRESS));
    }
    match persistence::bgsave(ctx.shared, ks) {
        Ok(()) => {
            reply.simple("Background saving started");
            Ok(())
        }
        Err(BgsaveError::InProgress) => Err(CmdError::msg(IN_PROGRESS)),
        Err(BgsaveError::Spawn) => Err(CmdError::msg("ERR")),
    }
}

/// ```text
/// LASTSAVE
/// ```
/// Integer: Unix time in seconds of the last successful save (the start time before any).
pub fn lastsave(ctx: &mut Ctx, _argv: &Argv, reply: &mut Reply) -> CmdResult {
    reply.int(ctx.shared.persistence.last_save() as i64);
    Ok(())
}

/// ```text
/// BGREWRITEAOF
/// ```
/// `+Background append only file rewriting started`: the dataset is copied under the read
/// lock and a thread rewrites the AOF from the copy (see [`crate::persistence::aof`]). Works
/// with `appendonly no` too, as in Redis: the file is written but not appended to.
///
/// Errors: `ERR Background append only file rewriting already in progress`; a bare `ERR`
/// when the rewrite thread cannot start.
pub(crate) fn bgrewriteaof(
    ctx: &mut Ctx,
    ks: &Keyspace,
    _argv: &Argv,
    reply: &mut Reply,
) -> CmdResult {
    use crate::persistence::aof::{start_rewrite, RewriteError};
    match start_rewrite(ctx.shared, ks) {
        Ok(()) => {
            reply.simple("Background append only file rewriting started");
            Ok(())
        }
        Err(RewriteError::InProgress) => Err(CmdError::msg(
            "ERR Background append only file rewriting already in progress",
        )),
        Err(RewriteError::Spawn) => Err(CmdError::msg("ERR")),
    }
}
