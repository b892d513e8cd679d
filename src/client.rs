//! Per-connection state, and the registry of connected clients.
//!
//! Counterpart of Redis's `client` struct (`server.h`) and `CLIENT LIST` / `CLIENT KILL`
//! (`networking.c`).
//!
//! A connection's state is split in two on purpose:
//! - [`Client`] is owned by the worker thread serving the connection. Nothing else touches it,
//!   so it needs no locks: selected database, protocol version, name, the current batch's
//!   counters.
//! - [`ClientHandle`] is shared (`Arc`) with the [`ClientRegistry`], so that other clients can
//!   list and kill this one, and shutdown can wake it. It holds only what others need to see,
//!   refreshed once per batch of commands rather than once per command.
//!
//! Most clients are connections, but not all: the server also runs commands through clients
//! of its own with no socket ([`Peer::Internal`], [`Client::internal`]), as Redis does with
//! its "fake" clients (`createClient(NULL)`): the AOF loader replays the file through one,
//! scripts will call commands through one, and the test harness ([`crate::harness`]) drives
//! the command table through them. Such a client is never in the [`ClientRegistry`], so
//! CLIENT LIST does not show it (nor does Redis's); killing it does nothing, and it is never
//! "gone".

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;

/// What other threads may read about a client (CLIENT LIST, INFO clients).
#[derive(Debug, Clone, Default)]
pub struct ClientSnapshot {
    /// CLIENT SETNAME.
    pub name: Vec<u8>,
    /// Selected database.
    pub db: usize,
    /// Last command run, as `cmd=` shows it (`get`, `client|list`).
    pub last_command: String,
    /// The `(name, subcommand)` pair `last_command` was rendered from, to skip re-rendering.
    pub last_command_key: (&'static str, &'static str),
    /// Unix ms of the last command.
    pub last_interaction_ms: u64,
    /// Unparsed bytes in the query buffer (`qbuf=`).
    pub query_buffer_len: usize,
    /// Query buffer capacity (`qbuf-free` is capacity minus length).
    pub query_buffer_capacity: usize,
    /// Replies queued but not yet sent, in bytes (`omem=`).
    pub output_bytes: usize,
    /// Number of queued reply blocks (`oll=`).
    pub output_blocks: usize,
    /// Bytes of the last batch's reply buffer (`obl=`).
    pub reply_buffer_len: usize,
    /// Memory used by the argument vector (`argv-mem=`).
    pub argv_mem: usize,
    /// Total memory attributed to this client (`tot-mem=`).
    pub total_mem: usize,
    /// Protocol version (2 or 3).
    pub resp: u8,
    /// Inside MULTI: commands queued so far, or -1 (`multi=`).
    pub multi: i64,
    /// Channel subscriptions (`sub=`).
    pub sub: usize,
    /// Pattern subscriptions (`psub=`).
    pub psub: usize,
    /// Shard channel subscriptions (`ssub=`).
    pub ssub: usize,
}

/// One client's share of the INFO counters.
///
/// Only the client's own worker adds to them, so the cache lines stay on that worker's core;
/// INFO adds up every client's counters (plus those of clients already gone, kept in
/// [`crate::shared::Stats`]). A single set of server-wide atomics would be written by every
/// worker after every batch, and those cross-core cache-line transfers are measurable at
/// 100k requests per second.
#[derive(Debug, Default)]
pub struct ClientCounters {
    /// Commands executed.
    pub commands: AtomicU64,
    /// Key lookups that found the key.
    pub hits: AtomicU64,
    /// Key lookups that did not.
    pub misses: AtomicU64,
    /// Bytes read from the client.
    pub net_in: AtomicU64,
    /// Bytes sent to the client.
    pub net_out: AtomicU64,
    /// Reads that brought data (INFO total_reads_processed).
    pub reads: AtomicU64,
    /// Sends of queued replies (INFO total_writes_processed).
    pub writes: AtomicU64,
}

impl ClientCounters {
    /// Zeroes every counter (CONFIG RESETSTAT).
    pub fn reset(&self) {
        for c in [
            &self.commands,
            &self.hits,
            &self.misses,
            &self.net_in,
            &self.net_out,
            &self.reads,
            &self.writes,
        ] {
            c.store(0, Ordering::Relaxed);
        }
    }
}

