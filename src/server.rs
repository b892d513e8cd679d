//! The server: listeners, the worker pool, the background cron, and shutdown.
//!
//! Counterpart of Redis `server.c` (`main`, `serverCron`, `prepareForShutdown`), built from
//! blocking threads instead of an event loop:
//!
//! - one **accept thread** per listening socket hands each new socket to a worker over a
//!   `crossbeam-channel`. The sockets and their threads live in [`Listeners`], in the shared
//!   state, so that CONFIG SET `port` or `bind` can move them while the server runs;
//! - a **worker** serves one connection until it closes (see [`crate::connection`]), then waits
//!   for the next socket. The channel has no buffer: a hand-off succeeds only if a worker is
//!   idle and waiting, and when none is, the accept thread starts a new one. So the pool grows on
//!   demand up to `maxclients`, and idle workers are reused (or exit after a minute of idleness);
//! - a **cron thread** runs `hz` times a second: active expiry, the ops/sec sampler, idle
//!   client timeouts, snapshot save points.
//!
//! Shutdown (a signal, or SHUTDOWN) stops the accept threads, shuts down every client socket
//! (which wakes each worker out of its blocking `read`), waits for the workers to finish, and
//! returns, so `main` can exit 0.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender, TrySendError};
use parking_lot::{Mutex, MutexGuard};

use crate::config::Config;
use crate::shared::{Shared, ShutdownRequest};
use crate::util::{now_ms, Clock};

/// How long an idle worker waits for a new connection before its thread exits.
const IDLE_WORKER_TIMEOUT: Duration = Duration::from_secs(60);
/// How long shutdown waits for connections to finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// File descriptors kept for everything but clients: listeners, the log, the dump and AOF
/// files and their temporary files, the standard streams (Redis `CONFIG_MIN_RESERVED_FDS`).
pub const MIN_RESERVED_FDS: u64 = 32;
/// File descriptors one client may hold in respd: its socket, the duplicate the client
/// registry keeps to wake or kill it from other threads, and the `eventfd` a subscriber or
/// blocked client waits on. A Redis client holds one, so for the same `maxclients` respd asks
/// for about three times as many descriptors.
pub const FDS_PER_CLIENT: u64 = 3;
/// How long the accept loop pauses after running out of file descriptors: the next accept
/// cannot succeed before a client leaves, and retrying at once only spins.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// Accept errors are logged at most this often (the rest are counted in the next line).
const ACCEPT_ERROR_LOG_INTERVAL: Duration = Duration::from_secs(1);

impl Shared {
    /// Serves `new` sockets, bound by [`Listeners::bind_for`], in place of the old ones: the
    /// second half of CONFIG SET `port` / `bind` (Redis `changeListenPort`, `changeBindAddr`).
    /// Each new socket gets its accept thread; then each old socket that is not kept is shut
    /// down, which wakes its accept thread out of `accept`, and closed once that thread has
    /// ended, so the old port refuses connections by the time this returns. Connections
    /// already accepted stay open, as in Redis.
    pub fn serve_listeners(&self, new: NewListeners<'_>) -> io::Result<()> {
        let me = self.me.upgrade().expect("the server outlives its commands");
        let NewListeners { mut active, slots } = new;
        // New accept threads first: if one cannot start, the old sockets are still served.
        let mut next: Vec<Next> = Vec::with_capacity(slots.len());
        for slot in slots {
            next.push(match slot {
                Slot::Kept(addr) => Next::Kept(addr),
                Slot::Bound(listener) => match Listening::serve(listener, &me) {
                    Ok(started) => {
                        crate::notice!("Listening on {}", started.addr);
                        Next::Started(started)
                    }
                    Err(e) => {
                        for started in next {
                            if let Next::Started(l) = started {
                                l.close();
                            }
                        }
                        return Err(e);
                    }
                },
            });
        }
        let mut old: Vec<Option<Listening>> = active.drain(..).map(Some).collect();
        let next: Vec<Listening> = next
            .into_iter()
            .map(|n| match n {
                Next::Started(l) => l,
                Next::Kept(addr) => old
                    .iter_mut()
                    .find_map(|l| l.take_if(|l| l.addr == addr))
                    .expect("kept from the active sockets"),
            })
            .collect();
        for listening in old.into_iter().flatten() {
            crate::notice!("No longer listening on {}", listening.addr);
            listening.close();
        }
        self.port.store(next[0].addr.port(), Ordering::Relaxed);
        *active = next;
        Ok(())
    }
}

