//! The master side of replication: replicas attach with SYNC or PSYNC, receive a snapshot,
//! then every write as a stream of commands.
//!
//! Counterpart of Redis `replication.c` (`syncCommand`, `replconfCommand`,
//! `replicationFeedSlaves`, `feedReplicationBuffer`, `replicationCron`'s pings, `waitCommand`,
//! `roleCommand`, the master half of `genRedisInfoString`'s replication section). The other
//! side, following a master, is [`replica`]; a replica with replicas of its own hands
//! them its master's stream unchanged ([`proxy`]) instead of feeding them its own writes.
//!
//! # The stream
//! The stream is exactly what the AOF receives: [`crate::persistence::aof::feed`] turns each
//! successful write into its record once (relative expiries made absolute, SPOP as SREM...)
//! and hands the same bytes to the AOF and to [`feed`] here. The stream holds a `SELECT`
//! whenever the database of a record differs from the stream's current one (Redis
//! `server.slaveseldb`), and the records of an EXEC are sent as one `MULTI` ... `EXEC`, with
//! the SELECT of the first record before the MULTI (Redis `propagatePendingCommands`).
//! `master_repl_offset` counts the bytes of the stream.
//!
//! # Attaching
//! SYNC (or a PSYNC that cannot continue from the backlog, answered `+FULLRESYNC <replid>
//! <offset>`) runs under the keyspace *read* lock. Writers feed the stream while holding the
//! write lock, so while the read lock is held no record can be half-way: the dataset is copied
//! (as BGSAVE copies it) and the replica registered at the current offset in that one
//! critical section, and the snapshot and the start of its stream agree. The copy is
//! serialized to RDB after the lock is released, and sent as `$<len>\r\n<rdb>` with no
//! trailing CRLF; the replica's stream starts right after it.
//!
//! # Never blocking a writer on a slow replica
//! A replica is an ordinary connection whose worker thread sends what it is handed. Writers
//! put stream bytes in the replica's mailbox ([`crate::client::ClientHandle::deliver`], as
//! PUBLISH does for subscribers) and wake its worker; nothing waits for the socket. The bytes
//! a replica has not taken yet (mailbox plus output queue) are bounded by
//! `client-output-buffer-limit replica` (256mb 64mb 60 by default): past it the replica is
//! closed, as Redis closes it (`checkClientOutputBufferLimits`).
//!
//! # Backlog
//! The last `repl-backlog-size` bytes of the stream are kept from the first replica on (Redis
//! creates its backlog then, with a fresh replication id). A PSYNC whose replication id is
//! this server's (or its previous one, `replid2`, up to the offset where it was replaced) and
//! whose offset the backlog still holds continues from there: `+CONTINUE <replid>` and the
//! backlog's bytes from that offset ([`try_continue`]). That is what lets a replica that
//! lost its link for a moment, or an old master following its promoted replica, catch up
//! without a full copy.

pub mod replica;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::client::ClientHandle;
use crate::shared::Shared;
use crate::util::now_ms;

/// Replication state of the server (Redis's `server.master_repl_offset`, `server.slaves`,
/// `server.repl_backlog` ...).
#[derive(Debug)]
pub struct Replication {
    /// True once a replica attached (the backlog exists from then on): the one atomic load
    /// writers pay when nothing replicates.
    active: AtomicBool,
    state: Mutex<State>,
    /// Signalled when a replica acknowledges an offset (WAIT sleeps on it).
    acked: Condvar,
    /// The link to this server's own master, when it is a replica.
    pub link: replica::Link,
    /// Full synchronizations served, partial ones accepted, partial ones refused (INFO
    /// stats `sync_full`, `sync_partial_ok`, `sync_partial_err`).
    pub sync_counts: [AtomicU64; 3],
}

