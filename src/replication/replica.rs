//! The replica side of replication: REPLICAOF makes this server follow a master, copy its
//! dataset, then apply every write the master makes, as Redis's `replication.c` does on its
//! replica half (`replicationSetMaster`, `syncWithMaster`, `readSyncBulkPayload`,
//! `replicationSendAck`, the master client of `networking.c`).
//!
//! # One blocking thread per link
//! Redis runs the handshake as a state machine in its event loop, one step per readable
//! socket. respd has no event loop: every connection already has a thread that blocks in
//! `read`. The link to a master is the same idea turned around: one thread ([`run_link`])
//! that connects, talks the handshake as a straight sequence of request / reply, reads the
//! snapshot, then loops reading the master's stream. The code reads in the order the
//! protocol happens, with no state to save between steps. The state the rest of the server
//! looks at (ROLE, INFO, the READONLY check) is in [`Link`], behind a mutex the thread
//! updates at each step.
//!
//! A REPLICAOF that changes the master (or NO ONE) bumps [`LinkState::generation`] and shuts
//! the socket down; the old thread sees the generation change at its next read (reads time
//! out every 100 ms) and leaves, and a new thread starts for the new master. Only one thread
//! of a generation ever applies writes.
//!
//! # The handshake (Redis 7.0's order)
//! `PING` (an error other than an authentication one stops), `AUTH [masteruser] masterauth`
//! when `masterauth` is set, `REPLCONF listening-port <port>`, `REPLCONF ip-address` when
//! `replica-announce-ip` is set, `REPLCONF capa eof capa psync2`, then `PSYNC <replid>
//! <offset+1>` when this server holds a dataset of a known history (it followed a master
//! before, or was a master: the history it can continue), else `PSYNC ? -1`. The master
//! answers `+FULLRESYNC <replid> <offset>` followed by the dataset as an RDB, either
//! `$<len>\r\n<bytes>` or, diskless, `$EOF:<40 random bytes>\r\n<bytes><the same 40 bytes>`;
//! or `+CONTINUE [<new replid>]` and the stream resumes where this server stopped. While the
//! master prepares the RDB it sends bare newlines to keep the link alive; they are skipped.
//!
//! # Applying the stream
//! The master's commands run through [`crate::cmd::dispatch`] on a client with no socket,
//! marked [`Client::is_master`], so they pass the READONLY check that refuses ordinary
//! clients' writes (the dispatcher reads the role from [`crate::shared::ReplicaRole`], which
//! this module keeps up to date), and their replies are thrown away. `REPLCONF GETACK` is
//! answered here instead, with `REPLCONF ACK <offset>` written to the master's socket; an ACK also goes
//! out every second. The offset counts the bytes of every whole command applied (Redis
//! `c->reploff`), and it is the same counter a master keeps (`master_repl_offset`): each
//! applied command's bytes are handed, unchanged, to [`crate::replication::proxy`], which
//! counts them and forwards them to this server's own replicas (chained replication: they
//! receive exactly the master's stream, as in Redis 7.0). Writes made by the master's
//! commands still reach the AOF; they are not fed to the replicas a second time.
//!
//! A replica of this server attaching with SYNC copies the dataset and starts its stream
//! at the current offset: both must agree, so applying a command and counting its bytes
//! happen under [`Link::apply`], which SYNC takes too (a transaction holds it from MULTI
//! to EXEC).
//!
//! # What a replica does not do
//! Keys are not expired by the active expiry cycle (the master sends a DEL when they
//! expire there) and nothing is evicted for `maxmemory` (`replica-ignore-maxmemory`).

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Mutex, MutexGuard};

use crate::client::Client;
use crate::protocol::{Argv, Reply};
use crate::shared::Shared;
use crate::util::{eq_ci, now_ms};

/// How long one read of the link waits before it looks again at REPLICAOF and the clock.
const READ_STEP: Duration = Duration::from_millis(100);

