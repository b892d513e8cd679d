//! The ACL command, and the authentication and permission checks run before every command.
//!
//! Counterpart of Redis `acl.c` (`aclCommand`, `addACLLogEntry`, `ACLLoadUsersAtStartup`)
//! and of the auth/ACL part of `server.c` `processCommand`. The model itself (users,
//! selectors, rules) lives in [`crate::acl`].

use super::{CmdError, CmdResult, CommandSpec, Ctx, Flags, Group, Handler, KeySpec};
use crate::acl::{Denied, LogContext, LogEntry, LogReason};
use crate::client::Client;
use crate::protocol::{Argv, Reply};
use crate::shared::Shared;
use crate::util::{eq_ci, parse_i64};

/// Flags of most ACL subcommands (Redis marks them so).
const ACL_FLAGS: Flags = Flags::ADMIN
    .union(Flags::NOSCRIPT)
    .union(Flags::LOADING)
    .union(Flags::STALE);
/// Flags of the ACL subcommands any user may be given without `@admin`.
const ACL_USER_FLAGS: Flags = Flags::NOSCRIPT.union(Flags::LOADING).union(Flags::STALE);

const fn acl_sub(name: &'static str, arity: i32, flags: Flags, f: super::ConnFn) -> CommandSpec {
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
static ACL_SUBCOMMANDS: &[CommandSpec] = &[
    acl_sub("cat", -2, ACL_USER_FLAGS, acl_cat),
    acl_sub("deluser", -3, ACL_FLAGS, acl_deluser),
    acl_sub("dryrun", -4, ACL_FLAGS, acl_dryrun),
    acl_sub("genpass", -2, ACL_USER_FLAGS, acl_genpass),
    acl_sub("getuser", 3, ACL_FLAGS, acl_getuser),
    acl_sub("help", 2, Flags::LOADING.union(Flags::STALE), acl_help),
    acl_sub("list", 2, ACL_FLAGS, acl_list),
    acl_sub("load", 2, ACL_FLAGS, acl_load),
    acl_sub("log", -2, ACL_FLAGS, acl_log),
    acl_sub("save", 2, ACL_FLAGS, acl_save),
    acl_sub("setuser", -3, ACL_FLAGS, acl_setuser),
    acl_sub("users", 2, ACL_FLAGS, acl_users),
    acl_sub("whoami", 2, ACL_USER_FLAGS, acl_whoami),
];

/// The ACL group's row of the command table.
#[rustfmt::skip]
pub(crate) static COMMANDS: &[CommandSpec] = &[CommandSpec::new("acl", -2, Flags::NONE, KeySpec::NONE, Group::Server, Handler::Container).with_subcommands(ACL_SUBCOMMANDS)];

// ---------------------------------------------------------------------------------------------
// The checks before a command runs
// ---------------------------------------------------------------------------------------------

/// Redis `processCommand`'s authentication check: a connection that must authenticate runs
/// only `no_auth` commands. Returns the error to reply, without its `-`.
pub(crate) fn auth_refusal(
    shared: &Shared,
    client: &mut Client,
    spec: &CommandSpec,
) -> Option<&'static [u8]> {
    client.refresh_user(&shared.acl);
    if client.auth_required() && !spec.flags.contains(Flags::NO_AUTH) {
        return Some(b"NOAUTH Authentication required.");
    }
    None
}

/// Redis `processCommand`'s ACL check (after [`auth_refusal`]): the user must be allowed the
/// command, its keys and its channels; a refusal is logged in the ACL log. Returns the
/// `NOPERM ...` error to reply, without its `-`.
pub(crate) fn permission_refusal(
    shared: &Shared,
    client: &Client,
    spec: &'static CommandSpec,
    parent: Option<&'static CommandSpec>,
    argv: &Argv,
) -> Option<Vec<u8>> {
    // Borrowed, not cloned: every connection of a user shares its Arc, and a reference count
    // bumped on every command by every worker would be a contended cache line.
    let denied = client.user.as_ref()?.check(spec, argv).err()?;
    let context = if client.multi.is_some() {
        LogContext::Multi
    } else {
        LogContext::Toplevel
    };
    let name = super::full_name(spec, parent);
    log_denied(shared, client, denied, context, argv, &name);
    Some(match denied {
        Denied::Command => {
            format!("NOPERM this user has no permissions to run the '{name}' command").into_bytes()
        }
        Denied::Key(_) => {
            b"NOPERM this user has no permissions to access one of the keys used as arguments"
                .to_vec()
        }
        Denied::Channel(_) => {
            b"NOPERM this user has no permissions to access one of the channels used as arguments"
                .to_vec()
        }
    })
}

