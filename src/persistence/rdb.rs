//! The RDB snapshot format: a writer and a loader for version 10, what Redis 7.0 writes.
//!
//! Counterpart of Redis `rdb.c` (the format), `crc64.c` (the trailer checksum), `lzf_c.c` /
//! `lzf_d.c` (string compression), and the readers of the compact blobs Redis stores inside a
//! dump: `listpack.c`, `ziplist.c`, `intset.c`.
//!
//! # The file, byte by byte
//! ```text
//! "REDIS0010"                              magic + 4-digit version
//! FA <name> <value>                        AUX field (redis-ver, redis-bits, ctime, ...)
//! FE <db>  FB <keys> <keys with TTL>       SELECTDB, RESIZEDB
//! [FC <8-byte ms, little endian>] <type> <key> <value>   one key, its optional deadline first
//! ...
//! FF <8-byte CRC64, little endian>         EOF, then the checksum of everything before it
//! ```
//! Lengths use Redis's variable "length encoding" (6, 14, 32 or 64 bits; see [`Writer::len`]);
//! strings are a length and bytes, or a small integer, or an LZF-compressed blob.
//!
//! # Which encodings respd writes
//! The simplest ones a Redis 7.0 loads, so the writer stays short: strings as integers when
//! they fit 32 bits (as Redis does) or LZF-compressed above 20 bytes (`rdbcompression yes`),
//! lists as `RDB_TYPE_LIST_QUICKLIST_2` split into listpack nodes exactly as Redis splits a
//! list built by pushes (see [`quicklist_nodes`]), so a DUMP of such a list is byte for byte
//! Redis's, sets as `RDB_TYPE_SET_INTSET` when Redis would keep an intset and
//! `RDB_TYPE_SET` otherwise, sorted sets as `RDB_TYPE_ZSET_2` (binary doubles, no rounding),
//! hashes as `RDB_TYPE_HASH`. Redis converts to its compact encodings on load by itself.
//!
//! # What the loader reads
//! Everything Redis 7.0 writes for the types respd has: the plain encodings above plus
//! listpacks (hashes, sorted sets, quicklist-2 nodes), ziplists and quicklist-1 (older
//! dumps), intsets, zipmaps, the old text-score `RDB_TYPE_ZSET`, LZF and integer strings,
//! second-resolution expiry, and the LRU/LFU hints (skipped). Streams, modules and functions
//! fail the load with an error naming the key and the type: respd refuses rather than
//! silently dropping data. Every error names the byte offset where reading stopped.
//!
//! The loader reads the whole file into memory first: it keeps the code a plain walk over a
//! byte slice with an exact offset for errors, at the price of holding the file's bytes
//! while building the keyspace.

use std::collections::VecDeque;
use std::fmt;
use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::store::encoding_limits;
use crate::store::{Dict, Entry, Hash, Keyspace, Set, Value, ZSet};

/// The RDB version respd writes (Redis 7.0's `RDB_VERSION`).
pub const RDB_VERSION: u32 = 10;

/// The Redis version respd claims in the `redis-ver` AUX field, so tools that look at it
/// (and Redis itself, which only logs it) see a 7.0 dump.
pub const REDIS_VERSION: &str = "7.0.15";

// Value types (Redis `RDB_TYPE_*`).
const TYPE_STRING: u8 = 0;
const TYPE_LIST: u8 = 1;
const TYPE_SET: u8 = 2;
const TYPE_ZSET: u8 = 3;
const TYPE_HASH: u8 = 4;
const TYPE_ZSET_2: u8 = 5;
const TYPE_MODULE: u8 = 6;
const TYPE_MODULE_2: u8 = 7;
const TYPE_HASH_ZIPMAP: u8 = 9;
const TYPE_LIST_ZIPLIST: u8 = 10;
const TYPE_SET_INTSET: u8 = 11;
const TYPE_ZSET_ZIPLIST: u8 = 12;
const TYPE_HASH_ZIPLIST: u8 = 13;
const TYPE_LIST_QUICKLIST: u8 = 14;
const TYPE_STREAM_LISTPACKS: u8 = 15;
const TYPE_HASH_LISTPACK: u8 = 16;
const TYPE_ZSET_LISTPACK: u8 = 17;
const TYPE_LIST_QUICKLIST_2: u8 = 18;
const TYPE_STREAM_LISTPACKS_2: u8 = 19;

// Opcodes (Redis `RDB_OPCODE_*`).
const OP_FUNCTION_PRE_GA: u8 = 0xF6;
const OP_FUNCTION2: u8 = 0xF5;
const OP_MODULE_AUX: u8 = 0xF7;
const OP_IDLE: u8 = 0xF8;
const OP_FREQ: u8 = 0xF9;
const OP_AUX: u8 = 0xFA;
const OP_RESIZEDB: u8 = 0xFB;
const OP_EXPIRETIME_MS: u8 = 0xFC;
const OP_EXPIRETIME: u8 = 0xFD;
const OP_SELECTDB: u8 = 0xFE;
const OP_EOF: u8 = 0xFF;

// Special string encodings (Redis `RDB_ENC_*`), after a length byte whose top bits are 11.
const ENC_INT8: u8 = 0;
const ENC_INT16: u8 = 1;
const ENC_INT32: u8 = 2;
const ENC_LZF: u8 = 3;

/// Redis `QUICKLIST_NODE_CONTAINER_PACKED`: a quicklist node holding a listpack (the other
/// kind, PLAIN, holds one element of 1 GB or more, which respd's 512 MB bulk limit rules out).
const QUICKLIST_NODE_CONTAINER_PACKED: u64 = 2;

// ---------------------------------------------------------------------------------------------
// CRC64
// ---------------------------------------------------------------------------------------------

/// The CRC-64 Redis appends to a dump: the "Jones" polynomial 0xad93d23594c935a9, reflected
/// input and output, initial value 0, no final xor. Table-driven, one byte per step; the
/// table holds the reflected polynomial's remainders of every byte value.
pub fn crc64(crc: u64, data: &[u8]) -> u64 {
    static TABLE: std::sync::OnceLock<[u64; 256]> = std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| {
        // 0xad93d23594c935a9 with its 64 bits in reverse order, for the reflected algorithm.
        let poly = 0xad93d23594c935a9u64.reverse_bits();
        let mut t = [0u64; 256];
        for (i, slot) in t.iter_mut().enumerate() {
            let mut c = i as u64;
            for _ in 0..8 {
                c = if c & 1 == 1 { (c >> 1) ^ poly } else { c >> 1 };
            }
            *slot = c;
        }
        t
    });
    data.iter().fold(crc, |c, &b| {
        table[((c ^ u64::from(b)) & 0xff) as usize] ^ (c >> 8)
    })
}

