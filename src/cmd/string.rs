//! String commands.
//!
//! Counterpart of Redis `src/t_string.c`.

use super::{CmdError, CmdResult, CommandSpec, Ctx, Flags, Group, Handler, KeySpec};
use crate::protocol::{Argv, Reply};
use crate::store::{Db, Value};

/// The string group's rows of the command table.
pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new(
        "get",
        2,
        Flags::READONLY.union(Flags::FAST),
        KeySpec::ONE,
        Group::String,
        Handler::Read(get),
    )
    .doc("1.0.0", "Get the value of a key", "O(1)"),
    CommandSpec::new(
        "set",
        -3,
        Flags::WRITE.union(Flags::DENYOOM),
        KeySpec::ONE,
        Group::String,
        Handler::Write(set),
    )
    .doc("1.0.0", "Set the string value of a key", "O(1)"),
];

/// Appends a string value as a bulk reply.
pub fn reply_string(value: &Value, reply: &mut Reply) -> CmdResult {
    match value {
        Value::Str(s) => reply.bulk(s),
        Value::Int(n) => reply.bulk_i64(*n),
        _ => return Err(CmdError::WrongType),
    }
    Ok(())
}

/// ```text
/// GET key
/// ```
/// Bulk string, or null if the key is missing. Errors: `WrongType`.
pub fn get(ctx: &mut Ctx, db: &Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    match db.get_value(&argv[1], ctx.now_ms) {
        Some(value) => {
            ctx.client.stats.hits += 1;
            reply_string(value, reply)
        }
        None => {
            ctx.client.stats.misses += 1;
            reply.null();
            Ok(())
        }
    }
}

/// ```text
/// SET key value
/// ```
/// `+OK`. (Options NX XX GET EX PX EXAT PXAT KEEPTTL: see `set_generic`.)
pub fn set(ctx: &mut Ctx, db: &mut Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    if argv.len() != 3 {
        return Err(CmdError::Syntax);
    }
    db.set(&argv[1], Value::from_slice(&argv[2]), ctx.now_ms);
    reply.ok();
    Ok(())
}
