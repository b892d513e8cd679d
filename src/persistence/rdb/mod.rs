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
//!
//! # Files
//! This file holds the format's constants and DUMP/RESTORE payloads; `write.rs` the writer,
//! `load.rs` the loader, `blobs.rs` the listpacks, ziplists, intsets and zipmaps inside a
//! dump, and `crc64.rs` and `lzf.rs` the checksum and the compression.

use std::collections::VecDeque;
use std::fmt;
use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::store::encoding_limits;
use crate::store::stream::Node;
use crate::store::{Dict, Entry, Hash, Keyspace, Set, Stream, StreamId, Value, ZSet};

mod blobs;
mod crc64;
mod load;
mod lzf;
mod write;

pub(crate) use blobs::*;
pub use crc64::crc64;
pub use load::*;
pub use lzf::{lzf_compress, lzf_decompress};
pub use write::*;

/// The RDB version respd writes (Redis 7.0's `RDB_VERSION`).
pub(crate) const RDB_VERSION: u32 = 10;

/// The Redis version respd claims in the `redis-ver` AUX field, so tools that look at it
/// (and Redis itself, which only logs it) see a 7.0 dump.
pub(crate) const REDIS_VERSION: &str = "7.0.15";

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
pub(crate) fn dump_payload(value: &Value, compression: bool) -> Vec<u8> {
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

/// FUNCTION DUMP's payload (Redis `functionDumpCommand`): each library's code as in an RDB
/// file (the FUNCTION2 opcode, then the code as a string), then the footer of DUMP.
pub(crate) fn functions_payload(codes: &[Vec<u8>], compression: bool) -> Vec<u8> {
    let options = WriteOptions {
        compression,
        checksum: false,
    };
    let mut w = Writer::new(Vec::new(), options);
    for code in codes {
        w.function(code).expect("writing to a Vec cannot fail");
    }
    let mut out = w.out;
    out.extend_from_slice(&(RDB_VERSION as u16).to_le_bytes());
    let crc = crc64(0, &out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// The libraries' code in a FUNCTION RESTORE payload (Redis `functionRestoreCommand`).
/// Errors are Redis's reply texts, without `ERR `.
pub(crate) fn functions_from_payload(payload: &[u8]) -> Result<Vec<Vec<u8>>, &'static str> {
    const BAD: &str = "DUMP payload version or checksum are wrong";
    let Some(body_len) = payload.len().checked_sub(PAYLOAD_FOOTER) else {
        return Err(BAD);
    };
    let footer = &payload[body_len..];
    let version = u16::from_le_bytes([footer[0], footer[1]]);
    let stored = u64::from_le_bytes(footer[2..].try_into().expect("8 bytes"));
    if u32::from(version) > RDB_VERSION || crc64(0, &payload[..body_len + 2]) != stored {
        return Err(BAD);
    }
    let mut r = Reader {
        data: &payload[..body_len],
        pos: 0,
    };
    let mut codes = Vec::new();
    while r.pos < body_len {
        let t = r.u8().map_err(|_| "can not read data type")?;
        if t != OP_FUNCTION2 && t != OP_FUNCTION_PRE_GA {
            return Err("given type is not a function");
        }
        if t == OP_FUNCTION_PRE_GA {
            return Err("failed loading the given functions payload");
        }
        codes.push(r.string().map_err(|_| "Failed loading library payload")?);
    }
    Ok(codes)
}

#[cfg(test)]
mod tests {
    use super::*;

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
