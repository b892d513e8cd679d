//! Persistence: RDB snapshots on disk (SAVE, BGSAVE, save points, load at start, final save).
//!
//! Counterpart of the saving half of Redis `rdb.c` (`rdbSave`, `rdbSaveBackground`,
//! `rdbLoad`) and the persistence parts of `server.c` (`serverCron`'s save points,
//! `writeCommandsDeniedByDiskError`, `prepareForShutdown`). The file format itself lives in
//! [`rdb`].
//!
//! # Writing a file safely
//! A snapshot goes to `dir/temp-<pid>.rdb`, is fsynced, renamed over `dir/dbfilename`, and the
//! directory is fsynced so the rename itself is durable. A crash at any point leaves either
//! the old dump or the new one, never a torn file.
//!
//! # BGSAVE without fork
//! Redis forks and lets copy-on-write give the child a frozen keyspace. respd has threads, not
//! processes, so a background save first *copies* the keyspace: under the read lock (so writers
//! wait, readers do not) it clones every live entry of every database, then releases the lock
//! and writes the copy to disk on its own thread. All databases are copied under one read lock
//! so the snapshot is one point in time, as a fork is: a MOVE or an EXEC touching two
//! databases is either wholly in the dump or not at all. The costs are the copy's duration
//! (writers are held up for it) and its memory (about the size of the dataset, until the file
//! is written). Measured on a release build, 2 shared cores, 1,000,000 keys with 200-byte
//! values (449 MB RSS): the copy held writers for 1.33 s (the worst SET latency seen by a
//! client writing in a loop was 1.34 s), about 3 s per GB of dataset; peak RSS rose by
//! 406 MB, about 0.9 times the dataset; writing the 21 MB compressed file took 2.6 s more,
//! during which clients were served normally. A SAVE of the same data blocked writers 3.5 s.
//!
//! # The dirty counter
//! Redis counts changes (`server.dirty`, incremented by each modification a command makes).
//! respd counts *successful commands flagged `write`* instead, in [`crate::cmd::run_command`]:
//! a MSET of ten keys counts one, a DEL of a missing key counts one. A command may state its
//! count instead ([`crate::cmd::Ctx::changes`]): SETBIT and BITFIELD do, as Redis's test
//! suite checks that they count only the bits they changed, and so do ZADD (members added or
//! updated, hence GEOADD) and the geo searches (points stored). A stated count of zero also
//! keeps the command out of the AOF and the replication stream, as Redis propagates only
//! commands that moved `server.dirty`. Save points compare this
//! count with their `<changes>`; the difference from Redis only shifts when a save point fires.

pub mod aof;
pub mod rdb;

use std::fs::{self, File};
use std::io::{self, BufWriter};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;

use parking_lot::Mutex;

use crate::config::Config;
use crate::shared::Shared;
use crate::store::{Entry, Keyspace};
use crate::util::now_ms;

/// Redis `CONFIG_BGSAVE_RETRY_DELAY`: after a failed background save, save points wait this
/// many seconds before trying again.
const BGSAVE_RETRY_DELAY_SECS: u64 = 5;

/// The exact error Redis sends for writes after a failed background save (`shared.bgsaveerr`).
pub const MISCONF_ERROR: &[u8] = b"MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Commands that may modify the data set are disabled, because this instance is configured to report errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the Redis logs for details about the RDB error.";

