//! package.json and tsconfig.json merged as data, key by key, edited in place in the user's file
//! (jsonc-parser's CST): comments, key order and formatting of the user's file stay.
//!
//! For each key (recursively in objects) the template changed between base and theirs:
//! the user's value equal to the base → the template's change applies (set, added, removed);
//! equal to the template's new value → nothing to do; else, when both are objects, merge inside
//! them; else both changed the key differently: the user's value stays and the key is a conflict.
//! Arrays are values (`include`, `lib`): one change of the user's to an array keeps it whole.

use jsonc_parser::ParseOptions;
use jsonc_parser::cst::{CstInputValue, CstNode, CstObject, CstRootNode};
use serde::Serialize;
use serde_json::Value;

/// A key both the user and the template changed, differently: the user's value was kept.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KeyConflict {
    /// The key's path, e.g. `compilerOptions.target` or `dependencies.vite`.
    pub key: String,
    /// The user's value (kept); `None` when the user removed the key.
    pub yours: Option<Value>,
    /// What this modkit renders; `None` when it no longer has the key.
    pub template: Option<Value>,
}

/// The merged text and the keys left as the user had them although the template changed them.
/// `None` when one of the three is not a JSON object (the caller merges such a file as text).
pub fn merge(base: &str, ours: &str, theirs: &str) -> Option<(String, Vec<KeyConflict>)> {
    let options = ParseOptions::default();
    let base = jsonc_parser::parse_to_serde_value::<Value>(base, &options).ok()?;
    let ours_root = CstRootNode::parse(ours, &options).ok()?;
    let theirs_root = CstRootNode::parse(theirs, &options).ok()?;
    let ours_obj = ours_root.object_value()?;
    let theirs_obj = theirs_root.object_value()?;
    let Value::Object(_) = base else { return None };
    let mut conflicts = Vec::new();
    merge_object("", Some(&base), &ours_obj, &theirs_obj, &mut conflicts);
    Some((ours_root.to_string(), conflicts))
}

fn merge_object(
    path: &str,
    base: Option<&Value>,
    ours: &CstObject,
    theirs: &CstObject,
    conflicts: &mut Vec<KeyConflict>,
) {
    let theirs_props = theirs.properties();
    let theirs_keys: Vec<String> = theirs_props.iter().filter_map(|p| p.decoded_name()).collect();
    let mut keys: Vec<String> = theirs_keys.clone();
    if let Some(Value::Object(base)) = base {
        keys.extend(base.keys().filter(|k| !theirs_keys.contains(k)).cloned());
    }
    for key in keys {
        let full = if path.is_empty() {
            key.clone()
        } else {
            format!("{path}.{key}")
        };
        let b = base.and_then(|b| b.get(&key));
        let t_node = theirs.get(&key).and_then(|p| p.value());
        let t = t_node.as_ref().and_then(CstNode::to_serde_value);
        if b == t.as_ref() {
            continue; // the template did not change this key: whatever the user has stays
        }
        let o_prop = ours.get(&key);
        let o_node = o_prop.as_ref().and_then(|p| p.value());
        let o = o_node.as_ref().and_then(CstNode::to_serde_value);
        if o == t {
            continue;
        }
        if o.as_ref() == b {
            match (o_prop, t_node) {
                (Some(prop), Some(t_node)) => prop.set_value(input_of(&t_node)),
                (None, Some(t_node)) => {
                    let index = insertion_index(ours, &theirs_keys, &key);
                    ours.insert(index, &key, input_of(&t_node));
                }
                (Some(prop), None) => prop.remove(),
                (None, None) => {}
            }
            continue;
        }
        if let (Some(o_obj), Some(t_obj)) = (
            o_node.as_ref().and_then(CstNode::as_object),
            t_node.as_ref().and_then(CstNode::as_object),
        ) && b.is_none_or(Value::is_object)
        {
            merge_object(&full, b, &o_obj, &t_obj, conflicts);
            continue;
        }
        conflicts.push(KeyConflict {
            key: full,
            yours: o,
            template: t,
        });
    }
}

/// Where a key the template added goes in the user's object: after the nearest key that precedes
/// it in the template and that the user's object has, else first.
fn insertion_index(ours: &CstObject, theirs_keys: &[String], key: &str) -> usize {
    let Some(at) = theirs_keys.iter().position(|k| k == key) else {
        return ours.properties().len();
    };
    theirs_keys[..at]
        .iter()
        .rev()
        .find_map(|k| ours.get(k))
        .map_or(0, |p| p.property_index() + 1)
}

/// A value of the template's file as an input to the user's CST, keys in the template's order.
fn input_of(node: &CstNode) -> CstInputValue {
    if let Some(obj) = node.as_object() {
        return CstInputValue::Object(
            obj.properties()
                .into_iter()
                .filter_map(|p| Some((p.decoded_name()?, input_of(&p.value()?))))
                .collect(),
        );
    }
    if let Some(array) = node.as_array() {
        return CstInputValue::Array(array.elements().iter().map(input_of).collect());
    }
    match node.to_serde_value() {
        Some(Value::Bool(b)) => CstInputValue::Bool(b),
        Some(Value::Number(n)) => CstInputValue::Number(n.to_string()),
        Some(Value::String(s)) => CstInputValue::String(s),
        _ => CstInputValue::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "{\n  // why\n  \"a\": 1,\n  \"deps\": { \"x\": \"^1\" },\n  \"gone\": true\n}\n";

    #[test]
    fn template_changes_apply_and_user_keys_stay() {
        let ours = "{\n  // why\n  \"a\": 1,\n  // mine\n  \"deps\": { \"x\": \"^1\", \"mine\": \"^3\" },\n  \"gone\": true,\n  \"own\": 5\n}\n";
        let theirs = "{\n  \"a\": 1,\n  \"b\": 2,\n  \"deps\": { \"x\": \"^2\" }\n}\n";
        let (text, conflicts) = merge(BASE, ours, theirs).unwrap();
        assert!(conflicts.is_empty(), "{conflicts:?}");
        let value: Value = jsonc_parser::parse_to_serde_value(&text, &Default::default()).unwrap();
        assert_eq!(
            value,
            serde_json::json!({"a": 1, "b": 2, "deps": {"x": "^2", "mine": "^3"}, "own": 5})
        );
        assert!(text.contains("// why") && text.contains("// mine"), "{text}");
        assert!(
            text.find("\"b\"").unwrap() < text.find("\"deps\"").unwrap(),
            "{text}"
        );
    }

    #[test]
    fn both_changed_keeps_the_users_value() {
        let ours = "{ \"a\": 7, \"deps\": { \"x\": \"^1\" }, \"gone\": true }";
        let theirs = "{ \"a\": 2, \"deps\": { \"x\": \"^1\" }, \"gone\": true }";
        let (text, conflicts) = merge(BASE, ours, theirs).unwrap();
        assert_eq!(text, ours);
        assert_eq!(conflicts.len(), 1);
        assert_eq!(conflicts[0].key, "a");
    }

    #[test]
    fn not_an_object_is_left_to_the_text_merge() {
        assert!(merge(BASE, "[1]", BASE).is_none());
        assert!(merge(BASE, "{ broken", BASE).is_none());
    }
}
