//! The state every thread of the server shares: the keyspace, the configuration, the
//! counters, the clients, subscriptions, users, and the state of persistence and replication.
//!
//! Counterpart of Redis's `struct redisServer` (the `server` global of `server.h`). Redis
//! reaches it as a global; respd hands an `Arc<Shared>` to every thread it starts (accept
//! threads, workers, cron, background saves), and commands get it through their context.
//! Each part guards itself: the keyspace behind its `RwLock`, the configuration behind
//! another, counters as atomics, so no thread ever holds "the server" as a whole.
//!
//! This module only holds the state and the small operations on it (replacing the
//! configuration, summing the counters). The threads that use it are in [`crate::server`];
//! moving the listening sockets (CONFIG SET `port`) is there too, beside the accept loop.

use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::Instant;

use crossbeam_channel::Sender;
use parking_lot::{Mutex, RwLock};

use crate::client::ClientRegistry;
use crate::config::Config;
use crate::store::{Keyspace, Store};
use crate::util::Clock;

/// Samples kept for `instantaneous_ops_per_sec` (Redis `STATS_METRIC_SAMPLES`).
const OPS_SAMPLES: usize = 16;

/// Server-wide counters (INFO stats).
#[derive(Debug, Default)]
pub struct Stats {
    /// Commands executed.
    pub total_commands_processed: AtomicU64,
    /// Connections accepted.
    pub total_connections_received: AtomicU64,
    /// Connections refused at `maxclients`.
    pub rejected_connections: AtomicU64,
    /// Lookups that found a key.
    pub keyspace_hits: AtomicU64,
    /// Lookups that did not.
    pub keyspace_misses: AtomicU64,
    /// Bytes read from clients.
    pub total_net_input_bytes: AtomicU64,
    /// Bytes sent to clients.
    pub total_net_output_bytes: AtomicU64,
    /// Keys removed by the active expiry cycle.
    pub expired_keys_active: AtomicU64,
    /// Keys evicted to stay under `maxmemory` (INFO `evicted_keys`).
    pub evicted_keys: AtomicU64,
    /// Reads of departed clients (INFO total_reads_processed).
    pub total_reads: AtomicU64,
    /// Reply sends of departed clients (INFO total_writes_processed).
    pub total_writes: AtomicU64,
    /// Clients closed for going over an output buffer limit.
    pub client_output_limit_disconnects: AtomicU64,
    /// Highest `used_memory` INFO has computed (INFO `used_memory_peak`). respd estimates
    /// memory only when asked, so the peak is the highest value seen by INFO.
    pub used_memory_peak: AtomicU64,
    /// Recent ops/sec samples.
    ops_samples: Mutex<OpsSampler>,
    /// Per-command and per-error counters (INFO commandstats, errorstats, latencystats).
    pub commands: crate::cmd::stats::CommandStats,
}

#[derive(Debug, Default)]
struct OpsSampler {
    last_time: Option<Instant>,
    last_count: u64,
    samples: [u64; OPS_SAMPLES],
    next: usize,
}

impl Stats {
    /// Takes one ops/sec sample (Redis `trackInstantaneousMetric`).
    pub(crate) fn sample_ops(&self, count: u64) {
        let now = Instant::now();
        let mut s = self.ops_samples.lock();
        if let Some(last) = s.last_time {
            let ms = now.duration_since(last).as_millis().max(1) as u64;
            let rate = count.saturating_sub(s.last_count) * 1000 / ms;
            let i = s.next;
            s.samples[i] = rate;
            s.next = (i + 1) % OPS_SAMPLES;
        }
        s.last_time = Some(now);
        s.last_count = count;
    }

    /// Mean of the recent samples: INFO `instantaneous_ops_per_sec`.
    pub(crate) fn instantaneous_ops_per_sec(&self) -> u64 {
        let s = self.ops_samples.lock();
        s.samples.iter().sum::<u64>() / OPS_SAMPLES as u64
    }

    /// Records a `used_memory` estimate and returns the peak so far, this one included.
    pub(crate) fn note_memory_use(&self, bytes: u64) -> u64 {
        self.used_memory_peak
            .fetch_max(bytes, Ordering::Relaxed)
            .max(bytes)
    }