/// How a client is reached.
#[derive(Debug)]
pub(crate) enum Peer {
    /// A TCP connection: a second handle on its socket, used only to shut it down from
    /// another thread and to see whether the other end went away.
    Socket(TcpStream),
    /// No connection: a client the server runs commands through itself (see the module
    /// docs).
    Internal,
}

/// One end of a client's connection, as CLIENT LIST, MONITOR and the slow log show it:
/// `ip:port` (`[ip]:port` for IPv6), or `?:0` for a client with no connection, which is what
/// Redis prints for its fake clients (the address of file descriptor -1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(Option<SocketAddr>);

impl PeerAddr {
    /// The address of a socket's end.
    pub fn socket(addr: SocketAddr) -> PeerAddr {
        PeerAddr(Some(addr))
    }

    /// No address: an internal client.
    pub fn none() -> PeerAddr {
        PeerAddr(None)
    }

    /// The IP address; for an internal client `0.0.0.0`, which is neither loopback nor any
    /// address a rule names, so checks on the peer (`enable-debug-command local`) refuse it,
    /// as Redis's `islocalClient` refuses a fake client.
    pub fn ip(&self) -> IpAddr {
        self.0
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |addr| addr.ip())
    }
}

impl fmt::Display for PeerAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(addr) => addr.fmt(f),
            None => f.write_str("?:0"),
        }
    }
}

/// The shared half of a client.
#[derive(Debug)]
pub struct ClientHandle {
    /// Unique, increasing client id (CLIENT ID).
    pub id: u64,
    /// Peer address, `ip:port`.
    pub addr: PeerAddr,
    /// Local address, `ip:port`.
    pub local_addr: PeerAddr,
    /// File descriptor number (`fd=`); -1 for an internal client, as in Redis.
    pub fd: i32,
    /// Unix ms when the client connected (`age=`).
    pub created_ms: u64,
    /// What others may see; updated by the owner once per batch.
    pub snapshot: Mutex<ClientSnapshot>,
    /// This client's INFO counters.
    pub counters: ClientCounters,
    /// Replies other threads hand to this client: published messages, and the reply that ends
    /// a blocking command. The worker moves them to its output after waking up.
    mailbox: Mutex<Vec<u8>>,
    /// True while `mailbox` holds something (checked without taking the mutex).
    has_mail: AtomicBool,
    /// Created the first time the client subscribes or blocks; see [`crate::sys::Waker`].
    waker: OnceLock<crate::sys::Waker>,
    /// True when the client speaks RESP3 (publishers format messages accordingly).
    pub resp3: AtomicBool,
    /// Bytes queued in the worker's output queue, published for pub/sub limit checks.
    pub queued_output: AtomicUsize,
    /// Unix ms since when the client is over the pub/sub soft limit; 0 when it is not.
    pub pubsub_soft_since_ms: AtomicU64,
    /// The wait of a client blocked in BLPOP and friends, for CLIENT UNBLOCK.
    pub blocked_on: Mutex<Option<Arc<crate::blocking::Waiter>>>,
    killed: AtomicBool,
    /// Set by QUIT (see [`ClientHandle::mark_quitting`]).
    quitting: AtomicBool,
    /// Set once SYNC/PSYNC made this connection a replica (CLIENT LIST flag `S`).
    pub is_replica: AtomicBool,
    /// Set while the connection is in MONITOR mode (CLIENT LIST flag `O`).
    pub is_monitor: AtomicBool,
    /// CLIENT TRACKING's settings, read by the threads that send this client invalidations.
    pub tracking: Mutex<crate::tracking::Settings>,
    /// Set while a command of this client waits for CLIENT PAUSE to end (it counts in INFO
    /// `blocked_clients` and shows the `b` flag, as Redis's postponed clients do).
    pub is_postponed: AtomicBool,
    /// The user the connection is authenticated as (CLIENT LIST `user=`, and how ACL
    /// DELUSER finds the connections to close).
    pub user_name: Mutex<Vec<u8>>,
    /// Progress of the connection loop, so that another thread can wait for this client to
    /// run what it has already sent ([`ClientHandle::turns`]).
    turns: AtomicU64,
    /// The connection, if there is one.
    peer: Peer,
}

