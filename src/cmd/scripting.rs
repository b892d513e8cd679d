//! Scripting: EVAL, EVALSHA, EVAL_RO, EVALSHA_RO, SCRIPT, FCALL, FCALL_RO, FUNCTION.
//!
//! Counterpart of Redis `eval.c`, `script.c` and `functions.c`. The Lua side (the sandbox,
//! the `redis` API, the conversions) is in [`crate::script`]; this file is what a script
//! does to the server.
//!
//! # Atomicity
//!
//! A script runs under the keyspace write lock, taken once for the whole script (the table
//! rows say `KeyspaceWrite`), as EXEC runs its queued commands: no other client's command
//! runs in between. `redis.call` runs a command through the same table and checks as a
//! client's, with the caller's user and database, and hands its reply back to Lua.
//!
//! # What is propagated
//!
//! Redis 7.0 replicates a script's effects, not the script: the commands it ran go to the
//! AOF and the replicas wrapped in MULTI ... EXEC (as EXEC's own are), and the EVAL itself
//! is not propagated. SCRIPT LOAD is not propagated either; FUNCTION LOAD, DELETE, FLUSH
//! and RESTORE are write commands and are.
//!
//! # Busy scripts
//!
//! While a script runs, [`Scripting::running`] is set. [`super::dispatch`] checks it before
//! taking any lock. A command that arrives once the script has run a couple of milliseconds
//! waits for it, and once the script is older than `busy-reply-threshold` it is refused
//! with `-BUSY` (unless its row is flagged `allow_busy`: SCRIPT KILL, FUNCTION KILL,
//! FUNCTION STATS ...); one that arrives earlier, most likely behind one of the many short
//! scripts, simply waits on the keyspace lock. SCRIPT KILL sets a flag the interpreter's
//! instruction hook checks (coroutines included); a script that already wrote cannot be
//! killed (`UNKILLABLE`).
//!
//! # Not done
//!
//! The script debugger (SCRIPT DEBUG) is absent; MONITOR shows a script's commands with the
//! caller's address, not `lua`; `redis.call` takes at most about 7990 arguments (the
//! embedding needs a few stack slots of its own; Redis takes 7999); cluster flags and
//! `min-replicas-to-write` are not checked.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::connection::reply_help;
use super::{
    lookup, lookup_subcommand, run_command, CmdError, CmdResult, CommandSpec, Ctx, Flags, Group,
    Handler, KeySpec,
};
use crate::protocol::{Argv, Reply};
use crate::script::{Engine, Kind, RunFlags, ScriptFlags, Target};
use crate::shared::Shared;
use crate::store::Keyspace;
use crate::util::eq_ci;

const SCRIPT_RUN: Flags = Flags::NOSCRIPT
    .union(Flags::SKIP_MONITOR)
    .union(Flags::MAY_REPLICATE)
    .union(Flags::NO_MANDATORY_KEYS)
    .union(Flags::STALE)
    .union(Flags::MOVABLEKEYS);
const SCRIPT_RUN_RO: Flags = Flags::NOSCRIPT
    .union(Flags::SKIP_MONITOR)
    .union(Flags::NO_MANDATORY_KEYS)
    .union(Flags::STALE)
    .union(Flags::READONLY)
    .union(Flags::MOVABLEKEYS);

/// `-BUSY` while an EVAL script runs past `busy-reply-threshold`.
pub(crate) const BUSY_EVAL: &[u8] =
    b"BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.";
/// `-BUSY` while a function runs past `busy-reply-threshold`.
pub(crate) const BUSY_FUNCTION: &[u8] =
    b"BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.";
const NOSCRIPT: CmdError = CmdError::msg(crate::script::NOSCRIPT);

/// The scripting group's rows of the command table.
#[rustfmt::skip]
pub(crate) static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("eval", -3, SCRIPT_RUN, KeySpec::NONE, Group::Scripting, Handler::KeyspaceWrite(eval)),
    CommandSpec::new("evalsha", -3, SCRIPT_RUN, KeySpec::NONE, Group::Scripting, Handler::KeyspaceWrite(evalsha)),
    CommandSpec::new("eval_ro", -3, SCRIPT_RUN_RO, KeySpec::NONE, Group::Scripting, Handler::KeyspaceWrite(eval_ro)),
    CommandSpec::new("evalsha_ro", -3, SCRIPT_RUN_RO, KeySpec::NONE, Group::Scripting, Handler::KeyspaceWrite(evalsha_ro)),
    CommandSpec::new("fcall", -3, SCRIPT_RUN, KeySpec::NONE, Group::Scripting, Handler::KeyspaceWrite(fcall)),
    CommandSpec::new("fcall_ro", -3, SCRIPT_RUN_RO, KeySpec::NONE, Group::Scripting, Handler::KeyspaceWrite(fcall_ro)),
    CommandSpec::new("script", -2, Flags::NONE, KeySpec::NONE, Group::Scripting, Handler::Container).with_subcommands(SCRIPT_SUBCOMMANDS),
    CommandSpec::new("function", -2, Flags::NONE, KeySpec::NONE, Group::Scripting, Handler::Container).with_subcommands(FUNCTION_SUBCOMMANDS),
];

#[rustfmt::skip]
static SCRIPT_SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec::new("exists", -3, Flags::NOSCRIPT, KeySpec::NONE, Group::Scripting, Handler::Conn(script_exists)),
    CommandSpec::new("flush", -2, Flags::NOSCRIPT, KeySpec::NONE, Group::Scripting, Handler::Conn(script_flush)),
    CommandSpec::new("help", 2, Flags::LOADING.union(Flags::STALE), KeySpec::NONE, Group::Scripting, Handler::Conn(script_help)),
    CommandSpec::new("kill", 2, Flags::NOSCRIPT.union(Flags::ALLOW_BUSY), KeySpec::NONE, Group::Scripting, Handler::Conn(script_kill)),
    CommandSpec::new("load", 3, Flags::NOSCRIPT.union(Flags::STALE), KeySpec::NONE, Group::Scripting, Handler::Conn(script_load)),
];

