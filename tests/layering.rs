//! The import graph of `src/` follows the layer order written in
//! `docs/architecture.md`: a module may use modules of its own layer or of a
//! layer below, never one above, and no two modules use each other (neither
//! two top-level modules nor two sibling files of one folder such as
//! `config/load.rs` and `config/validate.rs`).
//!
//! It reads every `crate::…` path (in `use` lines and inline) and every
//! `super::…` path between sibling files, outside comments and outside
//! `#[cfg(test)]` items: test code may build its fixtures with a higher layer
//! (a check's test parsing a config file, say) without that being a dependency
//! of the product.
//!
//! Checked by hand when it was written, by putting back one at a time the
//! imports issue 8 listed: it fails, naming the file, on store using alert
//! (`Severity`), checks (`State`) or config (`StorageConfig`); alert using
//! agent (`service_metric`), notify (`Message`) or config (`Config`);
//! calendar using config (`BusinessConfig`); status using agent
//! (`state_key`); and `config/validate.rs` using `config/load.rs` (a circle,
//! as load uses validate). The rest of that list is legal on its own under
//! the written order, and is caught by the ```` ```apart ```` block of the
//! same docs, pairs that stay apart although the order would allow the
//! import: alert using collect, notify using checks or alert (the metric
//! names moved to `vocabulary`, `Secret` and the client builder to leaves,
//! `retry_after` to the outbox, `Message` to `message`). Config using
//! checks, alert or notify is config's job of aggregating their sections.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The lines of the ```` ```name ```` block of docs/architecture.md.
fn doc_block(name: &str) -> Vec<String> {
    let doc =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/architecture.md"))
            .expect("docs/architecture.md is readable");
    doc.split(&format!("```{name}\n"))
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .unwrap_or_else(|| panic!("docs/architecture.md has no ```{name} block"))
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_owned)
        .collect()
}

/// The layers, bottom first, from the ```` ```layers ```` block of the docs.
fn layers() -> BTreeMap<String, usize> {
    let mut layer_of = BTreeMap::new();
    for (index, line) in doc_block("layers").iter().enumerate() {
        for module in line.split(',') {
            layer_of.insert(module.trim().to_owned(), index);
        }
    }
    layer_of
}

/// The pairs of the ```` ```apart ```` block: the first module never uses
/// the second, though the layer order would allow it.
fn apart() -> Vec<(String, String)> {
    doc_block("apart")
        .iter()
        .filter_map(|line| line.split_once(','))
        .map(|(a, b)| (a.trim().to_owned(), b.trim().to_owned()))
        .collect()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("src/ is readable") {
        let path = entry.expect("src/ entry is readable").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The source without comments and without `#[cfg(test)]` items.
fn product_code(text: &str) -> String {
    let mut kept = String::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let trimmed = line.trim();
        if trimmed.starts_with("//") {
            continue;
        }
        if trimmed == "#[cfg(test)]" {
            // Skip the next item: one line ending in `;`, or a braced block.
            let mut depth = 0i32;
            for item in lines.by_ref() {
                depth += item.matches('{').count() as i32 - item.matches('}').count() as i32;
                if depth <= 0 && (item.trim_end().ends_with(';') || item.trim_end().ends_with('}'))
                {
                    break;
                }
            }
            continue;
        }
        kept.push_str(line);
        kept.push('\n');
    }
    kept
}

/// Module names following each occurrence of `prefix` (`crate::` or
/// `super::`), including each name of a `prefix{a, b::c}` group.
fn targets(code: &str, prefix: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (at, _) in code.match_indices(prefix) {
        if code[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        let rest = &code[at + prefix.len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let inner = group.split('}').next().unwrap_or("");
            for part in inner.split(',') {
                let name: String = part
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    found.push(name);
                }
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                found.push(name);
            }
        }
    }
    found
}

/// One import: (importing module, imported module, file it is in).
type Edge = (String, String, String);

/// The imports between top-level modules, and the
/// same for sibling files inside each folder module.
fn edges(src: &Path) -> (Vec<Edge>, Vec<Edge>) {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut top = Vec::new();
    let mut siblings = Vec::new();
    for file in files {
        let relative = file.strip_prefix(src).expect("under src/");
        let parts: Vec<String> = relative
            .iter()
            .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_owned())
            .collect();
        let name = parts.last().map(String::as_str).unwrap_or("");
        if parts.len() == 1 && (name == "lib" || name == "main") {
            continue;
        }
        if parts.iter().any(|p| p == "tests" || p == "testing") {
            continue;
        }
        let shown = relative.display().to_string();
        let code = product_code(&fs::read_to_string(&file).expect("source is readable"));
        let module = parts[0].clone();
        for target in targets(&code, "crate::") {
            if target != module {
                top.push((module.clone(), target, shown.clone()));
            }
        }
        // Sibling files: src/<module>/<file>.rs using super::<sibling> or
        // crate::<module>::<sibling>.
        if parts.len() == 2 && name != "mod" {
            let folder = src.join(&module);
            let is_sibling = |other: &str| {
                other != name
                    && (folder.join(format!("{other}.rs")).exists()
                        || folder.join(other).join("mod.rs").exists())
            };
            let via_crate = format!("crate::{module}::");
            for target in targets(&code, "super::")
                .into_iter()
                .chain(targets(&code, &via_crate))
            {
                if is_sibling(&target) {
                    siblings.push((
                        format!("{module}::{name}"),
                        format!("{module}::{target}"),
                        shown.clone(),
                    ));
                }
            }
        }
    }
    (top, siblings)
}

