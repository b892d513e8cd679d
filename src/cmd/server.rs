//! Server commands: introspection and administration.
//!
//! Counterpart of the server group in Redis (`server.c`, `config.c`, `db.c` for FLUSHDB...).

use super::{CmdResult, CommandSpec, Ctx, Flags, Group, Handler, KeySpec};
use crate::protocol::{Argv, Reply};
use crate::store::Db;

/// The server group's rows of the command table.
pub static COMMANDS: &[CommandSpec] = &[CommandSpec::new(
    "dbsize",
    1,
    Flags::READONLY.union(Flags::FAST),
    KeySpec::NONE,
    Group::Server,
    Handler::Read(dbsize),
)
.doc(
    "1.0.0",
    "Return the number of keys in the selected database",
    "O(1)",
)];

/// ```text
/// DBSIZE
/// ```
/// Integer: the number of keys in the selected database.
pub fn dbsize(_ctx: &mut Ctx, db: &Db, _argv: &Argv, reply: &mut Reply) -> CmdResult {
    reply.int(db.len() as i64);
    Ok(())
}