#[rustfmt::skip]
static FUNCTION_SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec::new("delete", 3, Flags::NOSCRIPT.union(Flags::WRITE), KeySpec::NONE, Group::Scripting, Handler::KeyspaceWrite(function_delete)),
    CommandSpec::new("dump", 2, Flags::NOSCRIPT, KeySpec::NONE, Group::Scripting, Handler::Conn(function_dump)),
    CommandSpec::new("flush", -2, Flags::NOSCRIPT.union(Flags::WRITE), KeySpec::NONE, Group::Scripting, Handler::KeyspaceWrite(function_flush)),
    CommandSpec::new("help", 2, Flags::LOADING.union(Flags::STALE), KeySpec::NONE, Group::Scripting, Handler::Conn(function_help)),
    CommandSpec::new("kill", 2, Flags::NOSCRIPT.union(Flags::ALLOW_BUSY), KeySpec::NONE, Group::Scripting, Handler::Conn(function_kill)),
    CommandSpec::new("list", -2, Flags::NOSCRIPT, KeySpec::NONE, Group::Scripting, Handler::Conn(function_list)),
    CommandSpec::new("load", -3, Flags::NOSCRIPT.union(Flags::WRITE).union(Flags::DENYOOM), KeySpec::NONE, Group::Scripting, Handler::KeyspaceWrite(function_load)),
    CommandSpec::new("restore", -3, Flags::NOSCRIPT.union(Flags::WRITE).union(Flags::DENYOOM), KeySpec::NONE, Group::Scripting, Handler::KeyspaceWrite(function_restore)),
    CommandSpec::new("stats", 2, Flags::NOSCRIPT.union(Flags::ALLOW_BUSY), KeySpec::NONE, Group::Scripting, Handler::Conn(function_stats)),
];

/// The error for a script that does not compile: Lua's message, whose quoted bytes are the
/// script's own, sent as they are.
fn compile_error(message: Vec<u8>) -> CmdError {
    let mut text = b"ERR ".to_vec();
    text.extend(message);
    CmdError::Quoting(text)
}

/// What runs now, for BUSY replies, SCRIPT KILL and FUNCTION STATS.
struct RunningScript {
    started: Instant,
    kind: Kind,
    /// The function's name, or the script's SHA-1.
    name: String,
    /// The command that started it (`fcall`, `eval`...), for FUNCTION STATS.
    command: Vec<Vec<u8>>,
}

/// The scripting state of the server: the interpreter and what it runs now.
#[derive(Default)]
pub struct Scripting {
    /// The interpreter, made on first use.
    engine: Mutex<Option<Engine>>,
    /// Flags the interpreter's hook reads.
    flags: Arc<RunFlags>,
    /// The running script, if any.
    running: Mutex<Option<RunningScript>>,
    /// Notified when a script ends, for the commands waiting on it.
    ended: parking_lot::Condvar,
    /// The running script has run a write command: it cannot be killed.
    wrote: AtomicBool,
}

impl std::fmt::Debug for Scripting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scripting")
            .field("running", &self.running())
            .finish_non_exhaustive()
    }
}

impl Scripting {
    /// The flags the script or function an EVAL/EVALSHA/FCALL line would run declared, when
    /// it declared some (Redis `evalGetCommandFlags`, `fcallGetCommandFlags`): `None` for a
    /// script without shebang, an unknown SHA-1 or function, and any other command. The
    /// dispatcher uses them where Redis uses the command's flags computed from them (CLIENT
    /// PAUSE lets a `no-writes` script through).
    pub(crate) fn declared_flags(&self, name: &str, argv: &Argv) -> Option<ScriptFlags> {
        let declared =
            |flags: ScriptFlags| (!flags.contains(ScriptFlags::EVAL_COMPAT)).then_some(flags);
        match name {
            "eval" | "eval_ro" => {
                let (flags, _) = crate::script::shebang_flags(argv.get(1)?).ok()?;
                declared(flags)
            }
            "evalsha" | "evalsha_ro" => {
                let sha = String::from_utf8_lossy(argv.get(1)?).to_ascii_lowercase();
                let engine = self.engine.lock();
                declared(engine.as_ref()?.script(&sha)?.flags)
            }
            "fcall" | "fcall_ro" => {
                let function = String::from_utf8_lossy(argv.get(1)?).to_ascii_lowercase();
                let engine = self.engine.lock();
                Some(engine.as_ref()?.function(&function)?.1.flags)
            }
            _ => None,
        }
    }

    /// True while a script runs (one atomic load: dispatch checks it for every command).
    pub fn running(&self) -> bool {
        self.flags.running.load(Ordering::Acquire)
    }

