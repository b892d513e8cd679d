//! Keyspace commands that work on keys of any type.
//!
//! Counterpart of Redis `src/db.c` and `src/expire.c` (the command parts).

use super::{CmdResult, CommandSpec, Ctx, Flags, Group, Handler, KeySpec};
use crate::protocol::{Argv, Reply};
use crate::store::Db;

/// The generic group's rows of the command table.
pub static COMMANDS: &[CommandSpec] = &[CommandSpec::new(
    "del",
    -2,
    Flags::WRITE,
    KeySpec::ALL,
    Group::Generic,
    Handler::Write(del),
)
.doc(
    "1.0.0",
    "Delete a key",
    "O(N) where N is the number of keys that will be removed.",
)];

/// ```text
/// DEL key [key ...]
/// ```
/// Integer: the number of keys removed.
pub fn del(ctx: &mut Ctx, db: &mut Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let removed = argv
        .iter()
        .skip(1)
        .filter(|k| db.delete(k, ctx.now_ms))
        .count();
    reply.int(removed as i64);
    Ok(())
}
