//! The append-only file (AOF): every write command logged in RESP, replayed at start.
//!
//! Counterpart of Redis `aof.c` (`feedAppendOnlyFile`, `flushAppendOnlyFile`,
//! `loadSingleAppendOnlyFile`, `rewriteAppendOnlyFileBackground`, `startAppendOnly`,
//! `stopAppendOnly`).
//!
//! # One file
//! respd writes one file, `dir/appendfilename`, as Redis 6 did. Redis 7.0's `appenddirname`
//! directory (an RDB or AOF *base* file, incremental files and a manifest) is not implemented,
//! and a file starting with an RDB preamble (`aof-use-rdb-preamble`) is not read: a rewrite
//! writes plain commands.
//!
//! # What is logged, and when
//! [`feed`] runs for every successful command flagged `write`, *while the keyspace write lock
//! is still held* (from [`crate::cmd::call`], or from EXEC which holds the lock throughout).
//! That is what keeps the file in the order the commands were applied: two clients writing
//! the same key in parallel are serialised by the lock, and so are their log records. What
//! is logged is what the command says it did ([`crate::cmd::Effects`], Redis's
//! `alsoPropagate`): the argv as sent, unless the command replaced it with commands a replay
//! repeats exactly (a relative expiry as its deadline, `SET .. EX` → `SET .. PXAT`, `EXPIRE`
//! → `PEXPIREAT`; SPOP's random pick as the SREM of what it popped; a blocking pop served at
//! once as the plain pop) or logged nothing (a write that changed nothing). Besides:
//! - clients blocked in BLPOP, BLMOVE, BZPOPMIN... that a write serves change keys inside
//!   that write, out of reach of the argv: each service is logged right after as the
//!   command Redis propagates for it (`LPOP key`, `LMOVE ...`, `ZPOPMIN key n`), see
//!   [`feed_served`];
//! - a `SELECT` is written whenever the database differs from the file's current one;
//! - the commands of one EXEC are kept aside while it runs and written, once EXEC has run
//!   them all, as one `MULTI` ... `EXEC` record with one `write(2)` ([`exec_done`], still
//!   under the lock). So the file never holds a MULTI without its EXEC except when that last
//!   write was torn, and a replay applies all of a transaction or none of it. The loader
//!   drops a MULTI only when the file *ends* inside it (Redis `loadSingleAppendOnlyFile`),
//!   which can then only be that torn tail.
//!
//! Keys removed by expiry are *not* logged as DEL (Redis does log them): the replay runs
//! with its clock stopped at 0 (Redis does not expire keys while loading either), so every
//! key comes back with its absolute deadline and expires afterwards as it would have. The
//! file only grows a little larger than Redis's until the next rewrite.
//!
//! # Durability
//! Each record is written with one `write(2)` under the AOF mutex, before the reply is
//! built, so a killed *process* never loses an acknowledged write with any `appendfsync`
//! (unless that write failed and is still waiting for the disk: see the next section).
//! Against a power cut: `always` makes the writer wait, after the keyspace lock is released
//! and before its reply is sent, until an `fdatasync` covering its record has completed
//! ([`wait_durable`]). Writers that arrive while one fsync runs are covered by the next one,
//! so concurrent clients share fsyncs (a simple group commit). The wait comes once per batch of
//! pipelined commands, just before the batch's replies are sent (Redis likewise fsyncs once per
//! event-loop turn): a client pays one fsync per round trip, however many writes it pipelined.
//! `everysec` fsyncs from the cron thread once a second; `no` never fsyncs.
//!
//! # When the disk says no
//! Mirrors Redis 7.0.15's `flushAppendOnlyFile`. A torn write is cut back out of the file
//! (`set_len`, Redis's `ftruncate`), so no partial record is ever followed by whole ones.
//! With `always` a failed write or fsync stops the server (exit 1): the command has changed
//! the dataset and its reply would claim a durability that is not there. With `everysec` and
//! `no` the bytes that did not go in are kept, in order, in `State::pending` (Redis's
//! `aof_buf`), records arriving meanwhile queue behind them, and the cron retries once a
//! second. While they wait, [`write_error`] makes the dispatcher refuse write commands, PING
//! and an EXEC with writes queued with `MISCONF Errors writing to the AOF file: <strerror>`
//! (Redis `writeCommandsDeniedByDiskError`), so only the few commands already past that
//! check when the write failed are acknowledged with records in memory (a kill before the
//! retry succeeds loses those, as it does in Redis); INFO shows
//! `aof_last_write_status:err`. The first retry that succeeds logs "AOF write error looks
//! solved" and writes are accepted again. A failed everysec fsync refuses writes the same
//! way until an fsync succeeds (Redis `aof_bio_fsync_status`). Error lines are logged at
//! most once per 30 seconds, as Redis does: a full disk fails every write.
//!
//! Measured once on a release build, 2 shared cores, `redis-benchmark -t set -n 20000`
//! (50 clients) against redis-server 7.0.15 with the same settings (noisy, single runs):
//! `always` 7,100-10,500 SET/s vs Redis's 12,700-19,100 (about 0.55x); `everysec` 42,000 vs
//! 37,100 (1.1x); `no` 21,400 vs 26,900 (0.8x). With one client `always` costs one fsync per
//! write: 1,700 vs 2,500 SET/s. Replaying 300,000 SETs (13 MB) took 0.70 s vs Redis's 0.85 s.
//!
//! # Rewriting (BGREWRITEAOF)
//! Under the read lock the dataset is copied (as BGSAVE does, see [`super`]) and a rewrite
//! buffer is opened; a thread writes commands that rebuild the copy (SET, RPUSH, SADD, HSET,
//! ZADD in batches of 64 items, PEXPIREAT for TTLs) to `temp-rewriteaof-bg-<pid>.aof` and
//! fsyncs it. Writes made meanwhile go to the old file *and* to the rewrite buffer. At the end,
//! under the AOF mutex (writers wait for this step only), the buffer is appended, the temp
//! file fsynced and renamed over the AOF, and becomes the file appended to. A crash at any
//! point leaves the old file or the new one.
//!
//! # Loading
//! [`start`] runs before the first client is accepted. With `appendonly yes` and an existing
//! file, the file is replayed through the normal command table on a private client, and it
//! wins over the RDB dump, as in Redis. With `appendonly yes` and no file, the first file is
//! written from the dataset in memory (the dump `main` loaded): switching AOF on never starts
//! empty. A file cut in the middle of a command is loaded up to its last whole command, the
//! tail is cut off, and a warning says so (`aof-load-truncated yes`); anything else that is
//! not a RESP array of bulk strings stops the start with the file name and byte offset.
//!
//! # Files
//! This file holds the AOF's state and turning it on and off; `record.rs` encodes what a
//! command logs, `append.rs` feeds and writes records, `rewrite.rs` is BGREWRITEAOF and
//! `load.rs` the replay at start.

