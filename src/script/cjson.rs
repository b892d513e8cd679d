//! The `cjson` library Redis loads (lua-cjson): `cjson.encode`, `cjson.decode`, `cjson.null`
//! and the settings scripts may change.
//!
//! Encoding follows lua-cjson: a table whose keys are all positive integers is an array
//! (holes become `null`; a very sparse one is refused), any other table an object with
//! string keys (numbers are turned into strings), numbers printed with 14 significant
//! digits, `/` escaped. Decoding gives `cjson.null` (a null light userdata) for `null`.

use std::sync::Arc;

use mlua::{LightUserData, Lua, Result, Table, Value};
use parking_lot::Mutex;

/// The settings a script may change (they last, as in Redis, until SCRIPT FLUSH).
struct Settings {
    encode_max_depth: usize,
    decode_max_depth: usize,
    encode_invalid_numbers: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            encode_max_depth: 1000,
            decode_max_depth: 1000,
            encode_invalid_numbers: false,
        }
    }
}

fn null() -> Value {
    Value::LightUserData(LightUserData(std::ptr::null_mut()))
}

/// The `cjson` table.
pub fn open(lua: &Lua) -> Result<Table> {
    let settings = Arc::new(Mutex::new(Settings::default()));
    let t = lua.create_table()?;
    t.raw_set("null", null())?;
    let s = settings.clone();
    t.raw_set(
        "encode",
        lua.create_function(move |lua, value: Value| {
            let (max_depth, invalid_ok) = {
                let s = s.lock();
                (s.encode_max_depth, s.encode_invalid_numbers)
            };
            let mut out = Vec::new();
            encode(&mut out, &value, 1, max_depth, invalid_ok).map_err(mlua::Error::runtime)?;
            lua.create_string(&out)
        })?,
    )?;
    let s = settings.clone();
    t.raw_set(
        "decode",
        lua.create_function(move |lua, text: mlua::String| {
            let max_depth = s.lock().decode_max_depth;
            let bytes = text.as_bytes();
            let mut p = Parser {
                lua,
                text: &bytes,
                pos: 0,
                max_depth,
            };
            p.skip_ws();
            let v = p.value(1).map_err(mlua::Error::runtime)?;
            p.skip_ws();
            if p.pos < p.text.len() {
                return Err(mlua::Error::runtime(p.error("the end")));
            }
            Ok(v)
        })?,
    )?;
    let s = settings.clone();
    t.raw_set(
        "encode_max_depth",
        lua.create_function(move |_, n: Option<usize>| {
            let mut s = s.lock();
            if let Some(n) = n {
                s.encode_max_depth = n;
            }
            Ok(s.encode_max_depth)
        })?,
    )?;
    let s = settings.clone();
    t.raw_set(
        "decode_max_depth",
        lua.create_function(move |_, n: Option<usize>| {
            let mut s = s.lock();
            if let Some(n) = n {
                s.decode_max_depth = n;
            }
            Ok(s.decode_max_depth)
        })?,
    )?;
    let s = settings;
    t.raw_set(
        "encode_invalid_numbers",
        lua.create_function(move |_, on: Option<Value>| {
            let mut s = s.lock();
            if let Some(v) = on {
                s.encode_invalid_numbers = !matches!(v, Value::Boolean(false) | Value::Nil);
            }
            Ok(s.encode_invalid_numbers)
        })?,
    )?;
    for name in [
        "encode_keep_buffer",
        "encode_sparse_array",
        "decode_invalid_numbers",
        "encode_number_precision",
    ] {
        t.raw_set(name, lua.create_function(|_, v: Value| Ok(v))?)?;
    }
    t.raw_set("_NAME", "cjson")?;
    t.raw_set("_VERSION", "2.1.0")?;
    Ok(t)
}

fn encode_string(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    for &c in s {
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'/' => out.extend_from_slice(b"\\/"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            c if c < 0x20 || c == 0x7f => out.extend_from_slice(format!("\\u{c:04x}").as_bytes()),
            c => out.push(c),
        }
    }
    out.push(b'"');
}

fn encode_number(out: &mut Vec<u8>, n: f64, invalid_ok: bool) -> std::result::Result<(), String> {
    if !n.is_finite() {
        if !invalid_ok {
            return Err("Cannot serialise number: must not be NaN or Inf".into());
        }
        out.extend_from_slice(if n.is_nan() {
            b"nan"
        } else if n > 0.0 {
            b"inf"
        } else {
            b"-inf"
        });
        return Ok(());
    }
    out.extend_from_slice(super::convert::format_g(n, 14).as_bytes());
    Ok(())
}

