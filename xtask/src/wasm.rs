//! The app's WebAssembly, built in modules.
//!
//! A first visit downloads only what the log-in screen and the signed-in shell need;
//! every page is its own module, fetched the first time it opens (the service worker
//! then keeps them all for offline use). The pages mark their split points with
//! `#[wasm_split(...)]` (see the `split` module of `app/src/lib.rs`); this step cuts the linked binary
//! there:
//!
//! 1. cargo builds `app.wasm` (`wasm-release` profile), keeping its relocations
//!    (`app/build.rs` passes `--emit-relocs` to the linker);
//! 2. `wasm_split_cli_support` (the splitter cargo-leptos uses) writes the main module,
//!    one module per split point, chunks of code several of them share, and
//!    `__wasm_split.js`, which loads a module when its page first needs it;
//! 3. wasm-bindgen generates the JS glue for the main module;
//! 4. wasm-opt optimises every module;
//! 5. everything goes into `dist/app-<hash>/`, named by a hash over its contents (the
//!    modules find each other by relative paths, so the directory is what is hashed;
//!    the server caches it as immutable), and `index.html` gets the preloads, the start
//!    script (which registers the service worker once the app runs), and the list of
//!    modules the service worker keeps for offline use (`#app-modules`).
//!
//! Trunk still builds the rest of `dist/` (HTML, CSS, icons); its own Rust pipeline
//! cannot split.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use crate::{step, Result};

const PROFILE: &str = "wasm-release";
/// wasm-opt: -O2, for speed (Argon2's inner loop at unlock is the hot path; the log-in
/// screen's bytes are well within budget now that the pages load later).
const WASM_OPT: &[&str] = &["-O2", "--strip-debug", "--strip-producers", "--strip-target-features"];
/// What the Rust wasm32 target emits (split modules carry no target-features section
/// for wasm-opt to read, so it is told).
const FEATURES: &[&str] = &[
    "--enable-simd",
    "--enable-bulk-memory",
    "--enable-reference-types",
    "--enable-nontrapping-float-to-int",
    "--enable-sign-ext",
    "--enable-multivalue",
    "--enable-mutable-globals",
];

/// A worker's script (a module worker): the app's module, started without the page
/// (`main` mounts nothing outside a window), answering each request with
/// `worker_answer`. Requests that arrive while the module loads wait for it. A request
/// may hold a secret (a passphrase, a signing key): it is wiped once answered.
const WORKER_JS: &str = r#"import init, { worker_answer } from './app.js';
const ready = init({ module_or_path: new URL('./app_bg.wasm', import.meta.url) });
self.onmessage = async (e) => {
  await ready;
  const bytes = worker_answer(e.data.bytes);
  e.data.bytes.fill(0);
  self.postMessage({ id: e.data.id, bytes }, [bytes.buffer]);
};
"#;