/// Snapshot bookkeeping: what INFO persistence reports and what save points need.
#[derive(Debug)]
pub struct Persistence {
    /// Write commands since the last successful save (Redis `server.dirty`).
    pub dirty: AtomicU64,
    /// Unix seconds of the last successful save (LASTSAVE; the start time until then).
    last_save: AtomicU64,
    /// Unix seconds of the last background save attempt.
    last_bgsave_try: AtomicU64,
    /// False after a failed background save, until a save succeeds.
    last_bgsave_ok: AtomicBool,
    /// A background save is running.
    bgsave_in_progress: AtomicBool,
    /// BGSAVE SCHEDULE asked for one once the running one ends.
    bgsave_scheduled: AtomicBool,
    /// Unix ms when the running background save started.
    bgsave_started_ms: AtomicU64,
    /// Duration of the last background save in seconds, -1 if none yet.
    last_bgsave_secs: AtomicI64,
    /// Saves attempted since start, failed ones included, as Redis counts them (INFO
    /// `rdb_saves`).
    saves: AtomicU64,
    /// Keys loaded at start and keys skipped as expired then.
    load_counts: Mutex<(u64, u64)>,
    /// The background save thread, joined before the next one and at shutdown.
    thread: Mutex<Option<thread::JoinHandle<()>>>,
    /// Held while a dump file is written: SAVE and a background save may otherwise overlap
    /// (both only need the read lock) and share the temp file name.
    file_lock: Mutex<()>,
    /// The append-only file.
    pub aof: aof::Aof,
}

impl Persistence {
    /// Fresh bookkeeping: no save yet, LASTSAVE is the start time (as in Redis).
    pub fn new(started_ms: u64, latency: Arc<crate::latency::LatencyMonitor>) -> Arc<Persistence> {
        Arc::new(Persistence {
            dirty: AtomicU64::new(0),
            last_save: AtomicU64::new(started_ms / 1000),
            last_bgsave_try: AtomicU64::new(0),
            last_bgsave_ok: AtomicBool::new(true),
            bgsave_in_progress: AtomicBool::new(false),
            bgsave_scheduled: AtomicBool::new(false),
            bgsave_started_ms: AtomicU64::new(0),
            last_bgsave_secs: AtomicI64::new(-1),
            saves: AtomicU64::new(0),
            load_counts: Mutex::new((0, 0)),
            thread: Mutex::new(None),
            file_lock: Mutex::new(()),
            aof: aof::Aof::with_latency_monitor(latency),
        })
    }

    /// Counts `changes` changes of a successful write command.
    pub(crate) fn note_writes(&self, changes: u64) {
        self.dirty.fetch_add(changes, Ordering::Relaxed);
    }

    /// Unix seconds of the last successful save (LASTSAVE).
    pub(crate) fn last_save(&self) -> u64 {
        self.last_save.load(Ordering::Relaxed)
    }

    /// True while a background save runs.
    pub(crate) fn bgsave_in_progress(&self) -> bool {
        self.bgsave_in_progress.load(Ordering::Acquire)
    }

    /// Records the outcome of a startup load (INFO `rdb_last_load_keys_*`).
    pub fn note_load(&self, stats: &rdb::LoadStats) {
        *self.load_counts.lock() = (stats.keys_loaded, stats.keys_expired);
    }

    fn saved(&self, dirty_before: u64) {
        // Writes made while the save ran stay counted (Redis subtracts dirty_before_bgsave).
        let _ = self
            .dirty
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |d| {
                Some(d.saturating_sub(dirty_before))
            });
        self.last_save.store(now_ms() / 1000, Ordering::Relaxed);
        self.last_bgsave_ok.store(true, Ordering::Relaxed);
    }

    /// Waits for a running background save to finish (shutdown, tests).
    pub fn wait_for_bgsave(&self) {
        let handle = self.thread.lock().take();
        if let Some(h) = handle {
            let _ = h.join();
        }
    }
}

/// The dump file's path: `dir/dbfilename`.
pub(crate) fn dump_path(config: &Config) -> PathBuf {
    Path::new(&config.dir).join(&config.dbfilename)
}

/// The RDB writer options the config asks for (compression, checksum).
pub(crate) fn write_options(config: &Config) -> rdb::WriteOptions {
    rdb::WriteOptions {
        compression: config.rdbcompression,
        checksum: config.rdbchecksum,
    }
}