// ---------------------------------------------------------------------------------------------
// LZF
// ---------------------------------------------------------------------------------------------

/// Compresses `input` in the LZF format (what Redis's `lzf_compress` produces, byte for byte
/// compatible with `lzf_decompress`, though not necessarily the same bytes). Returns `None`
/// when the output would not be shorter than `max_out` bytes.
///
/// The format is a sequence of two kinds of chunks:
/// - a *literal run*: one byte `000LLLLL` (L+1 literal bytes follow, 1..=32);
/// - a *back reference*: `LLLOOOOO OOOOOOOO` copies L+2 bytes from `offset+1` bytes back, and
///   when L is 7 an extra byte adds to the length (`111OOOOO EEEEEEEE OOOOOOOO`, length E+9).
///
/// Matches are found with a hash table of 3-byte prefixes, as the reference implementation
/// does; a miss simply extends the current literal run.
pub fn lzf_compress(input: &[u8], max_out: usize) -> Option<Vec<u8>> {
    const HASH_BITS: u32 = 14;
    const MAX_OFF: usize = 1 << 13;
    const MAX_REF: usize = (1 << 8) + (1 << 3);
    const MAX_LIT: usize = 1 << 5;
    let n = input.len();
    let mut out = Vec::with_capacity(max_out);
    let mut table = vec![0usize; 1 << HASH_BITS]; // position + 1 of the last 3-byte prefix
    let hash = |p: usize| {
        let v =
            (u32::from(input[p]) << 16) | (u32::from(input[p + 1]) << 8) | u32::from(input[p + 2]);
        (v.wrapping_mul(2654435761) >> (32 - HASH_BITS)) as usize
    };
    let mut lit_start = 0; // start of the pending literal run
    let mut i = 0;
    let flush_literals = |out: &mut Vec<u8>, from: usize, to: usize| {
        for chunk in input[from..to].chunks(MAX_LIT) {
            out.push((chunk.len() - 1) as u8);
            out.extend_from_slice(chunk);
        }
    };
    while i + 2 < n {
        let h = hash(i);
        let candidate = table[h];
        table[h] = i + 1;
        if candidate > 0 {
            let r = candidate - 1;
            let off = i - r - 1;
            if off < MAX_OFF && input[r..r + 3] == input[i..i + 3] {
                let max_len = (n - i).min(MAX_REF);
                let mut len = 3;
                while len < max_len && input[r + len] == input[i + len] {
                    len += 1;
                }
                flush_literals(&mut out, lit_start, i);
                let l = len - 2;
                if l < 7 {
                    out.push(((l as u8) << 5) | (off >> 8) as u8);
                } else {
                    out.push((7 << 5) | (off >> 8) as u8);
                    out.push((l - 7) as u8);
                }
                out.push(off as u8);
                i += len;
                lit_start = i;
                if out.len() >= max_out {
                    return None;
                }
                continue;
            }
        }
        i += 1;
    }
    flush_literals(&mut out, lit_start, n);
    (out.len() < max_out).then_some(out)
}

/// Expands an LZF blob into exactly `len` bytes; `None` if the blob is malformed.
///
/// A claimed `len` the input could never expand to is refused before anything is allocated:
/// the longest chunk, a 3-byte back reference, yields 264 bytes, so no blob grows by more than
/// 88 times. The length comes from the file (or from a RESTORE payload, i.e. from a client).
pub fn lzf_decompress(input: &[u8], len: usize) -> Option<Vec<u8>> {
    if len > input.len().saturating_mul(88) {
        return None;
    }
    let mut out: Vec<u8> = Vec::with_capacity(len);
    let mut i = 0;
    while i < input.len() {
        let ctrl = input[i] as usize;
        i += 1;
        if ctrl < 32 {
            let run = ctrl + 1;
            out.extend_from_slice(input.get(i..i + run)?);
            i += run;
        } else {
            let mut l = ctrl >> 5;
            if l == 7 {
                l += *input.get(i)? as usize;
                i += 1;
            }
            let back = ((ctrl & 0x1f) << 8) + *input.get(i)? as usize + 1;
            i += 1;
            let start = out.len().checked_sub(back)?;
            // Byte by byte: a reference may overlap the bytes it produces (runs).
            for k in 0..l + 2 {
                let b = out[start + k];
                out.push(b);
            }
        }
        if out.len() > len {
            return None;
        }
    }
    (out.len() == len).then_some(out)
}

// ---------------------------------------------------------------------------------------------
// Writer
// ---------------------------------------------------------------------------------------------

/// Options that change the bytes written (`rdbcompression`, `rdbchecksum`).
#[derive(Debug, Clone, Copy)]
pub struct WriteOptions {
    /// Compress strings longer than 20 bytes with LZF.
    pub compression: bool,
    /// Write the CRC64 trailer; zero when off (Redis's "checksum disabled" marker).
    pub checksum: bool,
}

/// Streams an RDB file into `W`, keeping the running CRC64 of everything written.
pub struct Writer<W: Write> {
    out: W,
    crc: u64,
    options: WriteOptions,
}

impl<W: Write> Writer<W> {
    /// A writer; nothing is written until [`Writer::header`].
    pub fn new(out: W, options: WriteOptions) -> Writer<W> {
        Writer {
            out,
            crc: 0,
            options,
        }
    }