/// The listening sockets, each with its accept thread (Redis `server.ipfd`).
#[derive(Debug, Default)]
pub struct Listeners {
    active: Mutex<Vec<Listening>>,
}

/// One listening socket and the thread accepting on it.
#[derive(Debug)]
struct Listening {
    socket: Arc<TcpListener>,
    addr: SocketAddr,
    /// Set before the socket is shut down, so its accept thread takes the failing `accept`
    /// for the end rather than for a passing error.
    retired: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

impl Listening {
    /// Starts the accept thread of `listener`.
    fn serve(listener: TcpListener, shared: &Arc<Shared>) -> io::Result<Listening> {
        let addr = listener.local_addr()?;
        let socket = Arc::new(listener);
        let retired = Arc::new(AtomicBool::new(false));
        let (s, r, sh) = (socket.clone(), retired.clone(), shared.clone());
        let thread = thread::Builder::new()
            .name("respd-accept".into())
            .spawn(move || accept_loop(&s, &r, &sh))?;
        Ok(Listening {
            socket,
            addr,
            retired,
            thread,
        })
    }

    /// Stops accepting and closes the socket: connections still in its backlog are refused.
    fn close(self) {
        self.retired.store(true, Ordering::Release);
        crate::sys::wake_listener(&self.socket);
        let _ = self.thread.join();
        // The last reference: dropping it closes the socket.
        drop(self.socket);
    }
}

/// What one configured address becomes when the listeners are moved.
#[derive(Debug)]
enum Slot {
    /// Already listened on: the running socket is kept, with its backlog and thread.
    Kept(SocketAddr),
    /// Newly bound.
    Bound(TcpListener),
}

/// A socket of the new set while it is being assembled.
enum Next {
    Started(Listening),
    Kept(SocketAddr),
}

/// Sockets bound for a new `bind` / `port` and not served yet (see [`Listeners::bind_for`]).
/// Dropping it closes the new sockets and changes nothing; [`Shared::serve_listeners`]
/// switches to them. It holds the listeners' lock, so two CONFIG SETs cannot interleave.
#[derive(Debug)]
pub struct NewListeners<'a> {
    active: MutexGuard<'a, Vec<Listening>>,
    slots: Vec<Slot>,
}

impl Listeners {
    /// The addresses listened on, in `bind` order.
    pub fn addrs(&self) -> Vec<SocketAddr> {
        self.active.lock().iter().map(|l| l.addr).collect()
    }

    /// The first half of moving the listeners: binds every address `config` asks for that is
    /// not listened on already, before anything is closed, so that a failure (a port in use)
    /// leaves the server as it was. Redis closes its sockets first and binds the old ones
    /// again when the new ones fail; binding first gets the same outcome without a moment
    /// when the old port refuses connections. A socket already listening on a wanted address
    /// is kept rather than bound twice, which would fail.
    ///
    /// `Err` carries the log line saying which address failed.
    pub fn bind_for(&self, config: &Config) -> io::Result<NewListeners<'_>> {
        let active = self.active.lock();
        let listening: Vec<SocketAddr> = active.iter().map(|l| l.addr).collect();
        let slots = bind_configured(config, &listening)?;
        Ok(NewListeners { active, slots })
    }

    /// Closes every socket (shutdown).
    fn close_all(&self) {
        let all = std::mem::take(&mut *self.active.lock());
        for listening in all {
            listening.close();
        }
    }
}

/// A running server: its addresses, and the handle to stop it.
pub struct ServerHandle {
    shared: Arc<Shared>,
    cron_stop: Sender<()>,
    cron_thread: Option<JoinHandle<()>>,
    requests: Receiver<ShutdownRequest>,
}