    /// Clears the counters (CONFIG RESETSTAT).
    pub fn reset(&self) {
        for counter in [
            &self.total_commands_processed,
            &self.total_connections_received,
            &self.rejected_connections,
            &self.keyspace_hits,
            &self.keyspace_misses,
            &self.total_net_input_bytes,
            &self.total_net_output_bytes,
            &self.expired_keys_active,
            &self.evicted_keys,
            &self.client_output_limit_disconnects,
            &self.total_reads,
            &self.total_writes,
        ] {
            counter.store(0, Ordering::Relaxed);
        }
        *self.ops_samples.lock() = OpsSampler::default();
        self.commands.reset();
    }
}

/// Why the server is asked to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShutdownRequest {
    /// SIGINT or SIGTERM.
    Signal,
    /// The SHUTDOWN command; `saved` when it already wrote the final snapshot.
    Command {
        /// The handler saved the dataset before asking to stop.
        saved: bool,
    },
}

/// What the dispatcher and the background tasks must know of this server's role as a
/// replica, as two flags: the link thread ([`crate::replication::replica`]) sets them, and
/// the layers below it read them without reaching up to it (the READONLY and MASTERDOWN
/// refusals, no active expiry and no eviction on a replica).
#[derive(Debug, Default)]
pub struct ReplicaRole {
    /// A master is set (REPLICAOF host port; Redis `server.masterhost != NULL`).
    following: AtomicBool,
    /// The link to it is up (`master_link_status:up`).
    link_up: AtomicBool,
    /// CLIENT KILL TYPE master asked the link thread to drop the connection.
    drop_requested: AtomicBool,
    /// The master's address as CLIENT KILL ADDR names it (`ip:port`), while linked.
    master_addr: Mutex<Option<String>>,
}

impl ReplicaRole {
    /// True while this server follows a master: one atomic load.
    #[inline]
    pub fn following(&self) -> bool {
        self.following.load(Ordering::Relaxed)
    }

    /// True while the link to the master is up.
    pub fn link_up(&self) -> bool {
        self.link_up.load(Ordering::Relaxed)
    }

    /// Set by REPLICAOF.
    pub fn set_following(&self, on: bool) {
        self.following.store(on, Ordering::Relaxed);
    }

    /// Set by the link thread.
    pub fn set_link_up(&self, up: bool) {
        self.link_up.store(up, Ordering::Relaxed);
    }

    /// Records the address of the master the link is connected to (None: none).
    pub fn set_master_addr(&self, addr: Option<String>) {
        *self.master_addr.lock() = addr;
    }

    /// True when `addr` (`ip:port`) is the master's connection (CLIENT KILL ADDR).
    pub fn is_master_addr(&self, addr: &[u8]) -> bool {
        self.master_addr.lock().as_deref().map(str::as_bytes) == Some(addr)
    }

    /// Asks the link thread to drop its connection to the master (CLIENT KILL TYPE
    /// master, or its address); false when there is no link up to drop.
    pub fn drop_link(&self) -> bool {
        let up = self.following() && self.link_up();
        if up {
            self.drop_requested.store(true, Ordering::Relaxed);
        }
        up
    }

    /// True once after [`ReplicaRole::drop_link`]: the link thread's check.
    pub fn take_drop_request(&self) -> bool {
        self.drop_requested.swap(false, Ordering::Relaxed)
    }
}

