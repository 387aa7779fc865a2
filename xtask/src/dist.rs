//! What every app build ends with: the service worker learns the release's files and
//! their SHA-256 (it keeps nothing else, and nothing that does not match); the files
//! browsers download are precompressed (brotli and gzip, next to each original as `.br`
//! and `.gz`, which the server sends to a browser that accepts them); then the release
//! manifest over every file, compressed ones included (`release.sha256`, one `sha256sum`
//! line per file; see SECURITY.md). Run again after changing `index.html` (the API's
//! address: `cargo xtask api-origin DIST URL`), it makes all three agree again.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// Worth compressing: text and WebAssembly. Images are compressed already.
const COMPRESSIBLE: &[&str] = &["wasm", "js", "css", "html", "svg", "webmanifest", "json", "txt"];
/// Below this, the headers cost more than compression saves.
const MIN_BYTES: u64 = 1024;
pub const MANIFEST: &str = "release.sha256";

pub fn finish(dist: &Path) -> Result<(), String> {
    compact_translations(dist)?;
    release_into_service_worker(dist)?;
    let mut files = Vec::new();
    walk(dist, &mut files).map_err(|e| format!("{}: {e}", dist.display()))?;
    let (mut raw, mut br_total, mut gz_total) = (0u64, 0u64, 0u64);
    for path in files.iter().filter(|p| is_compressible(p)) {
        let bytes = fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        if (bytes.len() as u64) < MIN_BYTES {
            continue;
        }
        let br = brotli_of(&bytes);
        let gz = gzip_of(&bytes);
        raw += bytes.len() as u64;
        br_total += br.len() as u64;
        gz_total += gz.len() as u64;
        write(&with_suffix(path, "br"), &br)?;
        write(&with_suffix(path, "gz"), &gz)?;
    }
    eprintln!("==> precompressed {raw} bytes: brotli {br_total}, gzip {gz_total}");
    write_manifest(dist)
}

/// The namespaces of the texts the log-in screen can show (before the app has
/// unlocked, or created, an account): the first visit fetches only these
/// (`<tag>.start.json`), the rest once the app goes past that screen.
/// `xtask/tests/i18n.rs` checks that the log-in screen's code uses no other.
pub const START_NAMESPACES: &[&str] =
    &["auth", "common", "error", "invite", "lock", "passphrase", "recovery", "role", "shell"];

/// The translation tables (`i18n/<tag>.json`), without the indentation they are edited
/// with, and beside each its log-in screen's part (`i18n/<tag>.start.json`).
fn compact_translations(dist: &Path) -> Result<(), String> {
    let Ok(entries) = fs::read_dir(dist.join("i18n")) else { return Ok(()) };
    for path in entries.filter_map(|e| e.ok().map(|e| e.path())) {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
        if !name.ends_with(".json") || name.ends_with(".start.json") {
            continue;
        }
        let text = fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let table: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        let start: serde_json::Map<String, serde_json::Value> = table
            .iter()
            .filter(|(k, _)| k.split_once('.').is_some_and(|(ns, _)| START_NAMESPACES.contains(&ns)))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        write(&path, serde_json::Value::Object(table).to_string().as_bytes())?;
        let start_path = path.with_file_name(name.replace(".json", ".start.json"));
        write(&start_path, serde_json::Value::Object(start).to_string().as_bytes())?;
    }
    Ok(())
}

/// The service worker's `RELEASE` (path → SHA-256 of every file a browser may keep:
/// not the compressed copies, the manifest or the worker itself) and `RELEASE_ID`.
fn release_into_service_worker(dist: &Path) -> Result<(), String> {
    let sw = dist.join("sw.js");
    let Ok(code) = fs::read_to_string(&sw) else { return Ok(()) };
    let mut files = Vec::new();
    walk(dist, &mut files).map_err(|e| format!("{}: {e}", dist.display()))?;
    let mut entries: Vec<String> = Vec::new();
    for path in files {
        let rel = path.strip_prefix(dist).expect("under dist").to_string_lossy().replace('\\', "/");
        let derived = rel.ends_with(".br") || rel.ends_with(".gz");
        if derived || rel == MANIFEST || rel == "sw.js" || rel.contains('"') {
            continue;
        }
        let bytes = fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        entries.push(format!("\"/{rel}\":\"{}\"", hex(&Sha256::digest(&bytes))));
    }
    entries.sort();
    let release = format!("{{{}}}", entries.join(","));
    let id = &hex(&Sha256::digest(release.as_bytes()))[..16];
    let mut out = String::new();
    let (mut set_release, mut set_id) = (false, false);
    for line in code.lines() {
        if line.starts_with("const RELEASE = ") {
            out.push_str(&format!("const RELEASE = {release}; // path → SHA-256 (hex); written by the build\n"));
            set_release = true;
        } else if line.starts_with("const RELEASE_ID = ") {
            out.push_str(&format!("const RELEASE_ID = '{id}'; // written by the build\n"));
            set_id = true;
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    if !(set_release && set_id) {
        return Err(format!("{}: no `const RELEASE = ` and `const RELEASE_ID = ` lines to fill in", sw.display()));
    }
    eprintln!("==> the service worker keeps release {id} ({} files)", entries.len());
    write(&sw, out.as_bytes())
}

fn is_compressible(p: &Path) -> bool {
    p.extension().and_then(|e| e.to_str()).is_some_and(|e| COMPRESSIBLE.contains(&e))
}

fn with_suffix(p: &Path, suffix: &str) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(".");
    s.push(suffix);
    PathBuf::from(s)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            walk(&path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), String> {
    fs::write(path, bytes).map_err(|e| format!("{}: {e}", path.display()))
}

fn brotli_of(bytes: &[u8]) -> Vec<u8> {
    let params = brotli::enc::BrotliEncoderParams { quality: 11, lgwin: 24, ..Default::default() };
    let mut out = Vec::new();
    brotli::BrotliCompress(&mut &bytes[..], &mut out, &params).expect("in-memory brotli");
    out
}

fn gzip_of(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(bytes).expect("in-memory gzip");
    enc.finish().expect("in-memory gzip")
}

/// `sha256sum` lines (`<hex>  <path>`), sorted by path, for every file but the manifest.
fn write_manifest(dist: &Path) -> Result<(), String> {
    let mut files = Vec::new();
    walk(dist, &mut files).map_err(|e| format!("{}: {e}", dist.display()))?;
    let mut lines: Vec<(String, String)> = Vec::new();
    for path in files {
        let rel = path.strip_prefix(dist).expect("under dist").to_string_lossy().replace('\\', "/");
        if rel == MANIFEST {
            continue;
        }
        let bytes = fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        lines.push((rel, hex(&Sha256::digest(&bytes))));
    }
    lines.sort();
    let text: String = lines.iter().map(|(p, h)| format!("{h}  {p}\n")).collect();
    write(&dist.join(MANIFEST), text.as_bytes())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