impl ClientHandle {
    /// The shared half of a client reached through `peer` (whose addresses are `addr` and
    /// `local_addr`, and file descriptor `fd`), connected at `now_ms`.
    fn new(id: u64, peer: Peer, addrs: (PeerAddr, PeerAddr, i32), now_ms: u64) -> ClientHandle {
        let (addr, local_addr, fd) = addrs;
        ClientHandle {
            id,
            addr,
            local_addr,
            fd,
            created_ms: now_ms,
            snapshot: Mutex::new(ClientSnapshot {
                resp: 2,
                multi: -1,
                last_command: "NULL".into(),
                last_interaction_ms: now_ms,
                ..Default::default()
            }),
            counters: ClientCounters::default(),
            mailbox: Mutex::new(Vec::new()),
            has_mail: AtomicBool::new(false),
            waker: OnceLock::new(),
            resp3: AtomicBool::new(false),
            queued_output: AtomicUsize::new(0),
            pubsub_soft_since_ms: AtomicU64::new(0),
            blocked_on: Mutex::new(None),
            killed: AtomicBool::new(false),
            is_replica: AtomicBool::new(false),
            is_monitor: AtomicBool::new(false),
            is_postponed: AtomicBool::new(false),
            quitting: AtomicBool::new(false),
            tracking: Mutex::default(),
            user_name: Mutex::new(b"default".to_vec()),
            turns: AtomicU64::new(0),
            peer,
        }
    }

    /// The shared half of an internal client (see the module docs): no socket, addresses
    /// `?:0`, file descriptor -1. It is in no registry.
    pub fn internal(id: u64, now_ms: u64) -> Arc<ClientHandle> {
        let addrs = (PeerAddr::none(), PeerAddr::none(), -1);
        Arc::new(ClientHandle::new(id, Peer::Internal, addrs, now_ms))
    }

    /// True for a client with no connection.
    pub(crate) fn is_internal(&self) -> bool {
        matches!(self.peer, Peer::Internal)
    }

    /// Asks the connection to close: its worker wakes up (its read returns 0) and exits.
    /// Used by CLIENT KILL and by shutdown. An internal client has nothing to close.
    pub fn kill(&self) {
        if let Peer::Socket(stream) = &self.peer {
            self.killed.store(true, Ordering::Release);
            let _ = stream.shutdown(Shutdown::Both);
        }
    }

    /// True once SYNC or PSYNC made this connection a replica.
    pub(crate) fn is_replica(&self) -> bool {
        self.is_replica.load(Ordering::Relaxed)
    }

    /// True while the connection is in MONITOR mode.
    pub(crate) fn is_monitor(&self) -> bool {
        self.is_monitor.load(Ordering::Relaxed)
    }

    /// True once [`ClientHandle::kill`] was called.
    pub(crate) fn is_killed(&self) -> bool {
        self.killed.load(Ordering::Acquire)
    }

    /// True when the connection is over: killed, or closed by the client although its worker
    /// thread may not have run yet to notice (one non-blocking peek at the socket). Redis
    /// handles a disconnection in the same loop that runs commands, so a command sent after
    /// another client went away never sees it; a thread per connection has to look.
    pub(crate) fn is_gone(&self) -> bool {
        if self.quitting.load(Ordering::Acquire) {
            return true;
        }
        match &self.peer {
            Peer::Socket(stream) => self.is_killed() || crate::sys::peer_closed(stream),
            Peer::Internal => false,
        }
    }

    /// True when the client has sent requests its worker has not read yet (one non-blocking
    /// peek at the socket). See [`crate::pubsub`]: Redis runs requests in the order they
    /// reach it, so a command another client sent first has run before ours.
    pub(crate) fn has_unread_requests(&self) -> bool {
        match &self.peer {
            Peer::Socket(stream) => crate::sys::peek(stream) == crate::sys::Peeked::Unread,
            Peer::Internal => false,
        }
    }

    /// Where the connection loop is: twice the turns it has completed, plus one from just
    /// before it reads the socket until that turn's replies are handed to the kernel (the
    /// worker calls [`ClientHandle::turn_starts`] and [`ClientHandle::turn_ends`]). So a
    /// request that is neither in the socket nor run yet shows as an odd count.
    pub fn turns(&self) -> u64 {
        self.turns.load(Ordering::SeqCst)
    }

