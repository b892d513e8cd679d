//! MIGRATE: move (or copy) keys to another server, as DUMP here and RESTORE there.
//!
//! Counterpart of Redis `src/cluster.c` `migrateCommand` and its socket cache
//! (`migrateGetSocket`, `migrateCloseSocket`, `migrateCloseTimedoutSockets`).
//!
//! # What goes over the wire
//! For each call, one pipeline on a connection to `host:port`:
//! ```text
//! AUTH password | AUTH username password      if AUTH / AUTH2 was given
//! SELECT destination-db                       if the connection's last database differs
//! RESTORE key ttl payload [REPLACE]           one per key found here (not RESTORE-ASKING:
//!                                             Redis sends that only in cluster mode)
//! ```
//! The payload is [`rdb::dump_payload`]'s, the same bytes DUMP replies, so respd and Redis 7.0
//! migrate to each other both ways. Then one reply line per command is read. A key whose
//! RESTORE answered `+OK` is deleted here (unless COPY), and the deletion is propagated to the
//! AOF and the replicas as `DEL key ...`, only for those keys, as Redis rewrites the command
//! (`replaceClientCommandVector`). The first error the target sent is the reply, prefixed
//! `ERR Target instance replied with error: `.
//!
//! # The connection cache
//! Connections are kept per `host:port` text (at most 64; past that a random one is closed)
//! and remember the database last SELECTed, so a run of MIGRATEs to one server costs one
//! connect and one SELECT. The cron closes those idle for more than 10 seconds
//! ([`SocketCache::close_idle`]). A connection that failed is dropped, and after a failure
//! that cannot have reached the target (a write error, or no reply at all to the first
//! command, and not a timeout) MIGRATE reconnects and tries once more, as Redis does: a cached
//! connection the target closed in the meantime is the common case.
//!
//! # Blocking, as in Redis
//! Redis runs MIGRATE to completion inside its event loop: nothing else runs until the target
//! answered or the timeout passed. respd keeps those semantics: the handler runs under the
//! keyspace write lock like every write command, so the keys cannot change between the DUMP
//! and the DEL, and every other command waits. Every step is bounded by `timeout`
//! (milliseconds, 1000 if 0 or negative): the connect, each write and each reply read, each
//! against its own deadline as Redis's `connSyncWrite` / `connSyncReadLine` are. So a MIGRATE
//! to a dead or silent server holds the server for at most a few times `timeout`, and a
//! MIGRATE to this same server times out (its RESTORE waits for the lock) with `IOERR`, as it
//! does in Redis. The cached connections are taken out of the cache while in use, so the cron
//! never waits on one.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::{CmdError, CmdResult, CommandSpec, Ctx, Flags, Group, Handler, KeySpec};
use crate::persistence::rdb;
use crate::protocol::{Argv, Reply};
use crate::store::Db;
use crate::util::{eq_ci, parse_i64};

/// MIGRATE's row of the command table (Redis puts it in the generic group). Flags, arity and
/// key positions are Redis 7.0's, as `COMMAND INFO` reports them.
#[rustfmt::skip]
pub(crate) static COMMANDS: &[CommandSpec] = &[CommandSpec::new("migrate", -6, Flags::WRITE.union(Flags::MOVABLEKEYS), KeySpec::new(3, 3, 1), Group::Generic, Handler::Write(migrate))];

/// At most this many cached connections (Redis `MIGRATE_SOCKET_CACHE_ITEMS`).
const CACHE_ITEMS: usize = 64;
/// A cached connection unused for longer is closed by the cron (Redis
/// `MIGRATE_SOCKET_CACHE_TTL`, 10 seconds).
const CACHE_TTL: Duration = Duration::from_secs(10);
/// Redis reads each reply line into a 1024-byte buffer: at most 1023 bytes of a target's
/// error are quoted.
const REPLY_LINE_MAX: usize = 1023;