fn encode(
    out: &mut Vec<u8>,
    value: &Value,
    depth: usize,
    max_depth: usize,
    invalid_ok: bool,
) -> std::result::Result<(), String> {
    match value {
        Value::Nil => out.extend_from_slice(b"null"),
        Value::LightUserData(p) if p.0.is_null() => out.extend_from_slice(b"null"),
        Value::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Integer(n) => out.extend_from_slice(n.to_string().as_bytes()),
        Value::Number(n) => encode_number(out, *n, invalid_ok)?,
        Value::String(s) => encode_string(out, &s.as_bytes()),
        Value::Table(t) => {
            if depth > max_depth {
                return Err(format!("Cannot serialise, excessive nesting ({depth})"));
            }
            // An array if every key is a positive integer (lua-cjson `lua_array_length`).
            let mut max = 0usize;
            let mut count = 0usize;
            let mut array = true;
            for pair in t.pairs::<Value, Value>() {
                let (k, _) = pair.map_err(|e| e.to_string())?;
                count += 1;
                match k {
                    Value::Integer(i) if i >= 1 => max = max.max(i as usize),
                    Value::Number(n) if n >= 1.0 && n.fract() == 0.0 => max = max.max(n as usize),
                    _ => {
                        array = false;
                        break;
                    }
                }
            }
            if array && count > 0 {
                if max > count * 2 && max > 10 {
                    return Err("Cannot serialise table: excessively sparse array".into());
                }
                out.push(b'[');
                for i in 1..=max {
                    if i > 1 {
                        out.push(b',');
                    }
                    let v: Value = t.raw_get(i).map_err(|e| e.to_string())?;
                    encode(out, &v, depth + 1, max_depth, invalid_ok)?;
                }
                out.push(b']');
                return Ok(());
            }
            out.push(b'{');
            let mut first = true;
            for pair in t.pairs::<Value, Value>() {
                let (k, v) = pair.map_err(|e| e.to_string())?;
                if !first {
                    out.push(b',');
                }
                first = false;
                match &k {
                    Value::String(s) => encode_string(out, &s.as_bytes()),
                    Value::Integer(n) => encode_string(out, n.to_string().as_bytes()),
                    Value::Number(n) => {
                        let mut text = Vec::new();
                        encode_number(&mut text, *n, invalid_ok)?;
                        encode_string(out, &text);
                    }
                    other => {
                        return Err(format!(
                            "Cannot serialise {}: table key must be a number or string",
                            other.type_name()
                        ))
                    }
                }
                out.push(b':');
                encode(out, &v, depth + 1, max_depth, invalid_ok)?;
            }
            out.push(b'}');
        }
        other => {
            return Err(format!(
                "Cannot serialise {}: type not supported",
                other.type_name()
            ))
        }
    }
    Ok(())
}

struct Parser<'a> {
    lua: &'a Lua,
    text: &'a [u8],
    pos: usize,
    max_depth: usize,
}

