//! The `cmsgpack` library Redis loads (lua-cmsgpack): MessagePack `pack`, `unpack`,
//! `unpack_one` and `unpack_limit`.
//!
//! As lua-cmsgpack does: a number that is an integer is packed in the smallest integer
//! format, any other as a float if a 32-bit float holds it exactly, else as a double; a table
//! whose keys are 1..n is an array, any other a map; tables nested deeper than 16 levels
//! (a table that contains itself) are packed as nil.

use mlua::{Lua, MultiValue, Result, Table, Value};

/// Tables deeper than this are packed as nil (`LUACMSGPACK_MAX_NESTING`).
const MAX_NESTING: usize = 16;

/// The `cmsgpack` table.
pub fn open(lua: &Lua) -> Result<Table> {
    let t = lua.create_table()?;
    t.raw_set(
        "pack",
        lua.create_function(|lua, values: MultiValue| {
            if values.is_empty() {
                return Err(mlua::Error::runtime("MessagePack pack needs input."));
            }
            let mut out = Vec::new();
            for v in values.iter() {
                pack(&mut out, v, 0).map_err(|e| mlua::Error::runtime(e.to_string()))?;
            }
            lua.create_string(&out)
        })?,
    )?;
    t.raw_set(
        "unpack",
        lua.create_function(|lua, s: mlua::String| {
            let (_, values) = unpack(lua, &s.as_bytes(), 0, 0)?;
            Ok(MultiValue::from_iter(values))
        })?,
    )?;
    t.raw_set(
        "unpack_one",
        lua.create_function(|lua, (s, offset): (mlua::String, Option<i64>)| {
            unpack_with_offset(lua, &s.as_bytes(), 1, offset.unwrap_or(0))
        })?,
    )?;
    t.raw_set(
        "unpack_limit",
        lua.create_function(
            |lua, (s, limit, offset): (mlua::String, Option<i64>, Option<i64>)| {
                unpack_with_offset(lua, &s.as_bytes(), limit.unwrap_or(0), offset.unwrap_or(0))
            },
        )?,
    )?;
    t.raw_set("_NAME", "cmsgpack")?;
    t.raw_set("_VERSION", "lua-cmsgpack 0.4.0")?;
    Ok(t)
}

/// `unpack_one` / `unpack_limit`: the offset of what is left (-1 when nothing is), then the
/// objects.
fn unpack_with_offset(lua: &Lua, data: &[u8], limit: i64, offset: i64) -> Result<MultiValue> {
    if offset < 0 || limit < 0 {
        return Err(mlua::Error::runtime(format!(
            "Invalid request to unpack with offset of {offset} and limit of {limit}."
        )));
    }
    let start = (offset as usize).min(data.len());
    let (end, values) = unpack(lua, data, start, limit as usize)?;
    let next = if end < data.len() { end as i64 } else { -1 };
    let mut out = vec![Value::Number(next as f64)];
    out.extend(values);
    Ok(MultiValue::from_iter(out))
}

/// Decodes up to `limit` objects (0: all) from `start`; returns where it stopped.
fn unpack(lua: &Lua, data: &[u8], start: usize, limit: usize) -> Result<(usize, Vec<Value>)> {
    let mut pos = start;
    let mut values = Vec::new();
    while pos < data.len() && (limit == 0 || values.len() < limit) {
        values.push(decode(lua, data, &mut pos)?);
    }
    Ok((pos, values))
}

fn pack_len(out: &mut Vec<u8>, len: usize, fix: Option<(u8, usize)>, codes: [u8; 3]) {
    if let Some((base, max)) = fix {
        if len <= max {
            out.push(base | len as u8);
            return;
        }
    }
    if len <= 0xff && codes[0] != 0 {
        out.push(codes[0]);
        out.push(len as u8);
    } else if len <= 0xffff {
        out.push(codes[1]);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(codes[2]);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    }
}