/// State shared by every thread of the server.
#[derive(Debug)]
pub struct Shared {
    /// The keyspace.
    pub store: Store,
    /// The clock keys expire by: the wall clock, or a manual one in tests (see
    /// [`crate::util::Clock`]).
    pub clock: Clock,
    /// The running configuration (CONFIG SET changes it).
    pub config: RwLock<Config>,
    /// Counters.
    pub stats: Stats,
    /// Connected clients.
    pub clients: ClientRegistry,
    /// Channel and pattern subscriptions.
    pub pubsub: crate::pubsub::PubSub,
    /// The clients in MONITOR mode.
    pub monitors: crate::monitor::Monitors,
    /// SLOWLOG's entries.
    pub slowlog: crate::slowlog::SlowLog,
    /// CLIENT PAUSE, and the clients whose commands wait for it to end.
    pub pause: crate::pause::ClientPause,
    /// CLIENT TRACKING: who may cache which key.
    pub tracking: crate::tracking::Tracking,
    /// The latency monitor's events (LATENCY).
    pub latency: Arc<crate::latency::LatencyMonitor>,
    /// When the server started (uptime).
    pub started: Instant,
    /// Unix ms when the server started.
    pub started_ms: u64,
    /// A random 40-hex-digit id of this run (INFO run_id).
    pub run_id: String,
    /// The TCP port actually listened on (INFO `tcp_port`); see [`Shared::port`].
    pub(crate) port: AtomicU16,
    /// The listening sockets and their accept threads.
    pub listeners: crate::server::Listeners,
    /// The idle workers waiting for a connection (see the module docs).
    pub(crate) pool: crate::server::WorkerPool,
    /// This very `Shared`, for the threads a command starts (accept threads, after CONFIG SET
    /// `port`): they need an `Arc` of their own, and commands only get a reference.
    pub(crate) me: Weak<Shared>,
    /// Sockets accepted and not yet closed (checked against `maxclients`).
    pub connected: AtomicUsize,
    /// Where SHUTDOWN and signals ask the main thread to stop.
    pub shutdown_requests: Sender<ShutdownRequest>,
    /// Snapshot state: dirty counter, background save, INFO persistence.
    pub persistence: Arc<crate::persistence::Persistence>,
    /// Attached replicas, the stream offset and backlog (see [`crate::replication`]).
    pub replication: crate::replication::Replication,
    /// Whether this server follows a master, read on every command.
    pub replica_role: ReplicaRole,
    /// MIGRATE's cached connections to its targets.
    pub migrate_sockets: crate::cmd::migrate::SocketCache,
    /// The Lua interpreter and the script running now (EVAL, FCALL; see
    /// [`crate::cmd::scripting`]).
    pub scripting: crate::cmd::scripting::Scripting,
    /// Users and the ACL log.
    pub acl: crate::acl::Acl,
    pub(crate) stopping: AtomicBool,
    /// Bumped by every CONFIG SET, so connections know when to re-read the limits they cache.
    pub(crate) config_generation: AtomicU64,
    /// Set when the configuration changes with a `maxmemory` in force: evict after the
    /// running command (see [`crate::evict::after_config_change`]).
    pub eviction_pending: AtomicBool,
    /// The cron's active expiry runs (DEBUG SET-ACTIVE-EXPIRE 0 stops it, for tests; Redis
    /// `server.active_expire_enabled`).
    pub active_expire_enabled: AtomicBool,
    /// What `maxmemory` compares against between full measurements of the dataset (see
    /// [`crate::evict`]).
    pub dataset_gauge: Mutex<DatasetGauge>,
}

/// The dataset's size as `maxmemory` sees it: the last full measurement (an O(keys) walk),
/// plus what writes since then may have added. Measuring on every write would make each
/// write O(keys); this keeps it O(1) until the estimate says the limit may be crossed.
#[derive(Debug, Default)]
pub struct DatasetGauge {
    /// Bytes the last measurement found (less what eviction freed since).
    pub measured: u64,
    /// Bytes of the writes since the last measurement (their arguments): an estimate of
    /// the growth, never decreased by deletions until the next measurement.
    pub pending: u64,
    /// When the last measurement was taken; None before the first.
    pub measured_at: Option<std::time::Instant>,
    /// How long the last measurement took, in microseconds: when it took a millisecond or
    /// more, the next one waits ten times that, so measuring a large dataset never takes
    /// more than about a tenth of the time. Smaller datasets are measured at every check.
    pub cost_us: u64,
    /// The last check could not bring memory under the limit (nothing left to evict):
    /// until the next measurement, writes are refused.
    pub over_limit: bool,
    /// Set when the configuration changed: measure at the next check whatever the estimate.
    pub stale: bool,
}