use std::borrow::Cow;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicI64, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::thread;

use parking_lot::Mutex;

use crate::config::{AppendFsync, Config};
use crate::latency::LatencyMonitor;
use crate::protocol::{Argv, Reply};
use crate::shared::Shared;
use crate::store::{Entry, Keyspace, Value};
use crate::util::{eq_ci, now_ms, push_i64};

mod append;
mod load;
mod record;
mod rewrite;

pub(crate) use append::*;
pub(crate) use load::*;
use record::*;
pub(crate) use rewrite::*;

/// Items per command when a rewrite rebuilds a collection (Redis `AOF_REWRITE_ITEMS_PER_CMD`):
/// big enough to keep the file small, small enough to keep each replayed command cheap.
const ITEMS_PER_CMD: usize = 64;

/// The clock a replay runs with. Logged expiries are absolute, and at 0 no deadline has
/// passed, so no key is deleted half-way through the replay (a key SET with PXAT and later
/// PERSISTed must survive even if the PXAT deadline is in the past by now).
const REPLAY_CLOCK_MS: u64 = 0;

/// At most one write-error log line this often (Redis `AOF_WRITE_LOG_ERROR_RATE`): a full
/// disk fails every write, and the log must not fill what is left of it.
const WRITE_ERROR_LOG_PERIOD_SECS: u64 = 30;

