//! The stream type: an append-only log of entries ordered by 128-bit IDs, with consumer groups.
//!
//! Counterpart of Redis `src/stream.h` and the "low level implementation" half of
//! `src/t_stream.c`, checked against Redis 7.0.15. The commands are in `cmd/stream.rs`.
//!
//! # Layout
//! Redis keeps a stream as a radix tree of listpacks ("nodes"): each node starts at the ID
//! of its first entry (the *master* ID), holds up to `stream-node-max-entries` entries or
//! `stream-node-max-bytes` bytes, and deleting an entry only flags it inside its node until
//! the whole node is empty. respd keeps the same nodes ([`Node`], in a `BTreeMap` keyed by
//! master ID) because they are observable: approximate trimming (`MAXLEN ~`) removes whole
//! nodes only, so how many entries survive depends on where the node boundaries fall; and an
//! RDB or DUMP payload carries the nodes as they are. A node's size in bytes is the size of
//! the listpack Redis would have built, computed as entries are appended.
//!
//! Inside a node the entries are packed into one buffer, each as flags, ID deltas from the
//! master ID and its values (or its fields and values when they differ from the master
//! entry's fields), as a listpack holds them; reads decode what they return. A stream of
//! small entries thus costs about what it costs Redis, not several allocations per entry.
//!
//! # Consumer groups
//! A group remembers the last ID it delivered, how many entries it has read (when that can be
//! known), its pending entries list (PEL: delivered, not yet acknowledged, each with its
//! owner, delivery time and count), and its consumers, each with the IDs it owns.

use std::collections::{BTreeMap, BTreeSet};

/// A stream entry ID: milliseconds and sequence number, compared as one 128-bit number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct StreamId {
    /// Milliseconds part.
    pub ms: u64,
    /// Sequence part.
    pub seq: u64,
}

impl StreamId {
    /// `0-0`, below every entry.
    pub const MIN: StreamId = StreamId { ms: 0, seq: 0 };
    /// The largest ID.
    pub const MAX: StreamId = StreamId {
        ms: u64::MAX,
        seq: u64::MAX,
    };

    /// An ID from its two parts.
    pub const fn new(ms: u64, seq: u64) -> StreamId {
        StreamId { ms, seq }
    }

    /// The next ID, or None after [`StreamId::MAX`] (Redis `streamIncrID`).
    pub fn next(self) -> Option<StreamId> {
        if self.seq == u64::MAX {
            if self.ms == u64::MAX {
                return None;
            }
            return Some(StreamId::new(self.ms + 1, 0));
        }
        Some(StreamId::new(self.ms, self.seq + 1))
    }

    /// The previous ID, or None before [`StreamId::MIN`] (Redis `streamDecrID`).
    pub(crate) fn prev(self) -> Option<StreamId> {
        if self.seq == 0 {
            if self.ms == 0 {
                return None;
            }
            return Some(StreamId::new(self.ms - 1, u64::MAX));
        }
        Some(StreamId::new(self.ms, self.seq - 1))
    }

    /// True for `0-0`.
    pub(crate) fn is_zero(self) -> bool {
        self == StreamId::MIN
    }

    /// `<ms>-<seq>`, as replies show it.
    pub fn to_bytes(self) -> Vec<u8> {
        format!("{}-{}", self.ms, self.seq).into_bytes()
    }
}

/// The fields of one entry, flattened: field, value, field, value...
pub(crate) type Fields = Vec<Vec<u8>>;

/// One entry of a node, decoded (for DUMP/RDB, and for a loader building a node).
#[derive(Debug, Clone, PartialEq)]
pub struct NodeEntry {
    /// The entry's ID.
    pub id: StreamId,
    /// Deleted by XDEL or an exact trim, still taking its place in the node.
    pub deleted: bool,
    /// Its fields and values.
    pub fields: Fields,
}

