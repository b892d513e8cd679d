//! Appending: feeding records while the keyspace lock is held, writing and fsyncing them
//! per `appendfsync`, and what a failed write does.

use super::*;
use crate::cmd::Effects;

/// Propagates one successful write command: its record goes to the AOF and, the same bytes,
/// to the replication stream ([`crate::replication::feed`]). Called with the keyspace write
/// lock held (see the module docs for why). Costs two atomic loads when neither is on.
#[inline]
pub fn feed(ctx: &crate::cmd::Ctx, argv: &Argv) {
    if records_wanted(ctx.shared) {
        feed_slow(ctx, argv);
    }
}

/// True when records are wanted: the AOF is on, or a replica attached.
#[inline]
pub(crate) fn records_wanted(shared: &Shared) -> bool {
    shared.persistence.aof.on.load(Ordering::Relaxed) || crate::replication::active(shared)
}

/// Hands an encoded record for database `db` to the AOF and to the replicas.
fn propagate(shared: &Shared, db: usize, body: Vec<u8>, in_exec: bool) {
    crate::replication::feed(shared, db, &body, in_exec);
    let aof = &shared.persistence.aof;
    if aof.on.load(Ordering::Relaxed) {
        aof.append_record(db, body, in_exec);
    }
}

fn feed_slow(ctx: &crate::cmd::Ctx, argv: &Argv) {
    let list = match &ctx.effects {
        Effects::Replaced(list) => list,
        Effects::AsCalled => {
            let mut body = Vec::with_capacity(64);
            push_command(&mut body, argv.iter());
            return propagate(ctx.shared, ctx.client.db, body, ctx.in_exec);
        }
    };
    // Several effects of one command go out as one transaction, unless it already runs
    // inside one (EXEC's own MULTI ... EXEC then holds them).
    let wrap = list.len() > 1 && !ctx.in_exec;
    if wrap {
        exec_begin(ctx.shared);
    }
    for effect in list {
        let mut body = Vec::with_capacity(64);
        push_command(&mut body, effect.iter());
        propagate(ctx.shared, ctx.client.db, body, ctx.in_exec || wrap);
    }
    if wrap {
        exec_done(ctx.shared);
    }
}

/// Starts an EXEC's records afresh. Called by EXEC once it holds the keyspace write lock.
///
/// Records of a transaction are kept aside until [`exec_done`], so the file never holds a
/// MULTI whose EXEC is not written in the same `write(2)`. Nothing is left over from an
/// earlier EXEC in practice (a panic inside one ends the process, see [`crate::cmd`]); if
/// something were, it is dropped here rather than glued onto this transaction.
pub(crate) fn exec_begin(shared: &Shared) {
    crate::replication::exec_begin(shared);
    let aof = &shared.persistence.aof;
    if aof.on.load(Ordering::Relaxed) {
        aof.state.lock().exec = None;
    }
}

/// Writes the records of the EXEC that just ran as one `MULTI` ... `EXEC` record, in one
/// `write(2)`. Called by EXEC after its last command and before it releases the keyspace
/// lock, so the transaction reaches the file whole, in its place among other writes.
pub(crate) fn exec_done(shared: &Shared) {
    crate::replication::exec_done(shared);
    let aof = &shared.persistence.aof;
    if aof.on.load(Ordering::Relaxed) {
        aof.write_transaction();
    }
}

impl Aof {
    /// [`exec_done`]'s work: the kept records, wrapped in MULTI and EXEC, as one append.
    pub(super) fn write_transaction(&self) {
        let mut st = self.state.lock();
        let Some(records) = st.exec.take() else {
            return; // no write in this transaction
        };
        let mut to_file = Vec::new();
        let mut to_rewrite = Vec::new();
        push_command(&mut to_file, [&b"MULTI"[..]].into_iter());
        push_command(&mut to_rewrite, [&b"MULTI"[..]].into_iter());
        for (db, body) in &records {
            encode_record(&mut st, *db, body, &mut to_file, &mut to_rewrite);
        }
        push_command(&mut to_file, [&b"EXEC"[..]].into_iter());
        push_command(&mut to_rewrite, [&b"EXEC"[..]].into_iter());
        self.append(&mut st, &to_file, &to_rewrite);
    }
}

/// Adds `body` (a record for database `db`) to the bytes bound for the file and for the
/// rewrite buffer, each with the SELECT it needs: the two may be in different databases.
fn encode_record(
    st: &mut State,
    db: usize,
    body: &[u8],
    to_file: &mut Vec<u8>,
    to_rewrite: &mut Vec<u8>,
) {
    if st.db != Some(db) {
        push_select(to_file, db);
        st.db = Some(db);
    }
    to_file.extend_from_slice(body);
    if let Some(rw) = st.rewrite.as_mut() {
        if rw.db != Some(db) {
            push_select(to_rewrite, db);
            rw.db = Some(db);
        }
        to_rewrite.extend_from_slice(body);
    }
}

