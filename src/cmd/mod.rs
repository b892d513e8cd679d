//! The command table and dispatch.
//!
//! Counterpart of Redis `server.c` (`processCommand`, `call`) and the generated command table
//! (`commands.c`).
//!
//! Every command respd implements is one [`CommandSpec`] row in a per-group table
//! (`string::COMMANDS`, `generic::COMMANDS`, ...; one file per Redis command group). The rows are
//! gathered once into one lookup map, and that map alone drives:
//! - dispatch (which handler runs),
//! - arity errors (`arity` follows Redis's rule: `N` exactly N arguments, `-N` at least N,
//!   counting the command name),
//! - the lock each command takes (the [`Handler`] variant *is* the lock kind),
//! - COMMAND, COMMAND INFO / DOCS / COUNT / LIST output (flags are printed with Redis's names).
//!
//! A row is one line, as in Redis's `commands.c`: name, arity, flags, key positions, group,
//! handler (`CommandSpec::new("get", 2, RO_FAST, KeySpec::ONE, Group::String,
//! Handler::Read(get))`); the tables are kept out of rustfmt so that they stay one row a
//! line. What COMMAND DOCS prints (summary, complexity, arguments, history) is not repeated
//! here: it is generated from Redis's command descriptions into [`command_docs`], and a test
//! checks that every row's arity, flags, group and keys agree with them.
//!
//! No other list of command names exists in the code.
//!
//! # When a command panics
//!
//! A panic is a bug in respd. What matters is what it leaves behind, and the rule is:
//!
//! - **A panic while a command runs** (from [`run_command`] to the handler's return, queued
//!   commands inside EXEC included, whatever lock is held) is Redis's "internal fault". The
//!   handler may have changed part of the dataset and not the rest, and its AOF record is
//!   not written (a transaction's records are written only once EXEC completes, see
//!   [`crate::persistence::aof`]). Carrying on would serve, and log on top of, a dataset
//!   the AOF cannot rebuild. So a panic hook, running on the panicking thread *before* the
//!   stack unwinds and while the store lock is still held (no other command can see the
//!   half-done change), logs a bug report — the command's name and argument count (not its
//!   arguments, which may be private), the panic message and location, a backtrace — and
//!   exits the process with status 1. The supervisor restarts it (systemd/respd.service
//!   has `Restart=on-failure`), and the restart loads a whole AOF or dump: the writes
//!   acknowledged before the panic are there, the command that panicked (never
//!   acknowledged) is not. Redis aborts the same way (`serverPanic`, `bugReportEnd`); it
//!   raises SIGABRT, respd exits 1, which systemd treats alike without a core dump per bug.
//! - **A panic outside command execution** (parsing, the reply buffer, socket I/O in
//!   [`crate::connection`]) touches only that connection's own state: no store lock is
//!   held and nothing was applied. The worker's `catch_unwind` in [`crate::server`] logs it
//!   and closes that one connection; the server goes on.
//!
//! parking_lot locks do not poison, so nothing else would have stopped other clients from
//! using a half-changed dataset; the hook is what does. `DEBUG PANIC` (refused unless
//! `enable-debug-command` allows it, as in Redis) triggers the first case on purpose.

pub mod acl;
pub mod bitmap;
pub mod command_docs;
pub mod connection;
pub mod debug;
pub mod dump;
pub mod error;
pub mod generic;
pub mod geo;
pub mod hash;
pub mod hyperloglog;
pub mod introspection;
pub mod latency;
pub mod list;
pub mod memory;
pub mod migrate;
pub mod monitor;
pub mod persistence;
pub mod pubsub;
pub mod replication;
pub mod scripting;
pub mod server;
pub mod set;
pub mod sort;
pub mod sorted_set;
pub mod stats;
pub mod stream;
pub mod string;
pub mod transactions;

use std::collections::HashMap;
use std::sync::OnceLock;

pub use error::{CmdError, CmdResult};

use crate::client::{Client, ReplyMode};
use crate::protocol::{Argv, Reply};
use crate::shared::Shared;
use crate::store::{Db, Keyspace};

/// Command flags, named and printed as Redis names them in COMMAND INFO.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Flags(u32);

impl Flags {
    /// No flags.
    pub(crate) const NONE: Flags = Flags(0);
    /// May modify the keyspace.
    pub const WRITE: Flags = Flags(1 << 0);
    /// Only reads.
    pub const READONLY: Flags = Flags(1 << 1);
    /// May grow memory use (refused under maxmemory pressure in Redis).
    pub(crate) const DENYOOM: Flags = Flags(1 << 2);
    /// Administrative command.
    pub(crate) const ADMIN: Flags = Flags(1 << 3);
    /// Pub/Sub related.
    pub const PUBSUB: Flags = Flags(1 << 4);
    /// Not allowed from scripts.
    pub const NOSCRIPT: Flags = Flags(1 << 5);
    /// May block the client.
    pub const BLOCKING: Flags = Flags(1 << 6);
    /// Allowed while loading data.
    pub const LOADING: Flags = Flags(1 << 7);
    /// Allowed on a stale replica.
    pub(crate) const STALE: Flags = Flags(1 << 8);
    /// Not shown in MONITOR.
    pub(crate) const SKIP_MONITOR: Flags = Flags(1 << 9);
    /// Not logged in the slow log.
    pub(crate) const SKIP_SLOWLOG: Flags = Flags(1 << 10);
    /// O(1) or O(log N), never blocks.
    pub(crate) const FAST: Flags = Flags(1 << 11);
    /// Runs without authentication.
    pub(crate) const NO_AUTH: Flags = Flags(1 << 12);
    /// May replicate even if read-only.
    pub(crate) const MAY_REPLICATE: Flags = Flags(1 << 13);
    /// Key arguments are optional.
    pub(crate) const NO_MANDATORY_KEYS: Flags = Flags(1 << 14);
    /// Not allowed during async loading.
    pub(crate) const NO_ASYNC_LOADING: Flags = Flags(1 << 15);
    /// Not allowed inside MULTI.
    pub(crate) const NO_MULTI: Flags = Flags(1 << 16);
    /// Allowed while a script is busy.
    pub(crate) const ALLOW_BUSY: Flags = Flags(1 << 17);
    /// Key positions depend on the arguments.
    pub(crate) const MOVABLEKEYS: Flags = Flags(1 << 18);
    /// respd's own flag, never printed: the command runs at once inside MULTI instead of
    /// being queued (MULTI, EXEC, DISCARD, WATCH, QUIT, RESET — the commands Redis's
    /// `processCommand` exempts by name).
    pub(crate) const NO_QUEUE: Flags = Flags(1 << 31);
    /// respd's own flag, never printed: allowed in the RESP2 subscribed context ((P)SUBSCRIBE,
    /// (P)UNSUBSCRIBE, PING, QUIT, RESET).
    pub(crate) const SUBSCRIBED_OK: Flags = Flags(1 << 30);
    /// Redis's `protected` flag, hidden in COMMAND INFO as Redis hides it: the command runs
    /// only where its `enable-*-command` directive allows (DEBUG).
    pub(crate) const PROTECTED: Flags = Flags(1 << 29);

