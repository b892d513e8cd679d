//! The append-only file (AOF): every write command logged in RESP, replayed at start.
//!
//! Counterpart of Redis `aof.c` (`feedAppendOnlyFile`, `flushAppendOnlyFile`,
//! `loadSingleAppendOnlyFile`, `rewriteAppendOnlyFileBackground`, `startAppendOnly`,
//! `stopAppendOnly`) and the expiry rewriting of `propagateNow`/`rewriteClientCommandArgument`
//! callers in `t_string.c` and `expire.c`.
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
//! the same key in parallel are serialised by the lock, and so are their log records. The argv
//! is logged as sent, except that:
//! - relative expiries become absolute, as Redis propagates them, so a replay a day later
//!   gives the same deadlines: `SET .. EX/PX/EXAT` → `SET .. PXAT`, `SETEX`/`PSETEX` →
//!   `SET .. PXAT`, `EXPIRE`/`PEXPIRE`/`EXPIREAT` → `PEXPIREAT`, `GETEX EX/PX/EXAT/PXAT` →
//!   `PEXPIREAT`, `GETEX PERSIST` → `PERSIST`, a plain `GETEX` (a read) is not logged,
//!   `RESTORE key <ttl> ...` → `RESTORE key <deadline> ... ABSTTL`;
//! - SPOP (random) is logged as the SREM of the members its reply carries, so a replay
//!   removes the same ones;
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

use std::borrow::Cow;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicI64, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::thread;

use parking_lot::Mutex;

use crate::config::{AppendFsync, Config};
use crate::protocol::{Argv, Reply};
use crate::server::Shared;
use crate::store::{Entry, Keyspace, Value};
use crate::util::{eq_ci, now_ms, parse_i64, push_i64};

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
pub fn aof_path(config: &Config) -> PathBuf {
    Path::new(&config.dir).join(&config.appendfilename)
}

/// True when the AOF is on and exists: it then replaces the dump at start.
pub fn takes_precedence(config: &Config) -> bool {
    config.appendonly && aof_path(config).exists()
}

// ---------------------------------------------------------------------------------------
// Encoding records
// ---------------------------------------------------------------------------------------

fn push_command<'a>(out: &mut Vec<u8>, args: impl ExactSizeIterator<Item = &'a [u8]>) {
    out.push(b'*');
    push_i64(out, args.len() as i64);
    out.extend_from_slice(b"\r\n");
    for arg in args {
        out.push(b'$');
        push_i64(out, arg.len() as i64);
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
}

fn push_select(out: &mut Vec<u8>, db: usize) {
    let n = db.to_string();
    push_command(out, [&b"SELECT"[..], n.as_bytes()].into_iter());
}

/// How a command is logged.
enum Record<'a> {
    AsIs,
    Rewritten(Vec<Cow<'a, [u8]>>),
    Skip,
}

fn ms_arg(ms: i64) -> Cow<'static, [u8]> {
    Cow::Owned(ms.to_string().into_bytes())
}

/// The absolute deadline in ms for a relative or absolute expiry argument. `unit_ms` is 1000
/// for seconds; `relative` adds `now`. `None` if it does not parse or overflows (the handler
/// accepted it, so this does not happen; the command is then logged as is).
fn absolute(arg: &[u8], unit_ms: i64, relative: bool, now: u64) -> Option<i64> {
    let n = parse_i64(arg)?.checked_mul(unit_ms)?;
    if relative {
        n.checked_add(now as i64)
    } else {
        Some(n)
    }
}

/// The bulk strings of a reply (a bulk, or an array or set of bulks): what SPOP popped.
fn reply_bulks(mut reply: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    if matches!(reply.first(), Some(b'*' | b'~')) {
        match memchr::memchr(b'\n', reply) {
            Some(nl) => reply = &reply[nl + 1..],
            None => return out,
        }
    }
    while reply.first() == Some(&b'$') {
        let Some(nl) = memchr::memchr(b'\n', reply) else {
            break;
        };
        let Some(len) = std::str::from_utf8(&reply[1..nl - 1])
            .ok()
            .and_then(|d| d.parse::<usize>().ok())
        else {
            break; // $-1: nothing popped
        };
        let start = nl + 1;
        if start + len + 2 > reply.len() {
            break;
        }
        out.push(&reply[start..start + len]);
        reply = &reply[start + len + 2..];
    }
    out
}

