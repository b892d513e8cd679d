//! Rewriting (BGREWRITEAOF): a fresh file holding the dataset as commands, written beside
//! the old one while writes continue, then swapped in.

use super::*;
use crate::store::StreamId;

/// Writes commands that rebuild `dbs` (one database per element). Returns the database the
/// last SELECT chose.
fn write_dataset(out: &mut impl Write, dbs: &[Vec<(Vec<u8>, Entry)>]) -> io::Result<Option<usize>> {
    let mut rec = Vec::with_capacity(1 << 12);
    let mut last_db = None;
    for (index, entries) in dbs.iter().enumerate() {
        if entries.is_empty() {
            continue;
        }
        push_select(&mut rec, index);
        last_db = Some(index);
        for (key, entry) in entries {
            rebuild_key(&mut rec, key, entry);
            if rec.len() >= 1 << 16 {
                out.write_all(&rec)?;
                rec.clear();
            }
        }
    }
    out.write_all(&rec)?;
    Ok(last_db)
}

/// Commands that rebuild one key: the value in batches, then its deadline.
fn rebuild_key(rec: &mut Vec<u8>, key: &[u8], entry: &Entry) {
    fn batches<'a>(
        rec: &mut Vec<u8>,
        cmd: &'static [u8],
        key: &'a [u8],
        items: impl Iterator<Item = Vec<Cow<'a, [u8]>>>,
    ) {
        let mut args: Vec<Cow<[u8]>> = Vec::new();
        let mut count = 0;
        for item in items {
            if count == 0 {
                args.push(Cow::Borrowed(cmd));
                args.push(Cow::Borrowed(key));
            }
            args.extend(item);
            count += 1;
            if count == ITEMS_PER_CMD {
                push_command(rec, args.iter().map(|a| a.as_ref()));
                args.clear();
                count = 0;
            }
        }
        if count > 0 {
            push_command(rec, args.iter().map(|a| a.as_ref()));
        }
    }
    match &entry.value {
        Value::Int(n) => {
            let n = n.to_string();
            push_command(rec, [&b"SET"[..], key, n.as_bytes()].into_iter());
        }
        Value::Str(s) => push_command(rec, [&b"SET"[..], key, s].into_iter()),
        Value::List(l) => batches(
            rec,
            b"RPUSH",
            key,
            l.iter().map(|e| vec![Cow::from(&e[..])]),
        ),
        Value::Set(s) => batches(
            rec,
            b"SADD",
            key,
            s.iter().map(|(m, _)| vec![Cow::from(&m[..])]),
        ),
        Value::Hash(h) => batches(
            rec,
            b"HSET",
            key,
            h.iter()
                .map(|(f, v)| vec![Cow::from(&f[..]), Cow::from(&v[..])]),
        ),
        Value::ZSet(z) => batches(
            rec,
            b"ZADD",
            key,
            z.iter().map(|(m, score)| {
                vec![
                    Cow::Owned(crate::util::format_f64(score).into_bytes()),
                    Cow::Owned(m.to_vec()),
                ]
            }),
        ),
        Value::Stream(s) => rewrite_stream(rec, key, s),
    }
    if let Some(at) = entry.expire_at() {
        let at = at.to_string();
        push_command(rec, [&b"PEXPIREAT"[..], key, at.as_bytes()].into_iter());
    }
}

/// The commands that rebuild a stream (Redis `rewriteStreamObject`): one XADD per entry with
/// its ID (an empty stream is made by an XADD trimmed to nothing), XSETID with the last ID and
/// counters, then per group an XGROUP CREATE with its read counter and, per consumer, one
/// XCLAIM ... FORCE per pending entry, or XGROUP CREATECONSUMER for a consumer owning none.
fn rewrite_stream(rec: &mut Vec<u8>, key: &[u8], s: &crate::store::Stream) {
    if s.is_empty() {
        push_command(
            rec,
            [&b"XADD"[..], key, b"MAXLEN", b"0", b"0-1", b"x", b"y"].into_iter(),
        );
    }
    for (id, fields) in s.range(StreamId::MIN, StreamId::MAX, false) {
        let id = id.to_bytes();
        let mut args: Vec<&[u8]> = vec![b"XADD", key, &id];
        args.extend(fields.iter().map(|f| &f[..]));
        push_command(rec, args.into_iter());
    }
    let last = s.last_id.to_bytes();
    let added = s.entries_added.to_string();
    let max_deleted = s.max_deleted_entry_id.to_bytes();
    push_command(
        rec,
        [
            &b"XSETID"[..],
            key,
            &last,
            b"ENTRIESADDED",
            added.as_bytes(),
            b"MAXDELETEDID",
            &max_deleted,
        ]
        .into_iter(),
    );
    for (name, group) in &s.groups {
        let last = group.last_id.to_bytes();
        let read = group.entries_read.to_string();
        push_command(
            rec,
            [
                &b"XGROUP"[..],
                b"CREATE",
                key,
                name,
                &last,
                b"ENTRIESREAD",
                read.as_bytes(),
            ]
            .into_iter(),
        );
        for (cname, consumer) in &group.consumers {
            if consumer.pel.is_empty() {
                push_command(
                    rec,
                    [&b"XGROUP"[..], b"CREATECONSUMER", key, name, cname].into_iter(),
                );
                continue;
            }
            for id in &consumer.pel {
                let Some(pending) = group.pel.get(id) else {
                    continue;
                };
                let id = id.to_bytes();
                let time = pending.delivery_time.to_string();
                let count = pending.delivery_count.to_string();
                push_command(
                    rec,
                    [
                        &b"XCLAIM"[..],
                        key,
                        name,
                        cname,
                        b"0",
                        &id,
                        b"TIME",
                        time.as_bytes(),
                        b"RETRYCOUNT",
                        count.as_bytes(),
                        b"JUSTID",
                        b"FORCE",
                    ]
                    .into_iter(),
                );
            }
        }
    }
}

