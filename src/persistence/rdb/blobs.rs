//! The compact blobs inside a dump (Redis `listpack.c`, `ziplist.c`, `intset.c`, `zipmap.c`):
//! listpacks and quicklist nodes written as Redis writes them, and every blob read back.

use super::*;

/// Redis `lpStringToInt64`: the integer a listpack stores `s` as, if it is the canonical text
/// of an `i64` (the same rule as `string2ll`).
fn listpack_int(s: &[u8]) -> Option<i64> {
    crate::util::parse_i64(s)
}

/// The size of one element's listpack entry without its back-length: Redis
/// `lpEncodeGetType` (integers in 1, 2, 3, 4, 5 or 9 bytes; strings with a 1, 2 or 5-byte
/// header).
fn listpack_entry_len(s: &[u8]) -> usize {
    match listpack_int(s) {
        Some(0..=127) => 1,
        Some(-4096..=4095) => 2,
        Some(-32768..=32767) => 3,
        Some(-8388608..=8388607) => 4,
        Some(-2147483648..=2147483647) => 5,
        Some(_) => 9,
        None if s.len() < 64 => 1 + s.len(),
        None if s.len() < 4096 => 2 + s.len(),
        None => 5 + s.len(),
    }
}

/// Bytes of a listpack entry's back-length for an entry of `len` bytes (Redis
/// `lpEncodeBacklen`: 7 bits per byte).
fn listpack_backlen_len(len: usize) -> usize {
    match len {
        0..=127 => 1,
        128..=16382 => 2,
        16383..=2097150 => 3,
        2097151..=268435454 => 4,
        _ => 5,
    }
}

/// Appends one element's listpack entry: encoding, data, back-length (Redis `lpInsert` with
/// `lpEncodeString` / `lpEncodeIntegerGetType` and `lpEncodeBacklen`).
fn push_listpack_entry(out: &mut Vec<u8>, s: &[u8]) {
    let start = out.len();
    match listpack_int(s) {
        Some(v @ 0..=127) => out.push(v as u8),
        Some(v @ -4096..=4095) => {
            let u = (v as u64) & 0x1FFF;
            out.extend_from_slice(&[0xC0 | (u >> 8) as u8, u as u8]);
        }
        Some(v @ -32768..=32767) => {
            out.push(0xF1);
            out.extend_from_slice(&(v as i16).to_le_bytes());
        }
        Some(v @ -8388608..=8388607) => {
            out.push(0xF2);
            out.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
        }
        Some(v @ -2147483648..=2147483647) => {
            out.push(0xF3);
            out.extend_from_slice(&(v as i32).to_le_bytes());
        }
        Some(v) => {
            out.push(0xF4);
            out.extend_from_slice(&v.to_le_bytes());
        }
        None if s.len() < 64 => {
            out.push(0x80 | s.len() as u8);
            out.extend_from_slice(s);
        }
        None if s.len() < 4096 => {
            out.extend_from_slice(&[0xE0 | (s.len() >> 8) as u8, s.len() as u8]);
            out.extend_from_slice(s);
        }
        None => {
            out.push(0xF0);
            out.extend_from_slice(&(s.len() as u32).to_le_bytes());
            out.extend_from_slice(s);
        }
    }
    let len = (out.len() - start) as u64;
    // The back-length is read right to left: its first byte holds the highest 7 bits, and
    // every byte but that first one has its top bit set.
    let n = listpack_backlen_len(len as usize);
    for i in (0..n).rev() {
        let group = ((len >> (7 * i)) & 127) as u8;
        out.push(if i == n - 1 { group } else { group | 128 });
    }
}

/// A listpack holding `items`: total bytes (u32), element count (u16, 65535 meaning "count
/// them"), the entries, and the 0xFF terminator (Redis `lpNew` + `lpAppend`).
pub(super) fn listpack<'a>(items: impl Iterator<Item = &'a Vec<u8>>) -> Vec<u8> {
    let mut out = vec![0u8; LISTPACK_HEADER];
    let mut count = 0usize;
    for item in items {
        push_listpack_entry(&mut out, item);
        count += 1;
    }
    out.push(0xFF);
    let total = out.len() as u32;
    out[..4].copy_from_slice(&total.to_le_bytes());
    out[4..6].copy_from_slice(&(count.min(65535) as u16).to_le_bytes());
    out
}

/// Header bytes of a listpack (total size and count); with the terminator, an empty listpack
/// is 7 bytes (`lpNew`).
const LISTPACK_HEADER: usize = 6;