    const NAMES: &'static [(Flags, &'static str)] = &[
        (Flags::WRITE, "write"),
        (Flags::READONLY, "readonly"),
        (Flags::DENYOOM, "denyoom"),
        (Flags::ADMIN, "admin"),
        (Flags::PUBSUB, "pubsub"),
        (Flags::NOSCRIPT, "noscript"),
        (Flags::BLOCKING, "blocking"),
        (Flags::LOADING, "loading"),
        (Flags::STALE, "stale"),
        (Flags::SKIP_MONITOR, "skip_monitor"),
        (Flags::SKIP_SLOWLOG, "skip_slowlog"),
        (Flags::FAST, "fast"),
        (Flags::NO_AUTH, "no_auth"),
        (Flags::MAY_REPLICATE, "may_replicate"),
        (Flags::NO_MANDATORY_KEYS, "no_mandatory_keys"),
        (Flags::NO_ASYNC_LOADING, "no_async_loading"),
        (Flags::NO_MULTI, "no_multi"),
        (Flags::ALLOW_BUSY, "allow_busy"),
        (Flags::MOVABLEKEYS, "movablekeys"),
    ];

    /// Both sets of flags.
    pub(crate) const fn union(self, other: Flags) -> Flags {
        Flags(self.0 | other.0)
    }

    /// True if every flag of `other` is set.
    pub const fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }

    /// The Redis names of the flags that are set, in Redis's order.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        Flags::NAMES
            .iter()
            .filter(move |(f, _)| self.contains(*f))
            .map(|(_, n)| *n)
    }
}

impl std::ops::BitOr for Flags {
    type Output = Flags;
    fn bitor(self, rhs: Flags) -> Flags {
        self.union(rhs)
    }
}

/// Where the keys are in the argument vector (Redis's legacy first/last/step triple).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeySpec {
    /// Index of the first key, 0 if the command takes no keys.
    pub first: i32,
    /// Index of the last key; -1 means the last argument, -2 the one before it.
    pub last: i32,
    /// Distance between keys (2 for MSET's key value key value).
    pub step: i32,
}

impl KeySpec {
    /// No keys.
    pub(crate) const NONE: KeySpec = KeySpec {
        first: 0,
        last: 0,
        step: 0,
    };
    /// One key, the first argument.
    pub(crate) const ONE: KeySpec = KeySpec {
        first: 1,
        last: 1,
        step: 1,
    };
    /// Every argument is a key.
    pub const ALL: KeySpec = KeySpec {
        first: 1,
        last: -1,
        step: 1,
    };
    /// The first two arguments are keys.
    pub(crate) const TWO: KeySpec = KeySpec {
        first: 1,
        last: 2,
        step: 1,
    };

    /// Key positions.
    pub const fn new(first: i32, last: i32, step: i32) -> KeySpec {
        KeySpec { first, last, step }
    }
}

/// The command groups COMMAND DOCS reports (one handler file each).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    /// Keyspace commands (DEL, EXPIRE, SCAN, ...).
    Generic,
    /// String commands.
    String,
    /// List commands.
    List,
    /// Set commands.
    Set,
    /// Sorted set commands.
    SortedSet,
    /// Hash commands.
    Hash,
    /// Pub/Sub commands.
    Pubsub,
    /// MULTI/EXEC and friends.
    Transactions,
    /// Connection commands (PING, SELECT, CLIENT, HELLO, ...).
    Connection,
    /// Server commands (INFO, CONFIG, COMMAND, ...).
    Server,
    /// Bitmap commands.
    Bitmap,
    /// HyperLogLog commands.
    Hyperloglog,
    /// Geospatial commands.
    Geo,
    /// Stream commands.
    Stream,
    /// Scripting commands (EVAL, FCALL, SCRIPT, FUNCTION).
    Scripting,
}

impl Group {
    /// The name COMMAND DOCS prints.
    pub fn name(self) -> &'static str {
        match self {
            Group::Generic => "generic",
            Group::String => "string",
            Group::List => "list",
            Group::Set => "set",
            Group::SortedSet => "sorted-set",
            Group::Hash => "hash",
            Group::Pubsub => "pubsub",
            Group::Transactions => "transactions",
            Group::Connection => "connection",
            Group::Server => "server",
            Group::Bitmap => "bitmap",
            Group::Hyperloglog => "hyperloglog",
            Group::Geo => "geo",
            Group::Stream => "stream",
            Group::Scripting => "scripting",
        }
    }
}

/// Everything a handler may need besides its database and arguments.
pub struct Ctx<'a> {
    /// The time, read once per command (Redis caches `server.mstime` the same way), so a
    /// command sees one consistent "now" and tests can inject a clock.
    pub now_ms: u64,
    /// Server-wide state: config, stats, the client registry, the store.
    pub shared: &'a Shared,
    /// The calling connection's own state.
    pub client: &'a mut Client,
    /// True while EXEC runs queued commands: blocking commands must then answer at once
    /// (with their timeout reply) instead of blocking, as in Redis.
    pub in_exec: bool,
    /// True while a script runs the command (`redis.call`; Redis `CLIENT_SCRIPT`): SORT
    /// then orders what it would leave in the container's own order.
    pub in_script: bool,
    /// How many changes the running write command made, for the dirty counter behind save
    /// points (Redis's `server.dirty += n`). `None` (the default, reset before each command)
    /// counts one per successful write command; the commands that Redis counts only when
    /// something changed (SETBIT, BITFIELD, ZADD, the geo searches) say how many, and a write
    /// command that says 0 is not propagated.
    pub changes: Option<u64>,
    /// What the AOF and the replicas get for this command: the command as called, unless the
    /// command said otherwise with [`Ctx::propagate_as`] or [`Ctx::propagate_nothing`].
    /// Reset before each command.
    pub effects: Effects,
    /// Positions of the arguments MONITOR and SLOWLOG show as `(redacted)` (passwords),
    /// set by the handler (Redis `redactClientCommandArgument`). Reset before each command.
    pub redacted: Vec<usize>,
    /// True while the append-only file is replayed at start (Redis `server.loading`): the
    /// commands go neither to the slow log nor to the monitors, as Redis runs them outside
    /// `call()` and feeds no monitor while loading.
    pub loading: bool,
}

/// What a command that succeeded hands to the AOF and the replicas (see [`Ctx::effects`]).
///
/// Commands state their own effects, as Redis's do (`alsoPropagate`,
/// `rewriteClientCommandVector`, `preventCommandPropagation`): SPOP is recorded as the SREM
/// of what it popped, `SET k v EX 10` as `SET k v PXAT <deadline>`, so that a replay or a
/// replica repeats exactly what happened here, whatever the clock or the random choice.
/// Nothing downstream guesses an effect from a command's name or its reply.
#[derive(Debug, Default, Clone, PartialEq)]
pub enum Effects {
    /// The command as it was called.
    #[default]
    AsCalled,
    /// These commands instead, in order; none at all when the list is empty. Two or more are
    /// recorded as one MULTI ... EXEC (Redis `propagatePendingCommands`), so that a replay
    /// never stops between them.
    Replaced(Vec<Argv>),
}