pub(super) fn temp_path(path: &Path) -> PathBuf {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    dir.join(format!("temp-rewriteaof-bg-{}.aof", std::process::id()))
}

pub(super) fn sync_dir(path: &Path) -> io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    File::open(dir)?.sync_all()
}

/// Writes the copied dataset to the temp file and fsyncs it.
pub(super) fn write_base(
    temp: &Path,
    copy: &[Vec<(Vec<u8>, Entry)>],
) -> io::Result<(File, Option<usize>)> {
    let file = File::create(temp)?;
    let mut out = BufWriter::with_capacity(1 << 16, file);
    let last_db = write_dataset(&mut out, copy)?;
    let file = out.into_inner().map_err(|e| e.into_error())?;
    file.sync_data()?;
    Ok((file, last_db))
}

/// Why BGREWRITEAOF could not start.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum RewriteError {
    /// One is running already.
    InProgress,
    /// The thread could not be spawned.
    Spawn,
}

/// Starts a background rewrite of `ks`, which the caller holds under the read lock (so no
/// write is between the copy and the opening of the rewrite buffer).
pub(crate) fn start_rewrite(shared: &Shared, ks: &Keyspace) -> Result<(), RewriteError> {
    let persistence = shared.persistence.clone();
    let aof = &persistence.aof;
    if aof.rewrite_in_progress.swap(true, Ordering::AcqRel) {
        return Err(RewriteError::InProgress);
    }
    if let Some(old) = aof.thread.lock().take() {
        let _ = old.join();
    }
    let started = now_ms();
    aof.rewrite_started_ms.store(started, Ordering::Relaxed);
    let path = aof_path(&shared.config.read());
    let copy = crate::persistence::snapshot(ks, shared.clock.now_ms());
    aof.state.lock().rewrite = Some(RewriteBuffer::default());
    let state = persistence.clone();
    let spawned = thread::Builder::new()
        .name("respd-aof-rewrite".into())
        .spawn(move || {
            let result = rewrite_into_place(&state.aof, &path, &copy);
            drop(copy);
            state.aof.rewrite_done(result, started);
        });
    match spawned {
        Ok(handle) => {
            crate::notice!("Background append only file rewriting started");
            *aof.thread.lock() = Some(handle);
            Ok(())
        }
        Err(e) => {
            crate::warning!("Can't rewrite append only file in background: {e}");
            aof.state.lock().rewrite = None;
            aof.rewrite_done(Err(e), started);
            Err(RewriteError::Spawn)
        }
    }
}

/// The rewrite thread's work: base file, then (under the AOF mutex) the buffered records,
/// fsync, rename, and switch appending to the new file.
fn rewrite_into_place(aof: &Aof, path: &Path, copy: &[Vec<(Vec<u8>, Entry)>]) -> io::Result<()> {
    let temp = temp_path(path);
    let result = (|| {
        let (mut file, last_db) = write_base(&temp, copy)?;
        let mut st = aof.state.lock();
        let buffer = st.rewrite.take().unwrap_or_default();
        let finish = (|| {
            file.write_all(&buffer.bytes)?;
            file.sync_data()?;
            let rename_started = std::time::Instant::now();
            fs::rename(&temp, path)?;
            let ms = rename_started.elapsed().as_millis() as u64;
            aof.latency.record("aof-rename", ms);
            sync_dir(path)
        })();
        finish?;
        let size = file.metadata()?.len();
        st.size = size;
        st.base_size = size;
        if aof.on.load(Ordering::Relaxed) {
            // Appends go through an O_APPEND handle, so cutting a failed write off never
            // leaves the write position past the end.
            st.file = Some(Arc::new(OpenOptions::new().append(true).open(path)?));
            st.db = buffer.db.or(last_db);
            // Everything appended so far is in the new, fsynced file.
            aof.synced
                .fetch_max(aof.appended.load(Ordering::Acquire), Ordering::AcqRel);
            // Records a failed write left waiting are in the new file too: their effects
            // were in the copied dataset or their records in the rewrite buffer.
            st.pending.clear();
            if aof.write_errno.swap(0, Ordering::Relaxed) != 0 {
                crate::warning!("AOF write error looks solved, respd can write again.");
            }
        }
        Ok(())
    })();
    if result.is_err() {
        aof.state.lock().rewrite = None;
        let _ = fs::remove_file(&temp);
    }
    result
}

impl Aof {
    fn rewrite_done(&self, result: io::Result<()>, started: u64) {
        match result {
            Ok(()) => {
                crate::notice!("Background AOF rewrite finished successfully");
                self.last_rewrite_ok.store(true, Ordering::Relaxed);
                self.consecutive_failures.store(0, Ordering::Relaxed);
            }
            Err(e) => {
                crate::warning!("Background AOF rewrite failed: {e}");
                self.last_rewrite_ok.store(false, Ordering::Relaxed);
                self.consecutive_failures.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.rewrites.fetch_add(1, Ordering::Relaxed);
        let secs = (now_ms().saturating_sub(started) / 1000) as i64;
        self.last_rewrite_secs.store(secs, Ordering::Relaxed);
        self.rewrite_in_progress.store(false, Ordering::Release);
    }

    /// True while a background rewrite runs.
    pub(crate) fn rewrite_in_progress(&self) -> bool {
        self.rewrite_in_progress.load(Ordering::Acquire)
    }

    /// Waits for a running rewrite to finish (tests, CONFIG SET appendonly, shutdown).
    pub(crate) fn wait_for_rewrite(&self) {
        let handle = self.thread.lock().take();
        if let Some(h) = handle {
            let _ = h.join();
        }
    }
}
