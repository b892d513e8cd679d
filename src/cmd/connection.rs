//! Connection commands: PING, ECHO, QUIT, SELECT.
//!
//! Counterpart of the connection group in Redis (`server.c` pingCommand, echoCommand,
//! `db.c` selectCommand, `networking.c` for QUIT).

use super::{CmdError, CmdResult, CommandSpec, Ctx, Flags, Group, Handler, KeySpec};
use crate::protocol::{Argv, Reply};

/// The connection group's rows of the command table.
pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new(
        "ping",
        -1,
        Flags::FAST,
        KeySpec::NONE,
        Group::Connection,
        Handler::Conn(ping),
    )
    .doc("1.0.0", "Ping the server", "O(1)"),
    CommandSpec::new(
        "echo",
        2,
        Flags::FAST,
        KeySpec::NONE,
        Group::Connection,
        Handler::Conn(echo),
    )
    .doc("1.0.0", "Echo the given string", "O(1)"),
    CommandSpec::new(
        "quit",
        -1,
        Flags::ALLOW_BUSY
            .union(Flags::NOSCRIPT)
            .union(Flags::LOADING)
            .union(Flags::STALE)
            .union(Flags::FAST)
            .union(Flags::NO_AUTH),
        KeySpec::NONE,
        Group::Connection,
        Handler::Conn(quit),
    )
    .doc("1.0.0", "Close the connection", "O(1)"),
    CommandSpec::new(
        "select",
        2,
        Flags::LOADING.union(Flags::STALE).union(Flags::FAST),
        KeySpec::NONE,
        Group::Connection,
        Handler::Conn(select),
    )
    .doc(
        "1.0.0",
        "Change the selected database for the current connection",
        "O(1)",
    ),
];

/// ```text
/// PING [message]
/// ```
/// `+PONG`, or the message as a bulk string. Errors: `WrongArity` with more than one argument.
pub fn ping(_ctx: &mut Ctx, argv: &Argv, reply: &mut Reply) -> CmdResult {
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
pub fn quit(ctx: &mut Ctx, _argv: &Argv, reply: &mut Reply) -> CmdResult {
    reply.ok();
    ctx.client.close_after_reply = true;
    Ok(())
}

/// ```text
/// SELECT index
/// ```
/// `+OK`. Errors: `NotInteger` (wording "value is not an integer or out of range"),
/// `DbIndexOutOfRange`.
pub fn select(ctx: &mut Ctx, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let index = crate::util::parse_i64(&argv[1]).ok_or(CmdError::NotInteger)?;
    if index < 0 || index as usize >= ctx.shared.store.db_count() {
        return Err(CmdError::DbIndexOutOfRange);
    }
    ctx.client.db = index as usize;
    reply.ok();
    Ok(())
}