    /// The BUSY error to answer a command that is not allowed while a script runs, once the
    /// script has run longer than `threshold_ms`; None when it ended. Waits while the
    /// script is younger than that, as a client's command waits on Redis's busy thread.
    pub(crate) fn wait_or_busy(&self, threshold_ms: u64) -> Option<&'static [u8]> {
        let mut running = self.running.lock();
        // A script that has just started is most likely one of the many short ones: the
        // command then waits on the keyspace lock like any other, rather than here.
        if running.as_ref()?.started.elapsed() < Duration::from_millis(2) {
            return None;
        }
        loop {
            let script = running.as_ref()?;
            let elapsed = script.started.elapsed();
            let threshold = Duration::from_millis(threshold_ms);
            if threshold_ms > 0 && elapsed >= threshold {
                return Some(match script.kind {
                    Kind::Eval => BUSY_EVAL,
                    Kind::Function => BUSY_FUNCTION,
                });
            }
            if threshold_ms == 0 {
                self.ended.wait(&mut running);
            } else {
                self.ended.wait_for(&mut running, threshold - elapsed);
            }
        }
    }

    /// Runs `f` with the interpreter, making it on first use.
    fn with_engine<R>(&self, f: impl FnOnce(&mut Engine) -> R) -> R {
        let mut guard = self.engine.lock();
        let engine = guard.get_or_insert_with(|| {
            Engine::new(self.flags.clone()).expect("the Lua interpreter starts")
        });
        f(engine)
    }

    /// The code of every library, for the dump file and FUNCTION DUMP.
    pub(crate) fn library_codes(&self) -> Vec<Vec<u8>> {
        match self.engine.lock().as_ref() {
            Some(e) => e.libraries().values().map(|l| l.code.clone()).collect(),
            None => Vec::new(),
        }
    }

    /// Loads libraries from their code (FUNCTION RESTORE, a dump file), all or none (Redis
    /// `functionRestoreCommand`, `libraryJoin`). Errors are Redis's texts without `ERR `.
    pub(crate) fn restore_libraries(
        &self,
        codes: &[Vec<u8>],
        policy: RestorePolicy,
    ) -> Result<(), String> {
        self.with_engine(|e| {
            let old = e.take_libraries();
            let loaded = codes
                .iter()
                .try_for_each(|code| e.load_library(code, false).map(|_| ()));
            let new = e.take_libraries();
            if let Err(msg) = loaded {
                e.put_libraries(old);
                return Err(msg);
            }
            if policy == RestorePolicy::Flush {
                e.put_libraries(new);
                return Ok(());
            }
            let mut kept = old;
            let mut replaced = std::collections::BTreeMap::new();
            for name in new.keys() {
                if let Some(lib) = kept.remove(name) {
                    if policy == RestorePolicy::Append {
                        kept.insert(name.clone(), lib);
                        kept.append(&mut replaced);
                        e.put_libraries(kept);
                        return Err(format!("Library {name} already exists"));
                    }
                    replaced.insert(name.clone(), lib);
                }
            }
            for lib in new.values() {
                for f in lib.functions.values() {
                    let clash = kept
                        .values()
                        .any(|l| l.functions.contains_key(&f.name.to_ascii_lowercase()));
                    if clash {
                        kept.append(&mut replaced);
                        e.put_libraries(kept);
                        return Err(format!("Function {} already exists", f.name));
                    }
                }
            }
            kept.extend(new);
            e.put_libraries(kept);
            Ok(())
        })
    }

    /// INFO's figures (memory section).
    pub fn info(&self) -> ScriptingInfo {
        let mut info = ScriptingInfo::default();
        if let Some(e) = self.engine.lock().as_ref() {
            (info.scripts, info.scripts_bytes) = e.cache_size();
            info.vm_bytes = e.memory();
            let libs = e.libraries();
            info.libraries = libs.len();
            info.functions = libs.values().map(|l| l.functions.len()).sum();
            info.functions_bytes = libs.values().map(|l| l.code.len()).sum();
        }
        info
    }
}

/// How FUNCTION RESTORE treats the libraries already loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RestorePolicy {
    /// Add the payload's libraries; a name already loaded fails the whole restore.
    Append,
    /// Add them, replacing libraries of the same name.
    Replace,
    /// Drop every library first.
    Flush,
}

/// What INFO reports of scripting.
#[derive(Debug, Default)]
pub struct ScriptingInfo {
    /// Cached EVAL scripts.
    pub scripts: usize,
    /// Bytes of their bodies.
    pub scripts_bytes: usize,
    /// Bytes the interpreter uses.
    pub vm_bytes: usize,
    /// Function libraries.
    pub libraries: usize,
    /// Functions in them.
    pub functions: usize,
    /// Bytes of the libraries' code.
    pub functions_bytes: usize,
}

/// The server as a running script reaches it through `redis.call` (Redis `scriptCall`).
struct ScriptHost<'a, 'b> {
    ctx: &'a mut Ctx<'b>,
    keyspace: &'a mut Keyspace,
    read_only: bool,
    /// The script declared `allow-oom`.
    allow_oom: bool,
    wrote: &'a AtomicBool,
    /// INFO errorstats codes of the errors the script's commands replied, for the caller's
    /// reply to publish.
    error_codes: Vec<(Vec<u8>, u64)>,
}

impl ScriptHost<'_, '_> {
    /// A command refused before it ran (Redis `scriptCall`'s error path): counted in INFO
    /// errorstats and in the command's `rejected_calls`.
    fn refuse(
        &mut self,
        spec: Option<&'static CommandSpec>,
        text: String,
    ) -> Result<Vec<u8>, String> {
        let code = crate::util::error_code(text.as_bytes()).to_vec();
        match self.error_codes.iter_mut().find(|(c, _)| *c == code) {
            Some((_, n)) => *n += 1,
            None => self.error_codes.push((code, 1)),
        }
        if let Some(spec) = spec {
            self.ctx.client.command_stats.rejected(spec);
        }
        Err(text)
    }
}

/// Finds the row `argv` runs, as `lookupCommand` does (the subcommand of a container).
fn resolve_in_script(argv: &Argv) -> Option<(&'static CommandSpec, Option<&'static CommandSpec>)> {
    let spec = lookup(&argv[0])?;
    if !spec.subcommands.is_empty() && argv.len() >= 2 {
        return lookup_subcommand(spec, &argv[1]).map(|sub| (sub, Some(spec)));
    }
    Some((spec, None))
}