    /// Called by the worker just before it reads the socket. Only the worker writes the
    /// count, so a load and a store suffice.
    pub(crate) fn turn_starts(&self) {
        let turns = self.turns.load(Ordering::Relaxed);
        if turns & 1 == 0 {
            self.turns.store(turns + 1, Ordering::SeqCst);
        }
    }

    /// Called by the worker once a turn's replies are handed to the kernel.
    pub(crate) fn turn_ends(&self) {
        let turns = self.turns.load(Ordering::Relaxed);
        if turns & 1 == 1 {
            self.turns.store(turns + 1, Ordering::SeqCst);
        }
    }

    /// True when requests the worker holds but has not run may exist, with `turns` read
    /// ([`ClientHandle::turns`]) just before a look at the socket that found `unread` or not.
    pub(crate) fn may_hold_requests(turns: u64, unread: bool) -> bool {
        unread || turns & 1 == 1
    }

    /// True once the worker, seen at `turns` with requests unread in its socket or read and
    /// not run, has run them: the turn running then has ended, and when requests were still
    /// in the socket, the turn after it as well (they may have arrived after it read).
    pub(crate) fn ran_requests_seen_at(&self, turns: u64, unread: bool) -> bool {
        let idle_at = turns + (turns & 1);
        let needed = if unread { idle_at + 2 } else { idle_at };
        self.turns() >= needed
    }

    /// Marks the connection as closing after its QUIT's reply: Redis frees such a client
    /// right after the reply, so to others it is already gone ([`ClientHandle::is_gone`]).
    pub(crate) fn mark_quitting(&self) {
        self.quitting.store(true, Ordering::Release);
    }

    /// The client's waker, created on first use.
    pub(crate) fn waker(&self) -> std::io::Result<&crate::sys::Waker> {
        if let Some(w) = self.waker.get() {
            return Ok(w);
        }
        let w = crate::sys::Waker::new()?;
        Ok(self.waker.get_or_init(|| w))
    }

    /// Hands `bytes` (complete RESP replies) to this client and wakes its worker.
    /// Returns the bytes now waiting in the mailbox.
    pub(crate) fn deliver(&self, bytes: &[u8]) -> usize {
        let waiting = self.deliver_without_waking(bytes);
        self.wake();
        waiting
    }

    /// Puts `bytes` in the mailbox without waking the worker; the caller wakes it with
    /// [`ClientHandle::wake`] once everything the worker must see is in place.
    pub(crate) fn deliver_without_waking(&self, bytes: &[u8]) -> usize {
        let mut mailbox = self.mailbox.lock();
        mailbox.extend_from_slice(bytes);
        self.has_mail.store(true, Ordering::Release);
        mailbox.len()
    }

    /// Wakes the worker if it waits on its waker.
    pub fn wake(&self) {
        if let Some(w) = self.waker.get() {
            w.wake();
        }
    }

    /// Takes everything delivered so far (the worker calls this after waking up).
    pub(crate) fn take_mail(&self) -> Option<Vec<u8>> {
        if !self.has_mail.load(Ordering::Acquire) {
            return None;
        }
        let mut mailbox = self.mailbox.lock();
        self.has_mail.store(false, Ordering::Release);
        Some(std::mem::take(&mut *mailbox))
    }

    /// Bytes waiting for this client in its mailbox and its output queue together.
    pub(crate) fn pending_output(&self) -> usize {
        self.mailbox.lock().len() + self.queued_output.load(Ordering::Relaxed)
    }
}

/// Every connected client, by id.
#[derive(Debug, Default)]
pub struct ClientRegistry {
    clients: Mutex<BTreeMap<u64, Arc<ClientHandle>>>,
    next_id: AtomicU64,
}

impl ClientRegistry {
    /// An empty registry. Ids start at 1 (Redis's first client id is 1... after internal ones).
    pub fn new() -> Self {
        ClientRegistry {
            clients: Mutex::new(BTreeMap::new()),
            next_id: AtomicU64::new(1),
        }
    }

