//! Connection commands: PING, ECHO, QUIT, SELECT, HELLO, RESET and the CLIENT container.
//!
//! Counterpart of the connection group in Redis: `server.c` (pingCommand, echoCommand,
//! helloCommand, resetCommand), `db.c` (selectCommand) and `networking.c` (QUIT and
//! clientCommand with its subcommands).
//!
//! These commands touch only the calling connection's [`Client`](crate::client::Client) or the
//! [`ClientRegistry`](crate::client::ClientRegistry), never the keyspace, so they are all
//! [`Handler::Conn`] rows and run without taking the keyspace lock.
//!
//! Other connections are seen through their [`ClientHandle`]: its snapshot is refreshed by the
//! owning worker once per batch of commands, so CLIENT LIST shows another client as it was at
//! the end of its last batch. The calling client's own line is built from its live state
//! instead, so it shows `cmd=client|list` as Redis does.

use super::{CmdError, CmdResult, CommandSpec, Ctx, Flags, Group, Handler, KeySpec};
use crate::client::{Client, ClientHandle, ClientSnapshot, ReplyMode};
use crate::protocol::{Argv, Reply};
use crate::util::{eq_ci, parse_i64};

/// The version respd reports in HELLO and INFO. respd is not Redis, but client libraries and
/// tools look at this number to decide which commands and reply shapes they may use, so respd
/// claims the Redis release whose behaviour it reproduces.
pub(crate) const REDIS_VERSION: &str = "7.0.15";

/// Flags shared by most CLIENT subcommands (Redis marks them so).
const CLIENT_FLAGS: Flags = Flags::NOSCRIPT.union(Flags::LOADING).union(Flags::STALE);
/// Flags of the CLIENT subcommands that act on other clients.
const CLIENT_ADMIN_FLAGS: Flags = Flags::ADMIN.union(CLIENT_FLAGS);
/// Flags of the commands a client may send before authenticating (QUIT, HELLO, RESET).
const PRE_AUTH_FLAGS: Flags = Flags::NOSCRIPT
    .union(Flags::LOADING)
    .union(Flags::STALE)
    .union(Flags::FAST)
    .union(Flags::NO_AUTH)
    .union(Flags::ALLOW_BUSY);

const fn client_sub(name: &'static str, arity: i32, flags: Flags, f: super::ConnFn) -> CommandSpec {
    CommandSpec::new(
        name,
        arity,
        flags,
        KeySpec::NONE,
        Group::Connection,
        Handler::Conn(f),
    )
}

/// CLIENT's subcommands.
#[rustfmt::skip]
static CLIENT_SUBCOMMANDS: &[CommandSpec] = &[
    client_sub("tracking", -3, CLIENT_FLAGS, client_tracking),
    client_sub("caching", 3, CLIENT_FLAGS, client_caching),
    client_sub("getredir", 2, CLIENT_FLAGS, client_getredir),
    client_sub("trackinginfo", 2, CLIENT_FLAGS, client_trackinginfo),
    client_sub("id", 2, CLIENT_FLAGS, client_id),
    client_sub("setname", 3, CLIENT_FLAGS, client_setname),
    client_sub("getname", 2, CLIENT_FLAGS, client_getname),
    client_sub("list", -2, CLIENT_ADMIN_FLAGS, client_list),
    client_sub("info", 2, CLIENT_FLAGS, client_info),
    client_sub("kill", -3, CLIENT_ADMIN_FLAGS, client_kill),
    client_sub("no-evict", 3, CLIENT_ADMIN_FLAGS, client_no_evict),
    client_sub("pause", -3, CLIENT_ADMIN_FLAGS, client_pause),
    client_sub("unpause", 2, CLIENT_ADMIN_FLAGS, client_unpause),
    client_sub("reply", 3, CLIENT_FLAGS, client_reply),
    // The keyspace write lock, not Conn: ending a wait must be atomic with serving it, and
    // CLIENT UNBLOCK may run inside EXEC, which already holds that lock.
    CommandSpec::new("unblock", -3, CLIENT_ADMIN_FLAGS, KeySpec::NONE, Group::Connection, Handler::KeyspaceWrite(client_unblock)),
    client_sub("help", 2, Flags::LOADING.union(Flags::STALE), client_help),
];

/// The connection group's rows of the command table.
#[rustfmt::skip]
pub(crate) static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("ping", -1, Flags::FAST.union(Flags::SUBSCRIBED_OK), KeySpec::NONE, Group::Connection, Handler::Conn(ping)),
    CommandSpec::new("echo", 2, Flags::LOADING.union(Flags::STALE).union(Flags::FAST), KeySpec::NONE, Group::Connection, Handler::Conn(echo)),
    CommandSpec::new("quit", -1, PRE_AUTH_FLAGS .union(Flags::NO_QUEUE) .union(Flags::SUBSCRIBED_OK), KeySpec::NONE, Group::Connection, Handler::Conn(quit)),
    CommandSpec::new("select", 2, Flags::LOADING.union(Flags::STALE).union(Flags::FAST), KeySpec::NONE, Group::Connection, Handler::Conn(select)),
    CommandSpec::new("auth", -2, PRE_AUTH_FLAGS, KeySpec::NONE, Group::Connection, Handler::Conn(auth)),
    CommandSpec::new("hello", -1, PRE_AUTH_FLAGS, KeySpec::NONE, Group::Connection, Handler::Conn(hello)),
    CommandSpec::new("reset", 1, PRE_AUTH_FLAGS .union(Flags::NO_QUEUE) .union(Flags::SUBSCRIBED_OK), KeySpec::NONE, Group::Connection, Handler::Conn(reset)),
    CommandSpec::new("client", -2, Flags::NONE, KeySpec::NONE, Group::Connection, Handler::Container).with_subcommands(CLIENT_SUBCOMMANDS),
];