/// Entry flag: deleted (Redis `STREAM_ITEM_FLAG_DELETED`).
const FLAG_DELETED: u8 = 1;
/// Entry flag: same field names as the master entry, so only the values are stored (Redis
/// `STREAM_ITEM_FLAG_SAMEFIELDS`).
const FLAG_SAMEFIELDS: u8 = 2;

/// One node: what Redis keeps as one listpack under its master ID.
///
/// The entries are packed one after the other in `data`, as Redis packs them in a listpack:
/// a flags byte, the ID as deltas from the master ID, then, when the entry names the master
/// entry's fields in the same order, only its values, otherwise a field count and the
/// field/value pairs. Numbers are LEB128 varints and strings carry a varint length, where
/// Redis uses listpack encodings; the layout, not the bytes, is Redis's. One allocation per
/// node instead of several per entry is what keeps a stream of small entries small.
#[derive(Debug, Clone, Default)]
pub struct Node {
    /// The field names of the node's first entry (the master entry's fields).
    pub master_fields: Vec<Vec<u8>>,
    /// The packed entries, deleted ones included.
    data: Vec<u8>,
    /// How many entries `data` holds, deleted ones included.
    count: usize,
    /// How many entries are not deleted.
    pub live: usize,
    /// The size of the listpack Redis would hold for this node.
    pub bytes: usize,
    /// The ID of the node's last entry, deleted or not.
    last: StreamId,
}

fn put_varint(out: &mut Vec<u8>, mut n: u64) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn get_varint(data: &[u8], pos: &mut usize) -> u64 {
    let mut n = 0u64;
    let mut shift = 0;
    loop {
        let byte = data[*pos];
        *pos += 1;
        n |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return n;
        }
        shift += 7;
    }
}

fn get_bytes(data: &[u8], pos: &mut usize) -> Vec<u8> {
    let len = get_varint(data, pos) as usize;
    let out = data[*pos..*pos + len].to_vec();
    *pos += len;
    out
}

fn skip_bytes(data: &[u8], pos: &mut usize) {
    let len = get_varint(data, pos) as usize;
    *pos += len;
}

/// Where an entry sits in its node, and its header.
#[derive(Debug, Clone, Copy)]
struct Slot {
    /// Offset of the flags byte.
    at: usize,
    /// Offset just past the entry.
    end: usize,
    id: StreamId,
    flags: u8,
}

impl Node {
    /// An empty node whose master entry names `master_fields`.
    fn new(master_fields: Vec<Vec<u8>>) -> Node {
        Node {
            master_fields,
            ..Node::default()
        }
    }

    /// A node holding `entries` (a loader's), with `bytes` as its listpack size.
    pub(crate) fn from_entries(
        master: StreamId,
        master_fields: Vec<Vec<u8>>,
        entries: Vec<NodeEntry>,
        bytes: usize,
    ) -> Node {
        let mut node = Node::new(master_fields);
        for e in entries {
            node.push(master, e.id, &e.fields, e.deleted);
        }
        node.bytes = bytes;
        node
    }

    /// How many entries the node holds, deleted ones included.
    pub fn len(&self) -> usize {
        self.count
    }

    /// True when the node holds no entry at all.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// True when `fields` names the same fields as the master entry, in order (Redis then
    /// writes only the values: `STREAM_ITEM_FLAG_SAMEFIELDS`).
    pub(crate) fn same_fields(&self, fields: &Fields) -> bool {
        fields.len() / 2 == self.master_fields.len()
            && fields
                .chunks(2)
                .zip(&self.master_fields)
                .all(|(pair, master)| pair[0] == *master)
    }