    /// Registers a new connection and returns its handle.
    pub fn register(&self, stream: &TcpStream, now_ms: u64) -> std::io::Result<Arc<ClientHandle>> {
        use std::os::fd::AsRawFd;
        let addrs = (
            PeerAddr::socket(stream.peer_addr()?),
            PeerAddr::socket(stream.local_addr()?),
            stream.as_raw_fd(),
        );
        let peer = Peer::Socket(stream.try_clone()?);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let handle = Arc::new(ClientHandle::new(id, peer, addrs, now_ms));
        self.clients.lock().insert(id, handle.clone());
        Ok(handle)
    }

    /// An internal client (see the module docs) with the next id, not listed: Redis's fake
    /// clients take an id from the same counter as connections.
    pub fn internal(&self, now_ms: u64) -> Arc<ClientHandle> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        ClientHandle::internal(id, now_ms)
    }

    /// Removes a closed connection.
    pub(crate) fn unregister(&self, id: u64) {
        self.clients.lock().remove(&id);
    }

    /// Number of connected clients.
    pub fn len(&self) -> usize {
        self.clients.lock().len()
    }

    /// True when no client is connected.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// All connected clients, in id order.
    pub fn all(&self) -> Vec<Arc<ClientHandle>> {
        self.clients.lock().values().cloned().collect()
    }

    /// One client by id.
    pub fn get(&self, id: u64) -> Option<Arc<ClientHandle>> {
        self.clients.lock().get(&id).cloned()
    }

    /// Kills every client (shutdown).
    pub(crate) fn kill_all(&self) {
        for c in self.all() {
            c.kill();
        }
    }
}

/// Counters of the current batch, added to the server totals once per batch so that worker
/// threads do not fight over shared counters on every command.
#[derive(Debug, Default, Clone, Copy)]
pub struct BatchStats {
    /// Commands executed.
    pub commands: u64,
    /// Key lookups that found the key (INFO keyspace_hits).
    pub hits: u64,
    /// Key lookups that did not (INFO keyspace_misses).
    pub misses: u64,
}

/// The worker-owned half of a connection.
#[derive(Debug)]
pub struct Client {
    /// The shared half.
    pub handle: Arc<ClientHandle>,
    /// Selected database (SELECT).
    pub db: usize,
    /// CLIENT SETNAME; empty for none.
    pub name: Vec<u8>,
    /// Protocol version chosen with HELLO (2 or 3).
    pub resp: u8,
    /// Set by QUIT, SHUTDOWN errors, CLIENT KILL of oneself and protocol errors: send what is
    /// queued, then close.
    pub close_after_reply: bool,
    /// Last command run: its name and, for a subcommand, the subcommand's name
    /// (`("client", "list")` shows as `cmd=client|list`). Static strings from the command
    /// table, so recording it per command costs no allocation.
    pub last_command: (&'static str, &'static str),
    /// This batch's counters.
    pub stats: BatchStats,
    /// This batch's per-command counters (INFO commandstats).
    pub command_stats: crate::cmd::stats::CommandBatch,
    /// Error replies already charged to a command (Redis's `prev_err_count` in
    /// `incrCommandStatsOnError`): a command failed when the reply's error count moved past it.
    pub errors_seen: u64,
    /// Inside MULTI: the queued commands. `None` outside a transaction.
    pub multi: Option<MultiState>,
    /// Keys this client WATCHes, and the flag writers set when one of them changes.
    pub watch: WatchState,
    /// Channels this client is subscribed to (SUBSCRIBE).
    pub channels: BTreeSet<Vec<u8>>,
    /// Patterns this client is subscribed to (PSUBSCRIBE).
    pub patterns: BTreeSet<Vec<u8>>,
    /// Shard channels this client is subscribed to (SSUBSCRIBE).
    pub shard_channels: BTreeSet<Vec<u8>>,
    /// Set while the client waits in a blocking command (BLPOP...).
    pub blocked: Option<BlockedState>,
    /// A command held back by CLIENT PAUSE, run again when the pause ends (see
    /// [`crate::pause`]).
    pub postponed: Option<crate::protocol::Argv>,
    /// CLIENT TRACKING is on (the worker's copy of `handle.tracking.on`).
    pub tracking_on: bool,
    /// The keys the running script declared (EVAL's KEYS), which a tracking client's read
    /// inside it remembers, as Redis remembers the caller's keys.
    pub script_keys: Vec<Vec<u8>>,
    /// CLIENT CACHING was given for the next command (Redis `CLIENT_TRACKING_CACHING`).
    pub tracking_caching: bool,
    /// Invalidation messages for this client produced by its own running command, sent
    /// right after the command's reply (see [`crate::tracking`]).
    pub tracking_pending: Vec<u8>,
    /// What REPLCONF said before SYNC (listening port, address).
    pub replica_conf: crate::replication::ReplicaConf,
    /// CLIENT REPLY ON|OFF|SKIP: whether replies are sent.
    pub reply_mode: ReplyMode,
    /// Set by a command whose reply is a push (the Pub/Sub subscription confirmations), which
    /// CLIENT REPLY OFF does not silence (Redis's `CLIENT_PUSHING`). Reset before each command.
    pub reply_is_push: bool,
    /// The query buffer while a batch of commands runs: its length, counting the commands
    /// already executed, and its capacity. CLIENT LIST's `qbuf`/`qbuf-free` for the calling
    /// client (Redis trims its query buffer only after the whole batch).
    pub query_buffer: (usize, usize),
    /// The user whose permissions apply (Redis `c->user`); `None` for the AOF loader's
    /// client, which may run anything (Redis gives it no user either).
    pub user: Option<Arc<crate::acl::User>>,
    /// AUTH or HELLO AUTH succeeded, or the default user needed no password when the
    /// connection was made (Redis `c->authenticated`).
    pub authenticated: bool,
    /// The default user is on and has `nopass`, so nobody needs to authenticate (read with
    /// `user`, see [`crate::acl`]).
    pub default_is_open: bool,
    /// [`crate::acl::Acl::generation`] when `user` was last read.
    pub acl_generation: u64,
    /// This client runs the commands of the master this server follows (Redis
    /// `CLIENT_MASTER`): a read-only replica obeys it (see [`crate::replication::replica`]).
    pub is_master: bool,
}