fn cycles(edges: &[Edge]) -> Vec<String> {
    let pairs: BTreeSet<(&str, &str)> = edges
        .iter()
        .map(|(a, b, _)| (a.as_str(), b.as_str()))
        .collect();
    pairs
        .iter()
        .filter(|(a, b)| a < b && pairs.contains(&(*b, *a)))
        .map(|(a, b)| {
            let files: BTreeSet<&str> = edges
                .iter()
                .filter(|(x, y, _)| (x == a && y == b) || (x == b && y == a))
                .map(|(_, _, f)| f.as_str())
                .collect();
            format!(
                "{a} and {b} use each other (in {})",
                files.into_iter().collect::<Vec<_>>().join(", ")
            )
        })
        .collect()
}

#[test]
fn imports_point_down_the_layers_and_never_in_a_circle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let layer_of = layers();
    let apart = apart();
    assert!(!apart.is_empty(), "the ```apart block lists no pair");
    let (top, siblings) = edges(&src);
    let mut problems = Vec::new();
    let mut modules: BTreeSet<&str> = BTreeSet::new();
    for (from, to, file) in &top {
        modules.insert(from);
        let (Some(&to_layer), Some(&from_layer)) = (layer_of.get(to), layer_of.get(from)) else {
            for missing in [from, to] {
                if !layer_of.contains_key(missing) {
                    problems.push(format!(
                        "{file}: module `{missing}` is not in the ```layers block of docs/architecture.md; add it to its layer"
                    ));
                }
            }
            continue;
        };
        if apart.iter().any(|(a, b)| a == from && b == to) {
            problems.push(format!(
                "{file}: `{from}` uses `{to}`, which docs/architecture.md keeps apart from it (```apart); move what it needs to a lower layer both can use"
            ));
        }
        if to_layer > from_layer {
            problems.push(format!(
                "{file}: `{from}` (layer {from_layer}) uses `{to}` (layer {to_layer}, above it); move what it needs down a layer"
            ));
        }
    }
    problems.extend(cycles(&top));
    problems.extend(cycles(&siblings));
    problems.sort();
    problems.dedup();
    assert!(
        problems.is_empty(),
        "the layer rule of docs/architecture.md is broken:\n{}",
        problems.join("\n")
    );
}

#[test]
fn every_module_of_the_library_is_in_the_layer_list_and_in_lib_docs() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let lib = fs::read_to_string(root.join("src/lib.rs")).expect("src/lib.rs is readable");
    let layer_of = layers();
    let declared: Vec<&str> = lib
        .lines()
        .filter_map(|l| l.strip_prefix("pub mod "))
        .map(|l| l.trim_end_matches(';'))
        .collect();
    assert!(!declared.is_empty());
    for module in &declared {
        assert!(
            layer_of.contains_key(*module),
            "`{module}` is missing from the ```layers block of docs/architecture.md"
        );
        assert!(
            lib.contains(&format!("[`{module}`]")),
            "the docs of src/lib.rs do not name [`{module}`]"
        );
    }
    for module in layer_of.keys() {
        assert!(
            declared.contains(&module.as_str()),
            "docs/architecture.md lists `{module}`, which src/lib.rs does not declare"
        );
    }
}
