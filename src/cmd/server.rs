//! Server commands that administer the keyspace and the process: DBSIZE, FLUSHDB, FLUSHALL,
//! SWAPDB, TIME, SHUTDOWN and the CONFIG container.
//!
//! Counterpart of the server group in Redis: `db.c` (dbsizeCommand, flushdbCommand,
//! flushallCommand, swapdbCommand), `server.c` (timeCommand, shutdownCommand) and `config.c`
//! (configGetCommand, configSetCommand). INFO and COMMAND, which describe the server rather
//! than change it, live in [`super::introspection`].
//!
//! CONFIG reads and writes the one [`CONFIG_TABLE`](crate::config::CONFIG_TABLE), so a
//! directive that exists in the config file exists for CONFIG GET / SET too, with the same
//! parser and the same error texts.

use std::sync::atomic::Ordering;

use super::connection::reply_help;
use super::{CmdError, CmdResult, CommandSpec, Ctx, Flags, Group, Handler, KeySpec};
use crate::config::{self, Config, ConfigSpec, CONFIG_TABLE};
use crate::protocol::parse::split_args;
use crate::protocol::{Argv, Reply};
use crate::shared::ShutdownRequest;
use crate::store::{Db, Keyspace};
use crate::util::{eq_ci, parse_i64};

/// Flags of the CONFIG subcommands that read or change settings.
const CONFIG_FLAGS: Flags = Flags::ADMIN
    .union(Flags::NOSCRIPT)
    .union(Flags::LOADING)
    .union(Flags::STALE);

const fn config_sub(name: &'static str, arity: i32, flags: Flags, f: super::ConnFn) -> CommandSpec {
    CommandSpec::new(
        name,
        arity,
        flags,
        KeySpec::NONE,
        Group::Server,
        Handler::Conn(f),
    )
}

#[rustfmt::skip]
static CONFIG_SUBCOMMANDS: &[CommandSpec] = &[
    config_sub("get", -3, CONFIG_FLAGS, config_get),
    config_sub("set", -4, CONFIG_FLAGS, config_set),
    // The keyspace lock, not Conn: it resets per-database counters, and it must work inside
    // EXEC, which already holds that lock.
    CommandSpec::new("resetstat", 2, CONFIG_FLAGS, KeySpec::NONE, Group::Server, Handler::KeyspaceWrite(config_resetstat)),
    config_sub("rewrite", 2, CONFIG_FLAGS, config_rewrite),
    config_sub("help", 2, Flags::LOADING.union(Flags::STALE), config_help),
];

/// The server group's rows of the command table.
#[rustfmt::skip]
pub(crate) static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("dbsize", 1, Flags::READONLY.union(Flags::FAST), KeySpec::NONE, Group::Server, Handler::Read(dbsize)),
    CommandSpec::new("flushdb", -1, Flags::WRITE, KeySpec::NONE, Group::Server, Handler::Write(flushdb)),
    CommandSpec::new("flushall", -1, Flags::WRITE, KeySpec::NONE, Group::Server, Handler::KeyspaceWrite(flushall)),
    CommandSpec::new("swapdb", 3, Flags::WRITE.union(Flags::FAST), KeySpec::NONE, Group::Server, Handler::KeyspaceWrite(swapdb)),
    CommandSpec::new("time", 1, Flags::LOADING.union(Flags::STALE).union(Flags::FAST), KeySpec::NONE, Group::Server, Handler::Conn(time)),
    CommandSpec::new("shutdown", -1, Flags::ADMIN .union(Flags::NOSCRIPT) .union(Flags::LOADING) .union(Flags::STALE) .union(Flags::NO_MULTI) .union(Flags::ALLOW_BUSY), KeySpec::NONE, Group::Server, Handler::Conn(shutdown)),
    CommandSpec::new("config", -2, Flags::NONE, KeySpec::NONE, Group::Server, Handler::Container).with_subcommands(CONFIG_SUBCOMMANDS),
];

/// ```text
/// DBSIZE
/// ```
/// Integer: the number of keys in the selected database.
pub(crate) fn dbsize(_ctx: &mut Ctx, db: &Db, _argv: &Argv, reply: &mut Reply) -> CmdResult {
    reply.int(db.len() as i64);
    Ok(())
}

/// Checks FLUSHDB / FLUSHALL's optional `ASYNC` or `SYNC` (Redis `getFlushCommandFlags`).
/// respd always flushes synchronously: dropping values is fast next to a network round trip,
/// and the keyspace lock is held anyway.
fn check_flush_mode(argv: &Argv) -> CmdResult {
    match argv.len() {
        1 => Ok(()),
        2 if eq_ci(&argv[1], "async") || eq_ci(&argv[1], "sync") => Ok(()),
        _ => Err(CmdError::Syntax),
    }
}

