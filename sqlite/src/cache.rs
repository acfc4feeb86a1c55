//! A bounded map of decoded records, least recently used evicted first.

use std::collections::BTreeMap;

/// Decoded records by key, at most `capacity`; the least recently inserted or changed
/// one is evicted first. (Reads take `&self` and do not count as uses: the records an
/// operation reads, it also commits.)
pub(crate) struct Cache<K, V> {
    map: BTreeMap<K, (u64, V)>,
    tick: u64,
    capacity: usize,
}

impl<K: Ord + Clone, V> Cache<K, V> {
    pub(crate) fn new(capacity: usize) -> Self {
        Cache {
            map: BTreeMap::new(),
            tick: 0,
            capacity,
        }
    }
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }
    pub(crate) fn contains(&self, k: &K) -> bool {
        self.map.contains_key(k)
    }
    pub(crate) fn get(&self, k: &K) -> Option<&V> {
        self.map.get(k).map(|(_, v)| v)
    }
    pub(crate) fn get_mut(&mut self, k: &K) -> Option<&mut V> {
        self.tick += 1;
        let t = self.tick;
        self.map.get_mut(k).map(|(u, v)| {
            *u = t;
            v
        })
    }
    pub(crate) fn take(&mut self, k: &K) -> Option<V> {
        self.map.remove(k).map(|(_, v)| v)
    }
    pub(crate) fn remove(&mut self, k: &K) {
        self.map.remove(k);
    }
    pub(crate) fn clear(&mut self) {
        self.map.clear();
    }
    pub(crate) fn insert(&mut self, k: K, v: V) {
        self.tick += 1;
        if !self.map.contains_key(&k) && self.map.len() >= self.capacity {
            let oldest = self
                .map
                .iter()
                .min_by_key(|(_, (t, _))| *t)
                .map(|(k, _)| k.clone());
            if let Some(o) = oldest {
                self.map.remove(&o);
            }
        }
        self.map.insert(k, (self.tick, v));
    }
}