fn pack_int(out: &mut Vec<u8>, n: i64) {
    if n >= 0 {
        if n <= 127 {
            out.push(n as u8);
        } else if n <= 0xff {
            out.extend_from_slice(&[0xcc, n as u8]);
        } else if n <= 0xffff {
            out.push(0xcd);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        } else if n <= 0xffff_ffff {
            out.push(0xce);
            out.extend_from_slice(&(n as u32).to_be_bytes());
        } else {
            out.push(0xcf);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    } else if n >= -32 {
        out.push(n as i8 as u8);
    } else if n >= -128 {
        out.extend_from_slice(&[0xd0, n as i8 as u8]);
    } else if n >= -32768 {
        out.push(0xd1);
        out.extend_from_slice(&(n as i16).to_be_bytes());
    } else if n >= -2_147_483_648 {
        out.push(0xd2);
        out.extend_from_slice(&(n as i32).to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

fn pack_number(out: &mut Vec<u8>, n: f64) {
    if n.is_finite() && (n as i64) as f64 == n {
        return pack_int(out, n as i64);
    }
    if (n as f32) as f64 == n {
        out.push(0xca);
        out.extend_from_slice(&(n as f32).to_be_bytes());
    } else {
        out.push(0xcb);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

fn pack(out: &mut Vec<u8>, value: &Value, level: usize) -> Result<()> {
    match value {
        Value::Boolean(b) => out.push(if *b { 0xc3 } else { 0xc2 }),
        Value::Integer(n) => pack_int(out, *n),
        Value::Number(n) => pack_number(out, *n),
        Value::String(s) => {
            let bytes = s.as_bytes();
            pack_len(out, bytes.len(), Some((0xa0, 31)), [0xd9, 0xda, 0xdb]);
            out.extend_from_slice(&bytes);
        }
        Value::Table(t) if level < MAX_NESTING => {
            // An array when the keys are exactly 1..n (lua-cmsgpack `table_is_an_array`).
            let mut count = 0usize;
            let mut max = 0usize;
            let mut array = true;
            for pair in t.pairs::<Value, Value>() {
                let (k, _) = pair?;
                count += 1;
                match k {
                    Value::Integer(i) if i >= 1 => max = max.max(i as usize),
                    Value::Number(n) if n >= 1.0 && n.fract() == 0.0 => max = max.max(n as usize),
                    _ => array = false,
                }
            }
            if array && max == count {
                pack_len(out, count, Some((0x90, 15)), [0, 0xdc, 0xdd]);
                for i in 1..=count {
                    let v: Value = t.raw_get(i)?;
                    pack(out, &v, level + 1)?;
                }
            } else {
                pack_len(out, count, Some((0x80, 15)), [0, 0xde, 0xdf]);
                for pair in t.pairs::<Value, Value>() {
                    let (k, v) = pair?;
                    pack(out, &k, level + 1)?;
                    pack(out, &v, level + 1)?;
                }
            }
        }
        _ => out.push(0xc0),
    }
    Ok(())
}

fn take<'a>(data: &'a [u8], pos: &mut usize, n: usize) -> Result<&'a [u8]> {
    if data.len() - *pos < n {
        return Err(mlua::Error::runtime("Missing bytes in input."));
    }
    let s = &data[*pos..*pos + n];
    *pos += n;
    Ok(s)
}

fn be(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0u64, |acc, &b| (acc << 8) | b as u64)
}

fn decode(lua: &Lua, data: &[u8], pos: &mut usize) -> Result<Value> {
    let c = take(data, pos, 1)?[0];
    let string = |lua: &Lua, pos: &mut usize, n: usize| -> Result<Value> {
        Ok(Value::String(lua.create_string(take(data, pos, n)?)?))
    };
    Ok(match c {
        0x00..=0x7f => Value::Number(c as f64),
        0xe0..=0xff => Value::Number(c as i8 as f64),
        0xa0..=0xbf => string(lua, pos, (c & 0x1f) as usize)?,
        0x90..=0x9f => array(lua, data, pos, (c & 0x0f) as usize)?,
        0x80..=0x8f => map(lua, data, pos, (c & 0x0f) as usize)?,
        0xc0 => Value::Nil,
        0xc2 => Value::Boolean(false),
        0xc3 => Value::Boolean(true),
        0xca => {
            Value::Number(f32::from_be_bytes(take(data, pos, 4)?.try_into().expect("4")) as f64)
        }
        0xcb => Value::Number(f64::from_be_bytes(
            take(data, pos, 8)?.try_into().expect("8"),
        )),
        0xcc => Value::Number(be(take(data, pos, 1)?) as f64),
        0xcd => Value::Number(be(take(data, pos, 2)?) as f64),
        0xce => Value::Number(be(take(data, pos, 4)?) as f64),
        0xcf => Value::Number(be(take(data, pos, 8)?) as f64),
        0xd0 => Value::Number(take(data, pos, 1)?[0] as i8 as f64),
        0xd1 => Value::Number(be(take(data, pos, 2)?) as u16 as i16 as f64),
        0xd2 => Value::Number(be(take(data, pos, 4)?) as u32 as i32 as f64),
        0xd3 => Value::Number(be(take(data, pos, 8)?) as i64 as f64),
        0xc4 | 0xd9 => {
            let n = be(take(data, pos, 1)?) as usize;
            string(lua, pos, n)?
        }
        0xc5 | 0xda => {
            let n = be(take(data, pos, 2)?) as usize;
            string(lua, pos, n)?
        }
        0xc6 | 0xdb => {
            let n = be(take(data, pos, 4)?) as usize;
            string(lua, pos, n)?
        }
        0xdc => {
            let n = be(take(data, pos, 2)?) as usize;
            array(lua, data, pos, n)?
        }
        0xdd => {
            let n = be(take(data, pos, 4)?) as usize;
            array(lua, data, pos, n)?
        }
        0xde => {
            let n = be(take(data, pos, 2)?) as usize;
            map(lua, data, pos, n)?
        }
        0xdf => {
            let n = be(take(data, pos, 4)?) as usize;
            map(lua, data, pos, n)?
        }
        _ => return Err(mlua::Error::runtime("Bad data format in input.")),
    })
}

fn array(lua: &Lua, data: &[u8], pos: &mut usize, n: usize) -> Result<Value> {
    let t = lua.create_table()?;
    for i in 1..=n {
        let v = decode(lua, data, pos)?;
        t.raw_set(i, v)?;
    }
    Ok(Value::Table(t))
}

fn map(lua: &Lua, data: &[u8], pos: &mut usize, n: usize) -> Result<Value> {
    let t = lua.create_table()?;
    for _ in 0..n {
        let k = decode(lua, data, pos)?;
        let v = decode(lua, data, pos)?;
        if !k.is_nil() {
            t.raw_set(k, v)?;
        }
    }
    Ok(Value::Table(t))
}
