//! `SmallBytes`: the bytes of a key or of a string value, kept in place when they are short.
//!
//! The keyspace stores every key, and every string value, as a `SmallBytes` inside the key's
//! hash-table node.
//!
//! Redis stores a string of up to 44 bytes in the same allocation as the object header that
//! points to it (the "embstr" encoding), so reading a short value costs no extra trip to
//! memory. respd's counterpart: a string of up to [`INLINE_CAPACITY`] bytes is kept in the
//! [`crate::store::Value`] itself, which lives inside the keyspace's hash-table node, so a GET
//! that has found its node already has the value's bytes in the same cache lines. Longer
//! strings go to the heap as an ordinary `Vec<u8>`.
//!
//! Why it matters: on a keyspace larger than the CPU caches, a lookup is dominated by cache
//! misses (the bucket, then the node), and a key or value on the heap adds one more each
//! (profiling respd under `redis-benchmark -P 16 -t get` put a tenth of the server's time on
//! copying the value alone). Short keys and values are the common case for caches and
//! counters. Keeping both in the node also saves two heap allocations per key: one million
//! keys with 16-byte values went from 270 MB to 118 MB of RSS with this and the other node
//! changes (Redis 7.0: 120 MB).
//!
//! The inline form is only a storage detail: everything reads a `SmallBytes` as a `&[u8]`
//! (it derefs to one), and code that edits a string in place (APPEND, SETRANGE, SETBIT...) asks
//! for a `&mut Vec<u8>` with [`SmallBytes::to_mut`], which moves inline bytes to the heap first.
//!
//! The one thing the form does remember is whether a string value was edited in place (or
//! built by a command that writes into a fresh buffer, such as SETBIT on a missing key or
//! BITOP): Redis reports those as "raw" whatever their length, where a value stored by SET
//! reports "embstr" up to 44 bytes. That costs no memory: it is a third variant, [`SmallBytes::Raw`],
//! holding the same vector as [`SmallBytes::Heap`]. Keys never take that form.

use std::fmt;
use std::ops::Deref;

/// Longest string kept inline. With the length byte and the enum's tag that makes 32 bytes,
/// the size of the list variant's `VecDeque`, which sets the size of every [`Value`] anyway
/// (checked by a test below): the inline form makes no value bigger.
///
/// [`Value`]: crate::store::Value
pub(crate) const INLINE_CAPACITY: usize = 30;

/// A string value's bytes; see the module docs.
#[derive(Clone)]
pub enum SmallBytes {
    /// Up to [`INLINE_CAPACITY`] bytes, stored right here.
    Inline {
        /// How many bytes of `bytes` are used.
        len: u8,
        /// The bytes; only the first `len` mean anything.
        bytes: [u8; INLINE_CAPACITY],
    },
    /// Longer strings, stored as they were given.
    Heap(Vec<u8>),
    /// A string value edited in place or built in place: Redis's "raw" encoding, which
    /// OBJECT ENCODING reports for any length (Redis `dbUnshareStringValue` and the
    /// `createObject(OBJ_STRING, ...)` calls of SETRANGE, SETBIT, BITOP).
    Raw(Vec<u8>),
}

impl SmallBytes {
    /// Copies `bytes`, inline when they fit.
    pub fn from_slice(bytes: &[u8]) -> SmallBytes {
        if bytes.len() <= INLINE_CAPACITY {
            let mut inline = [0u8; INLINE_CAPACITY];
            inline[..bytes.len()].copy_from_slice(bytes);
            SmallBytes::Inline {
                len: bytes.len() as u8,
                bytes: inline,
            }
        } else {
            SmallBytes::Heap(bytes.to_vec())
        }
    }

    /// Takes a vector, moving short contents inline (and freeing the vector's buffer).
    pub(crate) fn from_vec(bytes: Vec<u8>) -> SmallBytes {
        if bytes.len() <= INLINE_CAPACITY {
            SmallBytes::from_slice(&bytes)
        } else {
            SmallBytes::Heap(bytes)
        }
    }

    /// Takes a vector as a string built in place ("raw", see [`SmallBytes::Raw`]).
    pub fn raw(bytes: Vec<u8>) -> SmallBytes {
        SmallBytes::Raw(bytes)
    }

