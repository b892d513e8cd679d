//! Blocking operations: clients waiting for a list (or sorted set) to get an element.
//!
//! Counterpart of Redis `src/blocked.c` (`blockForKeys`, `signalKeyAsReady`,
//! `handleClientsBlockedOnKeys`).
//!
//! # How a client blocks
//! BLPOP finds every key empty, so instead of replying it registers a [`Waiter`] in the
//! database's queue of each key ([`crate::store::Db::block`]) and leaves the connection in the
//! *blocked* state. Its worker stops executing further pipelined commands and waits on its
//! socket and its waker, with the command's timeout. A blocked client costs a parked thread,
//! never a spinning one.
//!
//! # How it is served
//! Lists and sorted sets are deleted when they become empty, so a blocked client only ever
//! waits for a key to be *created*. Key creation goes through the store, which marks a key
//! with waiters as *ready*. When the write command that created it has finished — still under
//! the same write lock — [`serve_ready_keys`] pops elements on behalf of the waiters, first
//! blocked first served (Redis's fairness rule), writes each reply in the waiter's protocol,
//! hands it to the waiter's mailbox and wakes its worker. For a MULTI/EXEC or a pipeline the
//! serving happens after the whole EXEC, or after each command of the pipeline, as in Redis.
//!
//! # How it ends otherwise
//! On timeout, on disconnect and on CLIENT UNBLOCK, the waiter is finished under the write
//! lock too, so exactly one of "served", "timed out" or "unblocked" wins.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::client::{BlockedState, ClientHandle};
use crate::cmd::list::{delete_if_empty, elements_removed, End, List};
use crate::cmd::{CmdError, CmdResult, Ctx};
use crate::protocol::Reply;
use crate::store::{Db, Key, Value};

/// What a blocked command does once one of its keys has data.
#[derive(Debug, Clone)]
pub enum BlockedOp {
    /// BLPOP / BRPOP: pop one element, reply `[key, element]`.
    Pop(End),
    /// BLMOVE / BRPOPLPUSH: pop from the ready key, push to `destination`, reply the element.
    Move {
        /// End to pop from.
        from: End,
        /// End to push to.
        to: End,
        /// Destination list.
        destination: Key,
    },
    /// BLMPOP: pop up to `count` elements, reply `[key, [elements]]`.
    MultiPop {
        /// End to pop from.
        end: End,
        /// Most elements to pop.
        count: usize,
    },
    /// BZPOPMIN / BZPOPMAX: pop one member, reply `[key, member, score]`.
    ZPop {
        /// Highest score (BZPOPMAX) rather than lowest.
        max: bool,
    },
    /// BZMPOP: pop up to `count` members, reply `[key, [[member, score], ...]]`.
    ZMultiPop {
        /// Highest scores first rather than lowest.
        max: bool,
        /// Most members to pop.
        count: usize,
    },
    /// XREAD / XREADGROUP with BLOCK: read what is added past an ID.
    Stream(Box<StreamWait>),
}

/// What a client blocked in XREAD or XREADGROUP waits for.
#[derive(Debug, Clone)]
pub struct StreamWait {
    /// Each key with the ID to read after (for a group, replaced by the group's last
    /// delivered ID when served).
    pub ids: Vec<(Key, crate::store::StreamId)>,
    /// Most entries to read per stream.
    pub count: usize,
    /// XREADGROUP's group and consumer.
    pub group: Option<(Vec<u8>, Vec<u8>)>,
    /// XREADGROUP's NOACK.
    pub noack: bool,
}

impl BlockedOp {
    /// The reply when a wait ends without data (timeout, CLIENT UNBLOCK ... TIMEOUT): always
    /// the null array, even for BLMOVE (Redis `replyToBlockedClientTimedOut`).
    pub(crate) fn timeout_reply(&self, reply: &mut Reply) {
        reply.null_array();
    }

    /// The reply when the command cannot block at all (inside EXEC): what the non-blocking
    /// command would answer on missing keys, so a null bulk for the moves.
    pub(crate) fn no_wait_reply(&self, reply: &mut Reply) {
        match self {
            BlockedOp::Move { .. } => reply.null(),
            _ => reply.null_array(),
        }
    }
}

/// One blocked client's wait.
#[derive(Debug)]
pub struct Waiter {
    /// The blocked client.
    pub client: Arc<ClientHandle>,
    /// Database of the keys.
    pub db: usize,
    /// The keys waited on, in command order.
    pub keys: Vec<Key>,
    /// What to do when served.
    pub op: BlockedOp,
    /// Reply in RESP3?
    pub resp3: bool,
    done: AtomicBool,
    /// Ended by a write that served it, rather than by a timeout or CLIENT UNBLOCK: only
    /// then does the slow log get the command (see [`crate::slowlog`]).
    served: AtomicBool,
}

