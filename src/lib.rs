//! respd: a Redis 7.0 compatible key-value server built from plain blocking threads.
//!
//! respd is meant to be read. It answers real Redis clients byte for byte, and it is
//! organised so that a newcomer can follow one request from the socket to the reply and back.
//!
//! # Layout
//!
//! Modules are layered: each uses only its own layer and those above it in this table, so the
//! code reads from the top down (`tests/source_rules.rs` checks it, and lists the few imports that
//! still go the other way).
//!
//! | layer | module | what lives there | Redis counterpart |
//! |---|---|---|---|
//! | foundations | [`util`] | number parsing and formatting, the 80-bit float of INCRBYFLOAT, clocks | `util.c` |
//! | | [`sys`] | the socket calls std lacks (non-blocking send, poll, listen backlog, adopting sockets passed by systemd) | `anet.c`, `ae.c` |
//! | | [`glob`] | glob patterns (KEYS, SCAN MATCH, PSUBSCRIBE) | `util.c` (`stringmatchlen`) |
//! | | [`sha256`] | the password digest ACLs store | `sha256.c` |
//! | | [`log`] | Redis-style log lines and levels | `server.c` (`serverLog`) |
//! | protocol | [`protocol`] | RESP: the request [`parse`](protocol::parse)r and the [`reply`](protocol::reply) writer | `networking.c` |
//! | keyspace | [`store`] | databases, values and their types, expiry, the hash table | `db.c`, `dict.c`, `expire.c`, `t_*.c` (types) |
//! | | [`notify`] | keyspace notifications: event classes and the queue of events to publish | `notify.c` |
//! | shared state | [`shared`] | [`Shared`](shared::Shared), what every thread of the server shares, and INFO's counters | `server.h` (`struct redisServer`) |
//! | | [`config`] | the table of directives, redis.conf syntax | `config.c` |
//! | | [`config_rewrite`] | CONFIG REWRITE: the running configuration written back into its file | `config.c` (`rewriteConfig`) |
//! | | [`client`] | per-connection state and the registry behind CLIENT LIST / KILL | `networking.c` |
//! | | [`acl`] | users, passwords, command/key/channel permissions, the ACL log | `acl.c` |
//! | | [`pubsub`] | channel and pattern subscriptions, delivery | `pubsub.c` |
//! | | [`blocking`] | clients blocked on keys (BLPOP, BZPOPMIN...) and serving them | `blocked.c` |
//! | | [`monitor`] | MONITOR clients and the lines they are shown | `replication.c` (`replicationFeedMonitors`) |
//! | | [`slowlog`] | the slow log | `slowlog.c` |
//! | | [`latency`] | the latency monitor: the worst latency of each event, second by second | `latency.c` |
//! | | [`pause`] | CLIENT PAUSE: holding commands back, waking them when it ends | `networking.c` (`pauseClients`) |
//! | | [`tracking`] | CLIENT TRACKING: who may cache which key, invalidation messages | `tracking.c` |
//! | commands | [`cmd`] | the command table, dispatch, and one file of handlers per command group | `server.c`, `t_*.c` |
//! | | [`evict`] | `maxmemory`: choosing keys to evict, refusing writes | `evict.c` |
//! | | [`harness`] | a server with no socket and a hand-moved clock, built for tests only: `run("SET k v")` returns the reply's bytes | — |
//! | on commands | [`persistence`] | RDB snapshots and the AOF: formats, SAVE/BGSAVE, load at start | `rdb.c`, `aof.c` |
//! | | [`replication`] | the master side: SYNC/PSYNC, the command stream to replicas, WAIT; the replica side (REPLICAOF, the link thread that follows a master) in `replication::replica` | `replication.c` |
//! | connection | [`connection`] | the per-connection loop: read, parse all, execute all, send once | `networking.c` |
//! | server | [`server`] | listeners, the worker pool, cron, shutdown | `server.c` |
//! | | [`systemd`] | supervision: sd_notify (READY, STATUS, STOPPING, WATCHDOG), socket activation | `server.c` (`redisCommunicateSystemd`) |
//!
//! # Life of a request
//!
//! A client sends `SET greeting hello` as `*3\r\n$3\r\nSET\r\n$8\r\ngreeting\r\n$5\r\nhello\r\n`.
//!
//! 1. The accept thread ([`server`]) accepted the socket earlier and handed it over a
//!    channel to a worker thread, which runs [`connection::serve`].
//! 2. The worker is blocked in `read`. The bytes arrive and are appended to the connection's
//!    query buffer.
//! 3. [`protocol::Parser::next_command`] finds the `*3` line with `memchr`, then three bulk
//!    strings, and fills an [`protocol::Argv`] with `SET`, `greeting`, `hello`. If more commands
//!    are in the buffer (a pipeline), they are parsed and executed one after another before
//!    anything is sent.
//! 4. [`cmd::dispatch`] looks `SET` up in the command table, checks its arity, checks that
//!    the connection has authenticated and that its user may run `SET` on `greeting`
//!    ([`acl`]; one atomic load and a flag test for the unrestricted default user), takes the
//!    keyspace's write lock (the table row says `Handler::Write`), and calls `cmd::string::set`
//!    with the selected [`store::Db`].
//! 5. The handler stores the value and appends `+OK\r\n` to the connection's [`protocol::Reply`]
//!    buffer. The lock is released when dispatch returns.
//! 6. With no complete command left in the buffer, the connection sends all the replies it
//!    collected in one `send` that never blocks; anything the kernel does not take is queued and
//!    sent as the socket drains, while the worker keeps reading new requests.
//! 7. The worker blocks in `read` again.
//!
//! Errors are values: a handler returns `Err(CmdError::WrongType)` and dispatch renders
//! Redis's exact error line. A malformed request is a [`protocol::ProtocolError`]: the client
//! gets Redis's error, then the connection is closed, since its framing is lost.

// `deny`, not `forbid`: exactly one function, `sys::take_inherited_fds` (systemd socket
// activation), needs `unsafe` to adopt file descriptors the service manager passed by number,
// and says why. Everything else stays safe; a new `unsafe` block anywhere else fails to build.
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod acl;
pub mod blocking;
pub mod client;
pub mod cmd;
pub mod config;
pub mod config_rewrite;
pub mod connection;
pub mod evict;
pub mod glob;
#[cfg(test)]
pub mod harness;
pub mod latency;
pub mod log;
pub mod monitor;
pub mod notify;
pub mod pause;
pub mod persistence;
pub mod protocol;
pub mod pubsub;
pub mod replication;
pub mod script;
pub mod server;
pub mod sha256;
pub mod shared;
pub mod slowlog;
pub mod store;
pub mod sys;
pub mod systemd;
pub mod tracking;
pub mod util;

pub use config::Config;
pub use server::{start, ServerHandle};