/// ```text
/// PING [message]
/// ```
/// `+PONG`, or the message as a bulk string. Errors: `WrongArity` with more than one argument.
pub fn ping(ctx: &mut Ctx, argv: &Argv, reply: &mut Reply) -> CmdResult {
    if argv.len() > 2 {
        return Err(CmdError::WrongArity);
    }
    // In the RESP2 subscribed context a reply must look like a message: [pong, message].
    if ctx.client.resp == 2 && ctx.client.total_subscription_count() > 0 {
        reply.array(2);
        reply.bulk(b"pong");
        reply.bulk(argv.get(1).unwrap_or(b""));
        return Ok(());
    }
    match argv.len() {
        1 => reply.raw(b"+PONG\r\n"),
        2 => reply.bulk(&argv[1]),
        _ => return Err(CmdError::WrongArity),
    }
    Ok(())
}

/// ```text
/// ECHO message
/// ```
/// The message as a bulk string.
pub fn echo(_ctx: &mut Ctx, argv: &Argv, reply: &mut Reply) -> CmdResult {
    reply.bulk(&argv[1]);
    Ok(())
}

/// ```text
/// QUIT
/// ```
/// `+OK`, then the connection closes once the reply is sent. Redis 7.0 ignores extra
/// arguments.
pub(crate) fn quit(ctx: &mut Ctx, _argv: &Argv, reply: &mut Reply) -> CmdResult {
    reply.ok();
    ctx.client.close_after_reply = true;
    // Redis frees the client right after this reply: to others it is gone now (a tracking
    // redirection to it is broken), not when its thread gets round to closing it.
    ctx.client.handle.mark_quitting();
    if ctx.client.tracking_on {
        crate::tracking::disable(ctx.shared, ctx.client);
    }
    Ok(())
}

/// ```text
/// SELECT index
/// ```
/// `+OK`. Errors: `NotInteger` (wording "value is not an integer or out of range"), `ERR value
/// is out of range, value must between -2147483648 and 2147483647` (beyond a C `int`),
/// `DbIndexOutOfRange`.
pub fn select(ctx: &mut Ctx, argv: &Argv, reply: &mut Reply) -> CmdResult {
    // The count comes from the config, not the store: SELECT may run inside EXEC, which
    // already holds the keyspace lock.
    let databases = ctx.shared.config.read().databases;
    ctx.client.db = super::generic::parse_db_index(&argv[1], databases)?;
    reply.ok();
    Ok(())
}

/// ```text
/// HELLO [protover [AUTH username password] [SETNAME clientname]]
/// ```
/// Switches the connection to RESP2 or RESP3 and replies, in the new protocol, a map of seven
/// fields: `server` "redis", `version`, `proto`, `id`, `mode` "standalone", `role` "master",
/// `modules` (empty array).
///
/// Options are applied in order, as Redis 7.0 does, so in `HELLO 3 SETNAME a AUTH u p` the name
/// is set even when AUTH then fails; the protocol changes only when every option succeeded.
///
/// Errors: `ERR Protocol version is not an integer or out of range`,
/// `NOPROTO unsupported protocol version` (not 2 or 3), `ERR Syntax error in HELLO option '<opt>'`,
/// `WRONGPASS invalid username-password pair or user is disabled.`, SETNAME's
/// invalid-name error, and `NOAUTH HELLO must be called with the client already
/// authenticated, ...` when the connection is still unauthenticated after the options.
pub fn hello(ctx: &mut Ctx, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let mut protocol = ctx.client.resp;
    if argv.len() >= 2 {
        let version = parse_i64(&argv[1]).ok_or(CmdError::msg(
            "ERR Protocol version is not an integer or out of range",
        ))?;
        if !(2..=3).contains(&version) {
            return Err(CmdError::msg("NOPROTO unsupported protocol version"));
        }
        protocol = version as u8;
    }
    let mut j = 2;
    while j < argv.len() {
        let more = argv.len() - 1 - j;
        let option = &argv[j];
        if eq_ci(option, "AUTH") && more >= 2 {
            ctx.redacted.extend([j + 1, j + 2]); // mirrors helloCommand()
            authenticate(ctx, argv, &argv[j + 1], &argv[j + 2])?;
            j += 3;
        } else if eq_ci(option, "SETNAME") && more >= 1 {
            set_client_name(ctx, &argv[j + 1])?;
            j += 2;
        } else {
            return Err(CmdError::quoting(
                "ERR Syntax error in HELLO option '",
                option,
                "'",
            ));
        }
    }
    if !ctx.client.authenticated {
        return Err(CmdError::msg("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time"));
    }
    ctx.client.resp = protocol;
    // Seen at once by threads that push to this client (tracking redirections, Pub/Sub).
    (ctx.client.handle.resp3).store(protocol == 3, std::sync::atomic::Ordering::Relaxed);
    reply.set_resp3(protocol == 3);
    reply.map(7);
    reply.bulk(b"server");
    reply.bulk(b"redis");
    reply.bulk(b"version");
    reply.bulk(REDIS_VERSION.as_bytes());
    reply.bulk(b"proto");
    reply.int(i64::from(protocol));
    reply.bulk(b"id");
    reply.int(ctx.client.id() as i64);
    reply.bulk(b"mode");
    reply.bulk(b"standalone");
    reply.bulk(b"role");
    reply.bulk(b"master");
    reply.bulk(b"modules");
    reply.array(0);
    Ok(())
}

/// `WRONGPASS ...`: the one answer to a failed AUTH, whatever failed, so that it tells an
/// attacker nothing about which part was wrong.
const WRONGPASS: CmdError =
    CmdError::msg("WRONGPASS invalid username-password pair or user is disabled.");