/// INFO's counters summed over live and departed clients.
#[derive(Debug, Default, Clone, Copy)]
pub struct Totals {
    /// total_commands_processed
    pub commands: u64,
    /// keyspace_hits
    pub hits: u64,
    /// keyspace_misses
    pub misses: u64,
    /// total_net_input_bytes
    pub net_in: u64,
    /// total_net_output_bytes
    pub net_out: u64,
    /// total_reads_processed
    pub reads: u64,
    /// total_writes_processed
    pub writes: u64,
}

impl Shared {
    /// The state of a server that has not started anything yet: no listening socket, no
    /// thread, no client. `port` is what INFO reports until sockets are opened; `SHUTDOWN` and
    /// signals are sent to `shutdown_requests`. [`crate::server::start_with`] builds the
    /// server's this way, and [`crate::harness`] a bare one for tests.
    pub fn new(
        config: Config,
        keyspace: Keyspace,
        port: u16,
        shutdown_requests: Sender<ShutdownRequest>,
        clock: Clock,
    ) -> Arc<Shared> {
        let started_ms = crate::util::now_ms();
        // One latency monitor, shared with the AOF, whose slow steps are events too.
        let latency = Arc::new(crate::latency::LatencyMonitor::default());
        let shared = Arc::new_cyclic(|me| Shared {
            store: Store::from_keyspace(keyspace),
            clock,
            stats: Stats::default(),
            clients: ClientRegistry::new(),
            pubsub: crate::pubsub::PubSub::default(),
            monitors: Default::default(),
            slowlog: Default::default(),
            pause: Default::default(),
            tracking: Default::default(),
            latency: latency.clone(),
            started: Instant::now(),
            started_ms,
            persistence: crate::persistence::Persistence::new(started_ms, latency.clone()),
            replication: Default::default(),
            replica_role: ReplicaRole::default(),
            migrate_sockets: Default::default(),
            scripting: Default::default(),
            run_id: random_run_id(),
            port: AtomicU16::new(port),
            listeners: Default::default(),
            pool: crate::server::WorkerPool::new(),
            me: me.clone(),
            connected: AtomicUsize::new(0),
            shutdown_requests,
            stopping: AtomicBool::new(false),
            config_generation: AtomicU64::new(0),
            eviction_pending: AtomicBool::new(false),
            active_expire_enabled: AtomicBool::new(true),
            dataset_gauge: Default::default(),
            acl: crate::acl::Acl::new(),
            config: RwLock::new(config),
        });
        shared.configure_parts(&shared.config.read());
        shared
    }

    /// Hands `config`'s settings to the parts that keep their own copy (the encoding limits
    /// and access tracking are process-wide), at start and at every CONFIG SET.
    fn configure_parts(&self, config: &Config) {
        crate::store::encoding_limits::publish(&config.encoding_limits());
        config.publish_access_tracking();
        self.stats.commands.configure(config);
        self.slowlog.configure(config);
        self.latency.configure(config);
        self.store
            .notifier()
            .configure(config.notify_keyspace_events);
    }

    /// Replaces the running configuration (CONFIG SET) and tells connections to re-read it.
    pub fn replace_config(&self, config: Config) {
        self.configure_parts(&config);
        let limited = config.kept_u64("maxmemory") > 0;
        *self.config.write() = config;
        self.config_generation.fetch_add(1, Ordering::Release);
        if limited {
            self.dataset_gauge.lock().stale = true;
            self.eviction_pending.store(true, Ordering::Release);
        }
    }

    /// How many times the configuration was replaced.
    pub(crate) fn config_generation(&self) -> u64 {
        self.config_generation.load(Ordering::Acquire)
    }

