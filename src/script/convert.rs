//! Conversions between Lua values and RESP, with Redis's exact rules (`script_lua.c`).
//!
//! A command's reply becomes a Lua value for `redis.call`: integers become numbers, bulk
//! strings strings, a null bulk or null array `false`, a status `{ok=...}`, an error
//! `{err=...}`, and in RESP3 maps, sets, doubles, big numbers, booleans and verbatim strings
//! their own table shapes. A script's return value becomes the reply the other way round:
//! numbers are truncated to integers, an array stops at its first nil, `{err=...}`,
//! `{ok=...}`, `{double=...}`, `{map=...}`, `{set=...}`, `{big_number=...}` and
//! `{verbatim_string=...}` are recognised by their fields.

use mlua::{Lua, Table, Value};

use crate::protocol::Reply;

/// At this depth a returned table is answered with an error instead of its elements: where
/// Redis's conversion fills the Lua stack (seen with a table that contains itself).
const MAX_DEPTH: usize = 7995;

/// A number as C's `%.{precision}g` prints it.
pub(crate) fn format_g(n: f64, precision: usize) -> String {
    if n.is_nan() {
        return if n.is_sign_negative() { "-nan" } else { "nan" }.into();
    }
    if n.is_infinite() {
        return if n < 0.0 { "-inf" } else { "inf" }.into();
    }
    if n == 0.0 {
        return if n.is_sign_negative() { "-0" } else { "0" }.into();
    }
    let p = precision.max(1);
    let sci = format!("{:.*e}", p - 1, n);
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if exp < -4 || exp >= p as i32 {
        let mantissa = trim_zeros(mantissa);
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{mantissa}e{sign}{:02}", exp.abs());
    }
    let decimals = (p as i32 - 1 - exp).max(0) as usize;
    trim_zeros(&format!("{:.*}", decimals, n)).to_string()
}

fn trim_zeros(s: &str) -> &str {
    if !s.contains('.') {
        return s;
    }
    s.trim_end_matches('0').trim_end_matches('.')
}

/// A number as `redis.call` passes it (`%.17g`).
pub fn format_number(n: f64) -> String {
    format_g(n, 17)
}

/// Writes a script's return value as the reply (Redis `luaReplyToRedisReply`). `script_resp`
/// is the protocol the script chose with `redis.setresp` (booleans differ). Nested tables are
/// walked with an explicit stack, not recursion: a script may return a table that contains
/// itself, and Redis answers that with arrays nested until its Lua stack is full.
pub(crate) fn lua_to_reply(out: &mut Reply, value: &Value, script_resp: u8) {
    let mut pending: Vec<(Value, usize)> = vec![(value.clone(), 0)];
    while let Some((value, depth)) = pending.pop() {
        if depth >= MAX_DEPTH {
            out.error(b"ERR reached lua stack limit");
            continue;
        }
        let children = write_one(out, &value, script_resp);
        for child in children.into_iter().rev() {
            pending.push((child, depth + 1));
        }
    }
}

/// Writes one value, or the header of a table; returns the table's elements to write next.
fn write_one(out: &mut Reply, value: &Value, script_resp: u8) -> Vec<Value> {
    match value {
        Value::String(s) => out.bulk(&s.as_bytes()),
        Value::Boolean(b) => {
            if script_resp == 2 {
                if *b {
                    out.int(1);
                } else {
                    out.null();
                }
            } else {
                out.boolean(*b);
            }
        }
        Value::Integer(n) => out.int(*n),
        Value::Number(n) => out.int(*n as i64),
        Value::Table(t) => return table_to_reply(out, t),
        _ => out.null(),
    }
    Vec::new()
}