/// Authenticates the connection as `username` (Redis `ACLAuthenticateUser`); a failure is
/// logged in the ACL log, its object being the command's name as sent, with the user name
/// given.
fn authenticate(ctx: &mut Ctx, argv: &Argv, username: &[u8], password: &[u8]) -> CmdResult {
    match ctx.shared.acl.check_credentials(username, password) {
        Ok(user) => {
            ctx.client.authenticate_as(user);
            Ok(())
        }
        Err(_) => {
            let command = String::from_utf8_lossy(&argv[0]).to_lowercase();
            super::acl::log_event(
                ctx.shared,
                ctx.client,
                ctx.now_ms,
                crate::acl::LogReason::Auth,
                argv[0].to_vec(),
                Some(username.to_vec()),
                &command,
            );
            Err(WRONGPASS)
        }
    }
}

/// ```text
/// AUTH [username] password
/// ```
/// `+OK`, the connection now being `username`'s (`default` when only a password is given).
///
/// Errors: `Syntax` (more than two arguments), `ERR AUTH <password> called without any
/// password configured for the default user. Are you sure your configuration is correct?`
/// (one argument while the default user has `nopass`), `WRONGPASS invalid username-password
/// pair or user is disabled.` (checked against Redis 7.0.15's `authCommand`).
pub(crate) fn auth(ctx: &mut Ctx, argv: &Argv, reply: &mut Reply) -> CmdResult {
    if argv.len() > 3 {
        return Err(CmdError::Syntax);
    }
    // mirrors authCommand(): the arguments after the name are redacted, whatever happens.
    ctx.redacted.extend(1..argv.len());
    let (username, password): (&[u8], &[u8]) = if argv.len() == 2 {
        if ctx.shared.acl.default_user().nopass {
            return Err(CmdError::msg("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?"));
        }
        (b"default", &argv[1])
    } else {
        (&argv[1], &argv[2])
    };
    authenticate(ctx, argv, username, password)?;
    reply.ok();
    Ok(())
}

/// ```text
/// RESET
/// ```
/// `+RESET`: back to database 0, RESP2, no name, as if the client had just connected.
pub fn reset(ctx: &mut Ctx, _argv: &Argv, reply: &mut Reply) -> CmdResult {
    if ctx.client.total_subscription_count() > 0 {
        ctx.shared.pubsub.forget(ctx.client.id());
        ctx.client.channels.clear();
        ctx.client.patterns.clear();
        ctx.client.shard_channels.clear();
    }
    // Redis clearClientConnectionState: tracking off.
    if ctx.client.tracking_on {
        crate::tracking::disable(ctx.shared, ctx.client);
    }
    // Redis clearClientConnectionState: "RESET clears MONITOR state".
    if ctx.client.handle.is_monitor() {
        ctx.shared.monitors.remove(ctx.client.id());
        ctx.client
            .handle
            .is_monitor
            .store(false, std::sync::atomic::Ordering::Relaxed);
    }
    // Like Redis's clearClientConnectionState: leave any transaction and unwatch every key.
    ctx.client.multi = None;
    crate::cmd::transactions::unwatch_all(&ctx.shared.store.read(), &mut ctx.client.watch);
    ctx.client.db = 0;
    ctx.client.name.clear();
    ctx.client.resp = 2;
    (ctx.client.handle.resp3).store(false, std::sync::atomic::Ordering::Relaxed);
    ctx.client.reply_mode = ReplyMode::On;
    // Redis clearClientConnectionState: back to the default user (clientSetDefaultAuth).
    if ctx.client.user.is_some() {
        ctx.client.set_default_user(&ctx.shared.acl);
    }
    reply.set_resp3(false);
    reply.simple("RESET");
    Ok(())
}

/// ```text
/// CLIENT UNBLOCK client-id [TIMEOUT|ERROR]
/// ```
/// Integer: 1 if the client was blocked in a blocking command and is now released (with its
/// timeout reply, or with `-UNBLOCKED client unblocked via CLIENT UNBLOCK` for ERROR), else 0.
///
/// Errors, in Redis's order (`clientCommand`): more than 4 arguments is `SubcommandSyntax`
/// (the table's arity is only a minimum); then "CLIENT UNBLOCK reason should be TIMEOUT or
/// ERROR"; then `NotInteger` for the id.
pub(crate) fn client_unblock(
    ctx: &mut Ctx,
    keyspace: &mut crate::store::Keyspace,
    argv: &Argv,
    reply: &mut Reply,
) -> CmdResult {
    if argv.len() > 4 {
        return Err(CmdError::SubcommandSyntax);
    }
    let as_error = match argv.get(3) {
        None => false,
        Some(r) if crate::util::eq_ci(r, "timeout") => false,
        Some(r) if crate::util::eq_ci(r, "error") => true,
        Some(_) => {
            return Err(CmdError::msg(
                "ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR",
            ))
        }
    };
    let id = crate::util::parse_i64(&argv[2]).ok_or(CmdError::NotInteger)?;
    let target = u64::try_from(id)
        .ok()
        .and_then(|id| ctx.shared.clients.get(id));
    let waiter = target.as_ref().and_then(|c| c.blocked_on.lock().clone());
    let released = match waiter {
        Some(w) if as_error => crate::blocking::cancel_locked(
            keyspace,
            &w,
            Some(b"-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n"),
        ),
        Some(w) => crate::blocking::cancel_locked(keyspace, &w, None),
        None => false,
    };
    if let (true, Some(target)) = (released, &target) {
        ctx.shared.slowlog.push_released(target);
    }
    reply.int(released as i64);
    Ok(())
}

/// ```text
/// CLIENT ID
/// ```
/// Integer: this connection's id.
pub fn client_id(ctx: &mut Ctx, _argv: &Argv, reply: &mut Reply) -> CmdResult {
    reply.int(ctx.client.id() as i64);
    Ok(())
}