    fn raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        if self.options.checksum {
            self.crc = crc64(self.crc, bytes);
        }
        self.out.write_all(bytes)
    }

    /// Redis's length encoding: `00LLLLLL` up to 63, `01LLLLLL LLLLLLLL` up to 16383, then
    /// `0x80` + 32 bits or `0x81` + 64 bits, big endian.
    fn len(&mut self, n: u64) -> io::Result<()> {
        if n < 1 << 6 {
            self.raw(&[n as u8])
        } else if n < 1 << 14 {
            self.raw(&[0x40 | (n >> 8) as u8, n as u8])
        } else if n <= u64::from(u32::MAX) {
            self.raw(&[0x80])?;
            self.raw(&(n as u32).to_be_bytes())
        } else {
            self.raw(&[0x81])?;
            self.raw(&n.to_be_bytes())
        }
    }

    /// A string: as an 8/16/32-bit integer when it is the canonical text of one (Redis
    /// `rdbTryIntegerEncoding`), LZF-compressed when that saves at least 4 bytes, else plain.
    fn string(&mut self, s: &[u8]) -> io::Result<()> {
        if s.len() <= 11 {
            if let Some(n) = crate::util::parse_i64(s) {
                if let Ok(n) = i32::try_from(n) {
                    return self.int_string(n);
                }
            }
        }
        if self.options.compression && s.len() > 20 {
            if let Some(packed) = lzf_compress(s, s.len() - 4) {
                self.raw(&[0xC0 | ENC_LZF])?;
                self.len(packed.len() as u64)?;
                self.len(s.len() as u64)?;
                return self.raw(&packed);
            }
        }
        self.len(s.len() as u64)?;
        self.raw(s)
    }

    fn int_string(&mut self, n: i32) -> io::Result<()> {
        if let Ok(b) = i8::try_from(n) {
            self.raw(&[0xC0 | ENC_INT8, b as u8])
        } else if let Ok(h) = i16::try_from(n) {
            self.raw(&[0xC0 | ENC_INT16])?;
            self.raw(&h.to_le_bytes())
        } else {
            self.raw(&[0xC0 | ENC_INT32])?;
            self.raw(&n.to_le_bytes())
        }
    }

    fn i64_string(&mut self, n: i64) -> io::Result<()> {
        match i32::try_from(n) {
            Ok(n) => self.int_string(n),
            Err(_) => self.string(n.to_string().as_bytes()),
        }
    }

    fn aux(&mut self, name: &str, value: &[u8]) -> io::Result<()> {
        self.raw(&[OP_AUX])?;
        self.string(name.as_bytes())?;
        self.string(value)
    }

    /// The magic, the version and the AUX fields Redis 7.0 writes for a plain SAVE.
    pub fn header(&mut self, now_ms: u64, used_mem: u64) -> io::Result<()> {
        self.raw(format!("REDIS{RDB_VERSION:04}").as_bytes())?;
        self.aux("redis-ver", REDIS_VERSION.as_bytes())?;
        self.aux("redis-bits", b"64")?;
        self.aux("ctime", (now_ms / 1000).to_string().as_bytes())?;
        self.aux("used-mem", used_mem.to_string().as_bytes())?;
        self.aux("aof-base", b"0")
    }

    /// SELECTDB and RESIZEDB for a database about to be written.
    pub fn select_db(&mut self, index: usize, keys: usize, expires: usize) -> io::Result<()> {
        self.raw(&[OP_SELECTDB])?;
        self.len(index as u64)?;
        self.raw(&[OP_RESIZEDB])?;
        self.len(keys as u64)?;
        self.len(expires as u64)
    }

    /// One key: its deadline (if any), type, name and value.
    pub fn key(&mut self, key: &[u8], value: &Value, expire_at: Option<u64>) -> io::Result<()> {
        if let Some(ms) = expire_at {
            self.raw(&[OP_EXPIRETIME_MS])?;
            self.raw(&ms.to_le_bytes())?;
        }
        let intset = set_as_intset(value);
        self.raw(&[object_type(value, intset.is_some())])?;
        self.string(key)?;
        self.object(value, intset.as_deref())
    }

    /// A value's type byte and encoding, without a key: what DUMP serializes (Redis
    /// `rdbSaveObjectType` + `rdbSaveObject`).
    fn typed_object(&mut self, value: &Value) -> io::Result<()> {
        let intset = set_as_intset(value);
        self.raw(&[object_type(value, intset.is_some())])?;
        self.object(value, intset.as_deref())
    }

    /// A value's encoding, after its type byte (and, in a file, its key). `intset` is the
    /// sorted members of a set written as `RDB_TYPE_SET_INTSET` (see [`set_as_intset`]).
    fn object(&mut self, value: &Value, intset: Option<&[i64]>) -> io::Result<()> {
        match value {
            Value::Int(n) => self.i64_string(*n),
            Value::Str(s) => self.string(s),
            Value::List(list) => {
                // Redis `rdbSaveObject` on a quicklist: the node count, then each node's
                // container kind and its listpack as a string (LZF-compressed like any other).
                let nodes = quicklist_nodes(list, encoding_limits::list_max_listpack_size());
                self.len(nodes.len() as u64)?;
                let mut rest = list.iter();
                for count in nodes {
                    self.len(QUICKLIST_NODE_CONTAINER_PACKED)?;
                    self.string(&listpack(rest.by_ref().take(count)))?;
                }
                Ok(())
            }
            Value::Set(set) => match intset {
                Some(ints) => self.string(&intset_bytes(ints)),
                None => {
                    self.len(set.len() as u64)?;
                    set.keys().try_for_each(|m| self.string(m))
                }
            },
            Value::ZSet(z) => {
                self.len(z.len() as u64)?;
                // Redis writes from the highest score down, so loading inserts at the head of
                // its skiplist each time; the order does not matter to respd.
                for (member, score) in z.range_by_rank(0, z.len().saturating_sub(1), true) {
                    self.string(member)?;
                    self.raw(&score.to_le_bytes())?;
                }
                Ok(())
            }
            Value::Hash(h) => {
                self.len(h.len() as u64)?;
                h.iter().try_for_each(|(f, v)| {
                    self.string(f)?;
                    self.string(v)
                })
            }
        }
    }

    /// EOF and the checksum; returns the inner writer for the caller to flush and sync.
    pub fn finish(mut self) -> io::Result<W> {
        self.raw(&[OP_EOF])?;
        let crc = if self.options.checksum { self.crc } else { 0 };
        self.out.write_all(&crc.to_le_bytes())?;
        Ok(self.out)
    }
}