fn table_to_reply(out: &mut Reply, t: &Table) -> Vec<Value> {
    if let Ok(Value::String(err)) = t.raw_get::<Value>("err") {
        out.error_verbatim(&err.as_bytes());
        return Vec::new();
    }
    if let Ok(Value::String(ok)) = t.raw_get::<Value>("ok") {
        let text: Vec<u8> = ok
            .as_bytes()
            .iter()
            .map(|&c| if c == b'\r' || c == b'\n' { b' ' } else { c })
            .collect();
        out.raw(b"+");
        out.raw(&text);
        out.raw(b"\r\n");
        return Vec::new();
    }
    match t.raw_get::<Value>("double") {
        Ok(Value::Number(d)) => {
            double_reply(out, d);
            return Vec::new();
        }
        Ok(Value::Integer(d)) => {
            double_reply(out, d as f64);
            return Vec::new();
        }
        _ => {}
    }
    if let Ok(Value::String(big)) = t.raw_get::<Value>("big_number") {
        let text: Vec<u8> = big
            .as_bytes()
            .iter()
            .map(|&c| if c == b'\r' || c == b'\n' { b' ' } else { c })
            .collect();
        if out.is_resp3() {
            out.raw(b"(");
            out.raw(&text);
            out.raw(b"\r\n");
        } else {
            out.bulk(&text);
        }
        return Vec::new();
    }
    if let Ok(Value::Table(v)) = t.raw_get::<Value>("verbatim_string") {
        if let (Ok(Value::String(format)), Ok(Value::String(text))) =
            (v.raw_get::<Value>("format"), v.raw_get::<Value>("string"))
        {
            let format = format.as_bytes();
            let text = text.as_bytes();
            if out.is_resp3() {
                let mut body = format[..format.len().min(3)].to_vec();
                body.resize(3, b' ');
                body.push(b':');
                body.extend_from_slice(&text);
                out.raw(format!("={}\r\n", body.len()).as_bytes());
                out.raw(&body);
                out.raw(b"\r\n");
            } else {
                out.bulk(&text);
            }
            return Vec::new();
        }
    }
    if let Ok(Value::Table(map)) = t.raw_get::<Value>("map") {
        let mut items = Vec::new();
        for (k, v) in map.pairs::<Value, Value>().filter_map(Result::ok) {
            items.push(k);
            items.push(v);
        }
        out.map(items.len() / 2);
        return items;
    }
    if let Ok(Value::Table(set)) = t.raw_get::<Value>("set") {
        let members: Vec<Value> = set
            .pairs::<Value, Value>()
            .filter_map(Result::ok)
            .map(|(k, _)| k)
            .collect();
        out.set(members.len());
        return members;
    }
    let mut items = Vec::new();
    for i in 1.. {
        match t.raw_get::<Value>(i) {
            Ok(Value::Nil) | Err(_) => break,
            Ok(v) => items.push(v),
        }
    }
    out.array(items.len());
    items
}

/// Redis `addReplyDouble`: `%.17g`, and `inf` / `-inf`.
fn double_reply(out: &mut Reply, d: f64) {
    out.double_text(format_number(d).as_bytes());
}

/// Converts a command's reply (RESP bytes) into the value `redis.call` returns (Redis
/// `redisProtocolToLuaType`). The flag is true when the reply is an error.
pub(crate) fn resp_to_lua(lua: &Lua, bytes: &[u8]) -> mlua::Result<(Value, bool)> {
    let is_error = bytes.first() == Some(&b'-');
    let mut pos = 0;
    let value = parse(lua, bytes, &mut pos)?.unwrap_or(Value::Nil);
    Ok((value, is_error))
}

/// One line's content from `pos` (without its CRLF); moves `pos` past it.
fn line<'a>(bytes: &'a [u8], pos: &mut usize) -> &'a [u8] {
    let start = *pos;
    let end = memchr::memmem::find(&bytes[start..], b"\r\n")
        .map(|i| start + i)
        .unwrap_or(bytes.len());
    *pos = (end + 2).min(bytes.len());
    &bytes[start..end]
}

