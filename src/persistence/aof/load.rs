//! Loading: replaying the file at start through a client of its own, with the checks that
//! refuse a corrupt file and the repair of a torn last record.

use super::*;

/// What the parser found at some offset.
pub(crate) enum Parsed {
    /// A whole command and the offset just after it.
    Command(Argv, usize),
    /// The file ends inside the command starting here.
    Truncated,
    /// Not RESP: the offset of the bad byte.
    Garbage(usize),
}

/// Reads `<prefix><digits>\r\n` at `at`. `Err(None)` = the data ends first,
/// `Err(Some(offset))` = malformed.
fn read_len(data: &[u8], at: usize, prefix: u8) -> Result<(usize, usize), Option<usize>> {
    match data.get(at) {
        None => return Err(None),
        Some(&b) if b != prefix => return Err(Some(at)),
        _ => {}
    }
    let rest = &data[at + 1..];
    let Some(cr) = memchr::memchr(b'\r', rest) else {
        // Digits running to the end of the file: a torn header, unless not digits at all.
        return match rest.iter().position(|b| !b.is_ascii_digit()) {
            Some(p) => Err(Some(at + 1 + p)),
            None => Err(None),
        };
    };
    let digits = &rest[..cr];
    let n = std::str::from_utf8(digits)
        .ok()
        .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|d| d.parse::<usize>().ok())
        .ok_or(Some(at + 1))?;
    match rest.get(cr + 1) {
        None => Err(None),
        Some(b'\n') => Ok((n, at + 1 + cr + 2)),
        Some(_) => Err(Some(at + 1 + cr + 1)),
    }
}

pub(crate) fn parse_command(data: &[u8], at: usize) -> Parsed {
    let wrap = |e: Option<usize>| match e {
        None => Parsed::Truncated,
        Some(o) => Parsed::Garbage(o),
    };
    let (argc, mut pos) = match read_len(data, at, b'*') {
        Ok(v) => v,
        Err(e) => return wrap(e),
    };
    if argc == 0 {
        return Parsed::Garbage(at);
    }
    let mut argv = Argv::new();
    for _ in 0..argc {
        let (len, start) = match read_len(data, pos, b'$') {
            Ok(v) => v,
            Err(e) => return wrap(e),
        };
        let end = start.saturating_add(len);
        if end.saturating_add(2) > data.len() {
            return Parsed::Truncated;
        }
        if &data[end..end + 2] != b"\r\n" {
            return Parsed::Garbage(end);
        }
        argv.push(&data[start..end]);
        pos = end + 2;
    }
    Parsed::Command(argv, pos)
}

/// Runs one replayed command through the command table.
fn replay_one(
    shared: &Shared,
    client: &mut crate::client::Client,
    argv: &Argv,
    reply: &mut Reply,
) -> Result<(), String> {
    let (spec, parent) = crate::cmd::resolve(argv).map_err(|_| {
        format!(
            "Unknown command '{}' reading the append only file",
            String::from_utf8_lossy(&argv[0])
        )
    })?;
    let mut ctx = crate::cmd::Ctx {
        now_ms: REPLAY_CLOCK_MS,
        shared,
        client,
        // Blocking commands answer at once, as inside EXEC.
        in_exec: true,
        in_script: false,
        changes: None,
        effects: crate::cmd::Effects::AsCalled,
        redacted: Vec::new(),
        loading: true,
    };
    crate::cmd::run_command(&mut ctx, spec, parent, argv, reply, None);
    reply.truncate(0);
    Ok(())
}