/// The type byte a value is written with; `intset` tells a set written as an intset.
fn object_type(value: &Value, intset: bool) -> u8 {
    match value {
        Value::Int(_) | Value::Str(_) => TYPE_STRING,
        Value::List(_) => TYPE_LIST_QUICKLIST_2,
        Value::Set(_) if intset => TYPE_SET_INTSET,
        Value::Set(_) => TYPE_SET,
        Value::ZSet(_) => TYPE_ZSET_2,
        Value::Hash(_) => TYPE_HASH,
    }
}

/// A set's members, sorted, when Redis would hold the set as an intset (see
/// [`Set::is_intset`]); `None` otherwise and for other types.
fn set_as_intset(value: &Value) -> Option<Vec<i64>> {
    let Value::Set(set) = value else {
        return None;
    };
    if !set.is_intset() {
        return None;
    }
    let mut ints: Vec<i64> = set
        .keys()
        .map(|m| crate::util::parse_i64(m))
        .collect::<Option<_>>()?;
    ints.sort_unstable();
    Some(ints)
}

/// An intset blob: encoding width, count, then the sorted values, all little endian.
fn intset_bytes(sorted: &[i64]) -> Vec<u8> {
    let width: usize = if sorted.iter().all(|&n| i16::try_from(n).is_ok()) {
        2
    } else if sorted.iter().all(|&n| i32::try_from(n).is_ok()) {
        4
    } else {
        8
    };
    let mut out = Vec::with_capacity(8 + width * sorted.len());
    out.extend_from_slice(&(width as u32).to_le_bytes());
    out.extend_from_slice(&(sorted.len() as u32).to_le_bytes());
    for &n in sorted {
        out.extend_from_slice(&n.to_le_bytes()[..width]);
    }
    out
}

/// Writes a whole keyspace (the caller holds whatever lock keeps it still). Logically expired
/// keys are skipped, as Redis skips them when saving.
pub fn write_keyspace<W: Write>(
    out: W,
    options: WriteOptions,
    dbs: &[Vec<(Vec<u8>, Entry)>],
    now_ms: u64,
    used_mem: u64,
) -> io::Result<W> {
    let mut w = Writer::new(out, options);
    w.header(now_ms, used_mem)?;
    for (index, db) in dbs.iter().enumerate() {
        write_db(
            &mut w,
            index,
            || db.iter().map(|(k, e)| (k.as_slice(), e)),
            now_ms,
        )?;
    }
    w.finish()
}

/// Writes one database's keys; nothing at all for an empty database (as Redis does).
///
/// `entries` is called twice: once to count the keys for RESIZEDB, once to write them.
pub fn write_db<'a, W: Write, I: Iterator<Item = (&'a [u8], &'a Entry)>>(
    w: &mut Writer<W>,
    index: usize,
    entries: impl Fn() -> I,
    now_ms: u64,
) -> io::Result<()> {
    let live = || entries().filter(|(_, e)| !e.is_expired(now_ms));
    let (keys, expires) = live().fold((0, 0), |(k, x), (_, e)| {
        (k + 1, x + usize::from(e.expire_at().is_some()))
    });
    if keys == 0 {
        return Ok(());
    }
    w.select_db(index, keys, expires)?;
    for (key, entry) in live() {
        w.key(key, &entry.value, entry.expire_at())?;
    }
    Ok(())
}

/// Writes a live keyspace directly (SAVE, under the read lock).
pub fn write_live_keyspace<W: Write>(
    out: W,
    options: WriteOptions,
    ks: &Keyspace,
    now_ms: u64,
    used_mem: u64,
) -> io::Result<W> {
    let mut w = Writer::new(out, options);
    w.header(now_ms, used_mem)?;
    for (index, db) in ks.dbs().iter().enumerate() {
        write_db(&mut w, index, || db.iter(), now_ms)?;
    }
    w.finish()
}

// ---------------------------------------------------------------------------------------------
// Loader
// ---------------------------------------------------------------------------------------------

/// Why a dump could not be loaded, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError {
    /// Byte offset in the file where the problem was found.
    pub offset: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (at byte offset {})", self.message, self.offset)
    }
}

impl std::error::Error for LoadError {}

/// What a successful load found.
#[derive(Debug, Default, Clone)]
pub struct LoadStats {
    /// Keys loaded.
    pub keys_loaded: u64,
    /// Keys skipped because their TTL had passed (Redis `rdb_last_load_keys_expired`).
    pub keys_expired: u64,
    /// The RDB version of the file.
    pub version: u32,
    /// AUX fields, in file order (redis-ver, ctime, ...).
    pub aux: Vec<(Vec<u8>, Vec<u8>)>,
}

/// One key read from a dump.
struct Loaded {
    db: usize,
    key: Vec<u8>,
    value: Value,
    expire_at: Option<u64>,
}

/// A cursor over the file's bytes that knows its offset for error messages.
struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

type R<T> = Result<T, LoadError>;

impl<'a> Reader<'a> {
    fn err<T>(&self, message: impl Into<String>) -> R<T> {
        Err(LoadError {
            offset: self.pos,
            message: message.into(),
        })
    }

