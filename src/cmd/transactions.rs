//! Transactions: MULTI, EXEC, DISCARD, WATCH, UNWATCH.
//!
//! Counterpart of Redis `src/multi.c`.
//!
//! Between MULTI and EXEC, [`super::dispatch`] does not run commands: it checks them against
//! the command table (unknown command, arity, commands not allowed in a transaction) and
//! queues them, answering `+QUEUED`. A refused command marks the transaction aborted, and EXEC
//! then answers EXECABORT without running anything, as Redis does.
//!
//! EXEC takes the keyspace's write lock once and runs every queued command under it. That one
//! lock acquisition is what makes the transaction atomic: no other client can run a command,
//! not even a read, until the last queued command is done — the same guarantee Redis's single
//! thread gives.
//!
//! WATCH is optimistic locking. Each client has one "dirty" flag; WATCH registers it on the
//! watched keys in the database ([`crate::store::Db::watch`]), and every write path of the
//! store sets the flags of a key it modifies, deletes or expires; a key looked up for writing
//! counts only if it existed and the command succeeded ([`crate::store::Db::settle_watched`]),
//! and FLUSHDB, FLUSHALL and SWAPDB set the flags of watched keys that were alive. EXEC checks the flag *after* taking the write lock, so no write can slip in
//! between the check and the execution. A set flag, or a watched key that expired since WATCH,
//! makes EXEC answer a null array and run nothing.

use std::sync::atomic::Ordering;

use super::{run_command, CmdError, CmdResult, CommandSpec, Ctx, Flags, Group, Handler, KeySpec};
use crate::client::{Client, MultiState, WatchState};
use crate::protocol::{Argv, Reply};
use crate::shared::Shared;
use crate::store::Keyspace;

/// Flags shared by the transaction-control commands. `NO_QUEUE` (respd's own, never printed)
/// makes them run at once inside MULTI instead of being queued.
const TX: Flags = Flags::NOSCRIPT
    .union(Flags::LOADING)
    .union(Flags::STALE)
    .union(Flags::FAST)
    .union(Flags::ALLOW_BUSY)
    .union(Flags::NO_QUEUE);

/// The transactions group's rows of the command table.
#[rustfmt::skip]
pub(crate) static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("multi", 1, TX, KeySpec::NONE, Group::Transactions, Handler::Conn(multi)),
    CommandSpec::new("exec", 1, Flags::NOSCRIPT .union(Flags::LOADING) .union(Flags::STALE) .union(Flags::SKIP_SLOWLOG) .union(Flags::NO_QUEUE), KeySpec::NONE, Group::Transactions, Handler::Conn(exec)),
    CommandSpec::new("discard", 1, TX, KeySpec::NONE, Group::Transactions, Handler::Conn(discard)),
    CommandSpec::new("watch", -2, TX, KeySpec::ALL, Group::Transactions, Handler::KeyspaceRead(watch)),
    CommandSpec::new("unwatch", 1, Flags::NOSCRIPT .union(Flags::LOADING) .union(Flags::STALE) .union(Flags::FAST) .union(Flags::ALLOW_BUSY), KeySpec::NONE, Group::Transactions, Handler::KeyspaceRead(unwatch)),
];

/// ```text
/// MULTI
/// ```
/// `+OK`; following commands are queued. Errors: "MULTI calls can not be nested".
pub fn multi(ctx: &mut Ctx, _argv: &Argv, reply: &mut Reply) -> CmdResult {
    if ctx.client.multi.is_some() {
        return Err(CmdError::msg("ERR MULTI calls can not be nested"));
    }
    ctx.client.multi = Some(MultiState::default());
    reply.ok();
    Ok(())
}

/// ```text
/// EXEC
/// ```
/// An array with each queued command's reply (errors included, per command); a null array if
/// a watched key changed; `-EXECABORT` if a command was refused while queueing.
/// Errors: "EXEC without MULTI".
pub fn exec(ctx: &mut Ctx, _argv: &Argv, reply: &mut Reply) -> CmdResult {
    let Some(transaction) = ctx.client.multi.take() else {
        return Err(CmdError::msg("ERR EXEC without MULTI"));
    };
    let shared = ctx.shared;
    let mut keyspace = shared.store.write();
    // The AOF keeps this transaction's records aside and writes them as one record at the end.
    crate::persistence::aof::exec_begin(shared);
    let watch_failed = ctx.client.watch.dirty.load(Ordering::Acquire)
        || watched_key_expired(&keyspace, &ctx.client.watch, ctx.now_ms);
    unwatch_all(&keyspace, &mut ctx.client.watch);
    if transaction.aborted {
        return Err(CmdError::msg(
            "EXECABORT Transaction discarded because of previous errors.",
        ));
    }
    if watch_failed {
        reply.null_array();
        return Ok(());
    }
    reply.array(transaction.queued.len());
    ctx.in_exec = true;
    for queued in &transaction.queued {
        // mirrors execCommand(): the rules may have changed since the command was queued.
        if let Some(e) = super::acl::exec_refusal(ctx, queued.spec, queued.parent, &queued.argv) {
            reply.error(&e.render(&super::full_name(queued.spec, queued.parent), &queued.argv));
            continue;
        }
        run_command(
            ctx,
            queued.spec,
            queued.parent,
            &queued.argv,
            reply,
            Some(&mut keyspace),
        );
    }
    ctx.in_exec = false;
    // Writes the transaction to the AOF as one MULTI ... EXEC record, now that it is whole,
    // and before the lock is released so no other write can come between.
    crate::persistence::aof::exec_done(shared);
    // Blocked clients are served once the whole transaction is done, as in Redis (and the
    // pops done for them are propagated after the transaction).
    super::serve_all_ready_keys_logged(ctx, &mut keyspace);
    Ok(())
}