#[derive(Debug)]
struct State {
    replid: String,
    replid2: String,
    /// The first offset that `replid2`'s history does not share (-1: none; Redis
    /// `server.second_replid_offset`).
    second_offset: i64,
    /// Bytes ever put in the stream.
    offset: u64,
    /// The database the stream's last SELECT chose; `None` forces a SELECT.
    db: Option<usize>,
    backlog: Option<Backlog>,
    replicas: Vec<Replica>,
    /// Records of the EXEC running now, with their database (see [`exec_done`]).
    exec: Option<Vec<(usize, Vec<u8>)>>,
    /// When the cron last pinged the replicas.
    last_ping: Instant,
}

#[derive(Debug)]
struct Backlog {
    bytes: VecDeque<u8>,
    size: usize,
}

/// One attached replica.
#[derive(Debug)]
struct Replica {
    handle: Arc<ClientHandle>,
    /// `REPLCONF listening-port` (0 until given).
    port: u16,
    /// `REPLCONF ip-address`, else the peer's address.
    ip: String,
    /// The last offset the replica acknowledged (`REPLCONF ACK`).
    ack_offset: u64,
    /// Unix ms of the last ACK (or of the attach).
    ack_ms: u64,
}

/// A replica's settings given with REPLCONF before SYNC, kept on its connection.
#[derive(Debug, Default, Clone)]
pub struct ReplicaConf {
    /// `listening-port`.
    pub port: u16,
    /// `ip-address`.
    pub ip: Option<String>,
}

impl Default for Replication {
    fn default() -> Self {
        Replication {
            active: AtomicBool::new(false),
            state: Mutex::new(State {
                replid: random_replid(),
                replid2: "0".repeat(40),
                second_offset: -1,
                offset: 0,
                db: None,
                backlog: None,
                replicas: Vec::new(),
                exec: None,
                last_ping: Instant::now(),
            }),
            acked: Condvar::new(),
            link: replica::Link::default(),
            sync_counts: Default::default(),
        }
    }
}

/// A random 40-hex-digit replication id (Redis `changeReplicationId`).
fn random_replid() -> String {
    (0..40)
        .map(|_| char::from_digit((crate::util::random_u64() % 16) as u32, 16).unwrap())
        .collect()
}