    fn bytes(&mut self, n: usize) -> R<&'a [u8]> {
        match self
            .pos
            .checked_add(n)
            .filter(|&end| end <= self.data.len())
        {
            Some(end) => {
                let s = &self.data[self.pos..end];
                self.pos = end;
                Ok(s)
            }
            None => self.err(format!(
                "Unexpected end of file: wanted {n} more bytes, {} left",
                self.data.len() - self.pos
            )),
        }
    }

    fn u8(&mut self) -> R<u8> {
        Ok(self.bytes(1)?[0])
    }

    fn array<const N: usize>(&mut self) -> R<[u8; N]> {
        Ok(self.bytes(N)?.try_into().expect("length checked"))
    }

    /// A length, or the special-encoding marker (`Err(kind)` in the inner result).
    fn len_or_enc(&mut self) -> R<Result<u64, u8>> {
        let b = self.u8()?;
        Ok(match b >> 6 {
            0 => Ok(u64::from(b & 0x3f)),
            1 => Ok((u64::from(b & 0x3f) << 8) | u64::from(self.u8()?)),
            2 if b == 0x80 => Ok(u64::from(u32::from_be_bytes(self.array()?))),
            2 if b == 0x81 => Ok(u64::from_be_bytes(self.array()?)),
            2 => return self.err(format!("Unknown length encoding {b:#04x}")),
            _ => Err(b & 0x3f),
        })
    }

    fn len(&mut self) -> R<u64> {
        let start = self.pos;
        match self.len_or_enc()? {
            Ok(n) => Ok(n),
            Err(_) => {
                self.pos = start;
                self.err("A length was expected, found an encoded string")
            }
        }
    }

    /// A length used to size a loop or an allocation: refuse counts the rest of the file could
    /// not possibly hold (each element takes at least one byte), so a corrupt length fails
    /// cleanly instead of reserving absurd memory.
    fn count(&mut self) -> R<usize> {
        let n = self.len()?;
        if n > (self.data.len() - self.pos) as u64 {
            return self.err(format!("Length {n} is larger than the rest of the file"));
        }
        Ok(n as usize)
    }

    fn string(&mut self) -> R<Vec<u8>> {
        let start = self.pos;
        match self.len_or_enc()? {
            Ok(n) => {
                let n = usize::try_from(n).or_else(|_| self.err("String too long"))?;
                Ok(self.bytes(n)?.to_vec())
            }
            Err(ENC_INT8) => Ok((self.u8()? as i8).to_string().into_bytes()),
            Err(ENC_INT16) => Ok(i16::from_le_bytes(self.array()?).to_string().into_bytes()),
            Err(ENC_INT32) => Ok(i32::from_le_bytes(self.array()?).to_string().into_bytes()),
            Err(ENC_LZF) => {
                let clen = self.count()?;
                let len = self.len()?;
                if len > 1 << 40 {
                    return self.err(format!("LZF string length {len} is not plausible"));
                }
                let packed = self.bytes(clen)?;
                match lzf_decompress(packed, len as usize) {
                    Some(s) => Ok(s),
                    None => {
                        self.pos = start;
                        self.err("Invalid LZF compressed string")
                    }
                }
            }
            Err(e) => {
                self.pos = start;
                self.err(format!("Unknown string encoding {e}"))
            }
        }
    }

    /// A double in the old text form: a length byte, or 253/254/255 for NaN/+inf/-inf.
    fn text_double(&mut self) -> R<f64> {
        let n = self.u8()?;
        match n {
            253 => Ok(f64::NAN),
            254 => Ok(f64::INFINITY),
            255 => Ok(f64::NEG_INFINITY),
            _ => {
                let s = self.bytes(n as usize)?;
                match crate::util::parse_f64(s) {
                    Some(d) => Ok(d),
                    None => self.err("Invalid double value"),
                }
            }
        }
    }
}

/// Size in bytes of the dump being loaded (0 when no load has started). With
/// [`LOAD_DONE`], it lets another thread report progress without slowing the loader down:
/// the systemd integration turns them into `STATUS=Loading N%` and decides whether the start
/// timeout deserves another extension (see [`crate::systemd`]).
pub static LOAD_TOTAL: AtomicU64 = AtomicU64::new(0);
/// Bytes of the dump read so far, updated after every key (one relaxed store: cheap).
pub static LOAD_DONE: AtomicU64 = AtomicU64::new(0);

/// Loads a dump into `ks`, which should be empty. On error `ks` may hold part of the data:
/// the caller discards it.
pub fn load(data: &[u8], ks: &mut Keyspace, now_ms: u64, verify_checksum: bool) -> R<LoadStats> {
    let mut r = Reader { data, pos: 0 };
    LOAD_DONE.store(0, Ordering::Relaxed);
    LOAD_TOTAL.store(data.len() as u64, Ordering::Relaxed);
    let magic = r.bytes(9).or_else(|_| {
        r.pos = 0;
        r.err("File too short to be an RDB file")
    })?;
    if &magic[..5] != b"REDIS" {
        r.pos = 0;
        return r.err("Wrong signature trying to load DB from file");
    }
    let version = std::str::from_utf8(&magic[5..])
        .ok()
        .filter(|v| v.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|v| v.parse::<u32>().ok());
    let version = match version {
        Some(v) if (1..=RDB_VERSION).contains(&v) => v,
        _ => {
            r.pos = 5;
            return r.err(format!(
                "Can't handle RDB format version {}",
                String::from_utf8_lossy(&magic[5..])
            ));
        }
    };
    let mut stats = LoadStats {
        version,
        ..LoadStats::default()
    };
    let mut db = 0usize;
    let mut expire_at: Option<u64> = None;
    loop {
        let op_at = r.pos;
        let op = r.u8()?;
        match op {
            OP_EOF => break,
            OP_SELECTDB => {
                let n = r.len()?;
                if n >= ks.db_count() as u64 {
                    r.pos = op_at;
                    return r.err(format!(
                        "FATAL: Data file was created with a Redis server configured to handle more than {} databases (key in db {n})",
                        ks.db_count()
                    ));
                }
                db = n as usize;
            }
            OP_RESIZEDB => {
                r.len()?;
                r.len()?;
            }
            OP_AUX => {
                let name = r.string()?;
                let value = r.string()?;
                stats.aux.push((name, value));
            }
            OP_EXPIRETIME_MS => {
                // Signed, as Redis reads it (`rdbLoadMillisecondTime`): -1 means no expiry and
                // any other negative deadline is in the past, so the key is dropped below.
                let at = i64::from_le_bytes(r.array()?);
                expire_at = (at != -1).then_some(at.max(0) as u64);
            }
            OP_EXPIRETIME => {
                expire_at = Some(u64::from(u32::from_le_bytes(r.array()?)) * 1000);
            }
            OP_IDLE => {
                r.len()?; // LRU idle time: respd starts every key's clock at load
            }
            OP_FREQ => {
                r.u8()?; // LFU counter: respd has no LFU eviction
            }
            OP_MODULE_AUX => {
                r.pos = op_at;
                return r
                    .err("The dump holds module data (MODULE_AUX), which respd does not support");
            }
            OP_FUNCTION2 | OP_FUNCTION_PRE_GA => {
                r.pos = op_at;
                return r.err("The dump holds Redis functions (FUNCTION LOAD libraries), which respd does not support");
            }
            type_byte => {
                let key = r.string()?;
                let value = load_value(&mut r, type_byte, &key, op_at)?;
                let loaded = Loaded {
                    db,
                    key,
                    value,
                    expire_at: expire_at.take(),
                };
                // A master drops keys already expired at load (Redis rdbLoadRioWithLoadingCtx).
                if loaded.expire_at.is_some_and(|t| t <= now_ms) {
                    stats.keys_expired += 1;
                    continue;
                }
                let target = ks.db_mut(loaded.db);
                target.set_with_expire(&loaded.key, loaded.value, loaded.expire_at, now_ms);
                stats.keys_loaded += 1;
                LOAD_DONE.store(r.pos as u64, Ordering::Relaxed);
            }
        }
    }
    if version >= 5 {
        let crc_at = r.pos;
        let stored = u64::from_le_bytes(r.array()?);
        if verify_checksum && stored != 0 {
            let computed = crc64(0, &data[..crc_at]);
            if computed != stored {
                r.pos = crc_at;
                return r.err(format!(
                    "Wrong RDB checksum expected: ({stored:#018x}) got: ({computed:#018x})"
                ));
            }
        }
    }
    Ok(stats)
}