/// How many elements go in each quicklist node when Redis builds `list` by pushing its
/// elements to the tail one by one, with `list-max-listpack-size` = `fill`.
///
/// Redis 7.0 `_quicklistNodeAllowInsert`: an element joins the tail node if the node's bytes
/// plus the element's length plus 8 (`SIZE_ESTIMATE_OVERHEAD`) stay within the size limit
/// (`fill` -1 to -5: 4, 8, 16, 32 or 64 KB), or, for a positive `fill`, within 8 KB
/// (`SIZE_SAFETY_LIMIT`) while the node holds fewer than `fill` elements; otherwise it starts
/// a new node. The element's *length* is what counts, not its encoded size.
///
/// Redis's layout depends on the list's history (LPUSH fills nodes from the other end,
/// LINSERT and LREM split and merge them); respd keeps only the elements, so it writes the
/// layout of RPUSH, the common case. Any layout loads to the same list.
pub(crate) fn quicklist_nodes(list: &VecDeque<Vec<u8>>, fill: i64) -> Vec<usize> {
    const OPTIMIZATION_LEVEL: [usize; 5] = [4096, 8192, 16384, 32768, 65536];
    const SIZE_SAFETY_LIMIT: usize = 8192;
    const SIZE_ESTIMATE_OVERHEAD: usize = 8;
    // quicklistSetFill clamps the setting to -5..=32767.
    let fill = fill.clamp(-5, 1 << 15);
    let mut nodes = Vec::new();
    let (mut node_bytes, mut node_count) = (0usize, 0usize);
    for item in list {
        let new_size = node_bytes + item.len() + SIZE_ESTIMATE_OVERHEAD;
        let fits = node_count > 0
            && if fill < 0 {
                new_size <= OPTIMIZATION_LEVEL[(-fill - 1) as usize]
            } else {
                new_size <= SIZE_SAFETY_LIMIT && (node_count as i64) < fill
            };
        if !fits {
            if node_count > 0 {
                nodes.push(node_count);
            }
            node_bytes = LISTPACK_HEADER + 1;
            node_count = 0;
        }
        let entry = listpack_entry_len(item);
        node_bytes += entry + listpack_backlen_len(entry);
        node_count += 1;
    }
    if node_count > 0 {
        nodes.push(node_count);
    }
    nodes
}

/// Reads a listpack's entries as strings (integers in decimal, as Redis returns them).
///
/// Layout: u32 total bytes, u16 count (informational), entries, 0xFF. Each entry is an
/// encoding byte (and maybe length bytes), the data, then a "backlen" of 1..5 bytes that lets
/// Redis walk backwards; a forward reader skips it.
pub(crate) fn decode_listpack(b: &[u8]) -> Option<Vec<Vec<u8>>> {
    let total = u32::from_le_bytes(b.get(0..4)?.try_into().ok()?) as usize;
    if total != b.len() || total < 7 {
        return None;
    }
    let mut out = Vec::new();
    let mut p = 6;
    loop {
        let e = *b.get(p)?;
        if e == 0xFF {
            return (p == b.len() - 1).then_some(out);
        }
        let int = |bytes: &[u8]| -> Vec<u8> {
            let mut buf = [0u8; 8];
            buf[..bytes.len()].copy_from_slice(bytes);
            // Sign-extend from the top byte given.
            let fill = if bytes.last().is_some_and(|&x| x & 0x80 != 0) {
                0xFF
            } else {
                0
            };
            for slot in buf.iter_mut().skip(bytes.len()) {
                *slot = fill;
            }
            i64::from_le_bytes(buf).to_string().into_bytes()
        };
        let (header, data_len, value): (usize, usize, Vec<u8>) = if e & 0x80 == 0 {
            (1, 0, (e & 0x7f).to_string().into_bytes())
        } else if e & 0xC0 == 0x80 {
            let n = (e & 0x3f) as usize;
            (1, n, b.get(p + 1..p + 1 + n)?.to_vec())
        } else if e & 0xE0 == 0xC0 {
            let raw = ((u16::from(e & 0x1f) << 8) | u16::from(*b.get(p + 1)?)) as i16;
            let v = (raw << 3) >> 3; // sign-extend 13 bits
            (2, 0, v.to_string().into_bytes())
        } else if e & 0xF0 == 0xE0 {
            let n = (((e & 0x0f) as usize) << 8) | *b.get(p + 1)? as usize;
            (2, n, b.get(p + 2..p + 2 + n)?.to_vec())
        } else {
            match e {
                0xF0 => {
                    let n = u32::from_le_bytes(b.get(p + 1..p + 5)?.try_into().ok()?) as usize;
                    (5, n, b.get(p + 5..p.checked_add(5 + n)?)?.to_vec())
                }
                0xF1 => (1, 2, int(b.get(p + 1..p + 3)?)),
                0xF2 => (1, 3, int(b.get(p + 1..p + 4)?)),
                0xF3 => (1, 4, int(b.get(p + 1..p + 5)?)),
                0xF4 => (1, 8, int(b.get(p + 1..p + 9)?)),
                _ => return None,
            }
        };
        let entry_len = header + data_len;
        let backlen = match entry_len {
            0..=127 => 1,
            128..=16382 => 2,
            16383..=2097150 => 3,
            2097151..=268435454 => 4,
            _ => 5,
        };
        out.push(value);
        p = p.checked_add(entry_len + backlen)?;
    }
}

