//! Writing the RDB format: the [`Writer`] and the whole-keyspace writers built on it.

use super::*;

/// Options that change the bytes written (`rdbcompression`, `rdbchecksum`).
#[derive(Debug, Clone, Copy)]
pub struct WriteOptions {
    /// Compress strings longer than 20 bytes with LZF.
    pub compression: bool,
    /// Write the CRC64 trailer; zero when off (Redis's "checksum disabled" marker).
    pub checksum: bool,
}

/// Streams an RDB file into `W`, keeping the running CRC64 of everything written.
pub(crate) struct Writer<W: Write> {
    pub(super) out: W,
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
    pub(crate) fn select_db(
        &mut self,
        index: usize,
        keys: usize,
        expires: usize,
    ) -> io::Result<()> {
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
    pub(super) fn typed_object(&mut self, value: &Value) -> io::Result<()> {
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
            Value::Stream(s) => self.stream(s),
        }
    }

    /// A stream as `RDB_TYPE_STREAM_LISTPACKS_2` (Redis `rdbSaveObject`): each node as its
    /// 16-byte big-endian master ID and its listpack, then the length, last ID, first ID,
    /// largest deleted ID and entries added, then each group with its PEL and consumers.
    fn stream(&mut self, s: &Stream) -> io::Result<()> {
        self.len(s.nodes().len() as u64)?;
        for (master, node) in s.nodes() {
            self.string(&stream_id_bytes(*master))?;
            self.string(&stream_node_listpack(*master, node))?;
        }
        self.len(s.len())?;
        for id in [s.last_id, s.first_id, s.max_deleted_entry_id] {
            self.len(id.ms)?;
            self.len(id.seq)?;
        }
        self.len(s.entries_added)?;
        self.len(s.groups.len() as u64)?;
        for (name, group) in &s.groups {
            self.string(name)?;
            self.len(group.last_id.ms)?;
            self.len(group.last_id.seq)?;
            // -1 (unknown) is written as a 64-bit length, as Redis does.
            self.len(group.entries_read as u64)?;
            self.len(group.pel.len() as u64)?;
            for (id, pending) in &group.pel {
                self.raw(&stream_id_bytes(*id))?;
                self.raw(&pending.delivery_time.to_le_bytes())?;
                self.len(pending.delivery_count)?;
            }
            self.len(group.consumers.len() as u64)?;
            for (cname, consumer) in &group.consumers {
                self.string(cname)?;
                self.raw(&consumer.seen_time.to_le_bytes())?;
                self.len(consumer.pel.len() as u64)?;
                for id in &consumer.pel {
                    self.raw(&stream_id_bytes(*id))?;
                }
            }
        }
        Ok(())
    }

    /// A function library (Redis `rdbSaveFunctions`): the FUNCTION2 opcode, then its code.
    pub fn function(&mut self, code: &[u8]) -> io::Result<()> {
        self.raw(&[super::OP_FUNCTION2])?;
        self.string(code)
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
        Value::Stream(_) => TYPE_STREAM_LISTPACKS_2,
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
pub(super) fn intset_bytes(sorted: &[i64]) -> Vec<u8> {
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
pub(crate) fn write_keyspace<W: Write>(
    out: W,
    options: WriteOptions,
    functions: &[Vec<u8>],
    dbs: &[Vec<(Vec<u8>, Entry)>],
    now_ms: u64,
    used_mem: u64,
) -> io::Result<W> {
    let mut w = Writer::new(out, options);
    w.header(now_ms, used_mem)?;
    for code in functions {
        w.function(code)?;
    }
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
pub(crate) fn write_db<'a, W: Write, I: Iterator<Item = (&'a [u8], &'a Entry)>>(
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
    functions: &[Vec<u8>],
    ks: &Keyspace,
    now_ms: u64,
    used_mem: u64,
) -> io::Result<W> {
    let mut w = Writer::new(out, options);
    w.header(now_ms, used_mem)?;
    for code in functions {
        w.function(code)?;
    }
    for (index, db) in ks.dbs().iter().enumerate() {
        write_db(&mut w, index, || db.iter(), now_ms)?;
    }
    w.finish()
}

/// A stream ID as Redis keys its radix trees: ms then seq, both big-endian.
pub(super) fn stream_id_bytes(id: StreamId) -> [u8; 16] {
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&id.ms.to_be_bytes());
    out[8..].copy_from_slice(&id.seq.to_be_bytes());
    out
}

/// Redis's entry flags inside a stream listpack.
const STREAM_ITEM_DELETED: i64 = 1;
const STREAM_ITEM_SAMEFIELDS: i64 = 2;

/// The listpack of one stream node as Redis lays it out (`streamAppendItem`): the master
/// entry (live count, deleted count, the field names, a 0), then each entry as flags, ID
/// deltas from the master, the field count and names unless they are the master's, the
/// values, and the number of elements the entry took.
fn stream_node_listpack(master: StreamId, node: &Node) -> Vec<u8> {
    let int = |n: i64| n.to_string().into_bytes();
    let mut items: Vec<Vec<u8>> = vec![
        int(node.live as i64),
        int((node.len() - node.live) as i64),
        int(node.master_fields.len() as i64),
    ];
    items.extend(node.master_fields.iter().cloned());
    items.push(int(0));
    for e in &node.entries(master) {
        let same = node.same_fields(&e.fields);
        let mut flags = if same { STREAM_ITEM_SAMEFIELDS } else { 0 };
        if e.deleted {
            flags |= STREAM_ITEM_DELETED;
        }
        let nfields = e.fields.len() / 2;
        items.push(int(flags));
        items.push(int(e.id.ms.wrapping_sub(master.ms) as i64));
        items.push(int(e.id.seq.wrapping_sub(master.seq) as i64));
        if same {
            items.extend(e.fields.iter().skip(1).step_by(2).cloned());
        } else {
            items.push(int(nfields as i64));
            items.extend(e.fields.iter().cloned());
        }
        let lp_count = if same { nfields + 3 } else { 2 * nfields + 4 };
        items.push(int(lp_count as i64));
    }
    listpack(items.iter())
}