impl Ctx<'_> {
    /// The command is recorded as `argv` instead of as it was called (Redis
    /// `rewriteClientCommandVector`). Called again, `argv` is recorded after the commands
    /// already given (Redis `alsoPropagate`).
    pub(crate) fn propagate_as(&mut self, argv: Argv) {
        match &mut self.effects {
            Effects::Replaced(list) => list.push(argv),
            effects => *effects = Effects::Replaced(vec![argv]),
        }
    }

    /// Nothing is recorded for this command, although it succeeded (Redis
    /// `preventCommandPropagation`): a pop that found nothing, a NX that did not set.
    pub(crate) fn propagate_nothing(&mut self) {
        self.effects = Effects::Replaced(Vec::new());
    }

    /// True when records are wanted at all (the AOF is on, or a replica is attached). A
    /// command whose record costs work to build (a deadline to render) may skip it when not.
    pub(crate) fn records_wanted(&self) -> bool {
        crate::persistence::aof::records_wanted(self.shared)
    }

    /// Records a read lookup of `key` for INFO's `keyspace_hits` / `keyspace_misses`, and
    /// reports a miss as a `keymiss` keyspace event (Redis `lookupKey` does both).
    pub(crate) fn count_lookup(&mut self, db: &Db, key: &[u8], found: bool) {
        if found {
            self.client.stats.hits += 1;
        } else {
            self.client.stats.misses += 1;
            db.notify(crate::notify::KEY_MISS, "keymiss", key);
        }
    }

    /// Redis `lookupKeyRead`: the live value at `key` (an expired key is missing), counting a
    /// keyspace hit or miss and refreshing the access time. Every read command's lookup goes
    /// through here, so the INFO counters are kept in one place; the type check is the
    /// caller's (Redis `checkType`).
    pub(crate) fn lookup_read<'d>(
        &mut self,
        db: &'d Db,
        key: &[u8],
    ) -> Option<&'d crate::store::Value> {
        let found = db.get_value(key, self.now_ms);
        self.count_lookup(db, key, found.is_some());
        found
    }
}

/// A read-only command on the selected database (read lock).
pub(crate) type ReadFn = fn(&mut Ctx, &Db, &Argv, &mut Reply) -> CmdResult;
/// A command that may modify the selected database (write lock).
pub(crate) type WriteFn = fn(&mut Ctx, &mut Db, &Argv, &mut Reply) -> CmdResult;
/// A read-only command that looks at every database (read lock).
pub(crate) type KeyspaceReadFn = fn(&mut Ctx, &Keyspace, &Argv, &mut Reply) -> CmdResult;
/// A command that may modify several databases (write lock): MOVE, SWAPDB, FLUSHALL.
pub(crate) type KeyspaceWriteFn = fn(&mut Ctx, &mut Keyspace, &Argv, &mut Reply) -> CmdResult;
/// A command that does not touch the keyspace (no lock): PING, SELECT, CLIENT, CONFIG.
pub(crate) type ConnFn = fn(&mut Ctx, &Argv, &mut Reply) -> CmdResult;

/// A handler, and with it the lock it needs.
#[derive(Clone, Copy)]
pub enum Handler {
    /// Read lock, selected database.
    Read(ReadFn),
    /// Write lock, selected database.
    Write(WriteFn),
    /// Read lock, all databases.
    KeyspaceRead(KeyspaceReadFn),
    /// Write lock, all databases.
    KeyspaceWrite(KeyspaceWriteFn),
    /// No lock.
    Conn(ConnFn),
    /// A container (CLIENT, CONFIG, ...): the subcommand's row decides.
    Container,
}

impl std::fmt::Debug for Handler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Handler::Read(_) => "Read",
            Handler::Write(_) => "Write",
            Handler::KeyspaceRead(_) => "KeyspaceRead",
            Handler::KeyspaceWrite(_) => "KeyspaceWrite",
            Handler::Conn(_) => "Conn",
            Handler::Container => "Container",
        })
    }
}

/// One row of the command table.
#[derive(Debug)]
pub struct CommandSpec {
    /// Lowercase name (for a subcommand, just the subcommand: `setname`).
    pub name: &'static str,
    /// Redis arity: N = exactly N arguments, -N = at least N; the name counts.
    pub arity: i32,
    /// Redis flags.
    pub flags: Flags,
    /// Key positions.
    pub keys: KeySpec,
    /// Command group.
    pub group: Group,
    /// The handler.
    pub handler: Handler,
    /// Subcommands of a container command.
    pub subcommands: &'static [CommandSpec],
}

impl CommandSpec {
    /// A row of the table: everything dispatch, COMMAND INFO and ACL need. (COMMAND DOCS's
    /// texts come from the generated [`command_docs`] table.)
    pub const fn new(
        name: &'static str,
        arity: i32,
        flags: Flags,
        keys: KeySpec,
        group: Group,
        handler: Handler,
    ) -> CommandSpec {
        CommandSpec {
            name,
            arity,
            flags,
            keys,
            group,
            handler,
            subcommands: &[],
        }
    }

    /// Makes this row a container of `subcommands`.
    pub(crate) const fn with_subcommands(
        mut self,
        subcommands: &'static [CommandSpec],
    ) -> CommandSpec {
        self.subcommands = subcommands;
        self
    }

    /// True if `argc` arguments satisfy the arity.
    pub(crate) fn arity_ok(&self, argc: usize) -> bool {
        let argc = argc as i64;
        let arity = self.arity as i64;
        if arity >= 0 {
            argc == arity
        } else {
            argc >= -arity
        }
    }
}

/// The command groups' tables, in the order COMMAND lists them.
pub fn groups() -> [&'static [CommandSpec]; 26] {
    [
        connection::COMMANDS,
        server::COMMANDS,
        acl::COMMANDS,
        introspection::COMMANDS,
        monitor::COMMANDS,
        latency::COMMANDS,
        memory::COMMANDS,
        string::COMMANDS,
        generic::COMMANDS,
        dump::COMMANDS,
        migrate::COMMANDS,
        transactions::COMMANDS,
        pubsub::COMMANDS,
        list::COMMANDS,
        set::COMMANDS,
        hash::COMMANDS,
        sorted_set::COMMANDS,
        bitmap::COMMANDS,
        hyperloglog::COMMANDS,
        geo::COMMANDS,
        stream::COMMANDS,
        sort::COMMANDS,
        persistence::COMMANDS,
        replication::COMMANDS,
        debug::COMMANDS,
        scripting::COMMANDS,
    ]
}

/// Every top-level command.
pub fn all_commands() -> impl Iterator<Item = &'static CommandSpec> {
    groups().into_iter().flatten()
}

