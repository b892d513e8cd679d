//! MONITOR and SLOWLOG: the commands that show what other commands did.
//!
//! Counterpart of Redis `monitorCommand` (`server.c`) and `slowlogCommand` (`slowlog.c`).
//! The feeding and the log themselves are [`crate::monitor`] and [`crate::slowlog`];
//! [`super::run_command`] hands every executed command to both.

use std::sync::atomic::Ordering;

use super::connection::reply_help;
use super::{CmdError, CmdResult, CommandSpec, Ctx, Flags, Group, Handler, KeySpec};
use crate::protocol::{Argv, Reply};
use crate::util::parse_i64;

/// Flags of MONITOR and of the SLOWLOG subcommands but HELP.
const ADMIN_FLAGS: Flags = Flags::ADMIN.union(Flags::LOADING).union(Flags::STALE);

const fn slowlog_sub(name: &'static str, arity: i32, flags: Flags) -> CommandSpec {
    CommandSpec::new(
        name,
        arity,
        flags,
        KeySpec::NONE,
        Group::Server,
        Handler::Conn(slowlog),
    )
}

#[rustfmt::skip]
static SLOWLOG_SUBCOMMANDS: &[CommandSpec] = &[
    slowlog_sub("get", -2, ADMIN_FLAGS),
    slowlog_sub("len", 2, ADMIN_FLAGS),
    slowlog_sub("reset", 2, ADMIN_FLAGS),
    slowlog_sub("help", 2, Flags::LOADING.union(Flags::STALE)),
];

/// MONITOR and SLOWLOG (Redis files them under "server").
#[rustfmt::skip]
pub(crate) static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("monitor", 1, ADMIN_FLAGS.union(Flags::NOSCRIPT), KeySpec::NONE, Group::Server, Handler::Conn(monitor)),
    CommandSpec::new("slowlog", -2, Flags::NONE, KeySpec::NONE, Group::Server, Handler::Container).with_subcommands(SLOWLOG_SUBCOMMANDS),
];

/// Why MONITOR is refused inside EXEC (Redis: a client that "expects a reply per command").
const DENY_BLOCKING: CmdError = CmdError::msg("ERR MONITOR isn't allowed for DENY BLOCKING client");
/// SLOWLOG GET's count is not an integer, or below -1.
const BAD_COUNT: CmdError = CmdError::msg("ERR count should be greater than or equal to -1");

/// ```text
/// MONITOR
/// ```
/// `+OK`, then one line per command any client runs (see [`crate::monitor`]) until RESET or
/// the connection closes. A client already monitoring, or a replica, gets no reply at all,
/// as in Redis.
///
/// Errors: `ERR MONITOR isn't allowed for DENY BLOCKING client` inside EXEC.
pub fn monitor(ctx: &mut Ctx, _argv: &Argv, reply: &mut Reply) -> CmdResult {
    if ctx.in_exec {
        return Err(DENY_BLOCKING);
    }
    let handle = &ctx.client.handle;
    if handle.is_monitor() || handle.is_replica() {
        return Ok(()); // mirrors monitorCommand(): "ignore MONITOR if already slave or in monitor mode"
    }
    // The waker exists before the first line can be delivered, so no wake-up is lost.
    handle
        .waker()
        .map_err(|_| CmdError::msg("ERR cannot create a waker for MONITOR"))?;
    handle.is_monitor.store(true, Ordering::Relaxed);
    ctx.shared.monitors.add(handle);
    reply.ok();
    Ok(())
}

/// ```text
/// SLOWLOG GET [count] | LEN | RESET | HELP
/// ```
/// GET: the newest `count` entries (10 by default, -1 for all), each `[id, unix time,
/// microseconds, [args...], "ip:port", name]`. LEN: an integer. RESET: `+OK`.
///
/// Errors: `ERR count should be greater than or equal to -1` for a count that is not an
/// integer or is below -1; `SubcommandSyntax` for GET with more than one argument, or LEN,
/// RESET with any (the rows' arities let those through, as Redis's do).
pub fn slowlog(ctx: &mut Ctx, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let log = &ctx.shared.slowlog;
    let sub = argv[1].to_ascii_lowercase();
    match (sub.as_slice(), argv.len()) {
        (b"help", 2) => reply_help(
            reply,
            "SLOWLOG",
            &[
                "GET [<count>]",
                "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
                "    Entries are made of:",
                "    id, timestamp, time in microseconds, arguments array, client IP and port,",
                "    client name",
                "LEN",
                "    Return the length of the slowlog.",
                "RESET",
                "    Reset the slowlog.",
            ],
        ),
        (b"reset", 2) => {
            log.reset();
            reply.ok();
        }
        (b"len", 2) => reply.int(log.len() as i64),
        (b"get", 2 | 3) => {
            let count = match argv.get(2) {
                None => 10,
                Some(arg) => match parse_i64(arg) {
                    Some(-1) => usize::MAX,
                    Some(n) if n >= 0 => n as usize,
                    _ => return Err(BAD_COUNT),
                },
            };
            let entries = log.newest(count);
            reply.array(entries.len());
            for entry in entries {
                reply.array(6);
                reply.int(entry.id as i64);
                reply.int(entry.time as i64);
                reply.int(entry.duration_us as i64);
                reply.array(entry.argv.len());
                for arg in &entry.argv {
                    reply.bulk(arg);
                }
                reply.bulk(entry.peer.as_bytes());
                reply.bulk(&entry.name);
            }
        }
        _ => return Err(CmdError::SubcommandSyntax),
    }
    Ok(())
}