impl ServerHandle {
    /// The first listening address (tests bind port 0 and read the real port here).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addrs()[0]
    }

    /// Every listening address (CONFIG SET `port` and `bind` change them).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.shared.listeners.addrs()
    }

    /// The shared state (for tests and benches).
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// A sender that asks the server to stop (the signal handler uses it).
    pub fn shutdown_sender(&self) -> Sender<ShutdownRequest> {
        self.shared.shutdown_requests.clone()
    }

    /// Blocks until a signal or the SHUTDOWN command asks the server to stop.
    pub fn wait_for_shutdown_request(&self) -> ShutdownRequest {
        self.requests.recv().unwrap_or(ShutdownRequest::Signal)
    }

    /// Stops the server: no more accepts, every client closed, workers and cron joined.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if self.shared.stopping.swap(true, Ordering::AcqRel) {
            return;
        }
        self.shared.listeners.close_all();
        self.shared.pool.close();
        let _ = self.cron_stop.send(());
        if let Some(t) = self.cron_thread.take() {
            let _ = t.join();
        }
        // Wake every worker out of its blocking read; each sees EOF and unregisters.
        let deadline = Instant::now() + SHUTDOWN_GRACE;
        loop {
            self.shared.clients.kill_all();
            if self.shared.connected.load(Ordering::Acquire) == 0 || Instant::now() >= deadline {
                break;
            }
            thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Binds the configured addresses (`bind`, `port`, `tcp-backlog`). An address written with a
/// leading `-` is skipped if it cannot be bound (Redis's "optional address" syntax, used for
/// `-::1` on hosts without IPv6).
pub(crate) fn bind_all(config: &Config) -> io::Result<Vec<TcpListener>> {
    Ok(bind_configured(config, &[])?
        .into_iter()
        .filter_map(|slot| match slot {
            Slot::Bound(listener) => Some(listener),
            Slot::Kept(_) => None,
        })
        .collect())
}

/// [`bind_all`], but an address in `listening` (the sockets already served) is not bound
/// again: it comes back as [`Slot::Kept`]. With port 0 every address is bound afresh.
fn bind_configured(config: &Config, listening: &[SocketAddr]) -> io::Result<Vec<Slot>> {
    let mut slots = Vec::new();
    // With port 0, every listener after the first reuses the port the first one got.
    let mut port = config.port;
    for entry in &config.bind {
        let (optional, addr) = match entry.strip_prefix('-') {
            Some(a) => (true, a),
            None => (false, entry.as_str()),
        };
        let ip: std::net::IpAddr = if addr == "*" {
            "0.0.0.0".parse().unwrap()
        } else {
            addr.parse().map_err(|_| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("invalid bind address '{addr}'"),
                )
            })?
        };
        let wanted = SocketAddr::new(ip, port);
        if port != 0 && listening.contains(&wanted) {
            slots.push(Slot::Kept(wanted));
            continue;
        }
        match crate::sys::bind_listener(wanted, config.tcp_backlog) {
            Ok(l) => {
                if port == 0 {
                    port = l.local_addr()?.port();
                }
                slots.push(Slot::Bound(l));
            }
            Err(e) if optional => crate::verbose!("Skipping optional bind address {addr}: {e}"),
            Err(e) => {
                return Err(io::Error::new(
                    e.kind(),
                    format!("Could not create server TCP listening socket {addr}:{port}: {e}"),
                ))
            }
        }
    }
    if slots.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::AddrNotAvailable,
            "Failed listening on any of the configured addresses",
        ));
    }
    Ok(slots)
}

/// Makes room for `maxclients` clients in the open files limit, or lowers `maxclients` to what
/// fits, and returns the `maxclients` to use. Redis's `adjustOpenFilesLimit`, with respd's
/// own cost per client ([`FDS_PER_CLIENT`]).
///
/// If the soft limit is too low, it tries to set the soft and hard limits to what is needed,
/// and failing that to values 16 lower each time, down to the current limit (an unprivileged
/// process can raise its soft limit up to the hard one). Lowering `maxclients` is logged as
/// three warnings, raising the limit as a notice, with Redis's wording. Without this, clients
/// past the limit would be accepted by the kernel and then left without any reply while the
/// accept loop failed with "Too many open files".
///
/// `Err` (with the message to log) when not even [`MIN_RESERVED_FDS`] fit: the server cannot
/// start.
pub fn adjust_open_files_limit(maxclients: usize) -> Result<usize, String> {
    let maxfiles = (maxclients as u64)
        .saturating_mul(FDS_PER_CLIENT)
        .saturating_add(MIN_RESERVED_FDS);
    let (oldlimit, _) = crate::sys::open_files_limit();
    if oldlimit >= maxfiles {
        return Ok(maxclients);
    }
    let mut bestlimit = maxfiles;
    let mut setrlimit_error = None;
    const DECREMENT: u64 = 16;
    while bestlimit > oldlimit {
        match crate::sys::set_open_files_limit(bestlimit) {
            Ok(()) => break,
            Err(e) => setrlimit_error = Some(e),
        }
        if bestlimit < DECREMENT {
            bestlimit = oldlimit;
            break;
        }
        bestlimit -= DECREMENT;
    }
    // Every try failed: the limit we started with still holds.
    let bestlimit = bestlimit.max(oldlimit);
    if bestlimit >= maxfiles {
        crate::notice!(
            "Increased maximum number of open files to {maxfiles} (it was originally set to {oldlimit})."
        );
        return Ok(maxclients);
    }
    if bestlimit <= MIN_RESERVED_FDS {
        return Err(format!(
            "Your current 'ulimit -n' of {oldlimit} is not enough for the server to start. Please increase your open file limit to at least {maxfiles}. Exiting."
        ));
    }
    let reduced = ((bestlimit - MIN_RESERVED_FDS) / FDS_PER_CLIENT).max(1) as usize;
    let reason = setrlimit_error
        .map(|e| crate::sys::strerror(&e))
        .unwrap_or_default();
    crate::warning!(
        "You requested maxclients of {maxclients} requiring at least {maxfiles} max file descriptors."
    );
    crate::warning!(
        "Server can't set maximum open files to {maxfiles} because of OS error: {reason}."
    );
    crate::warning!(
        "Current maximum open files is {bestlimit}. maxclients has been reduced to {reduced} to compensate for low ulimit. If you need higher maxclients increase 'ulimit -n'."
    );
    Ok(reduced)
}

