//! The projector's memory of views: least recently used out first, bounded
//! by entries and by bytes (a view may be up to 400 KB).

use std::hash::Hash;
use std::num::NonZeroUsize;

use lru::LruCache;

/// An LRU cache whose entries each weigh some bytes, holding at most
/// `entries` of them and `bytes` in all.
pub(crate) struct Bounded<K: Hash + Eq, V> {
    entries: LruCache<K, (V, usize)>,
    bytes: usize,
    max_bytes: usize,
}

impl<K: Hash + Eq, V: Clone> Bounded<K, V> {
    pub(crate) fn new(entries: NonZeroUsize, max_bytes: usize) -> Self {
        Self {
            entries: LruCache::new(entries),
            bytes: 0,
            max_bytes,
        }
    }

    /// The value under `key`, now the most recently used.
    pub(crate) fn get(&mut self, key: &K) -> Option<V> {
        self.entries.get(key).map(|(value, _)| value.clone())
    }

    /// Keeps `value`, of `bytes`, under `key`; the least recently used
    /// entries go until both bounds hold. A value heavier than the whole
    /// budget is not kept.
    pub(crate) fn put(&mut self, key: K, value: V, bytes: usize) {
        self.pop(&key);
        if bytes > self.max_bytes {
            return;
        }
        if let Some((_, (_, evicted))) = self.entries.push(key, (value, bytes)) {
            self.bytes -= evicted;
        }
        self.bytes += bytes;
        while self.bytes > self.max_bytes {
            match self.entries.pop_lru() {
                Some((_, (_, evicted))) => self.bytes -= evicted,
                None => break,
            }
        }
    }

    pub(crate) fn pop(&mut self, key: &K) {
        if let Some((_, bytes)) = self.entries.pop(key) {
            self.bytes -= bytes;
        }
    }

    pub(crate) fn clear(&mut self) {
        self.entries.clear();
        self.bytes = 0;
    }

    #[cfg(test)]
    fn bytes(&self) -> usize {
        self.bytes
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(entries: usize, bytes: usize) -> Bounded<&'static str, u32> {
        Bounded::new(NonZeroUsize::new(entries).expect("not zero"), bytes)
    }

    #[test]
    fn bytes_bound_the_cache_as_entries_do() {
        let mut views = cache(10, 1_000);
        views.put("a", 1, 400);
        views.put("b", 2, 400);
        assert_eq!((views.len(), views.bytes()), (2, 800));
        // Used last, `a` stays; `b` goes to make room.
        assert_eq!(views.get(&"a"), Some(1));
        views.put("c", 3, 400);
        assert_eq!(views.get(&"b"), None);
        assert_eq!((views.len(), views.bytes()), (2, 800));
        // Replacing an entry counts its new weight only.
        views.put("a", 4, 100);
        assert_eq!((views.get(&"a"), views.bytes()), (Some(4), 500));
        // Heavier than the budget: not kept, and nothing else lost.
        views.put("huge", 5, 5_000);
        assert_eq!((views.get(&"huge"), views.len()), (None, 2));
        views.pop(&"c");
        assert_eq!(views.bytes(), 100);
        views.clear();
        assert_eq!((views.len(), views.bytes()), (0, 0));
    }

    #[test]
    fn entries_bound_the_cache_whatever_their_weight() {
        let mut views = cache(2, 1_000_000);
        for (n, key) in ["a", "b", "c"].into_iter().enumerate() {
            views.put(key, u32::try_from(n).expect("small"), 10);
        }
        assert_eq!((views.len(), views.bytes()), (2, 20));
        assert_eq!(views.get(&"a"), None);
    }
}