/// The replica side's state, part of [`crate::replication::Replication`].
#[derive(Debug, Default)]
pub struct Link {
    state: Mutex<LinkState>,
    /// Held while a piece of the master's stream is applied and counted, and by SYNC while
    /// it copies the dataset (see the module docs).
    pub(crate) apply: Mutex<()>,
}

/// Where the link is, as ROLE names it (Redis `server.repl_state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Phase {
    /// Not a replica.
    #[default]
    None,
    /// Waiting to (re)connect.
    Connect,
    /// The TCP connection is being made.
    Connecting,
    /// PING, AUTH, REPLCONF, PSYNC.
    Handshake,
    /// Receiving the RDB.
    Transfer,
    /// Applying the stream.
    Connected,
}

#[derive(Debug, Default)]
struct LinkState {
    /// The master's host and port.
    master: Option<(String, u16)>,
    /// Bumped by every REPLICAOF that changes the master; a link thread of an older one
    /// stops.
    generation: u64,
    phase: Phase,
    /// Unix ms of the last bytes read from the master.
    last_io_ms: u64,
    /// Unix ms the link went down (0: it was never up).
    down_since_ms: u64,
    /// A clone of the link's socket, to cut it when the master changes.
    socket: Option<TcpStream>,
    /// True when this server's dataset and offset continue a known history, so that PSYNC
    /// can ask to continue it (Redis's cached master).
    resumable: bool,
    /// Size of the RDB being received (0 when unknown: diskless) and bytes read of it.
    transfer: (u64, u64),
}

/// True while this server follows a master.
#[inline]
pub(crate) fn following(shared: &Shared) -> bool {
    shared.replica_role.following()
}

/// True when the link is up (`master_link_status:up`).
pub(crate) fn link_up(shared: &Shared) -> bool {
    shared.replica_role.link_up()
}

/// REPLICAOF host port: follows that master from now on. Returns false, changing nothing,
/// when it is already the master (Redis compares the host without case).
pub(crate) fn set_master(
    shared: &Shared,
    keyspace: &mut crate::store::Keyspace,
    host: &str,
    port: u16,
) -> bool {
    let link = &shared.replication.link;
    let generation = {
        let mut st = link.state.lock();
        if let Some((h, p)) = &st.master {
            if h.eq_ignore_ascii_case(host) && *p == port {
                return false;
            }
        }
        let was_master = st.master.is_none();
        st.master = Some((host.to_string(), port));
        st.generation += 1;
        if let Some(socket) = st.socket.take() {
            let _ = socket.shutdown(Shutdown::Both);
        }
        st.phase = Phase::Connect;
        shared.replica_role.set_link_up(false);
        // mirrors replicationSetMaster(): a master turning replica offers its own history
        // to the new master (replicationCacheMasterUsingMyself), so PSYNC may continue it.
        if was_master {
            st.resumable = true;
        }
        st.generation
    };
    shared.replica_role.set_following(true);
    unblock_all(shared, keyspace);
    shared
        .config
        .write()
        .kept
        .insert("replicaof", format!("{host} {port}"));
    crate::notice!("Connecting to MASTER {host}:{port}");
    if let Some(shared) = shared.me.upgrade() {
        let host = host.to_string();
        let spawned = std::thread::Builder::new()
            .name("respd-replica-link".into())
            .spawn(move || run_link(shared, generation, host, port));
        if let Err(e) = spawned {
            crate::warning!("Can't start the replication link thread: {e}");
        }
    }
    true
}

/// Releases every client blocked in BLPOP and friends with an error: once a replica, only
/// the master's stream may serve them, and a pop it did not order would make the replica
/// differ from its master (Redis `disconnectAllBlockedClients`).
fn unblock_all(shared: &Shared, ks: &mut crate::store::Keyspace) {
    for client in shared.clients.all() {
        let waiter = client.blocked_on.lock().clone();
        if let Some(waiter) = waiter {
            crate::blocking::cancel_locked(
                ks,
                &waiter,
                Some(b"-UNBLOCKED force unblock from blocking operation, instance state changed (master -> replica?)\r\n"),
            );
        }
    }
}