/// ```text
/// FLUSHDB [ASYNC|SYNC]
/// ```
/// `+OK` once every key of the selected database is gone. Errors: `Syntax`.
pub(crate) fn flushdb(ctx: &mut Ctx, db: &mut Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    check_flush_mode(argv)?;
    db.clear(ctx.now_ms);
    reply.ok();
    Ok(())
}

/// ```text
/// FLUSHALL [ASYNC|SYNC]
/// ```
/// `+OK` once every database is empty. Errors: `Syntax`.
pub fn flushall(ctx: &mut Ctx, ks: &mut Keyspace, argv: &Argv, reply: &mut Reply) -> CmdResult {
    check_flush_mode(argv)?;
    for db in ks.dbs_mut() {
        db.clear(ctx.now_ms);
    }
    // mirrors flushAllDataAndResetRDB(): with save points configured the empty dataset is
    // saved at once, so the dump file cannot bring the flushed keys back and the dirty
    // counter starts again from 0. A failed save is only logged, as in Redis.
    let save_points = !ctx.shared.config.read().save.is_empty();
    if save_points
        && !ctx.shared.persistence.bgsave_in_progress()
        && crate::persistence::save(ctx.shared, ks).is_ok()
    {
        ctx.changes = Some(0);
    }
    reply.ok();
    Ok(())
}

/// ```text
/// SWAPDB index1 index2
/// ```
/// `+OK`: the two databases exchange their contents; clients keep their selected index, so
/// they see the other data from now on.
///
/// Errors: `ERR invalid first DB index` / `ERR invalid second DB index` (not an integer that
/// fits a C int), `DbIndexOutOfRange`.
pub(crate) fn swapdb(
    ctx: &mut Ctx,
    ks: &mut Keyspace,
    argv: &Argv,
    reply: &mut Reply,
) -> CmdResult {
    let index = |arg: &[u8], which: &'static str| {
        parse_i64(arg)
            .and_then(|n| i32::try_from(n).ok())
            .ok_or(CmdError::msg(which))
    };
    let a = index(&argv[1], "ERR invalid first DB index")?;
    let b = index(&argv[2], "ERR invalid second DB index")?;
    let count = ks.db_count() as i64;
    if !(0..count).contains(&i64::from(a)) || !(0..count).contains(&i64::from(b)) {
        return Err(CmdError::DbIndexOutOfRange);
    }
    if a != b {
        ks.swap(a as usize, b as usize, ctx.now_ms);
    }
    reply.ok();
    Ok(())
}

/// ```text
/// TIME
/// ```
/// A two-element array of bulk strings: Unix seconds and the microseconds within the second.
///
/// This is the one handler that reads the system clock itself: `ctx.now_ms` has millisecond
/// resolution, and TIME promises microseconds.
pub fn time(_ctx: &mut Ctx, _argv: &Argv, reply: &mut Reply) -> CmdResult {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    reply.array(2);
    reply.bulk(now.as_secs().to_string().as_bytes());
    reply.bulk(now.subsec_micros().to_string().as_bytes());
    Ok(())
}