/// EXEC checks each queued command again, in case the rules changed after it was queued
/// (Redis `execCommand`). Returns the error that replaces that command's reply.
pub(crate) fn exec_refusal(
    ctx: &mut Ctx,
    spec: &'static CommandSpec,
    parent: Option<&'static CommandSpec>,
    argv: &Argv,
) -> Option<CmdError> {
    ctx.client.refresh_user(&ctx.shared.acl);
    let denied = ctx.client.user.as_ref()?.check(spec, argv).err()?;
    let name = super::full_name(spec, parent);
    log_denied(
        ctx.shared,
        ctx.client,
        denied,
        LogContext::Multi,
        argv,
        &name,
    );
    let reason = match denied {
        Denied::Command => "no permission to execute the command or subcommand",
        Denied::Key(_) => "no permission to touch the specified keys",
        Denied::Channel(_) => "no permission to access one of the channels used as arguments",
    };
    Some(CmdError::owned(format!("NOPERM ACLs rules changed between the moment the transaction was accumulated and the EXEC call. This command is no longer allowed for the following reason: {reason}")))
}

fn log_denied(
    shared: &Shared,
    client: &Client,
    denied: Denied,
    context: LogContext,
    argv: &Argv,
    name: &str,
) {
    let (reason, object) = match denied {
        Denied::Command => (LogReason::Command, name.as_bytes().to_vec()),
        Denied::Key(i) => (LogReason::Key, argv[i].to_vec()),
        Denied::Channel(i) => (LogReason::Channel, argv[i].to_vec()),
    };
    let now_ms = crate::util::now_ms();
    log_event_in(shared, client, now_ms, reason, context, object, None, name);
}

/// Records a refusal in the ACL log (Redis `addACLLogEntry`): `username` defaults to the
/// connection's user; `command` is the one running, as the client line shows it.
pub(crate) fn log_event(
    shared: &Shared,
    client: &Client,
    now_ms: u64,
    reason: LogReason,
    object: Vec<u8>,
    username: Option<Vec<u8>>,
    command: &str,
) {
    let context = if client.multi.is_some() {
        LogContext::Multi
    } else {
        LogContext::Toplevel
    };
    log_event_in(
        shared, client, now_ms, reason, context, object, username, command,
    );
}

#[allow(clippy::too_many_arguments)]
fn log_event_in(
    shared: &Shared,
    client: &Client,
    now_ms: u64,
    reason: LogReason,
    context: LogContext,
    object: Vec<u8>,
    username: Option<Vec<u8>>,
    command: &str,
) {
    let username = username.unwrap_or_else(|| {
        client
            .user
            .as_ref()
            .map_or(b"default".to_vec(), |u| u.name.clone())
    });
    let entry = LogEntry {
        count: 1,
        reason,
        context,
        object,
        username,
        time_ms: now_ms,
        client_info: super::connection::own_info_line(client, now_ms, command),
    };
    let max_len = shared.config.read().acllog_max_len();
    shared.acl.log(entry, max_len);
}

// ---------------------------------------------------------------------------------------------
// Startup
// ---------------------------------------------------------------------------------------------