/// Writes `bytes` with as few `write(2)` calls as the kernel allows. Returns how many bytes
/// went in, and the error that stopped it short.
fn write_counting(mut file: &File, bytes: &[u8]) -> (usize, Option<io::Error>) {
    let mut written = 0;
    while written < bytes.len() {
        match file.write(&bytes[written..]) {
            Ok(0) => return (written, Some(io::ErrorKind::WriteZero.into())),
            Ok(n) => written += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (written, Some(e)),
        }
    }
    (written, None)
}

impl Aof {
    /// Appends an encoded record for database `db`, with the SELECT it needs; inside EXEC,
    /// keeps it for [`exec_done`] instead.
    pub(super) fn append_record(&self, db: usize, body: Vec<u8>, in_exec: bool) {
        let mut st = self.state.lock();
        if in_exec {
            st.exec.get_or_insert_with(Vec::new).push((db, body));
            return;
        }
        let mut to_file = Vec::new();
        let mut to_rewrite = Vec::new();
        encode_record(&mut st, db, &body, &mut to_file, &mut to_rewrite);
        self.append(&mut st, &to_file, &to_rewrite);
    }

    fn append(&self, st: &mut State, to_file: &[u8], to_rewrite: &[u8]) {
        if let Some(rw) = st.rewrite.as_mut() {
            rw.bytes.extend_from_slice(to_rewrite);
        }
        if st.file.is_none() {
            return;
        }
        if !st.pending.is_empty() {
            // Earlier records are still waiting for the disk: keep the file's order.
            st.pending.extend_from_slice(to_file);
            return;
        }
        if let Err(written) = self.write_out(st, to_file) {
            st.pending = to_file[written..].to_vec();
        }
    }