fn table() -> &'static HashMap<&'static str, &'static CommandSpec> {
    static TABLE: OnceLock<HashMap<&'static str, &'static CommandSpec>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut map = HashMap::new();
        for spec in all_commands() {
            let previous = map.insert(spec.name, spec);
            assert!(
                previous.is_none(),
                "command {} is declared twice",
                spec.name
            );
        }
        map
    })
}

/// Looks up a command by name, case-insensitively, without allocating.
pub fn lookup(name: &[u8]) -> Option<&'static CommandSpec> {
    let mut lower = [0u8; 32];
    if name.len() > lower.len() {
        return None;
    }
    for (dst, src) in lower.iter_mut().zip(name) {
        *dst = src.to_ascii_lowercase();
    }
    let name = std::str::from_utf8(&lower[..name.len()]).ok()?;
    table().get(name).copied()
}

/// Looks up a subcommand of a container, case-insensitively.
pub(crate) fn lookup_subcommand(
    container: &'static CommandSpec,
    name: &[u8],
) -> Option<&'static CommandSpec> {
    container
        .subcommands
        .iter()
        .find(|s| s.name.as_bytes().eq_ignore_ascii_case(name))
}

/// The name Redis uses in errors and COMMAND output: `get`, or `client|setname`.
pub(crate) fn full_name(spec: &CommandSpec, parent: Option<&CommandSpec>) -> String {
    match parent {
        Some(p) => format!("{}|{}", p.name, spec.name),
        None => spec.name.to_string(),
    }
}

/// Renders Redis's unknown-command error (mirrors `commandCheckExistence`): the name and the
/// first arguments, each quoted and followed by a space, capped at 128 bytes. Arguments are
/// C strings there, so each stops at its first NUL byte.
fn unknown_command_error(argv: &Argv) -> Vec<u8> {
    use crate::util::c_str;
    let mut args: Vec<u8> = Vec::new();
    for arg in argv.iter().skip(1) {
        if args.len() >= 128 {
            break;
        }
        let room = 128 - args.len();
        let arg = c_str(arg);
        args.push(b'\'');
        args.extend_from_slice(&arg[..arg.len().min(room)]);
        args.extend_from_slice(b"' ");
    }
    let name = c_str(&argv[0]);
    let mut out = b"ERR unknown command '".to_vec();
    out.extend_from_slice(&name[..name.len().min(128)]);
    out.extend_from_slice(b"', with args beginning with: ");
    out.extend_from_slice(&args);
    out
}

/// Resolves `argv` to the table row that will run it, or the error Redis would reply.
/// Returns the row, its parent for a subcommand, and errors already rendered.
pub(crate) fn resolve(
    argv: &Argv,
) -> Result<(&'static CommandSpec, Option<&'static CommandSpec>), Vec<u8>> {
    let Some(spec) = lookup(&argv[0]) else {
        return Err(unknown_command_error(argv));
    };
    if !spec.subcommands.is_empty() && argv.len() >= 2 {
        return match lookup_subcommand(spec, &argv[1]) {
            Some(sub) if sub.arity_ok(argv.len()) => Ok((sub, Some(spec))),
            Some(sub) => Err(CmdError::WrongArity.render(&full_name(sub, Some(spec)), argv)),
            None => Err(CmdError::UnknownSubcommand.render(spec.name, argv)),
        };
    }
    if !spec.arity_ok(argv.len()) {
        return Err(CmdError::WrongArity.render(spec.name, argv));
    }
    Ok((spec, None))
}

/// Runs one command and appends its reply (Redis `processCommand` + `call`), unless CLIENT
/// REPLY silences it.
///
/// Order of checks, as in Redis: unknown command, arity, then the handler, under the lock its
/// [`Handler`] kind asks for. The lock is held for this one command only and released before
/// returning; no socket I/O happens while it is held.
pub fn dispatch(shared: &Shared, client: &mut Client, argv: &Argv, reply: &mut Reply) {
    if argv.is_empty() {
        return;
    }
    let mark = reply.len();
    client.reply_is_push = false;
    dispatch_command(shared, client, argv, reply);
    if client.postponed.is_some() {
        // Held back by CLIENT PAUSE: it has not run, so CLIENT REPLY SKIP still waits for it.
        return;
    }
    // mirrors prepareClientToWrite(): nothing is sent while replies are off or skipped, pushes
    // excepted; the mode is read after the command, so CLIENT REPLY ON's own +OK goes out.
    if matches!(client.reply_mode, ReplyMode::Off | ReplyMode::Skip) && !client.reply_is_push {
        reply.truncate(mark);
    }
    // Client-side caching: what this command modified is invalidated, and this client's
    // own invalidations follow its reply (never inside it, nor inside an EXEC's). CLIENT
    // CACHING applies to the one command after it (or the whole transaction).
    if shared.store.notifier().tracks_modifications() {
        crate::tracking::invalidate_modified(shared, Some(&mut *client));
        crate::tracking::broadcast(shared, Some(&mut *client));
        if client.multi.is_none() && !crate::util::eq_ci(&argv[0], "client") {
            client.tracking_caching = false;
        }
    }
    // Pushes, so after the CLIENT REPLY filter, which does not silence them.
    crate::tracking::flush_own(client, reply);
    // mirrors resetClient(): SKIP applies to the command after CLIENT REPLY SKIP only.
    client.reply_mode = match client.reply_mode {
        ReplyMode::SkipNext => ReplyMode::Skip,
        ReplyMode::Skip => ReplyMode::On,
        mode => mode,
    };
}

