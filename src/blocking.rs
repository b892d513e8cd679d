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

use crate::client::ClientHandle;
use crate::cmd::list::{End, List};
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
}

impl BlockedOp {
    /// The reply when the wait ends without data (timeout, CLIENT UNBLOCK ... TIMEOUT):
    /// a null bulk for the moves, a null array for the others.
    pub fn timeout_reply(&self, reply: &mut Reply) {
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
        }
    }

    /// True once served, timed out or unblocked.
    pub fn is_done(&self) -> bool {
        self.done.load(Ordering::Acquire)
    }

    /// Ends the wait with `reply`: hands it to the client, then marks the wait done. Call with
    /// the keyspace write lock held, and only if [`Waiter::is_done`] is false. The owner reads
    /// "done" before its mailbox, so it never sees done without the reply.
    pub fn finish(&self, reply: &[u8]) {
        self.client.deliver(reply);
        self.done.store(true, Ordering::Release);
    }

    /// Ends the wait with the timeout reply.
    pub fn finish_with_timeout(&self) {
        let mut reply = Reply::with_protocol(self.resp3);
        self.op.timeout_reply(&mut reply);
        self.finish(reply.as_bytes());
    }
}

/// Serves the waiters of every ready key of `db`. Call with the write lock held, after a write
/// command (or a whole EXEC) has finished.
pub fn serve_ready_keys(db: &mut Db, now_ms: u64) {
    while let Some(key) = db.take_ready_key() {
        loop {
            let Some(waiter) = db.first_waiter(&key) else {
                break;
            };
            if waiter.is_done() {
                db.unblock(&waiter);
                continue;
            }
            let Some(reply) = serve_one(&waiter, db, &key, now_ms) else {
                break;
            };
            db.unblock(&waiter);
            waiter.finish(&reply);
        }
    }
}

/// Performs a waiter's operation on `key`, returning its reply, or None if the key cannot
/// serve it (missing, emptied, wrong type).
fn serve_one(waiter: &Waiter, db: &mut Db, key: &[u8], now_ms: u64) -> Option<Vec<u8>> {
    let mut reply = Reply::with_protocol(waiter.resp3);
    match &waiter.op {
        BlockedOp::Pop(end) => {
            let list = list_mut(db, key, now_ms)?;
            let element = end.pop(list)?;
            remove_if_empty(db, key, now_ms);
            reply.array(2);
            reply.bulk(key);
            reply.bulk(&element);
        }
        BlockedOp::MultiPop { end, count } => {
            let list = list_mut(db, key, now_ms)?;
            let n = (*count).min(list.len());
            let elements: Vec<Vec<u8>> = (0..n).filter_map(|_| end.pop(list)).collect();
            remove_if_empty(db, key, now_ms);
            reply.array(2);
            reply.bulk(key);
            reply.array(elements.len());
            for e in &elements {
                reply.bulk(e);
            }
        }
        BlockedOp::Move {
            from,
            to,
            destination,
        } => {
            // The destination must still be a list (or missing) for the move to happen.
            match db.get_value(destination, now_ms) {
                None | Some(Value::List(_)) => {}
                Some(_) => return None,
            }
            let list = list_mut(db, key, now_ms)?;
            let element = from.pop(list)?;
            if key == &destination[..] {
                to.push(list, element.clone());
            } else {
                remove_if_empty(db, key, now_ms);
                match db.get_value_mut(destination, now_ms) {
                    Some(Value::List(dest)) => to.push(dest, element.clone()),
                    _ => db.set(
                        destination,
                        Value::List(List::from([element.clone()])),
                        now_ms,
                    ),
                }
            }
            reply.bulk(&element);
        }
    }
    Some(reply.take_bytes())
}

fn list_mut<'a>(db: &'a mut Db, key: &[u8], now_ms: u64) -> Option<&'a mut List> {
    match db.get_value_mut(key, now_ms) {
        Some(Value::List(list)) if !list.is_empty() => Some(list),
        _ => None,
    }
}

fn remove_if_empty(db: &mut Db, key: &[u8], now_ms: u64) {
    if matches!(db.get_value(key, now_ms), Some(Value::List(l)) if l.is_empty()) {
        db.remove(key);
    }
}
