//! Start the real `quietdesk-server` binary on 127.0.0.1:0 with a fresh database (a
//! temporary SQLite file, or a PostgreSQL schema: see `backend.rs`) and a log file,
//! and stop it again.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::backend::TestDb;

pub struct TestServer {
    pub base: String,
    pub dir: tempfile::TempDir,
    pub db: Arc<TestDb>,
    child: Child,
}

impl TestServer {
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    pub fn start_with(extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let db = Arc::new(TestDb::fresh(dir.path()));
        Self::start_on(dir, db, extra)
    }

    /// Start with every file the server writes limited to `bytes` (`RLIMIT_FSIZE`, with
    /// `SIGXFSZ` ignored): writes past it fail as they would on a full disk.
    pub fn start_limited(extra: &[&str], bytes: u64) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let db = Arc::new(TestDb::fresh(dir.path()));
        Self::spawn(dir, db, extra, Some(bytes))
    }

    /// Start on the database `db` (another instance's, or one restored from a backup);
    /// logs go to `dir`.
    pub fn start_on(dir: tempfile::TempDir, db: Arc<TestDb>, extra: &[&str]) -> Self {
        Self::spawn(dir, db, extra, None)
    }

    fn spawn(dir: tempfile::TempDir, db: Arc<TestDb>, extra: &[&str], file_limit: Option<u64>) -> Self {
        let log = dir.path().join("server.log");
        // A restart on the same directory appends: read only what this run writes.
        let skip = std::fs::metadata(&log).map_or(0, |m| m.len() as usize);
        let bin = env!("CARGO_BIN_EXE_quietdesk-server");
        let mut cmd = match file_limit {
            // Through the shell (no unsafe `pre_exec`): ignore SIGXFSZ, set the limit (in
            // 512-byte blocks, POSIX sh), then exec the server in the same process.
            Some(bytes) => {
                let mut c = Command::new("sh");
                c.args(["-c", "trap '' XFSZ; ulimit -f \"$1\" || exit 1; shift; exec \"$0\" \"$@\""])
                    .args([bin.to_owned(), (bytes / 512).to_string()]);
                c
            }
            None => Command::new(bin),
        };
        let child = cmd
            .args(["--listen", "127.0.0.1:0", "--database", &db.url()])
            .args(["--log-file", &log.display().to_string()])
            .args(extra)
            // As verbose as it gets short of trace: nothing logged may hold customer data.
            .env("RUST_LOG", "debug")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("server binary starts");
        let deadline = Instant::now() + Duration::from_secs(30);
        let base = loop {
            let text = std::fs::read(&log)
                .map(|b| String::from_utf8_lossy(&b[skip.min(b.len())..]).into_owned())
                .unwrap_or_default();
            if let Some(pos) = text.find("listening on ") {
                let rest = &text[pos + "listening on ".len()..];
                break rest.split_whitespace().next().unwrap().to_owned();
            }
            assert!(Instant::now() < deadline, "server did not start:\n{text}");
            std::thread::sleep(Duration::from_millis(50));
        };
        Self { base, dir, db, child }
    }

    /// The SQLite file (for SQLite-only tools and tests).
    pub fn db_path(&self) -> PathBuf {
        self.db.sqlite_path().expect("a SQLite test database").to_owned()
    }

    /// Stop (`kill -9`) and start again on the same database, logging to a new directory.
    pub fn restart(&mut self, extra: &[&str]) {
        self.kill9();
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap());
        let next = Self::start_on(dir, self.db.clone(), extra);
        drop(std::mem::replace(self, next));
    }

    /// Run the server binary's `backup`/`restore` commands (or any other) on `db`.
    pub fn run(db: &std::path::Path, args: &[&str]) -> std::process::Output {
        Command::new(env!("CARGO_BIN_EXE_quietdesk-server"))
            .args(["--database", &format!("sqlite:{}", db.display())])
            .args(args)
            .output()
            .expect("server binary runs")
    }

    /// Every byte the server has written: the database file, its WAL and shared-memory
    /// file and the log — or, on PostgreSQL, every value in every table and the log.
    pub async fn everything_written(&self) -> Vec<(String, Vec<u8>)> {
        let mut out = vec![];
        let files: &[&str] = if self.db.sqlite_path().is_some() {
            &["quietdesk.sqlite", "quietdesk.sqlite-wal", "quietdesk.sqlite-shm", "server.log"]
        } else {
            out = self.db.every_value().await;
            &["server.log"]
        };
        for name in files {
            if let Ok(b) = std::fs::read(self.dir.path().join(name)) {
                out.push((name.to_string(), b));
            }
        }
        out
    }

    /// `kill -9`: no shutdown, no flush, mid-request.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn stop(&mut self) {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}