impl Waiter {
    /// A new, not yet finished wait.
    pub fn new(
        client: Arc<ClientHandle>,
        db: usize,
        keys: Vec<Key>,
        op: BlockedOp,
        resp3: bool,
    ) -> Waiter {
        Waiter {
            client,
            db,
            keys,
            op,
            resp3,
            done: AtomicBool::new(false),
            served: AtomicBool::new(false),
        }
    }

    /// True once served, timed out or unblocked.
    pub(crate) fn is_done(&self) -> bool {
        self.done.load(Ordering::Acquire)
    }

    /// Ends the wait with `reply`: hands it to the client, then marks the wait done. Call with
    /// the keyspace write lock held, and only if [`Waiter::is_done`] is false. The owner reads
    /// "done" before its mailbox, so it never sees done without the reply.
    pub fn finish(&self, reply: &[u8]) {
        // Order matters: reply, then "done", then the wake-up. A worker woken by this call
        // therefore always sees both; one that looks earlier (after some other wake-up) may
        // take the reply before "done" is set, but is then woken again and sees "done".
        self.client.deliver_without_waking(reply);
        self.done.store(true, Ordering::Release);
        self.client.wake();
    }

    /// True once a write served the wait (set before "done", so an owner that saw "done" sees
    /// it too).
    pub(crate) fn was_served(&self) -> bool {
        self.served.load(Ordering::Relaxed)
    }

    /// Ends the wait with the timeout reply.
    pub(crate) fn finish_with_timeout(&self) {
        let mut reply = Reply::with_protocol(self.resp3);
        self.op.timeout_reply(&mut reply);
        self.finish(reply.as_bytes());
    }
}

/// Parses a blocking command's timeout in seconds (fractions allowed) into a deadline in Unix
/// ms; `None` for 0, which waits forever (Redis `getTimeoutFromObjectOrReply`).
///
/// Errors: "timeout is not a float or out of range", "timeout is out of range",
/// "timeout is negative".
pub(crate) fn parse_timeout(arg: &[u8], now_ms: u64) -> Result<Option<u64>, CmdError> {
    let seconds = crate::util::parse_f64(arg)
        .ok_or(CmdError::msg("ERR timeout is not a float or out of range"))?;
    let ms = seconds * 1000.0;
    if ms > i64::MAX as f64 {
        return Err(CmdError::msg("ERR timeout is out of range"));
    }
    let ms = ms.ceil();
    if ms < 0.0 {
        return Err(CmdError::TIMEOUT_NEGATIVE);
    }
    Ok((ms > 0.0).then(|| now_ms.saturating_add(ms as u64)))
}

/// Blocks the calling client on `keys` (Redis `blockForKeys`), or, inside EXEC, answers the
/// timeout reply at once (a transaction cannot wait).
pub fn block(
    ctx: &mut Ctx,
    db: &mut Db,
    keys: &[&[u8]],
    op: BlockedOp,
    deadline_ms: Option<u64>,
    reply: &mut Reply,
) -> CmdResult {
    // Nothing changed yet: what is popped later is recorded when it is served.
    ctx.changes = Some(0);
    if ctx.in_exec {
        op.no_wait_reply(reply);
        return Ok(());
    }
    ctx.client
        .handle
        .waker()
        .map_err(|e| CmdError::owned(format!("ERR cannot block: {e}")))?;
    let mut unique: Vec<Key> = Vec::with_capacity(keys.len());
    for key in keys {
        if !unique.iter().any(|k| k == key) {
            unique.push(key.to_vec());
        }
    }
    let waiter = Arc::new(Waiter::new(
        ctx.client.handle.clone(),
        ctx.client.db,
        unique,
        op,
        ctx.client.resp == 3,
    ));
    for key in &waiter.keys {
        db.block(key, &waiter);
    }
    *ctx.client.handle.blocked_on.lock() = Some(waiter.clone());
    let deadline = deadline_ms.map(|ms| {
        std::time::Instant::now() + std::time::Duration::from_millis(ms.saturating_sub(ctx.now_ms))
    });
    ctx.client.blocked = Some(BlockedState {
        waiter,
        deadline,
        slowlog: None,
    });
    Ok(())
}