const KEYS_NEED_EMPTY_KEY: CmdError = CmdError::msg(
    "ERR When using MIGRATE KEYS option, the key argument must be set to the empty string",
);
const CONNECT_FAILED: CmdError = CmdError::msg("IOERR error or timeout connecting to the client");
// Redis formats both as "... %s to target instance": "reading to" is its wording.
const WRITE_FAILED: &str = "IOERR error or timeout writing to target instance";
const READ_FAILED: &str = "IOERR error or timeout reading to target instance";
const TARGET_ERROR_PREFIX: &[u8] = b"ERR Target instance replied with error: ";

/// One cached connection to a target.
struct CachedSocket {
    stream: BufReader<TcpStream>,
    /// The database last SELECTed on it, `None` when unknown (new, or after an error).
    last_db: Option<i64>,
    last_use: Instant,
}

/// The cached connections, keyed by the `host:port` text as given.
#[derive(Default)]
pub struct SocketCache {
    idle: Mutex<HashMap<Vec<u8>, CachedSocket>>,
}

impl std::fmt::Debug for SocketCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SocketCache({} cached)", self.len())
    }
}

impl SocketCache {
    /// Closes the connections unused for more than 10 seconds (Redis
    /// `migrateCloseTimedoutSockets`, called from the cron).
    pub(crate) fn close_idle(&self) {
        let mut idle = self.idle.lock();
        if !idle.is_empty() {
            idle.retain(|_, socket| socket.last_use.elapsed() <= CACHE_TTL);
        }
    }

    /// How many connections are cached.
    pub fn len(&self) -> usize {
        self.idle.lock().len()
    }

    /// True when no connection is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Takes the cached connection to `name`, or connects (Redis `migrateGetSocket`). The
    /// connection is out of the cache until [`SocketCache::put_back`].
    ///
    /// Only a host that does not resolve is `IOERR ... connecting`: Redis 7.0's connect is
    /// non-blocking and reports success once the socket exists, so a refused or timed-out
    /// connection shows up as the first write's failure (`Ok(Err(..))` here), which is
    /// retried once unless it timed out and then answers `IOERR ... writing`. Checked
    /// against Redis 7.0.15 (a closed port answers the "writing" error).
    fn take_or_connect(
        &self,
        name: &[u8],
        host: &[u8],
        port: u16,
        timeout: Duration,
    ) -> Result<Result<CachedSocket, SocketError>, CmdError> {
        if let Some(mut socket) = self.idle.lock().remove(name) {
            socket.last_use = Instant::now();
            return Ok(Ok(socket));
        }
        let stream = match connect(host, port, timeout)? {
            Ok(stream) => stream,
            Err(why) => return Ok(Err(why)),
        };
        let _ = stream.set_nodelay(true);
        Ok(Ok(CachedSocket {
            stream: BufReader::new(stream),
            last_db: None,
            last_use: Instant::now(),
        }))
    }

    /// Returns a healthy connection to the cache, closing a random other one if the cache is
    /// full (Redis drops one with `dictGetRandomKey`; the map's order is as good).
    fn put_back(&self, name: &[u8], socket: CachedSocket) {
        let mut idle = self.idle.lock();
        if idle.len() >= CACHE_ITEMS && !idle.contains_key(name) {
            if let Some(victim) = idle.keys().next().cloned() {
                idle.remove(&victim);
            }
        }
        idle.insert(name.to_vec(), socket);
    }
}

/// Connects to `host:port` within `timeout` per address tried (Redis `connBlockingConnect`).
/// `Err` if the host does not resolve; `Ok(Err(..))` if no address accepted the connection.
fn connect(
    host: &[u8],
    port: u16,
    timeout: Duration,
) -> Result<Result<TcpStream, SocketError>, CmdError> {
    let host = std::str::from_utf8(host).map_err(|_| CONNECT_FAILED)?;
    let addrs: Vec<_> = (host, port)
        .to_socket_addrs()
        .map_err(|_| CONNECT_FAILED)?
        .collect();
    if addrs.is_empty() {
        return Err(CONNECT_FAILED);
    }
    let mut why = SocketError::Failed;
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(stream) => return Ok(Ok(stream)),
            Err(e) => why = SocketError::of(&e),
        }
    }
    Ok(Err(why))
}