/// Sets up the users at start (Redis `ACLLoadUsersAtStartup`): `requirepass`, then the
/// config file's `user` lines, or the ACL file; both together are refused.
pub(crate) fn load_at_startup(shared: &Shared) -> std::io::Result<()> {
    let config = shared.config.read().clone();
    let fail = |message: String| {
        crate::warning!("{message}");
        std::io::Error::new(std::io::ErrorKind::InvalidInput, message)
    };
    if !config.requirepass().is_empty() {
        shared
            .acl
            .set_default_password(config.requirepass().as_bytes());
    }
    if !config.aclfile().is_empty() && !config.users.is_empty() {
        return Err(fail("Configuring Redis with users defined in redis.conf and at the same setting an ACL file path is invalid. This setup is very likely to lead to configuration errors and security holes, please define either an ACL file or declare users directly in your redis.conf, but not both.".into()));
    }
    if let Err(e) =
        crate::acl::load_configured_users(&shared.acl, &config.users, config.acl_all_channels())
    {
        crate::warning!("{e}");
        return Err(fail("Critical error while loading ACLs. Exiting.".into()));
    }
    if !config.aclfile().is_empty() {
        crate::acl::load_file(
            &shared.acl,
            &config.dir,
            config.aclfile(),
            config.acl_all_channels(),
        )
        .map_err(|e| fail(format!("Aborting Redis startup because of ACL errors: {e}")))?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Closing the connections of removed or narrowed users
// ---------------------------------------------------------------------------------------------

/// Closes every connection authenticated as one of `names` (Redis
/// `ACLFreeUserAndKillClients`): the caller's own after its reply, the others at once.
fn close_connections_of(shared: &Shared, client: &mut Client, names: &[Vec<u8>]) {
    if names.is_empty() {
        return;
    }
    for handle in shared.clients.all() {
        if !names.contains(&handle.user_name.lock()) {
            continue;
        }
        if handle.id == client.id() {
            client.close_after_reply = true;
            client.authenticated = false;
        } else {
            handle.kill();
        }
    }
}

/// After ACL SETUSER narrowed a user's channels, closes that user's subscribed connections
/// that hold a channel or pattern no longer allowed (Redis `ACLKillPubsubClientsIfNeeded`).
fn close_pubsub_violators(
    shared: &Shared,
    client: &mut Client,
    old: &crate::acl::User,
    new: &crate::acl::User,
) {
    if !crate::acl::subscribers_need_check(old, new) {
        return;
    }
    for handle in shared.clients.all() {
        if *handle.user_name.lock() != new.name {
            continue;
        }
        let (channels, patterns) = if handle.id == client.id() {
            (
                (client.channels.iter())
                    .chain(client.shard_channels.iter())
                    .cloned()
                    .collect(),
                client.patterns.iter().cloned().collect(),
            )
        } else {
            shared.pubsub.subscriptions_of(handle.id)
        };
        if channels.is_empty() && patterns.is_empty() {
            continue;
        }
        if !new.allows_subscriptions(&channels, &patterns) {
            if handle.id == client.id() {
                client.close_after_reply = true;
            } else {
                handle.kill();
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// ACL subcommands
// ---------------------------------------------------------------------------------------------

/// ```text
/// ACL SETUSER username [rule [rule ...]]
/// ```
/// `+OK` once every rule applied; with any rule refused nothing changes. Errors: `ERR
/// Usernames can't contain spaces or null characters`, `ERR Error in ACL SETUSER modifier
/// '<rule>': <reason>`, `ERR Unmatched parenthesis in acl selector starting at '<arg>'.`
pub(crate) fn acl_setuser(ctx: &mut Ctx, argv: &Argv, reply: &mut Reply) -> CmdResult {
    // mirrors aclCommand(): the slow log must not learn anything about the user.
    ctx.redacted.extend(2..argv.len());
    let name = &argv[2];
    if crate::acl::has_spaces(name) {
        return Err(CmdError::msg(
            "ERR Usernames can't contain spaces or null characters",
        ));
    }
    let ops: Vec<&[u8]> = argv.iter().skip(3).collect();
    let all_channels = ctx.shared.config.read().acl_all_channels();
    let (old, new) = ctx
        .shared
        .acl
        .set_user(name, &ops, all_channels)
        .map_err(|e| CmdError::owned(format!("ERR {}", e.replace(['\r', '\n'], " "))))?;
    if let Some(old) = old {
        close_pubsub_violators(ctx.shared, ctx.client, &old, &new);
    }
    reply.ok();
    Ok(())
}

/// ```text
/// ACL DELUSER username [username ...]
/// ```
/// Integer: the number of users removed; their connections are closed. Errors: `ERR The
/// 'default' user cannot be removed`.
pub(crate) fn acl_deluser(ctx: &mut Ctx, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let names: Vec<&[u8]> = argv.iter().skip(2).collect();
    if names.iter().any(|n| *n == b"default") {
        return Err(CmdError::msg("ERR The 'default' user cannot be removed"));
    }
    let removed = ctx.shared.acl.delete_users(&names);
    close_connections_of(ctx.shared, ctx.client, &removed);
    reply.int(removed.len() as i64);
    Ok(())
}

/// ```text
/// ACL GETUSER username
/// ```
/// A map: `flags` (a set), `passwords` (hashes), `commands`, `keys`, `channels` (of the root
/// selector) and `selectors` (an array of maps with those three); null for no such user.
pub(crate) fn acl_getuser(ctx: &mut Ctx, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let Some(user) = ctx.shared.acl.user(&argv[2]) else {
        reply.null();
        return Ok(());
    };
    reply.map(6);
    reply.bulk(b"flags");
    let flags = user.flag_names();
    reply.set(flags.len());
    for f in flags {
        reply.bulk(f.as_bytes());
    }
    reply.bulk(b"passwords");
    reply.array(user.passwords.len());
    for p in &user.passwords {
        reply.bulk(p.as_bytes());
    }
    let describe = |reply: &mut Reply, s: &crate::acl::Selector| {
        reply.bulk(b"commands");
        reply.bulk(s.describe_commands().as_bytes());
        reply.bulk(b"keys");
        reply.bulk(&s.describe_keys());
        reply.bulk(b"channels");
        reply.bulk(&s.describe_channels());
    };
    describe(reply, user.root());
    reply.bulk(b"selectors");
    reply.array(user.selectors.len() - 1);
    for s in &user.selectors[1..] {
        reply.map(3);
        describe(reply, s);
    }
    Ok(())
}

/// ```text
/// ACL LIST
/// ```
/// An array: one `user <name> <rules>` line per user, sorted by name.
pub(crate) fn acl_list(ctx: &mut Ctx, _argv: &Argv, reply: &mut Reply) -> CmdResult {
    let lines = ctx.shared.acl.describe_all();
    reply.array(lines.len());
    for line in lines {
        reply.bulk(&line);
    }
    Ok(())
}

/// ```text
/// ACL USERS
/// ```
/// An array of the user names, sorted.
pub(crate) fn acl_users(ctx: &mut Ctx, _argv: &Argv, reply: &mut Reply) -> CmdResult {
    let users = ctx.shared.acl.users();
    reply.array(users.len());
    for u in users {
        reply.bulk(&u.name);
    }
    Ok(())
}

/// ```text
/// ACL WHOAMI
/// ```
/// The connection's user name.
pub(crate) fn acl_whoami(ctx: &mut Ctx, _argv: &Argv, reply: &mut Reply) -> CmdResult {
    match &ctx.client.user {
        Some(u) => reply.bulk(&u.name),
        None => reply.null(),
    }
    Ok(())
}

/// ```text
/// ACL CAT [category]
/// ```
/// The category names, or the commands of one category. Errors: `ERR Unknown category
/// '<name>'`; more than one argument is `SubcommandSyntax`.
pub(crate) fn acl_cat(_ctx: &mut Ctx, argv: &Argv, reply: &mut Reply) -> CmdResult {
    match argv.len() {
        2 => {
            let cats = super::introspection::ACL_CATEGORIES;
            reply.array(cats.len());
            for c in cats {
                reply.bulk(c.as_bytes());
            }
        }
        3 => {
            let Some(names) = crate::acl::category_commands(&argv[2]) else {
                let shown = &argv[2][..argv[2].len().min(128)];
                return Err(CmdError::quoting("ERR Unknown category '", shown, "'"));
            };
            reply.array(names.len());
            for n in names {
                reply.bulk(n.as_bytes());
            }
        }
        _ => return Err(CmdError::SubcommandSyntax),
    }
    Ok(())
}

/// ```text
/// ACL GENPASS [bits]
/// ```
/// A random password of `bits` bits (256 by default) as hex digits, from the operating
/// system's random source. Errors: `NotInteger`, `ERR ACL GENPASS argument must be the number
/// of bits for the output password, a positive number up to 4096`.
pub(crate) fn acl_genpass(_ctx: &mut Ctx, argv: &Argv, reply: &mut Reply) -> CmdResult {
    if argv.len() > 3 {
        return Err(CmdError::SubcommandSyntax);
    }
    let bits = match argv.get(2) {
        Some(a) => parse_i64(a).ok_or(CmdError::NotInteger)?,
        None => 256,
    };
    if bits <= 0 || bits > 4096 {
        return Err(CmdError::msg("ERR ACL GENPASS argument must be the number of bits for the output password, a positive number up to 4096"));
    }
    let chars = ((bits + 3) / 4) as usize;
    let mut random = vec![0u8; chars.div_ceil(2)];
    random_bytes(&mut random);
    let hex: String = random.iter().map(|b| format!("{b:02x}")).collect();
    reply.bulk(&hex.as_bytes()[..chars]);
    Ok(())
}

/// Fills `out` from /dev/urandom; falls back to the process's generator mixed with the time
/// if it cannot be read (Redis `getRandomBytes` does the same with its own fallback).
fn random_bytes(out: &mut [u8]) {
    use std::io::Read;
    if std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(out))
        .is_ok()
    {
        return;
    }
    let seed = crate::util::now_ms().to_le_bytes();
    for chunk in out.chunks_mut(32) {
        let mut input = crate::util::random_u64().to_le_bytes().to_vec();
        input.extend_from_slice(&seed);
        let digest = crate::sha256::digest(&input);
        chunk.copy_from_slice(&digest[..chunk.len()]);
    }
}

/// ```text
/// ACL LOG [count | RESET]
/// ```
/// The newest `count` (10) entries, each a map of `count`, `reason`, `context`, `object`,
/// `username`, `age-seconds`, `client-info`; `+OK` for RESET. Errors: `NotInteger`.
pub(crate) fn acl_log(ctx: &mut Ctx, argv: &Argv, reply: &mut Reply) -> CmdResult {
    if argv.len() > 3 {
        return Err(CmdError::SubcommandSyntax);
    }
    let mut count = 10i64;
    if let Some(arg) = argv.get(2) {
        if eq_ci(arg, "reset") {
            ctx.shared.acl.reset_log();
            reply.ok();
            return Ok(());
        }
        count = parse_i64(arg).ok_or(CmdError::NotInteger)?.max(0);
    }
    let entries = ctx.shared.acl.log_entries(count as usize);
    reply.array(entries.len());
    for e in entries {
        reply.map(7);
        reply.bulk(b"count");
        reply.int(e.count as i64);
        reply.bulk(b"reason");
        reply.bulk(e.reason.name().as_bytes());
        reply.bulk(b"context");
        reply.bulk(e.context.name().as_bytes());
        reply.bulk(b"object");
        reply.bulk(&e.object);
        reply.bulk(b"username");
        reply.bulk(&e.username);
        reply.bulk(b"age-seconds");
        let age = ctx.now_ms.saturating_sub(e.time_ms) as f64 / 1000.0;
        reply.double_text(crate::util::format_f64(age).as_bytes());
        reply.bulk(b"client-info");
        reply.bulk(e.client_info.as_bytes());
    }
    Ok(())
}

/// ```text
/// ACL DRYRUN username command [arg ...]
/// ```
/// `+OK` if the user could run the command line, else a bulk string saying why (`This user
/// has no permissions to run the '<cmd>' command`, `... to access the '<key>' key`, `... the
/// '<channel>' channel`). Errors: `ERR User '<name>' not found`, `ERR Command '<name>' not
/// found`, `WrongArity` of the command tested.
pub(crate) fn acl_dryrun(ctx: &mut Ctx, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let Some(user) = ctx.shared.acl.user(&argv[2]) else {
        return Err(CmdError::quoting("ERR User '", &argv[2], "' not found"));
    };
    let line = Argv::from_args(argv.iter().skip(3));
    let Some((spec, parent)) = dryrun_lookup(&line) else {
        return Err(CmdError::quoting("ERR Command '", &argv[3], "' not found"));
    };
    let name = super::full_name(spec, parent);
    if !spec.arity_ok(line.len()) {
        return Err(CmdError::owned(format!(
            "ERR wrong number of arguments for '{name}' command"
        )));
    }
    match user.check(spec, &line) {
        Ok(()) => reply.ok(),
        Err(Denied::Command) => reply
            .bulk(format!("This user has no permissions to run the '{name}' command").as_bytes()),
        Err(Denied::Key(i)) => reply.bulk(&quoted(
            "This user has no permissions to access the '",
            &line[i],
            "' key",
        )),
        Err(Denied::Channel(i)) => reply.bulk(&quoted(
            "This user has no permissions to access the '",
            &line[i],
            "' channel",
        )),
    }
    Ok(())
}

/// Redis `lookupCommand` on an argument vector: a container with a second argument names a
/// subcommand, which must exist.
fn dryrun_lookup(line: &Argv) -> Option<(&'static CommandSpec, Option<&'static CommandSpec>)> {
    let spec = super::lookup(&line[0])?;
    if spec.subcommands.is_empty() || line.len() < 2 {
        return Some((spec, None));
    }
    super::lookup_subcommand(spec, &line[1]).map(|sub| (sub, Some(spec)))
}

fn quoted(before: &str, middle: &[u8], after: &str) -> Vec<u8> {
    let mut out = before.as_bytes().to_vec();
    out.extend_from_slice(middle);
    out.extend_from_slice(after.as_bytes());
    out
}

/// The error ACL LOAD and ACL SAVE give without an `aclfile`.
const NO_ACLFILE: &str = "ERR This Redis instance is not configured to use an ACL file. You may want to specify users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis configuration file set) in order to store users in the Redis configuration.";

/// ```text
/// ACL LOAD
/// ```
/// `+OK` after replacing every user with the ACL file's; the connections of the users
/// replaced are closed. Nothing changes if the file has an error. Errors: no `aclfile`, the
/// file's errors in one line.
pub(crate) fn acl_load(ctx: &mut Ctx, _argv: &Argv, reply: &mut Reply) -> CmdResult {
    let (dir, path, all_channels) = {
        let config = ctx.shared.config.read();
        (
            config.dir.clone(),
            config.aclfile().to_string(),
            config.acl_all_channels(),
        )
    };
    if path.is_empty() {
        return Err(CmdError::msg(NO_ACLFILE));
    }
    let replaced = crate::acl::load_file(&ctx.shared.acl, &dir, &path, all_channels)
        .map_err(|e| CmdError::owned(format!("ERR {}", e.replace(['\r', '\n'], " "))))?;
    close_connections_of(ctx.shared, ctx.client, &replaced);
    reply.ok();
    Ok(())
}

/// ```text
/// ACL SAVE
/// ```
/// `+OK` after writing every user to the ACL file. Errors: no `aclfile`, `ERR There was an
/// error trying to save the ACLs. Please check the server logs for more information`.
pub(crate) fn acl_save(ctx: &mut Ctx, _argv: &Argv, reply: &mut Reply) -> CmdResult {
    let (dir, path) = {
        let config = ctx.shared.config.read();
        (config.dir.clone(), config.aclfile().to_string())
    };
    if path.is_empty() {
        return Err(CmdError::msg(NO_ACLFILE));
    }
    if let Err(e) = crate::acl::save_file(&ctx.shared.acl, &dir, &path) {
        crate::warning!(
            "Writing ACL file for ACL SAVE: {}",
            crate::sys::strerror(&e)
        );
        return Err(CmdError::msg("ERR There was an error trying to save the ACLs. Please check the server logs for more information"));
    }
    reply.ok();
    Ok(())
}

/// ```text
/// ACL HELP
/// ```
/// Redis 7.0.15's text, word for word.
pub(crate) fn acl_help(_ctx: &mut Ctx, _argv: &Argv, reply: &mut Reply) -> CmdResult {
    super::connection::reply_help(
        reply,
        "ACL",
        &[
            "CAT [<category>]",
            "    List all commands that belong to <category>, or all command categories",
            "    when no category is specified.",
            "DELUSER <username> [<username> ...]",
            "    Delete a list of users.",
            "DRYRUN <username> <command> [<arg> ...]",
            "    Returns whether the user can execute the given command without executing the command.",
            "GETUSER <username>",
            "    Get the user's details.",
            "GENPASS [<bits>]",
            "    Generate a secure 256-bit user password. The optional `bits` argument can",
            "    be used to specify a different size.",
            "LIST",
            "    Show users details in config file format.",
            "LOAD",
            "    Reload users from the ACL file.",
            "LOG [<count> | RESET]",
            "    Show the ACL log entries.",
            "SAVE",
            "    Save the current config to the ACL file.",
            "SETUSER <username> <attribute> [<attribute> ...]",
            "    Create or modify a user with the specified attributes.",
            "USERS",
            "    List all the registered usernames.",
            "WHOAMI",
            "    Return the current connection username.",
        ],
    );
    Ok(())
}