impl crate::script::Host for ScriptHost<'_, '_> {
    fn call(&mut self, args: &[Vec<u8>], resp: u8) -> Result<Vec<u8>, String> {
        let argv = Argv::from_args(args.iter());
        let Some((spec, parent)) = resolve_in_script(&argv) else {
            return self.refuse(None, "ERR Unknown Redis command called from script".into());
        };
        if !spec.arity_ok(argv.len()) {
            let text = "ERR Wrong number of args calling Redis command from script";
            return self.refuse(Some(spec), text.into());
        }
        if spec.flags.contains(Flags::NOSCRIPT) {
            let text = "ERR This Redis command is not allowed from script";
            return self.refuse(Some(spec), text.into());
        }
        if let Some(text) = self.refusal(spec, &argv) {
            return self.refuse(Some(spec), text);
        }
        let ctx = &mut *self.ctx;
        if spec.flags.contains(Flags::WRITE) {
            self.wrote.store(true, Ordering::Relaxed);
        }
        let mut reply = Reply::with_protocol(resp == 3);
        let errors_seen = ctx.client.errors_seen;
        ctx.client.errors_seen = 0;
        run_command(ctx, spec, parent, &argv, &mut reply, Some(self.keyspace));
        ctx.client.errors_seen = errors_seen;
        let codes = reply.take_error_codes();
        for (code, n) in codes {
            match self.error_codes.iter_mut().find(|(c, _)| *c == code) {
                Some((_, m)) => *m += n,
                None => self.error_codes.push((code, n)),
            }
        }
        Ok(reply.take_bytes())
    }

    fn acl_check(&mut self, args: &[Vec<u8>]) -> Option<bool> {
        let argv = Argv::from_args(args.iter());
        let (spec, _) = resolve_in_script(&argv)?;
        if !spec.arity_ok(argv.len()) && !spec.subcommands.is_empty() {
            return None;
        }
        Some(match self.ctx.client.user.as_ref() {
            Some(user) => user.check(spec, &argv).is_ok(),
            None => true,
        })
    }

    fn set_repl(&mut self, _flags: u8) {
        // Redis 7.0 always replicates effects; REPL_NONE and friends are accepted, and
        // respd, like Redis for a script that writes, propagates every write.
    }
}

impl ScriptHost<'_, '_> {
    /// Why the script may not run this command now (ACL, read-only script, persistence
    /// errors, memory), as Redis's `scriptCall` checks it; None if it may.
    fn refusal(&mut self, spec: &'static CommandSpec, argv: &Argv) -> Option<String> {
        let ctx = &mut *self.ctx;
        if let Some(user) = ctx.client.user.as_ref() {
            if let Err(denied) = user.check(spec, argv) {
                let reason = match denied {
                    crate::acl::Denied::Command => "can't run this command or subcommand",
                    crate::acl::Denied::Key(_) => {
                        "can't access at least one of the keys mentioned in the command"
                    }
                    crate::acl::Denied::Channel(_) => {
                        "can't publish to the channel mentioned in the command"
                    }
                };
                return Some(format!("ERR The user executing the script {reason}"));
            }
        }
        let writes = spec.flags.contains(Flags::WRITE);
        if self.read_only && (writes || spec.flags.contains(Flags::MAY_REPLICATE)) {
            return Some("ERR Write commands are not allowed from read-only scripts.".into());
        }
        if writes && !self.wrote.load(Ordering::Relaxed) {
            // mirrors scriptVerifyWriteCommandAllow(): a read-only replica's scripts do not
            // write, unless its master runs them.
            if super::readonly_replica(ctx.shared, ctx.client) {
                return Some(String::from_utf8_lossy(super::error::READONLY_ERROR).into_owned());
            }
            if let Some(message) = super::writes_denied(ctx.shared) {
                return Some(String::from_utf8_lossy(&message).into_owned());
            }
        }
        // mirrors scriptVerifyOOM(): only before the script's first write, which could not
        // be undone.
        if spec.flags.contains(Flags::DENYOOM)
            && !self.allow_oom
            && !self.wrote.load(Ordering::Relaxed)
            && out_of_memory(ctx.shared)
        {
            return Some(String::from_utf8_lossy(super::error::OOM_ERROR).into_owned());
        }
        None
    }
}

/// The number of keys argument of EVAL and FCALL (Redis `evalGenericCommand`).
fn numkeys(argv: &Argv) -> Result<usize, CmdError> {
    let n = crate::util::parse_i64(&argv[2]).ok_or(CmdError::NotInteger)?;
    if n > argv.len() as i64 - 3 {
        return Err(CmdError::NUMKEYS_OVER_ARGS);
    }
    if n < 0 {
        return Err(CmdError::msg("ERR Number of keys can't be negative"));
    }
    Ok(n as usize)
}

/// ```text
/// EVAL script numkeys [key ...] [arg ...]
/// ```
pub fn eval(ctx: &mut Ctx, keyspace: &mut Keyspace, argv: &Argv, reply: &mut Reply) -> CmdResult {
    eval_generic(ctx, keyspace, argv, reply, false, false)
}

/// ```text
/// EVALSHA sha1 numkeys [key ...] [arg ...]
/// ```
pub(crate) fn evalsha(
    ctx: &mut Ctx,
    keyspace: &mut Keyspace,
    argv: &Argv,
    reply: &mut Reply,
) -> CmdResult {
    eval_generic(ctx, keyspace, argv, reply, true, false)
}