/// The key and the number of elements of an `[key, [elements]]` reply (LMPOP, ZMPOP).
fn reply_key_and_count(reply: &[u8]) -> Option<(Vec<u8>, i64)> {
    let key = reply_bulks(reply).into_iter().next()?.to_vec();
    // Skip `*2\r\n$<len>\r\n<key>\r\n`, then read the inner array's length.
    let nl = memchr::memchr(b'\n', reply)?;
    let rest = &reply[nl + 1..];
    let nl = memchr::memchr(b'\n', rest)?;
    let rest = rest.get(nl + 1 + key.len() + 2..)?;
    if !matches!(rest.first(), Some(b'*')) {
        return None;
    }
    let nl = memchr::memchr(b'\r', rest)?;
    let count = std::str::from_utf8(&rest[1..nl]).ok()?.parse().ok()?;
    Some((key, count))
}

/// Rewrites relative expiries as absolute ones (see the module docs for the list), and
/// SPOP (random) as the SREM of what it popped, read from its `reply`.
fn translate<'a>(argv: &'a Argv, reply: &'a [u8], now: u64) -> Record<'a> {
    let name = &argv[0];
    // A command that changed nothing is not propagated (Redis propagates only when
    // `server.dirty` moved): a removal or an expiry that answers 0, a pop that found nothing,
    // a blocking command that blocked (its reply comes later, with its own record).
    let nothing = reply.is_empty()
        || reply == b":0\r\n"
        || reply.starts_with(b"$-1")
        || reply.starts_with(b"*-1")
        || reply.starts_with(b"_");
    let k = |s: &str| eq_ci(name, s);
    if nothing
        && ([
            "del", "unlink", "hdel", "srem", "zrem", "lrem", "persist", "expire", "pexpire",
        ]
        .iter()
        .chain(&[
            "expireat",
            "pexpireat",
            "getdel",
            "getex",
            "setnx",
            "hsetnx",
            "msetnx",
        ])
        .chain(&[
            "blpop",
            "brpop",
            "blmove",
            "brpoplpush",
            "bzpopmin",
            "bzpopmax",
        ])
        .chain(&[
            "lmpop", "blmpop", "zmpop", "bzmpop", "lpop", "rpop", "zpopmin",
        ])
        .chain(&[
            "zpopmax",
            "lmove",
            "rpoplpush",
            "smove",
            "sadd",
            "lpushx",
            "rpushx",
            "pfadd",
        ])
        .any(|c| k(c)))
    {
        return Record::Skip;
    }
    // SET NX/XX that did not set (without GET, its reply is then null).
    // A MIGRATE that deleted something propagates as its DEL (`Ctx::rewritten_argv`); one
    // that did not (COPY, NOKEY, every key refused) changed nothing here.
    if k("migrate") {
        return Record::Skip;
    }
    if k("set") && nothing && !argv.iter().skip(3).any(|a| eq_ci(a, "get")) {
        return Record::Skip;
    }
    // mirrors incrbyfloatCommand(): the result is propagated, not the increment, so a
    // replica cannot round differently.
    if k("incrbyfloat") {
        if let Some(value) = reply_bulks(reply).first() {
            return Record::Rewritten(vec![
                Cow::Borrowed(b"SET"),
                Cow::Borrowed(&argv[1]),
                Cow::Owned(value.to_vec()),
                Cow::Borrowed(b"KEEPTTL"),
            ]);
        }
    }
    if k("getdel") {
        return Record::Rewritten(vec![Cow::Borrowed(b"DEL"), Cow::Borrowed(&argv[1])]);
    }
    if k("getset") {
        let mut out: Vec<Cow<[u8]>> = (0..argv.len()).map(|i| Cow::Borrowed(&argv[i])).collect();
        out[0] = Cow::Borrowed(b"SET");
        return Record::Rewritten(out);
    }
    // Served at once, blocking commands are propagated as their non-blocking form
    // (Redis `blockingPopGenericCommand`, `blmpopGenericCommand`, `bzpopGenericCommand`).
    if k("blpop") || k("brpop") || k("bzpopmin") || k("bzpopmax") {
        let popped = reply_bulks(reply);
        if let Some(key) = popped.first() {
            let cmd: &[u8] = match name.to_ascii_lowercase().as_slice() {
                b"blpop" => b"LPOP",
                b"brpop" => b"RPOP",
                b"bzpopmin" => b"ZPOPMIN",
                _ => b"ZPOPMAX",
            };
            return Record::Rewritten(vec![Cow::Borrowed(cmd), Cow::Owned(key.to_vec())]);
        }
        return Record::Skip;
    }
    if k("blmove") {
        let mut out: Vec<Cow<[u8]>> = (0..5).map(|i| Cow::Borrowed(&argv[i])).collect();
        out[0] = Cow::Borrowed(b"LMOVE");
        return Record::Rewritten(out);
    }
    if k("brpoplpush") {
        return Record::Rewritten(vec![
            Cow::Borrowed(b"RPOPLPUSH"),
            Cow::Borrowed(&argv[1]),
            Cow::Borrowed(&argv[2]),
        ]);
    }
    if k("lmpop") || k("blmpop") || k("zmpop") || k("bzmpop") {
        // [B]LMPOP [timeout] numkeys key... LEFT|RIGHT|MIN|MAX [COUNT n]: propagated as
        // LPOP/RPOP/ZPOPMIN/ZPOPMAX key <popped>, the key and the count read from the reply
        // `[key, [elements]]`.
        let first = if k("blmpop") || k("bzmpop") { 2 } else { 1 };
        let numkeys = parse_i64(&argv[first]).unwrap_or(0).max(0) as usize;
        let side = argv
            .get(first + 1 + numkeys)
            .map(|a| a.to_ascii_lowercase());
        let cmd: &[u8] = match side.as_deref() {
            Some(b"left") => b"LPOP",
            Some(b"right") => b"RPOP",
            Some(b"min") => b"ZPOPMIN",
            _ => b"ZPOPMAX",
        };
        if let Some((key, count)) = reply_key_and_count(reply) {
            return Record::Rewritten(vec![Cow::Borrowed(cmd), Cow::Owned(key), ms_arg(count)]);
        }
        return Record::Skip;
    }
    if eq_ci(name, "spop") {
        let popped = reply_bulks(reply);
        if popped.is_empty() {
            return Record::Skip;
        }
        let mut out = vec![Cow::Borrowed(&b"SREM"[..]), Cow::Borrowed(&argv[1])];
        out.extend(popped.into_iter().map(Cow::Borrowed));
        return Record::Rewritten(out);
    }
    let arg = |i: usize| Cow::Borrowed(&argv[i]);
    if eq_ci(name, "set") {
        let mut out: Vec<Cow<[u8]>> = Vec::with_capacity(argv.len());
        let mut changed = false;
        let mut i = 0;
        while i < argv.len() {
            let a = &argv[i];
            let unit = if i >= 3 && i + 1 < argv.len() {
                if eq_ci(a, "ex") {
                    Some((1000, true))
                } else if eq_ci(a, "px") {
                    Some((1, true))
                } else if eq_ci(a, "exat") {
                    Some((1000, false))
                } else if eq_ci(a, "pxat") {
                    Some((1, false))
                } else {
                    None
                }
            } else {
                None
            };
            match unit.and_then(|(u, rel)| absolute(&argv[i + 1], u, rel, now)) {
                Some(ms) => {
                    out.push(Cow::Borrowed(b"PXAT"));
                    out.push(ms_arg(ms));
                    changed = true;
                    i += 2;
                }
                None => {
                    out.push(arg(i));
                    i += 1;
                }
            }
        }
        return if changed {
            // mirrors setGenericCommand(): with an expiry the whole command is propagated as
            // `SET key value PXAT ms`, whatever other options it had (NX, XX, GET).
            let at = out.iter().position(|a| a.as_ref() == b"PXAT").unwrap_or(3);
            Record::Rewritten(vec![
                arg(0),
                arg(1),
                arg(2),
                Cow::Borrowed(b"PXAT"),
                out[at + 1].clone(),
            ])
        } else {
            Record::AsIs
        };
    }
    let setex = if eq_ci(name, "setex") {
        Some(1000)
    } else if eq_ci(name, "psetex") {
        Some(1)
    } else {
        None
    };
    if let (Some(unit), 4) = (setex, argv.len()) {
        if let Some(ms) = absolute(&argv[2], unit, true, now) {
            return Record::Rewritten(vec![
                Cow::Borrowed(b"SET"),
                arg(1),
                arg(3),
                Cow::Borrowed(b"PXAT"),
                ms_arg(ms),
            ]);
        }
        return Record::AsIs;
    }
    let expire = if eq_ci(name, "expire") {
        Some((1000, true))
    } else if eq_ci(name, "pexpire") {
        Some((1, true))
    } else if eq_ci(name, "expireat") {
        Some((1000, false))
    } else if eq_ci(name, "pexpireat") {
        Some((1, false))
    } else {
        None
    };
    if let Some((unit, rel)) = expire {
        if let Some(ms) = absolute(&argv[2], unit, rel, now) {
            // mirrors expireGenericCommand(): a deadline already past deleted the key.
            if ms <= now as i64 {
                return Record::Rewritten(vec![Cow::Borrowed(b"DEL"), arg(1)]);
            }
            if eq_ci(name, "pexpireat") {
                return Record::AsIs;
            }
            let mut out = vec![Cow::Borrowed(&b"PEXPIREAT"[..]), arg(1), ms_arg(ms)];
            out.extend((3..argv.len()).map(arg));
            return Record::Rewritten(out);
        }
        return Record::AsIs;
    }
    // RESTORE with a relative TTL is logged with the deadline and ABSTTL (Redis
    // `restoreCommand` rewrites its argv the same way).
    if eq_ci(name, "restore") && argv.len() >= 4 {
        let absttl = argv.iter().skip(4).any(|a| eq_ci(a, "absttl"));
        if let (false, Some(ttl @ 1..)) = (absttl, parse_i64(&argv[2])) {
            if let Some(ms) = ttl.checked_add(now as i64) {
                let mut out: Vec<Cow<[u8]>> = (0..argv.len()).map(arg).collect();
                out[2] = ms_arg(ms);
                out.push(Cow::Borrowed(b"ABSTTL"));
                return Record::Rewritten(out);
            }
        }
        return Record::AsIs;
    }
    if eq_ci(name, "getex") {
        if argv.len() == 2 {
            return Record::Skip;
        }
        if argv.len() == 3 && eq_ci(&argv[2], "persist") {
            return Record::Rewritten(vec![Cow::Borrowed(b"PERSIST"), arg(1)]);
        }
        if argv.len() == 4 {
            let unit = match &argv[2] {
                a if eq_ci(a, "ex") => Some((1000, true)),
                a if eq_ci(a, "px") => Some((1, true)),
                a if eq_ci(a, "exat") => Some((1000, false)),
                a if eq_ci(a, "pxat") => Some((1, false)),
                _ => None,
            };
            if let Some(ms) = unit.and_then(|(u, rel)| absolute(&argv[3], u, rel, now)) {
                // mirrors getexCommand(): a deadline already past deleted the key.
                if ms <= now as i64 {
                    return Record::Rewritten(vec![Cow::Borrowed(b"DEL"), arg(1)]);
                }
                return Record::Rewritten(vec![Cow::Borrowed(b"PEXPIREAT"), arg(1), ms_arg(ms)]);
            }
        }
        return Record::AsIs;
    }
    Record::AsIs
}