/// What happens to a client's replies (CLIENT REPLY), with Redis's flag for each state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReplyMode {
    /// Replies are sent.
    #[default]
    On,
    /// No reply is sent until CLIENT REPLY ON (`CLIENT_REPLY_OFF`).
    Off,
    /// CLIENT REPLY SKIP just ran: the next command's reply is dropped
    /// (`CLIENT_REPLY_SKIP_NEXT`).
    SkipNext,
    /// The running command's reply is dropped (`CLIENT_REPLY_SKIP`).
    Skip,
}

/// A client waiting in a blocking command.
#[derive(Debug)]
pub struct BlockedState {
    /// The wait, also registered on the keys.
    pub waiter: Arc<crate::blocking::Waiter>,
    /// When to give up; `None` waits forever (timeout 0).
    pub deadline: Option<std::time::Instant>,
    /// The command, for the slow log if a write serves it.
    pub slowlog: Option<crate::slowlog::Deferred>,
}

/// A command queued between MULTI and EXEC, already resolved against the command table.
#[derive(Debug, Clone)]
pub struct QueuedCommand {
    /// The table row that will run.
    pub spec: &'static crate::cmd::CommandSpec,
    /// Its container, for a subcommand.
    pub parent: Option<&'static crate::cmd::CommandSpec>,
    /// The arguments, copied out of the query buffer.
    pub argv: crate::protocol::Argv,
}

/// The state of an open transaction (Redis `client->mstate` and `CLIENT_DIRTY_EXEC`).
#[derive(Debug, Default)]
pub struct MultiState {
    /// Commands waiting for EXEC.
    pub queued: Vec<QueuedCommand>,
    /// A command was refused while queueing: EXEC must answer EXECABORT.
    pub aborted: bool,
}

/// WATCHed keys (Redis `client->watched_keys` and `CLIENT_DIRTY_CAS`).
#[derive(Debug, Default)]
pub struct WatchState {
    /// Set by any write to a watched key; EXEC then fails with a null reply.
    pub dirty: Arc<std::sync::atomic::AtomicBool>,
    /// (database, key, whether the key was already expired when WATCHed).
    pub keys: Vec<(usize, Vec<u8>, bool)>,
}