/// Ends a wait that has not been served (timeout, disconnect, CLIENT UNBLOCK): takes the
/// waiter off its keys and finishes it with `reply`, unless it was served in the meantime.
/// Returns true if this call ended it. Takes the keyspace write lock.
pub(crate) fn cancel(
    store: &crate::store::Store,
    waiter: &Arc<Waiter>,
    reply: Option<&[u8]>,
) -> bool {
    cancel_locked(&mut store.write(), waiter, reply)
}

/// [`cancel`] for a caller that already holds the write lock (CLIENT UNBLOCK, which may run
/// inside EXEC).
pub(crate) fn cancel_locked(
    keyspace: &mut crate::store::Keyspace,
    waiter: &Arc<Waiter>,
    reply: Option<&[u8]>,
) -> bool {
    if waiter.is_done() {
        return false;
    }
    keyspace.db_mut(waiter.db).unblock(waiter);
    match reply {
        Some(bytes) => waiter.finish(bytes),
        None => waiter.finish_with_timeout(),
    }
    true
}

/// Serves the waiters of every ready key of `db`. Call with the write lock held, after a write
/// command (or a whole EXEC) has finished.
///
/// Returns what each service did as the command Redis propagates for it
/// (`serveClientBlockedOnList` and friends): `LPOP key` / `RPOP key` for BLPOP / BRPOP,
/// `LPOP key n` for BLMPOP (n the elements popped), `ZPOPMIN key [n]` for BZPOPMIN /
/// BZMPOP, `LMOVE src dst from to` for BLMOVE and BRPOPLPUSH. The caller propagates them,
/// in order, after the command that made the keys ready.
pub(crate) fn serve_ready_keys(db: &mut Db, now_ms: u64) -> Vec<Vec<Vec<u8>>> {
    let mut served = Vec::new();
    while let Some(key) = db.take_ready_key() {
        let waiters = db.waiters(&key);
        // Stream readers first: each is served if its stream has something past its ID, or
        // stays blocked (Redis `serveClientsBlockedOnStreamKey`); the others are served
        // until the key runs out.
        for waiter in &waiters {
            let BlockedOp::Stream(wait) = &waiter.op else {
                continue;
            };
            if waiter.is_done() {
                db.unblock(waiter);
                continue;
            }
            let resp3 = waiter.resp3;
            let Some((reply, records)) =
                crate::cmd::stream::serve_blocked(db, &key, wait, resp3, now_ms)
            else {
                continue;
            };
            db.unblock(waiter);
            waiter.served.store(true, Ordering::Relaxed);
            waiter.finish(&reply);
            served.extend(records);
        }
        for waiter in &waiters {
            if matches!(waiter.op, BlockedOp::Stream(_)) {
                continue;
            }
            if waiter.is_done() {
                db.unblock(waiter);
                continue;
            }
            let Some((reply, record)) = serve_one(waiter, db, &key, now_ms) else {
                break;
            };
            db.unblock(waiter);
            waiter.served.store(true, Ordering::Relaxed);
            waiter.finish(&reply);
            served.extend(record);
        }
    }
    // What was popped for the waiters changed those keys.
    db.settle_watched(true);
    served
}

fn end_name(end: End) -> &'static [u8] {
    match end {
        End::Head => b"LEFT",
        End::Tail => b"RIGHT",
    }
}

/// The non-blocking pop a served BLPOP / BRPOP / BLMPOP is recorded as.
pub(crate) fn pop_name(end: End) -> &'static [u8] {
    match end {
        End::Head => b"LPOP",
        End::Tail => b"RPOP",
    }
}

/// The non-blocking pop a served BZPOPMIN / BZPOPMAX / BZMPOP is recorded as.
pub(crate) fn zpop_name(max: bool) -> &'static [u8] {
    if max {
        b"ZPOPMAX"
    } else {
        b"ZPOPMIN"
    }
}

/// What serving a waiter produced: its reply bytes, and the command to propagate (None if
/// the operation failed).
type Served = (Vec<u8>, Option<Vec<Vec<u8>>>);