fn push_command(out: &mut Vec<u8>, args: &[&[u8]]) {
    out.push(b'*');
    crate::util::push_i64(out, args.len() as i64);
    out.extend_from_slice(b"\r\n");
    for arg in args {
        out.push(b'$');
        crate::util::push_i64(out, arg.len() as i64);
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
}

/// True when writes must be fed to [`feed`] (a replica attached once).
#[inline]
pub fn active(shared: &Shared) -> bool {
    shared.replication.active.load(Ordering::Relaxed)
}

/// Adds one record (an encoded command for database `db`) to the stream; inside EXEC, keeps
/// it for [`exec_done`]. Called with the keyspace write lock held, like the AOF's feed.
pub fn feed(shared: &Shared, db: usize, body: &[u8], in_exec: bool) {
    // mirrors replicationFeedSlaves(): a replica's replicas get its master's stream (see
    // [`proxy`]), never its own writes.
    if !active(shared) || shared.replica_role.following() {
        return;
    }
    let mut st = shared.replication.state.lock();
    if in_exec {
        st.exec
            .get_or_insert_with(Vec::new)
            .push((db, body.to_vec()));
        return;
    }
    let mut out = Vec::with_capacity(body.len() + 24);
    select_if_needed(&mut st, db, &mut out);
    out.extend_from_slice(body);
    append(shared, &mut st, &out);
}

/// Starts an EXEC's records afresh (called by EXEC once it holds the write lock).
pub(crate) fn exec_begin(shared: &Shared) {
    if active(shared) && !shared.replica_role.following() {
        shared.replication.state.lock().exec = None;
    }
}

/// Sends the records of the EXEC that just ran, wrapped in MULTI ... EXEC, still under the
/// keyspace lock. A transaction with one record is sent bare, as Redis does.
pub(crate) fn exec_done(shared: &Shared) {
    if !active(shared) || shared.replica_role.following() {
        return;
    }
    let mut st = shared.replication.state.lock();
    let Some(records) = st.exec.take() else {
        return;
    };
    let mut out = Vec::new();
    // mirrors propagatePendingCommands(): MULTI takes the first record's database, so the
    // SELECT comes before it.
    select_if_needed(&mut st, records[0].0, &mut out);
    let wrap = records.len() > 1;
    if wrap {
        push_command(&mut out, &[b"MULTI"]);
    }
    for (db, body) in &records {
        select_if_needed(&mut st, *db, &mut out);
        out.extend_from_slice(body);
    }
    if wrap {
        push_command(&mut out, &[b"EXEC"]);
    }
    append(shared, &mut st, &out);
}

fn select_if_needed(st: &mut State, db: usize, out: &mut Vec<u8>) {
    if st.db != Some(db) {
        push_command(out, &[b"SELECT", db.to_string().as_bytes()]);
        st.db = Some(db);
    }
}

/// Puts `bytes` in the backlog and every replica's mailbox, and advances the offset
/// (Redis `feedReplicationBuffer`). A replica over its output limit is closed.
fn append(shared: &Shared, st: &mut State, bytes: &[u8]) {
    if bytes.is_empty() {
        return;
    }
    st.offset += bytes.len() as u64;
    if let Some(b) = st.backlog.as_mut() {
        b.bytes.extend(bytes.iter().copied());
        let excess = b.bytes.len().saturating_sub(b.size);
        b.bytes.drain(..excess);
    }
    let limit = shared.config.read().output_limit_replica;
    st.replicas.retain(|r| {
        let pending =
            r.handle.deliver(bytes) as u64 + r.handle.queued_output.load(Ordering::Relaxed) as u64;
        // The soft limit's time is checked by the replica's own connection loop; the hard
        // limit is checked here, where the bytes pile up.
        if limit.hard_bytes > 0 && pending > limit.hard_bytes {
            crate::warning!(
                "Client id={} addr={} closed for overcoming of output buffer limits.",
                r.handle.id,
                r.handle.addr
            );
            shared
                .stats
                .client_output_limit_disconnects
                .fetch_add(1, Ordering::Relaxed);
            r.handle.kill();
            return false;
        }
        true
    });
}

/// What SYNC / PSYNC hand back: the line to send first (PSYNC's `+FULLRESYNC`), and the
/// dataset copy to serialize as the RDB payload.
pub struct Attached {
    /// `+FULLRESYNC <replid> <offset>\r\n` for PSYNC, empty for SYNC.
    pub preamble: Vec<u8>,
    /// The dataset as of the replica's first stream byte.
    pub copy: Vec<Vec<(Vec<u8>, crate::store::Entry)>>,
}

/// PSYNC `replid` `offset`: when this server's history includes that point (its replication
/// id, or the previous one up to where it was replaced) and the backlog still holds the
/// stream from there, registers `handle` as a replica and returns `+CONTINUE <replid>` and
/// the backlog's bytes from `offset` on; otherwise None, and a full synchronization follows
/// (Redis `masterTryPartialResynchronization`).
pub(crate) fn try_continue(
    shared: &Shared,
    handle: &Arc<ClientHandle>,
    conf: &ReplicaConf,
    replid: &[u8],
    offset: i64,
) -> Option<Vec<u8>> {
    let _ = handle.waker();
    let mut st = shared.replication.state.lock();
    let counts = &shared.replication.sync_counts;
    let same_history = replid == st.replid.as_bytes()
        || (replid == st.replid2.as_bytes() && offset <= st.second_offset);
    let backlog = st.backlog.as_ref()?;
    let first = st.offset as i64 - backlog.bytes.len() as i64 + 1;
    if !same_history || offset < first || offset > st.offset as i64 + 1 {
        if replid != b"?" {
            counts[2].fetch_add(1, Ordering::Relaxed);
        }
        return None;
    }
    let mut out = format!("+CONTINUE {}\r\n", st.replid).into_bytes();
    let skip = (offset - first) as usize;
    out.extend(backlog.bytes.iter().skip(skip));
    st.replicas.retain(|r| r.handle.id != handle.id);
    st.replicas.push(Replica {
        handle: handle.clone(),
        port: conf.port,
        ip: conf
            .ip
            .clone()
            .unwrap_or_else(|| handle.addr.ip().to_string()),
        ack_offset: 0,
        ack_ms: now_ms(),
    });
    handle.is_replica.store(true, Ordering::Relaxed);
    shared.replication.active.store(true, Ordering::Relaxed);
    counts[1].fetch_add(1, Ordering::Relaxed);
    crate::notice!(
        "Partial resynchronization request from {} accepted. Sending {} bytes of backlog starting from offset {offset}.",
        handle.addr,
        out.len()
    );
    Some(out)
}

/// Registers `handle` as a replica whose stream starts now, and copies the dataset, both
/// while the caller holds the keyspace read lock (see the module docs). `psync` chooses the
/// `+FULLRESYNC` preamble.
pub fn attach(
    shared: &Shared,
    ks: &crate::store::Keyspace,
    handle: &Arc<ClientHandle>,
    conf: &ReplicaConf,
    psync: bool,
    now: u64,
) -> Attached {
    // The waker must exist before the first delivery: a delivery with no waker wakes
    // nobody, and the worker would sleep on the first records until the next ones.
    let _ = handle.waker();
    let copy = crate::persistence::snapshot(ks, now);
    let backlog_size = backlog_size(shared);
    let mut st = shared.replication.state.lock();
    if st.backlog.is_none() {
        // mirrors syncCommand(): the first replica creates the backlog under a new
        // replication id (a replica has one from its master already).
        if !shared.replica_role.following() {
            st.replid = random_replid();
            st.replid2 = "0".repeat(40);
            st.second_offset = -1;
        }
        st.backlog = Some(Backlog {
            bytes: VecDeque::new(),
            size: backlog_size,
        });
    }
    // mirrors replicationSetupSlaveForFullResync(): the next record starts with a SELECT.
    st.db = None;
    st.replicas.retain(|r| r.handle.id != handle.id);
    st.replicas.push(Replica {
        handle: handle.clone(),
        port: conf.port,
        ip: conf
            .ip
            .clone()
            .unwrap_or_else(|| handle.addr.ip().to_string()),
        ack_offset: 0,
        ack_ms: now_ms(),
    });
    handle.is_replica.store(true, Ordering::Relaxed);
    shared.replication.active.store(true, Ordering::Relaxed);
    shared.replication.sync_counts[0].fetch_add(1, Ordering::Relaxed);
    let preamble = if psync {
        format!("+FULLRESYNC {} {}\r\n", st.replid, st.offset).into_bytes()
    } else {
        Vec::new()
    };
    crate::notice!(
        "Replica {}:{} asks for synchronization",
        handle.addr.ip(),
        conf.port
    );
    Attached { preamble, copy }
}

/// Forgets a replica whose connection ended.
pub(crate) fn detach(shared: &Shared, id: u64) {
    let mut st = shared.replication.state.lock();
    let before = st.replicas.len();
    st.replicas.retain(|r| r.handle.id != id);
    if st.replicas.len() != before {
        crate::notice!("Connection with replica client id #{id} lost.");
    }
}

/// Records `REPLCONF ACK <offset>` from replica `id`.
pub(crate) fn ack(shared: &Shared, id: u64, offset: u64) {
    let mut st = shared.replication.state.lock();
    if let Some(r) = st.replicas.iter_mut().find(|r| r.handle.id == id) {
        r.ack_offset = r.ack_offset.max(offset);
        r.ack_ms = now_ms();
    }
    drop(st);
    shared.replication.acked.notify_all();
}

/// A piece of the master's stream a replica applied: counted in the offset, kept in the
/// backlog and forwarded to this server's own replicas unchanged (Redis
/// `replicationFeedStreamFromMasterStream`).
/// `still_following` is checked under the same lock as REPLICAOF NO ONE's change of
/// history ([`shift_replid`]), so a command of the old master either counts in the old
/// history or not at all.
pub(crate) fn proxy(shared: &Shared, bytes: &[u8], still_following: impl FnOnce() -> bool) {
    let mut st = shared.replication.state.lock();
    if still_following() {
        append(shared, &mut st, bytes);
    }
}

/// The replication id and offset of the dataset, which a replica offers its master with
/// PSYNC.
pub(crate) fn history(shared: &Shared) -> (String, u64) {
    let st = shared.replication.state.lock();
    (st.replid.clone(), st.offset)
}

/// After a full synchronization: the dataset is the master's at `offset` of its history
/// `replid`. This server's own replicas must synchronize again, so they are disconnected;
/// the backlog starts afresh (Redis `replicationCreateMasterClient` and
/// `replicationAttachToNewMaster`).
pub(crate) fn start_history(shared: &Shared, replid: &str, offset: u64) {
    let mut st = shared.replication.state.lock();
    st.replid = replid.to_string();
    st.replid2 = "0".repeat(40);
    st.second_offset = -1;
    st.offset = offset;
    let size = backlog_size(shared);
    st.backlog = Some(Backlog {
        bytes: VecDeque::new(),
        size,
    });
    disconnect_replicas(&mut st);
}

/// `+CONTINUE <new replid>`: the master's history has a new id from the current offset on
/// (it was promoted); the old id stays valid up to here as `replid2` (Redis's PSYNC2
/// handling in `slaveTryPartialResynchronization`). Replicas of this server reconnect to
/// learn the new id.
pub(crate) fn continue_history(shared: &Shared, new_replid: &str) {
    let mut st = shared.replication.state.lock();
    if st.replid == new_replid {
        return;
    }
    st.replid2 = std::mem::replace(&mut st.replid, new_replid.to_string());
    st.second_offset = st.offset as i64 + 1;
    disconnect_replicas(&mut st);
}

/// A replica turned master (REPLICAOF NO ONE): a new history starts here; the master's id
/// stays valid up to the current offset as `replid2`, and the stream starts again with a
/// SELECT (Redis `shiftReplicationId`, `replicationUnsetMaster`).
pub(crate) fn shift_replid(shared: &Shared) {
    let mut st = shared.replication.state.lock();
    st.replid2 = std::mem::replace(&mut st.replid, random_replid());
    st.second_offset = st.offset as i64 + 1;
    st.db = None;
    disconnect_replicas(&mut st);
}

fn disconnect_replicas(st: &mut State) {
    for r in st.replicas.drain(..) {
        r.handle.kill();
    }
}

/// The stream offset now (`master_repl_offset`).
pub fn offset(shared: &Shared) -> u64 {
    shared.replication.state.lock().offset
}

fn backlog_size(shared: &Shared) -> usize {
    kept_number(shared, "repl-backlog-size").unwrap_or(1 << 20) as usize
}

fn kept_number(shared: &Shared, name: &str) -> Option<u64> {
    shared
        .config
        .read()
        .kept
        .get(name)
        .and_then(|v| v.parse().ok())
}

/// WAIT: blocks until `numreplicas` replicas acknowledged `target` or `timeout_ms` passed (0:
/// no timeout), and returns how many did (Redis `waitCommand`). Asks the replicas for an
/// acknowledgement first (`REPLCONF GETACK *`).
pub fn wait(shared: &Shared, target: u64, numreplicas: usize, timeout_ms: u64) -> usize {
    let count = |st: &State| {
        st.replicas
            .iter()
            .filter(|r| r.ack_offset >= target)
            .count()
    };
    let mut st = shared.replication.state.lock();
    if st.replicas.is_empty() || count(&st) >= numreplicas {
        return count(&st);
    }
    let mut getack = Vec::new();
    push_command(&mut getack, &[b"REPLCONF", b"GETACK", b"*"]);
    append(shared, &mut st, &getack);
    let deadline = (timeout_ms > 0).then(|| Instant::now() + Duration::from_millis(timeout_ms));
    loop {
        let n = count(&st);
        if n >= numreplicas || shared.is_stopping() {
            return n;
        }
        // Re-check at least every 100 ms: shutdown, and replicas that left.
        let step = Instant::now() + Duration::from_millis(100);
        let until = deadline.map_or(step, |d| d.min(step));
        shared.replication.acked.wait_until(&mut st, until);
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return count(&st);
        }
    }
}