    /// Appends an entry (its ID above every ID in the node).
    fn push(&mut self, master: StreamId, id: StreamId, fields: &Fields, deleted: bool) {
        let same = self.same_fields(fields);
        let mut flags = if same { FLAG_SAMEFIELDS } else { 0 };
        if deleted {
            flags |= FLAG_DELETED;
        }
        self.data.push(flags);
        put_varint(&mut self.data, id.ms.wrapping_sub(master.ms));
        put_varint(&mut self.data, id.seq.wrapping_sub(master.seq));
        if same {
            for value in fields.iter().skip(1).step_by(2) {
                put_varint(&mut self.data, value.len() as u64);
                self.data.extend_from_slice(value);
            }
        } else {
            put_varint(&mut self.data, (fields.len() / 2) as u64);
            for f in fields {
                put_varint(&mut self.data, f.len() as u64);
                self.data.extend_from_slice(f);
            }
        }
        self.count += 1;
        if !deleted {
            self.live += 1;
        }
        self.last = id;
    }

    /// The header of the entry at `at`, and where the next one starts.
    fn slot(&self, master: StreamId, at: usize) -> Slot {
        let data = &self.data;
        let mut pos = at;
        let flags = data[pos];
        pos += 1;
        let ms = master.ms.wrapping_add(get_varint(data, &mut pos));
        let seq = master.seq.wrapping_add(get_varint(data, &mut pos));
        let strings = if flags & FLAG_SAMEFIELDS != 0 {
            self.master_fields.len()
        } else {
            2 * get_varint(data, &mut pos) as usize
        };
        for _ in 0..strings {
            skip_bytes(data, &mut pos);
        }
        Slot {
            at,
            end: pos,
            id: StreamId::new(ms, seq),
            flags,
        }
    }

    /// The fields of the entry in `slot`.
    fn fields(&self, slot: &Slot) -> Fields {
        let data = &self.data;
        let mut pos = slot.at + 1;
        get_varint(data, &mut pos);
        get_varint(data, &mut pos);
        if slot.flags & FLAG_SAMEFIELDS != 0 {
            let mut out = Vec::with_capacity(2 * self.master_fields.len());
            for f in &self.master_fields {
                out.push(f.clone());
                out.push(get_bytes(data, &mut pos));
            }
            out
        } else {
            let n = 2 * get_varint(data, &mut pos) as usize;
            (0..n).map(|_| get_bytes(data, &mut pos)).collect()
        }
    }

    /// Every entry's slot, in order.
    fn slots(&self, master: StreamId) -> Vec<Slot> {
        let mut out = Vec::with_capacity(self.count);
        let mut at = 0;
        while at < self.data.len() {
            let slot = self.slot(master, at);
            at = slot.end;
            out.push(slot);
        }
        out
    }

    /// Every entry, decoded (DUMP and RDB write the node from these).
    pub fn entries(&self, master: StreamId) -> Vec<NodeEntry> {
        (self.slots(master).iter())
            .map(|slot| NodeEntry {
                id: slot.id,
                deleted: slot.flags & FLAG_DELETED != 0,
                fields: self.fields(slot),
            })
            .collect()
    }

    /// Marks the entry in `slot` deleted.
    fn mark_deleted(&mut self, slot: &Slot) {
        self.data[slot.at] |= FLAG_DELETED;
        self.live -= 1;
    }

    /// Heap bytes the node owns.
    fn heap_bytes(&self) -> usize {
        use super::memory::malloc_size;
        malloc_size(self.data.capacity())
            + malloc_size(self.master_fields.capacity() * std::mem::size_of::<Vec<u8>>())
            + (self.master_fields.iter())
                .map(|f| malloc_size(f.capacity()))
                .sum::<usize>()
    }
}

/// Bytes of one listpack element holding the integer `n` (Redis `lpEncodeIntegerGetType`
/// plus its one back-length byte).
fn lp_int_len(n: i64) -> usize {
    let body = if (0..=127).contains(&n) {
        1
    } else if (-4096..=4095).contains(&n) {
        2
    } else if (-32768..=32767).contains(&n) {
        3
    } else if (-8388608..=8388607).contains(&n) {
        4
    } else if (-2147483648..=2147483647).contains(&n) {
        5
    } else {
        9
    };
    body + 1
}

