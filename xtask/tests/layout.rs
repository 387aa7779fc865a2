//! Checks on the code's layout a reviewer can run (`cargo test -p xtask`): the server
//! builds no spreadsheet code, and no source file grows past 800 lines without saying
//! why on its first line.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf()
}

#[test]
fn the_server_depends_on_no_spreadsheet_or_zip_crate() {
    let out = Command::new(env!("CARGO"))
        .args(["tree", "-p", "quietdesk-server", "-e", "normal", "--prefix", "none", "--offline"])
        .current_dir(root())
        .output()
        .expect("cargo tree runs");
    assert!(out.status.success(), "cargo tree: {}", String::from_utf8_lossy(&out.stderr));
    let tree = String::from_utf8_lossy(&out.stdout);
    assert!(tree.contains("quietdesk-shared"), "not the server's tree:\n{tree}");
    for line in tree.lines() {
        let name = line.split_whitespace().next().unwrap_or_default();
        assert!(
            !["zip", "quick-xml", "flate2", "calamine", "rust_xlsxwriter"].contains(&name),
            "the server depends on {line}: spreadsheets are read and written in the browser only"
        );
    }
}

/// Lines of `src` before its unit tests (`#[cfg(test)]` then `mod tests`).
fn lines_before_tests(src: &str) -> usize {
    let lines: Vec<&str> = src.lines().collect();
    let tests = (0..lines.len()).find(|&i| {
        lines[i].trim_start() == "#[cfg(test)]"
            && lines[i + 1..]
                .iter()
                .find(|l| !l.trim().is_empty())
                .is_some_and(|l| l.trim_start().starts_with("mod tests"))
    });
    tests.unwrap_or(lines.len())
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("a source directory") {
        let path = entry.expect("an entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn no_source_file_is_over_800_lines_without_a_reason_on_its_first_line() {
    let mut files = Vec::new();
    for krate in ["shared", "server", "app", "xtask", "fuzz"] {
        rust_files(&root().join(krate).join("src"), &mut files);
    }
    assert!(files.len() > 50, "the sources were not found");
    let mut long = Vec::new();
    for file in files {
        // A file of tests is as long as what it tests needs.
        if file.file_name().is_some_and(|n| n == "tests.rs") {
            continue;
        }
        let src = std::fs::read_to_string(&file).expect("readable");
        let n = lines_before_tests(&src);
        if n > 800 && !src.starts_with("// Long: ") {
            long.push(format!("{} ({n} lines)", file.display()));
        }
    }
    assert!(
        long.is_empty(),
        "over 800 lines without a `// Long: <why>` first line (split it, or say why not):\n{}",
        long.join("\n")
    );
}

/// A module graph per parent module of a crate: for each parent (`""` for the crate's
/// root, `"pages"` for `app/src/pages/`), its child modules and the siblings each one
/// names (`crate::…`, `super::…`, `self::…`), outside comments and unit tests. A
/// reference from deep inside a child counts as the child's.
type Graph = std::collections::BTreeMap<String, std::collections::BTreeSet<String>>;

fn module_graphs(src: &Path) -> std::collections::BTreeMap<String, Graph> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    // A file's module path: `pages/customer.rs` is [pages, customer], `pages/mod.rs` [pages].
    let path_of = |f: &Path| -> Vec<String> {
        let rel = f.strip_prefix(src).expect("under src");
        let mut parts: Vec<String> =
            rel.components().map(|c| c.as_os_str().to_string_lossy().trim_end_matches(".rs").to_owned()).collect();
        if matches!(parts.last().map(String::as_str), Some("mod" | "lib" | "main")) {
            parts.pop();
        }
        parts
    };
    let modules: std::collections::BTreeSet<Vec<String>> =
        files.iter().map(|f| path_of(f)).filter(|p| !p.is_empty()).collect();
    let mut graphs: std::collections::BTreeMap<String, Graph> = Default::default();
    for m in &modules {
        let (parent, name) = m.split_at(m.len() - 1);
        graphs.entry(parent.join("::")).or_default().entry(name[0].clone()).or_default();
    }
    for file in &files {
        let from = path_of(file);
        if from.is_empty() {
            continue;
        }
        let text = std::fs::read_to_string(file).expect("readable");
        let kept: usize = text.lines().take(lines_before_tests(&text)).map(|l| l.len() + 1).sum();
        let code: String = text[..kept.min(text.len())]
            .lines()
            .map(|l| l.split("//").next().unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n");
        for (prefix, base) in
            [("crate::", Vec::new()), ("super::", from[..from.len() - 1].to_vec()), ("self::", from.clone())]
        {
            for piece in code.split(prefix).skip(1) {
                let mut target = base.clone();
                target.extend(
                    piece
                        .split("::")
                        .map(|seg| seg.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect::<String>())
                        .take_while(|seg| !seg.is_empty()),
                );
                // The longest module path the reference names.
                while !target.is_empty() && !modules.contains(&target) {
                    target.pop();
                }
                let common = from.iter().zip(&target).take_while(|(a, b)| a == b).count();
                if common < from.len() && common < target.len() {
                    let parent = from[..common].join("::");
                    graphs
                        .get_mut(&parent)
                        .expect("a parent")
                        .get_mut(&from[common])
                        .expect("a child")
                        .insert(target[common].clone());
                }
            }
        }
    }
    graphs
}

/// The strongly connected components of more than one module (Tarjan's algorithm).
fn cycles(graph: &Graph) -> Vec<Vec<String>> {
    struct Walk<'g> {
        graph: &'g Graph,
        index: std::collections::HashMap<&'g str, usize>,
        low: std::collections::HashMap<&'g str, usize>,
        stack: Vec<&'g str>,
        found: Vec<Vec<String>>,
    }
    impl<'g> Walk<'g> {
        fn visit(&mut self, v: &'g str) {
            let n = self.index.len();
            self.index.insert(v, n);
            self.low.insert(v, n);
            self.stack.push(v);
            for w in &self.graph[v] {
                let w = w.as_str();
                if !self.index.contains_key(w) {
                    self.visit(w);
                    self.low.insert(v, self.low[v].min(self.low[w]));
                } else if self.stack.contains(&w) {
                    self.low.insert(v, self.low[v].min(self.index[w]));
                }
            }
            if self.low[v] == self.index[v] {
                let mut component = Vec::new();
                while let Some(w) = self.stack.pop() {
                    component.push(w.to_owned());
                    if w == v {
                        break;
                    }
                }
                if component.len() > 1 {
                    component.sort();
                    self.found.push(component);
                }
            }
        }
    }
    let mut walk =
        Walk { graph, index: Default::default(), low: Default::default(), stack: Vec::new(), found: Vec::new() };
    for v in graph.keys() {
        if !walk.index.contains_key(v.as_str()) {
            walk.visit(v);
        }
    }
    walk.found.sort();
    walk.found
}

/// Import cycles allowed to remain, each a known debt named in ARCHITECTURE.md, as
/// (crate, parent module, the modules in the cycle): the list must match exactly, so a
/// new cycle fails and a broken one is taken off. None remain.
const KNOWN_CYCLES: &[(&str, &str, &[&str])] = &[];

#[test]
fn no_new_import_cycle_between_the_modules_of_a_crate() {
    let mut found = Vec::new();
    for krate in ["shared", "server", "app", "xtask", "fuzz"] {
        let graphs = module_graphs(&root().join(krate).join("src"));
        assert!(
            matches!(krate, "fuzz" | "xtask") || graphs.values().map(|g| g.len()).sum::<usize>() > 3,
            "{krate}: no modules found"
        );
        for (parent, graph) in &graphs {
            for c in cycles(graph) {
                let edges: Vec<String> = c
                    .iter()
                    .flat_map(|a| graph[a].iter().filter(|b| c.contains(b)).map(move |b| format!("{a} → {b}")))
                    .collect();
                found.push((krate, parent.clone(), c, edges.join(", ")));
            }
        }
    }
    for (krate, parent, c, edges) in &found {
        let known = KNOWN_CYCLES.iter().any(|(k, p, m)| k == krate && p == parent && m == c);
        assert!(known, "{krate}, in `{parent}`: an import cycle between {c:?}: {edges}");
    }
    for (k, p, m) in KNOWN_CYCLES {
        let still = found.iter().any(|(krate, parent, c, _)| krate == k && parent == p && c == m);
        assert!(still, "{k}: the known cycle {m:?} is gone or changed: update KNOWN_CYCLES");
    }
}