/// Starts serving on already bound listeners (tests pass `127.0.0.1:0` listeners; `main` passes
/// [`bind_all`]'s). Returns at once; the server runs on its own threads.
pub fn start(listeners: Vec<TcpListener>, config: Config) -> io::Result<ServerHandle> {
    let keyspace = crate::store::Keyspace::new(config.databases);
    start_with(listeners, config, keyspace)
}

/// [`start`] with a keyspace already filled, e.g. by loading the dump file (`main` does that
/// before calling this, so no client is served before the data is there).
pub fn start_with(
    listeners: Vec<TcpListener>,
    config: Config,
    keyspace: crate::store::Keyspace,
) -> io::Result<ServerHandle> {
    let first_port = listeners
        .first()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no listening socket"))?
        .local_addr()?
        .port();
    for listener in &listeners {
        // Tests bind with std (backlog 128); raise it to tcp-backlog.
        let _ = crate::sys::set_backlog(listener, config.tcp_backlog);
    }
    let (request_tx, request_rx) = crossbeam_channel::unbounded();
    let shared = Shared::new(config, keyspace, first_port, request_tx, Clock::system());
    crate::cmd::acl::load_at_startup(&shared)?;

    // Before the first client: replay the AOF, or write the first one (appendonly yes).
    crate::persistence::aof::start(&shared)?;
    shared.listeners.active.lock().extend(
        listeners
            .into_iter()
            .map(|l| Listening::serve(l, &shared))
            .collect::<io::Result<Vec<_>>>()?,
    );
    // `replicaof <host> <port>` in the configuration: follow that master from the start.
    let replicaof = shared.config.read().kept.get("replicaof").cloned();
    if let Some((host, port)) = replicaof.as_deref().and_then(|v| v.rsplit_once(' ')) {
        if let Ok(port) = port.parse() {
            let mut keyspace = shared.store.write();
            crate::replication::replica::set_master(&shared, &mut keyspace, host, port);
        }
    }
    let (cron_stop, cron_rx) = bounded(1);
    let cron_shared = shared.clone();
    let cron_thread = thread::Builder::new()
        .name("respd-cron".into())
        .spawn(move || cron(&cron_shared, &cron_rx))?;
    Ok(ServerHandle {
        shared,
        cron_stop,
        cron_thread: Some(cron_thread),
        requests: request_rx,
    })
}

