//! The crate's layers stay layers: no import cycle between the top-level modules of `src/`, and
//! none between sibling files inside a module. References are read from the source
//! (`crate::x::...`, `super::x`, `use` groups), test code included.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// `src/`-relative path of every `.rs` file of the library (the binary's `cli/` and `main.rs`
/// are not part of it).
fn library_files(src: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![src.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                let rel = p.strip_prefix(src).unwrap().to_path_buf();
                if !rel.starts_with("cli") && rel != Path::new("main.rs") {
                    out.push(rel);
                }
            }
        }
    }
    out.sort();
    out
}

/// Source without comments (doc comments mention paths that are not imports).
fn code_of(text: &str) -> String {
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) if !l[..i].contains('"') => &l[..i],
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The module path of a file: `cluster/admin.rs` → [cluster, admin]; `cluster/mod.rs` → [cluster].
fn module_of(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .iter()
        .map(|c| c.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
        parts.pop();
    }
    parts
}

/// Module paths `text` refers to, absolute from the crate root.
fn references(module: &[String], is_mod_rs: bool, text: &str) -> BTreeSet<Vec<String>> {
    let code = code_of(text);
    let ident = |s: &str| {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect::<String>()
    };
    let mut out = BTreeSet::new();
    for (start, _) in code
        .match_indices("crate::")
        .chain(code.match_indices("super::"))
    {
        let before = code[..start].chars().last();
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            continue;
        }
        let (mut path, rest) = if code[start..].starts_with("crate::") {
            (Vec::new(), &code[start + 7..])
        } else {
            // `super` of a mod.rs is the parent of its module; of a file, its module's parent too.
            let mut p = module.to_vec();
            p.pop();
            let _ = is_mod_rs;
            (p, &code[start + 7..])
        };
        let mut rest = rest;
        loop {
            if let Some(group) = rest.strip_prefix('{') {
                for item in top_level_items(group) {
                    let name = ident(item.trim());
                    if !name.is_empty() && name != "self" {
                        let mut p = path.clone();
                        p.push(name);
                        out.insert(p);
                    }
                }
                out.insert(path.clone());
                break;
            }
            let name = ident(rest);
            if name.is_empty() || name == "self" {
                out.insert(path.clone());
                break;
            }
            path.push(name.clone());
            rest = &rest[name.len()..];
            match rest.strip_prefix("::") {
                Some(r) => rest = r,
                None => {
                    out.insert(path.clone());
                    break;
                }
            }
        }
    }
    out
}

/// The comma-separated items of a `{...}` group (its text after the `{`), nested groups kept whole.
fn top_level_items(group: &str) -> Vec<&str> {
    let (mut depth, mut start, mut items) = (0, 0, Vec::new());
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => {
                items.push(&group[start..i]);
                return items;
            }
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&group[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(&group[start..]);
    items
}

/// Cycles of a directed graph, each as its nodes (empty: none).
fn cycles<N: Ord + Clone>(edges: &BTreeMap<N, BTreeSet<N>>) -> Vec<Vec<N>> {
    fn visit<N: Ord + Clone>(
        n: &N,
        edges: &BTreeMap<N, BTreeSet<N>>,
        stack: &mut Vec<N>,
        done: &mut BTreeSet<N>,
        found: &mut Vec<Vec<N>>,
    ) {
        if let Some(i) = stack.iter().position(|x| x == n) {
            found.push(stack[i..].to_vec());
            return;
        }
        if done.contains(n) {
            return;
        }
        stack.push(n.clone());
        for m in edges.get(n).into_iter().flatten() {
            visit(m, edges, stack, done, found);
        }
        stack.pop();
        done.insert(n.clone());
    }
    let mut found = Vec::new();
    let mut done = BTreeSet::new();
    for n in edges.keys() {
        visit(n, edges, &mut Vec::new(), &mut done, &mut found);
    }
    found
}

struct Crate {
    /// file module path → module paths it refers to.
    refs: BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
}

fn read_crate() -> Crate {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut refs = BTreeMap::new();
    for rel in library_files(&src) {
        let text = std::fs::read_to_string(src.join(&rel)).unwrap();
        let module = module_of(&rel);
        let is_mod_rs = rel.ends_with("mod.rs");
        refs.entry(module.clone())
            .or_insert_with(BTreeSet::new)
            .extend(references(&module, is_mod_rs, &text));
    }
    Crate { refs }
}

impl Crate {
    /// The edges between the groups `group_of` puts modules in, ignoring edges inside a group and
    /// to modules that are not files.
    fn graph(
        &self,
        group_of: impl Fn(&[String]) -> Option<Vec<String>>,
    ) -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
        let files: BTreeSet<&Vec<String>> = self.refs.keys().collect();
        // The file a path lands in: its longest prefix that is a file module.
        let file_of = |p: &[String]| -> Option<Vec<String>> {
            (1..=p.len())
                .rev()
                .map(|n| p[..n].to_vec())
                .find(|m| files.contains(m))
        };
        let mut g: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
        for (from, targets) in &self.refs {
            let Some(a) = group_of(from) else { continue };
            g.entry(a.clone()).or_default();
            for t in targets {
                let Some(b) = file_of(t).and_then(|f| group_of(&f)) else {
                    continue;
                };
                if a != b {
                    g.entry(a.clone()).or_default().insert(b);
                }
            }
        }
        g
    }
}