/// Writes a file through `write` to a temporary name in `dir`, syncs it, renames it over
/// `path`, and syncs the directory (Redis `rdbSave`'s temp-file dance).
fn write_atomically(
    lock: &Mutex<()>,
    path: &Path,
    write: impl FnOnce(BufWriter<File>) -> io::Result<BufWriter<File>>,
) -> io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let temp = dir.join(format!("temp-{}.rdb", std::process::id()));
    let _one_writer = lock.lock();
    let result = (|| {
        let file = File::create(&temp)?;
        let file = write(BufWriter::with_capacity(1 << 16, file))?
            .into_inner()
            .map_err(|e| e.into_error())?;
        file.sync_all()?;
        drop(file);
        fs::rename(&temp, path)?;
        File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

/// Loads the function libraries a dump held into the interpreter (Redis loads them with the
/// keys, in `rdbLoad`; respd's interpreter lives in the server's shared state, made after the
/// keyspace is loaded).
pub fn load_functions(shared: &Shared, stats: &rdb::LoadStats) -> Result<(), String> {
    if stats.functions.is_empty() {
        return Ok(());
    }
    shared
        .scripting
        .restore_libraries(
            &stats.functions,
            crate::cmd::scripting::RestorePolicy::Append,
        )
        .map_err(|e| format!("Failed loading the functions of the dump: {e}"))
}

/// SAVE: writes the keyspace the caller holds (read lock) to the dump file.
pub fn save(shared: &Shared, ks: &Keyspace) -> io::Result<()> {
    let (path, options) = {
        let c = shared.config.read();
        (dump_path(&c), write_options(&c))
    };
    // Keys expired by now are left out.
    let now = shared.clock.now_ms();
    let used = ks.dbs().iter().map(|db| db.approx_bytes() as u64).sum();
    let dirty_before = shared.persistence.dirty.load(Ordering::Relaxed);
    shared.persistence.saves.fetch_add(1, Ordering::Relaxed);
    let functions = shared.scripting.library_codes();
    match write_atomically(&shared.persistence.file_lock, &path, |out| {
        rdb::write_live_keyspace(out, options, &functions, ks, now, used)
    }) {
        Ok(()) => {
            crate::notice!("DB saved on disk");
            shared.persistence.saved(dirty_before);
            Ok(())
        }
        Err(e) => {
            crate::warning!("Failed saving the DB: {e}");
            Err(e)
        }
    }
}

/// Copies every live entry of every database: the frozen view a background save writes. The
/// caller holds the read lock for all databases at once (see the module docs for why one lock
/// and not one per database).
pub fn snapshot(ks: &Keyspace, now: u64) -> Vec<Vec<(Vec<u8>, Entry)>> {
    ks.dbs()
        .iter()
        .map(|db| {
            db.iter()
                .filter(|(_, e)| !e.is_expired(now))
                .map(|(k, e)| (k.to_vec(), e.clone()))
                .collect()
        })
        .collect()
}

/// Why BGSAVE could not start.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum BgsaveError {
    /// One is running already.
    InProgress,
    /// The thread could not be spawned.
    Spawn,
}

/// Starts a background save (BGSAVE, save points) of `ks`, which the caller holds under the
/// read lock. Copies the keyspace, then returns while a thread writes the copy.
pub(crate) fn bgsave(shared: &Shared, ks: &Keyspace) -> Result<(), BgsaveError> {
    let p = &shared.persistence;
    if p.bgsave_in_progress.swap(true, Ordering::AcqRel) {
        return Err(BgsaveError::InProgress);
    }
    // The previous thread has finished (in_progress was false): reap it.
    if let Some(old) = p.thread.lock().take() {
        let _ = old.join();
    }
    p.bgsave_scheduled.store(false, Ordering::Relaxed);
    let started = now_ms();
    p.bgsave_started_ms.store(started, Ordering::Relaxed);
    p.last_bgsave_try.store(started / 1000, Ordering::Relaxed);
    let (path, options) = {
        let c = shared.config.read();
        (dump_path(&c), write_options(&c))
    };
    p.saves.fetch_add(1, Ordering::Relaxed);
    let copy_timer = std::time::Instant::now();
    let dirty_before = p.dirty.load(Ordering::Relaxed);
    let copy = snapshot(ks, shared.clock.now_ms());
    let functions = shared.scripting.library_codes();
    let used = ks.dbs().iter().map(|db| db.approx_bytes() as u64).sum();
    crate::verbose!(
        "BGSAVE copied the keyspace in {} ms (writers waited that long)",
        copy_timer.elapsed().as_millis()
    );
    let state = p.clone();
    let spawned = thread::Builder::new()
        .name("respd-bgsave".into())
        .spawn(move || {
            let result = write_atomically(&state.file_lock, &path, |out| {
                rdb::write_keyspace(out, options, &functions, &copy, started, used)
            });
            drop(copy);
            state.bgsave_done(result, dirty_before, started);
        });
    match spawned {
        Ok(handle) => {
            crate::notice!("Background saving started");
            *p.thread.lock() = Some(handle);
            Ok(())
        }
        Err(e) => {
            crate::warning!("Can't save in background: {e}");
            p.last_bgsave_ok.store(false, Ordering::Relaxed);
            p.bgsave_in_progress.store(false, Ordering::Release);
            Err(BgsaveError::Spawn)
        }
    }
}

impl Persistence {
    fn bgsave_done(&self, result: io::Result<()>, dirty_before: u64, started: u64) {
        match result {
            Ok(()) => {
                crate::notice!("Background saving terminated with success");
                self.saved(dirty_before);
            }
            Err(e) => {
                crate::warning!("Background saving error: {e}");
                self.last_bgsave_ok.store(false, Ordering::Relaxed);
            }
        }
        let secs = (now_ms().saturating_sub(started) / 1000) as i64;
        self.last_bgsave_secs.store(secs, Ordering::Relaxed);
        self.bgsave_in_progress.store(false, Ordering::Release);
    }
}

/// BGSAVE SCHEDULE while a save runs: start another once it ends.
pub(crate) fn schedule_bgsave(shared: &Shared) {
    shared
        .persistence
        .bgsave_scheduled
        .store(true, Ordering::Relaxed);
}

/// The cron's part (Redis `serverCron`): start a background save when a save point is
/// reached, or when one was scheduled.
pub fn cron(shared: &Shared) {
    aof::cron(shared);
    let p = &shared.persistence;
    if p.bgsave_in_progress() {
        return;
    }
    if p.bgsave_scheduled.load(Ordering::Relaxed) {
        let _ = bgsave(shared, &shared.store.read());
        return;
    }
    let now = now_ms() / 1000;
    let dirty = p.dirty.load(Ordering::Relaxed);
    let since_save = now.saturating_sub(p.last_save());
    let retry_ok = p.last_bgsave_ok.load(Ordering::Relaxed)
        || now.saturating_sub(p.last_bgsave_try.load(Ordering::Relaxed)) > BGSAVE_RETRY_DELAY_SECS;
    let point = shared
        .config
        .read()
        .save
        .iter()
        .find(|(secs, changes)| dirty >= *changes && since_save > *secs)
        .copied();
    if let (Some((secs, changes)), true) = (point, retry_ok) {
        crate::notice!("{changes} changes in {secs} seconds. Saving...");
        let _ = bgsave(shared, &shared.store.read());
    }
}

/// Redis `writeCommandsDeniedByDiskError` and `writeCommandsGetDiskErrorMessage`: the
/// MISCONF error write commands (and PING) are refused with while what they change could not
/// be persisted: after a failed background save (with save points and
/// stop-writes-on-bgsave-error), or while the AOF cannot be written or fsynced (see
/// [`aof`]'s "Durability"). `None` when writes are accepted.
pub(crate) fn writes_denied(shared: &Shared) -> Option<std::borrow::Cow<'static, [u8]>> {
    if !shared.persistence.last_bgsave_ok.load(Ordering::Relaxed) {
        let c = shared.config.read();
        if c.stop_writes_on_bgsave_error && !c.save.is_empty() {
            return Some(MISCONF_ERROR.into());
        }
    }
    let errno = aof::write_error(shared)?;
    let text = crate::sys::strerror(&io::Error::from_raw_os_error(errno));
    Some(
        format!("MISCONF Errors writing to the AOF file: {text}")
            .into_bytes()
            .into(),
    )
}