// ---------------------------------------------------------------------------------------
// Appending
// ---------------------------------------------------------------------------------------

/// Propagates one successful write command: its record goes to the AOF and, the same bytes,
/// to the replication stream ([`crate::replication::feed`]). Called with the keyspace write
/// lock held (see the module docs for why). Costs two atomic loads when neither is on.
#[inline]
pub fn feed(ctx: &crate::cmd::Ctx, argv: &Argv, reply: &[u8]) {
    if propagating(ctx.shared) {
        feed_slow(ctx, argv, reply);
    }
}

/// True when records are wanted: the AOF is on, or a replica attached.
#[inline]
fn propagating(shared: &Shared) -> bool {
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

fn feed_slow(ctx: &crate::cmd::Ctx, argv: &Argv, reply: &[u8]) {
    // A command that rewrote itself (MIGRATE as DEL) is logged as rewritten.
    let argv = ctx.rewritten_argv.as_ref().unwrap_or(argv);
    let rewritten;
    let args: Vec<&[u8]> = match translate(argv, reply, ctx.now_ms) {
        Record::Skip => return,
        Record::AsIs => argv.iter().collect(),
        Record::Rewritten(v) => {
            rewritten = v;
            rewritten.iter().map(|c| c.as_ref()).collect()
        }
    };
    let mut body = Vec::with_capacity(64);
    push_command(&mut body, args.iter().copied());
    propagate(ctx.shared, ctx.client.db, body, ctx.in_exec);
}

/// Starts an EXEC's records afresh. Called by EXEC once it holds the keyspace write lock.
///
/// Records of a transaction are kept aside until [`exec_done`], so the file never holds a
/// MULTI whose EXEC is not written in the same `write(2)`. Nothing is left over from an
/// earlier EXEC in practice (a panic inside one ends the process, see [`crate::cmd`]); if
/// something were, it is dropped here rather than glued onto this transaction.
pub fn exec_begin(shared: &Shared) {
    crate::replication::exec_begin(shared);
    let aof = &shared.persistence.aof;
    if aof.on.load(Ordering::Relaxed) {
        aof.state.lock().exec = None;
    }
}

/// Writes the records of the EXEC that just ran as one `MULTI` ... `EXEC` record, in one
/// `write(2)`. Called by EXEC after its last command and before it releases the keyspace
/// lock, so the transaction reaches the file whole, in its place among other writes.
pub fn exec_done(shared: &Shared) {
    crate::replication::exec_done(shared);
    let aof = &shared.persistence.aof;
    if aof.on.load(Ordering::Relaxed) {
        aof.write_transaction();
    }
}

impl Aof {
    /// [`exec_done`]'s work: the kept records, wrapped in MULTI and EXEC, as one append.
    fn write_transaction(&self) {
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
    fn append_record(&self, db: usize, body: Vec<u8>, in_exec: bool) {
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
        let (mut written, error) = write_counting(&file, bytes);
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

    /// Writes the records a failed write left pending (Redis retries from `serverCron`
    /// once a second). Success clears the error, and writes are accepted again.
    fn retry_pending(&self) {
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
    fn sync(&self) {
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
            match file.sync_data() {
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
pub fn write_error(shared: &Shared) -> Option<i32> {
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
pub fn feed_served(shared: &Shared, db_index: usize, served: &[Vec<Vec<u8>>]) {
    if served.is_empty() || !propagating(shared) {
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
pub fn wait_durable(shared: &Shared) {
    let aof = &shared.persistence.aof;
    if aof.on.load(Ordering::Relaxed) && aof.policy.load(Ordering::Relaxed) == 0 {
        aof.sync();
    }
}

// ---------------------------------------------------------------------------------------
// Rewriting
// ---------------------------------------------------------------------------------------

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
    }
    if let Some(at) = entry.expire_at() {
        let at = at.to_string();
        push_command(rec, [&b"PEXPIREAT"[..], key, at.as_bytes()].into_iter());
    }
}

fn temp_path(path: &Path) -> PathBuf {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    dir.join(format!("temp-rewriteaof-bg-{}.aof", std::process::id()))
}

fn sync_dir(path: &Path) -> io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    File::open(dir)?.sync_all()
}

/// Writes the copied dataset to the temp file and fsyncs it.
fn write_base(temp: &Path, copy: &[Vec<(Vec<u8>, Entry)>]) -> io::Result<(File, Option<usize>)> {
    let file = File::create(temp)?;
    let mut out = BufWriter::with_capacity(1 << 16, file);
    let last_db = write_dataset(&mut out, copy)?;
    let file = out.into_inner().map_err(|e| e.into_error())?;
    file.sync_data()?;
    Ok((file, last_db))
}

/// Why BGREWRITEAOF could not start.
#[derive(Debug, PartialEq, Eq)]
pub enum RewriteError {
    /// One is running already.
    InProgress,
    /// The thread could not be spawned.
    Spawn,
}

/// Starts a background rewrite of `ks`, which the caller holds under the read lock (so no
/// write is between the copy and the opening of the rewrite buffer).
pub fn start_rewrite(shared: &Shared, ks: &Keyspace) -> Result<(), RewriteError> {
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
    let copy = super::snapshot(ks, started);
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
            fs::rename(&temp, path)?;
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
    pub fn rewrite_in_progress(&self) -> bool {
        self.rewrite_in_progress.load(Ordering::Acquire)
    }

    /// Waits for a running rewrite to finish (tests, CONFIG SET appendonly, shutdown).
    pub fn wait_for_rewrite(&self) {
        let handle = self.thread.lock().take();
        if let Some(h) = handle {
            let _ = h.join();
        }
    }
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
        let copy = super::snapshot(&shared.store.read(), now_ms());
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
pub fn info_fields(shared: &Shared, mut put: impl FnMut(&str, String)) {
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

// ---------------------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------------------

/// What the parser found at some offset.
enum Parsed {
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

fn parse_command(data: &[u8], at: usize) -> Parsed {
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

/// A client of its own for the replay. The client type carries a socket (for CLIENT LIST
/// and for waking it), so a connected loopback pair stands in; it is registered in a private
/// registry, so no one sees it.
fn replay_client() -> io::Result<(crate::client::Client, std::net::TcpStream)> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let stream = std::net::TcpStream::connect(listener.local_addr()?)?;
    let (peer, _) = listener.accept()?;
    let registry = crate::client::ClientRegistry::new();
    let handle = registry.register(&stream, now_ms())?;
    Ok((crate::client::Client::new(handle), peer))
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
        changes: None,
        rewritten_argv: None,
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
    let (mut client, _peer) =
        replay_client().map_err(|e| format!("Can't create the AOF loading client: {e}"))?;
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
    let now = now_ms();
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

    fn render(argv: &[&str], now: u64) -> Vec<String> {
        let argv = Argv::from_args(argv.iter().copied());
        // A reply that says the command did something (an empty one means it blocked).
        match translate(&argv, b"+OK\r\n", now) {
            Record::AsIs => argv
                .iter()
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect(),
            Record::Rewritten(v) => v
                .iter()
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect(),
            Record::Skip => vec![],
        }
    }

    #[test]
    fn relative_expiries_become_absolute() {
        assert_eq!(
            render(&["set", "k", "v", "EX", "10", "NX"], 1000),
            // As Redis setGenericCommand(): with an expiry, exactly `SET key value PXAT ms`.
            ["set", "k", "v", "PXAT", "11000"]
        );
        assert_eq!(
            render(&["SET", "k", "v", "px", "5"], 1000),
            ["SET", "k", "v", "PXAT", "1005"]
        );
        assert_eq!(
            render(&["set", "k", "v", "exat", "7"], 1000),
            ["set", "k", "v", "PXAT", "7000"]
        );
        // A key or value spelled like an option is not one.
        assert_eq!(render(&["set", "ex", "px"], 1000), ["set", "ex", "px"]);
        assert_eq!(
            render(&["setex", "k", "2", "v"], 1000),
            ["SET", "k", "v", "PXAT", "3000"]
        );
        assert_eq!(
            render(&["psetex", "k", "2", "v"], 1000),
            ["SET", "k", "v", "PXAT", "1002"]
        );
        assert_eq!(
            render(&["expire", "k", "3", "NX"], 1000),
            ["PEXPIREAT", "k", "4000", "NX"]
        );
        assert_eq!(
            render(&["expireat", "k", "3"], 1000),
            ["PEXPIREAT", "k", "3000"]
        );
        assert_eq!(
            render(&["getex", "k", "PX", "3"], 1000),
            ["PEXPIREAT", "k", "1003"]
        );
        assert_eq!(render(&["getex", "k", "persist"], 1000), ["PERSIST", "k"]);
        assert!(render(&["getex", "k"], 1000).is_empty());
    }

    #[test]
    fn spop_is_logged_as_the_srem_of_what_it_popped() {
        let argv = Argv::from_args(["spop", "s", "2"]);
        let got = |reply: &[u8]| match translate(&argv, reply, 0) {
            Record::Rewritten(v) => v.iter().map(|a| a.to_vec()).collect::<Vec<_>>(),
            Record::Skip => vec![],
            Record::AsIs => panic!("SPOP logged as is"),
        };
        let srem = |m: &[&str]| {
            let mut v = vec![b"SREM".to_vec(), b"s".to_vec()];
            v.extend(m.iter().map(|m| m.as_bytes().to_vec()));
            v
        };
        assert_eq!(got(b"$1\r\na\r\n"), srem(&["a"]));
        assert_eq!(got(b"*2\r\n$1\r\na\r\n$2\r\nbc\r\n"), srem(&["a", "bc"]));
        assert_eq!(got(b"~1\r\n$1\r\na\r\n"), srem(&["a"]));
        assert!(got(b"$-1\r\n").is_empty());
        assert!(got(b"*0\r\n").is_empty());
        assert!(got(b"_\r\n").is_empty());
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