/// Replays the AOF into the store. A torn tail is cut off (with `aof-load-truncated yes`);
/// anything else wrong is an error naming the file and the byte offset.
pub fn load(shared: &Shared, path: &Path, truncated_ok: bool) -> Result<(), String> {
    let data =
        fs::read(path).map_err(|e| format!("Can't read the AOF file {}: {e}", path.display()))?;
    if data.starts_with(b"REDIS") {
        return Err(format!(
            "The AOF file {} starts with an RDB preamble, which respd does not read (aof-use-rdb-preamble). Exiting.",
            path.display()
        ));
    }
    let started = std::time::Instant::now();
    // A client of its own with no connection (Redis `createAOFClient`). It is in no
    // registry, so no one sees it, and its id is never shown.
    let handle = crate::client::ClientHandle::internal(0, shared.clock.now_ms());
    let mut client = crate::client::Client::internal(handle);
    let mut reply = Reply::new();
    // Commands of an open MULTI, applied when its EXEC is read.
    let mut pending: Option<(usize, Vec<Argv>)> = None;
    let mut commands = 0u64;
    let mut at = 0;
    let cut = loop {
        if at == data.len() {
            break pending.as_ref().map(|(start, _)| *start);
        }
        match parse_command(&data, at) {
            Parsed::Command(argv, next) => {
                let name = &argv[0];
                if eq_ci(name, "multi") {
                    // mirrors loadSingleAppendOnlyFile(): a MULTI inside an open one does
                    // not drop the commands queued so far (they run at the next EXEC, as
                    // Redis runs them); only the cut point moves to it, Redis's
                    // `valid_before_multi`. respd never writes such a file: each
                    // transaction goes in whole, with one write.
                    match pending.as_mut() {
                        Some((start, _)) => *start = at,
                        None => pending = Some((at, Vec::new())),
                    }
                } else if eq_ci(name, "exec") {
                    for queued in pending.take().map(|(_, q)| q).unwrap_or_default() {
                        replay_one(shared, &mut client, &queued, &mut reply)
                            .map_err(|e| format!("{e} {} at byte offset {at}. Exiting.", path.display()))?;
                    }
                } else if let Some((_, queued)) = pending.as_mut() {
                    queued.push(argv);
                } else {
                    replay_one(shared, &mut client, &argv, &mut reply)
                        .map_err(|e| format!("{e} {} at byte offset {at}. Exiting.", path.display()))?;
                }
                commands += 1;
                at = next;
            }
            Parsed::Truncated => break Some(pending.as_ref().map_or(at, |(start, _)| *start)),
            Parsed::Garbage(offset) => {
                return Err(format!(
                    "Bad file format reading the append only file {}: unexpected byte at offset {offset} (the command starts at offset {at}). Make a backup of your AOF file, then use redis-check-aof --fix <filename> or cut the file at that offset. Exiting.",
                    path.display()
                ))
            }
        }
    };
    if let Some(cut) = cut {
        if !truncated_ok {
            return Err(format!(
                "Unexpected end of file reading the append only file {} at byte offset {cut}; aof-load-truncated is off. Exiting.",
                path.display()
            ));
        }
        crate::warning!(
            "!!! Warning: short read while loading the AOF file {}!!!",
            path.display()
        );
        if let Some((start, queued)) = pending.as_ref() {
            // Only ever the file's tail: the EOF was reached inside this MULTI.
            crate::warning!(
                "Revert incomplete MULTI/EXEC transaction in AOF file {} ({} commands from byte offset {start})",
                path.display(),
                queued.len()
            );
        }
        OpenOptions::new()
            .write(true)
            .open(path)
            .and_then(|f| f.set_len(cut as u64).and_then(|()| f.sync_all()))
            .map_err(|e| format!("Can't truncate the AOF file {}: {e}", path.display()))?;
        crate::warning!(
            "AOF {} loaded anyway because aof-load-truncated is enabled: cut from {} to {cut} bytes, after the last whole command",
            path.display(),
            data.len()
        );
    }
    // The replay ran with its clock at 0, so every key's access time says "long ago": set
    // them to now, as a load in Redis leaves them.
    let now = shared.clock.now_ms();
    for db in shared.store.read().dbs() {
        for (key, _) in db.iter() {
            let _ = db.get(key, now); // records the access
        }
    }
    // Replayed writes were counted as changes; they are on disk already.
    shared.persistence.dirty.store(0, Ordering::Relaxed);
    crate::notice!(
        "DB loaded from append only file: {:.3} seconds ({commands} commands)",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