/// `ENOSPC`, the error Redis records for a short write (the kernel reports none for it).
const ENOSPC: i32 = 28;

/// `EIO`, for an fsync error that carries no errno (std always has one on Linux).
const EIO: i32 = 5;

/// AOF state: what INFO persistence reports, the open file, the rewrite buffer.
#[derive(Debug)]
pub struct Aof {
    /// Logging is on: the one atomic load [`feed`] pays when the AOF is off.
    on: AtomicBool,
    /// The `appendfsync` policy, as 0 always / 1 everysec / 2 no.
    policy: AtomicU8,
    /// Everything that must change together with a record being appended.
    state: Mutex<State>,
    /// Bytes ever appended (monotonic, across rewrites): the position of the last record.
    appended: AtomicU64,
    /// Bytes known to be on disk, same scale as `appended`.
    synced: AtomicU64,
    /// One fsync at a time; the writers queued behind it are often covered by it.
    sync_lock: Mutex<()>,
    /// Unix ms of the last fsync (everysec).
    last_sync_ms: AtomicU64,
    rewrite_in_progress: AtomicBool,
    rewrite_started_ms: AtomicU64,
    last_rewrite_ok: AtomicBool,
    last_rewrite_secs: AtomicI64,
    rewrites: AtomicU64,
    consecutive_failures: AtomicU64,
    /// The errno of the last failed write, 0 once a write succeeds again (Redis
    /// `aof_last_write_status` and `aof_last_write_errno`). While it is set, records wait in
    /// `State::pending` and write commands are refused with MISCONF.
    write_errno: AtomicI32,
    /// The errno of the last failed everysec fsync, 0 once one succeeds again (Redis
    /// `aof_bio_fsync_status`). Also refuses writes.
    fsync_errno: AtomicI32,
    /// Unix ms of the last retry of the pending records (the cron retries once a second).
    last_retry_ms: AtomicU64,
    /// Unix seconds of the last write error logged (one line per
    /// [`WRITE_ERROR_LOG_PERIOD_SECS`], as Redis `AOF_WRITE_LOG_ERROR_RATE`).
    last_error_log_secs: AtomicU64,
    thread: Mutex<Option<thread::JoinHandle<()>>>,
    /// The server's latency monitor (the same as [`Shared::latency`]): slow writes, fsyncs
    /// and renames of the file are its `aof-*` events.
    latency: Arc<LatencyMonitor>,
}

#[derive(Debug, Default)]
struct State {
    /// The file appended to; `None` while waiting for the first rewrite after CONFIG SET
    /// appendonly yes (records then only go to the rewrite buffer, as in Redis).
    file: Option<Arc<File>>,
    /// The database the file's last SELECT chose.
    db: Option<usize>,
    /// Size of the file now, and right after the last rewrite (INFO, auto rewrite).
    size: u64,
    base_size: u64,
    /// Records made while a rewrite runs, appended to the new file before it replaces the old.
    rewrite: Option<RewriteBuffer>,
    /// Records of the EXEC running now, with their database: written as one
    /// `MULTI` ... `EXEC` record by [`exec_done`], once the transaction is complete.
    exec: Option<Vec<(usize, Vec<u8>)>>,
    /// Bytes a failed write could not put in the file, in order, retried from the cron
    /// (Redis keeps them in `aof_buf`). Records arriving meanwhile queue behind them.
    pending: Vec<u8>,
}

#[derive(Debug, Default)]
struct RewriteBuffer {
    bytes: Vec<u8>,
    db: Option<usize>,
}

impl Aof {
    /// An AOF that reports its slow steps to `latency`.
    pub(crate) fn with_latency_monitor(latency: Arc<LatencyMonitor>) -> Aof {
        Aof {
            latency,
            ..Aof::default()
        }
    }
}