    /// The INFO counters: those of clients already gone plus every connected client's.
    pub fn totals(&self) -> Totals {
        let s = &self.stats;
        let mut t = Totals {
            commands: s.total_commands_processed.load(Ordering::Relaxed),
            hits: s.keyspace_hits.load(Ordering::Relaxed),
            misses: s.keyspace_misses.load(Ordering::Relaxed),
            net_in: s.total_net_input_bytes.load(Ordering::Relaxed),
            net_out: s.total_net_output_bytes.load(Ordering::Relaxed),
            reads: s.total_reads.load(Ordering::Relaxed),
            writes: s.total_writes.load(Ordering::Relaxed),
        };
        for client in self.clients.all() {
            let c = &client.counters;
            t.commands += c.commands.load(Ordering::Relaxed);
            t.hits += c.hits.load(Ordering::Relaxed);
            t.misses += c.misses.load(Ordering::Relaxed);
            t.net_in += c.net_in.load(Ordering::Relaxed);
            t.net_out += c.net_out.load(Ordering::Relaxed);
            t.reads += c.reads.load(Ordering::Relaxed);
            t.writes += c.writes.load(Ordering::Relaxed);
        }
        t
    }

    /// Moves a departing client's counters into the server-wide totals.
    pub(crate) fn retire_counters(&self, counters: &crate::client::ClientCounters) {
        let s = &self.stats;
        s.total_commands_processed
            .fetch_add(counters.commands.load(Ordering::Relaxed), Ordering::Relaxed);
        s.keyspace_hits
            .fetch_add(counters.hits.load(Ordering::Relaxed), Ordering::Relaxed);
        s.keyspace_misses
            .fetch_add(counters.misses.load(Ordering::Relaxed), Ordering::Relaxed);
        s.total_net_input_bytes
            .fetch_add(counters.net_in.load(Ordering::Relaxed), Ordering::Relaxed);
        s.total_net_output_bytes
            .fetch_add(counters.net_out.load(Ordering::Relaxed), Ordering::Relaxed);
        s.total_reads
            .fetch_add(counters.reads.load(Ordering::Relaxed), Ordering::Relaxed);
        s.total_writes
            .fetch_add(counters.writes.load(Ordering::Relaxed), Ordering::Relaxed);
    }

    /// Zeroes every counter, the connected clients' too (CONFIG RESETSTAT).
    pub(crate) fn reset_stats(&self) {
        self.stats.reset();
        for client in self.clients.all() {
            client.counters.reset();
        }
    }
    /// Runs the active expiry cycle once (see [`crate::store::expire`]): the cron's first
    /// task. Returns the keys deleted.
    pub(crate) fn active_expire_cycle(&self) -> usize {
        // mirrors activeExpireCycle(): nothing expires while clients are paused, so that
        // the dataset (and what a replica holds of it) stays as it was.
        if self.pause.is_paused(self.clock.now_ms()) {
            return 0;
        }
        // mirrors databasesCron(): a replica leaves expiry to its master, whose DELs arrive
        // in the stream; a read still sees an expired key as gone.
        if self.replica_role.following() || !self.active_expire_enabled.load(Ordering::Relaxed) {
            return 0;
        }
        let cycle = crate::store::expire::run_cycle(
            &self.store,
            &self.clock,
            crate::store::expire::CYCLE_BUDGET,
        );
        let latency = &self.latency;
        latency.record("expire-del", cycle.slowest_delete.as_millis() as u64);
        latency.record("expire-cycle", cycle.busy.as_millis() as u64);
        crate::cmd::publish_keyspace_events(self, self.clock.now_ms());
        // Expired keys are modified keys for client-side caching too.
        if self.store.notifier().tracks_modifications() {
            crate::tracking::invalidate_modified(self, None);
            crate::tracking::broadcast(self, None);
            crate::tracking::enforce_limit(self);
        }
        if cycle.expired > 0 {
            self.stats
                .expired_keys_active
                .fetch_add(cycle.expired as u64, Ordering::Relaxed);
        }
        cycle.expired
    }

    /// True once shutdown has begun.
    pub(crate) fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    /// The TCP port listened on: the first listening socket's (INFO `tcp_port`).
    pub fn port(&self) -> u16 {
        self.port.load(Ordering::Relaxed)
    }
}

/// A random 40-hex-digit run id (INFO `run_id`).
fn random_run_id() -> String {
    (0..40)
        .map(|_| char::from_digit((crate::util::random_u64() % 16) as u32, 16).unwrap())
        .collect()
}
