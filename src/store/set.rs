//! The set type: members, and the encoding Redis would have chosen for them.
//!
//! A set value ([`super::Value::Set`]) is a [`Set`]: a [`Dict`] of members with no values,
//! and the encoding Redis would have chosen. Redis 7.0 has two encodings for sets: an
//! *intset* (a sorted array of integers) while every member added was an integer and there
//! were at most `set-max-intset-entries` (512) of them, and a hash table otherwise. Redis
//! converts an intset when an add breaks either rule (`setTypeAdd` in `t_set.c`) and never
//! converts back, so a set that once held `a` stays `hashtable` after `a` is removed. respd
//! always uses the hash table, but three things clients can see depend on the encoding, so
//! [`Set`] applies the same rule on every add and remembers the outcome ([`Set::is_intset`]):
//! - `OBJECT ENCODING` reports `intset` or `hashtable`;
//! - an intset is iterated in ascending numeric order ([`Set::ordered`]), so SMEMBERS,
//!   SINTER, SUNION, SDIFF and SSCAN of such a set answer in that order, byte for byte;
//! - SSCAN of an intset returns every member in one call, with cursor 0, whatever the cursor.
//!
//! The commands are in `cmd/set.rs`; this file is the type they work on.

use super::encoding_limits;
use super::Dict;
use crate::util::parse_i64;

/// The members of a set.
pub(crate) type Members = Dict<Vec<u8>, ()>;

/// A set value: its members, and whether Redis would hold them in a hash table rather than an
/// intset (see the module docs). Reading goes through `Deref` to the members; adding and
/// removing go through [`Set::insert`] and [`Set::remove`], which keep the encoding right.
#[derive(Debug, Clone, Default)]
pub struct Set {
    members: Members,
    /// Redis converted (or created) the set as a hash table: it never goes back.
    hashtable: bool,
}

impl Set {
    /// A set of `members` built as Redis builds a new set by adding them one by one to an
    /// intset (SINTERSTORE, SUNIONSTORE, loading a dump): an intset if every member is an
    /// integer and they fit in `set-max-intset-entries`.
    pub fn from_members(members: Members) -> Set {
        let hashtable = members.len() > encoding_limits::set_max_intset_entries()
            || !members.keys().all(|m| is_intset_member(m));
        Set { members, hashtable }
    }

    /// True while Redis would keep this set as an intset.
    pub(crate) fn is_intset(&self) -> bool {
        !self.hashtable
    }

    /// The members in the order Redis would send them: ascending numbers for an intset (it
    /// is a sorted array there), the table's own order otherwise.
    pub(crate) fn ordered(&self) -> Vec<&[u8]> {
        let mut out: Vec<&[u8]> = self.members.keys().map(|m| m.as_slice()).collect();
        if self.is_intset() {
            // Every member of an intset is an integer (is_intset_member), so parsing cannot
            // fail here.
            out.sort_by_key(|m| parse_i64(m).unwrap_or(0));
        }
        out
    }

    /// Adds `member`; false if it was already there. Converts the encoding as Redis's
    /// `setTypeAdd` does: a member that is not an integer, or one member too many.
    pub fn insert(&mut self, member: Vec<u8>) -> bool {
        if self.members.contains_key(&member) {
            return false;
        }
        if !self.hashtable
            && (!is_intset_member(&member)
                || self.members.len() >= encoding_limits::set_max_intset_entries())
        {
            self.hashtable = true;
        }
        self.members.insert(member, ());
        true
    }

    /// Removes `member`; false if it was not there. The encoding stays what it was.
    pub fn remove(&mut self, member: &[u8]) -> bool {
        self.members.remove(member).is_some()
    }
}

impl std::ops::Deref for Set {
    type Target = Members;
    fn deref(&self) -> &Members {
        &self.members
    }
}

/// True if an intset can hold `member`: an integer in Redis's canonical form (`string2ll`:
/// so `01`, `+1` and `1.0` are not integers).
fn is_intset_member(member: &[u8]) -> bool {
    parse_i64(member).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intset_rule_and_order() {
        let mut set = Set::default();
        for m in ["10", "-3", "2"] {
            set.insert(m.as_bytes().to_vec());
        }
        assert!(set.is_intset());
        assert_eq!(set.ordered(), vec![&b"-3"[..], b"2", b"10"]);
        // Not canonical integers, as string2ll sees them.
        for odd in ["01", "+1", "-0", " 1", "1.0", "9223372036854775808"] {
            let mut s = set.clone();
            s.insert(odd.as_bytes().to_vec());
            assert!(!s.is_intset(), "{odd}");
            // Redis never converts back.
            s.remove(odd.as_bytes());
            assert!(!s.is_intset(), "{odd}");
        }
        let full: Members = (0..512).map(|i| (i.to_string().into_bytes(), ())).collect();
        let full = Set::from_members(full);
        assert!(full.is_intset());
        let mut over = full.clone();
        over.insert(b"-1".to_vec());
        assert!(!over.is_intset());
        over.remove(b"-1");
        assert!(!over.is_intset());
        // Re-adding a member already there changes nothing.
        let mut same = full.clone();
        assert!(!same.insert(b"0".to_vec()));
        assert!(same.is_intset());
    }
}