/// ```text
/// SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT]
/// ```
/// On success there is no reply: the server closes every connection and exits, as Redis does.
/// It first saves a snapshot when save points are configured or SAVE is given (NOSAVE skips
/// it), as Redis's `prepareForShutdown`. respd has no replicas to wait for, so NOW changes
/// nothing and there is never a shutdown in progress to ABORT.
///
/// Errors: `Syntax` (unknown option, ABORT with other options, NOSAVE with SAVE),
/// `ERR No shutdown in progress.` (ABORT), `ERR Errors trying to SHUTDOWN. Check logs.` (the
/// save failed and FORCE was not given; the server keeps running).
pub fn shutdown(ctx: &mut Ctx, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let (mut save, mut nosave, mut other, mut abort) = (false, false, false, false);
    let mut force = false;
    for arg in argv.iter().skip(1) {
        if eq_ci(arg, "nosave") {
            nosave = true;
        } else if eq_ci(arg, "save") {
            save = true;
        } else if eq_ci(arg, "now") || eq_ci(arg, "force") {
            force |= eq_ci(arg, "force");
            other = true;
        } else if eq_ci(arg, "abort") {
            abort = true;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    if (abort && (save || nosave || other)) || (save && nosave) {
        return Err(CmdError::Syntax);
    }
    if abort {
        return Err(CmdError::msg("ERR No shutdown in progress."));
    }
    let saved = (save || crate::persistence::save_on_shutdown(ctx.shared)) && !nosave;
    if saved && crate::persistence::final_save(ctx.shared).is_err() {
        if !force {
            crate::warning!("Error trying to save the DB, can't exit.");
            return Err(CmdError::msg("ERR Errors trying to SHUTDOWN. Check logs."));
        }
        crate::warning!("Error trying to save the DB. Exit anyway (FORCE).");
    }
    let _ = reply;
    let _ = ctx
        .shared
        .shutdown_requests
        .send(ShutdownRequest::Command { saved });
    ctx.client.close_after_reply = true;
    Ok(())
}

/// Appends every directive matching `pattern` to `found` as (name to show, directive), skipping
/// names already there (Redis `configGetCommand`). A pattern without glob characters is a plain
/// lookup, shown under the name as the client typed it; a glob is matched case-insensitively
/// against every name and alias.
fn config_matches(pattern: &[u8], found: &mut Vec<(String, &'static ConfigSpec)>) {
    let seen = |found: &Vec<(String, &'static ConfigSpec)>, name: &str| {
        found.iter().any(|(n, _)| n.eq_ignore_ascii_case(name))
    };
    if !pattern.iter().any(|c| matches!(c, b'[' | b'*' | b'?')) {
        let name = String::from_utf8_lossy(pattern).into_owned();
        if seen(found, &name) {
            return;
        }
        if let Some(spec) = config::lookup(&name) {
            found.push((name, spec));
        }
        return;
    }
    // Hidden directives (testing aids) answer their exact name only, as in Redis.
    for spec in CONFIG_TABLE.iter().filter(|spec| !spec.hidden) {
        for name in std::iter::once(&spec.name).chain(spec.aliases) {
            if !seen(found, name) && crate::glob::matches(pattern, name.as_bytes(), true) {
                found.push((name.to_string(), spec));
            }
        }
    }
}

/// ```text
/// CONFIG GET parameter [parameter ...]
/// ```
/// A map (a flat array in RESP2) of every matching directive to its current value, as the
/// config file would write it. Parameters may be glob patterns. Redis lists matches in hash
/// table order; respd in table order.
pub fn config_get(ctx: &mut Ctx, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let mut found = Vec::new();
    for pattern in argv.iter().skip(2) {
        config_matches(pattern, &mut found);
    }
    let config = ctx.shared.config.read();
    reply.map(found.len());
    for (name, spec) in found {
        reply.bulk(name.as_bytes());
        reply.bulk(spec.get_value(&config).as_bytes());
    }
    Ok(())
}

/// Splits a CONFIG SET value into a directive's arguments: multi-word directives (`save`,
/// `client-output-buffer-limit`) take the words of the value, the others the value as is.
fn config_args(spec: &ConfigSpec, value: &[u8]) -> Vec<String> {
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    if !spec.multi_arg {
        return vec![text(value)];
    }
    let mut words = Argv::new();
    match split_args(value, &mut words) {
        Ok(()) => words.iter().map(text).collect(),
        Err(_) => vec![text(value)],
    }
}

/// ```text
/// CONFIG SET parameter value [parameter value ...]
/// ```
/// `+OK` after every pair is applied, or an error and no change at all: the values are set
/// on a copy of the configuration that replaces the running one only if all of them parse
/// and apply (Redis 7.0 restores its backup instead; the outcome is the same).
///
/// Effects on the running server: `port` and `bind` at once: the new sockets are bound
/// before the old ones are closed, so a port in use fails the command and changes nothing,
/// and connections already open stay open, as in Redis; `loglevel` at once; `maxclients`, `timeout`, `hz`,
/// `tcp-keepalive`, `client-output-buffer-limit` and `client-query-buffer-limit` are read
/// where they are used, so they apply from the next check on; `proto-max-bulk-len` is read when
/// a client connects, so it applies to new connections only.
///
/// Errors, the first problem winning: `Syntax` (odd number of arguments),
/// `ERR Unknown option or number of arguments for CONFIG SET - '<name>'`,
/// `ERR CONFIG SET failed (possibly related to argument '<name>') - <reason>` where the reason
/// is `can't set immutable config`, `can't set protected config` (`dir` or `dbfilename` while
/// `enable-protected-configs` is `no`, or `local` and the client is not on 127.0.0.1 or ::1),
/// `duplicate parameter`, the directive's parse error, or what applying it met:
/// `Unable to listen on this port. Check server logs.` (`port`), `Failed to bind to specified
/// addresses.` (`bind`), `can't change the sockets passed by systemd socket activation`
/// (either, respd only), `The operating system is not able to handle ...` (`maxclients`).
pub fn config_set(ctx: &mut Ctx, argv: &Argv, reply: &mut Reply) -> CmdResult {
    if argv.len() % 2 != 0 {
        return Err(CmdError::Syntax);
    }
    let failed = |name: &[u8], reason: &str| {
        CmdError::quoting(
            "ERR CONFIG SET failed (possibly related to argument '",
            name,
            &format!("') - {reason}"),
        )
    };
    // mirrors configSetCommand(): every sensitive value is redacted, even when another
    // argument is refused.
    for pair in (2..argv.len()).step_by(2) {
        let spec = config::lookup(&String::from_utf8_lossy(&argv[pair]));
        if spec.is_some_and(|s| SENSITIVE_CONFIGS.contains(&s.name)) {
            ctx.redacted.push(pair + 1);
        }
    }
    let protected_allowed = ctx
        .shared
        .config
        .read()
        .enable_protected_configs
        .allows(ctx.client.handle.addr.ip());
    let mut changes: Vec<(&[u8], &'static ConfigSpec, &[u8])> = Vec::new();
    for pair in (2..argv.len()).step_by(2) {
        let (name, value) = (&argv[pair], &argv[pair + 1]);
        let Some(spec) = config::lookup(&String::from_utf8_lossy(name)) else {
            return Err(CmdError::quoting(
                "ERR Unknown option or number of arguments for CONFIG SET - '",
                name,
                "'",
            ));
        };
        if !spec.mutable {
            return Err(failed(name, "can't set immutable config"));
        }
        // Redis configSetCommand: the directives that choose where files are written need
        // enable-protected-configs, which only the config file or command line can grant.
        if spec.protected && !protected_allowed {
            return Err(failed(name, "can't set protected config"));
        }
        if changes.iter().any(|(_, s, _)| std::ptr::eq(*s, spec)) {
            return Err(failed(name, "duplicate parameter"));
        }
        changes.push((name, spec, value));
    }
    let before: Config = ctx.shared.config.read().clone();
    let mut updated = before.clone();
    // CONFIG SET save replaces the save points (the config file's adding rule is over).
    updated.finish_reading();
    for (typed, spec, value) in &changes {
        // A value Redis refuses is reported under the name (or alias) as Redis spells it,
        // lowercase, whatever the case typed (configSetCommand's `set_configs[i]->name`).
        let typed = String::from_utf8_lossy(typed);
        let spelled = std::iter::once(&spec.name)
            .chain(spec.aliases)
            .find(|n| n.eq_ignore_ascii_case(&typed))
            .unwrap_or(&spec.name);
        spec.set_value(&mut updated, &config_args(spec, value))
            .map_err(|e| failed(spelled.as_bytes(), &e))?;
    }
    // Redis's apply functions, run for the directives whose value changed, in the order they
    // were given; the first that fails names its directive in the error. Redis then sets
    // every value back and applies them again; here nothing has been changed yet: the new
    // sockets are only bound, and served below once every check has passed.
    let mut new_listeners = None;
    for (_, spec, _) in &changes {
        if spec.get_value(&updated) == spec.get_value(&before) {
            continue;
        }
        if spec.listener && new_listeners.is_none() {
            new_listeners = Some(bind_listeners(ctx, spec, &updated).map_err(|reason| {
                crate::warning!("Failed applying new configuration. Possibly related to new {} setting. Restoring previous settings.", spec.name);
                failed(spec.name.as_bytes(), reason)
            })?);
        }
        // Redis updateMaxclients: a higher maxclients must fit in the open files limit.
        if spec.name == "maxclients" {
            let fits = crate::server::adjust_open_files_limit(updated.maxclients).unwrap_or(0);
            if fits != updated.maxclients {
                return Err(failed(
                    b"maxclients",
                    &format!("The operating system is not able to handle the specified number of clients, try with {fits}"),
                ));
            }
        }
    }
    if let Some(new_listeners) = new_listeners {
        ctx.shared.serve_listeners(new_listeners).map_err(|e| {
            crate::warning!("Cannot start an accept thread: {e}");
            failed(b"port", PORT_APPLY_FAILED)
        })?;
    }
    crate::log::set_level(updated.loglevel);
    // Redis updateRequirePass: requirepass is the default user's password. Its bytes are
    // taken as sent (the kept text is UTF-8, a password need not be).
    let requirepass = changes
        .iter()
        .find(|(_, spec, _)| spec.name == "requirepass")
        .map(|(_, _, value)| value.to_vec());
    ctx.shared.replace_config(updated);
    if let Some(password) = requirepass {
        ctx.shared.acl.set_default_password(&password);
    }
    // appendonly and appendfsync take effect at once (turning the AOF on starts a rewrite).
    crate::persistence::aof::config_changed(ctx.shared);
    reply.ok();
    Ok(())
}

/// The directives whose values MONITOR and SLOWLOG never show (Redis `SENSITIVE_CONFIG`).
const SENSITIVE_CONFIGS: &[&str] = &["masteruser", "masterauth", "requirepass"];

/// Why a new `port` could not be listened on (Redis `updatePort`).
const PORT_APPLY_FAILED: &str = "Unable to listen on this port. Check server logs.";
/// Why a new `bind` could not be listened on (Redis `applyBind`).
const BIND_APPLY_FAILED: &str = "Failed to bind to specified addresses.";
/// Why `port` and `bind` cannot change under socket activation (respd only; see
/// [`crate::systemd::sockets_passed`]).
const SOCKETS_PASSED: &str = "can't change the sockets passed by systemd socket activation";

/// The first half of applying a new `port` or `bind` (`spec`, the first of them given):
/// binds the sockets `updated` asks for, or says why not in Redis's words for `spec`, after
/// logging which address failed (Redis's `listenToPort` warning).
fn bind_listeners<'a>(
    ctx: &Ctx<'a>,
    spec: &ConfigSpec,
    updated: &Config,
) -> Result<crate::server::NewListeners<'a>, &'static str> {
    if crate::systemd::sockets_passed() {
        return Err(SOCKETS_PASSED);
    }
    ctx.shared.listeners.bind_for(updated).map_err(|e| {
        crate::warning!("Warning: {e}");
        if spec.name == "port" {
            PORT_APPLY_FAILED
        } else {
            BIND_APPLY_FAILED
        }
    })
}

/// ```text
/// CONFIG RESETSTAT
/// ```
/// `+OK` after zeroing the INFO stats counters, `expired_keys` included.
pub(crate) fn config_resetstat(
    ctx: &mut Ctx,
    keyspace: &mut Keyspace,
    _argv: &Argv,
    reply: &mut Reply,
) -> CmdResult {
    ctx.shared.reset_stats();
    // Expired keys are counted per database, under the keyspace lock.
    for db in keyspace.dbs_mut() {
        db.expired_count = 0;
    }
    ctx.shared
        .stats
        .expired_keys_active
        .store(0, Ordering::Relaxed);
    reply.ok();
    Ok(())
}

/// ```text
/// CONFIG REWRITE
/// ```
/// `+OK` once the config file the server was started with holds the running configuration,
/// its comments and order kept (see [`crate::config_rewrite`]). Errors:
/// `ERR The server is running without a config file` (started without one, or with `-`,
/// standard input), `ERR Rewriting config file: <strerror>` when the file cannot be read or
/// written (Redis `configRewriteCommand`, which logs both outcomes as warnings).
pub fn config_rewrite(ctx: &mut Ctx, _argv: &Argv, reply: &mut Reply) -> CmdResult {
    // A copy, so that the lock is not held while the file is written.
    let config = ctx.shared.config.read().clone();
    if config.config_file.is_empty() {
        return Err(CmdError::msg(
            "ERR The server is running without a config file",
        ));
    }
    if let Err(e) = crate::config_rewrite::rewrite_config(&config, false) {
        let reason = crate::sys::strerror(&e);
        crate::warning!("CONFIG REWRITE failed: {reason}");
        return Err(CmdError::owned(format!(
            "ERR Rewriting config file: {reason}"
        )));
    }
    crate::warning!("CONFIG REWRITE executed with success.");
    reply.ok();
    Ok(())
}

/// ```text
/// CONFIG HELP
/// ```
/// An array of simple strings describing the subcommands.
pub(crate) fn config_help(_ctx: &mut Ctx, _argv: &Argv, reply: &mut Reply) -> CmdResult {
    reply_help(
        reply,
        "CONFIG",
        &[
            "GET <pattern> [<pattern> ...]",
            "    Reply each directive matching a glob-style <pattern>, with its value.",
            "SET <directive> <value> [<directive> <value> ...]",
            "    Change directives while running; all of them or none.",
            "RESETSTAT",
            "    Zero the counters INFO reports.",
            "REWRITE",
            "    Rewrite the configuration file.",
        ],
    );
    Ok(())
}
