//! Checking that an origin serves exactly a release.
//!
//! A server that serves the app's files can serve a different app: the limit of every
//! end-to-end-encrypted web app. Every build writes `release.sha256` (`sha256sum`
//! lines, one per file, written by `cargo xtask build-app`); an operator keeps it with the release and
//! runs `quietdesk-server verify-release URL release.sha256` from a monitor, which
//! fetches every listed file (and `/`, which must be `index.html`) from the origin and
//! compares hashes.

use sha2::{Digest, Sha256};

/// What a check found.
#[derive(Debug, Default)]
pub struct Report {
    pub checked: usize,
    /// Path and what is wrong with it.
    pub differing: Vec<(String, String)>,
}

/// Parse `sha256sum` output: `hash  path` (or `hash *path`) per line.
pub fn parse_manifest(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let (hash, path) = line.split_once(' ').ok_or_else(|| format!("line {}: not `hash  path`", n + 1))?;
        let path = path.trim_start_matches([' ', '*']).trim_start_matches("./");
        let hash = hash.to_ascii_lowercase();
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) || path.is_empty() || path.contains("..") {
            return Err(format!("line {}: not a SHA-256 and a relative path", n + 1));
        }
        out.push((hash, path.to_owned()));
    }
    if out.is_empty() {
        return Err("the manifest lists no files".into());
    }
    Ok(out)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Fetch every file of `manifest` from `base_url` and compare. A file released with
/// precompressed copies (`x.wasm.br`, `x.wasm.gz`) is also fetched as a browser fetches
/// it, asking for that encoding, and the body must be the released copy byte for byte:
/// an origin cannot serve one thing to this check and another to browsers.
pub async fn verify(base_url: &str, manifest: &str) -> Result<Report, Box<dyn std::error::Error>> {
    let files = parse_manifest(manifest)?;
    let base = base_url.trim_end_matches('/');
    let http = reqwest::Client::builder().build()?;
    let mut report = Report::default();
    let listed = |p: &str| files.iter().any(|(_, q)| q == p);
    // (released hash, path to fetch, encoding to ask for)
    let mut targets: Vec<(String, String, Option<&str>)> = Vec::new();
    for (hash, path) in &files {
        targets.push((hash.clone(), path.clone(), None));
        for (suffix, encoding) in [(".br", "br"), (".gz", "gzip")] {
            if let Some(original) = path.strip_suffix(suffix).filter(|o| listed(o)) {
                targets.push((hash.clone(), original.to_owned(), Some(encoding)));
                if original == "index.html" {
                    targets.push((hash.clone(), String::new(), Some(encoding)));
                }
            }
        }
        if path == "index.html" {
            targets.push((hash.clone(), String::new(), None)); // `/` must serve the released index.html
        }
    }
    for (want, path, encoding) in targets {
        report.checked += 1;
        let shown = match (path.is_empty(), encoding) {
            (true, None) => "/".to_owned(),
            (true, Some(e)) => format!("/ ({e})"),
            (false, None) => path.clone(),
            (false, Some(e)) => format!("{path} ({e})"),
        };
        let mut req = http.get(format!("{base}/{path}"));
        if let Some(e) = encoding {
            req = req.header(reqwest::header::ACCEPT_ENCODING, e);
        }
        match req.send().await {
            Ok(r) if r.status().is_success() => {
                let served = r.headers().get(reqwest::header::CONTENT_ENCODING).and_then(|v| v.to_str().ok());
                if encoding.is_some() && served != encoding {
                    let served = served.unwrap_or("none");
                    report.differing.push((shown, format!("served with content-encoding {served}")));
                    continue;
                }
                let got = hex(&Sha256::digest(r.bytes().await?));
                if got != want {
                    report.differing.push((shown, format!("SHA-256 {got}, released {want}")));
                }
            }
            Ok(r) => report.differing.push((shown, format!("HTTP {}", r.status()))),
            Err(e) => report.differing.push((shown, format!("not fetched: {e}"))),
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifests_parse_like_sha256sum_writes_them_and_junk_is_refused() {
        let h = "a".repeat(64);
        let ok = parse_manifest(&format!("{h}  index.html\n{h} *app.wasm\n{h}  ./icons/icon.svg\n")).unwrap();
        assert_eq!(
            ok.iter().map(|(_, p)| p.as_str()).collect::<Vec<_>>(),
            ["index.html", "app.wasm", "icons/icon.svg"]
        );
        for bad in ["", "nothash  index.html", &format!("{h}  ../etc/passwd"), &h] {
            assert!(parse_manifest(bad).is_err(), "{bad}");
        }
    }
}