/// Loads the dump file at start, if there is one. A missing file is an empty dataset; any
/// other problem is an error naming the file, and the server must not start (nor ever save
/// over that file).
pub fn load_at_start(config: &Config, ks: &mut Keyspace) -> Result<rdb::LoadStats, String> {
    let path = dump_path(config);
    if aof::takes_precedence(config) {
        // The AOF is loaded instead, by aof::start, as in Redis.
        if path.exists() {
            crate::notice!(
                "The append only file is enabled and exists: {} is not loaded",
                path.display()
            );
        }
        return Ok(rdb::LoadStats::default());
    }
    let data = match fs::read(&path) {
        Ok(d) => d,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(rdb::LoadStats::default()),
        Err(e) => return Err(format!("Can't read the RDB file {}: {e}", path.display())),
    };
    let started = std::time::Instant::now();
    match rdb::load(&data, ks, now_ms(), config.rdbchecksum) {
        Ok(stats) => {
            crate::notice!(
                "DB loaded from disk: {:.3} seconds ({} keys, {} expired keys skipped)",
                started.elapsed().as_secs_f64(),
                stats.keys_loaded,
                stats.keys_expired
            );
            Ok(stats)
        }
        Err(e) => Err(format!(
            "Fatal error loading the DB from {}: {e}. Exiting.",
            path.display()
        )),
    }
}

