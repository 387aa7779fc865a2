//! `quietdesk-fuzz [--seconds N] [--seed S] [TARGET...]`: run each fuzz target (all by
//! default) for N seconds (default 60). A crash is written to
//! `fuzz/crashes/<target>-<seed>.bin` and the exit status is 1.

use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let (mut seconds, mut seed, mut only) = (60u64, None, Vec::new());
    while let Some(a) = args.next() {
        match a.as_str() {
            "--seconds" => seconds = args.next().and_then(|s| s.parse().ok()).unwrap_or(60),
            "--seed" => seed = args.next().and_then(|s| s.parse().ok()),
            name => only.push(name.to_owned()),
        }
    }
    let seed = seed.unwrap_or_else(|| SystemTime::now().duration_since(UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64));
    // Crashes are reported once, below, with the input that caused them.
    std::panic::set_hook(Box::new(|info| eprintln!("panic: {info}")));
    let mut failed = false;
    for t in quietdesk_fuzz::targets() {
        if !only.is_empty() && !only.iter().any(|o| o == t.name) {
            continue;
        }
        let r = quietdesk_fuzz::fuzz(&t, Duration::from_secs(seconds), seed);
        println!(
            "{:<9} {:>10} runs in {seconds} s ({:>8.0}/s), corpus {:>3}, crashes {}  (seed {seed})",
            r.name,
            r.execs,
            r.execs as f64 / seconds.max(1) as f64,
            r.corpus,
            r.crashes.len()
        );
        if let Some(input) = r.crashes.first() {
            failed = true;
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("crashes");
            let _ = std::fs::create_dir_all(&dir);
            let path = dir.join(format!("{}-{seed}.bin", r.name));
            let _ = std::fs::write(&path, input);
            println!("          crash input written to {}", path.display());
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