/// Performs a waiter's operation on `key`, returning its reply and the command to propagate
/// (none if it failed), or None if the key cannot serve it (missing, emptied, wrong type).
fn serve_one(waiter: &Waiter, db: &mut Db, key: &[u8], now_ms: u64) -> Option<Served> {
    let mut reply = Reply::with_protocol(waiter.resp3);
    let record: Vec<Vec<u8>>;
    match &waiter.op {
        // Served by `cmd::stream::serve_blocked` instead.
        BlockedOp::Stream(_) => return None,
        BlockedOp::Pop(end) => {
            record = vec![pop_name(*end).to_vec(), key.to_vec()];
            let list = list_mut(db, key, now_ms)?;
            let element = end.pop(list)?;
            elements_removed(db, key, *end);
            reply.array(2);
            reply.bulk(key);
            reply.bulk(&element);
        }
        BlockedOp::MultiPop { end, count } => {
            let list = list_mut(db, key, now_ms)?;
            let n = (*count).min(list.len());
            let elements: Vec<Vec<u8>> = (0..n).filter_map(|_| end.pop(list)).collect();
            elements_removed(db, key, *end);
            record = vec![
                pop_name(*end).to_vec(),
                key.to_vec(),
                elements.len().to_string().into_bytes(),
            ];
            reply.array(2);
            reply.bulk(key);
            reply.array(elements.len());
            for e in &elements {
                reply.bulk(e);
            }
        }
        BlockedOp::ZPop { max } => {
            let z = zset_mut(db, key, now_ms)?;
            let (member, score) = z.pop(*max)?;
            zset_elements_removed(db, key, *max);
            record = vec![zpop_name(*max).to_vec(), key.to_vec()];
            reply.array(3);
            reply.bulk(key);
            reply.bulk(&member);
            crate::cmd::sorted_set::reply_score(&mut reply, score);
        }
        BlockedOp::ZMultiPop { max, count } => {
            let z = zset_mut(db, key, now_ms)?;
            let n = (*count).min(z.len());
            let popped: Vec<(Vec<u8>, f64)> = (0..n).filter_map(|_| z.pop(*max)).collect();
            zset_elements_removed(db, key, *max);
            record = vec![
                zpop_name(*max).to_vec(),
                key.to_vec(),
                popped.len().to_string().into_bytes(),
            ];
            reply.array(2);
            reply.bulk(key);
            reply.array(popped.len());
            for (member, score) in &popped {
                reply.array(2);
                reply.bulk(member);
                crate::cmd::sorted_set::reply_score(&mut reply, *score);
            }
        }
        BlockedOp::Move {
            from,
            to,
            destination,
        } => {
            // Nothing to serve unless the source has an element.
            list_mut(db, key, now_ms)?;
            // The destination must still be a list (or missing) for the move to happen. If it
            // is not, the waiter gets WRONGTYPE and is unblocked, and the element stays where
            // it is for the next waiter (mirrors serveClientBlockedOnList(): checkType()
            // replies the error to the blocked client, which is then unblocked).
            match db.get_value(destination, now_ms) {
                None | Some(Value::List(_)) => {}
                Some(_) => {
                    reply.error(&CmdError::WrongType.render("", &crate::protocol::Argv::new()));
                    return Some((reply.take_bytes(), None));
                }
            }
            let list = list_mut(db, key, now_ms)?;
            let element = from.pop(list)?;
            if key == &destination[..] {
                to.push(list, element.clone());
            } else {
                match db.get_value_mut(destination, now_ms) {
                    Some(Value::List(dest)) => to.push(dest, element.clone()),
                    _ => db.set(
                        destination,
                        Value::List(List::from([element.clone()])),
                        now_ms,
                    ),
                }
            }
            // mirrors serveClientBlockedOnList(): the push (lmoveHandlePush), then the pop,
            // then the source's deletion if it is now empty
            db.notify(crate::notify::LIST, to.push_event(), destination);
            elements_removed(db, key, *from);
            reply.bulk(&element);
            record = vec![
                b"LMOVE".to_vec(),
                key.to_vec(),
                destination.to_vec(),
                end_name(*from).to_vec(),
                end_name(*to).to_vec(),
            ];
        }
    }
    Some((reply.take_bytes(), Some(record)))
}

fn list_mut<'a>(db: &'a mut Db, key: &[u8], now_ms: u64) -> Option<&'a mut List> {
    match db.get_value_mut(key, now_ms) {
        Some(Value::List(list)) if !list.is_empty() => Some(list),
        _ => None,
    }
}

fn zset_mut<'a>(db: &'a mut Db, key: &[u8], now_ms: u64) -> Option<&'a mut crate::store::ZSet> {
    match db.get_value_mut(key, now_ms) {
        Some(Value::ZSet(z)) if !z.is_empty() => Some(z),
        _ => None,
    }
}

/// After a served ZPOPMIN/ZPOPMAX: reports the pop and deletes the key if it is now empty
/// (Redis `genericZpopCommand`).
fn zset_elements_removed(db: &mut Db, key: &[u8], max: bool) {
    let event = if max { "zpopmax" } else { "zpopmin" };
    db.notify(crate::notify::ZSET, event, key);
    delete_if_empty(db, key);
}