pub fn build(dist: &Path) -> Result {
    step(
        "build the app's wasm",
        Command::new("cargo").args([
            "build",
            "-p",
            "app",
            "--bin",
            "app",
            "--target",
            "wasm32-unknown-unknown",
            "--profile",
            PROFILE,
            "--features",
            "split",
        ]),
    )?;
    let input = Path::new("target/wasm32-unknown-unknown").join(PROFILE).join("app.wasm");
    let staging = Path::new("target/app-split");
    let _ = fs::remove_dir_all(staging);
    fs::create_dir_all(staging).map_err(|e| format!("{}: {e}", staging.display()))?;

    let wasm = fs::read(&input).map_err(|e| format!("{}: {e}", input.display()))?;
    // The main module before wasm-bindgen, outside what is shipped.
    let main = Path::new("target/app-split-main.wasm");
    let split = wasm_split_cli_support::transform({
        let mut opts = wasm_split_cli_support::Options::new(&wasm);
        opts.output_dir = staging;
        opts.main_out_path = main;
        opts.main_module = "./app.js";
        opts.link_name = "./__wasm_split.js";
        opts
    })
    .map_err(|e| format!("splitting {}: {e:#}", input.display()))?;

    step(
        "wasm-bindgen",
        Command::new("wasm-bindgen")
            .args(["--target", "web", "--no-typescript", "--keep-lld-exports", "--out-name", "app", "--out-dir"])
            .arg(staging)
            .arg(main),
    )?;

    let mut modules: Vec<PathBuf> = vec![staging.join("app_bg.wasm")];
    modules.extend(split.split_modules.iter().map(PathBuf::from));
    for module in &modules {
        let mut cmd = Command::new("wasm-opt");
        cmd.args(FEATURES).args(WASM_OPT).arg(module).arg("-o").arg(module);
        step(&format!("wasm-opt {}", module.display()), &mut cmd)?;
    }

    // The JS glue, minified (npm's esbuild, a devDependency of e2e/): wasm-bindgen's
    // output is written to be read, and the first visit's budget counts its bytes.
    // Export and property names stay (the wasm imports by them, the split loader too).
    for js in ["app.js", "__wasm_split.js"] {
        let file = staging.join(js);
        if file.is_file() {
            step(
                &format!("minify {js}"),
                Command::new("esbuild")
                    .arg(&file)
                    .args(["--minify", "--format=esm", "--allow-overwrite"])
                    .arg(format!("--outfile={}", file.display())),
            )?;
        }
    }

    // The page's signature workers run this same module without the page (see
    // app/src/workers.rs): their script imports it from beside itself.
    let worker = staging.join("worker.js");
    fs::write(&worker, WORKER_JS).map_err(|e| format!("{}: {e}", worker.display()))?;

    // Named by its contents: a new release is a new directory, an old one is never
    // served stale.
    let mut files: Vec<PathBuf> = fs::read_dir(staging)
        .and_then(|entries| entries.map(|e| e.map(|e| e.path())).collect())
        .map_err(|e| format!("{}: {e}", staging.display()))?;
    files.sort();
    let mut hasher = Sha256::new();
    for file in &files {
        hasher.update(file.file_name().unwrap_or_default().as_encoded_bytes());
        hasher.update(fs::read(file).map_err(|e| format!("{}: {e}", file.display()))?);
    }
    let hash: String = hasher.finalize()[..8].iter().map(|b| format!("{b:02x}")).collect();
    let dir_name = format!("app-{hash}");
    let target = dist.join(&dir_name);
    let _ = fs::remove_dir_all(&target);
    fs::create_dir_all(&target).map_err(|e| format!("{}: {e}", target.display()))?;
    let mut chunks = Vec::new();
    for file in &files {
        let name = file.file_name().unwrap_or_default().to_string_lossy().into_owned();
        fs::copy(file, target.join(&name)).map_err(|e| format!("{}: {e}", file.display()))?;
        if !["app_bg.wasm", "app.js", "worker.js"].contains(&name.as_str()) {
            chunks.push(format!("\"/{dir_name}/{name}\""));
        }
    }
    let sizes: Vec<String> = files
        .iter()
        .map(|f| {
            format!(
                "{} {}",
                f.file_name().unwrap_or_default().to_string_lossy(),
                fs::metadata(f).map_or(0, |m| m.len())
            )
        })
        .collect();
    eprintln!("==> app modules in {dir_name}/: {}", sizes.join(", "));

    let index = dist.join("index.html");
    let html = fs::read_to_string(&index).map_err(|e| format!("{}: {e}", index.display()))?;
    // The start script is a file of its own, named by its hash: the page's
    // Content-Security-Policy allows no inline script (server/src/headers.rs).
    // It also asks for the log-in screen's texts of the language the app starts in,
    // while the wasm downloads (the app reads `quietdeskTexts`; see app/src/i18n.rs).
    // The service worker is registered once the app is up, not before: its first
    // install fetches every module, which must not compete with the log-in screen's own
    // download.
    let script = format!(
        "import init from '/{dir_name}/app.js';
const chosen = localStorage.getItem('quietdesk-lang') ?? navigator.language ?? 'en';
const tag = chosen.toLowerCase().startsWith('zh') ? 'zh-CN' : 'en';
const file = `${{tag}}.start.json`;
window.quietdeskTexts = {{ file, text: fetch(`/i18n/${{file}}`).then((r) => (r.ok ? r.text() : null), () => null) }};
await init({{ module_or_path: '/{dir_name}/app_bg.wasm' }});
if ('serviceWorker' in navigator) navigator.serviceWorker.register('/sw.js');
"
    );
    let hash: String = Sha256::digest(script.as_bytes())[..8].iter().map(|b| format!("{b:02x}")).collect();
    let start_name = format!("start-{hash}.js");
    fs::write(dist.join(&start_name), &script).map_err(|e| format!("{start_name}: {e}"))?;
    let start = format!(
        r#"<link rel="modulepreload" href="/{dir_name}/app.js" crossorigin="anonymous" />
<link rel="modulepreload" href="/{dir_name}/__wasm_split.js" crossorigin="anonymous" />
<link rel="preload" href="/{dir_name}/app_bg.wasm" as="fetch" type="application/wasm" crossorigin="anonymous" />
<script type="module" src="/{start_name}"></script>
<script type="application/json" id="app-modules">[{}]</script>
<script type="application/json" id="app-worker">"/{dir_name}/worker.js"</script>
</head>"#,
        chunks.join(",")
    );
    if !html.contains("</head>") {
        return Err(format!("{}: no </head> to put the app's start script before", index.display()));
    }
    fs::write(&index, html.replacen("</head>", &start, 1)).map_err(|e| format!("{}: {e}", index.display()))
}