/// Bytes of one listpack element holding `s`: integers are stored as integers, strings with a
/// 1, 2 or 5-byte header, and every element ends with its back-length.
fn lp_elem_len(s: &[u8]) -> usize {
    if s.len() <= 20 {
        if let Some(n) = crate::util::parse_i64(s) {
            return lp_int_len(n);
        }
    }
    let body = if s.len() < 64 {
        1 + s.len()
    } else if s.len() < 4096 {
        2 + s.len()
    } else {
        5 + s.len()
    };
    let backlen = match body {
        0..=127 => 1,
        128..=16383 => 2,
        16384..=2097151 => 3,
        2097152..=268435455 => 4,
        _ => 5,
    };
    body + backlen
}

/// A pending entry: delivered to a consumer of a group, not acknowledged yet (Redis
/// `streamNACK`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    /// Unix ms of the last delivery.
    pub delivery_time: u64,
    /// How many times it was delivered.
    pub delivery_count: u64,
    /// The consumer that owns it.
    pub consumer: Vec<u8>,
}

/// A consumer of a group (Redis `streamConsumer`).
#[derive(Debug, Clone, Default)]
pub struct Consumer {
    /// Unix ms of the last time it read or claimed.
    pub seen_time: u64,
    /// The IDs it owns in the group's PEL.
    pub pel: BTreeSet<StreamId>,
}

/// A consumer group (Redis `streamCG`).
#[derive(Debug, Clone, Default)]
pub struct ConsumerGroup {
    /// The last ID delivered to a consumer with `>`.
    pub last_id: StreamId,
    /// How many entries the group has read, -1 when unknown (Redis
    /// `SCG_INVALID_ENTRIES_READ`).
    pub entries_read: i64,
    /// Pending entries, by ID.
    pub pel: BTreeMap<StreamId, Pending>,
    /// Consumers, by name.
    pub consumers: BTreeMap<Vec<u8>, Consumer>,
}

/// Redis `SCG_INVALID_ENTRIES_READ`.
pub(crate) const INVALID_ENTRIES_READ: i64 = -1;

impl ConsumerGroup {
    /// A group that delivers after `last_id`.
    pub fn new(last_id: StreamId, entries_read: i64) -> ConsumerGroup {
        ConsumerGroup {
            last_id,
            entries_read,
            pel: BTreeMap::new(),
            consumers: BTreeMap::new(),
        }
    }

    /// Removes `id` from the PEL and from its owner's list; returns what was pending.
    pub(crate) fn remove_pending(&mut self, id: StreamId) -> Option<Pending> {
        let pending = self.pel.remove(&id)?;
        if let Some(c) = self.consumers.get_mut(&pending.consumer) {
            c.pel.remove(&id);
        }
        Some(pending)
    }

    /// Makes `consumer` own pending `id` (which must be in the PEL), moving it from its
    /// previous owner.
    pub(crate) fn assign(&mut self, id: StreamId, consumer: &[u8]) {
        let Some(pending) = self.pel.get_mut(&id) else {
            return;
        };
        if pending.consumer != consumer {
            if let Some(old) = self.consumers.get_mut(&pending.consumer) {
                old.pel.remove(&id);
            }
            pending.consumer = consumer.to_vec();
        }
        if let Some(c) = self.consumers.get_mut(consumer) {
            c.pel.insert(id);
        }
    }
}

/// A stream (Redis `stream`).
#[derive(Debug, Clone, Default)]
pub struct Stream {
    /// Nodes by master ID.
    nodes: BTreeMap<StreamId, Node>,
    /// Live entries.
    length: u64,
    /// The ID of the last entry ever added (or set by XSETID).
    pub last_id: StreamId,
    /// The first live entry's ID, 0-0 when empty.
    pub first_id: StreamId,
    /// The largest ID ever deleted.
    pub max_deleted_entry_id: StreamId,
    /// Entries ever added.
    pub entries_added: u64,
    /// Consumer groups by name.
    pub groups: BTreeMap<Vec<u8>, ConsumerGroup>,
}