/// [`dispatch`] without the CLIENT REPLY filter.
fn dispatch_command(shared: &Shared, client: &mut Client, argv: &Argv, reply: &mut Reply) {
    let is_exec = |spec: Option<&CommandSpec>| spec.is_some_and(|s| s.name == "exec");
    let (spec, parent) = match resolve(argv) {
        Ok(found) => found,
        Err(message) => {
            let exec = is_exec(lookup(&argv[0]));
            reject(shared, client, argv, exec, &message, reply);
            return charge_rejection(client, rejected_row(argv), reply);
        }
    };
    // mirrors processCommand(): DEBUG only where enable-debug-command allows it.
    if spec.flags.contains(Flags::PROTECTED)
        && !shared
            .config
            .read()
            .enable_debug_command
            .allows(client.handle.addr.ip())
    {
        let message = crate::config::protected_command_error("DEBUG");
        reject(shared, client, argv, false, message.as_bytes(), reply);
        return charge_rejection(client, Some(spec), reply);
    }
    // mirrors processCommand(): authentication, commands refused inside MULTI, then the
    // user's permissions (ACLs).
    if let Some(message) = acl::auth_refusal(shared, client, spec) {
        reject(shared, client, argv, is_exec(Some(spec)), message, reply);
        return charge_rejection(client, Some(spec), reply);
    }
    if client.multi.is_some()
        && spec.flags.contains(Flags::NO_MULTI)
        && !spec.flags.contains(Flags::NO_QUEUE)
    {
        reject(
            shared,
            client,
            argv,
            false,
            b"ERR Command not allowed inside a transaction",
            reply,
        );
        return charge_rejection(client, Some(spec), reply);
    }
    if let Some(message) = acl::permission_refusal(shared, client, spec, parent, argv) {
        reject(shared, client, argv, is_exec(Some(spec)), &message, reply);
        return charge_rejection(client, Some(spec), reply);
    }
    // mirrors processCommand(): over maxmemory, evict; if that cannot bring memory under the
    // limit, refuse a command that may grow memory, an EXEC that queued one, and, inside
    // MULTI, anything queued (queueing takes memory too). See crate::evict.
    let is_denyoom = spec.flags.contains(Flags::DENYOOM)
        || (is_exec(Some(spec))
            && client.multi.as_ref().is_some_and(|t| {
                t.queued
                    .iter()
                    .any(|q| q.spec.flags.contains(Flags::DENYOOM))
            }));
    let queues =
        client.multi.is_some() && !matches!(spec.name, "exec" | "discard" | "quit" | "reset");
    // What the command may add to the dataset: its arguments with room for the allocations
    // around them (an upper bound the eviction check adds up between its measurements).
    let written = 128 + argv.iter().map(|a| a.len() as u64 + 64).sum::<u64>();
    let evicted_enough = !(is_denyoom || queues)
        || crate::evict::perform_evictions(shared, shared.clock.now_ms(), written);
    if shared.store.notifier().tracks_modifications() {
        // Keys evicted for this command are invalidated before its reply, as in Redis.
        crate::tracking::invalidate_modified(shared, Some(&mut *client));
        crate::tracking::flush_own(client, reply);
    }
    if !evicted_enough {
        publish_keyspace_events(shared, shared.clock.now_ms());
        reject(
            shared,
            client,
            argv,
            is_exec(Some(spec)),
            error::OOM_ERROR,
            reply,
        );
        return charge_rejection(client, Some(spec), reply);
    }
    // mirrors processCommand(): a script decides by its own flags whether memory pressure
    // refuses it (see cmd::scripting); evictions run first, so that it sees where memory is.
    if spec.flags.contains(Flags::NO_MANDATORY_KEYS) && spec.group == Group::Scripting {
        crate::evict::perform_evictions(shared, crate::util::now_ms(), written);
    }
    // mirrors processCommand(): while the dataset cannot be persisted (a failed background
    // save, an AOF write error), writes and PING are refused (Redis
    // `writeCommandsDeniedByDiskError`), and so is an EXEC with writes queued.
    let is_write = spec.flags.contains(Flags::WRITE)
        || (is_exec(Some(spec))
            && client
                .multi
                .as_ref()
                .is_some_and(|t| t.queued.iter().any(|q| q.spec.flags.contains(Flags::WRITE))));
    if is_write || spec.name == "ping" {
        if let Some(message) = crate::persistence::writes_denied(shared) {
            reject(shared, client, argv, is_exec(Some(spec)), &message, reply);
            return charge_rejection(client, Some(spec), reply);
        }
    }
    // mirrors processCommand(): a read-only replica takes writes from its master only.
    // A script that declared its flags writes unless it says `no-writes` (Redis
    // `scriptFlagsToCmdFlags` makes it a write command).
    let script_writes = |spec: &CommandSpec| {
        spec.group == Group::Scripting
            && shared
                .scripting
                .declared_flags(spec.name, argv)
                .is_some_and(|flags| !flags.contains(crate::script::ScriptFlags::NO_WRITES))
    };
    if readonly_replica(shared, client) && (is_write || script_writes(spec)) {
        let message = error::READONLY_ERROR;
        reject(shared, client, argv, is_exec(Some(spec)), message, reply);
        return charge_rejection(client, Some(spec), reply);
    }
    // mirrors processCommand(): in RESP2 a subscribed connection only carries Pub/Sub.
    if client.resp == 2
        && client.total_subscription_count() > 0
        && !spec.flags.contains(Flags::SUBSCRIBED_OK)
    {
        let name = full_name(spec, parent);
        let message = format!("ERR Can't execute '{name}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context");
        reject(
            shared,
            client,
            argv,
            is_exec(Some(spec)),
            message.as_bytes(),
            reply,
        );
        return charge_rejection(client, Some(spec), reply);
    }
    // mirrors processCommand(): with the link to the master down, a replica that must not
    // serve stale data answers only the commands flagged `stale` (INFO, REPLICAOF...).
    if stale_refusal(shared, client, spec) {
        let message = error::MASTERDOWN_ERROR;
        reject(shared, client, argv, is_exec(Some(spec)), message, reply);
        return charge_rejection(client, Some(spec), reply);
    }
    // mirrors processCommand(): while a script runs, other clients wait, and once it has run
    // longer than busy-reply-threshold they are refused with BUSY (see cmd::scripting).
    if shared.scripting.running() && !spec.flags.contains(Flags::ALLOW_BUSY) {
        // The master's stream is never refused: it waits for the script to end, as Redis
        // leaves the master's input unread meanwhile.
        let threshold = match client.is_master {
            true => 0,
            false => shared.config.read().kept_u64("busy-reply-threshold"),
        };
        if let Some(message) = shared.scripting.wait_or_busy(threshold) {
            reject(shared, client, argv, is_exec(Some(spec)), message, reply);
            return charge_rejection(client, Some(spec), reply);
        }
    }
    // mirrors processCommand(): a monitor is a replica to Redis (CLIENT_SLAVE), and a
    // replica may not read or write the keyspace; PING, ECHO, CLIENT, SELECT... still run.
    if client.handle.is_monitor() || client.handle.is_replica() {
        let touches = |flags: Flags| {
            flags.contains(Flags::READONLY)
                || flags.contains(Flags::WRITE)
                || flags.contains(Flags::MAY_REPLICATE)
        };
        let queued_touch = is_exec(Some(spec))
            && client
                .multi
                .as_ref()
                .is_some_and(|t| t.queued.iter().any(|q| touches(q.spec.flags)));
        if touches(spec.flags) || queued_touch {
            let message = error::REPLICA_KEYSPACE_ERROR;
            reject(shared, client, argv, is_exec(Some(spec)), message, reply);
            return charge_rejection(client, Some(spec), reply);
        }
    }
    // mirrors processCommand(): while clients are paused, a command the pause holds back
    // does not run now; the connection loop sends it through here again when the pause ends
    // (see crate::pause). Replicas are never paused.
    let pause = match shared.pause.may_be_active() {
        true => shared.pause.kind(shared.clock.now_ms()),
        false => crate::pause::PauseKind::Off,
    };
    if pause != crate::pause::PauseKind::Off && !client.handle.is_replica() {
        // A script that declared its flags writes only without `no-writes` (Redis
        // `scriptFlagsToCmdFlags` then drops may_replicate); one without shebang counts as
        // the command is flagged.
        let may_replicate = |spec: &CommandSpec, argv: &Argv| match (spec.group, spec.name) {
            (Group::Scripting, name) => match shared.scripting.declared_flags(name, argv) {
                Some(flags) => !flags.contains(crate::script::ScriptFlags::NO_WRITES),
                None => spec.flags.contains(Flags::MAY_REPLICATE),
            },
            _ => spec.flags.contains(Flags::WRITE) || spec.flags.contains(Flags::MAY_REPLICATE),
        };
        let queued_may_replicate = is_exec(Some(spec))
            && client
                .multi
                .as_ref()
                .is_some_and(|t| t.queued.iter().any(|q| may_replicate(q.spec, &q.argv)));
        if pause == crate::pause::PauseKind::All
            || may_replicate(spec, argv)
            || queued_may_replicate
        {
            client.postponed = Some(argv.clone());
            // Redis looked the command up before pausing it, so CLIENT LIST shows it.
            client.last_command = match parent {
                Some(p) => (p.name, spec.name),
                None => (spec.name, ""),
            };
            return;
        }
    }
    if let Some(transaction) = client.multi.as_mut() {
        if !spec.flags.contains(Flags::NO_QUEUE) {
            transaction.queued.push(crate::client::QueuedCommand {
                spec,
                parent,
                argv: argv.clone(),
            });
            reply.raw(b"+QUEUED\r\n");
            return;
        }
    }
    let mut ctx = Ctx {
        now_ms: shared.clock.now_ms(),
        shared,
        client,
        in_exec: false,
        in_script: false,
        changes: None,
        effects: Effects::AsCalled,
        redacted: Vec::new(),
        loading: false,
    };
    run_command(&mut ctx, spec, parent, argv, reply, None);
    crate::evict::after_config_change(shared, ctx.now_ms);
}