/// The port as Redis reads it, with C `atoi`: leading digits, anything else 0 (a port that
/// cannot be connected to, so `IOERR`).
fn atoi_port(arg: &[u8]) -> u16 {
    let digits = arg.iter().take_while(|b| b.is_ascii_digit()).take(6);
    let value = digits.fold(0u32, |v, &b| v * 10 + u32::from(b - b'0'));
    u16::try_from(value).unwrap_or(0)
}

/// MIGRATE's options after `host port key destination-db timeout`.
#[derive(Debug, Default, PartialEq)]
struct MigrateOptions<'a> {
    copy: bool,
    replace: bool,
    username: Option<&'a [u8]>,
    password: Option<&'a [u8]>,
    /// Index of the first key and how many: the `key` argument, or the ones after KEYS.
    first_key: usize,
    num_keys: usize,
}

/// Parses the options in Redis's order: each keyword as met, AUTH/AUTH2 missing their
/// arguments are syntax errors, KEYS takes every argument after it.
/// The positions of the passwords and user names go to `redacted` as they are met (Redis
/// `redactClientCommandArgument`), so a later syntax error still hides them.
fn parse_options<'a>(
    argv: &'a Argv,
    redacted: &mut Vec<usize>,
) -> Result<MigrateOptions<'a>, CmdError> {
    let mut opts = MigrateOptions {
        first_key: 3,
        num_keys: 1,
        ..Default::default()
    };
    let mut j = 6;
    while j < argv.len() {
        let more = argv.len() - 1 - j;
        let arg = &argv[j];
        if eq_ci(arg, "copy") {
            opts.copy = true;
        } else if eq_ci(arg, "replace") {
            opts.replace = true;
        } else if eq_ci(arg, "auth") {
            if more < 1 {
                return Err(CmdError::Syntax);
            }
            j += 1;
            redacted.push(j);
            opts.password = Some(&argv[j]);
        } else if eq_ci(arg, "auth2") {
            if more < 2 {
                return Err(CmdError::Syntax);
            }
            redacted.extend([j + 1, j + 2]);
            opts.username = Some(&argv[j + 1]);
            opts.password = Some(&argv[j + 2]);
            j += 2;
        } else if eq_ci(arg, "keys") {
            if !argv[3].is_empty() {
                return Err(KEYS_NEED_EMPTY_KEY);
            }
            opts.first_key = j + 1;
            opts.num_keys = argv.len() - j - 1;
            break;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    Ok(opts)
}

/// Appends one command in RESP to `out`.
fn push_command<'a>(out: &mut Vec<u8>, args: impl ExactSizeIterator<Item = &'a [u8]>) {
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
}

/// Why talking to the target failed.
#[derive(Debug, Clone, Copy, PartialEq)]
enum SocketError {
    /// The deadline passed: never retried (Redis checks `errno != ETIMEDOUT`).
    Timeout,
    /// Anything else: closed by the peer, reset, ...
    Failed,
}

impl SocketError {
    fn of(e: &std::io::Error) -> SocketError {
        match e.kind() {
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => SocketError::Timeout,
            _ => SocketError::Failed,
        }
    }
}

/// Writes `buf` within `timeout` (Redis `connSyncWrite`, which it calls per 64 KiB chunk;
/// here the whole pipeline shares one deadline per 64 KiB as well).
fn write_all(stream: &mut TcpStream, buf: &[u8], timeout: Duration) -> Result<(), SocketError> {
    for chunk in buf.chunks(64 * 1024) {
        let deadline = Instant::now() + timeout;
        let mut rest = chunk;
        while !rest.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(SocketError::Timeout);
            }
            stream
                .set_write_timeout(Some(left))
                .map_err(|e| SocketError::of(&e))?;
            match stream.write(rest) {
                Ok(0) => return Err(SocketError::Failed),
                Ok(n) => rest = &rest[n..],
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(SocketError::of(&e)),
            }
        }
    }
    Ok(())
}