/// The name of a type byte, for error messages.
fn type_name(t: u8) -> String {
    match t {
        TYPE_MODULE | TYPE_MODULE_2 => "module".into(),
        TYPE_STREAM_LISTPACKS | TYPE_STREAM_LISTPACKS_2 | 21 => "stream".into(),
        other => format!("unknown type {other}"),
    }
}

fn load_value(r: &mut Reader, t: u8, key: &[u8], type_at: usize) -> R<Value> {
    let key_text = String::from_utf8_lossy(key).into_owned();
    let unsupported = |r: &mut Reader| {
        r.pos = type_at;
        r.err(format!(
            "Key '{key_text}' has type {} (RDB type {t}), which respd does not support",
            type_name(t)
        ))
    };
    Ok(match t {
        TYPE_STRING => Value::from_bytes(r.string()?),
        TYPE_LIST => {
            let n = r.count()?;
            let mut list = VecDeque::with_capacity(n);
            for _ in 0..n {
                list.push_back(r.string()?);
            }
            non_empty(r, Value::List(list))?
        }
        TYPE_SET => {
            let n = r.count()?;
            let mut set = Dict::with_capacity(n);
            for _ in 0..n {
                // Redis rdbLoadObject refuses a repeated member (a corrupt dump or payload).
                if set.insert(r.string()?, ()).is_some() {
                    return r.err("Duplicate set members detected");
                }
            }
            non_empty(r, Value::Set(Box::new(Set::from_members(set))))?
        }
        TYPE_ZSET | TYPE_ZSET_2 => {
            let n = r.count()?;
            let mut z = ZSet::new();
            for _ in 0..n {
                let member = r.string()?;
                let score = if t == TYPE_ZSET_2 {
                    f64::from_le_bytes(r.array()?)
                } else {
                    r.text_double()?
                };
                if score.is_nan() {
                    return r.err("Zset with NAN score detected");
                }
                if !z.insert(&member, score) {
                    return r.err("Duplicate zset fields detected");
                }
            }
            z.reset_encoding();
            non_empty(r, Value::ZSet(Box::new(z)))?
        }
        TYPE_HASH => {
            let n = r.count()?;
            let mut h = Hash::default();
            for _ in 0..n {
                let f = r.string()?;
                let v = r.string()?;
                // Redis rdbLoadObject looks for repeated fields only in a hash too large for
                // a listpack; a small one it loads as is, keeping both copies (HLEN counts
                // two). respd cannot hold that: the last value wins, and the load succeeds
                // as in Redis.
                if h.insert(f, v).is_some()
                    && n > crate::store::encoding_limits::hash_max_listpack_entries()
                {
                    return r.err("Duplicate hash fields detected");
                }
            }
            non_empty(r, Value::Hash(Box::new(h)))?
        }
        TYPE_SET_INTSET => {
            let blob_at = r.pos;
            let blob = r.string()?;
            let ints = decode_intset(&blob).ok_or_else(|| bad_blob(blob_at, "intset"))?;
            let set: Dict<Vec<u8>, ()> = ints
                .into_iter()
                .map(|n| (n.to_string().into_bytes(), ()))
                .collect();
            non_empty(r, Value::Set(Box::new(Set::from_members(set))))?
        }
        TYPE_LIST_ZIPLIST | TYPE_ZSET_ZIPLIST | TYPE_HASH_ZIPLIST | TYPE_HASH_LISTPACK
        | TYPE_ZSET_LISTPACK | 20 => {
            let blob_at = r.pos;
            let blob = r.string()?;
            let listpack = matches!(t, TYPE_HASH_LISTPACK | TYPE_ZSET_LISTPACK | 20);
            let items = if listpack {
                decode_listpack(&blob).ok_or_else(|| bad_blob(blob_at, "listpack"))?
            } else {
                decode_ziplist(&blob).ok_or_else(|| bad_blob(blob_at, "ziplist"))?
            };
            let value = match t {
                TYPE_LIST_ZIPLIST => Value::List(items.into()),
                20 => {
                    let members = items.into_iter().map(|m| (m, ())).collect();
                    Value::Set(Box::new(Set::from_members(members)))
                }
                TYPE_HASH_ZIPLIST | TYPE_HASH_LISTPACK => {
                    if items.len() % 2 != 0 {
                        return Err(bad_blob(blob_at, "hash listpack (odd entry count)"));
                    }
                    let mut h = Hash::default();
                    let mut it = items.into_iter();
                    while let (Some(f), Some(v)) = (it.next(), it.next()) {
                        h.insert(f, v);
                    }
                    Value::Hash(Box::new(h))
                }
                _ => {
                    if items.len() % 2 != 0 {
                        return Err(bad_blob(blob_at, "sorted set listpack (odd entry count)"));
                    }
                    let mut z = ZSet::new();
                    let mut it = items.into_iter();
                    while let (Some(m), Some(s)) = (it.next(), it.next()) {
                        let score = crate::util::parse_f64(&s)
                            .filter(|d| !d.is_nan())
                            .ok_or_else(|| bad_blob(blob_at, "sorted set listpack (bad score)"))?;
                        z.insert(&m, score);
                    }
                    z.reset_encoding();
                    Value::ZSet(Box::new(z))
                }
            };
            non_empty(r, value)?
        }
        TYPE_LIST_QUICKLIST | TYPE_LIST_QUICKLIST_2 => {
            let nodes = r.count()?;
            let mut list = VecDeque::new();
            for _ in 0..nodes {
                let container = if t == TYPE_LIST_QUICKLIST_2 {
                    r.len()?
                } else {
                    2
                };
                let blob_at = r.pos;
                let blob = r.string()?;
                match (container, t) {
                    // QUICKLIST_NODE_CONTAINER_PLAIN: one big element stored as is.
                    (1, _) => list.push_back(blob),
                    (2, TYPE_LIST_QUICKLIST_2) => list.extend(
                        decode_listpack(&blob)
                            .ok_or_else(|| bad_blob(blob_at, "quicklist listpack node"))?,
                    ),
                    (2, _) => list.extend(
                        decode_ziplist(&blob)
                            .ok_or_else(|| bad_blob(blob_at, "quicklist ziplist node"))?,
                    ),
                    _ => return r.err(format!("Unknown quicklist node container {container}")),
                }
            }
            non_empty(r, Value::List(list))?
        }
        TYPE_HASH_ZIPMAP => {
            let blob_at = r.pos;
            let blob = r.string()?;
            let pairs = decode_zipmap(&blob).ok_or_else(|| bad_blob(blob_at, "zipmap"))?;
            non_empty(r, Value::Hash(Box::new(Hash::from_pairs(pairs))))?
        }
        _ => return unsupported(r),
    })
}