/// Why an append failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppendError {
    /// The ID is not greater than the last one (or no ID is left).
    NotGreater,
    /// The fields are too large for a node.
    TooLarge,
}

/// The most bytes a node may hold (Redis `STREAM_LISTPACK_MAX_SIZE`).
const NODE_MAX_SIZE: usize = 1 << 30;

/// How to trim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trim {
    /// Keep at most this many entries.
    MaxLen(u64),
    /// Keep no entry below this ID.
    MinId(StreamId),
}

impl Stream {
    /// An empty stream.
    pub fn new() -> Stream {
        Stream::default()
    }

    /// Live entries.
    pub fn len(&self) -> u64 {
        self.length
    }

    /// True when no entry is live.
    pub fn is_empty(&self) -> bool {
        self.length == 0
    }

    /// The nodes, by master ID (for DUMP/RDB and XINFO).
    pub fn nodes(&self) -> &BTreeMap<StreamId, Node> {
        &self.nodes
    }

    /// Adds a whole node as read from a dump; `length` and the metadata are set by the
    /// loader.
    pub(crate) fn push_loaded_node(&mut self, master: StreamId, node: Node) {
        self.length += node.live as u64;
        self.nodes.insert(master, node);
    }

    /// The live entries the loaded nodes hold (a loader checks the length it read against
    /// it).
    pub(crate) fn loaded_length(&self) -> u64 {
        self.length
    }

    /// Appends an entry with `id` (already checked or generated by the caller), opening a new
    /// node when the tail one is full (Redis `streamAppendItem`).
    pub fn append(
        &mut self,
        id: StreamId,
        fields: Fields,
        node_max_entries: usize,
        node_max_bytes: usize,
    ) -> Result<(), AppendError> {
        if id <= self.last_id {
            return Err(AppendError::NotGreater);
        }
        let total: usize = fields.iter().map(|f| f.len()).sum();
        if total > NODE_MAX_SIZE {
            return Err(AppendError::TooLarge);
        }
        let max_bytes = if node_max_bytes == 0 || node_max_bytes > NODE_MAX_SIZE {
            NODE_MAX_SIZE
        } else {
            node_max_bytes
        };
        let need_new = match self.nodes.values().next_back() {
            None => true,
            Some(tail) => {
                tail.bytes + total >= max_bytes
                    || (node_max_entries > 0 && tail.len() >= node_max_entries)
            }
        };
        if need_new {
            if let Some(tail) = self.nodes.values_mut().next_back() {
                tail.data.shrink_to_fit();
            }
            let master_fields: Vec<Vec<u8>> = fields.chunks(2).map(|p| p[0].clone()).collect();
            // header (6) + terminator (1) + count, deleted, num-fields, the fields, the 0
            let mut bytes =
                7 + lp_int_len(1) + lp_int_len(0) + lp_int_len(master_fields.len() as i64);
            bytes += master_fields.iter().map(|f| lp_elem_len(f)).sum::<usize>();
            bytes += lp_int_len(0);
            let mut node = Node::new(master_fields);
            node.bytes = bytes;
            self.nodes.insert(id, node);
        }
        let (master, node) = self.nodes.iter_mut().next_back().expect("a tail node");
        let same = node.same_fields(&fields);
        let ms_delta = id.ms.wrapping_sub(master.ms) as i64;
        let seq_delta = id.seq.wrapping_sub(master.seq) as i64;
        let nfields = fields.len() / 2;
        let mut add = lp_int_len(0) + lp_int_len(ms_delta) + lp_int_len(seq_delta);
        let mut lp_count = nfields + 3;
        if same {
            add += (fields.iter().skip(1).step_by(2))
                .map(|v| lp_elem_len(v))
                .sum::<usize>();
        } else {
            add += lp_int_len(nfields as i64);
            add += fields.iter().map(|f| lp_elem_len(f)).sum::<usize>();
            lp_count += nfields + 1;
        }
        add += lp_int_len(lp_count as i64);
        node.bytes += add;
        node.push(*master, id, &fields, false);
        self.length += 1;
        self.entries_added += 1;
        self.last_id = id;
        if self.length == 1 {
            self.first_id = id;
        }
        Ok(())
    }