/// Validates and stores a client name (Redis `clientSetName`): every byte must be printable
/// ASCII other than space, so that CLIENT LIST stays one parseable line per client. An empty
/// name removes the name.
fn set_client_name(ctx: &mut Ctx, name: &[u8]) -> CmdResult {
    if name.iter().any(|&b| !(b'!'..=b'~').contains(&b)) {
        return Err(CmdError::msg(
            "ERR Client names cannot contain spaces, newlines or special characters.",
        ));
    }
    ctx.client.name = name.to_vec();
    // Other connections' CLIENT LIST reads the published snapshot, which the connection
    // refreshes after sending its replies; the name goes in now, so a client that saw the OK
    // finds its name listed at once, as in Redis.
    ctx.client.handle.snapshot.lock().name = ctx.client.name.clone();
    Ok(())
}

/// ```text
/// CLIENT SETNAME connection-name
/// ```
/// `+OK`. Errors: `ERR Client names cannot contain spaces, newlines or special characters.`
pub(crate) fn client_setname(ctx: &mut Ctx, argv: &Argv, reply: &mut Reply) -> CmdResult {
    set_client_name(ctx, &argv[2])?;
    reply.ok();
    Ok(())
}

/// ```text
/// CLIENT GETNAME
/// ```
/// The name as a bulk string, or null if none was set.
pub(crate) fn client_getname(ctx: &mut Ctx, _argv: &Argv, reply: &mut Reply) -> CmdResult {
    if ctx.client.name.is_empty() {
        reply.null();
    } else {
        reply.bulk(&ctx.client.name);
    }
    Ok(())
}

/// The client types CLIENT LIST TYPE and CLIENT KILL TYPE accept. Pub/Sub clients are not
/// told apart yet; the master link is no connection of the registry (see [`client_kill`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClientType {
    Normal,
    /// A replica attached with SYNC/PSYNC (monitors excepted, as in Redis's
    /// `getClientType`).
    Replica,
    /// The link to this server's master.
    Master,
    Other,
}

fn parse_client_type(name: &[u8]) -> Result<ClientType, CmdError> {
    if eq_ci(name, "normal") {
        Ok(ClientType::Normal)
    } else if eq_ci(name, "replica") || eq_ci(name, "slave") {
        Ok(ClientType::Replica)
    } else if eq_ci(name, "master") {
        Ok(ClientType::Master)
    } else if eq_ci(name, "pubsub") {
        Ok(ClientType::Other)
    } else {
        Err(CmdError::quoting("ERR Unknown client type '", name, "'"))
    }
}

/// The calling client's line data, built from its live state rather than from its last
/// published snapshot.
fn own_snapshot(client: &Client, now_ms: u64, command: &str) -> ClientSnapshot {
    let mut snap = client.handle.snapshot.lock().clone();
    snap.name = client.name.clone();
    snap.db = client.db;
    snap.resp = client.resp;
    snap.last_command = command.to_string();
    snap.last_interaction_ms = now_ms;
    snap.multi = client.multi.as_ref().map_or(-1, |m| m.queued.len() as i64);
    snap.sub = client.channels.len();
    snap.psub = client.patterns.len();
    snap.ssub = client.shard_channels.len();
    (snap.query_buffer_len, snap.query_buffer_capacity) = client.query_buffer;
    snap
}

/// The calling client's CLIENT LIST line, `command` being the one running (the ACL log
/// records it, as Redis's `catClientInfoString`).
pub(crate) fn own_info_line(client: &Client, now_ms: u64, command: &str) -> String {
    client_info_line(
        &client.handle,
        &own_snapshot(client, now_ms, command),
        now_ms,
    )
}

/// Formats one CLIENT LIST line (Redis `catClientInfoString`), fields in Redis 7.0.15's order.
///
/// Fields respd has no counterpart for are printed with the value Redis shows for an idle,
/// ordinary client: `multi-mem=0`. `rbs`/`rbp` (Redis's per-client reply buffer) are 0: respd's batch reply buffer
/// is counted in `tot-mem` instead.
pub(crate) fn client_info_line(
    handle: &ClientHandle,
    snap: &ClientSnapshot,
    now_ms: u64,
) -> String {
    let mut flags = String::new();
    // mirrors catClientInfoString(): a monitor is a replica shown as `O`.
    if handle.is_monitor() {
        flags.push('O');
    } else if handle.is_replica() {
        flags.push('S');
    }
    if snap.sub + snap.psub + snap.ssub > 0 {
        flags.push('P');
    }
    if snap.multi >= 0 {
        flags.push('x');
    }
    if handle.blocked_on.lock().is_some()
        || handle
            .is_postponed
            .load(std::sync::atomic::Ordering::Relaxed)
    {
        flags.push('b');
    }
    let tracking = handle.tracking.lock().clone();
    for (set, flag) in [
        (tracking.on, 't'),
        (tracking.broken_redirect, 'R'),
        (tracking.bcast, 'B'),
    ] {
        if set {
            flags.push(flag);
        }
    }
    let redirect = match tracking.on {
        true => tracking.redirect as i64,
        false => -1,
    };
    if flags.is_empty() {
        flags.push('N');
    }
    let events = if snap.output_bytes > 0 { "rw" } else { "r" };
    format!(
        "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db={} sub={} psub={} ssub={} \
         multi={} qbuf={} qbuf-free={} argv-mem={} multi-mem=0 rbs=0 rbp=0 obl={} oll={} omem={} \
         tot-mem={} events={} cmd={} user={} redir={} resp={}",
        handle.id,
        handle.addr,
        handle.local_addr,
        handle.fd,
        String::from_utf8_lossy(&snap.name),
        now_ms.saturating_sub(handle.created_ms) / 1000,
        now_ms.saturating_sub(snap.last_interaction_ms) / 1000,
        flags,
        snap.db,
        snap.sub,
        snap.psub,
        snap.ssub,
        snap.multi,
        snap.query_buffer_len,
        snap.query_buffer_capacity
            .saturating_sub(snap.query_buffer_len),
        snap.argv_mem,
        snap.reply_buffer_len,
        snap.output_blocks,
        snap.output_bytes,
        snap.total_mem,
        events,
        snap.last_command,
        String::from_utf8_lossy(&handle.user_name.lock()),
        redirect,
        snap.resp,
    )
}