impl Default for Aof {
    fn default() -> Self {
        Aof {
            on: AtomicBool::new(false),
            policy: AtomicU8::new(1),
            state: Mutex::new(State::default()),
            appended: AtomicU64::new(0),
            synced: AtomicU64::new(0),
            sync_lock: Mutex::new(()),
            last_sync_ms: AtomicU64::new(0),
            rewrite_in_progress: AtomicBool::new(false),
            rewrite_started_ms: AtomicU64::new(0),
            last_rewrite_ok: AtomicBool::new(true),
            last_rewrite_secs: AtomicI64::new(-1),
            rewrites: AtomicU64::new(0),
            consecutive_failures: AtomicU64::new(0),
            write_errno: AtomicI32::new(0),
            fsync_errno: AtomicI32::new(0),
            last_retry_ms: AtomicU64::new(0),
            last_error_log_secs: AtomicU64::new(0),
            thread: Mutex::new(None),
            latency: Arc::default(),
        }
    }
}

fn policy_code(p: AppendFsync) -> u8 {
    match p {
        AppendFsync::Always => 0,
        AppendFsync::EverySec => 1,
        AppendFsync::No => 2,
    }
}

/// The AOF's path: `dir/appendfilename`.
pub(crate) fn aof_path(config: &Config) -> PathBuf {
    Path::new(&config.dir).join(&config.appendfilename)
}

/// True when the AOF is on and exists: it then replaces the dump at start.
pub(crate) fn takes_precedence(config: &Config) -> bool {
    config.appendonly && aof_path(config).exists()
}

// ---------------------------------------------------------------------------------------
// Turning the AOF on and off, cron, shutdown
// ---------------------------------------------------------------------------------------

/// At server start, before any client is accepted: with `appendonly yes`, replay the AOF if
/// it exists, otherwise write the first one from the dataset in memory; then log writes.
pub fn start(shared: &Shared) -> io::Result<()> {
    let (on, path, truncated_ok, policy) = {
        let c = shared.config.read();
        (
            c.appendonly,
            aof_path(&c),
            c.aof_load_truncated,
            c.appendfsync,
        )
    };
    let aof = &shared.persistence.aof;
    aof.policy.store(policy_code(policy), Ordering::Relaxed);
    if !on {
        return Ok(());
    }
    if path.exists() {
        load(shared, &path, truncated_ok)
            .map_err(|message| io::Error::new(io::ErrorKind::InvalidData, message))?;
        let file = OpenOptions::new().append(true).open(&path)?;
        let size = file.metadata()?.len();
        let mut st = aof.state.lock();
        st.file = Some(Arc::new(file));
        st.db = None;
        st.size = size;
        st.base_size = size;
    } else {
        // The classic trap: appendonly switched on with data only in the dump. Write the
        // first AOF from what was loaded, before anyone can write.
        let temp = temp_path(&path);
        let copy = super::snapshot(&shared.store.read(), shared.clock.now_ms());
        let (file, last_db) = write_base(&temp, &copy)?;
        fs::rename(&temp, &path)?;
        sync_dir(&path)?;
        let size = file.metadata()?.len();
        let file = OpenOptions::new().append(true).open(&path)?;
        let mut st = aof.state.lock();
        st.file = Some(Arc::new(file));
        st.db = last_db;
        st.size = size;
        st.base_size = size;
        crate::notice!(
            "Creating AOF file {} from the data in memory ({} bytes)",
            path.display(),
            size
        );
    }
    aof.on.store(true, Ordering::Release);
    Ok(())
}

/// After CONFIG SET: applies `appendfsync`, and turns logging on (starting with a rewrite,
/// as Redis's `startAppendOnly`) or off.
pub fn config_changed(shared: &Shared) {
    let (want, policy) = {
        let c = shared.config.read();
        (c.appendonly, c.appendfsync)
    };
    let aof = &shared.persistence.aof;
    aof.policy.store(policy_code(policy), Ordering::Relaxed);
    let on = aof.on.load(Ordering::Acquire);
    if want && !on {
        // A rewrite started while logging was off has no buffer of the writes since: let it
        // end, then start one that has.
        aof.wait_for_rewrite();
        let ks = shared.store.read();
        {
            let mut st = aof.state.lock();
            st.file = None;
            st.db = None;
            st.exec = None;
            st.pending.clear();
        }
        aof.write_errno.store(0, Ordering::Relaxed);
        aof.fsync_errno.store(0, Ordering::Relaxed);
        aof.on.store(true, Ordering::Release);
        if start_rewrite(shared, &ks).is_err() {
            aof.on.store(false, Ordering::Release);
        }
    } else if !want && on {
        let _ks = shared.store.write();
        aof.on.store(false, Ordering::Release);
        // Last chance for records a failed write left waiting (Redis `stopAppendOnly`
        // flushes too); then the errors no longer refuse writes, the AOF being off.
        aof.retry_pending();
        let mut st = aof.state.lock();
        if let Some(file) = st.file.take() {
            let _ = file.sync_data();
        }
        st.rewrite = None;
        st.pending.clear();
        aof.write_errno.store(0, Ordering::Relaxed);
        aof.fsync_errno.store(0, Ordering::Relaxed);
    }
}