/// REPLICAOF NO ONE: stops following; the data stays and this server is a master again,
/// with a new replication id (the old one kept as `master_replid2`).
pub(crate) fn unset_master(shared: &Shared) {
    let link = &shared.replication.link;
    {
        let mut st = link.state.lock();
        if st.master.is_none() {
            return;
        }
        st.master = None;
        st.generation += 1;
        st.phase = Phase::None;
        shared.replica_role.set_link_up(false);
        st.down_since_ms = 0;
        st.resumable = false;
        if let Some(socket) = st.socket.take() {
            let _ = socket.shutdown(Shutdown::Both);
        }
    }
    // The old link thread counts no command of the old master in the new history: it
    // checks the generation when it counts one (see [`crate::replication::proxy`]).
    shared.replica_role.set_following(false);
    shared
        .config
        .write()
        .kept
        .insert("replicaof", String::new());
    crate::replication::shift_replid(shared);
}

/// INFO replication, the fields only a replica has (after `role:slave`).
pub(crate) fn info_fields(shared: &Shared, offset: u64, put: &mut impl FnMut(&str, String)) {
    let st = shared.replication.link.state.lock();
    let Some((host, port)) = &st.master else {
        return;
    };
    let now = now_ms();
    let connected = st.phase == Phase::Connected;
    put("master_host", host.clone());
    put("master_port", port.to_string());
    put(
        "master_link_status",
        if connected { "up" } else { "down" }.into(),
    );
    let last_io = if connected {
        (now.saturating_sub(st.last_io_ms) / 1000) as i64
    } else {
        -1
    };
    put("master_last_io_seconds_ago", last_io.to_string());
    let transfer = st.phase == Phase::Transfer;
    put("master_sync_in_progress", u8::from(transfer).to_string());
    // mirrors genRedisInfoString(): 1 until a master (or a cached one) gives an offset.
    let offset = if connected || st.resumable { offset } else { 1 };
    put("slave_read_repl_offset", offset.to_string());
    put("slave_repl_offset", offset.to_string());
    if transfer {
        let (total, read) = st.transfer;
        put("master_sync_total_bytes", total.to_string());
        put("master_sync_read_bytes", read.to_string());
        put(
            "master_sync_left_bytes",
            (total as i64 - read as i64).to_string(),
        );
        let perc = if total > 0 {
            read as f64 / total as f64 * 100.0
        } else {
            0.0
        };
        put("master_sync_perc", format!("{perc:.2}"));
        put(
            "master_sync_last_io_seconds_ago",
            (now.saturating_sub(st.last_io_ms) / 1000).to_string(),
        );
    }
    if !connected {
        let down = if st.down_since_ms > 0 {
            (now.saturating_sub(st.down_since_ms) / 1000) as i64
        } else {
            -1
        };
        put("master_link_down_since_seconds", down.to_string());
    }
    drop(st);
    let config = shared.config.read();
    let kept = |name: &str, default: &str| {
        config
            .kept
            .get(name)
            .cloned()
            .unwrap_or_else(|| default.into())
    };
    put("slave_priority", kept("replica-priority", "100"));
    let yes = |name: &str| u8::from(kept(name, "yes") == "yes").to_string();
    put("slave_read_only", yes("replica-read-only"));
    put("replica_announced", yes("replica-announced"));
}

/// ROLE on a replica: `slave`, the master's host and port, the link's state, and the
/// offset applied (-1 before the first synchronization).
pub(crate) fn role(shared: &Shared, offset: u64, reply: &mut Reply) {
    let st = shared.replication.link.state.lock();
    let (host, port) = st.master.clone().unwrap_or_default();
    let state = match st.phase {
        Phase::None => "none",
        Phase::Connect => "connect",
        Phase::Connecting => "connecting",
        Phase::Handshake => "handshake",
        Phase::Transfer => "sync",
        Phase::Connected => "connected",
    };
    reply.array(5);
    reply.bulk(b"slave");
    reply.bulk(host.as_bytes());
    reply.int(i64::from(port));
    reply.bulk(state.as_bytes());
    reply.int(if st.phase == Phase::Connected {
        offset as i64
    } else {
        -1
    });
}

