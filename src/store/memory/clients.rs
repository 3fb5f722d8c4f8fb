//! One shard of [`MemoryStore`](super::MemoryStore)'s records.
//!
//! Each entry is keyed by the hash of its `client_id`, computed once per request with the store's
//! random SipHash keys. A table that grows moves its entries by those stored hashes and never
//! reads a record, where a table hashed by the identifier would read every record it holds (a
//! cache miss each, at a million clients) to hash it again. Two identifiers whose 64-bit hashes
//! are equal are practically never seen, and handled: the later one is kept apart, by identifier.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

use super::super::compact::Packed;

/// Where a client's record is: the hash of its identifier, and the identifier.
#[derive(Debug, Clone, Copy)]
pub(super) struct Key<'a> {
    pub(super) hash: u64,
    pub(super) id: &'a [u8],
}

/// A shard: records by the hash of their identifier, and the rare record whose hash another
/// record already had. Every identifier is in exactly one of the two.
#[derive(Debug, Default)]
pub(super) struct Clients {
    by_hash: HashMap<u64, Packed, BuildHasherDefault<Prehashed>>,
    collided: HashSet<Packed>,
}

impl Clients {
    /// The record of `key.id`.
    pub(super) fn get(&self, key: Key<'_>) -> Option<&Packed> {
        match self.by_hash.get(&key.hash) {
            Some(packed) if packed.id_bytes() == key.id => Some(packed),
            _ if self.collided.is_empty() => None,
            _ => self.collided.get(key.id),
        }
    }

    /// Whether the shard holds a record for `key.id`.
    pub(super) fn contains(&self, key: Key<'_>) -> bool {
        self.get(key).is_some()
    }

    /// Stores `packed` (whose identifier is `key.id`), replacing the record it had.
    pub(super) fn put(&mut self, key: Key<'_>, packed: Packed) {
        if let Some(slot) = self.by_hash.get_mut(&key.hash) {
            if slot.id_bytes() == key.id {
                *slot = packed;
            } else {
                self.collided.replace(packed);
            }
        } else if self.collided.contains(key.id) {
            self.collided.replace(packed);
        } else {
            self.by_hash.insert(key.hash, packed);
        }
    }

    /// Removes the record of `key.id`.
    pub(super) fn remove(&mut self, key: Key<'_>) {
        match self.by_hash.get(&key.hash) {
            Some(packed) if packed.id_bytes() == key.id => {
                self.by_hash.remove(&key.hash);
            }
            _ => {
                self.collided.remove(key.id);
            }
        }
    }

    /// The number of records.
    pub(super) fn len(&self) -> usize {
        self.by_hash.len() + self.collided.len()
    }

    /// Every record, in no particular order.
    pub(super) fn iter(&self) -> impl Iterator<Item = &Packed> {
        self.by_hash.values().chain(self.collided.iter())
    }
}

/// Hashes a `u64` key to itself: the keys are SipHash outputs already.
#[derive(Default)]
struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used; anything else is folded in, never lost.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

#[cfg(test)]
mod tests {
    use time::OffsetDateTime;

    use super::*;
    use crate::metadata::ClientMetadata;
    use crate::store::{ClientRecord, Origin};

    fn packed(id: &str, version: u64) -> Packed {
        let record = ClientRecord::new(
            id.to_owned(),
            ClientMetadata::default(),
            Origin::Dynamic,
            OffsetDateTime::UNIX_EPOCH,
        );
        Packed::new(&record, version)
    }

    fn key(id: &str, hash: u64) -> Key<'_> {
        Key {
            hash,
            id: id.as_bytes(),
        }
    }

    /// Every identifier given the same hash: each is still found, replaced and removed on its
    /// own, whichever order they come and go in.
    #[test]
    fn identifiers_with_one_hash_are_kept_apart() {
        let mut shard = Clients::default();
        let ids = ["a", "b", "c"];
        for id in ids {
            shard.put(key(id, 7), packed(id, 1));
        }
        assert_eq!(shard.len(), 3);
        for id in ids {
            assert_eq!(
                shard.get(key(id, 7)).map(Packed::id_bytes),
                Some(id.as_bytes())
            );
            assert_eq!(shard.get(key(id, 7)).and_then(Packed::version), Some(1));
        }
        assert!(!shard.contains(key("d", 7)));

        // Replacing one, wherever it lives, leaves a single record for it.
        shard.put(key("b", 7), packed("b", 2));
        shard.put(key("a", 7), packed("a", 3));
        assert_eq!(shard.len(), 3);
        assert_eq!(shard.get(key("b", 7)).and_then(Packed::version), Some(2));
        assert_eq!(shard.get(key("a", 7)).and_then(Packed::version), Some(3));

        // The one holding the hash goes; the others are still found, and one put again after is
        // replaced where it is, not stored twice.
        shard.remove(key("a", 7));
        assert!(!shard.contains(key("a", 7)));
        assert!(shard.contains(key("b", 7)) && shard.contains(key("c", 7)));
        shard.put(key("c", 7), packed("c", 4));
        assert_eq!(shard.len(), 2);
        assert_eq!(shard.get(key("c", 7)).and_then(Packed::version), Some(4));
        shard.put(key("a", 7), packed("a", 5));
        assert_eq!(shard.len(), 3);

        shard.remove(key("b", 7));
        shard.remove(key("c", 7));
        assert_eq!(shard.len(), 1);
        assert_eq!(shard.get(key("a", 7)).and_then(Packed::version), Some(5));
        let mut left: Vec<_> = shard.iter().map(Packed::id_bytes).collect();
        left.sort_unstable();
        assert_eq!(left, [b"a"]);
    }

    #[test]
    fn a_different_hash_is_a_different_place() {
        let mut shard = Clients::default();
        shard.put(key("a", 1), packed("a", 1));
        // The identifier alone does not find a record stored under another hash: the hash is
        // always computed from the identifier, so this only checks that the hash is used.
        assert!(!shard.contains(key("a", 2)));
        assert!(shard.contains(key("a", 1)));
        shard.remove(key("a", 1));
        assert_eq!(shard.len(), 0);
    }
}