/// ```text
/// EVAL_RO script numkeys [key ...] [arg ...]
/// ```
pub(crate) fn eval_ro(
    ctx: &mut Ctx,
    keyspace: &mut Keyspace,
    argv: &Argv,
    reply: &mut Reply,
) -> CmdResult {
    eval_generic(ctx, keyspace, argv, reply, false, true)
}

/// ```text
/// EVALSHA_RO sha1 numkeys [key ...] [arg ...]
/// ```
pub(crate) fn evalsha_ro(
    ctx: &mut Ctx,
    keyspace: &mut Keyspace,
    argv: &Argv,
    reply: &mut Reply,
) -> CmdResult {
    eval_generic(ctx, keyspace, argv, reply, true, true)
}

/// EVAL and its three forms (Redis `evalGenericCommand`).
/// Shows a script command to the monitors before the commands its script runs (which show
/// `lua` as their client), as Redis's evalCommand and fcallCommandGeneric do; the table
/// flags these commands `skip_monitor` so that dispatch does not show them again after.
fn show_to_monitors(ctx: &mut Ctx, argv: &Argv, reply: &mut Reply) {
    let db = ctx.client.db;
    let handle = &ctx.client.handle;
    (ctx.shared.monitors).feed(ctx.shared, handle, db, argv, &[], false, false, reply);
}

fn eval_generic(
    ctx: &mut Ctx,
    keyspace: &mut Keyspace,
    argv: &Argv,
    reply: &mut Reply,
    by_sha: bool,
    ro: bool,
) -> CmdResult {
    show_to_monitors(ctx, argv, reply);
    ctx.propagate_nothing();
    let n = numkeys(argv)?;
    let shared = ctx.shared;
    let scripting = &shared.scripting;
    let sha = if by_sha {
        if argv[1].len() != 40 {
            return Err(NOSCRIPT);
        }
        String::from_utf8_lossy(&argv[1]).to_ascii_lowercase()
    } else {
        scripting
            .with_engine(|e| e.create_script(&argv[1]))
            .map_err(compile_error)?
    };
    let Some(flags) = scripting.with_engine(|e| e.script(&sha).map(|s| s.flags)) else {
        return Err(NOSCRIPT);
    };
    check_script_flags(ctx, flags, ro)?;
    let read_only =
        ro || (!flags.contains(ScriptFlags::EVAL_COMPAT) && flags.contains(ScriptFlags::NO_WRITES));
    let allow_oom =
        !flags.contains(ScriptFlags::EVAL_COMPAT) && flags.contains(ScriptFlags::ALLOW_OOM);
    run_script(
        ctx,
        keyspace,
        argv,
        reply,
        Target::Script(&sha),
        n,
        read_only,
        allow_oom,
    )
}

/// True when used memory was over `maxmemory` before the script started and nothing could
/// be evicted (Redis `server.pre_command_oom_state`; dispatch ran the evictions).
fn out_of_memory(shared: &Shared) -> bool {
    shared.config.read().kept_u64("maxmemory") != 0 && shared.dataset_gauge.lock().over_limit
}

/// The checks Redis makes before running a script that declared flags (Redis
/// `scriptPrepareForRun`).
fn check_script_flags(ctx: &Ctx, flags: ScriptFlags, ro: bool) -> CmdResult {
    if flags.contains(ScriptFlags::EVAL_COMPAT) {
        return Ok(());
    }
    // mirrors scriptPrepareForRun(): a replica whose link is down and that must not serve
    // stale data runs only scripts flagged allow-stale.
    if !flags.contains(ScriptFlags::ALLOW_STALE)
        && super::stale_data_refused(ctx.shared, ctx.client)
    {
        return Err(CmdError::msg("MASTERDOWN Link with MASTER is down, replica-serve-stale-data is set to 'no' and 'allow-stale' flag is not set on the script."));
    }
    if !flags.contains(ScriptFlags::NO_WRITES) {
        if super::readonly_replica(ctx.shared, ctx.client) {
            return Err(CmdError::msg(
                "READONLY Can not run script with write flag on readonly replica",
            ));
        }
        if let Some(message) = super::writes_denied(ctx.shared) {
            let text = String::from_utf8_lossy(&message);
            let text = if text.contains("RDB") {
                "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Writable scripts are blocked. Use 'no-writes' flag for read only scripts.".to_string()
            } else {
                text.into_owned()
            };
            return Err(CmdError::owned(text));
        }
        if ro {
            return Err(CmdError::msg(
                "ERR Can not execute a script with write flag using *_ro command.",
            ));
        }
    }
    if !flags.contains(ScriptFlags::ALLOW_OOM)
        && !flags.contains(ScriptFlags::NO_WRITES)
        && out_of_memory(ctx.shared)
    {
        return Err(CmdError::msg("OOM allow-oom flag is not set on the script, can not run it when used memory > 'maxmemory'"));
    }
    Ok(())
}