/// Accepts connections until shutdown or until the socket is `retired` (CONFIG SET `port`),
/// enforcing `maxclients`.
fn accept_loop(listener: &TcpListener, retired: &AtomicBool, shared: &Arc<Shared>) {
    // Failures since the last logged one, and when that was: an accept that fails for lack
    // of file descriptors fails again at once, and one line per try would flood the log.
    let mut unlogged_failures = 0u64;
    let mut last_logged: Option<Instant> = None;
    loop {
        let stream = match listener.accept() {
            Ok((stream, _)) => stream,
            Err(_) if shared.is_stopping() || retired.load(Ordering::Acquire) => return,
            Err(e) => {
                if last_logged.map_or(true, |t| t.elapsed() >= ACCEPT_ERROR_LOG_INTERVAL) {
                    if unlogged_failures > 0 {
                        crate::warning!(
                            "Accepting client connection: {e} ({unlogged_failures} more failures not logged)"
                        );
                    } else {
                        crate::warning!("Accepting client connection: {e}");
                    }
                    unlogged_failures = 0;
                    last_logged = Some(Instant::now());
                } else {
                    unlogged_failures += 1;
                }
                // Out of file descriptors: nothing can be accepted until a client leaves.
                // Other errors (a connection reset before it was accepted) are one-offs.
                if crate::sys::is_resource_exhaustion(&e) {
                    thread::sleep(ACCEPT_BACKOFF);
                }
                continue;
            }
        };
        if shared.is_stopping() {
            return;
        }
        shared
            .stats
            .total_connections_received
            .fetch_add(1, Ordering::Relaxed);
        let maxclients = shared.config.read().maxclients;
        if shared.connected.load(Ordering::Acquire) >= maxclients {
            reject(stream, shared);
            continue;
        }
        if protected_mode_refuses(&stream, shared) {
            continue;
        }
        shared.connected.fetch_add(1, Ordering::AcqRel);
        shared.pool.hand_off(stream, shared);
    }
}

/// Redis's answer to a client from another host while `protected-mode` is on and the default
/// user has no password (`clientAcceptHandler`).
const PROTECTED_MODE_DENIED: &[u8] = b"-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Setup a an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.\r\n";

/// With `protected-mode yes` and a default user without password, only 127.0.0.1 and ::1
/// may connect (Redis `islocalClient` compares those two strings, so an IPv4-mapped
/// `::ffff:127.0.0.1` is not local either). Others get the DENIED text and are closed.
fn protected_mode_refuses(stream: &TcpStream, shared: &Shared) -> bool {
    if !shared.config.read().protected_mode() {
        return false;
    }
    let local = stream.peer_addr().is_ok_and(|a| {
        let ip = a.ip().to_string();
        ip == "127.0.0.1" || ip == "::1"
    });
    if local || !shared.acl.default_user().nopass {
        return false;
    }
    shared
        .stats
        .rejected_connections
        .fetch_add(1, Ordering::Relaxed);
    let _ = crate::sys::send_nonblocking(stream, PROTECTED_MODE_DENIED);
    true
}

/// Tells a client over `maxclients` why it is turned away, as Redis does, and closes it.
fn reject(stream: TcpStream, shared: &Shared) {
    shared
        .stats
        .rejected_connections
        .fetch_add(1, Ordering::Relaxed);
    // Best effort and never blocking: a fresh socket's send buffer always has room for this.
    let _ = crate::sys::send_nonblocking(&stream, b"-ERR max number of clients reached\r\n");
    crate::verbose!("Error registering fd event for the new client: max number of clients reached");
}

/// The pool of connection threads. See the module docs for how it grows.
#[derive(Debug)]
pub(crate) struct WorkerPool {
    /// Taken at shutdown: dropping the only sender ends every idle worker's wait at once.
    sender: Mutex<Option<Sender<TcpStream>>>,
    receiver: Receiver<TcpStream>,
}

impl WorkerPool {
    pub(crate) fn new() -> WorkerPool {
        // Zero capacity: a send succeeds only when an idle worker is waiting in recv.
        let (sender, receiver) = bounded(0);
        WorkerPool {
            sender: Mutex::new(Some(sender)),
            receiver,
        }
    }

    fn hand_off(&self, stream: TcpStream, shared: &Arc<Shared>) {
        let sent = match &*self.sender.lock() {
            Some(sender) => sender.try_send(stream),
            None => Err(TrySendError::Disconnected(stream)),
        };
        match sent {
            Ok(()) => {}
            Err(TrySendError::Full(stream)) | Err(TrySendError::Disconnected(stream)) => {
                self.spawn_worker(stream, shared)
            }
        }
    }

    /// Ends the wait of every idle worker (shutdown).
    fn close(&self) {
        self.sender.lock().take();
    }