/// Reads one reply line within `timeout`, without its CR LF (Redis `connSyncReadLine`).
/// A line longer than Redis's buffer is read whole and cut to what Redis would quote.
fn read_line(stream: &mut BufReader<TcpStream>, timeout: Duration) -> Result<Vec<u8>, SocketError> {
    let deadline = Instant::now() + timeout;
    let mut line = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(SocketError::Timeout);
        }
        stream
            .get_ref()
            .set_read_timeout(Some(left))
            .map_err(|e| SocketError::of(&e))?;
        let available = match stream.fill_buf() {
            Ok([]) => return Err(SocketError::Failed),
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(SocketError::of(&e)),
        };
        if let Some(at) = memchr::memchr(b'\n', available) {
            line.extend_from_slice(&available[..at]);
            stream.consume(at + 1);
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            line.truncate(REPLY_LINE_MAX);
            return Ok(line);
        }
        let n = available.len();
        line.extend_from_slice(available);
        stream.consume(n);
        // A reply line is short; a target sending megabytes without a newline is not one.
        if line.len() > 1 << 20 {
            return Err(SocketError::Failed);
        }
    }
}

/// One key to send: its name, relative TTL for RESTORE (0 for none) and DUMP payload.
struct Outgoing<'a> {
    key: &'a [u8],
    ttl_ms: u64,
    payload: Vec<u8>,
}

/// How one attempt at the exchange ended.
enum Attempt {
    /// Every reply read. `error` is the first error line from the target, if any; `restored`
    /// tells, per key, whether its RESTORE succeeded.
    Done {
        error: Option<Vec<u8>>,
        restored: Vec<bool>,
    },
    /// Writing failed.
    WriteFailed(SocketError),
    /// Reading failed after `read` RESTORE replies (those are in `restored`).
    ReadFailed {
        why: SocketError,
        error: Option<Vec<u8>>,
        restored: Vec<bool>,
    },
}

/// Sends the pipeline and reads the replies (the middle of Redis `migrateCommand`).
fn exchange(
    socket: &mut CachedSocket,
    opts: &MigrateOptions,
    db: i64,
    keys: &[Outgoing],
    timeout: Duration,
) -> Attempt {
    let select = socket.last_db != Some(db);
    let mut pipeline = Vec::new();
    if let Some(password) = opts.password {
        let auth: &[u8] = b"AUTH";
        match opts.username {
            Some(user) => push_command(&mut pipeline, [auth, user, password].into_iter()),
            None => push_command(&mut pipeline, [auth, password].into_iter()),
        }
    }
    if select {
        let db_text = db.to_string();
        push_command(
            &mut pipeline,
            [&b"SELECT"[..], db_text.as_bytes()].into_iter(),
        );
    }
    for k in keys {
        let ttl = k.ttl_ms.to_string();
        let mut args: Vec<&[u8]> = vec![b"RESTORE", k.key, ttl.as_bytes(), &k.payload];
        if opts.replace {
            args.push(b"REPLACE");
        }
        push_command(&mut pipeline, args.into_iter());
    }
    if let Err(why) = write_all(socket.stream.get_mut(), &pipeline, timeout) {
        return Attempt::WriteFailed(why);
    }
    let no_replies = |why| Attempt::ReadFailed {
        why,
        error: None,
        restored: Vec::new(),
    };
    // The AUTH and SELECT replies are read first; their error wins over any RESTORE's.
    let mut error = None;
    if opts.password.is_some() {
        match read_line(&mut socket.stream, timeout) {
            Ok(line) if line.first() == Some(&b'-') => error = Some(line),
            Ok(_) => {}
            Err(why) => return no_replies(why),
        }
    }
    if select {
        match read_line(&mut socket.stream, timeout) {
            Ok(line) if line.first() == Some(&b'-') && error.is_none() => error = Some(line),
            Ok(_) => {}
            Err(why) => return no_replies(why),
        }
    }
    let auth_or_select_failed = error.is_some();
    let mut restored = Vec::with_capacity(keys.len());
    for _ in keys {
        match read_line(&mut socket.stream, timeout) {
            Ok(line) => {
                let failed = line.first() == Some(&b'-');
                // mirrors migrateCommand(): after a failed AUTH or SELECT no key counts as
                // moved, whatever its RESTORE answered.
                restored.push(!failed && !auth_or_select_failed);
                if failed && error.is_none() {
                    error = Some(line);
                }
            }
            Err(why) => {
                // mirrors migrateCommand(): an AUTH or SELECT error counts only once a
                // RESTORE reply was read; with none read the attempt may be retried.
                let error = if restored.is_empty() { None } else { error };
                return Attempt::ReadFailed {
                    why,
                    error,
                    restored,
                };
            }
        }
    }
    Attempt::Done { error, restored }
}