    /// The live entries with IDs in `start..=end`, in order (reversed if `rev`), decoded.
    pub fn range(
        &self,
        start: StreamId,
        end: StreamId,
        rev: bool,
    ) -> Box<dyn Iterator<Item = (StreamId, Fields)> + '_> {
        if start > end {
            return Box::new(std::iter::empty());
        }
        // The node holding `start` may begin before it.
        let from = self
            .nodes
            .range(..=start)
            .next_back()
            .map(|(k, _)| *k)
            .unwrap_or(StreamId::MIN);
        let nodes = self.nodes.range(from..=end);
        let live =
            move |slot: &Slot| slot.flags & FLAG_DELETED == 0 && slot.id >= start && slot.id <= end;
        if rev {
            Box::new(nodes.rev().flat_map(move |(master, node)| {
                let mut slots = node.slots(*master);
                slots.reverse();
                slots
                    .into_iter()
                    .filter(live)
                    .map(move |slot| (slot.id, node.fields(&slot)))
            }))
        } else {
            Box::new(nodes.flat_map(move |(master, node)| {
                node.slots(*master)
                    .into_iter()
                    .filter(live)
                    .map(move |slot| (slot.id, node.fields(&slot)))
            }))
        }
    }

    /// The node that would hold `id`, and the slot of the entry `id` in it, if any.
    fn find(&self, id: StreamId) -> Option<(StreamId, Slot)> {
        let (master, node) = self.nodes.range(..=id).next_back()?;
        if id > node.last {
            return None;
        }
        let mut at = 0;
        while at < node.data.len() {
            let slot = node.slot(*master, at);
            if slot.id == id {
                return Some((*master, slot));
            }
            if slot.id > id {
                return None;
            }
            at = slot.end;
        }
        None
    }

    /// The live entry `id`, if any.
    pub fn get(&self, id: StreamId) -> Option<Fields> {
        let (master, slot) = self.find(id)?;
        if slot.flags & FLAG_DELETED != 0 {
            return None;
        }
        Some(self.nodes[&master].fields(&slot))
    }

    /// True when entry `id` is live.
    pub fn contains(&self, id: StreamId) -> bool {
        self.find(id)
            .is_some_and(|(_, slot)| slot.flags & FLAG_DELETED == 0)
    }

    /// The first live entry's ID (or the last one's with `last`).
    pub(crate) fn edge_id(&self, last: bool) -> Option<StreamId> {
        let pick = |(master, node): (&StreamId, &Node)| {
            let slots = node.slots(*master);
            let mut live = slots.into_iter().filter(|s| s.flags & FLAG_DELETED == 0);
            if last {
                live.next_back().map(|s| s.id)
            } else {
                live.next().map(|s| s.id)
            }
        };
        if last {
            self.nodes.iter().rev().find_map(pick)
        } else {
            self.nodes.iter().find_map(pick)
        }
    }

    /// Deletes entry `id`; false if it is not live (Redis `streamDeleteItem`). A node left
    /// without live entries goes away.
    pub fn delete(&mut self, id: StreamId) -> bool {
        let Some((master, slot)) = self.find(id) else {
            return false;
        };
        if slot.flags & FLAG_DELETED != 0 {
            return false;
        }
        let node = self.nodes.get_mut(&master).expect("found");
        node.mark_deleted(&slot);
        if node.live == 0 {
            self.nodes.remove(&master);
        }
        self.length -= 1;
        true
    }

    /// XDEL of `ids`: deletes the live ones, keeps the deleted-ID high mark and the first ID.
    /// Returns how many were deleted.
    pub(crate) fn delete_ids(&mut self, ids: &[StreamId]) -> u64 {
        let mut deleted = 0;
        let mut first_gone = false;
        for &id in ids {
            if self.delete(id) {
                if id == self.first_id {
                    first_gone = true;
                }
                if id > self.max_deleted_entry_id {
                    self.max_deleted_entry_id = id;
                }
                deleted += 1;
            }
        }
        if deleted > 0 {
            if self.length == 0 {
                self.first_id = StreamId::MIN;
            } else if first_gone {
                self.first_id = self.edge_id(false).unwrap_or_default();
            }
        }
        deleted
    }

    /// Trims from the head (Redis `streamTrim`): whole nodes while they can go, then, unless
    /// `approx`, entries inside the next node. `limit` (0: none) caps the entries removed, a
    /// node at a time. Returns how many entries were removed.
    pub fn trim(&mut self, how: Trim, approx: bool, limit: u64) -> u64 {
        let mut deleted: u64 = 0;
        loop {
            if let Trim::MaxLen(max) = how {
                if self.length <= max {
                    break;
                }
            }
            let Some((&master, node)) = self.nodes.iter_mut().next() else {
                break;
            };
            let entries = node.live as u64;
            if limit > 0 && deleted + entries > limit {
                break;
            }
            let remove_node = match how {
                Trim::MaxLen(max) => self.length - entries >= max,
                Trim::MinId(min) => node.last < min,
            };
            if remove_node {
                self.nodes.remove(&master);
                self.length -= entries;
                deleted += entries;
                continue;
            }
            if approx {
                break;
            }
            for slot in node.slots(master) {
                let stop = match how {
                    Trim::MaxLen(max) => self.length <= max,
                    Trim::MinId(min) => slot.id >= min,
                };
                if stop {
                    break;
                }
                if slot.flags & FLAG_DELETED == 0 {
                    node.mark_deleted(&slot);
                    self.length -= 1;
                    deleted += 1;
                }
            }
            break;
        }
        if self.length == 0 {
            self.first_id = StreamId::MIN;
        } else if deleted > 0 {
            self.first_id = self.edge_id(false).unwrap_or_default();
        }
        deleted
    }

    /// Redis `streamRangeHasTombstones`: could an entry between `start` and the end have
    /// been deleted?
    pub(crate) fn range_has_tombstones(&self, start: StreamId) -> bool {
        if self.length == 0 || self.max_deleted_entry_id.is_zero() {
            return false;
        }
        if self.first_id > self.max_deleted_entry_id {
            return false;
        }
        start <= self.max_deleted_entry_id
    }

    /// Redis `streamEstimateDistanceFromFirstEverEntry`: how many entries were added up to
    /// `id`, or -1 when that cannot be known.
    pub(crate) fn entries_read_at(&self, id: StreamId) -> i64 {
        if self.entries_added == 0 {
            return 0;
        }
        if self.length == 0 && id <= self.last_id {
            return self.entries_added as i64;
        }
        if id == self.last_id {
            return self.entries_added as i64;
        } else if id > self.last_id {
            return INVALID_ENTRIES_READ;
        }
        if self.max_deleted_entry_id.is_zero() || self.max_deleted_entry_id < self.first_id {
            if id < self.first_id {
                return (self.entries_added - self.length) as i64;
            } else if id == self.first_id {
                return (self.entries_added - self.length + 1) as i64;
            }
        }
        INVALID_ENTRIES_READ
    }

    /// The group's lag (Redis `streamReplyWithCGLag`), None when it cannot be known.
    pub(crate) fn lag(&self, group: &ConsumerGroup) -> Option<i64> {
        if self.entries_added == 0 {
            return Some(0);
        }
        if group.entries_read != INVALID_ENTRIES_READ && !self.range_has_tombstones(group.last_id) {
            return Some(self.entries_added as i64 - group.entries_read);
        }
        let read = self.entries_read_at(group.last_id);
        (read != INVALID_ENTRIES_READ).then(|| self.entries_added as i64 - read)
    }

    /// Notes that `group` delivered `id` past its last ID (Redis `streamReplyWithRange`'s
    /// bookkeeping): advances the last ID and the read counter.
    pub(crate) fn advance_group(&mut self, group_name: &[u8], id: StreamId) {
        let has_tomb = self.range_has_tombstones(id);
        let estimate = self.entries_read_at(id);
        let added = self.entries_added;
        if let Some(g) = self.groups.get_mut(group_name) {
            if id > g.last_id {
                if g.entries_read != INVALID_ENTRIES_READ && !has_tomb {
                    g.entries_read += 1;
                } else if added > 0 {
                    g.entries_read = estimate;
                }
                g.last_id = id;
            }
        }
    }

    /// Heap bytes this stream owns (MEMORY USAGE, `used_memory`): its nodes measured on the
    /// first `samples` of them and extrapolated to all (`usize::MAX` measures every one), then
    /// its groups, measured whole. Counted from the structures respd allocates, rounded as
    /// malloc rounds (see [`super::memory`]); not the listpack bytes Redis would use, which
    /// are smaller.
    pub(crate) fn memory_usage(&self, samples: usize) -> usize {
        use super::memory::{extrapolate, malloc_size};
        use std::mem::size_of;
        let bytes = |v: &Vec<u8>| malloc_size(v.capacity());
        // A B-tree node holds up to 11 keys and values: count one slot per element.
        let tree_slot = |k: usize, v: usize| k + v + 8;
        let mut measured = 0;
        let mut sampled = 0;
        for node in self.nodes.values().take(samples.max(1)) {
            measured += tree_slot(size_of::<StreamId>(), size_of::<Node>());
            measured += node.heap_bytes();
            sampled += 1;
        }
        let nodes = extrapolate(measured, sampled, self.nodes.len());
        let groups: usize = (self.groups.iter())
            .map(|(name, g)| {
                let pel = g.pel.values().map(|p| {
                    tree_slot(size_of::<StreamId>(), size_of::<Pending>()) + bytes(&p.consumer)
                });
                let consumers = g.consumers.iter().map(|(n, c)| {
                    tree_slot(size_of::<Vec<u8>>(), size_of::<Consumer>())
                        + bytes(n)
                        + c.pel.len() * tree_slot(size_of::<StreamId>(), 0)
                });
                tree_slot(size_of::<Vec<u8>>(), size_of::<ConsumerGroup>())
                    + bytes(name)
                    + pel.sum::<usize>()
                    + consumers.sum::<usize>()
            })
            .sum();
        nodes + groups
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f() -> Fields {
        vec![b"a".to_vec(), b"1".to_vec()]
    }

    #[test]
    fn approximate_trim_removes_whole_nodes_only() {
        let mut s = Stream::new();
        for i in 1..=100 {
            s.append(StreamId::new(i, 0), f(), 10, 4096).unwrap();
        }
        assert_eq!(s.nodes().len(), 10);
        assert_eq!(s.trim(Trim::MaxLen(55), true, 0), 40);
        assert_eq!(s.len(), 60);
        assert_eq!(s.trim(Trim::MaxLen(55), false, 0), 5);
        assert_eq!(s.len(), 55);
        assert_eq!(s.first_id, StreamId::new(46, 0));
    }

    #[test]
    fn delete_and_range() {
        let mut s = Stream::new();
        for i in 1..=5 {
            s.append(StreamId::new(i, 0), f(), 2, 4096).unwrap();
        }
        assert_eq!(s.delete_ids(&[StreamId::new(1, 0), StreamId::new(2, 0)]), 2);
        assert_eq!(s.nodes().len(), 2);
        assert_eq!(s.first_id, StreamId::new(3, 0));
        let ids: Vec<u64> = s
            .range(StreamId::MIN, StreamId::MAX, true)
            .map(|(id, _)| id.ms)
            .collect();
        assert_eq!(ids, vec![5, 4, 3]);
        assert_eq!(s.max_deleted_entry_id, StreamId::new(2, 0));
    }
}