    fn spawn_worker(&self, first: TcpStream, shared: &Arc<Shared>) {
        let receiver = self.receiver.clone();
        let stack = shared.config.read().thread_stack_size as usize;
        let worker_shared = shared.clone();
        let spawned = thread::Builder::new()
            .name("respd-conn".into())
            .stack_size(stack)
            .spawn(move || worker(first, &receiver, &worker_shared));
        if let Err(e) = spawned {
            crate::warning!("Cannot start a connection thread: {e}");
            shared.connected.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// A worker: serve a connection, then wait for the next one, then exit when idle too long.
fn worker(first: TcpStream, receiver: &Receiver<TcpStream>, shared: &Arc<Shared>) {
    let mut next = Some(first);
    while let Some(stream) = next.take() {
        // A panic in the connection's own code (parsing, replies, socket I/O: no store lock
        // held, nothing applied) must not take the worker (and its slot in `connected`)
        // with it: log it, drop that client, carry on. A panic inside a command never gets
        // here: it exits the process with a bug report before unwinding (see "When a
        // command panics" in crate::cmd).
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            crate::connection::serve(stream, shared)
        }))
        .is_err()
        {
            crate::warning!("A connection thread panicked; the client was disconnected");
        }
        shared.connected.fetch_sub(1, Ordering::AcqRel);
        if shared.is_stopping() {
            return;
        }
        match receiver.recv_timeout(IDLE_WORKER_TIMEOUT) {
            Ok(stream) => next = Some(stream),
            Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

/// Background tasks, `hz` times a second (Redis `serverCron`).
fn cron(shared: &Arc<Shared>, stop: &Receiver<()>) {
    let mut last_ops_sample = Instant::now();
    let mut idle = IdleClients::default();
    loop {
        let hz = shared.config.read().hz.max(1);
        match stop.recv_timeout(Duration::from_millis(1000 / u64::from(hz))) {
            Err(RecvTimeoutError::Timeout) => {}
            _ => return,
        }
        shared.active_expire_cycle();
        if last_ops_sample.elapsed() >= Duration::from_millis(100) {
            shared.stats.sample_ops(shared.totals().commands);
            last_ops_sample = Instant::now();
        }
        idle.close_idle_clients(shared);
        crate::persistence::cron(shared);
        crate::replication::cron(shared);
        shared.migrate_sockets.close_idle();
        // Last, so a ping also proves the tasks above got through (see crate::systemd).
        crate::systemd::watchdog_tick(shared);
    }
}

/// The cron's memory for idle timeouts: when each client was last seen exempt.
///
/// Redis exempts subscribers and blocked clients from `timeout`, and a blocked client's
/// reply, sent when its wait ends, counts as an interaction (Redis updates `lastinteraction`
/// on writes too). respd's workers record only the time of the last command, so without this
/// memory a client blocked for longer than `timeout` would look idle the moment its wait
/// ended, and be closed before its reply went out.
#[derive(Debug, Default)]
struct IdleClients {
    /// Client id → Unix ms when the cron last saw it subscribed or blocked.
    last_exempt_ms: std::collections::HashMap<u64, u64>,
}

impl IdleClients {
    /// Closes clients idle longer than `timeout` seconds (0 = never), as Redis's
    /// `clientsCronHandleTimeout` does. Exempt, as there: clients subscribed to a channel or
    /// pattern (Redis's `CLIENT_PUBSUB`, which RESP3 subscribers have too) and clients blocked
    /// in BLPOP and friends (their own timeout, if any, ends the wait). respd has no replicas
    /// or masters, Redis's other exemptions.
    fn close_idle_clients(&mut self, shared: &Shared) {
        let timeout = shared.config.read().timeout;
        if timeout == 0 {
            self.last_exempt_ms.clear();
            return;
        }
        let now = now_ms();
        // Rebuilt every round, so clients that left are forgotten.
        let previous = std::mem::take(&mut self.last_exempt_ms);
        for client in shared.clients.all() {
            let (last_command, subscribed) = {
                let snapshot = client.snapshot.lock();
                (
                    snapshot.last_interaction_ms,
                    snapshot.sub + snapshot.psub > 0,
                )
            };
            if subscribed || client.blocked_on.lock().is_some() {
                self.last_exempt_ms.insert(client.id, now);
                continue;
            }
            let last = match previous.get(&client.id) {
                Some(&exempt_until) => {
                    self.last_exempt_ms.insert(client.id, exempt_until);
                    exempt_until.max(last_command)
                }
                None => last_command,
            };
            if now.saturating_sub(last) / 1000 > timeout {
                crate::verbose!("Closing idle client id={}", client.id);
                client.kill();
            }
        }
    }
}
