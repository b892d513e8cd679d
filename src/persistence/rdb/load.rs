//! Reading the RDB format: [`load`] walks a whole file into a keyspace, with an exact byte
//! offset in every error.

use super::*;
use crate::store::stream::{Consumer, ConsumerGroup, NodeEntry, Pending};

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
    /// The code of each function library, in file order.
    pub functions: Vec<Vec<u8>>,
}

/// One key read from a dump.
struct Loaded {
    db: usize,
    key: Vec<u8>,
    value: Value,
    expire_at: Option<u64>,
}

/// A cursor over the file's bytes that knows its offset for error messages.
pub(super) struct Reader<'a> {
    pub(super) data: &'a [u8],
    pub(super) pos: usize,
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

    pub(super) fn u8(&mut self) -> R<u8> {
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

    pub(super) fn string(&mut self) -> R<Vec<u8>> {
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
pub(crate) static LOAD_TOTAL: AtomicU64 = AtomicU64::new(0);
/// Bytes of the dump read so far, updated after every key (one relaxed store: cheap).
pub(crate) static LOAD_DONE: AtomicU64 = AtomicU64::new(0);

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
            OP_FUNCTION2 => {
                // Loaded into the interpreter by the caller, once the server runs.
                stats.functions.push(r.string()?);
            }
            OP_FUNCTION_PRE_GA => {
                r.pos = op_at;
                return r.err("The dump holds functions in the format of Redis 7.0's release candidates, which respd does not read");
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

pub(super) fn load_value(r: &mut Reader, t: u8, key: &[u8], type_at: usize) -> R<Value> {
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
        TYPE_STREAM_LISTPACKS | TYPE_STREAM_LISTPACKS_2 => {
            Value::Stream(Box::new(load_stream(r, t == TYPE_STREAM_LISTPACKS_2)?))
        }
        _ => return unsupported(r),
    })
}

/// Reads a 16-byte big-endian stream ID (Redis `streamDecodeID`).
fn raw_stream_id(r: &mut Reader) -> R<StreamId> {
    let b: [u8; 16] = r.array()?;
    let ms = u64::from_be_bytes(b[..8].try_into().expect("8 bytes"));
    let seq = u64::from_be_bytes(b[8..].try_into().expect("8 bytes"));
    Ok(StreamId::new(ms, seq))
}

/// A stream, `RDB_TYPE_STREAM_LISTPACKS_2` (`v2`, Redis 7.0) or the older
/// `RDB_TYPE_STREAM_LISTPACKS` (Redis 5 and 6, without the first ID, deleted-ID high mark,
/// entries-added and entries-read counters, which are then derived as Redis derives them).
fn load_stream(r: &mut Reader, v2: bool) -> R<Stream> {
    let mut s = Stream::new();
    let nodes = r.count()?;
    for _ in 0..nodes {
        let key_at = r.pos;
        let key = r.string()?;
        if key.len() != 16 {
            return Err(bad_blob(key_at, "stream node key"));
        }
        let master = StreamId::new(
            u64::from_be_bytes(key[..8].try_into().expect("8 bytes")),
            u64::from_be_bytes(key[8..].try_into().expect("8 bytes")),
        );
        let blob_at = r.pos;
        let blob = r.string()?;
        let items = decode_listpack(&blob).ok_or_else(|| bad_blob(blob_at, "stream listpack"))?;
        let node = stream_node(master, &items, blob.len())
            .ok_or_else(|| bad_blob(blob_at, "stream listpack"))?;
        if node.is_empty() {
            return r.err("Empty listpack inside stream");
        }
        s.push_loaded_node(master, node);
    }
    let length = r.len()?;
    s.last_id = StreamId::new(r.len()?, r.len()?);
    if v2 {
        s.first_id = StreamId::new(r.len()?, r.len()?);
        s.max_deleted_entry_id = StreamId::new(r.len()?, r.len()?);
        s.entries_added = r.len()?;
    } else {
        s.first_id = s.edge_id(false).unwrap_or_default();
        s.entries_added = length;
    }
    if length != s.loaded_length() {
        return r.err("Stream length inconsistent with its nodes");
    }
    let groups = r.count()?;
    for _ in 0..groups {
        let name = r.string()?;
        let last_id = StreamId::new(r.len()?, r.len()?);
        let entries_read = if v2 {
            r.len()? as i64
        } else {
            s.entries_read_at(last_id)
        };
        let mut group = ConsumerGroup::new(last_id, entries_read);
        let pel = r.count()?;
        for _ in 0..pel {
            let id = raw_stream_id(r)?;
            let delivery_time = u64::from_le_bytes(r.array()?);
            let delivery_count = r.len()?;
            let pending = Pending {
                delivery_time,
                delivery_count,
                consumer: Vec::new(),
            };
            if group.pel.insert(id, pending).is_some() {
                return r.err("Duplicated global PEL entry loading stream consumer group");
            }
        }
        let consumers = r.count()?;
        for _ in 0..consumers {
            let cname = r.string()?;
            let seen_time = u64::from_le_bytes(r.array()?);
            let mut consumer = Consumer {
                seen_time,
                pel: Default::default(),
            };
            let owned = r.count()?;
            for _ in 0..owned {
                let id = raw_stream_id(r)?;
                match group.pel.get_mut(&id) {
                    Some(p) => p.consumer = cname.clone(),
                    None => {
                        return r.err("Consumer entry not found in group global PEL");
                    }
                }
                consumer.pel.insert(id);
            }
            if group.consumers.insert(cname, consumer).is_some() {
                return r.err("Duplicated consumer name loading stream consumer group");
            }
        }
        if group.pel.values().any(|p| p.consumer.is_empty()) {
            return r.err("Stream PEL entry without a consumer");
        }
        if s.groups.insert(name, group).is_some() {
            return r.err("Duplicated consumer group name loading stream");
        }
    }
    Ok(s)
}

/// Decodes one stream node's listpack items (see the writer's `stream_node_listpack`).
fn stream_node(master: StreamId, items: &[Vec<u8>], bytes: usize) -> Option<Node> {
    let int = |b: &Vec<u8>| crate::util::parse_i64(b);
    let mut it = items.iter();
    let _count = int(it.next()?)?;
    let _deleted = int(it.next()?)?;
    let nmaster = usize::try_from(int(it.next()?)?).ok()?;
    let master_fields: Vec<Vec<u8>> = it.by_ref().take(nmaster).cloned().collect();
    if master_fields.len() != nmaster || int(it.next()?)? != 0 {
        return None;
    }
    let mut entries: Vec<NodeEntry> = Vec::new();
    while let Some(flags) = it.next() {
        let flags = int(flags)?;
        let ms = master.ms.wrapping_add(int(it.next()?)? as u64);
        let seq = master.seq.wrapping_add(int(it.next()?)? as u64);
        let mut fields = Vec::new();
        if flags & 2 != 0 {
            for f in &master_fields {
                fields.push(f.clone());
                fields.push(it.next()?.clone());
            }
        } else {
            let n = usize::try_from(int(it.next()?)?).ok()?;
            for _ in 0..2 * n {
                fields.push(it.next()?.clone());
            }
        }
        let _lp_count = it.next()?;
        let id = StreamId::new(ms, seq);
        // IDs must grow inside a node (Redis's deep check refuses the payload otherwise).
        if entries.last().is_some_and(|e| e.id >= id) {
            return None;
        }
        entries.push(NodeEntry {
            id,
            deleted: flags & 1 != 0,
            fields,
        });
    }
    let node = Node::from_entries(master, master_fields, entries, bytes);
    Some(node)
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
pub(crate) fn decode_intset(b: &[u8]) -> Option<Vec<i64>> {
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