/// SYNC on a replica whose link is not up is refused (Redis `syncCommand`).
pub(crate) fn sync_refusal(shared: &Shared) -> bool {
    following(shared) && !link_up(shared)
}

/// What went wrong on the link; logged, then the thread connects again a second later.
type LinkResult<T> = Result<T, String>;

/// Why [`run_link`]'s inner steps stopped without an error.
const SUPERSEDED: &str = "superseded";

/// The link thread: connects, synchronizes, applies the stream; after a failure, tries
/// again every second, until REPLICAOF changes the master or the server stops.
fn run_link(shared: Arc<Shared>, generation: u64, host: String, port: u16) {
    let mut link = LinkThread {
        shared: &shared,
        generation,
        buf: Vec::new(),
        socket: None,
        client: None,
    };
    loop {
        if !link.current() {
            return;
        }
        let outcome = link.follow(&host, port);
        link.went_down();
        match outcome {
            _ if !link.current() => return,
            Err(why) => crate::warning!("Replication link with MASTER {host}:{port}: {why}"),
            Ok(()) => {}
        }
        // Retry each second (Redis's replicationCron reconnects in state "connect").
        for _ in 0..10 {
            if !link.current() {
                return;
            }
            std::thread::sleep(READ_STEP);
        }
    }
}

/// One link thread's working state.
struct LinkThread<'a> {
    shared: &'a Shared,
    generation: u64,
    /// Bytes read from the master and not yet consumed.
    buf: Vec<u8>,
    socket: Option<TcpStream>,
    /// The client that runs the master's commands, kept between links.
    client: Option<Client>,
}

