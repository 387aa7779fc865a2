//! `cargo xtask <command>`: the project's commands.
//!
//! * `setup`: install what a fresh Debian machine lacks (idempotent; checks versions).
//! * `run`:   setup, build the app (release), serve it and the API on SQLite.
//! * `api-origin DIST URL`: point a built app at an API on another origin.
//! * `test`:  setup, then every test: Rust unit and integration tests, wasm tests in
//!   headless Chromium, and the Playwright end-to-end suite against the real server.
//! * `bench`: the server/crypto benchmarks.
//! * `load`:  many simulated clients against the release server (throughput, latency,
//!   idle websockets, poke fan-out); `--postgres` runs it on PostgreSQL.
//! * `schemathesis`: generated requests from `/api/openapi.json` against the release
//!   server; fails on any 5xx or panic.

use std::env;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

mod dist;
mod wasm;

const TRUNK_VERSION: &str = "0.21.14";
/// The browser and its driver, and a CJK font so Chinese text renders in screenshots.
const APT_PACKAGES: &[&str] = &["chromium", "chromium-driver", "fonts-noto-cjk"];
/// npm's binaryen (a devDependency of `e2e/`) provides the `wasm-opt` the app build runs; Debian's
/// binaryen 108 breaks the reference-types tables wasm-bindgen 0.2.130 emits.
const NODE_BIN: &str = "e2e/node_modules/.bin";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

type Result<T = ()> = std::result::Result<T, String>;

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let root = project_root();
    env::set_current_dir(&root).expect("project root exists");
    prepend_cargo_bin_to_path();
    let result = match args.first().map(String::as_str) {
        Some("setup") => setup(),
        Some("run") => run(&args[1..]),
        Some("test") => test(),
        Some("bench") => bench(),
        Some("load") => load(&args[1..]),
        Some("schemathesis") => schemathesis(&args[1..]),
        Some("build-app") => setup().and_then(|_| build_app(args.iter().any(|a| a == "--release"))),
        // The app build alone (what `test` runs once setup is done).
        Some("build-app-only") => build_app(true),
        Some("api-origin") => match (args.get(1), args.get(2)) {
            (Some(dist), Some(url)) => api_origin(Path::new(dist), url),
            _ => Err("usage: cargo xtask api-origin DIST URL".into()),
        },
        _ => {
            eprintln!("usage: cargo xtask <setup|run|test|api-origin DIST URL|bench|load [--postgres [URL]] [--clients N --seconds S --idle K --fanout F]|schemathesis [--postgres [URL]] [--max-examples N]|build-app [--release]>");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("\nxtask: {e}");
            ExitCode::FAILURE
        }
    }
}

fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives in the workspace").to_path_buf()
}

