//! The key of the applier's per-partition maps, (topic, partition), and a borrowed view of it, so
//! a lookup by `(&str, u32)` builds no `String` (a single publish looked its partition up three
//! times per message, each with a fresh key: issue 18's callgrind profile of the apply).

use std::borrow::Borrow;
use std::hash::{Hash, Hasher};

/// An owned (topic, partition) key.
#[derive(Debug, Clone)]
pub(super) struct PartKey {
    pub topic: String,
    pub partition: u32,
}

impl PartKey {
    pub fn new(topic: &str, partition: u32) -> PartKey {
        PartKey {
            topic: topic.to_string(),
            partition,
        }
    }
}

/// A (topic, partition) pair, owned or borrowed: what the maps are looked up by.
pub(super) trait AsPart {
    fn parts(&self) -> (&str, u32);
}

impl AsPart for PartKey {
    fn parts(&self) -> (&str, u32) {
        (&self.topic, self.partition)
    }
}

impl AsPart for (&str, u32) {
    fn parts(&self) -> (&str, u32) {
        *self
    }
}

// Owned and borrowed keys hash and compare alike (as `(&str, u32)`): what `Borrow` requires.
impl Hash for PartKey {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.parts().hash(h)
    }
}

impl PartialEq for PartKey {
    fn eq(&self, other: &Self) -> bool {
        self.parts() == other.parts()
    }
}

impl Eq for PartKey {}

impl Hash for dyn AsPart + '_ {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.parts().hash(h)
    }
}

impl PartialEq for dyn AsPart + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.parts() == other.parts()
    }
}

impl Eq for dyn AsPart + '_ {}

impl<'a> Borrow<dyn AsPart + 'a> for PartKey {
    fn borrow(&self) -> &(dyn AsPart + 'a) {
        self
    }
}

/// `(topic, partition)` as a map lookup key.
pub(super) fn key_of(topic: &str, partition: u32) -> (&str, u32) {
    (topic, partition)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn a_borrowed_key_finds_what_its_owned_key_stored() {
        let mut m: HashMap<PartKey, u32> = HashMap::new();
        for (t, p) in [
            ("orders", 0),
            ("orders", 1),
            ("ord", 0),
            ("", 7),
            ("x\u{0}", 2),
        ] {
            m.insert(PartKey::new(t, p), p * 10 + t.len() as u32);
        }
        for (t, p) in [
            ("orders", 0),
            ("orders", 1),
            ("ord", 0),
            ("", 7),
            ("x\u{0}", 2),
        ] {
            assert_eq!(
                m.get(&key_of(t, p) as &dyn AsPart),
                Some(&(p * 10 + t.len() as u32))
            );
        }
        for (t, p) in [
            ("orders", 2),
            ("order", 0),
            ("ordersx", 0),
            ("", 0),
            ("x", 2),
        ] {
            assert_eq!(m.get(&key_of(t, p) as &dyn AsPart), None, "{t:?} {p}");
        }
        assert_eq!(m.remove(&key_of("orders", 1) as &dyn AsPart), Some(16));
        assert_eq!(m.len(), 4);
    }
}