/// True when `client` may not write because this server is a read-only replica and the
/// client is not its master (Redis `processCommand`'s `server.repl_slave_ro` check; see
/// [`crate::replication::replica`]).
pub(crate) fn readonly_replica(shared: &Shared, client: &Client) -> bool {
    shared.replica_role.following()
        && !client.is_master
        && shared
            .config
            .read()
            .kept
            .get("replica-read-only")
            .map_or(true, |v| v == "yes")
}

/// True when `spec` needs fresh data while this replica's link to its master is down and
/// `replica-serve-stale-data` is off (Redis's `is_denystale_command` check): commands not
/// flagged `stale`, and an EXEC with such a command queued.
fn stale_refusal(shared: &Shared, client: &Client, spec: &CommandSpec) -> bool {
    if !stale_data_refused(shared, client) {
        return false;
    }
    let denies = |s: &CommandSpec| !s.flags.contains(Flags::STALE);
    let denied = denies(spec)
        || (spec.name == "exec"
            && client
                .multi
                .as_ref()
                .is_some_and(|t| t.queued.iter().any(|q| denies(q.spec))));
    denied
}

/// True on a replica whose link to its master is down while `replica-serve-stale-data` is
/// off, for a client other than the master (Redis's `running_stale`).
pub(crate) fn stale_data_refused(shared: &Shared, client: &Client) -> bool {
    let role = &shared.replica_role;
    role.following()
        && !role.link_up()
        && !client.is_master
        && shared
            .config
            .read()
            .kept
            .get("replica-serve-stale-data")
            .is_some_and(|v| v == "no")
}

/// Why writes are refused now (a failed background save, an AOF write error), as the error
/// to reply; None when they are allowed (Redis `writeCommandsDeniedByDiskError`).
pub(crate) fn writes_denied(shared: &Shared) -> Option<std::borrow::Cow<'static, [u8]>> {
    crate::persistence::writes_denied(shared)
}

/// The row Redis charges a refusal to (its `c->cmd` at that point): the subcommand when the
/// container's subcommand is known, the container when no subcommand was given, nothing for
/// an unknown command or subcommand.
fn rejected_row(argv: &Argv) -> Option<&'static CommandSpec> {
    let spec = lookup(&argv[0])?;
    if spec.subcommands.is_empty() || argv.len() < 2 {
        return Some(spec);
    }
    lookup_subcommand(spec, &argv[1])
}

/// Counts a refusal in `spec`'s `rejected_calls` if an error was replied since the last
/// command was charged (Redis `incrCommandStatsOnError(cmd, ERROR_COMMAND_REJECTED)`).
fn charge_rejection(client: &mut Client, spec: Option<&'static CommandSpec>, reply: &Reply) {
    let errors = reply.error_count();
    if let Some(spec) = spec {
        if errors > client.errors_seen {
            client.command_stats.rejected(spec);
        }
    }
    client.errors_seen = errors;
}

/// Answers `message` for a command refused before it runs (Redis `rejectCommand`). Inside
/// MULTI the refusal dooms the transaction (`flagTransaction`), so EXEC will answer
/// EXECABORT; a refused EXEC itself ends the transaction at once (`execCommandAbort`), and
/// is shown to the monitors, which saw the MULTI, so that they see the transaction end.
fn reject(
    shared: &Shared,
    client: &mut Client,
    argv: &Argv,
    exec: bool,
    message: &[u8],
    reply: &mut Reply,
) {
    if exec {
        transactions::exec_abort(shared, client, message, reply);
        let handle = &client.handle;
        shared
            .monitors
            .feed(shared, handle, client.db, argv, &[], false, false, reply);
        return;
    }
    if let Some(transaction) = client.multi.as_mut() {
        transaction.aborted = true;
    }
    reply.error(message);
}