/// Cargo's installs (trunk, wasm-bindgen) and the e2e packages' tools (wasm-opt) come
/// first on PATH, so every step finds the versions setup checked.
fn prepend_cargo_bin_to_path() {
    let home = env::var("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env::var("HOME").unwrap_or_else(|_| "/root".into())).join(".cargo"));
    for bin in [home.join("bin"), project_root().join(NODE_BIN)] {
        let path = env::var("PATH").unwrap_or_default();
        if !path.split(':').any(|p| Path::new(p) == bin) {
            env::set_var("PATH", format!("{}:{path}", bin.display()));
        }
    }
}

fn step(name: &str, cmd: &mut Command) -> Result {
    eprintln!("\n==> {name}\n    $ {}", describe(cmd));
    let status = cmd.status().map_err(|e| format!("{name}: could not start: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("step failed: {name} ({status})"))
    }
}

fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

fn output(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

fn have(program: &str) -> bool {
    Command::new("sh").args(["-c", &format!("command -v {program}")]).output().is_ok_and(|o| o.status.success())
}

fn is_root() -> bool {
    output("id", &["-u"]).is_some_and(|s| s.trim() == "0")
}

fn privileged(args: &[&str]) -> Command {
    let mut c = if is_root() { Command::new(args[0]) } else { Command::new("sudo") };
    if is_root() {
        c.args(&args[1..]);
    } else {
        c.args(args);
    }
    c.env("DEBIAN_FRONTEND", "noninteractive");
    c
}

/// The `wasm-bindgen` version the workspace is locked to; the CLI must match it exactly.
fn locked_wasm_bindgen_version() -> Result<String> {
    let lock = std::fs::read_to_string("Cargo.lock").map_err(|e| format!("Cargo.lock: {e}"))?;
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() == "name = \"wasm-bindgen\"" {
            if let Some(v) = lines.next().and_then(|l| l.trim().strip_prefix("version = \"")) {
                return Ok(v.trim_end_matches('"').to_owned());
            }
        }
    }
    Err("wasm-bindgen not found in Cargo.lock".into())
}

fn setup() -> Result {
    let started = Instant::now();
    let targets = output("rustup", &["target", "list", "--installed"]).unwrap_or_default();
    if !targets.lines().any(|t| t.trim() == "wasm32-unknown-unknown") {
        step("add the wasm32 target", Command::new("rustup").args(["target", "add", "wasm32-unknown-unknown"]))?;
    }

    let missing: Vec<&str> = [("chromium", "chromium"), ("chromedriver", "chromium-driver")]
        .iter()
        .filter(|(bin, _)| !have(bin))
        .map(|(_, pkg)| *pkg)
        .collect();
    let cjk_font = Path::new("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc").exists();
    if !missing.is_empty() || !cjk_font || !have("node") || !have("npm") {
        step("apt-get update", &mut privileged(&["apt-get", "update"]))?;
        let mut pkgs: Vec<&str> = APT_PACKAGES.to_vec();
        if !have("node") || !have("npm") {
            pkgs.extend(["nodejs", "npm"]);
        }
        let mut args = vec!["apt-get", "install", "-y", "--no-install-recommends"];
        args.extend(pkgs);
        step("install the browser, its driver and a CJK font", &mut privileged(&args))?;
    }

    let trunk_ok = output("trunk", &["--version"]).is_some_and(|v| v.contains(TRUNK_VERSION));
    if !trunk_ok {
        step(
            "install trunk",
            Command::new("cargo").args(["install", "trunk", "--version", TRUNK_VERSION, "--locked"]),
        )?;
    }

    let wbg = locked_wasm_bindgen_version()?;
    let wbg_ok = output("wasm-bindgen", &["--version"])
        .is_some_and(|v| v.split_whitespace().nth(1) == Some(wbg.as_str()))
        && have("wasm-bindgen-test-runner");
    if !wbg_ok {
        let install = |locked: bool| {
            let mut c = Command::new("cargo");
            c.args(["install", "wasm-bindgen-cli", "--version", &wbg, "--force"]);
            if locked {
                c.arg("--locked");
            }
            step("install wasm-bindgen-cli (must match Cargo.lock)", &mut c)
        };
        // The CLI's own lockfile can name a crate version the registry mirror lacks;
        // then resolve afresh (same CLI version, compatible dependencies).
        install(true).or_else(|_| install(false))?;
    }

    // npm writes node_modules/.package-lock.json on every install; older than the
    // committed lockfile (or package.json) means someone changed the dependencies since.
    let modified = |p: &str| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let has_lock = Path::new("e2e/package-lock.json").exists();
    let installed = modified("e2e/node_modules/.package-lock.json");
    let wanted = [modified("e2e/package-lock.json"), modified("e2e/package.json")];
    let stale = installed.is_none_or(|i| wanted.iter().flatten().any(|w| *w > i));
    if stale {
        let how = if has_lock { "ci" } else { "install" };
        step(
            "install the e2e dependencies",
            Command::new("npm").args([how, "--no-audit", "--no-fund"]).current_dir("e2e"),
        )?;
    }

    // The app builds offline (Trunk.toml): fetch every crate the lockfile names up
    // front, so a fresh clone can build the app. Quick no-op
    // when the cache is warm.
    step("fetch crates", Command::new("cargo").args(["fetch"]))?;
    eprintln!("==> setup complete ({:.0?})", started.elapsed());
    Ok(())
}

fn build_app(release: bool) -> Result {
    build_app_into(release, "dist")
}

/// Build the app into `dist`: Trunk for the page, its style and static files, then the
/// WebAssembly in modules (`wasm.rs`); then precompress it all and write its manifest.
fn build_app_into(release: bool, dist: &str) -> Result {
    let mut cmd = Command::new("trunk");
    cmd.args(["build", "--offline", "--dist", dist]);
    if release {
        cmd.arg("--release");
    }
    step(if release { "build the app's page (release)" } else { "build the app's page" }, &mut cmd)?;
    wasm::build(Path::new(dist))?;
    dist::finish(Path::new(dist))
}

/// Tell a built app where its API is (`<meta name="quietdesk-api">` in `index.html`),
/// for a static host on another origin than the API; then the service worker's list of
/// released files, the compressed copies and the manifest agree with the changed page.
fn api_origin(dist: &Path, url: &str) -> Result {
    let url = url.trim_end_matches('/');
    let valid = (url.starts_with("https://") || url.starts_with("http://"))
        && !url.contains(|c: char| c == '"' || c == '<' || c == '>' || c.is_whitespace());
    if !valid {
        return Err(format!("not an origin: {url}"));
    }
    let index = dist.join("index.html");
    let html = std::fs::read_to_string(&index).map_err(|e| format!("{}: {e}", index.display()))?;
    let kept: String =
        html.lines().filter(|l| !l.contains(r#"<meta name="quietdesk-api""#)).collect::<Vec<_>>().join("\n");
    let meta = format!(
        r#"<head>
    <meta name="quietdesk-api" content="{url}" />"#
    );
    if !kept.contains("<head>") {
        return Err(format!("{}: no <head>", index.display()));
    }
    std::fs::write(&index, kept.replacen("<head>", &meta, 1)).map_err(|e| format!("{}: {e}", index.display()))?;
    dist::finish(dist)
}

fn run(args: &[String]) -> Result {
    setup()?;
    build_app(true)?;
    let port = env::var("PORT").unwrap_or_else(|_| "8080".into());
    std::fs::create_dir_all("data").map_err(|e| format!("data/: {e}"))?;
    eprintln!("\nQuietdesk will be at http://localhost:{port}  (Ctrl-C to stop)");
    let mut cmd = Command::new("cargo");
    cmd.args(["run", "--release", "-p", "quietdesk-server", "--"]).args([
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--static-dir",
        "dist",
    ]);
    // SQLite unless DATABASE_URL names another database (the server reads it).
    if env::var_os("DATABASE_URL").is_none() {
        cmd.args(["--database", "sqlite:data/quietdesk.sqlite"]);
    }
    cmd.args(args);
    step("serve", &mut cmd)
}

fn test() -> Result {
    setup()?;
    let wasm_test = |package: &str| {
        let mut c = Command::new("cargo");
        c.args(["test", "-p", package, "--target", "wasm32-unknown-unknown"])
            .env("CHROMEDRIVER", CHROMEDRIVER)
            .env("WASM_BINDGEN_TEST_TIMEOUT", "120");
        c
    };
    let postgres = postgres_for_tests();
    let steps: Vec<(&str, Option<Command>)> = vec![
        ("Rust unit and integration tests", {
            let mut c = Command::new("cargo");
            c.args(["test", "--workspace", "--exclude", "app"]);
            Some(c)
        }),
        // The same server tests again, each on its own schema in PostgreSQL.
        ("server tests on PostgreSQL", {
            postgres.as_ref().map(|url| {
                let mut c = Command::new("cargo");
                c.args(["test", "-p", "quietdesk-server"]).env("QD_TEST_POSTGRES", url);
                c
            })
        }),
        // The app's browser tests include the shared crypto core running in Chromium
        // (shared itself stays free of a browser backend for getrandom).
        ("wasm tests in headless Chromium", Some(wasm_test("app"))),
        ("build the app (page, wasm modules, precompress)", {
            let mut c = Command::new(env::current_exe().expect("xtask runs from a file"));
            c.arg("build-app-only");
            Some(c)
        }),
        // With the member's modified client the browser's attack tests run
        // (`server/examples/modified_client.rs`).
        ("build the server", {
            let mut c = Command::new("cargo");
            c.args(["build", "-p", "quietdesk-server", "--bins", "--example", "modified_client"]);
            Some(c)
        }),
        ("end-to-end tests (Playwright, Chromium)", {
            let mut c = Command::new("npx");
            c.args(["playwright", "test"]).current_dir("e2e");
            Some(c)
        }),
    ];
    let names: Vec<&str> = steps.iter().map(|(name, _)| *name).collect();
    let mut results: Vec<(Result, f64)> = Vec::new();
    for (name, cmd) in steps {
        // A step that ran nowhere fails the run: the tests that only PostgreSQL can run
        // (several instances on one database) would otherwise pass unseen.
        let Some(mut cmd) = cmd else {
            eprintln!("\n==> {name}: FAILED, no PostgreSQL reachable (see above)");
            results.push((Err(format!("{name}: no PostgreSQL reachable; set QD_TEST_POSTGRES")), 0.0));
            break;
        };
        let t = Instant::now();
        let r = step(name, &mut cmd);
        let failed = r.is_err();
        results.push((r, t.elapsed().as_secs_f64()));
        if failed {
            break; // later steps depend on earlier ones (e.g. e2e needs the builds)
        }
    }
    eprintln!("\n==> summary");
    for (i, name) in names.iter().enumerate() {
        match results.get(i) {
            Some((Ok(()), secs)) => eprintln!("    ok      {name} ({secs:.0} s)"),
            Some((Err(_), secs)) => eprintln!("    FAILED  {name} ({secs:.0} s)"),
            None => eprintln!("    skipped {name}"),
        }
    }
    match results.iter().find_map(|(r, _)| r.as_ref().err()) {
        Some(e) => Err(e.clone()),
        None => {
            eprintln!("==> all {} steps passed", names.len());
            Ok(())
        }
    }
}

/// The PostgreSQL the server tests also run on: `QD_TEST_POSTGRES`, else the local
/// server at 127.0.0.1:5432 (user postgres, database test) if something listens there.
/// Says clearly when there is none (and the run then fails).
fn postgres_for_tests() -> Option<String> {
    if let Ok(url) = env::var("QD_TEST_POSTGRES") {
        return (!url.is_empty()).then_some(url);
    }
    let addr: std::net::SocketAddr = "127.0.0.1:5432".parse().expect("address");
    match std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(2)) {
        Ok(_) => Some("postgres://postgres@127.0.0.1:5432/test".into()),
        Err(e) => {
            eprintln!(
                "==> PostgreSQL is not reachable at {addr} ({e}): the server tests that need it cannot run. \
                 Start it, or set QD_TEST_POSTGRES=postgres://user@host:port/db to use another server."
            );
            None
        }
    }
}

/// The load tool (`server/benches/load.rs`) against the release server binary.
fn load(args: &[String]) -> Result {
    let mut cmd = bench_with_backend("load", args);
    step("load test", &mut cmd)
}

/// `cargo bench -p quietdesk-server --bench NAME -- ARGS`, where `--postgres [URL]`
/// (default: the local server) puts the server on PostgreSQL instead of SQLite.
fn bench_with_backend(name: &str, args: &[String]) -> Command {
    let mut cmd = Command::new("cargo");
    cmd.args(["bench", "-p", "quietdesk-server", "--bench", name, "--"]);
    let mut rest = args.iter().peekable();
    while let Some(a) = rest.next() {
        if a == "--postgres" {
            let url = match rest.peek() {
                Some(u) if u.starts_with("postgres") => rest.next().cloned().unwrap_or_default(),
                _ => "postgres://postgres@127.0.0.1:5432/test".to_owned(),
            };
            cmd.env("QD_TEST_POSTGRES", url);
        } else {
            cmd.arg(a);
        }
    }
    cmd
}

const SCHEMATHESIS_VERSION: &str = "4.32.5";

/// Schemathesis (from PyPI, pinned, in a virtualenv under `target/`) against the
/// release server: no request it generates from the OpenAPI document may get a 5xx.
fn schemathesis(args: &[String]) -> Result {
    let venv = project_root().join("target/schemathesis-venv");
    let st = venv.join("bin/schemathesis");
    let have = output(&st.display().to_string(), &["--version"]).unwrap_or_default();
    if !have.contains(SCHEMATHESIS_VERSION) {
        step("python virtualenv", Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
        step(
            "install schemathesis",
            Command::new(venv.join("bin/pip")).args([
                "install",
                "--quiet",
                &format!("schemathesis=={SCHEMATHESIS_VERSION}"),
            ]),
        )?;
    }
    let mut cmd = bench_with_backend("schemathesis", args);
    cmd.env("SCHEMATHESIS", &st);
    step("schemathesis", &mut cmd)
}

fn bench() -> Result {
    setup()?;
    step(
        "server and crypto benchmarks",
        Command::new("cargo").args(["bench", "-p", "quietdesk-server", "--bench", "throughput"]),
    )?;
    build_app_into(true, "dist-release")?;
    step("build the release server", Command::new("cargo").args(["build", "--release", "-p", "quietdesk-server"]))?;
    step(
        "browser benchmarks (Playwright, Chromium)",
        Command::new("npx").args(["playwright", "test", "--config", "bench.config.ts"]).current_dir("e2e"),
    )
}
