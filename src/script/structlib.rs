//! The `structlib` library Redis loads (not yet implemented: an empty table).

use mlua::{Lua, Result, Table};

/// The library's table.
pub fn open(lua: &Lua) -> Result<Table> {
    lua.create_table()
}
