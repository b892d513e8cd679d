//! The `bit` library Redis loads (LuaBitOp): bitwise operations on 32-bit integers.
//!
//! Every argument is first reduced to a signed 32-bit integer the way LuaBitOp does it
//! (rounded to the nearest integer, ties to even, then taken modulo 2^32), and every result
//! is a signed 32-bit integer.

use mlua::{Lua, Result, Table, Variadic};

/// A Lua number as LuaBitOp's 32-bit integer.
fn tobit(n: f64) -> i32 {
    if !n.is_finite() {
        return 0;
    }
    n.round_ties_even().rem_euclid(4294967296.0) as u64 as u32 as i32
}

/// The `bit` table.
pub fn open(lua: &Lua) -> Result<Table> {
    let t = lua.create_table()?;
    t.raw_set("tobit", lua.create_function(|_, n: f64| Ok(tobit(n)))?)?;
    t.raw_set("bnot", lua.create_function(|_, n: f64| Ok(!tobit(n)))?)?;
    let fold = |lua: &Lua, op: fn(i32, i32) -> i32| {
        lua.create_function(move |_, (first, rest): (f64, Variadic<f64>)| {
            Ok(rest.iter().fold(tobit(first), |acc, &n| op(acc, tobit(n))))
        })
    };
    t.raw_set("band", fold(lua, |a, b| a & b)?)?;
    t.raw_set("bor", fold(lua, |a, b| a | b)?)?;
    t.raw_set("bxor", fold(lua, |a, b| a ^ b)?)?;
    let shift = |lua: &Lua, op: fn(i32, u32) -> i32| {
        lua.create_function(move |_, (x, n): (f64, f64)| Ok(op(tobit(x), tobit(n) as u32 & 31)))
    };
    t.raw_set("lshift", shift(lua, |x, n| ((x as u32) << n) as i32)?)?;
    t.raw_set("rshift", shift(lua, |x, n| ((x as u32) >> n) as i32)?)?;
    t.raw_set("arshift", shift(lua, |x, n| x >> n)?)?;
    t.raw_set("rol", shift(lua, |x, n| (x as u32).rotate_left(n) as i32)?)?;
    t.raw_set("ror", shift(lua, |x, n| (x as u32).rotate_right(n) as i32)?)?;
    t.raw_set(
        "bswap",
        lua.create_function(|_, x: f64| Ok((tobit(x) as u32).swap_bytes() as i32))?,
    )?;
    t.raw_set(
        "tohex",
        lua.create_function(|_, (x, n): (f64, Option<f64>)| {
            let mut n = n.map(tobit).unwrap_or(8);
            let upper = n < 0;
            if upper {
                n = -n;
            }
            let n = n.clamp(0, 8) as usize;
            let value = tobit(x) as u32;
            let text = if upper {
                format!("{value:08X}")
            } else {
                format!("{value:08x}")
            };
            Ok(text[8 - n..].to_string())
        })?,
    )?;
    Ok(t)
}
