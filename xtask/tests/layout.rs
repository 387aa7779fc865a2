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
