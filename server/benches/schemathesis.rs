//! Schemathesis against the real server binary: property-based requests generated from
//! `/api/openapi.json` — valid, boundary and malformed — with a signed-in admin of a
//! real team, checking that no answer is a 5xx and that the server never panics.
//!
//! `cargo xtask schemathesis [--max-examples N] [--postgres [URL]]`, which installs the
//! pinned schemathesis into `target/schemathesis-venv` and runs
//! `cargo bench -p quietdesk-server --bench schemathesis -- …`.

#[path = "../tests/support/backend.rs"]
mod backend;
#[path = "../tests/support/client.rs"]
mod client;
#[path = "../tests/support/server.rs"]
mod server;

use std::process::Command;

use server::TestServer;

fn arg(name: &str, default: &str) -> String {
    let mut it = std::env::args().skip_while(|a| a != name);
    it.next().and_then(|_| it.next()).unwrap_or_else(|| default.to_owned())
}

#[tokio::main]
async fn main() {
    let st = std::env::var("SCHEMATHESIS").unwrap_or_else(|_| "schemathesis".into());
    let max_examples = arg("--max-examples", "30");
    let srv = TestServer::start_with(&["--rate-per-minute", "0"]);
    let admin = client::signup(&srv.base, "fuzzadmin", "pass-fuzz-admin").await;
    let team = admin.create_team().await;
    println!(
        "schemathesis {max_examples} examples per operation against {} on {}; team {team}",
        srv.base,
        if backend::on_postgres() { "PostgreSQL" } else { "SQLite" }
    );
    // Two passes: path ids as generated (mostly unknown teams: 404s), then every
    // `{team}` and `{username}` fixed to the real ones, so bodies reach the handlers.
    let config = srv.dir.path().join("schemathesis.toml");
    std::fs::write(&config, format!("[parameters]\n\"path.team\" = \"{team}\"\n\"path.username\" = \"fuzzadmin\"\n"))
        .unwrap();
    let mut failed = Vec::new();
    for (pass, config) in [("generated ids", None), ("the real team", Some(config))] {
        println!("\n==> pass: {pass}");
        let (url, token, st, max_examples) =
            (format!("{}/api/openapi.json", srv.base), admin.token.clone(), st.clone(), max_examples.clone());
        // Schemathesis keeps a cache in its working directory: the server's temp dir.
        let workdir = srv.dir.path().to_owned();
        let status = tokio::task::spawn_blocking(move || {
            let mut cmd = Command::new(&st);
            cmd.current_dir(&workdir);
            if let Some(config) = &config {
                cmd.arg("--config-file").arg(config);
            }
            cmd.args(["run", &url, "--checks", "not_a_server_error", "--max-examples", &max_examples])
                .args(["--seed", "20261123", "--workers", "1", "--phases", "examples,coverage,fuzzing"])
                .args(["--suppress-health-check", "filter_too_much,too_slow"])
                .args(["--header", &format!("Authorization: Bearer {token}")])
                // Keep the session: logging out, revoking devices or declaring an
                // incident would turn every later request into a 401.
                .args(["--exclude-operation-id", "post_/api/v1/auth/logout"])
                .args(["--exclude-operation-id", "post_/api/v1/devices/{device}/revoke"])
                .args(["--exclude-operation-id", "post_/api/v1/teams/{team}/incident"])
                .status()
                .unwrap_or_else(|e| panic!("{st} does not run ({e}); `cargo xtask schemathesis` installs it"))
        })
        .await
        .unwrap();
        if !status.success() {
            failed.push(pass);
        }
    }
    let log = std::fs::read_to_string(srv.dir.path().join("server.log")).unwrap_or_default();
    let panics = log.lines().filter(|l| l.contains("panicked")).count();
    let health = reqwest::get(format!("{}/api/v1/health", srv.base)).await.map(|r| r.status().is_success());
    println!(
        "server: {} log lines, {panics} panics, still serving: {}",
        log.lines().count(),
        matches!(health, Ok(true))
    );
    assert_eq!(panics, 0, "the server panicked");
    assert!(matches!(health, Ok(true)), "the server stopped serving");
    assert!(failed.is_empty(), "schemathesis found failures in the passes {failed:?} (see above)");
}
