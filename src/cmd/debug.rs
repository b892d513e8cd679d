//! DEBUG: the one subcommand respd has, PANIC.
//!
//! Counterpart of Redis `src/debug.c` (`debugCommand`). Redis's DEBUG has dozens of
//! subcommands for its test suite; respd implements PANIC, which exists to check what a
//! panic inside a command does to the dataset and the AOF (see "When a command panics" in
//! [`super`]), and HELP. Like every DEBUG in Redis 7.0 it is refused unless
//! `enable-debug-command` allows the client (the dispatcher checks the `PROTECTED` flag).

use super::{CmdError, CmdResult, CommandSpec, Ctx, Flags, Group, Handler, KeySpec};
use crate::protocol::{Argv, Reply};
use crate::util::eq_ci;

/// The DEBUG row of the command table.
pub static COMMANDS: &[CommandSpec] = &[CommandSpec::new(
    "debug",
    -2,
    Flags::ADMIN
        .union(Flags::NOSCRIPT)
        .union(Flags::LOADING)
        .union(Flags::STALE)
        .union(Flags::PROTECTED),
    KeySpec::NONE,
    Group::Server,
    Handler::Conn(debug),
)
.doc(
    "1.0.0",
    "A container for debugging commands",
    "Depends on subcommand.",
)];

/// ```text
/// DEBUG PANIC
/// DEBUG HELP
/// ```
/// PANIC never replies: it panics inside the command, which logs a bug report and exits the
/// process with status 1. HELP lists the subcommands. Errors: Redis's "unknown subcommand or
/// wrong number of arguments" for anything else.
/// Checked against Redis 7.0.15 (`serverPanic("DEBUG PANIC called at Unix time ...")`).
pub fn debug(_ctx: &mut Ctx, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let sub = &argv[1];
    if argv.len() == 2 && eq_ci(sub, "panic") {
        panic!(
            "DEBUG PANIC called at Unix time {}",
            crate::util::now_ms() / 1000
        );
    }
    if argv.len() == 2 && eq_ci(sub, "help") {
        super::connection::reply_help(
            reply,
            "DEBUG",
            &["PANIC", "    Crash the server simulating a panic."],
        );
        return Ok(());
    }
    // Redis `addReplySubcommandSyntaxError`, as PUBSUB's handler words it too.
    Err(CmdError::SubcommandSyntax)
}