impl Parser<'_> {
    /// lua-cjson's parse error: what was expected, and the name of the token found.
    fn error(&self, expected: &str) -> String {
        let rest = &self.text[self.pos.min(self.text.len())..];
        let found = match rest.first() {
            None => "T_END",
            Some(b'{') => "T_OBJ_BEGIN",
            Some(b'}') => "T_OBJ_END",
            Some(b'[') => "T_ARR_BEGIN",
            Some(b']') => "T_ARR_END",
            Some(b'"') => "T_STRING",
            Some(b':') => "T_COLON",
            Some(b',') => "T_COMMA",
            Some(c) if *c == b'-' || c.is_ascii_digit() => "T_NUMBER",
            _ if rest.starts_with(b"true") || rest.starts_with(b"false") => "T_BOOLEAN",
            _ if rest.starts_with(b"null") => "T_NULL",
            _ => "invalid token",
        };
        format!(
            "Expected {expected} but found {found} at character {}",
            self.pos + 1
        )
    }

    fn skip_ws(&mut self) {
        while self
            .text
            .get(self.pos)
            .is_some_and(|c| matches!(c, b' ' | b'\t' | b'\n' | b'\r'))
        {
            self.pos += 1;
        }
    }

    fn value(&mut self, depth: usize) -> std::result::Result<Value, String> {
        let lua = self.lua;
        match self.text.get(self.pos) {
            Some(b'{') => {
                if depth > self.max_depth {
                    return Err(format!(
                        "Found too many nested data structures ({depth}) at character {}",
                        self.pos + 1
                    ));
                }
                self.pos += 1;
                let t = lua.create_table().map_err(|e| e.to_string())?;
                self.skip_ws();
                if self.text.get(self.pos) == Some(&b'}') {
                    self.pos += 1;
                    return Ok(Value::Table(t));
                }
                loop {
                    self.skip_ws();
                    if self.text.get(self.pos) != Some(&b'"') {
                        return Err(self.error("object key string"));
                    }
                    let key = self.string()?;
                    self.skip_ws();
                    if self.text.get(self.pos) != Some(&b':') {
                        return Err(self.error("colon"));
                    }
                    self.pos += 1;
                    self.skip_ws();
                    let v = self.value(depth + 1)?;
                    let key = lua.create_string(&key).map_err(|e| e.to_string())?;
                    t.raw_set(key, v).map_err(|e| e.to_string())?;
                    self.skip_ws();
                    match self.text.get(self.pos) {
                        Some(b',') => self.pos += 1,
                        Some(b'}') => {
                            self.pos += 1;
                            return Ok(Value::Table(t));
                        }
                        _ => return Err(self.error("comma or object end")),
                    }
                }
            }
            Some(b'[') => {
                if depth > self.max_depth {
                    return Err(format!(
                        "Found too many nested data structures ({depth}) at character {}",
                        self.pos + 1
                    ));
                }
                self.pos += 1;
                let t = lua.create_table().map_err(|e| e.to_string())?;
                self.skip_ws();
                if self.text.get(self.pos) == Some(&b']') {
                    self.pos += 1;
                    return Ok(Value::Table(t));
                }
                let mut i = 1;
                loop {
                    self.skip_ws();
                    let v = self.value(depth + 1)?;
                    t.raw_set(i, v).map_err(|e| e.to_string())?;
                    i += 1;
                    self.skip_ws();
                    match self.text.get(self.pos) {
                        Some(b',') => self.pos += 1,
                        Some(b']') => {
                            self.pos += 1;
                            return Ok(Value::Table(t));
                        }
                        _ => return Err(self.error("comma or array end")),
                    }
                }
            }
            Some(b'"') => {
                let s = self.string()?;
                Ok(Value::String(
                    lua.create_string(&s).map_err(|e| e.to_string())?,
                ))
            }
            Some(b't') if self.text[self.pos..].starts_with(b"true") => {
                self.pos += 4;
                Ok(Value::Boolean(true))
            }
            Some(b'f') if self.text[self.pos..].starts_with(b"false") => {
                self.pos += 5;
                Ok(Value::Boolean(false))
            }
            Some(b'n') if self.text[self.pos..].starts_with(b"null") => {
                self.pos += 4;
                Ok(null())
            }
            Some(c) if *c == b'-' || c.is_ascii_digit() => {
                let start = self.pos;
                while self.text.get(self.pos).is_some_and(|c| {
                    c.is_ascii_digit() || matches!(c, b'-' | b'+' | b'.' | b'e' | b'E')
                }) {
                    self.pos += 1;
                }
                let text = std::str::from_utf8(&self.text[start..self.pos]).unwrap_or("");
                match text.parse::<f64>() {
                    Ok(n) => Ok(Value::Number(n)),
                    Err(_) => {
                        self.pos = start;
                        Err(self.error("value"))
                    }
                }
            }
            _ => Err(self.error("value")),
        }
    }

    /// A string at `pos` (on its opening quote), unescaped.
    fn string(&mut self) -> std::result::Result<Vec<u8>, String> {
        self.pos += 1;
        let mut out = Vec::new();
        loop {
            let Some(&c) = self.text.get(self.pos) else {
                return Err(format!(
                    "Expected string end but found the end at character {}",
                    self.pos + 1
                ));
            };
            self.pos += 1;
            match c {
                b'"' => return Ok(out),
                b'\\' => {
                    let Some(&e) = self.text.get(self.pos) else {
                        return Err(self.error("escape"));
                    };
                    self.pos += 1;
                    match e {
                        b'n' => out.push(b'\n'),
                        b't' => out.push(b'\t'),
                        b'r' => out.push(b'\r'),
                        b'b' => out.push(0x08),
                        b'f' => out.push(0x0c),
                        b'u' => {
                            let hex = self
                                .text
                                .get(self.pos..self.pos + 4)
                                .and_then(|h| std::str::from_utf8(h).ok())
                                .and_then(|h| u32::from_str_radix(h, 16).ok());
                            let Some(mut code) = hex else {
                                return Err(self.error("unicode escape"));
                            };
                            self.pos += 4;
                            // A surrogate pair.
                            if (0xD800..0xDC00).contains(&code)
                                && self.text.get(self.pos..self.pos + 2) == Some(b"\\u")
                            {
                                let low = self
                                    .text
                                    .get(self.pos + 2..self.pos + 6)
                                    .and_then(|h| std::str::from_utf8(h).ok())
                                    .and_then(|h| u32::from_str_radix(h, 16).ok());
                                if let Some(low) = low.filter(|l| (0xDC00..0xE000).contains(l)) {
                                    code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
                                    self.pos += 6;
                                }
                            }
                            let ch = char::from_u32(code).unwrap_or('\u{FFFD}');
                            let mut buf = [0u8; 4];
                            out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                        }
                        other => out.push(other),
                    }
                }
                c => out.push(c),
            }
        }
    }
}