/// Runs one resolved command and renders its error, if any. `held` is the keyspace when the
/// caller already holds the write lock (EXEC); otherwise the handler's own lock is taken.
pub(crate) fn run_command(
    ctx: &mut Ctx,
    spec: &'static CommandSpec,
    parent: Option<&'static CommandSpec>,
    argv: &Argv,
    reply: &mut Reply,
    held: Option<&mut Keyspace>,
) {
    let _running = RunningCommand::enter(spec, parent, argv.len());
    let started = std::time::Instant::now();
    ctx.client.stats.commands += 1;
    ctx.client.last_command = match parent {
        Some(p) => (p.name, spec.name),
        None => (spec.name, ""),
    };
    let mark = reply.len();
    ctx.changes = None;
    ctx.effects = Effects::AsCalled;
    ctx.redacted.clear();
    let result = match held {
        Some(keyspace) => {
            let result = call_locked(ctx, keyspace, spec, argv, reply);
            // Inside EXEC the lock is held by EXEC: log now (see call() for the other case).
            if result.is_ok() && propagates(ctx, spec) {
                crate::persistence::aof::feed(ctx, argv);
            }
            invalidate_tracked_keys(ctx);
            result
        }
        // appendfsync always: the replies wait until the records are on disk, once per
        // batch; the connection calls `aof::wait_durable` before it sends them.
        None => call(ctx, spec, argv, reply),
    };
    // Redis publishes each keyspace event as it happens; respd queues them while the
    // keyspace lock is held and delivers them here, in order, before the reply goes out.
    publish_keyspace_events(ctx.shared, ctx.now_ms);
    // mirrors call(): a tracking client's reads are remembered, to invalidate them later
    // (the read-only script commands excepted: the commands they run are remembered). A
    // read inside a script remembers the keys the script declared, as Redis remembers the
    // calling client's command.
    if ctx.client.tracking_on
        && spec.flags.contains(Flags::READONLY)
        && !matches!(spec.name, "eval_ro" | "evalsha_ro" | "fcall_ro")
    {
        let keys: Vec<Vec<u8>> = if ctx.in_script {
            ctx.client.script_keys.clone()
        } else {
            let refs = crate::acl::command_keys(spec, parent, argv);
            refs.into_iter().map(|k| argv[k.pos].to_vec()).collect()
        };
        crate::tracking::remember(ctx.shared, ctx.client, keys.into_iter());
    }
    match &result {
        // The dirty counter behind save points: one per successful write command unless it
        // said otherwise (see crate::persistence for how this differs from Redis's count).
        Ok(()) if propagates(ctx, spec) => {
            (ctx.shared.persistence).note_writes(ctx.changes.unwrap_or(1))
        }
        _ => {}
    }
    if let Err(e) = result {
        // A failing handler may have started a reply; an error replaces it entirely.
        reply.truncate(mark);
        reply.error(&e.render(&full_name(spec, parent), argv));
    }
    // mirrors call(): a command failed if an error was replied since the last one charged
    // (EXEC's queued commands charge their own errors first, so EXEC is not failed by them).
    let usec = started.elapsed().as_micros() as u64;
    // mirrors call(): the slow log (a command left blocked is logged when a write serves
    // it, see crate::slowlog::Deferred), then the monitors, both with the arguments as called.
    if !spec.flags.contains(Flags::SKIP_SLOWLOG) && !ctx.loading {
        match ctx.client.blocked.as_mut() {
            None => (ctx.shared.slowlog).push_if_needed(ctx.client, argv, &ctx.redacted, usec),
            Some(blocked) => {
                blocked.slowlog = Some(crate::slowlog::Deferred {
                    argv: argv.clone(),
                    redacted: ctx.redacted.clone(),
                    duration_us: usec,
                })
            }
        }
    }
    // mirrors call(): the latency monitor takes every command, blocked or not, as a
    // `fast-command` or `command` event (one atomic load when the monitor is off).
    let event = if spec.flags.contains(Flags::FAST) {
        "fast-command"
    } else {
        "command"
    };
    ctx.shared.latency.record(event, usec / 1000);
    if !spec.flags.contains(Flags::SKIP_MONITOR)
        && !spec.flags.contains(Flags::ADMIN)
        && !ctx.loading
    {
        let db = ctx.client.db;
        let monitors = &ctx.shared.monitors;
        monitors.feed(
            ctx.shared,
            &ctx.client.handle,
            db,
            argv,
            &ctx.redacted,
            ctx.in_script,
            ctx.client.close_after_reply,
            reply,
        );
    }
    let errors = reply.error_count();
    let failed = errors > ctx.client.errors_seen;
    ctx.client.errors_seen = errors;
    let track = ctx.shared.stats.commands.tracks_latency();
    ctx.client.command_stats.called(spec, usec, failed, track);
}

/// True if a command that succeeded goes to the AOF and the replicas: a write command unless
/// it said it changed nothing (a GEORADIUS without STORE, a ZADD or SETBIT that left
/// everything as it was), and a may_replicate one that says it changed something (PFCOUNT
/// refreshing a cached cardinality). Redis propagates a command whenever it moved
/// `server.dirty`.
fn propagates(ctx: &Ctx, spec: &CommandSpec) -> bool {
    if spec.flags.contains(Flags::WRITE) {
        return ctx.changes != Some(0);
    }
    spec.flags.contains(Flags::MAY_REPLICATE) && ctx.changes.is_some_and(|n| n > 0)
}

/// Delivers the keyspace notifications queued so far (see [`crate::notify`]): after every
/// command, and after the active expiry cycle. Costs one atomic load when none is queued.
pub(crate) fn publish_keyspace_events(shared: &Shared, now_ms: u64) {
    shared.pubsub.publish_keyspace_events(
        shared.store.notifier(),
        || shared.config.read().output_limit_pubsub,
        now_ms,
        &shared.stats,
    );
}

/// The command running on this thread, for the bug report if it panics (see "When a
/// command panics" in the module docs).
#[derive(Clone, Copy)]
struct Running {
    name: &'static str,
    subcommand: Option<&'static str>,
    argc: usize,
    /// The command this one runs inside (EXEC for a queued command).
    inside: Option<&'static str>,
}

thread_local! {
    static RUNNING: std::cell::Cell<Option<Running>> = const { std::cell::Cell::new(None) };
}

/// Marks a command as running on this thread until dropped (nested for EXEC's commands).
struct RunningCommand(Option<Running>);

impl RunningCommand {
    fn enter(
        spec: &'static CommandSpec,
        parent: Option<&'static CommandSpec>,
        argc: usize,
    ) -> Self {
        static POLICY: std::sync::Once = std::sync::Once::new();
        POLICY.call_once(install_panic_policy);
        let previous = RUNNING.with(|r| r.get());
        let (name, subcommand) = match parent {
            Some(p) => (p.name, Some(spec.name)),
            None => (spec.name, None),
        };
        let running = Running {
            name,
            subcommand,
            argc,
            inside: previous.map(|p| p.name),
        };
        RUNNING.with(|r| r.set(Some(running)));
        RunningCommand(previous)
    }
}

impl Drop for RunningCommand {
    fn drop(&mut self) {
        RUNNING.with(|r| r.set(self.0));
    }
}

/// Installs the panic hook that turns a panic inside a command into a bug report and an
/// exit (see the module docs). Panics elsewhere go to the hook that was there before.
fn install_panic_policy() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let Some(running) = RUNNING.with(|r| r.get()) else {
            return previous(info);
        };
        let mut command = running.name.to_string();
        if let Some(sub) = running.subcommand {
            command = format!("{command}|{sub}");
        }
        let inside = running
            .inside
            .map(|outer| format!(", inside '{outer}'"))
            .unwrap_or_default();
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(no message)".into());
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let backtrace = std::backtrace::Backtrace::force_capture();
        crate::warning!("=== RESPD BUG REPORT START: Cut & paste starting from here ===");
        crate::warning!("Guru Meditation: {message} #{location}");
        crate::warning!(
            "Command: '{command}' with {} arguments{inside}",
            running.argc
        );
        crate::warning!("------ STACK TRACE ------\n{backtrace}");
        crate::warning!("=== RESPD BUG REPORT END. Make sure to include from START to END. ===");
        crate::warning!("The dataset may be half-changed by this command: exiting, so that a restart loads it whole from disk.");
        std::process::exit(1);
    }));
}