/// Appends `client`'s CLIENT LIST line (and its newline) to `out`.
///
/// A client already killed (CLIENT KILL, ACL SETUSER revoking its channels, an output limit)
/// is left out although its thread may not have closed it yet: Redis frees such a client
/// before the killer's next command, so no later CLIENT LIST shows it.
fn push_line(ctx: &Ctx, handle: &ClientHandle, command: &str, out: &mut String) {
    if handle.id != ctx.client.id() && handle.is_killed() {
        return;
    }
    let line = if handle.id == ctx.client.id() {
        client_info_line(
            handle,
            &own_snapshot(ctx.client, ctx.now_ms, command),
            ctx.now_ms,
        )
    } else {
        client_info_line(handle, &handle.snapshot.lock(), ctx.now_ms)
    };
    out.push_str(&line);
    out.push('\n');
}

/// ```text
/// CLIENT LIST [TYPE normal|master|replica|pubsub] [ID client-id [client-id ...]]
/// ```
/// Verbatim text (a bulk string in RESP2): one line per client, each ending in `\n`. As in
/// Redis 7.0, TYPE and ID cannot be combined; IDs are listed in the order given.
///
/// Errors: `Syntax`, `ERR Unknown client type '<type>'`, `ERR Invalid client ID`.
pub(crate) fn client_list(ctx: &mut Ctx, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let mut out = String::new();
    if argv.len() == 2 {
        for handle in ctx.shared.clients.all() {
            push_line(ctx, &handle, "client|list", &mut out);
        }
    } else if argv.len() == 4 && eq_ci(&argv[2], "type") {
        let wanted = parse_client_type(&argv[3])?;
        for handle in ctx.shared.clients.all() {
            if client_type(&handle) == wanted {
                push_line(ctx, &handle, "client|list", &mut out);
            }
        }
    } else if argv.len() > 3 && eq_ci(&argv[2], "id") {
        let mut ids = Vec::new();
        for arg in argv.iter().skip(3) {
            ids.push(parse_i64(arg).ok_or(CmdError::msg("ERR Invalid client ID"))?);
        }
        for id in ids {
            if let Some(handle) = u64::try_from(id)
                .ok()
                .and_then(|id| ctx.shared.clients.get(id))
            {
                push_line(ctx, &handle, "client|list", &mut out);
            }
        }
    } else {
        return Err(CmdError::Syntax);
    }
    reply.verbatim(out.as_bytes());
    Ok(())
}

/// ```text
/// CLIENT INFO
/// ```
/// Verbatim text: this connection's CLIENT LIST line.
pub(crate) fn client_info(ctx: &mut Ctx, _argv: &Argv, reply: &mut Reply) -> CmdResult {
    let handle = ctx.client.handle.clone();
    let mut out = String::new();
    push_line(ctx, &handle, "client|info", &mut out);
    reply.verbatim(out.as_bytes());
    Ok(())
}

/// CLIENT KILL's filters; `None` matches every client.
#[derive(Default)]
struct KillFilter {
    id: Option<u64>,
    addr: Option<Vec<u8>>,
    laddr: Option<Vec<u8>>,
    client_type: Option<ClientType>,
    user: Option<Vec<u8>>,
    skip_me: bool,
}

/// The type of a registered connection.
fn client_type(handle: &ClientHandle) -> ClientType {
    if handle.is_replica() && !handle.is_monitor() {
        ClientType::Replica
    } else {
        ClientType::Normal
    }
}

impl KillFilter {
    fn matches(&self, handle: &ClientHandle) -> bool {
        self.id.map_or(true, |id| id == handle.id)
            && self
                .addr
                .as_ref()
                .map_or(true, |a| a == handle.addr.to_string().as_bytes())
            && self
                .laddr
                .as_ref()
                .map_or(true, |a| a == handle.local_addr.to_string().as_bytes())
            && self.client_type.map_or(true, |t| t == client_type(handle))
            && self
                .user
                .as_ref()
                .map_or(true, |u| *u == *handle.user_name.lock())
    }
}

