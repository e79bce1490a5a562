//! A bounded in-memory store of recent responses, so `previous_response_id` and
//! `item_reference` work although the backend stores nothing (`store: false`). Each entry
//! holds the whole conversation up to that response (input then output), so a chain of
//! `previous_response_id`s needs only its last link. The oldest entries go first when either
//! limit is reached; nothing is written to disk.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use serde_json::Value;

/// Default number of responses kept.
pub const DEFAULT_RESPONSES: usize = 256;
/// Default number of items kept over all responses.
pub const DEFAULT_ITEMS: usize = 2_000;

struct Entry {
    items: Arc<Vec<Value>>,
    /// Ids of the items this response produced (for `item_reference`).
    item_ids: Vec<String>,
}

struct Inner {
    order: VecDeque<String>,
    entries: HashMap<String, Entry>,
    items_by_id: HashMap<String, Value>,
    item_count: usize,
}

/// The store (cheap to share).
pub struct ResponseStore {
    max_responses: usize,
    max_items: usize,
    inner: Mutex<Inner>,
}

impl ResponseStore {
    /// A store keeping at most `max_responses` responses and `max_items` items.
    pub fn new(max_responses: usize, max_items: usize) -> Self {
        Self {
            max_responses: max_responses.max(1),
            max_items: max_items.max(1),
            inner: Mutex::new(Inner {
                order: VecDeque::new(),
                entries: HashMap::new(),
                items_by_id: HashMap::new(),
                item_count: 0,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Keep response `id`: the conversation `input` it answered and its `output` items.
    pub fn put(&self, id: &str, input: Vec<Value>, output: Vec<Value>) {
        let item_ids: Vec<String> = input
            .iter()
            .chain(output.iter())
            .filter_map(|i| i.get("id").and_then(Value::as_str).map(str::to_owned))
            .collect();
        let mut all = input;
        all.extend(output);
        let mut g = self.lock();
        if let Some(old) = g.entries.remove(id) {
            g.item_count -= old.items.len();
            g.order.retain(|k| k != id);
        }
        for item in &all {
            if let Some(iid) = item.get("id").and_then(Value::as_str) {
                g.items_by_id.insert(iid.to_owned(), item.clone());
            }
        }
        g.item_count += all.len();
        g.order.push_back(id.to_owned());
        g.entries.insert(
            id.to_owned(),
            Entry {
                items: Arc::new(all),
                item_ids,
            },
        );
        while g.order.len() > self.max_responses
            || (g.item_count > self.max_items && g.order.len() > 1)
        {
            let Some(oldest) = g.order.pop_front() else {
                break;
            };
            if let Some(e) = g.entries.remove(&oldest) {
                g.item_count -= e.items.len();
                for iid in e.item_ids {
                    // Still referenced by a newer response? Then keep the item.
                    let newer = g.entries.values().any(|n| n.item_ids.contains(&iid));
                    if !newer {
                        g.items_by_id.remove(&iid);
                    }
                }
            }
        }
    }

    /// The conversation up to and including response `id`.
    pub fn conversation(&self, id: &str) -> Option<Arc<Vec<Value>>> {
        self.lock().entries.get(id).map(|e| e.items.clone())
    }

    /// An item seen in a stored response.
    pub fn item(&self, id: &str) -> Option<Value> {
        self.lock().items_by_id.get(id).cloned()
    }

    /// (responses, items) held now.
    pub fn len(&self) -> (usize, usize) {
        let g = self.lock();
        (g.order.len(), g.item_count)
    }

    /// Whether nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.len().0 == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keeps_conversations_and_items_within_bounds() {
        let s = ResponseStore::new(2, 100);
        s.put(
            "r1",
            vec![json!({"role":"user","content":"a"})],
            vec![json!({"id":"m1","type":"message"})],
        );
        assert_eq!(s.conversation("r1").map(|c| c.len()), Some(2));
        assert!(s.item("m1").is_some());
        s.put("r2", vec![], vec![json!({"id":"m2"})]);
        s.put("r3", vec![], vec![json!({"id":"m3"})]);
        assert!(s.conversation("r1").is_none());
        assert!(s.item("m1").is_none());
        assert!(s.item("m3").is_some());
        assert_eq!(s.len(), (2, 2));
    }

    #[test]
    fn item_limit_evicts_oldest_but_never_the_newest() {
        let s = ResponseStore::new(10, 3);
        s.put("r1", vec![json!(1), json!(2)], vec![]);
        s.put("r2", vec![json!(1), json!(2), json!(3), json!(4)], vec![]);
        assert!(s.conversation("r1").is_none());
        assert!(s.conversation("r2").is_some());
    }
}