#[test]
fn top_level_modules_import_each_other_without_cycles() {
    let c = read_crate();
    let g = c.graph(|m| m.first().map(|t| vec![t.clone()]));
    let found = cycles(&g);
    let show: BTreeMap<String, Vec<String>> = g
        .iter()
        .map(|(k, v)| (k.join("::"), v.iter().map(|m| m.join("::")).collect()))
        .collect();
    assert!(
        found.is_empty(),
        "cycles between top-level modules: {found:?}\ngraph: {show:#?}"
    );
    // The layers the crate documents (lib.rs): the batcher and the transport are leaves over the
    // command vocabulary, and nothing below the node reaches up into it.
    let deps = |m: &str| -> BTreeSet<String> {
        g.get(&vec![m.to_string()])
            .into_iter()
            .flatten()
            .map(|v| v.join("::"))
            .collect()
    };
    assert_eq!(deps("command"), BTreeSet::new(), "command is a leaf");
    // (and the reader sees the edges that exist)
    for d in ["write", "peer", "raft", "topics", "command"] {
        assert!(
            deps("cluster").contains(d),
            "cluster uses {d}: {:?}",
            deps("cluster")
        );
    }
    assert_eq!(
        deps("write"),
        BTreeSet::from(["command".to_string()]),
        "the batcher is a leaf over commands"
    );
    // The transport's own security (`tls`: certificates, handshakes, their metrics) is no
    // application type; anything else is.
    let infra = BTreeSet::from(["tls".to_string(), "metrics".to_string()]);
    assert!(
        deps("peer").is_subset(&infra),
        "the transport names no application type: {:?}",
        deps("peer")
    );
    assert!(
        deps("tls").is_subset(&BTreeSet::from(["metrics".to_string()])),
        "tls stays below the application: {:?}",
        deps("tls")
    );
    for low in ["command", "topics", "raft", "peer", "write"] {
        for high in ["cluster", "api", "server", "client"] {
            assert!(!deps(low).contains(high), "{low} depends on {high}");
        }
    }
}

#[test]
fn sibling_files_import_each_other_without_cycles() {
    let c = read_crate();
    // Group by file, but fold a mod.rs with everything under it out of its children's view: a
    // child naming its parent's items (`super::Node`) is not a cycle with its siblings.
    let g = c.graph(|m| Some(m.to_vec()));
    let g: BTreeMap<_, BTreeSet<_>> = g
        .into_iter()
        .map(|(from, to)| {
            let to = to
                .into_iter()
                .filter(|t: &Vec<String>| !from.starts_with(t) && !t.starts_with(&from))
                .collect();
            (from, to)
        })
        .collect();
    let found = cycles(&g);
    assert!(found.is_empty(), "import cycles between files: {found:?}");
    // The review's three (8db6018), by name.
    let imports = |a: &str, b: &str| {
        let a: Vec<String> = a.split("::").map(String::from).collect();
        let b: Vec<String> = b.split("::").map(String::from).collect();
        g.get(&a)
            .is_some_and(|t| t.iter().any(|x| x.starts_with(&b)))
    };
    assert!(
        !imports("topics::store", "topics::apply"),
        "store imports apply"
    );
    assert!(
        !imports("cluster::duties", "cluster::start")
            && !imports("cluster::gauges", "cluster::start")
    );
    assert!(!imports("peer", "cluster") && !imports("write", "cluster"));
}

#[test]
fn the_reader_finds_imports_in_use_groups_and_paths() {
    let m: Vec<String> = vec!["cluster".into(), "admin".into()];
    let r = references(
        &m,
        false,
        "use super::{rpc::{self, X}, Node};\nuse crate::write::{propose_one, WriteError};\n// crate::api::no\nlet x = crate::topics::retention::due(1);",
    );
    let has = |p: &str| r.contains(&p.split("::").map(String::from).collect::<Vec<_>>());
    assert!(has("cluster::rpc") && has("cluster::Node") && has("write::propose_one"));
    assert!(has("topics::retention::due"));
    assert!(!r.iter().any(|p| p.first().is_some_and(|f| f == "api")));
    let mut g = BTreeMap::new();
    g.insert(1, BTreeSet::from([2]));
    g.insert(2, BTreeSet::from([1]));
    assert_eq!(cycles(&g).len(), 1);
}