/// Reads a ziplist's entries as strings (Redis 6 and older lists, hashes, sorted sets).
///
/// Layout: u32 total bytes, u32 tail offset, u16 count, entries, 0xFF. Each entry is the
/// previous entry's length (1 byte, or 0xFE + 4 bytes), an encoding, and the data.
pub(crate) fn decode_ziplist(b: &[u8]) -> Option<Vec<Vec<u8>>> {
    let total = u32::from_le_bytes(b.get(0..4)?.try_into().ok()?) as usize;
    if total != b.len() || total < 11 {
        return None;
    }
    let mut out = Vec::new();
    let mut p = 10;
    loop {
        if *b.get(p)? == 0xFF {
            return (p == b.len() - 1).then_some(out);
        }
        p += if b[p] == 0xFE { 5 } else { 1 };
        let e = *b.get(p)?;
        let le = |n: usize| -> Option<i64> {
            let s = b.get(p + 1..p + 1 + n)?;
            let mut buf = [0u8; 8];
            buf[..n].copy_from_slice(s);
            let fill = if s[n - 1] & 0x80 != 0 { 0xFF } else { 0 };
            for slot in buf.iter_mut().skip(n) {
                *slot = fill;
            }
            Some(i64::from_le_bytes(buf))
        };
        let (skip, value) = match e >> 6 {
            0 => {
                let n = (e & 0x3f) as usize;
                (1 + n, b.get(p + 1..p + 1 + n)?.to_vec())
            }
            1 => {
                let n = (((e & 0x3f) as usize) << 8) | *b.get(p + 1)? as usize;
                (2 + n, b.get(p + 2..p + 2 + n)?.to_vec())
            }
            2 => {
                let n = u32::from_be_bytes(b.get(p + 1..p + 5)?.try_into().ok()?) as usize;
                (5 + n, b.get(p + 5..p.checked_add(5 + n)?)?.to_vec())
            }
            _ => {
                let (n, v) = match e {
                    0xC0 => (2, le(2)?),
                    0xD0 => (4, le(4)?),
                    0xE0 => (8, le(8)?),
                    0xF0 => (3, le(3)?),
                    0xFE => (1, le(1)?),
                    0xF1..=0xFD => (0, i64::from(e & 0x0f) - 1),
                    _ => return None,
                };
                (1 + n, v.to_string().into_bytes())
            }
        };
        out.push(value);
        p += skip;
    }
}

/// Reads a zipmap (Redis 2.x small hashes): a count byte, then for each pair a length-prefixed
/// field, a length-prefixed value with a "free" byte count, and 0xFF at the end.
pub(super) fn decode_zipmap(b: &[u8]) -> Option<Vec<(Vec<u8>, Vec<u8>)>> {
    let mut out = Vec::new();
    let mut p = 1;
    let len_at = |p: &mut usize| -> Option<Option<usize>> {
        let first = *b.get(*p)?;
        *p += 1;
        Some(match first {
            0xFF => None,
            0xFE => {
                let n = u32::from_le_bytes(b.get(*p..*p + 4)?.try_into().ok()?) as usize;
                *p += 4;
                Some(n)
            }
            n => Some(n as usize),
        })
    };
    loop {
        let Some(flen) = len_at(&mut p)? else {
            return Some(out);
        };
        let field = b.get(p..p + flen)?.to_vec();
        p += flen;
        let vlen = len_at(&mut p)??;
        let free = *b.get(p)? as usize;
        p += 1;
        let value = b.get(p..p + vlen)?.to_vec();
        p += vlen + free;
        out.push((field, value));
    }
}