    /// One attempt to write `bytes` at the end of the file (Redis `flushAppendOnlyFile`).
    /// On failure returns how many bytes stayed in the file (0 unless a torn write could not
    /// be cut off); the caller keeps the rest. Then, with `appendfsync always`, the process
    /// exits, as Redis does: the command has changed the dataset and its reply would claim a
    /// durability that is not there. Otherwise the error is recorded, which makes
    /// [`write_error`] refuse write commands with MISCONF until a retry succeeds.
    fn write_out(&self, st: &mut State, bytes: &[u8]) -> Result<(), usize> {
        let Some(file) = st.file.clone() else {
            return Ok(());
        };
        let write_started = std::time::Instant::now();
        let (mut written, error) = write_counting(&file, bytes);
        self.note_write_latency(write_started.elapsed());
        let Some(error) = error else {
            st.size += written as u64;
            self.appended.fetch_add(written as u64, Ordering::Release);
            if self.write_errno.swap(0, Ordering::Relaxed) != 0 {
                crate::warning!("AOF write error looks solved, respd can write again.");
            }
            return Ok(());
        };
        let now_secs = now_ms() / 1000;
        let last_log = self.last_error_log_secs.load(Ordering::Relaxed);
        let can_log = now_secs.saturating_sub(last_log) > WRITE_ERROR_LOG_PERIOD_SECS
            && self
                .last_error_log_secs
                .compare_exchange(last_log, now_secs, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok();
        let errno = if written == 0 {
            if can_log {
                crate::warning!(
                    "Error writing to the AOF file: {}",
                    crate::sys::strerror(&error)
                );
            }
            error.raw_os_error().unwrap_or(ENOSPC)
        } else {
            if can_log {
                crate::warning!(
                    "Short write while writing to the AOF file: (nwritten={written}, expected={})",
                    bytes.len()
                );
            }
            // A torn record followed by whole ones would be garbage in the middle of the
            // file: cut it off. The handle appends (O_APPEND), so the next write lands at the
            // new end.
            match file.set_len(st.size) {
                Ok(()) => written = 0,
                Err(e) => {
                    if can_log {
                        crate::warning!("Could not remove short write from the append-only file.  respd may refuse to load the AOF the next time it starts.  ftruncate: {}", crate::sys::strerror(&e));
                    }
                }
            }
            ENOSPC
        };
        if self.policy.load(Ordering::Relaxed) == 0 {
            crate::warning!("Can't recover from AOF write error when the AOF fsync policy is 'always'. Exiting...");
            std::process::exit(1);
        }
        st.size += written as u64;
        self.appended.fetch_add(written as u64, Ordering::Release);
        self.write_errno.store(errno, Ordering::Relaxed);
        Err(written)
    }

    /// The latency monitor's write events (Redis `flushAppendOnlyFile`): `aof-write`, and
    /// one of `aof-write-pending-fsync` (an fsync was running), `aof-write-active-child` (a
    /// rewrite was running: Redis's "child") or `aof-write-alone`.
    fn note_write_latency(&self, took: std::time::Duration) {
        if !self.latency.is_on() {
            return;
        }
        let ms = took.as_millis() as u64;
        let event = if self.sync_lock.is_locked() {
            "aof-write-pending-fsync"
        } else if self.rewrite_in_progress() {
            "aof-write-active-child"
        } else {
            "aof-write-alone"
        };
        self.latency.record(event, ms);
        self.latency.record("aof-write", ms);
    }

    /// Writes the records a failed write left pending (Redis retries from `serverCron`
    /// once a second). Success clears the error, and writes are accepted again.
    pub(super) fn retry_pending(&self) {
        let mut st = self.state.lock();
        if st.pending.is_empty() {
            self.write_errno.store(0, Ordering::Relaxed);
            return;
        }
        let pending = std::mem::take(&mut st.pending);
        match self.write_out(&mut st, &pending) {
            Ok(()) => {}
            Err(written) => st.pending = pending[written..].to_vec(),
        }
    }

    /// fsyncs the file if records were appended since the last fsync.
    ///
    /// The caller's own records end at `appended` as read on entry; a writer that queued
    /// behind another's fsync returns without one if that fsync covered its records, even if
    /// newer records arrived since (this is what makes concurrent writers share fsyncs).
    pub(super) fn sync(&self) {
        let mine = self.appended.load(Ordering::Acquire);
        if self.synced.load(Ordering::Acquire) >= mine {
            return;
        }
        let _one = self.sync_lock.lock();
        if self.synced.load(Ordering::Acquire) >= mine {
            return; // the fsync we queued behind covered us
        }
        let (file, target) = {
            let st = self.state.lock();
            (st.file.clone(), self.appended.load(Ordering::Acquire))
        };
        if let Some(file) = file {
            let sync_started = std::time::Instant::now();
            let synced = file.sync_data();
            if self.policy.load(Ordering::Relaxed) == 0 {
                let ms = sync_started.elapsed().as_millis() as u64;
                self.latency.record("aof-fsync-always", ms);
            }
            match synced {
                Ok(()) => {
                    self.synced.fetch_max(target, Ordering::AcqRel);
                    self.fsync_errno.store(0, Ordering::Relaxed);
                }
                Err(e) => {
                    let text = crate::sys::strerror(&e);
                    if self.policy.load(Ordering::Relaxed) == 0 {
                        crate::warning!("Can't persist AOF for fsync error when the AOF fsync policy is 'always': {text}. Exiting...");
                        std::process::exit(1);
                    }
                    let errno = e.raw_os_error().unwrap_or(EIO);
                    if self.fsync_errno.swap(errno, Ordering::Relaxed) == 0 {
                        crate::warning!("Fail to fsync the AOF file: {text}");
                    }
                }
            }
        }
        self.last_sync_ms.store(now_ms(), Ordering::Relaxed);
    }
}

/// The errno of the AOF error that makes write commands fail with MISCONF, if any: a failed
/// write whose records still wait, or a failed everysec fsync (Redis
/// `writeCommandsDeniedByDiskError`'s AOF half). `None` when the AOF is off.
pub(crate) fn write_error(shared: &Shared) -> Option<i32> {
    let aof = &shared.persistence.aof;
    if !aof.on.load(Ordering::Relaxed) {
        return None;
    }
    match (
        aof.write_errno.load(Ordering::Relaxed),
        aof.fsync_errno.load(Ordering::Relaxed),
    ) {
        (0, 0) => None,
        (0, errno) | (errno, _) => Some(errno),
    }
}

/// Propagates the pops done for blocked clients (BLPOP and friends) that a write served,
/// one record each, as returned by [`crate::blocking::serve_ready_keys`]: `LPOP key`,
/// `LMOVE src dst LEFT RIGHT`... as Redis propagates them (`serveClientBlockedOnList`).
/// Called right after the write that made the keys ready (after its EXEC for a
/// transaction), still under the lock.
pub(crate) fn feed_served(shared: &Shared, db_index: usize, served: &[Vec<Vec<u8>>]) {
    if served.is_empty() || !records_wanted(shared) {
        return;
    }
    for argv in served {
        let mut body = Vec::new();
        push_command(&mut body, argv.iter().map(|a| a.as_slice()));
        propagate(shared, db_index, body, false);
    }
}

/// With `appendfsync always`: returns once every record appended so far is on disk. Called
/// once per batch of commands, with no lock held, before the batch's replies are sent.
#[inline]
pub(crate) fn wait_durable(shared: &Shared) {
    let aof = &shared.persistence.aof;
    if aof.on.load(Ordering::Relaxed) && aof.policy.load(Ordering::Relaxed) == 0 {
        aof.sync();
    }
}