/// Redis refuses empty collections in a dump (they cannot exist); so does respd.
fn non_empty(r: &Reader, v: Value) -> R<Value> {
    let empty = match &v {
        Value::List(l) => l.is_empty(),
        Value::Set(s) => s.is_empty(),
        Value::Hash(h) => h.is_empty(),
        Value::ZSet(z) => z.is_empty(),
        _ => false,
    };
    if empty {
        return r.err("Empty collection in the dump (corrupt file)");
    }
    Ok(v)
}

fn bad_blob(offset: usize, what: &str) -> LoadError {
    LoadError {
        offset,
        message: format!("Corrupt {what} blob"),
    }
}

/// Reads an intset: u32 width (2, 4 or 8), u32 count, sorted little-endian integers.
pub fn decode_intset(b: &[u8]) -> Option<Vec<i64>> {
    let width = u32::from_le_bytes(b.get(0..4)?.try_into().ok()?) as usize;
    let count = u32::from_le_bytes(b.get(4..8)?.try_into().ok()?) as usize;
    if !matches!(width, 2 | 4 | 8) || b.len() != 8 + width.checked_mul(count)? {
        return None;
    }
    Some(
        b[8..]
            .chunks_exact(width)
            .map(|c| match width {
                2 => i64::from(i16::from_le_bytes([c[0], c[1]])),
                4 => i64::from(i32::from_le_bytes([c[0], c[1], c[2], c[3]])),
                _ => i64::from_le_bytes(c.try_into().expect("8 bytes")),
            })
            .collect(),
    )
}