/// ```text
/// CLIENT KILL ip:port
/// CLIENT KILL [ID client-id] [TYPE normal|master|replica|pubsub] [USER username]
///             [ADDR ip:port] [LADDR ip:port] [SKIPME yes|no] ...
/// ```
/// The old form replies `+OK`, or `ERR No such client`. The new form replies the number of
/// clients killed; every filter given must match, and SKIPME defaults to yes. A client killed
/// by another is closed at once; a client that kills itself gets its reply first, then closes.
///
/// Errors: `Syntax`, `ERR client-id should be greater than 0`, `ERR Unknown client type
/// '<type>'`, `ERR No such user '<user>'`.
pub(crate) fn client_kill(ctx: &mut Ctx, argv: &Argv, reply: &mut Reply) -> CmdResult {
    if argv.len() == 3 {
        let filter = KillFilter {
            addr: Some(argv[2].to_vec()),
            ..KillFilter::default()
        };
        let master =
            ctx.shared.replica_role.is_master_addr(&argv[2]) && ctx.shared.replica_role.drop_link();
        if kill_matching(ctx, &filter) == 0 && !master {
            return Err(CmdError::msg("ERR No such client"));
        }
        reply.ok();
        return Ok(());
    }
    if argv.len() % 2 != 0 {
        return Err(CmdError::Syntax);
    }
    let mut filter = KillFilter {
        skip_me: true,
        ..KillFilter::default()
    };
    for pair in (2..argv.len()).step_by(2) {
        let (option, value) = (&argv[pair], &argv[pair + 1]);
        if eq_ci(option, "id") {
            let id = parse_i64(value)
                .filter(|&id| id > 0)
                .ok_or(CmdError::msg("ERR client-id should be greater than 0"))?;
            filter.id = Some(id as u64);
        } else if eq_ci(option, "type") {
            filter.client_type = Some(parse_client_type(value)?);
        } else if eq_ci(option, "addr") {
            filter.addr = Some(value.to_vec());
        } else if eq_ci(option, "laddr") {
            filter.laddr = Some(value.to_vec());
        } else if eq_ci(option, "user") {
            if ctx.shared.acl.user(value).is_none() {
                return Err(CmdError::quoting("ERR No such user '", value, "'"));
            }
            filter.user = Some(value.to_vec());
        } else if eq_ci(option, "skipme") {
            filter.skip_me = if eq_ci(value, "yes") {
                true
            } else if eq_ci(value, "no") {
                false
            } else {
                return Err(CmdError::Syntax);
            };
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let mut killed = kill_matching(ctx, &filter);
    // The master link is a client of its own with no socket in the registry: TYPE master
    // or its ADDR (and no other filter) asks its thread to drop it (it connects again a
    // second later, as after any disconnection).
    let role = &ctx.shared.replica_role;
    let master_matches = matches!(filter.client_type, None | Some(ClientType::Master))
        && (filter.client_type.is_some() || filter.addr.is_some())
        && filter
            .addr
            .as_ref()
            .map_or(true, |a| role.is_master_addr(a))
        && filter.id.is_none()
        && filter.laddr.is_none()
        && filter.user.is_none();
    if master_matches && role.drop_link() {
        killed += 1;
    }
    reply.int(killed as i64);
    Ok(())
}

/// Kills every client `filter` matches; returns how many.
fn kill_matching(ctx: &mut Ctx, filter: &KillFilter) -> usize {
    let mut killed = 0;
    for handle in ctx.shared.clients.all() {
        if !filter.matches(&handle) {
            continue;
        }
        if handle.id == ctx.client.id() {
            if filter.skip_me {
                continue;
            }
            // Shutting our own socket down now would lose the reply: close after sending it.
            ctx.client.close_after_reply = true;
        } else {
            handle.kill();
        }
        killed += 1;
    }
    killed
}

/// ```text
/// CLIENT REPLY ON|OFF|SKIP
/// ```
/// ON: `+OK`, and replies are sent again. OFF: no reply, to this or any later command until
/// ON. SKIP: no reply, to this and to the next command (ignored while replies are off).
/// Pub/Sub confirmations and messages are pushes and are sent anyway, as in Redis. The
/// silencing itself happens in [`super::dispatch`].
///
/// Errors: `Syntax`.
pub(crate) fn client_reply(ctx: &mut Ctx, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let mode = &mut ctx.client.reply_mode;
    if eq_ci(&argv[2], "on") {
        *mode = ReplyMode::On;
        reply.ok();
    } else if eq_ci(&argv[2], "off") {
        *mode = ReplyMode::Off;
    } else if eq_ci(&argv[2], "skip") {
        if *mode != ReplyMode::Off {
            *mode = ReplyMode::SkipNext;
        }
    } else {
        return Err(CmdError::Syntax);
    }
    Ok(())
}

/// ```text
/// CLIENT TRACKING ON|OFF [REDIRECT client-id] [PREFIX prefix [PREFIX prefix ...]]
///     [BCAST] [OPTIN] [OPTOUT] [NOLOOP]
/// ```
/// `+OK`; turns client-side caching on (again, with new options) or off; see
/// [`crate::tracking`]. Errors, in Redis's order (`clientCommand`): `Syntax` for an unknown
/// option, a second REDIRECT, a REDIRECT id that is not an integer or not connected; then,
/// for ON, PREFIX without BCAST, a switch of BCAST or of OPTIN/OPTOUT while tracking, BCAST
/// with OPTIN or OPTOUT, OPTIN with OPTOUT, prefixes that overlap; ON/OFF itself last.
pub(crate) fn client_tracking(ctx: &mut Ctx, argv: &Argv, reply: &mut Reply) -> CmdResult {
    use crate::tracking::Settings;
    let mut wanted = Settings {
        on: true,
        ..Settings::default()
    };
    let mut prefixes: Vec<&[u8]> = Vec::new();
    let mut j = 3;
    while j < argv.len() {
        let more = j + 1 < argv.len();
        let option = &argv[j];
        if eq_ci(option, "redirect") && more {
            j += 1;
            if wanted.redirect != 0 {
                return Err(CmdError::msg(
                    "ERR A client can only redirect to a single other client",
                ));
            }
            wanted.redirect = parse_i64(&argv[j]).ok_or(CmdError::NotInteger)? as u64;
            if ctx.shared.clients.get(wanted.redirect).is_none() {
                return Err(CmdError::msg(
                    "ERR The client ID you want redirect to does not exist",
                ));
            }
        } else if eq_ci(option, "bcast") {
            wanted.bcast = true;
        } else if eq_ci(option, "optin") {
            wanted.optin = true;
        } else if eq_ci(option, "optout") {
            wanted.optout = true;
        } else if eq_ci(option, "noloop") {
            wanted.noloop = true;
        } else if eq_ci(option, "prefix") && more {
            j += 1;
            prefixes.push(&argv[j]);
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    if eq_ci(&argv[2], "off") {
        crate::tracking::disable(ctx.shared, ctx.client);
        reply.ok();
        return Ok(());
    }
    if !eq_ci(&argv[2], "on") {
        return Err(CmdError::Syntax);
    }
    let current = ctx.client.handle.tracking.lock().clone();
    if !wanted.bcast && !prefixes.is_empty() {
        return Err(CmdError::msg(
            "ERR PREFIX option requires BCAST mode to be enabled",
        ));
    }
    if current.on && current.bcast != wanted.bcast {
        return Err(CmdError::msg("ERR You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode."));
    }
    if wanted.bcast && (wanted.optin || wanted.optout) {
        return Err(CmdError::msg(
            "ERR OPTIN and OPTOUT are not compatible with BCAST",
        ));
    }
    if wanted.optin && wanted.optout {
        return Err(CmdError::msg(
            "ERR You can't specify both OPTIN mode and OPTOUT mode",
        ));
    }
    if (wanted.optin && current.optout) || (wanted.optout && current.optin) {
        return Err(CmdError::msg("ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then re-enabling it with a different mode."));
    }
    if wanted.bcast {
        check_prefix_collisions(&current.prefixes, &prefixes)?;
    }
    wanted.prefixes = prefixes.iter().map(|p| p.to_vec()).collect();
    crate::tracking::enable(ctx.shared, ctx.client, wanted);
    reply.ok();
    Ok(())
}

/// Redis `checkPrefixCollisionsOrReply`: no prefix of one client may be a prefix of another
/// of its prefixes, given now or before.
fn check_prefix_collisions(
    existing: &std::collections::BTreeSet<Vec<u8>>,
    given: &[&[u8]],
) -> CmdResult {
    let overlap = |a: &[u8], b: &[u8]| a.starts_with(b) || b.starts_with(a);
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    for (i, prefix) in given.iter().enumerate() {
        if let Some(old) = existing.iter().find(|old| overlap(old, prefix)) {
            return Err(CmdError::owned(format!(
                "ERR Prefix '{}' overlaps with an existing prefix '{}'. Prefixes for a single client must not overlap.",
                text(prefix),
                text(old)
            )));
        }
        if let Some(other) = given[i + 1..].iter().find(|other| overlap(prefix, other)) {
            return Err(CmdError::owned(format!(
                "ERR Prefix '{}' overlaps with another provided prefix '{}'. Prefixes for a single client must not overlap.",
                text(prefix),
                text(other)
            )));
        }
    }
    Ok(())
}

/// ```text
/// CLIENT CACHING YES|NO
/// ```
/// `+OK`: the next command's reads are remembered (YES, in OPTIN mode) or not (NO, in
/// OPTOUT mode). Errors: not tracking; YES outside OPTIN, NO outside OPTOUT; `Syntax`.
pub(crate) fn client_caching(ctx: &mut Ctx, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let settings = ctx.client.handle.tracking.lock().clone();
    if !settings.on {
        return Err(CmdError::msg("ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled"));
    }
    if eq_ci(&argv[2], "yes") {
        if !settings.optin {
            return Err(CmdError::msg(
                "ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.",
            ));
        }
    } else if eq_ci(&argv[2], "no") {
        if !settings.optout {
            return Err(CmdError::msg(
                "ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.",
            ));
        }
    } else {
        return Err(CmdError::Syntax);
    }
    ctx.client.tracking_caching = true;
    reply.ok();
    Ok(())
}

/// ```text
/// CLIENT GETREDIR
/// ```
/// Integer: the client id invalidations are redirected to, 0 for none, -1 when tracking is
/// off.
pub(crate) fn client_getredir(ctx: &mut Ctx, _argv: &Argv, reply: &mut Reply) -> CmdResult {
    let settings = ctx.client.handle.tracking.lock().clone();
    reply.int(if settings.on {
        settings.redirect as i64
    } else {
        -1
    });
    Ok(())
}

/// ```text
/// CLIENT TRACKINGINFO
/// ```
/// A map: `flags` (a set: on/off, bcast, optin and caching-yes, optout and caching-no,
/// noloop, broken_redirect), `redirect` (as GETREDIR), `prefixes` (the BCAST prefixes).
pub(crate) fn client_trackinginfo(ctx: &mut Ctx, _argv: &Argv, reply: &mut Reply) -> CmdResult {
    let settings = ctx.client.handle.tracking.lock().clone();
    let caching = ctx.client.tracking_caching;
    let mut flags: Vec<&str> = vec![if settings.on { "on" } else { "off" }];
    for (set, flag) in [
        (settings.bcast, "bcast"),
        (settings.optin, "optin"),
        (settings.optin && caching, "caching-yes"),
        (settings.optout, "optout"),
        (settings.optout && caching, "caching-no"),
        (settings.noloop, "noloop"),
        (settings.broken_redirect, "broken_redirect"),
    ] {
        if set {
            flags.push(flag);
        }
    }
    reply.map(3);
    reply.bulk(b"flags");
    reply.set(flags.len());
    for flag in flags {
        reply.bulk(flag.as_bytes());
    }
    reply.bulk(b"redirect");
    reply.int(if settings.on {
        settings.redirect as i64
    } else {
        -1
    });
    reply.bulk(b"prefixes");
    reply.array(settings.prefixes.len());
    for prefix in &settings.prefixes {
        reply.bulk(prefix);
    }
    Ok(())
}

/// ```text
/// CLIENT PAUSE timeout [WRITE | ALL]
/// ```
/// `+OK`; for `timeout` milliseconds the commands of other clients (all of them, or with
/// WRITE those that write or may propagate: PUBLISH, PFCOUNT, EVAL...) wait instead of
/// running; see [`crate::pause`]. A pause in force keeps the later end and the stricter mode.
/// Errors, in Redis's order: more than one mode is `SubcommandSyntax`; `ERR CLIENT PAUSE
/// mode must be WRITE or ALL`; the timeout's errors.
pub(crate) fn client_pause(ctx: &mut Ctx, argv: &Argv, reply: &mut Reply) -> CmdResult {
    use crate::pause::PauseKind;
    if argv.len() > 4 {
        return Err(CmdError::SubcommandSyntax);
    }
    let kind = match argv.get(3) {
        None => PauseKind::All,
        Some(mode) if eq_ci(mode, "write") => PauseKind::Write,
        Some(mode) if eq_ci(mode, "all") => PauseKind::All,
        Some(_) => return Err(CmdError::msg("ERR CLIENT PAUSE mode must be WRITE or ALL")),
    };
    // mirrors getTimeoutFromObjectOrReply() in milliseconds: 0 is "until now", so no pause;
    // Redis adds now without an overflow check, and an end that wrapped below zero is in
    // the past too.
    let timeout = parse_i64(&argv[2]).ok_or(CmdError::TIMEOUT_NOT_INTEGER)?;
    if timeout < 0 {
        return Err(CmdError::TIMEOUT_NEGATIVE);
    }
    let end_ms = match timeout {
        0 => 0,
        t => t.wrapping_add(ctx.now_ms as i64).max(0) as u64,
    };
    ctx.shared.pause.pause(kind, end_ms);
    reply.ok();
    Ok(())
}

/// ```text
/// CLIENT UNPAUSE
/// ```
/// `+OK`; ends a pause at once, and the commands it held back run.
pub(crate) fn client_unpause(ctx: &mut Ctx, _argv: &Argv, reply: &mut Reply) -> CmdResult {
    ctx.shared.pause.unpause();
    reply.ok();
    Ok(())
}

/// ```text
/// CLIENT NO-EVICT ON|OFF
/// ```
/// `+OK`. respd has no client eviction (`maxmemory-clients`), so the setting has no effect.
/// Errors: `Syntax`.
pub(crate) fn client_no_evict(_ctx: &mut Ctx, argv: &Argv, reply: &mut Reply) -> CmdResult {
    if !eq_ci(&argv[2], "on") && !eq_ci(&argv[2], "off") {
        return Err(CmdError::Syntax);
    }
    reply.ok();
    Ok(())
}

/// Writes a HELP reply: the usage line, then the lines given, then HELP's own entry, each as a
/// simple string (Redis `addReplyHelp`).
pub(crate) fn reply_help(reply: &mut Reply, command: &str, lines: &[&str]) {
    reply.array(lines.len() + 3);
    reply.simple(&format!(
        "{command} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    ));
    for line in lines {
        reply.simple(line);
    }
    reply.simple("HELP");
    reply.simple("    Prints this help.");
}

/// ```text
/// CLIENT HELP
/// ```
/// An array of simple strings: Redis 7.0.15's text, word for word.
pub(crate) fn client_help(_ctx: &mut Ctx, _argv: &Argv, reply: &mut Reply) -> CmdResult {
    reply_help(
        reply,
        "CLIENT",
        &[
            "CACHING (YES|NO)",
            "    Enable/disable tracking of the keys for next command in OPTIN/OPTOUT modes.",
            "GETREDIR",
            "    Return the client ID we are redirecting to when tracking is enabled.",
            "GETNAME",
            "    Return the name of the current connection.",
            "ID",
            "    Return the ID of the current connection.",
            "INFO",
            "    Return information about the current client connection.",
            "KILL <ip:port>",
            "    Kill connection made from <ip:port>.",
            "KILL <option> <value> [<option> <value> [...]]",
            "    Kill connections. Options are:",
            "    * ADDR (<ip:port>|<unixsocket>:0)",
            "      Kill connections made from the specified address",
            "    * LADDR (<ip:port>|<unixsocket>:0)",
            "      Kill connections made to specified local address",
            "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
            "      Kill connections by type.",
            "    * USER <username>",
            "      Kill connections authenticated by <username>.",
            "    * SKIPME (YES|NO)",
            "      Skip killing current connection (default: yes).",
            "LIST [options ...]",
            "    Return information about client connections. Options:",
            "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
            "      Return clients of specified type.",
            "UNPAUSE",
            "    Stop the current client pause, resuming traffic.",
            "PAUSE <timeout> [WRITE|ALL]",
            "    Suspend all, or just write, clients for <timeout> milliseconds.",
            "REPLY (ON|OFF|SKIP)",
            "    Control the replies sent to the current connection.",
            "SETNAME <name>",
            "    Assign the name <name> to the current connection.",
            "UNBLOCK <clientid> [TIMEOUT|ERROR]",
            "    Unblock the specified blocked client.",
            "TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]]",
            "         [OPTIN] [OPTOUT] [NOLOOP]",
            "    Control server assisted client side caching.",
            "TRACKINGINFO",
            "    Report tracking status for the current connection.",
            "NO-EVICT (ON|OFF)",
            "    Protect current client connection from eviction.",
        ],
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::harness::Harness;

    #[test]
    fn hello_switches_protocol_and_replies_a_map() {
        let h = Harness::new();
        let id = h.call(&["CLIENT", "ID"]);
        let id = id.trim_start_matches(':').trim_end();
        let expected = format!(
            "%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$6\r\n7.0.15\r\n\
             $5\r\nproto\r\n:3\r\n$2\r\nid\r\n:{id}\r\n$4\r\nmode\r\n$10\r\nstandalone\r\n\
             $4\r\nrole\r\n$6\r\nmaster\r\n$7\r\nmodules\r\n*0\r\n"
        );
        assert_eq!(h.call(&["HELLO", "3"]), expected);
        // RESP3 from now on: null is `_`, maps are `%`.
        assert_eq!(h.call(&["CLIENT", "GETNAME"]), "_\r\n");
        let map = "%1\r\n$10\r\nmaxclients\r\n$5\r\n10000\r\n";
        assert_eq!(h.call(&["CONFIG", "GET", "maxclients"]), map);
        // The caller's own CLIENT INFO line shows the command being run.
        let info = h.call(&["CLIENT", "INFO"]);
        assert!(info.starts_with('='), "{info}");
        assert!(info.contains(" cmd=client|info "), "{info}");
        assert!(info.contains(" resp=3\n"), "{info}");
        // HELLO 2 goes back to RESP2, and its reply is already in RESP2.
        let back = h.call(&["HELLO", "2"]);
        assert!(back.starts_with("*14\r\n"), "{back}");
        assert_eq!(h.call(&["CLIENT", "GETNAME"]), "$-1\r\n");
    }
}