/// ```text
/// MIGRATE host port key|"" destination-db timeout [COPY] [REPLACE] [AUTH password]
///         [AUTH2 username password] [KEYS key [key ...]]
/// ```
/// `+OK` once the target restored every key found here; `+NOKEY` if none of the keys exists
/// here (nothing is sent). Keys the target restored are deleted here unless COPY. See the
/// module docs for the exchange, the connection cache and why the server waits meanwhile.
///
/// Errors, in Redis's order: `Syntax` for an unknown option or AUTH/AUTH2 without their
/// arguments; `ERR When using MIGRATE KEYS option, ...` when KEYS comes with a non-empty key;
/// `NotInteger` for the timeout, then the database; `IOERR error or timeout connecting to
/// the client`; `IOERR error or timeout writing to target instance` / `reading to target
/// instance` (Redis's wording); `ERR Target instance replied with error: <its error>` (the
/// AUTH error, else the SELECT error, else the first RESTORE error). Checked against Redis
/// 7.0.15.
pub fn migrate(ctx: &mut Ctx, db: &mut Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let opts = parse_options(argv, &mut ctx.redacted)?;
    let timeout = parse_i64(&argv[5]).ok_or(CmdError::NotInteger)?;
    let target_db = parse_i64(&argv[4]).ok_or(CmdError::NotInteger)?;
    let timeout = Duration::from_millis(if timeout <= 0 { 1000 } else { timeout as u64 });
    ctx.changes = Some(0);

    // Redis `lookupKeyRead` on each key: expired ones are deleted and count as missing.
    let now = ctx.now_ms;
    let compression = ctx.shared.config.read().rdbcompression;
    let mut outgoing = Vec::with_capacity(opts.num_keys);
    for key in argv.iter().skip(opts.first_key).take(opts.num_keys) {
        db.expire_if_needed(key, now);
        let Some(value) = ctx.lookup_read(db, key) else {
            continue;
        };
        let payload = rdb::dump_payload(value, compression);
        let ttl_ms = db
            .peek(key, now)
            .and_then(|entry| entry.expire_at())
            .map_or(0, |at| at.saturating_sub(now).max(1));
        outgoing.push(Outgoing {
            key,
            ttl_ms,
            payload,
        });
    }
    if outgoing.is_empty() {
        reply.simple("NOKEY");
        return Ok(());
    }

    let cache = &ctx.shared.migrate_sockets;
    let mut name = argv[1].to_vec();
    name.push(b':');
    name.extend_from_slice(&argv[2]);
    let port = atoi_port(&argv[2]);
    let mut may_retry = true;
    let (error, restored, io_error) = loop {
        let attempt = match cache.take_or_connect(&name, &argv[1], port, timeout)? {
            Ok(mut socket) => {
                let attempt = exchange(&mut socket, &opts, target_db, &outgoing, timeout);
                if let Attempt::Done { error, .. } = &attempt {
                    // On an error the database selected there is no longer known.
                    socket.last_db = if error.is_some() {
                        None
                    } else {
                        Some(target_db)
                    };
                    cache.put_back(&name, socket);
                }
                // Otherwise the failed connection is dropped (Redis `migrateCloseSocket`).
                attempt
            }
            Err(why) => Attempt::WriteFailed(why),
        };
        match attempt {
            Attempt::Done { error, restored } => break (error, restored, None),
            // Nothing can have been restored: reconnect and try once more, unless it timed out.
            Attempt::WriteFailed(why) if may_retry && why != SocketError::Timeout => {}
            Attempt::ReadFailed {
                why,
                error: None,
                restored,
            } if restored.is_empty() && may_retry && why != SocketError::Timeout => {}
            Attempt::WriteFailed(_) => break (None, Vec::new(), Some(WRITE_FAILED)),
            Attempt::ReadFailed {
                error, restored, ..
            } => break (error, restored, Some(READ_FAILED)),
        }
        may_retry = false;
    };

    let mut deleted = Argv::from_args(["DEL"]);
    if !opts.copy {
        for (k, _) in outgoing.iter().zip(&restored).filter(|(_, ok)| **ok) {
            db.delete(k.key, now);
            db.notify(crate::notify::GENERIC, "del", k.key);
            deleted.push(k.key);
        }
    }
    if deleted.len() > 1 {
        ctx.changes = Some(deleted.len() as u64 - 1);
        ctx.propagate_as(deleted);
    } else {
        // COPY, NOKEY, or every key refused: nothing changed here.
        ctx.propagate_nothing();
    }
    match (error, io_error) {
        (Some(line), _) => {
            let mut message = TARGET_ERROR_PREFIX.to_vec();
            message.extend_from_slice(&line[1..]);
            reply.error(&message);
        }
        // Not returned as an Err: the keys restored before the failure are deleted and their
        // DEL must still be propagated.
        (None, Some(io_error)) => reply.error(io_error.as_bytes()),
        (None, None) => reply.ok(),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Argv {
        Argv::from_args(line.split(' ').map(|a| if a == "\"\"" { "" } else { a }))
    }

    #[test]
    fn options_parse_as_redis() {
        let argv = args("migrate h 1 k 0 10 copy REPLACE auth2 u p");
        let opts = parse_options(&argv, &mut Vec::new()).unwrap();
        assert!(opts.copy && opts.replace);
        assert_eq!(opts.username, Some(&b"u"[..]));
        assert_eq!(opts.password, Some(&b"p"[..]));
        assert_eq!((opts.first_key, opts.num_keys), (3, 1));

        let argv = args("migrate h 1 \"\" 0 10 keys a b c");
        let opts = parse_options(&argv, &mut Vec::new()).unwrap();
        assert_eq!((opts.first_key, opts.num_keys), (7, 3));

        for bad in [
            "migrate h 1 k 0 10 auth",
            "migrate h 1 k 0 10 auth2 u",
            "migrate h 1 k 0 10 bogus",
        ] {
            assert_eq!(
                parse_options(&args(bad), &mut Vec::new()),
                Err(CmdError::Syntax),
                "{bad}"
            );
        }
        assert_eq!(
            parse_options(&args("migrate h 1 k 0 10 keys a"), &mut Vec::new()),
            Err(KEYS_NEED_EMPTY_KEY)
        );
    }

    #[test]
    fn port_is_read_like_atoi() {
        assert_eq!(atoi_port(b"6379"), 6379);
        assert_eq!(atoi_port(b"12ab"), 12);
        assert_eq!(atoi_port(b"x"), 0);
        assert_eq!(atoi_port(b"999999"), 0);
    }
}
