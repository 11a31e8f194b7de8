//! Invariants shared by the fuzz targets: what every rejection and every acceptance of
//! a decoder must satisfy, whatever the input.

use std::path::{Component, Path};

use containerd::error::Error;
use containerd::Code;
use serde_json::Value;

/// A rejection is INVALID_ARGUMENT and its message names the document (`what`).
pub fn check_rejection(e: &Error, what: &str) {
    assert_eq!(e.code(), Code::InvalidArgument, "{what}: wrong code for {e}");
    assert!(!e.message().is_empty(), "{what}: empty error message");
    assert!(e.message().contains(what), "{what}: message does not name the document: {e}");
}

/// Known keys of one level of a strict document; a key's sub-schema when its value is
/// itself a strict object.
pub struct Schema {
    /// The keys accepted at this level.
    pub keys: &'static [(&'static str, Option<&'static Schema>)],
}

/// For each key of `value` (an object) unknown to `schema`, at this level or in a
/// nested strict object, a document holding just that key (wrapped in its parents)
/// must be refused, and the message must name the key.
pub fn check_unknown_keys_named<T>(value: &Value, schema: &Schema, parse: &dyn Fn(&str) -> containerd::Result<T>, what: &str) {
    fn walk<T>(value: &Value, schema: &Schema, parents: &[&str], parse: &dyn Fn(&str) -> containerd::Result<T>, what: &str) {
        let Value::Object(map) = value else { return };
        for (k, v) in map {
            match schema.keys.iter().find(|(name, _)| name == k) {
                Some((_, Some(sub))) => {
                    let mut p = parents.to_vec();
                    p.push(k);
                    walk(v, sub, &p, parse, what);
                }
                Some((_, None)) => {}
                None => {
                    let mut doc = serde_json::json!({ k.as_str(): null });
                    for parent in parents.iter().rev() {
                        doc = serde_json::json!({ *parent: doc });
                    }
                    let text = doc.to_string();
                    match parse(&text) {
                        Ok(_) => panic!("{what}: unknown key {k:?} accepted in {text}"),
                        Err(e) => {
                            check_rejection(&e, what);
                            // A message about a huge key is cut (spec::MAX_MESSAGE_LEN): then
                            // the key's beginning must be there.
                            let start: String = k.chars().take(32).collect();
                            let named = e.message().contains(k.as_str())
                                || (e.message().contains("(message cut") && e.message().contains(start.as_str()));
                            assert!(named, "{what}: unknown key {k:?} not named: {e}");
                        }
                    }
                }
            }
        }
    }
    walk(value, schema, &[], parse, what);
}

/// An accepted id is one plain path component that stays inside any directory it is
/// joined to.
pub fn check_safe_component(id: &str) {
    assert!(!id.is_empty() && id.len() <= containerd::spec::MAX_ID_LEN, "accepted id of length {}", id.len());
    assert!(!id.contains('/') && !id.contains('\0'), "accepted id {id:?} holds a separator or NUL");
    assert!(id != "." && id != ".." && !id.starts_with('.') && !id.starts_with('-'), "accepted id {id:?}");
    assert!(id.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b)), "accepted id {id:?}");
    let comps: Vec<Component> = Path::new(id).components().collect();
    assert_eq!(comps, vec![Component::Normal(id.as_ref())], "accepted id {id:?} is not one plain component");
    let base = Path::new("/run/libcontainerd/fifo/ns");
    let joined = base.join(id);
    assert_eq!(joined.parent(), Some(base), "{id:?} escapes its directory");
}

/// Parses `data` as UTF-8 text, or returns `None` (the C boundary refuses invalid
/// UTF-8 before any decoder sees it).
pub fn text(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
}