impl Client {
    /// A client with no connection over `handle` (from [`ClientHandle::internal`] or
    /// [`ClientRegistry::internal`]), allowed everything (it has no user, as Redis's fake
    /// clients have none): what the AOF loader and scripts run commands through.
    pub fn internal(handle: Arc<ClientHandle>) -> Client {
        debug_assert!(handle.is_internal());
        Client::new(handle)
    }

    /// State for a freshly accepted connection.
    pub fn new(handle: Arc<ClientHandle>) -> Client {
        Client {
            handle,
            db: 0,
            name: Vec::new(),
            resp: 2,
            close_after_reply: false,
            last_command: ("NULL", ""),
            stats: BatchStats::default(),
            command_stats: Default::default(),
            errors_seen: 0,
            multi: None,
            watch: WatchState::default(),
            channels: BTreeSet::new(),
            patterns: BTreeSet::new(),
            shard_channels: BTreeSet::new(),
            blocked: None,
            postponed: None,
            tracking_on: false,
            tracking_caching: false,
            script_keys: Vec::new(),
            tracking_pending: Vec::new(),
            replica_conf: Default::default(),
            reply_mode: ReplyMode::On,
            reply_is_push: false,
            query_buffer: (0, 0),
            user: None,
            authenticated: true,
            default_is_open: true,
            acl_generation: 0,
            is_master: false,
        }
    }

    /// Makes the connection the `default` user's, authenticated if that user needs no
    /// password (Redis `clientSetDefaultAuth`, at connect and RESET).
    pub(crate) fn set_default_user(&mut self, acl: &crate::acl::Acl) {
        self.acl_generation = acl.generation();
        let user = acl.default_user();
        self.default_is_open = user.nopass && user.enabled;
        self.authenticated = self.default_is_open;
        *self.handle.user_name.lock() = user.name.clone();
        self.user = Some(user);
    }

    /// Re-reads the connection's user after any ACL change (see [`crate::acl`]). A user
    /// that no longer exists leaves the connection as an unauthenticated default user (its
    /// socket is being closed by ACL DELUSER already).
    pub(crate) fn refresh_user(&mut self, acl: &crate::acl::Acl) {
        let generation = acl.generation();
        if generation == self.acl_generation {
            return;
        }
        let Some(current) = &self.user else {
            return;
        };
        self.acl_generation = generation;
        self.default_is_open = acl.default_is_open();
        match acl.user(&current.name) {
            Some(user) => self.user = Some(user),
            None => {
                self.user = Some(acl.default_user());
                self.authenticated = false;
                *self.handle.user_name.lock() = b"default".to_vec();
            }
        }
    }

    /// True when only `no_auth` commands may run (Redis `authRequired`).
    pub(crate) fn auth_required(&self) -> bool {
        !self.authenticated && !self.default_is_open
    }

    /// Makes the connection `user`'s (AUTH, HELLO AUTH).
    pub(crate) fn authenticate_as(&mut self, user: Arc<crate::acl::User>) {
        self.authenticated = true;
        *self.handle.user_name.lock() = user.name.clone();
        self.user = Some(user);
    }

    /// The client id.
    pub fn id(&self) -> u64 {
        self.handle.id
    }

    /// Number of channel and pattern subscriptions (what SUBSCRIBE and PSUBSCRIBE replies
    /// count; Redis `clientSubscriptionsCount`).
    pub(crate) fn subscription_count(&self) -> usize {
        self.channels.len() + self.patterns.len()
    }

    /// Every subscription, shard channels included (Redis
    /// `clientTotalPubSubSubscriptionCount`): while it is above zero the client is a
    /// subscriber (flag `P`, the RESP2 subscribed context, the pubsub output class).
    pub(crate) fn total_subscription_count(&self) -> usize {
        self.subscription_count() + self.shard_channels.len()
    }

    /// True when another thread may hand this client something at any time, so its worker
    /// must wait on its waker as well as its socket.
    pub(crate) fn needs_waker(&self) -> bool {
        self.total_subscription_count() > 0
            || self.blocked.is_some()
            || self.postponed.is_some()
            // Pushes may come at any moment: invalidations for a tracking client, or
            // redirected to a RESP3 one.
            || self.tracking_on
            || self.resp == 3
            || self.handle.is_replica()
            || self.handle.is_monitor()
    }
}