/// Starts keeping the records of the commands that follow aside, to go to the AOF and the
/// replicas as one MULTI ... EXEC (EXEC's queued commands, a script's effects).
pub(crate) fn records_begin(shared: &Shared) {
    crate::persistence::aof::exec_begin(shared);
}

/// Writes the records kept since [`records_begin`] as one transaction.
pub(crate) fn records_done(shared: &Shared) {
    crate::persistence::aof::exec_done(shared);
}

/// Redis `execCommandAbort`: an EXEC refused before it runs (wrong arity, MISCONF, ...)
/// discards the transaction and unwatches every key, inside MULTI or not, and answers
/// EXECABORT with the refusal's text (without its `ERR `, which Redis adds only when it
/// replies the error itself).
pub(crate) fn exec_abort(shared: &Shared, client: &mut Client, message: &[u8], reply: &mut Reply) {
    client.multi = None;
    unwatch_all_locking(shared, &mut client.watch);
    let reason = message.strip_prefix(b"ERR ").unwrap_or(message);
    let mut text = b"EXECABORT Transaction discarded because of: ".to_vec();
    text.extend_from_slice(reason);
    reply.error(&text);
}

/// ```text
/// DISCARD
/// ```
/// `+OK`; the queued commands are dropped and every key is unwatched.
/// Errors: "DISCARD without MULTI".
pub(crate) fn discard(ctx: &mut Ctx, _argv: &Argv, reply: &mut Reply) -> CmdResult {
    if ctx.client.multi.take().is_none() {
        return Err(CmdError::msg("ERR DISCARD without MULTI"));
    }
    unwatch_all_locking(ctx.shared, &mut ctx.client.watch);
    reply.ok();
    Ok(())
}

/// ```text
/// WATCH key [key ...]
/// ```
/// `+OK`. Errors: "WATCH inside MULTI is not allowed".
pub(crate) fn watch(
    ctx: &mut Ctx,
    keyspace: &Keyspace,
    argv: &Argv,
    reply: &mut Reply,
) -> CmdResult {
    if ctx.client.multi.is_some() {
        return Err(CmdError::msg("ERR WATCH inside MULTI is not allowed"));
    }
    let db_index = ctx.client.db;
    let db = keyspace.db(db_index);
    for key in argv.iter().skip(1) {
        let state = &mut ctx.client.watch;
        if state
            .keys
            .iter()
            .any(|(d, k, _)| *d == db_index && k == key)
        {
            continue;
        }
        db.watch(key, &state.dirty);
        state.keys.push((
            db_index,
            key.to_vec(),
            db.is_logically_expired(key, ctx.now_ms),
        ));
    }
    reply.ok();
    Ok(())
}

/// ```text
/// UNWATCH
/// ```
/// `+OK`; every key is unwatched.
pub(crate) fn unwatch(
    ctx: &mut Ctx,
    keyspace: &Keyspace,
    _argv: &Argv,
    reply: &mut Reply,
) -> CmdResult {
    unwatch_all(keyspace, &mut ctx.client.watch);
    reply.ok();
    Ok(())
}

/// [`unwatch_all`], taking the keyspace's read lock only if some key is watched: a client
/// that watches nothing never waits for it. That matters while a script runs, holding the
/// lock: DISCARD, and an EXEC refused with BUSY, must answer at once (Redis's are answered
/// between two steps of the script).
pub(crate) fn unwatch_all_locking(shared: &Shared, state: &mut WatchState) {
    if state.keys.is_empty() {
        state.dirty.store(false, Ordering::Release);
        return;
    }
    unwatch_all(&shared.store.read(), state);
}

/// Forgets every watched key and clears the dirty flag (Redis `unwatchAllKeys`).
pub(crate) fn unwatch_all(keyspace: &Keyspace, state: &mut WatchState) {
    for (db, key, _) in state.keys.drain(..) {
        keyspace.db(db).unwatch(&key, &state.dirty);
    }
    state.dirty.store(false, Ordering::Release);
}

/// True if a watched key that was alive at WATCH time has expired since (Redis
/// `isWatchedKeyExpired`): its value changed for every reader, so EXEC must fail even if
/// nothing has deleted it yet.
fn watched_key_expired(keyspace: &Keyspace, state: &WatchState, now_ms: u64) -> bool {
    state.keys.iter().any(|(db, key, expired_at_watch)| {
        !expired_at_watch && keyspace.db(*db).is_logically_expired(key, now_ms)
    })
}