/// Runs a script or a function under the keyspace lock the handler holds, with the BUSY
/// state set for other clients, and writes its reply.
#[allow(clippy::too_many_arguments)]
fn run_script(
    ctx: &mut Ctx,
    keyspace: &mut Keyspace,
    argv: &Argv,
    reply: &mut Reply,
    target: Target<'_>,
    numkeys: usize,
    read_only: bool,
    allow_oom: bool,
) -> CmdResult {
    let shared = ctx.shared;
    let scripting = &shared.scripting;
    let (kind, name) = match &target {
        Target::Script(sha) => (Kind::Eval, sha.to_string()),
        Target::Function(f) => (Kind::Function, f.to_string()),
    };
    let keys: Vec<&[u8]> = argv.iter().skip(3).take(numkeys).collect();
    let args: Vec<&[u8]> = argv.iter().skip(3 + numkeys).collect();
    *scripting.running.lock() = Some(RunningScript {
        started: Instant::now(),
        kind,
        name,
        command: argv.iter().map(|a| a.to_vec()).collect(),
    });
    scripting.wrote.store(false, Ordering::Relaxed);
    scripting.flags.kill.store(false, Ordering::Relaxed);
    scripting.flags.running.store(true, Ordering::Release);
    let outer_exec = ctx.in_exec;
    if !outer_exec {
        super::transactions::records_begin(shared);
    }
    ctx.in_exec = true;
    ctx.in_script = true;
    // What CLIENT TRACKING remembers when the script reads (see run_command).
    ctx.client.script_keys = keys.iter().map(|k| k.to_vec()).collect();
    let db = ctx.client.db;
    let caller_resp = ctx.client.resp;
    let outcome = {
        let mut host = ScriptHost {
            ctx: &mut *ctx,
            keyspace: &mut *keyspace,
            read_only,
            allow_oom,
            wrote: &scripting.wrote,
            error_codes: Vec::new(),
        };
        let outcome =
            scripting.with_engine(|e| e.run(&mut host, target, &keys, &args, caller_resp));
        reply.add_error_codes(std::mem::take(&mut host.error_codes));
        outcome
    };
    ctx.client.db = db;
    ctx.in_exec = outer_exec;
    ctx.in_script = false;
    ctx.client.script_keys.clear();
    if !outer_exec {
        super::transactions::records_done(shared);
    }
    scripting.flags.running.store(false, Ordering::Release);
    *scripting.running.lock() = None;
    scripting.ended.notify_all();
    // The commands the script ran were propagated and counted on their own.
    ctx.propagate_nothing();
    ctx.changes = None;
    if outcome.is_error {
        let text = outcome.reply.strip_prefix(b"-").unwrap_or(&outcome.reply);
        let text = text.strip_suffix(b"\r\n").unwrap_or(text);
        if outcome.counted {
            reply.error_uncounted(text);
        } else {
            reply.error_verbatim(text);
        }
    } else {
        reply.raw(&outcome.reply);
    }
    Ok(())
}

/// ```text
/// SCRIPT EXISTS sha1 [sha1 ...]
/// ```
pub(crate) fn script_exists(ctx: &mut Ctx, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let scripting = &ctx.shared.scripting;
    reply.array(argv.len() - 2);
    for sha in argv.iter().skip(2) {
        let sha = String::from_utf8_lossy(sha).to_ascii_lowercase();
        let found = scripting.with_engine(|e| e.has_script(&sha));
        reply.int(found as i64);
    }
    Ok(())
}

/// ```text
/// SCRIPT FLUSH [ASYNC|SYNC]
/// ```
pub(crate) fn script_flush(ctx: &mut Ctx, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let valid = argv.len() == 2
        || (argv.len() == 3 && (eq_ci(&argv[2], "sync") || eq_ci(&argv[2], "async")));
    if !valid {
        return Err(CmdError::msg(
            "ERR SCRIPT FLUSH only support SYNC|ASYNC option",
        ));
    }
    ctx.shared.scripting.with_engine(|e| e.flush_scripts());
    reply.ok();
    Ok(())
}

/// ```text
/// SCRIPT LOAD script
/// ```
pub(crate) fn script_load(ctx: &mut Ctx, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let sha = ctx
        .shared
        .scripting
        .with_engine(|e| e.create_script(&argv[2]))
        .map_err(compile_error)?;
    reply.bulk(sha.as_bytes());
    Ok(())
}

/// ```text
/// SCRIPT KILL
/// ```
pub(crate) fn script_kill(ctx: &mut Ctx, _argv: &Argv, reply: &mut Reply) -> CmdResult {
    kill(ctx.shared, Kind::Eval, reply)
}

/// ```text
/// FUNCTION KILL
/// ```
pub(crate) fn function_kill(ctx: &mut Ctx, _argv: &Argv, reply: &mut Reply) -> CmdResult {
    kill(ctx.shared, Kind::Function, reply)
}

/// SCRIPT KILL and FUNCTION KILL (Redis `scriptKill`).
fn kill(shared: &Shared, asked: Kind, reply: &mut Reply) -> CmdResult {
    let scripting = &shared.scripting;
    let running = scripting.running.lock();
    let Some(script) = running.as_ref() else {
        return Err(CmdError::msg("NOTBUSY No scripts in execution right now."));
    };
    if scripting.wrote.load(Ordering::Relaxed) {
        return Err(CmdError::msg("UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command."));
    }
    match (asked, script.kind) {
        (Kind::Eval, Kind::Function) => return Err(CmdError::Quoting(BUSY_FUNCTION.to_vec())),
        (Kind::Function, Kind::Eval) => return Err(CmdError::Quoting(BUSY_EVAL.to_vec())),
        _ => {}
    }
    scripting.flags.kill.store(true, Ordering::Release);
    reply.ok();
    Ok(())
}

/// ```text
/// SCRIPT HELP
/// ```
pub(crate) fn script_help(_ctx: &mut Ctx, _argv: &Argv, reply: &mut Reply) -> CmdResult {
    reply_help(
        reply,
        "SCRIPT",
        &[
            "DEBUG (YES|SYNC|NO)",
            "    Set the debug mode for subsequent scripts executed.",
            "EXISTS <sha1> [<sha1> ...]",
            "    Return information about the existence of the scripts in the script cache.",
            "FLUSH [ASYNC|SYNC]",
            "    Flush the Lua scripts cache. Very dangerous on replicas.",
            "    When called without the optional mode argument, the behavior is determined by the",
            "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
            "    * ASYNC: Asynchronously flush the scripts cache.",
            "    * SYNC: Synchronously flush the scripts cache.",
            "KILL",
            "    Kill the currently executing Lua script.",
            "LOAD <script>",
            "    Load a script into the scripts cache without executing it.",
        ],
    );
    Ok(())
}