/// The cron's part (Redis `replicationCron`): a PING in the stream every
/// `repl-ping-replica-period` seconds while replicas are attached, so they see the master
/// alive.
pub fn cron(shared: &Shared) {
    if !active(shared) {
        return;
    }
    let period = kept_number(shared, "repl-ping-replica-period").unwrap_or(10);
    let mut st = shared.replication.state.lock();
    st.replicas.retain(|r| !r.handle.is_killed());
    if let Some(b) = st.backlog.as_mut() {
        b.size = backlog_size(shared);
    }
    if st.last_ping.elapsed() < Duration::from_secs(period) || st.replicas.is_empty() {
        return;
    }
    st.last_ping = Instant::now();
    let mut ping = Vec::new();
    push_command(&mut ping, &[b"PING"]);
    append(shared, &mut st, &ping);
}

/// INFO replication, master fields (Redis `genRedisInfoString`).
pub(crate) fn info_fields(shared: &Shared, mut put: impl FnMut(&str, String)) {
    let st = shared.replication.state.lock();
    let now = now_ms();
    if shared.replica_role.following() {
        put("role", "slave".into());
        replica::info_fields(shared, st.offset, &mut put);
    } else {
        put("role", "master".into());
    }
    put("connected_slaves", st.replicas.len().to_string());
    for (i, r) in st.replicas.iter().enumerate() {
        put(
            &format!("slave{i}"),
            format!(
                "ip={},port={},state=online,offset={},lag={}",
                r.ip,
                r.port,
                r.ack_offset,
                now.saturating_sub(r.ack_ms) / 1000
            ),
        );
    }
    put("master_failover_state", "no-failover".into());
    put("master_replid", st.replid.clone());
    put("master_replid2", st.replid2.clone());
    put("master_repl_offset", st.offset.to_string());
    put("second_repl_offset", st.second_offset.to_string());
    let (active, size, histlen) = match &st.backlog {
        Some(b) => (1, b.size, b.bytes.len()),
        None => (0, backlog_size(shared), 0),
    };
    put("repl_backlog_active", active.to_string());
    put("repl_backlog_size", size.to_string());
    // mirrors genRedisInfoString(): the first byte is offset+1 based; 0 without a backlog.
    let first = if st.backlog.is_some() {
        st.offset - histlen as u64 + 1
    } else {
        0
    };
    put("repl_backlog_first_byte_offset", first.to_string());
    put("repl_backlog_histlen", histlen.to_string());
}

/// ROLE: for a master, `master`, the offset, and each replica's ip, port and acked offset;
/// for a replica, see [`replica::role`].
pub fn role(shared: &Shared, reply: &mut crate::protocol::Reply) {
    let st = shared.replication.state.lock();
    if shared.replica_role.following() {
        return replica::role(shared, st.offset, reply);
    }
    reply.array(3);
    reply.bulk(b"master");
    reply.int(st.offset as i64);
    reply.array(st.replicas.len());
    for r in &st.replicas {
        reply.array(3);
        reply.bulk(r.ip.as_bytes());
        reply.bulk(r.port.to_string().as_bytes());
        reply.bulk(r.ack_offset.to_string().as_bytes());
    }
}