// ---------------------------------------------------------------------------------------------
// Listpacks and quicklist nodes (writing)
// ---------------------------------------------------------------------------------------------

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
fn listpack<'a>(items: impl Iterator<Item = &'a Vec<u8>>) -> Vec<u8> {
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
pub fn quicklist_nodes(list: &VecDeque<Vec<u8>>, fill: i64) -> Vec<usize> {
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
pub fn decode_listpack(b: &[u8]) -> Option<Vec<Vec<u8>>> {
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
pub fn decode_ziplist(b: &[u8]) -> Option<Vec<Vec<u8>>> {
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
fn decode_zipmap(b: &[u8]) -> Option<Vec<(Vec<u8>, Vec<u8>)>> {
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

// ---------------------------------------------------------------------------------------------
// DUMP / RESTORE payloads
// ---------------------------------------------------------------------------------------------

/// Why a RESTORE payload was refused; each maps to one of Redis's two replies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayloadError {
    /// Shorter than its footer, from a newer RDB version, or a checksum mismatch (Redis
    /// `verifyDumpPayload`).
    VersionOrChecksum,
    /// The footer is fine but the value does not decode (Redis `rdbLoadObjectType` or
    /// `rdbLoadObject` failed). The [`LoadError`] says why, for the log.
    BadData(LoadError),
}

/// The bytes after the value: the RDB version (2 bytes) and the CRC64 (8 bytes).
const PAYLOAD_FOOTER: usize = 10;

/// Serializes a value as DUMP does (Redis `createDumpPayload`): its type byte and encoding
/// exactly as in an RDB file, the RDB version as 2 bytes little endian, then the CRC64 of
/// everything before it, 8 bytes little endian.
pub fn dump_payload(value: &Value, compression: bool) -> Vec<u8> {
    let options = WriteOptions {
        compression,
        checksum: false,
    };
    let mut w = Writer::new(Vec::new(), options);
    w.typed_object(value).expect("writing to a Vec cannot fail");
    let mut out = w.out;
    out.extend_from_slice(&(RDB_VERSION as u16).to_le_bytes());
    let crc = crc64(0, &out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Decodes a DUMP payload back into a value (Redis `verifyDumpPayload`, then
/// `rdbLoadObjectType` and `rdbLoadObject`). Bytes between the value and the footer are
/// ignored, as Redis ignores them. Every length inside is checked against the payload's size
/// before anything is allocated for it (see [`Reader::count`] and [`lzf_decompress`]).
pub fn restore_payload(payload: &[u8]) -> Result<Value, PayloadError> {
    let Some(body_len) = payload.len().checked_sub(PAYLOAD_FOOTER) else {
        return Err(PayloadError::VersionOrChecksum);
    };
    let (body, footer) = payload.split_at(body_len);
    let version = u16::from_le_bytes([footer[0], footer[1]]);
    if u32::from(version) > RDB_VERSION {
        return Err(PayloadError::VersionOrChecksum);
    }
    let stored = u64::from_le_bytes(footer[2..].try_into().expect("8 bytes"));
    if crc64(0, &payload[..body_len + 2]) != stored {
        return Err(PayloadError::VersionOrChecksum);
    }
    let mut r = Reader { data: body, pos: 0 };
    let t = r.u8().map_err(PayloadError::BadData)?;
    // Redis `rdbIsObjectType`: the value types of RDB 10 (8 was never used). Opcodes such
    // as EXPIRETIME or types of newer versions are not values here.
    if !matches!(t, 0..=7 | 9..=TYPE_STREAM_LISTPACKS_2) {
        return Err(PayloadError::BadData(LoadError {
            offset: 0,
            message: format!("Unknown object type {t}"),
        }));
    }
    load_value(&mut r, t, b"", 0).map_err(PayloadError::BadData)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc64_check_value() {
        // The standard check input for CRC-64/Jones ("123456789"), as in Redis's crc64 test.
        assert_eq!(crc64(0, b"123456789"), 0xe9c6d914c4b8d9ca);
    }

    #[test]
    fn lzf_round_trip() {
        let inputs: Vec<Vec<u8>> = vec![
            b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".to_vec(),
            b"hello hello hello hello hello world world world".to_vec(),
            (0..5000u32).map(|i| (i % 251) as u8).collect(),
            (0..3000u32).map(|i| (i * 7 % 13) as u8).collect(),
        ];
        for input in inputs {
            let packed = lzf_compress(&input, input.len()).expect("compressible");
            assert!(packed.len() < input.len());
            assert_eq!(lzf_decompress(&packed, input.len()).unwrap(), input);
        }
        // Incompressible input is refused rather than grown.
        let noise: Vec<u8> = (0..64u64)
            .map(|i| (i.wrapping_mul(0x9E3779B97F4A7C15) >> 56) as u8)
            .collect();
        assert!(lzf_compress(&noise, noise.len() - 4).is_none());
    }

    #[test]
    fn listpack_writer_round_trips_every_entry_encoding() {
        let mut items: Vec<Vec<u8>> = [
            "0",
            "127",
            "128",
            "-1",
            "-4096",
            "4095",
            "4096",
            "-32769",
            "32767",
            "8388607",
            "-8388609",
            "2147483648",
            "-9223372036854775808",
            "-0",
            "007",
            "",
        ]
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .collect();
        for len in [63, 64, 4095, 4096, 20000] {
            items.push(vec![b'x'; len]);
        }
        let lp = listpack(items.iter());
        assert_eq!(decode_listpack(&lp).unwrap(), items);
        assert_eq!(u16::from_le_bytes([lp[4], lp[5]]) as usize, items.len());
    }

    #[test]
    fn quicklist_nodes_split_as_redis_pushes_do() {
        let list = |n: usize, len: usize| -> VecDeque<Vec<u8>> {
            (0..n).map(|_| vec![b'a'; len]).collect()
        };
        // Entries of 100 bytes take 103 (2-byte header, 1-byte backlen); a node of k of them is 7 + 103k
        // bytes, and the next one fits while 7 + 103k + 100 + 8 <= limit.
        let per_node = |limit: usize| (limit - 7 - 108) / 103 + 1;
        assert_eq!(quicklist_nodes(&list(1000, 100), -2)[0], per_node(8192));
        assert_eq!(quicklist_nodes(&list(1000, 100), -1)[0], per_node(4096));
        assert_eq!(quicklist_nodes(&list(1000, 100), -5)[0], per_node(65536));
        assert_eq!(quicklist_nodes(&list(1000, 100), -9)[0], per_node(65536));
        // Positive: a count, under the 8 KB safety limit; 0 means one element per node.
        assert_eq!(quicklist_nodes(&list(10, 1), 3), vec![3, 3, 3, 1]);
        assert_eq!(quicklist_nodes(&list(3, 1), 0), vec![1, 1, 1]);
        assert_eq!(quicklist_nodes(&list(1000, 100), 1000)[0], per_node(8192));
        // An element larger than any node still gets one of its own.
        assert_eq!(quicklist_nodes(&list(2, 70000), -2), vec![1, 1]);
        assert!(quicklist_nodes(&VecDeque::new(), -2).is_empty());
        assert_eq!(
            quicklist_nodes(&list(1000, 100), -2).iter().sum::<usize>(),
            1000
        );
    }

    #[test]
    fn listpack_and_ziplist_integers() {
        // A listpack holding "a", 5, -1000, 100000: built by hand from the format.
        let mut lp = vec![0, 0, 0, 0, 4, 0];
        lp.extend_from_slice(&[0x81, b'a', 2]); // 6-bit string
        lp.extend_from_slice(&[0x05, 1]); // 7-bit uint
        let v = (-1000i16 as u16) & 0x1fff;
        lp.extend_from_slice(&[0xC0 | (v >> 8) as u8, v as u8, 2]); // 13-bit int
        lp.extend_from_slice(&[0xF2, 0xA0, 0x86, 0x01, 4]); // 24-bit int 100000
        lp.push(0xFF);
        let total = lp.len() as u32;
        lp[..4].copy_from_slice(&total.to_le_bytes());
        let items = decode_listpack(&lp).unwrap();
        assert_eq!(
            items,
            vec![
                b"a".to_vec(),
                b"5".to_vec(),
                b"-1000".to_vec(),
                b"100000".to_vec()
            ]
        );
    }

    #[test]
    fn ziplist_and_intset() {
        // A ziplist holding "a", 2 (immediate 4-bit int) and -1000 (int16), built by hand.
        let mut zl = vec![0; 10];
        zl.extend_from_slice(&[0x00, 0x01, b'a']);
        zl.extend_from_slice(&[0x03, 0xF3]);
        zl.extend_from_slice(&[0x02, 0xC0]);
        zl.extend_from_slice(&(-1000i16).to_le_bytes());
        zl.push(0xFF);
        let total = zl.len() as u32;
        zl[..4].copy_from_slice(&total.to_le_bytes());
        let items = decode_ziplist(&zl).unwrap();
        assert_eq!(items, vec![b"a".to_vec(), b"2".to_vec(), b"-1000".to_vec()]);
        assert!(decode_ziplist(&zl[..zl.len() - 1]).is_none());
        let ints = [-5, 1, 70000];
        assert_eq!(decode_intset(&intset_bytes(&ints)).unwrap(), ints);
    }
}