/// ```text
/// FCALL function numkeys [key ...] [arg ...]
/// ```
pub(crate) fn fcall(
    ctx: &mut Ctx,
    keyspace: &mut Keyspace,
    argv: &Argv,
    reply: &mut Reply,
) -> CmdResult {
    fcall_generic(ctx, keyspace, argv, reply, false)
}

/// ```text
/// FCALL_RO function numkeys [key ...] [arg ...]
/// ```
pub(crate) fn fcall_ro(
    ctx: &mut Ctx,
    keyspace: &mut Keyspace,
    argv: &Argv,
    reply: &mut Reply,
) -> CmdResult {
    fcall_generic(ctx, keyspace, argv, reply, true)
}

/// FCALL and FCALL_RO (Redis `fcallCommandGeneric`).
fn fcall_generic(
    ctx: &mut Ctx,
    keyspace: &mut Keyspace,
    argv: &Argv,
    reply: &mut Reply,
    ro: bool,
) -> CmdResult {
    show_to_monitors(ctx, argv, reply);
    ctx.propagate_nothing();
    let name = String::from_utf8_lossy(&argv[1]).into_owned();
    let Some(flags) = ctx
        .shared
        .scripting
        .with_engine(|e| e.function(&name).map(|(_, f)| f.flags))
    else {
        return Err(CmdError::msg(crate::script::FUNCTION_NOT_FOUND));
    };
    let n = match crate::util::parse_i64(&argv[2]) {
        None => return Err(CmdError::msg("ERR Bad number of keys provided")),
        Some(_) => numkeys(argv)?,
    };
    check_script_flags(ctx, flags, ro)?;
    let read_only = ro || flags.contains(ScriptFlags::NO_WRITES);
    let allow_oom = flags.contains(ScriptFlags::ALLOW_OOM);
    run_script(
        ctx,
        keyspace,
        argv,
        reply,
        Target::Function(&name),
        n,
        read_only,
        allow_oom,
    )
}

/// ```text
/// FUNCTION LOAD [REPLACE] function-code
/// ```
pub(crate) fn function_load(
    ctx: &mut Ctx,
    _keyspace: &mut Keyspace,
    argv: &Argv,
    reply: &mut Reply,
) -> CmdResult {
    let mut replace = false;
    let mut i = 2;
    while i < argv.len() - 1 {
        if eq_ci(&argv[i], "replace") {
            replace = true;
            i += 1;
            continue;
        }
        return Err(CmdError::quoting(
            "ERR Unknown option given: ",
            &argv[i],
            "",
        ));
    }
    if i != argv.len() - 1 {
        return Err(CmdError::msg("ERR Function code is missing"));
    }
    let name = ctx
        .shared
        .scripting
        .with_engine(|e| e.load_library(&argv[i], replace))
        .map_err(|msg| CmdError::owned(format!("ERR {msg}")))?;
    reply.bulk(name.as_bytes());
    Ok(())
}

/// ```text
/// FUNCTION DELETE library-name
/// ```
pub(crate) fn function_delete(
    ctx: &mut Ctx,
    _keyspace: &mut Keyspace,
    argv: &Argv,
    reply: &mut Reply,
) -> CmdResult {
    let name = String::from_utf8_lossy(&argv[2]).into_owned();
    if !ctx
        .shared
        .scripting
        .with_engine(|e| e.delete_library(&name))
    {
        return Err(CmdError::msg("ERR Library not found"));
    }
    reply.ok();
    Ok(())
}

/// ```text
/// FUNCTION FLUSH [ASYNC|SYNC]
/// ```
pub(crate) fn function_flush(
    ctx: &mut Ctx,
    _keyspace: &mut Keyspace,
    argv: &Argv,
    reply: &mut Reply,
) -> CmdResult {
    if argv.len() > 3 {
        return Err(CmdError::SubcommandSyntax);
    }
    let valid = argv.len() == 2 || eq_ci(&argv[2], "sync") || eq_ci(&argv[2], "async");
    if !valid {
        return Err(CmdError::msg(
            "ERR FUNCTION FLUSH only supports SYNC|ASYNC option",
        ));
    }
    ctx.shared.scripting.with_engine(|e| e.flush_functions());
    reply.ok();
    Ok(())
}

/// ```text
/// FUNCTION LIST [LIBRARYNAME library-name-pattern] [WITHCODE]
/// ```
pub(crate) fn function_list(ctx: &mut Ctx, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let mut with_code = false;
    let mut pattern: Option<Vec<u8>> = None;
    let mut i = 2;
    while i < argv.len() {
        let arg = &argv[i];
        if !with_code && eq_ci(arg, "withcode") {
            with_code = true;
            i += 1;
            continue;
        }
        if pattern.is_none() && eq_ci(arg, "libraryname") {
            if i + 1 >= argv.len() {
                return Err(CmdError::msg("ERR library name argument was not given"));
            }
            pattern = Some(argv[i + 1].to_vec());
            i += 2;
            continue;
        }
        return Err(CmdError::quoting("ERR Unknown argument ", arg, ""));
    }
    ctx.shared.scripting.with_engine(|e| {
        let libs: Vec<_> = e
            .libraries()
            .values()
            .filter(|l| {
                pattern
                    .as_ref()
                    .map_or(true, |p| crate::glob::matches(p, l.name.as_bytes(), false))
            })
            .collect();
        reply.array(libs.len());
        for lib in libs {
            reply.map(if with_code { 4 } else { 3 });
            reply.bulk(b"library_name");
            reply.bulk(lib.name.as_bytes());
            reply.bulk(b"engine");
            reply.bulk(b"LUA");
            reply.bulk(b"functions");
            reply.array(lib.functions.len());
            for f in lib.functions.values() {
                reply.map(3);
                reply.bulk(b"name");
                reply.bulk(f.name.as_bytes());
                reply.bulk(b"description");
                match &f.description {
                    Some(d) => reply.bulk(d),
                    None => reply.null(),
                }
                reply.bulk(b"flags");
                let names = f.flags.names();
                reply.set(names.len());
                for n in names {
                    reply.simple(n);
                }
            }
            if with_code {
                reply.bulk(b"library_code");
                reply.bulk(&lib.code);
            }
        }
    });
    Ok(())
}