/// The cron's part: the everysec fsync, and the automatic rewrite.
pub fn cron(shared: &Shared) {
    let aof = &shared.persistence.aof;
    if !aof.on.load(Ordering::Relaxed) {
        return;
    }
    let now = now_ms();
    // A failed write: retry once a second (Redis `serverCron`), until the disk takes it.
    if aof.write_errno.load(Ordering::Relaxed) != 0
        && now.saturating_sub(aof.last_retry_ms.load(Ordering::Relaxed)) >= 1000
    {
        aof.last_retry_ms.store(now, Ordering::Relaxed);
        aof.retry_pending();
    }
    if aof.policy.load(Ordering::Relaxed) == 1
        && now.saturating_sub(aof.last_sync_ms.load(Ordering::Relaxed)) >= 1000
    {
        aof.sync();
    }
    if aof.rewrite_in_progress() {
        return;
    }
    let (percentage, min_size) = {
        let c = shared.config.read();
        (c.auto_aof_rewrite_percentage, c.auto_aof_rewrite_min_size)
    };
    let (size, base) = {
        let st = aof.state.lock();
        (st.size, st.base_size.max(1))
    };
    if percentage > 0 && size >= min_size {
        let growth = (size.saturating_sub(base) as u128 * 100 / base as u128) as u64;
        if growth >= percentage {
            crate::notice!("Starting automatic rewriting of AOF on {growth}% growth");
            let _ = start_rewrite(shared, &shared.store.read());
        }
    }
}

/// At exit: fsync what was appended (Redis flushes the AOF in `prepareForShutdown`).
pub fn shutdown(shared: &Shared) {
    let aof = &shared.persistence.aof;
    if aof.on.load(Ordering::Acquire) {
        // Records a failed write left waiting get one more try (Redis
        // `prepareForShutdown` flushes too); if the disk is still full they are lost.
        aof.retry_pending();
        if !aof.state.lock().pending.is_empty() {
            crate::warning!("Error writing the AOF file before exiting: the writes accepted since the last write error are lost");
        }
        aof.sync();
    }
}