/// True when save points are configured: SIGTERM and SHUTDOWN then save (Redis
/// `prepareForShutdown`).
pub fn save_on_shutdown(shared: &Shared) -> bool {
    !shared.config.read().save.is_empty()
}

/// The save before exiting: waits for a running background save, then saves under the read
/// lock. Logs and returns the error if the file cannot be written.
pub fn final_save(shared: &Shared) -> io::Result<()> {
    shared.persistence.wait_for_bgsave();
    crate::notice!("Saving the final RDB snapshot before exiting.");
    save(shared, &shared.store.read())
}

/// Changes since the last successful save.
pub fn dirty(shared: &Shared) -> u64 {
    shared.persistence.dirty.load(Ordering::Relaxed)
}

/// INFO persistence's RDB fields, in Redis's order.
pub(crate) fn info_fields(shared: &Shared, mut put: impl FnMut(&str, String)) {
    let p = &shared.persistence;
    let in_progress = p.bgsave_in_progress();
    let (loaded, expired) = *p.load_counts.lock();
    put(
        "rdb_changes_since_last_save",
        p.dirty.load(Ordering::Relaxed).to_string(),
    );
    put("rdb_bgsave_in_progress", u8::from(in_progress).to_string());
    put("rdb_last_save_time", p.last_save().to_string());
    let status = if p.last_bgsave_ok.load(Ordering::Relaxed) {
        "ok"
    } else {
        "err"
    };
    put("rdb_last_bgsave_status", status.into());
    put(
        "rdb_last_bgsave_time_sec",
        p.last_bgsave_secs.load(Ordering::Relaxed).to_string(),
    );
    let current = if in_progress {
        (now_ms().saturating_sub(p.bgsave_started_ms.load(Ordering::Relaxed)) / 1000) as i64
    } else {
        -1
    };
    put("rdb_current_bgsave_time_sec", current.to_string());
    put("rdb_saves", p.saves.load(Ordering::Relaxed).to_string());
    put("rdb_last_cow_size", "0".into());
    put("rdb_last_load_keys_expired", expired.to_string());
    put("rdb_last_load_keys_loaded", loaded.to_string());
}