impl LinkThread<'_> {
    /// True while this thread's master is still the one to follow.
    fn current(&self) -> bool {
        !self.shared.is_stopping()
            && self.shared.replication.link.state.lock().generation == self.generation
    }

    /// Sets the phase, unless a newer REPLICAOF took over.
    fn set_phase(&self, phase: Phase) -> LinkResult<()> {
        let mut st = self.shared.replication.link.state.lock();
        if st.generation != self.generation {
            return Err(SUPERSEDED.into());
        }
        st.phase = phase;
        self.shared
            .replica_role
            .set_link_up(phase == Phase::Connected);
        if phase == Phase::Connected {
            st.down_since_ms = 0;
            st.last_io_ms = now_ms();
        }
        Ok(())
    }

    /// The link ended: state `connect`, and the time it went down.
    fn went_down(&mut self) {
        if let Some(socket) = self.socket.take() {
            let _ = socket.shutdown(Shutdown::Both);
        }
        self.buf.clear();
        let mut st = self.shared.replication.link.state.lock();
        if st.generation != self.generation {
            return;
        }
        if st.phase == Phase::Connected || st.down_since_ms == 0 {
            st.down_since_ms = now_ms();
        }
        st.phase = Phase::Connect;
        st.socket = None;
        self.shared.replica_role.set_link_up(false);
        self.shared.replica_role.set_master_addr(None);
    }

    /// One connection: handshake, synchronization, then the stream until it fails.
    fn follow(&mut self, host: &str, port: u16) -> LinkResult<()> {
        self.set_phase(Phase::Connecting)?;
        let timeout = Duration::from_secs(self.repl_timeout().max(1));
        let addr = (host, port)
            .to_socket_addrs()
            .map_err(|e| format!("Unable to connect to MASTER: {e}"))?
            .next()
            .ok_or("Unable to connect to MASTER: no address")?;
        let socket = TcpStream::connect_timeout(&addr, timeout)
            .map_err(|e| format!("Unable to connect to MASTER: {e}"))?;
        socket.set_nodelay(true).ok();
        socket.set_read_timeout(Some(READ_STEP)).ok();
        {
            let mut st = self.shared.replication.link.state.lock();
            if st.generation != self.generation {
                return Err(SUPERSEDED.into());
            }
            st.socket = socket.try_clone().ok();
            st.phase = Phase::Handshake;
        }
        let peer = socket.peer_addr().ok().map(|a| a.to_string());
        self.shared.replica_role.set_master_addr(peer);
        crate::notice!("MASTER <-> REPLICA sync started");
        self.socket = Some(socket);
        self.handshake()?;
        let reply = self.psync()?;
        // The master's client of the last link, kept for a partial resync: the stream goes
        // on in the database it had selected (Redis keeps its cached master's).
        let previous = self.client.take();
        let mut master_client = if let Some(rest) = reply.strip_prefix("+FULLRESYNC ") {
            let mut words = rest.split(' ');
            let replid = words.next().unwrap_or_default().to_string();
            let offset = words.next().and_then(|o| o.parse::<u64>().ok());
            let (Some(offset), 40) = (offset, replid.len()) else {
                return Err(format!("Unexpected reply to PSYNC from master: {reply}"));
            };
            crate::notice!("Full resync from master: {replid}:{offset}");
            self.full_sync(&replid, offset)?;
            self.master_client()
        } else if let Some(rest) = reply.strip_prefix("+CONTINUE") {
            let new_id = rest.trim();
            crate::notice!("Successful partial resynchronization with master.");
            if new_id.len() == 40 {
                crate::replication::continue_history(self.shared, new_id);
            }
            previous.unwrap_or_else(|| self.master_client())
        } else if reply.starts_with("-NOMASTERLINK") || reply.starts_with("-LOADING") {
            return Err(format!(
                "Master is currently unable to PSYNC but should be in the future: {reply}"
            ));
        } else {
            return Err(format!("Unexpected reply to PSYNC from master: {reply}"));
        };
        self.shared.replication.link.state.lock().resumable = true;
        self.set_phase(Phase::Connected)?;
        crate::notice!("MASTER <-> REPLICA sync: Finished with success");
        let outcome = self
            .send_ack()
            .and_then(|()| self.stream(&mut master_client));
        // An open transaction of the master dies with the link (Redis frees it with the
        // cached master's state).
        master_client.multi = None;
        self.client = Some(master_client);
        outcome
    }

    fn repl_timeout(&self) -> u64 {
        match self.shared.config.read().kept_u64("repl-timeout") {
            0 => 60,
            n => n,
        }
    }

    /// PING, AUTH, REPLCONF listening-port / ip-address / capa, each answered before the
    /// next is sent.
    fn handshake(&mut self) -> LinkResult<()> {
        self.send(&[b"PING"])?;
        let pong = self.read_line()?;
        // mirrors syncWithMaster(): an authentication error to PING is expected when the
        // master wants AUTH; any other error stops the handshake.
        if pong.starts_with('-')
            && !pong.starts_with("-NOAUTH")
            && !pong.starts_with("-NOPERM")
            && !pong.starts_with("-ERR operation not permitted")
        {
            return Err(format!("Error reply to PING from master: '{pong}'"));
        }
        let (auth, user, announce_port, announce_ip, port) = {
            let config = self.shared.config.read();
            let kept = |n: &str| config.kept.get(n).cloned().unwrap_or_default();
            (
                kept("masterauth"),
                kept("masteruser"),
                config.kept_u64("replica-announce-port"),
                kept("replica-announce-ip"),
                self.shared.port(),
            )
        };
        if !auth.is_empty() {
            if user.is_empty() {
                self.send(&[b"AUTH", auth.as_bytes()])?;
            } else {
                self.send(&[b"AUTH", user.as_bytes(), auth.as_bytes()])?;
            }
            let reply = self.read_line()?;
            if reply.starts_with('-') {
                return Err(format!("Unable to AUTH to MASTER: {reply}"));
            }
        }
        let port = if announce_port > 0 {
            announce_port
        } else {
            u64::from(port)
        };
        self.send(&[b"REPLCONF", b"listening-port", port.to_string().as_bytes()])?;
        let reply = self.read_line()?;
        if reply.starts_with('-') {
            crate::notice!(
                "(Non critical) Master does not understand REPLCONF listening-port: {reply}"
            );
        }
        if !announce_ip.is_empty() {
            self.send(&[b"REPLCONF", b"ip-address", announce_ip.as_bytes()])?;
            let reply = self.read_line()?;
            if reply.starts_with('-') {
                crate::notice!(
                    "(Non critical) Master does not understand REPLCONF ip-address: {reply}"
                );
            }
        }
        self.send(&[b"REPLCONF", b"capa", b"eof", b"capa", b"psync2"])?;
        let reply = self.read_line()?;
        if reply.starts_with('-') {
            crate::notice!("(Non critical) Master does not understand REPLCONF capa: {reply}");
        }
        Ok(())
    }

    /// Sends PSYNC (continuing this server's history when it has one) and returns the
    /// master's answer line.
    fn psync(&mut self) -> LinkResult<String> {
        let resumable = self.shared.replication.link.state.lock().resumable;
        let (replid, offset) = crate::replication::history(self.shared);
        if resumable {
            let next = (offset + 1).to_string();
            crate::notice!("Trying a partial resynchronization (request {replid}:{next}).");
            self.send(&[b"PSYNC", replid.as_bytes(), next.as_bytes()])?;
        } else {
            crate::notice!("Partial resynchronization not possible (no cached master)");
            self.send(&[b"PSYNC", b"?", b"-1"])?;
        }
        loop {
            let line = self.read_line()?;
            // Newlines the master sends while it gets ready.
            if !line.is_empty() {
                return Ok(line);
            }
        }
    }

    /// Receives the RDB that follows `+FULLRESYNC` and makes it the dataset.
    fn full_sync(&mut self, replid: &str, offset: u64) -> LinkResult<()> {
        self.set_phase(Phase::Transfer)?;
        let header = loop {
            let line = self.read_line()?;
            if !line.is_empty() {
                break line;
            }
        };
        if header.starts_with('-') {
            return Err(format!(
                "MASTER aborted replication with an error: {header}"
            ));
        }
        let Some(spec) = header.strip_prefix('$') else {
            return Err(format!(
                "Bad protocol from MASTER, the first byte is not '$' (we received '{header}'), are you sure the host and port are right?"
            ));
        };
        let rdb = if let Some(mark) = spec.strip_prefix("EOF:") {
            // Diskless: no length; the payload ends with the 40 bytes after `EOF:`.
            let mark = mark.as_bytes().to_vec();
            if mark.len() != 40 {
                return Err(format!("Bad EOF mark from MASTER: '{header}'"));
            }
            self.set_transfer(0, 0);
            let mut data = std::mem::take(&mut self.buf);
            while !data.ends_with(&mark) {
                self.fill_into(&mut data)?;
                self.set_transfer(0, data.len() as u64);
            }
            data.truncate(data.len() - mark.len());
            data
        } else {
            let len: usize = spec
                .parse()
                .map_err(|_| format!("Bad RDB length from MASTER: '{header}'"))?;
            crate::notice!("MASTER <-> REPLICA sync: receiving {len} bytes from master to disk");
            self.set_transfer(len as u64, 0);
            let mut data = std::mem::take(&mut self.buf);
            while data.len() < len {
                self.fill_into(&mut data)?;
                self.set_transfer(len as u64, data.len().min(len) as u64);
            }
            // Whatever came after the payload is the start of the stream.
            self.buf = data.split_off(len);
            data
        };
        crate::notice!("MASTER <-> REPLICA sync: Flushing old data");
        crate::notice!("MASTER <-> REPLICA sync: Loading DB in memory");
        let shared = self.shared;
        let _applying = shared.replication.link.apply.lock();
        if !self.current() {
            return Err(SUPERSEDED.into());
        }
        let checksum = shared.config.read().rdbchecksum;
        let stats = {
            let mut ks = shared.store.write();
            let now = shared.clock.now_ms();
            for db in ks.dbs_mut() {
                db.clear(now);
            }
            crate::persistence::rdb::load(&rdb, &mut ks, now, checksum)
        };
        let stats = match stats {
            Ok(stats) => stats,
            Err(e) => {
                // The dataset is partial: empty it, as Redis does after a failed load.
                let now = shared.clock.now_ms();
                for db in shared.store.write().dbs_mut() {
                    db.clear(now);
                }
                return Err(format!(
                    "Failed trying to load the MASTER synchronization DB from socket: {e}"
                ));
            }
        };
        let restored = shared.scripting.restore_libraries(
            &stats.functions,
            crate::cmd::scripting::RestorePolicy::Flush,
        );
        if let Err(e) = restored {
            crate::warning!("Failed loading the functions of the MASTER synchronization DB: {e}");
        }
        shared.persistence.note_load(&stats);
        crate::replication::start_history(shared, replid, offset);
        // The AOF holds the old dataset: write it again from the new one (Redis
        // `restartAOFAfterSYNC`).
        if shared.config.read().appendonly {
            let _ = crate::persistence::aof::start_rewrite(shared, &shared.store.read());
        }
        crate::notice!(
            "MASTER <-> REPLICA sync: Finished loading {} keys",
            stats.keys_loaded
        );
        Ok(())
    }

    fn set_transfer(&self, total: u64, read: u64) {
        let mut st = self.shared.replication.link.state.lock();
        st.transfer = (total, read);
        st.last_io_ms = now_ms();
    }

    /// A client with no socket that runs the master's commands (Redis's `server.master`).
    fn master_client(&self) -> Client {
        let handle = self.shared.clients.internal(self.shared.clock.now_ms());
        let mut client = Client::internal(handle);
        client.is_master = true;
        client
    }

    /// Reads and applies the master's stream until the link fails or is superseded.
    fn stream(&mut self, client: &mut Client) -> LinkResult<()> {
        let mut reply = Reply::new();
        let mut last_ack = Instant::now();
        // The apply lock, kept while a transaction of the master is open.
        let mut held: Option<MutexGuard<'_, ()>> = None;
        let shared = self.shared;
        loop {
            let mut at = 0;
            loop {
                let (argv, next) = match crate::persistence::aof::parse_command(&self.buf, at) {
                    crate::persistence::aof::Parsed::Command(argv, next) => (argv, next),
                    crate::persistence::aof::Parsed::Truncated => break,
                    crate::persistence::aof::Parsed::Garbage(_) => {
                        return Err("Protocol error in the master's stream".into())
                    }
                };
                if held.is_none() {
                    held = Some(shared.replication.link.apply.lock());
                }
                if !self.current() {
                    return Err(SUPERSEDED.into());
                }
                if is_getack(&argv) {
                    // mirrors replconfCommand(): the ACK tells the offset before GETACK.
                    self.send_ack()?;
                } else {
                    self.apply(client, &argv, &mut reply);
                }
                let generation = self.generation;
                crate::replication::proxy(shared, &self.buf[at..next], || {
                    shared.replication.link.state.lock().generation == generation
                });
                if client.multi.is_none() {
                    held = None;
                }
                at = next;
            }
            self.buf.drain(..at);
            if last_ack.elapsed() >= Duration::from_secs(1) {
                self.send_ack()?;
                last_ack = Instant::now();
            }
            let idle = now_ms().saturating_sub(shared.replication.link.state.lock().last_io_ms);
            if idle / 1000 > self.repl_timeout() {
                return Err("MASTER timeout: no data nor PING received...".into());
            }
            if !self.current() {
                return Err(SUPERSEDED.into());
            }
            let mut buf = std::mem::take(&mut self.buf);
            let read = self.fill_into(&mut buf);
            self.buf = buf;
            match read {
                Ok(()) => {}
                Err(e) if e == TIMED_OUT => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Runs one command of the master, discarding its reply. A command held back by CLIENT
    /// PAUSE (Redis pauses the master's client too) is retried until it runs.
    fn apply(&self, client: &mut Client, argv: &Argv, reply: &mut Reply) {
        let shared = self.shared;
        crate::cmd::dispatch(shared, client, argv, reply);
        while let Some(postponed) = client.postponed.take() {
            if !self.current() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
            crate::cmd::dispatch(shared, client, &postponed, reply);
        }
        reply.truncate(0);
        // The master's commands count in INFO commandstats and stats like any client's; its
        // client is in no registry, so they go straight to the totals (as the harness's).
        let stats = &shared.stats;
        let mut errors = reply.take_error_codes();
        if !client.command_stats.is_empty() || !errors.is_empty() {
            (stats.commands).publish(&mut client.command_stats, &mut errors);
        }
        let batch = std::mem::take(&mut client.stats);
        use std::sync::atomic::Ordering::Relaxed;
        (stats.total_commands_processed).fetch_add(batch.commands, Relaxed);
        stats.keyspace_hits.fetch_add(batch.hits, Relaxed);
        stats.keyspace_misses.fetch_add(batch.misses, Relaxed);
    }

    /// `REPLCONF ACK <offset>` to the master.
    fn send_ack(&mut self) -> LinkResult<()> {
        let offset = crate::replication::offset(self.shared).to_string();
        self.send(&[b"REPLCONF", b"ACK", offset.as_bytes()])
    }

    /// Writes one command to the master.
    fn send(&mut self, args: &[&[u8]]) -> LinkResult<()> {
        let mut out = Vec::new();
        out.push(b'*');
        out.extend_from_slice(args.len().to_string().as_bytes());
        out.extend_from_slice(b"\r\n");
        for arg in args {
            out.push(b'$');
            out.extend_from_slice(arg.len().to_string().as_bytes());
            out.extend_from_slice(b"\r\n");
            out.extend_from_slice(arg);
            out.extend_from_slice(b"\r\n");
        }
        let socket = self.socket.as_mut().ok_or("not connected")?;
        socket
            .write_all(&out)
            .map_err(|e| format!("Error writing to MASTER: {e}"))
    }

    /// Reads one reply line (without its CRLF), waiting up to `repl-timeout`.
    fn read_line(&mut self) -> LinkResult<String> {
        let deadline = Instant::now() + Duration::from_secs(self.repl_timeout());
        loop {
            if let Some(end) = memchr::memchr(b'\n', &self.buf) {
                let line: Vec<u8> = self.buf.drain(..=end).collect();
                let line = line.strip_suffix(b"\n").unwrap_or(&line);
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                return Ok(String::from_utf8_lossy(line).into_owned());
            }
            if Instant::now() >= deadline {
                return Err("Timeout connecting to the MASTER...".into());
            }
            let mut buf = std::mem::take(&mut self.buf);
            let read = self.fill_into(&mut buf);
            self.buf = buf;
            match read {
                Ok(()) => {}
                Err(e) if e == TIMED_OUT => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Reads what the socket has into `data` (waiting up to [`READ_STEP`]; `TIMED_OUT` when
    /// nothing came). A closed connection or a newer REPLICAOF is an error.
    fn fill_into(&mut self, data: &mut Vec<u8>) -> LinkResult<()> {
        if !self.current() {
            return Err(SUPERSEDED.into());
        }
        if self.shared.replica_role.take_drop_request() {
            return Err("Connection with master killed by CLIENT KILL TYPE master.".into());
        }
        let socket = self.socket.as_mut().ok_or("not connected")?;
        let mut chunk = [0u8; 16 * 1024];
        match socket.read(&mut chunk) {
            Ok(0) => Err("Connection with master lost.".into()),
            Ok(n) => {
                data.extend_from_slice(&chunk[..n]);
                self.shared.replication.link.state.lock().last_io_ms = now_ms();
                Ok(())
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::TimedOut
                        | std::io::ErrorKind::Interrupted
                ) =>
            {
                if self.current() {
                    Err(TIMED_OUT.into())
                } else {
                    Err(SUPERSEDED.into())
                }
            }
            Err(e) => Err(format!("Connection with master lost: {e}")),
        }
    }
}

/// [`LinkThread::fill_into`]'s "nothing yet".
const TIMED_OUT: &str = "timed out";

fn is_getack(argv: &Argv) -> bool {
    argv.len() >= 2 && eq_ci(&argv[0], "replconf") && eq_ci(&argv[1], "getack")
}