/// INFO persistence's AOF fields, in Redis's order.
pub(crate) fn info_fields(shared: &Shared, mut put: impl FnMut(&str, String)) {
    let aof = &shared.persistence.aof;
    let on = aof.on.load(Ordering::Relaxed);
    let in_progress = aof.rewrite_in_progress();
    put("aof_enabled", u8::from(on).to_string());
    put("aof_rewrite_in_progress", u8::from(in_progress).to_string());
    put("aof_rewrite_scheduled", "0".into());
    put(
        "aof_last_rewrite_time_sec",
        aof.last_rewrite_secs.load(Ordering::Relaxed).to_string(),
    );
    let current = if in_progress {
        (now_ms().saturating_sub(aof.rewrite_started_ms.load(Ordering::Relaxed)) / 1000) as i64
    } else {
        -1
    };
    put("aof_current_rewrite_time_sec", current.to_string());
    let ok = |b: bool| if b { "ok" } else { "err" }.to_string();
    put(
        "aof_last_bgrewrite_status",
        ok(aof.last_rewrite_ok.load(Ordering::Relaxed)),
    );
    put(
        "aof_rewrites",
        aof.rewrites.load(Ordering::Relaxed).to_string(),
    );
    put(
        "aof_rewrites_consecutive_failures",
        aof.consecutive_failures.load(Ordering::Relaxed).to_string(),
    );
    // Redis prints err for a failed write and for a failed background fsync alike.
    put(
        "aof_last_write_status",
        ok(aof.write_errno.load(Ordering::Relaxed) == 0
            && aof.fsync_errno.load(Ordering::Relaxed) == 0),
    );
    put("aof_last_cow_size", "0".into());
    put("module_fork_in_progress", "0".into());
    put("module_fork_last_cow_size", "0".into());
    if on {
        let (size, base) = {
            let st = aof.state.lock();
            (st.size, st.base_size)
        };
        put("aof_current_size", size.to_string());
        put("aof_base_size", base.to_string());
        put("aof_pending_rewrite", "0".into());
        put("aof_buffer_length", "0".into());
        put("aof_pending_bio_fsync", "0".into());
        put("aof_delayed_fsync", "0".into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An AOF in `everysec` appending to `file`.
    fn aof_on(file: File) -> Aof {
        let aof = Aof::default();
        aof.on.store(true, Ordering::Relaxed);
        aof.policy
            .store(policy_code(AppendFsync::EverySec), Ordering::Relaxed);
        aof.state.lock().file = Some(Arc::new(file));
        aof
    }

    fn set(key: &str) -> Vec<u8> {
        let mut body = Vec::new();
        push_command(&mut body, [&b"SET"[..], key.as_bytes(), b"v"].into_iter());
        body
    }

    #[test]
    fn a_failed_write_keeps_the_records_in_order_until_a_retry_succeeds() {
        // /dev/full fails every write with ENOSPC, as a full disk does, without root.
        let Ok(full) = OpenOptions::new().append(true).open("/dev/full") else {
            println!("SKIPPED: a_failed_write_keeps_the_records_in_order: no /dev/full");
            return;
        };
        let aof = aof_on(full);
        aof.append_record(0, set("a"), false);
        assert_eq!(aof.write_errno.load(Ordering::Relaxed), ENOSPC);
        // A transaction while the disk is full queues behind, as one record.
        aof.append_record(0, set("b"), true);
        aof.append_record(0, set("c"), true);
        aof.write_transaction();
        assert_eq!(aof.state.lock().size, 0, "nothing reached the full disk");
        aof.retry_pending(); // still full
        assert_eq!(aof.write_errno.load(Ordering::Relaxed), ENOSPC);

        // Space comes back (another file stands in for the emptied disk).
        let path = std::env::temp_dir().join(format!("respd-aof-unit-{}", std::process::id()));
        let file = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .open(&path)
            .unwrap();
        aof.state.lock().file = Some(Arc::new(file));
        aof.retry_pending();
        assert_eq!(aof.write_errno.load(Ordering::Relaxed), 0);
        assert!(aof.state.lock().pending.is_empty());
        let text = String::from_utf8(fs::read(&path).unwrap()).unwrap();
        let _ = fs::remove_file(&path);
        let words: Vec<&str> = text
            .split("\r\n")
            .filter(|w| !w.starts_with(['*', '$']))
            .collect();
        assert_eq!(
            words,
            [
                "SELECT", "0", "SET", "a", "v", "MULTI", "SET", "b", "v", "SET", "c", "v", "EXEC",
                ""
            ]
        );
    }

    #[test]
    fn the_parser_tells_torn_tails_from_garbage() {
        let data = b"*2\r\n$3\r\nDEL\r\n$1\r\nk\r\n";
        assert!(matches!(parse_command(data, 0), Parsed::Command(_, 20)));
        for cut in 1..data.len() {
            assert!(
                matches!(parse_command(&data[..cut], 0), Parsed::Truncated),
                "cut at {cut}"
            );
        }
        assert!(matches!(parse_command(b"+OK\r\n", 0), Parsed::Garbage(0)));
        assert!(matches!(
            parse_command(b"*1\r\n$3\r\nDELxx", 0),
            Parsed::Garbage(11)
        ));
        assert!(matches!(parse_command(b"*x\r\n", 0), Parsed::Garbage(1)));
    }
}