/// ```text
/// FUNCTION STATS
/// ```
pub(crate) fn function_stats(ctx: &mut Ctx, _argv: &Argv, reply: &mut Reply) -> CmdResult {
    let scripting = &ctx.shared.scripting;
    {
        let running = scripting.running.lock();
        if let Some(script) = running.as_ref() {
            if script.kind == Kind::Eval {
                return Err(CmdError::Quoting(BUSY_EVAL.to_vec()));
            }
        }
        reply.map(2);
        reply.bulk(b"running_script");
        match running.as_ref() {
            None => reply.null(),
            Some(script) => {
                reply.map(3);
                reply.bulk(b"name");
                reply.bulk(script.name.as_bytes());
                reply.bulk(b"command");
                reply.array(script.command.len());
                for a in &script.command {
                    reply.bulk(a);
                }
                reply.bulk(b"duration_ms");
                reply.int(script.started.elapsed().as_millis() as i64);
            }
        }
    }
    // While a function runs, the interpreter is busy: count what is known without it.
    let (libraries, functions) = match scripting.engine.try_lock() {
        Some(guard) => guard
            .as_ref()
            .map(|e| {
                let libs = e.libraries();
                (libs.len(), libs.values().map(|l| l.functions.len()).sum())
            })
            .unwrap_or((0, 0)),
        None => (0, 0),
    };
    reply.bulk(b"engines");
    reply.map(1);
    reply.bulk(b"LUA");
    reply.map(2);
    reply.bulk(b"libraries_count");
    reply.int(libraries as i64);
    reply.bulk(b"functions_count");
    reply.int(functions as i64);
    Ok(())
}

/// ```text
/// FUNCTION DUMP
/// ```
pub(crate) fn function_dump(ctx: &mut Ctx, _argv: &Argv, reply: &mut Reply) -> CmdResult {
    let codes = ctx.shared.scripting.library_codes();
    reply.bulk(&super::dump::functions_payload(ctx, &codes));
    Ok(())
}

/// ```text
/// FUNCTION RESTORE serialized-value [FLUSH|APPEND|REPLACE]
/// ```
pub(crate) fn function_restore(
    ctx: &mut Ctx,
    _keyspace: &mut Keyspace,
    argv: &Argv,
    reply: &mut Reply,
) -> CmdResult {
    if argv.len() > 4 {
        return Err(CmdError::SubcommandSyntax);
    }
    let policy =
        match argv.get(3) {
            None => RestorePolicy::Append,
            Some(p) if eq_ci(p, "append") => RestorePolicy::Append,
            Some(p) if eq_ci(p, "replace") => RestorePolicy::Replace,
            Some(p) if eq_ci(p, "flush") => RestorePolicy::Flush,
            Some(_) => return Err(CmdError::msg(
                "ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.",
            )),
        };
    let codes = super::dump::functions_from_payload(&argv[2])
        .map_err(|msg| CmdError::owned(format!("ERR {msg}")))?;
    ctx.shared
        .scripting
        .restore_libraries(&codes, policy)
        .map_err(|msg| CmdError::owned(format!("ERR {msg}")))?;
    reply.ok();
    Ok(())
}

/// ```text
/// FUNCTION HELP
/// ```
pub(crate) fn function_help(_ctx: &mut Ctx, _argv: &Argv, reply: &mut Reply) -> CmdResult {
    reply_help(
        reply,
        "FUNCTION",
        &[
            "LOAD [REPLACE] <FUNCTION CODE>",
            "    Create a new library with the given library name and code.",
            "DELETE <LIBRARY NAME>",
            "    Delete the given library.",
            "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
            "    Return general information on all the libraries:",
            "    * Library name",
            "    * The engine used to run the Library",
            "    * Library description",
            "    * Functions list",
            "    * Library code (if WITHCODE is given)",
            "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
            "STATS",
            "    Return information about the current function running:",
            "    * Function name",
            "    * Command used to run the function",
            "    * Duration in MS that the function is running",
            "    If no function is running, return nil",
            "    In addition, returns a list of available engines.",
            "KILL",
            "    Kill the current running function.",
            "FLUSH [ASYNC|SYNC]",
            "    Delete all the libraries.",
            "    When called without the optional mode argument, the behavior is determined by the",
            "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
            "    * ASYNC: Asynchronously flush the libraries.",
            "    * SYNC: Synchronously flush the libraries.",
            "DUMP",
            "    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command",
            "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
            "    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
            "    control how to handle existing libraries (default APPEND):",
            "    * FLUSH: delete all existing libraries.",
            "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
            "    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
            "      libraries with the new libraries (notice that even on this option there is a chance of failure",
            "      in case of functions name collision with another library).",
        ],
    );
    Ok(())
}
