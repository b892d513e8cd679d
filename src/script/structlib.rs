//! The `struct` library Redis loads (Roberto Ierusalimschy's struct.c): `struct.pack`,
//! `struct.unpack` and `struct.size`, binary packing driven by a format string.
//!
//! Format characters: `>` big endian, `<` little endian, `!n` align fields to at most n
//! bytes, `x` a padding byte, `b`/`B` signed/unsigned char, `h`/`H` short, `l`/`L` long (8
//! bytes), `T` size_t (8), `i`/`I` followed by a size (default 4), `f` float, `d` double,
//! `s` a zero-terminated string, `cn` n characters (`c0` in unpack: the size is the value
//! unpacked just before; in pack: the whole string).

use mlua::{Lua, MultiValue, Result, Table, Value, Variadic};

/// The largest integer size struct.c accepts.
const MAX_INT_SIZE: usize = 32;

struct Format<'a> {
    /// The library function reading it, for errors about the format (its argument #1).
    name: &'static str,
    fmt: &'a [u8],
    pos: usize,
    little: bool,
    align: usize,
}

enum Item {
    Int { size: usize, signed: bool },
    Float,
    Double,
    Pad,
    Chars(Option<usize>),
    Zstring,
}

fn error(text: String) -> mlua::Error {
    mlua::Error::runtime(text)
}

impl Format<'_> {
    fn number(&mut self) -> Option<usize> {
        let start = self.pos;
        while self.fmt.get(self.pos).is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        if start == self.pos {
            return None;
        }
        std::str::from_utf8(&self.fmt[start..self.pos])
            .ok()?
            .parse()
            .ok()
    }

    /// The next item and its size, or None at the end; `>`, `<`, `!` and spaces are
    /// consumed on the way.
    fn next(&mut self) -> Result<Option<(Item, usize)>> {
        loop {
            let Some(&c) = self.fmt.get(self.pos) else {
                return Ok(None);
            };
            self.pos += 1;
            let int = |size, signed| Ok(Some((Item::Int { size, signed }, size)));
            return match c {
                b' ' => continue,
                b'>' => {
                    self.little = false;
                    continue;
                }
                b'<' => {
                    self.little = true;
                    continue;
                }
                b'!' => {
                    self.align = self.number().unwrap_or(8);
                    continue;
                }
                b'x' => Ok(Some((Item::Pad, 1))),
                b'b' => int(1, true),
                b'B' => int(1, false),
                b'h' => int(2, true),
                b'H' => int(2, false),
                b'l' => int(8, true),
                b'L' => int(8, false),
                b'T' => int(8, false),
                b'i' | b'I' => {
                    let size = self.number().unwrap_or(4);
                    if size > MAX_INT_SIZE {
                        return Err(error(format!(
                            "integral size {size} is larger than limit of {MAX_INT_SIZE}"
                        )));
                    }
                    int(size, c == b'i')
                }
                b'f' => Ok(Some((Item::Float, 4))),
                b'd' => Ok(Some((Item::Double, 8))),
                b's' => Ok(Some((Item::Zstring, 0))),
                b'c' => {
                    let n = self.number();
                    Ok(Some((Item::Chars(n), n.unwrap_or(1))))
                }
                other => Err(self.bad(format!("invalid format option '{}'", other as char))),
            };
        }
    }

    /// An error about the format: Lua's `luaL_argerror` on argument 1.
    fn bad(&self, msg: String) -> mlua::Error {
        error(format!("bad argument #1 to '{}' ({msg})", self.name))
    }

    /// Padding before an item of `size` bytes at offset `at`.
    fn padding(&self, item: &Item, size: usize, at: usize) -> usize {
        if !matches!(item, Item::Int { .. } | Item::Float | Item::Double) {
            return 0;
        }
        let align = size.min(self.align);
        if align <= 1 || !align.is_power_of_two() {
            return 0;
        }
        (align - (at & (align - 1))) & (align - 1)
    }
}

fn number_of(v: &Value) -> Option<f64> {
    match v {
        Value::Integer(n) => Some(*n as f64),
        Value::Number(n) => Some(*n),
        Value::String(s) => std::str::from_utf8(&s.as_bytes()).ok()?.trim().parse().ok(),
        _ => None,
    }
}