fn number(text: &[u8]) -> i64 {
    std::str::from_utf8(text)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// Parses one reply at `pos`; None for an attribute-only or empty input.
fn parse(lua: &Lua, bytes: &[u8], pos: &mut usize) -> mlua::Result<Option<Value>> {
    let Some(&kind) = bytes.get(*pos) else {
        return Ok(None);
    };
    *pos += 1;
    let head = line(bytes, pos);
    Ok(Some(match kind {
        b':' => Value::Number(number(head) as f64),
        b'$' | b'=' => {
            let n = number(head);
            if n < 0 {
                return Ok(Some(Value::Boolean(false)));
            }
            let start = *pos;
            let end = (start + n as usize).min(bytes.len());
            *pos = (end + 2).min(bytes.len());
            let body = &bytes[start..end];
            if kind == b'=' {
                let t = lua.create_table()?;
                let inner = lua.create_table()?;
                inner.raw_set("string", lua.create_string(body.get(4..).unwrap_or(&[]))?)?;
                inner.raw_set("format", lua.create_string(&body[..body.len().min(3)])?)?;
                t.raw_set("verbatim_string", inner)?;
                Value::Table(t)
            } else {
                Value::String(lua.create_string(body)?)
            }
        }
        b'+' => {
            let t = lua.create_table()?;
            t.raw_set("ok", lua.create_string(head)?)?;
            Value::Table(t)
        }
        b'-' => {
            // Redis `luaPushErrorBuff`: the code is the first word, ERR if there is none.
            let text = match head.iter().position(|&b| b == b' ') {
                Some(_) => head.to_vec(),
                None => {
                    let mut t = b"ERR ".to_vec();
                    t.extend_from_slice(head);
                    t
                }
            };
            let t = lua.create_table()?;
            t.raw_set("err", lua.create_string(&text)?)?;
            Value::Table(t)
        }
        b'*' | b'>' => {
            let n = number(head);
            if n < 0 {
                return Ok(Some(Value::Boolean(false)));
            }
            let t = lua.create_table()?;
            for i in 1..=n {
                let v = parse(lua, bytes, pos)?.unwrap_or(Value::Nil);
                t.raw_set(i, v)?;
            }
            Value::Table(t)
        }
        b'%' => {
            let n = number(head);
            let inner = lua.create_table()?;
            for _ in 0..n {
                let k = parse(lua, bytes, pos)?.unwrap_or(Value::Nil);
                let v = parse(lua, bytes, pos)?.unwrap_or(Value::Nil);
                if !k.is_nil() {
                    inner.raw_set(k, v)?;
                }
            }
            let t = lua.create_table()?;
            t.raw_set("map", inner)?;
            Value::Table(t)
        }
        b'~' => {
            let n = number(head);
            let inner = lua.create_table()?;
            for _ in 0..n {
                let k = parse(lua, bytes, pos)?.unwrap_or(Value::Nil);
                if !k.is_nil() {
                    inner.raw_set(k, true)?;
                }
            }
            let t = lua.create_table()?;
            t.raw_set("set", inner)?;
            Value::Table(t)
        }
        b'|' => {
            let n = number(head);
            for _ in 0..2 * n {
                parse(lua, bytes, pos)?;
            }
            return parse(lua, bytes, pos);
        }
        b'_' => Value::Nil,
        b'#' => Value::Boolean(head == b"t"),
        b',' => {
            let d = std::str::from_utf8(head)
                .ok()
                .and_then(|s| match s {
                    "inf" => Some(f64::INFINITY),
                    "-inf" => Some(f64::NEG_INFINITY),
                    s => s.parse().ok(),
                })
                .unwrap_or(0.0);
            let t = lua.create_table()?;
            t.raw_set("double", d)?;
            Value::Table(t)
        }
        b'(' => {
            let t = lua.create_table()?;
            t.raw_set("big_number", lua.create_string(head)?)?;
            Value::Table(t)
        }
        _ => Value::Nil,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_g_matches_c() {
        assert_eq!(format_number(3.0), "3");
        assert_eq!(format_number(2.5), "2.5");
        assert_eq!(format_number(0.1), "0.10000000000000001");
        assert_eq!(format_number(1e20), "1e+20");
        assert_eq!(format_number(0.0001), "0.0001");
        assert_eq!(format_number(0.00001), "1.0000000000000001e-05");
        assert_eq!(format_g(100.0, 14), "100");
        assert_eq!(format_g(0.1, 14), "0.1");
    }
}