    /// True for a string edited or built in place (see [`SmallBytes::Raw`]).
    pub(crate) fn is_raw(&self) -> bool {
        matches!(self, SmallBytes::Raw(_))
    }

    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        match self {
            SmallBytes::Inline { len, bytes } => &bytes[..*len as usize],
            SmallBytes::Heap(v) | SmallBytes::Raw(v) => v,
        }
    }

    /// The bytes as a vector that may be edited in place; inline bytes move to the heap first
    /// (a string being appended to tends to keep growing, as Redis's "raw" encoding assumes).
    /// From then on the string is [`SmallBytes::Raw`], as Redis's `dbUnshareStringValue`
    /// leaves it.
    pub(crate) fn to_mut(&mut self) -> &mut Vec<u8> {
        match self {
            SmallBytes::Inline { len, bytes } => {
                let mut heap = Vec::with_capacity(*len as usize * 2);
                heap.extend_from_slice(&bytes[..*len as usize]);
                *self = SmallBytes::Raw(heap);
            }
            SmallBytes::Heap(v) => *self = SmallBytes::Raw(std::mem::take(v)),
            SmallBytes::Raw(_) => {}
        }
        match self {
            SmallBytes::Raw(v) => v,
            _ => unreachable!("made raw just above"),
        }
    }

    /// Heap bytes this string owns (0 when inline), for INFO's memory estimate.
    pub(crate) fn heap_capacity(&self) -> usize {
        match self {
            SmallBytes::Inline { .. } => 0,
            SmallBytes::Heap(v) | SmallBytes::Raw(v) => v.capacity(),
        }
    }

    /// The bytes as an owned vector (the tests compare with it).
    #[cfg(test)]
    fn into_vec(self) -> Vec<u8> {
        match self {
            SmallBytes::Inline { len, bytes } => bytes[..len as usize].to_vec(),
            SmallBytes::Heap(v) | SmallBytes::Raw(v) => v,
        }
    }
}

impl Deref for SmallBytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl From<Vec<u8>> for SmallBytes {
    fn from(bytes: Vec<u8>) -> SmallBytes {
        SmallBytes::from_vec(bytes)
    }
}

impl std::borrow::Borrow<[u8]> for SmallBytes {
    fn borrow(&self) -> &[u8] {
        self.as_slice()
    }
}

/// Hashes exactly as the `[u8]` it borrows as, as `Borrow` requires: a hash table keyed by
/// `SmallBytes` can then be searched with a plain `&[u8]`.
impl std::hash::Hash for SmallBytes {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_slice().hash(state)
    }
}

impl PartialEq for SmallBytes {
    fn eq(&self, other: &SmallBytes) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for SmallBytes {}

impl fmt::Debug for SmallBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_slice()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_form_makes_no_value_bigger() {
        use std::mem::size_of;
        assert!(size_of::<SmallBytes>() <= size_of::<std::collections::VecDeque<Vec<u8>>>());
        assert_eq!(
            size_of::<crate::store::Value>(),
            size_of::<std::collections::VecDeque<Vec<u8>>>() + 8
        );
    }

    #[test]
    fn short_strings_are_inline_long_ones_on_the_heap() {
        for len in [0, 1, INLINE_CAPACITY - 1, INLINE_CAPACITY] {
            let data: Vec<u8> = (0..len as u8).collect();
            let s = SmallBytes::from_slice(&data);
            assert!(matches!(s, SmallBytes::Inline { .. }), "len {len}");
            assert_eq!(&*s, &data[..]);
            assert_eq!(s.heap_capacity(), 0);
            assert_eq!(SmallBytes::from_vec(data.clone()).as_slice(), &data[..]);
        }
        let data = vec![7u8; INLINE_CAPACITY + 1];
        let s = SmallBytes::from_slice(&data);
        assert!(matches!(s, SmallBytes::Heap(_)));
        assert_eq!(&*s, &data[..]);
        assert_eq!(s.into_vec(), data);
    }

    #[test]
    fn editing_in_place_moves_inline_bytes_to_the_heap_unchanged() {
        let mut s = SmallBytes::from_slice(b"abc");
        s.to_mut().extend_from_slice(b"def");
        assert!(matches!(s, SmallBytes::Raw(_)));
        assert_eq!(&*s, b"abcdef");
        // Binary bytes, NUL included, survive both forms.
        let binary = [0u8, 255, 13, 10, 0];
        let mut s = SmallBytes::from_slice(&binary);
        assert_eq!(s.to_mut().as_slice(), &binary);
        assert_eq!(SmallBytes::from_slice(&binary), s);
        // A long string edited in place is raw too, and stays equal to its bytes.
        let mut s = SmallBytes::from_slice(&[1u8; 40]);
        assert!(!s.is_raw());
        s.to_mut()[0] = 2;
        assert!(s.is_raw());
        assert_eq!(s.len(), 40);
    }
}