/// Calls a resolved command's handler under the right lock.
///
/// After a command that may write, and before the lock is released, clients blocked on keys
/// the command created are served (see [`crate::blocking`]).
pub fn call(ctx: &mut Ctx, spec: &CommandSpec, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let db = ctx.client.db;
    match spec.handler {
        Handler::Read(f) => {
            let keyspace = ctx.shared.store.read();
            f(ctx, keyspace.db(db), argv, reply)
        }
        Handler::Write(f) => {
            let mut keyspace = ctx.shared.store.write();
            let db = keyspace.db_mut(db);
            let result = f(ctx, db, argv, reply);
            db.settle_watched(result.is_ok());
            // Logged while the lock is held, so the AOF has the order the writes happened in.
            if result.is_ok() && propagates(ctx, spec) {
                crate::persistence::aof::feed(ctx, argv);
            }
            if db.has_ready_keys() {
                // Blocked clients served here pop on their own behalf: propagate their pops.
                let served = crate::blocking::serve_ready_keys(db, ctx.now_ms);
                crate::persistence::aof::feed_served(ctx.shared, ctx.client.db, &served);
            }
            invalidate_tracked_keys(ctx);
            result
        }
        Handler::KeyspaceRead(f) => {
            let keyspace = ctx.shared.store.read();
            f(ctx, &keyspace, argv, reply)
        }
        Handler::KeyspaceWrite(f) => {
            let mut keyspace = ctx.shared.store.write();
            let result = f(ctx, &mut keyspace, argv, reply);
            settle_watched_all(&mut keyspace, &result);
            if result.is_ok() && spec.flags.contains(Flags::WRITE) {
                crate::persistence::aof::feed(ctx, argv);
            }
            serve_all_ready_keys_logged(ctx, &mut keyspace);
            invalidate_tracked_keys(ctx);
            result
        }
        Handler::Conn(f) => f(ctx, argv, reply),
        Handler::Container => Err(CmdError::WrongArity),
    }
}

/// Sends the invalidations of the keys the running command modified, while the keyspace
/// lock is still held, so that they are the command's own (see [`crate::tracking`]).
fn invalidate_tracked_keys(ctx: &mut Ctx) {
    if ctx.shared.store.notifier().tracks_modifications() {
        crate::tracking::invalidate_modified(ctx.shared, Some(&mut *ctx.client));
    }
}

/// [`crate::store::Db::settle_watched`] on every database, after a handler that sees them
/// all (MOVE, COPY ... DB, EXEC's callees).
fn settle_watched_all(keyspace: &mut Keyspace, result: &CmdResult) {
    for db in keyspace.dbs_mut() {
        db.settle_watched(result.is_ok());
    }
}

/// Serves blocked clients on every database with ready keys (after EXEC, MOVE, SWAPDB...),
/// propagating the pops done for the served clients (see
/// [`crate::persistence::aof::feed_served`]).
pub(crate) fn serve_all_ready_keys_logged(ctx: &Ctx, keyspace: &mut Keyspace) {
    for (index, db) in keyspace.dbs_mut().iter_mut().enumerate() {
        if db.has_ready_keys() {
            let served = crate::blocking::serve_ready_keys(db, ctx.now_ms);
            crate::persistence::aof::feed_served(ctx.shared, index, &served);
        }
    }
}

/// Calls a handler with a keyspace whose write lock the caller already holds (EXEC).
pub(crate) fn call_locked(
    ctx: &mut Ctx,
    keyspace: &mut Keyspace,
    spec: &CommandSpec,
    argv: &Argv,
    reply: &mut Reply,
) -> CmdResult {
    let db = ctx.client.db;
    match spec.handler {
        Handler::Read(f) => f(ctx, keyspace.db(db), argv, reply),
        Handler::Write(f) => {
            let db = keyspace.db_mut(db);
            let result = f(ctx, db, argv, reply);
            db.settle_watched(result.is_ok());
            result
        }
        Handler::KeyspaceRead(f) => f(ctx, keyspace, argv, reply),
        Handler::KeyspaceWrite(f) => {
            let result = f(ctx, keyspace, argv, reply);
            settle_watched_all(keyspace, &result);
            result
        }
        Handler::Conn(f) => f(ctx, argv, reply),
        Handler::Container => Err(CmdError::WrongArity),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_consistent() {
        let mut seen = std::collections::HashSet::new();
        for spec in all_commands() {
            assert_eq!(
                spec.name,
                spec.name.to_ascii_lowercase(),
                "{} must be lowercase",
                spec.name
            );
            assert!(seen.insert(spec.name), "{} declared twice", spec.name);
            assert!(
                spec.name.len() <= 32,
                "{} is too long for lookup()",
                spec.name
            );
            check_row(spec);
            for sub in spec.subcommands {
                check_row(sub);
            }
            if !spec.subcommands.is_empty() {
                // A container's row runs only when no subcommand is given: Container (an
                // arity error) for most, a real handler for COMMAND, which lists everything.
                assert!(
                    matches!(spec.handler, Handler::Container | Handler::Conn(_)),
                    "{} has subcommands",
                    spec.name
                );
            }
        }
    }

    fn check_row(spec: &CommandSpec) {
        // PFCOUNT is the one readonly command Redis lets write: it stores the cardinality it
        // computed in the key's cache (and propagates, hence may_replicate). XREAD only
        // reads, but with BLOCK it registers its client as a waiter in the database.
        // The read-only script commands take the write lock too: the interpreter is one, and
        // a script must run alone whatever it does (see cmd::scripting).
        let runs_scripts = matches!(spec.name, "eval_ro" | "evalsha_ro" | "fcall_ro");
        if spec.flags.contains(Flags::READONLY)
            && !matches!(spec.name, "pfcount" | "xread")
            && !runs_scripts
        {
            assert!(
                matches!(
                    spec.handler,
                    Handler::Read(_) | Handler::KeyspaceRead(_) | Handler::Conn(_)
                ),
                "{} is readonly but takes the write lock",
                spec.name
            );
        }
        if matches!(spec.handler, Handler::Write(_) | Handler::KeyspaceWrite(_))
            && spec.name != "xread"
            && !runs_scripts
        {
            assert!(
                spec.flags.contains(Flags::WRITE)
                    || spec.flags.contains(Flags::ADMIN)
                    || spec.flags.contains(Flags::MAY_REPLICATE),
                "{} takes the write lock but is not flagged write",
                spec.name
            );
        }
        assert!(spec.arity != 0, "{} has arity 0", spec.name);
    }

    #[test]
    fn unknown_command_error_matches_redis() {
        let argv = Argv::from_args(["foo", "a", "b"]);
        assert_eq!(
            resolve(&argv).unwrap_err(),
            b"ERR unknown command 'foo', with args beginning with: 'a' 'b' ".to_vec()
        );
        let argv = Argv::from_args(["foo"]);
        assert_eq!(
            resolve(&argv).unwrap_err(),
            b"ERR unknown command 'foo', with args beginning with: ".to_vec()
        );
    }
}