fn pack(_lua: &Lua, fmt: &[u8], args: &[Value]) -> Result<Vec<u8>> {
    let mut f = Format {
        name: "pack",
        fmt,
        pos: 0,
        little: cfg!(target_endian = "little"),
        align: 1,
    };
    let mut out = Vec::new();
    let mut next_arg = 0;
    while let Some((item, size)) = f.next()? {
        let mut take = || -> Result<Value> {
            let v = args.get(next_arg).cloned().unwrap_or(Value::Nil);
            next_arg += 1;
            Ok(v)
        };
        let pad = f.padding(&item, size, out.len());
        out.resize(out.len() + pad, 0);
        match item {
            Item::Pad => out.push(0),
            Item::Int { size, .. } => {
                let v = take()?;
                let n = number_of(&v).ok_or_else(|| {
                    error(format!(
                        "bad argument #{next_arg} to 'pack' (number expected, got {})",
                        v.type_name()
                    ))
                })?;
                let n = n as i64;
                let mut bytes = Vec::with_capacity(size);
                for i in 0..size {
                    bytes.push(if i < 8 {
                        (n >> (8 * i)) as u8
                    } else if n < 0 {
                        0xff
                    } else {
                        0
                    });
                }
                if !f.little {
                    bytes.reverse();
                }
                out.extend_from_slice(&bytes);
            }
            Item::Float | Item::Double => {
                let v = take()?;
                let n = number_of(&v).ok_or_else(|| {
                    error(format!(
                        "bad argument #{next_arg} to 'pack' (number expected, got {})",
                        v.type_name()
                    ))
                })?;
                let mut bytes = if matches!(item, Item::Float) {
                    (n as f32).to_le_bytes().to_vec()
                } else {
                    n.to_le_bytes().to_vec()
                };
                if !f.little {
                    bytes.reverse();
                }
                out.extend_from_slice(&bytes);
            }
            Item::Chars(_) | Item::Zstring => {
                let n = match item {
                    Item::Chars(n) => n,
                    _ => None,
                };
                let v = take()?;
                let s = match &v {
                    Value::String(s) => s.as_bytes().to_vec(),
                    Value::Integer(i) => i.to_string().into_bytes(),
                    Value::Number(x) => super::convert::format_g(*x, 14).into_bytes(),
                    other => {
                        return Err(error(format!(
                            "bad argument #{next_arg} to 'pack' (string expected, got {})",
                            other.type_name()
                        )))
                    }
                };
                match item {
                    Item::Zstring => {
                        out.extend_from_slice(&s);
                        out.push(0);
                    }
                    _ => {
                        let len = match n {
                            None | Some(0) => s.len(),
                            Some(n) => n,
                        };
                        if s.len() < len {
                            return Err(error(format!(
                                "bad argument #{next_arg} to 'pack' (string too short)"
                            )));
                        }
                        out.extend_from_slice(&s[..len]);
                    }
                }
            }
        }
    }
    Ok(out)
}

fn unpack(lua: &Lua, fmt: &[u8], data: &[u8], start: usize) -> Result<MultiValue> {
    let mut f = Format {
        name: "unpack",
        fmt,
        pos: 0,
        little: cfg!(target_endian = "little"),
        align: 1,
    };
    let mut pos = start;
    let mut out: Vec<Value> = Vec::new();
    let short = || error("bad argument #2 to 'unpack' (data string too short)".into());
    while let Some((item, size)) = f.next()? {
        pos += f.padding(&item, size, pos);
        match item {
            Item::Pad => pos += 1,
            Item::Int { size, signed } => {
                let bytes = data.get(pos..pos + size).ok_or_else(short)?;
                let mut ordered = bytes.to_vec();
                if !f.little {
                    ordered.reverse();
                }
                let mut n: u64 = 0;
                for (i, b) in ordered.iter().enumerate().take(8) {
                    n |= (*b as u64) << (8 * i);
                }
                let value = if signed && size < 8 && size > 0 {
                    let shift = 64 - 8 * size as u32;
                    (((n << shift) as i64) >> shift) as f64
                } else if signed {
                    n as i64 as f64
                } else {
                    n as f64
                };
                out.push(Value::Number(value));
                pos += size;
            }
            Item::Float => {
                let bytes = data.get(pos..pos + 4).ok_or_else(short)?;
                let mut b: [u8; 4] = bytes.try_into().expect("4 bytes");
                if !f.little {
                    b.reverse();
                }
                out.push(Value::Number(f32::from_le_bytes(b) as f64));
                pos += 4;
            }
            Item::Double => {
                let bytes = data.get(pos..pos + 8).ok_or_else(short)?;
                let mut b: [u8; 8] = bytes.try_into().expect("8 bytes");
                if !f.little {
                    b.reverse();
                }
                out.push(Value::Number(f64::from_le_bytes(b)));
                pos += 8;
            }
            Item::Zstring => {
                let rest = data.get(pos..).ok_or_else(short)?;
                let end = rest
                    .iter()
                    .position(|&b| b == 0)
                    .ok_or_else(|| error("unfinished string in data".into()))?;
                out.push(Value::String(lua.create_string(&rest[..end])?));
                pos += end + 1;
            }
            Item::Chars(n) => {
                let len = match n {
                    Some(0) => {
                        // c0: the size is the number unpacked just before.
                        let Some(prev) = out.pop() else {
                            return Err(error("format 'c0' needs a previous size".into()));
                        };
                        number_of(&prev).unwrap_or(0.0) as usize
                    }
                    Some(n) => n,
                    None => 1,
                };
                let bytes = data.get(pos..pos + len).ok_or_else(short)?;
                out.push(Value::String(lua.create_string(bytes)?));
                pos += len;
            }
        }
    }
    out.push(Value::Number((pos + 1) as f64));
    Ok(MultiValue::from_iter(out))
}

/// The `struct` table.
pub fn open(lua: &Lua) -> Result<Table> {
    let t = lua.create_table()?;
    t.raw_set(
        "pack",
        lua.create_function(|lua, (fmt, args): (mlua::String, Variadic<Value>)| {
            let bytes = pack(lua, &fmt.as_bytes(), &args)?;
            lua.create_string(&bytes)
        })?,
    )?;
    t.raw_set(
        "unpack",
        lua.create_function(
            |lua, (fmt, data, start): (mlua::String, mlua::String, Option<i64>)| {
                let start = start.unwrap_or(1).max(1) as usize - 1;
                unpack(lua, &fmt.as_bytes(), &data.as_bytes(), start)
            },
        )?,
    )?;
    t.raw_set(
        "size",
        lua.create_function(|_, fmt: mlua::String| {
            let bytes = fmt.as_bytes();
            let mut f = Format {
                name: "size",
                fmt: &bytes,
                pos: 0,
                little: true,
                align: 1,
            };
            let mut size = 0usize;
            while let Some((item, n)) = f.next()? {
                if matches!(item, Item::Zstring) {
                    return Err(f.bad("option 's' has no fixed size".into()));
                }
                size += f.padding(&item, n, size) + n;
            }
            Ok(size)
        })?,
    )?;
    Ok(t)
}
