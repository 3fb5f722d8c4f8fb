//! The layers of `src/`: data types import no behaviour, stores import neither the registrar nor
//! access control, the core imports nothing from the HTTP adapters (`http`, `service`, `axum`),
//! and no import cycle is longer than two files (a module and the one it serves, such as
//! `registrar` and a stage that adds a method to it).
//!
//! The graph is read from the source: every `crate::a::b` path outside comments and unit tests,
//! and every `super::` path of a child module, is an edge to the longest module file it names.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Module files by name (`pipeline/bind`, `store/memory`), with their code outside comments and
/// `#[cfg(test)]` modules.
fn modules() -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("src")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("src/ is readable") {
            let path = entry.expect("an entry").path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().and_then(|e| e.to_str()) != Some("rs") {
                continue;
            }
            let rel = path
                .strip_prefix(Path::new(env!("CARGO_MANIFEST_DIR")).join("src"))
                .expect("under src")
                .with_extension("")
                .to_string_lossy()
                .replace('\\', "/");
            let text = std::fs::read_to_string(&path).expect("a readable source file");
            let code = text
                .split("#[cfg(test)]\nmod tests")
                .next()
                .unwrap_or_default()
                .lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .collect::<Vec<_>>()
                .join("\n");
            out.insert(rel, code);
        }
    }
    out
}

/// The module files each module file imports.
fn imports(modules: &BTreeMap<String, String>) -> BTreeMap<String, BTreeSet<String>> {
    let resolve = |segments: &[&str]| -> Option<String> {
        (1..=segments.len())
            .rev()
            .map(|n| segments[..n].join("/"))
            .find(|candidate| modules.contains_key(candidate))
    };
    let mut edges = BTreeMap::new();
    for (name, code) in modules {
        let mut to = BTreeSet::new();
        for (at, _) in code.match_indices("crate::") {
            let rest = &code[at + "crate::".len()..];
            let path: Vec<&str> = rest
                .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .next()
                .unwrap_or_default()
                .split("::")
                .filter(|s| !s.is_empty())
                .collect();
            let mut targets = vec![path.clone()];
            // `crate::m::{a, b::C}`: each lowercase item may be a module of its own.
            if rest[path.iter().map(|s| s.len() + 2).sum::<usize>()..].starts_with('{') {
                let group = rest.split_once('{').map(|(_, g)| g).unwrap_or_default();
                let group = group.split('}').next().unwrap_or_default();
                for item in group.split(',') {
                    let first = item.trim().split("::").next().unwrap_or_default();
                    if first.starts_with(|c: char| c.is_ascii_lowercase()) && first != "self" {
                        let mut nested = path.clone();
                        nested.push(first);
                        targets.push(nested);
                    }
                }
            }
            for target in targets {
                if let Some(module) = resolve(&target) {
                    if &module != name {
                        to.insert(module);
                    }
                }
            }
        }
        if code.contains("super::") {
            if let Some((parent, _)) = name.rsplit_once('/') {
                to.insert(parent.to_owned());
            }
        }
        edges.insert(name.clone(), to);
    }
    edges
}

/// The longest simple cycle through `start` (bounded search: the graph is small).
fn longest_cycle(
    edges: &BTreeMap<String, BTreeSet<String>>,
    start: &str,
    path: &mut Vec<String>,
    best: &mut Vec<String>,
) {
    let Some(last) = path.last().cloned() else {
        return;
    };
    for next in &edges[&last] {
        if next == start && path.len() > best.len() {
            *best = path.clone();
        } else if !path.contains(next) && next.as_str() > start && path.len() < 8 {
            path.push(next.clone());
            longest_cycle(edges, start, path, best);
            path.pop();
        }
    }
}

#[test]
fn no_import_cycle_is_longer_than_two_files() {
    let edges = imports(&modules());
    let mut cycles = Vec::new();
    for start in edges.keys() {
        let mut best = Vec::new();
        longest_cycle(&edges, start, &mut vec![start.clone()], &mut best);
        if best.len() > 2 {
            cycles.push(best.join(" -> "));
        }
    }
    assert!(cycles.is_empty(), "import cycles:\n{}", cycles.join("\n"));
}

#[test]
fn data_types_and_stores_import_no_behaviour() {
    let edges = imports(&modules());
    let behaviour = [
        "registrar",
        "pipeline",
        "http",
        "documents",
        "register",
        "update",
        "read",
        "delete",
    ];
    let rules: [(&str, &[&str]); 8] = [
        ("metadata", &behaviour),
        ("request", &behaviour),
        ("response", &behaviour),
        ("error", &behaviour),
        ("policy", &behaviour),
        ("validate", &behaviour),
        ("store", &behaviour),
        ("store/memory", &behaviour),
    ];
    for (module, forbidden) in rules {
        for imported in &edges[module] {
            let top = imported.split('/').next().unwrap_or_default();
            assert!(!forbidden.contains(&top), "`{module}` imports `{imported}`");
        }
    }
    // The core never reaches into the HTTP adapters.
    let adapters = ["lib", "http", "service", "axum"];
    for (module, imported) in &edges {
        if !adapters.contains(&module.as_str()) {
            assert!(
                !imported.contains("http"),
                "`{module}` imports the http adapter"
            );
        }
    }
}

#[test]
fn the_check_sees_a_cycle_when_there_is_one() {
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (from, to) in [("a", "b"), ("b", "c"), ("c", "a"), ("c", "b")] {
        edges.entry(from.into()).or_default().insert(to.into());
    }
    let mut best = Vec::new();
    longest_cycle(&edges, "a", &mut vec!["a".to_owned()], &mut best);
    assert_eq!(best, ["a", "b", "c"]);
}
