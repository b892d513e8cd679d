//! The hash type: fields and their values, and the encoding Redis would show.
//!
//! A hash ([`super::Value::Hash`]) is a [`Hash`]: a [`Dict`] of field → value bytes, plus what
//! Redis's encoding would show. Redis keeps small hashes in a *listpack* (one flat byte array,
//! fields in insertion order) and converts them to a hash table, for good, once an add brings
//! more than `hash-max-listpack-entries` (512) fields or a field or value longer than
//! `hash-max-listpack-value` (64) bytes (`hashTypeSet` in Redis's `t_hash.c`). respd always
//! uses the table, but three things clients can see depend on the listpack, so [`Hash`]
//! applies the same rule on every add and, while it holds, keeps the insertion order:
//! - OBJECT ENCODING reports `listpack` or `hashtable` ([`Hash::encoding`]);
//! - HKEYS, HVALS, HGETALL and HSCAN list a listpack hash's fields in insertion order, as
//!   Redis does (a hash table's order is the table's; Redis documents both as unordered);
//! - HSCAN returns a listpack hash whole, in one call, with cursor 0.
//!
//! The commands are in `cmd/hash.rs`; this file is the type they work on, as Redis's
//! `t_hash.c` keeps its "API" section apart from its commands.

use super::encoding_limits;
use super::Dict;

/// The fields of a hash: field → value.
pub(crate) type Fields = Dict<Vec<u8>, Vec<u8>>;

/// A hash value: its fields, and, while Redis would keep it in a listpack, their insertion
/// order (see the module docs). Lookups go through `Deref` to the fields; adding and removing
/// go through [`Hash::insert`] and [`Hash::remove`], and [`Hash::iter`], [`Hash::keys`] and
/// [`Hash::values`] follow the listpack order, so every reader lists fields as Redis would.
#[derive(Debug, Clone)]
pub struct Hash {
    fields: Fields,
    /// The fields in insertion order while the hash is a listpack; `None` once Redis would
    /// have converted it to a hash table (it never converts back).
    listpack: Option<Vec<Vec<u8>>>,
}

impl Default for Hash {
    /// An empty hash: a listpack, as Redis creates every hash (`createHashObject`).
    fn default() -> Hash {
        Hash {
            fields: Fields::new(),
            listpack: Some(Vec::new()),
        }
    }
}

impl Hash {
    /// A hash of `pairs` added in order, as a dump is loaded.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (Vec<u8>, Vec<u8>)>) -> Hash {
        let mut hash = Hash::default();
        for (field, value) in pairs {
            hash.insert(field, value);
        }
        hash
    }

    /// True while Redis would keep this hash in a listpack.
    pub(crate) fn is_listpack(&self) -> bool {
        self.listpack.is_some()
    }

    /// The name OBJECT ENCODING reports: `listpack` while Redis would still keep the hash in
    /// a listpack (see [`Hash::insert`]), `hashtable` once it would have converted it.
    pub fn encoding(&self) -> &'static str {
        if self.is_listpack() {
            "listpack"
        } else {
            "hashtable"
        }
    }

    /// Sets `field` to `value`, returning the old value. An existing field keeps its place.
    /// Converts to a hash table as Redis's `hashTypeSet` does: a field or value longer than
    /// `hash-max-listpack-value`, or more fields than `hash-max-listpack-entries`.
    pub fn insert(&mut self, field: Vec<u8>, value: Vec<u8>) -> Option<Vec<u8>> {
        let max_value = encoding_limits::hash_max_listpack_value();
        if field.len() > max_value || value.len() > max_value {
            self.listpack = None;
        }
        let added = !self.fields.contains_key(&field);
        if added {
            if let Some(order) = &mut self.listpack {
                order.push(field.clone());
            }
        }
        let old = self.fields.insert(field, value);
        if self.fields.len() > encoding_limits::hash_max_listpack_entries() {
            self.listpack = None;
        }
        old
    }

    /// Removes `field`, returning its value. The encoding stays what it was.
    pub fn remove(&mut self, field: &[u8]) -> Option<Vec<u8>> {
        let old = self.fields.remove(field)?;
        if let Some(order) = &mut self.listpack {
            if let Some(at) = order.iter().position(|f| f == field) {
                order.remove(at);
            }
        }
        Some(old)
    }

    /// Every (field, value), in listpack order while the hash is a listpack.
    pub fn iter(&self) -> impl Iterator<Item = (&Vec<u8>, &Vec<u8>)> + '_ {
        let (ordered, table) = match &self.listpack {
            Some(order) => (Some(order.iter()), None),
            None => (None, Some(self.fields.iter())),
        };
        let ordered = ordered
            .into_iter()
            .flatten()
            .filter_map(|f| self.fields.get_key_value(f));
        ordered.chain(table.into_iter().flatten())
    }

    /// Every field, in [`Hash::iter`]'s order.
    pub fn keys(&self) -> impl Iterator<Item = &Vec<u8>> + '_ {
        self.iter().map(|(f, _)| f)
    }

    /// Every value, in [`Hash::iter`]'s order.
    pub fn values(&self) -> impl Iterator<Item = &Vec<u8>> + '_ {
        self.iter().map(|(_, v)| v)
    }
}

impl std::ops::Deref for Hash {
    type Target = Fields;
    fn deref(&self) -> &Fields {
        &self.fields
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash_of(n: usize, value_len: usize) -> Hash {
        Hash::from_pairs((0..n).map(|i| (format!("f{i}").into_bytes(), vec![b'v'; value_len])))
    }

    #[test]
    fn encoding_follows_the_listpack_limits() {
        assert_eq!(hash_of(1, 1).encoding(), "listpack");
        assert_eq!(hash_of(512, 64).encoding(), "listpack");
        assert_eq!(hash_of(513, 1).encoding(), "hashtable");
        assert_eq!(hash_of(1, 65).encoding(), "hashtable");
        let mut long_field = hash_of(1, 1);
        long_field.insert(vec![b'x'; 65], b"1".to_vec());
        assert_eq!(long_field.encoding(), "hashtable");
        // Redis never converts back.
        long_field.remove(&[b'x'; 65]);
        assert_eq!(long_field.encoding(), "hashtable");
        let mut shrunk = hash_of(513, 1);
        shrunk.remove(b"f0");
        assert_eq!(shrunk.encoding(), "hashtable");
    }

    #[test]
    fn a_listpack_lists_fields_in_insertion_order() {
        let mut hash = Hash::default();
        for f in ["z", "a", "m", "b"] {
            hash.insert(f.as_bytes().to_vec(), b"1".to_vec());
        }
        hash.insert(b"a".to_vec(), b"2".to_vec()); // an update keeps its place
        hash.remove(b"m");
        hash.insert(b"m".to_vec(), b"3".to_vec()); // re-added: at the end
        let order: Vec<&[u8]> = hash.keys().map(|f| f.as_slice()).collect();
        assert_eq!(order, [&b"z"[..], b"a", b"b", b"m"]);
        let values: Vec<&[u8]> = hash.values().map(|v| v.as_slice()).collect();
        assert_eq!(values, [&b"1"[..], b"2", b"1", b"3"]);
    }
}
