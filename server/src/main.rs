//! `quietdesk-server`: serve the API and the built app from one process.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use clap::Parser;
use quietdesk_server::db::sqlite::SqliteDb;
use quietdesk_server::{app, Config};
use tracing_subscriber::fmt::writer::MakeWriterExt;
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(version, about = "Quietdesk: a CRM server that stores ciphertext only")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "QD_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Database URL: `sqlite:path/to/file.sqlite` (one instance), or
    /// `postgres://user@host:5432/db` (any number of instances on one database).
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite:data/quietdesk.sqlite")]
    database: String,
    /// Directory of the built app (`dist`, from `cargo xtask build-app`) to serve at `/`.
    #[arg(long, env = "QD_STATIC_DIR")]
    static_dir: Option<PathBuf>,
    /// Also append logs to this file.
    #[arg(long, env = "QD_LOG_FILE")]
    log_file: Option<PathBuf>,
    /// Session lifetime in hours.
    #[arg(long, env = "QD_SESSION_HOURS", default_value_t = 12)]
    session_hours: u64,
    /// Requests per minute one session may make (0: no limit); beyond it, 429.
    #[arg(long, env = "QD_RATE_PER_MINUTE", default_value_t = 1200)]
    rate_per_minute: u32,
    /// Requests a session may make in a burst before the rate applies.
    #[arg(long, env = "QD_RATE_BURST", default_value_t = 300)]
    rate_burst: u32,
    /// Alert admins when a member pulls more than this many times the team's records
    /// in an hour (a normal device pulls everything once, then changes).
    #[arg(long, env = "QD_BULK_FACTOR", default_value_t = 3)]
    bulk_factor: u32,
    /// ... and at least this many records.
    #[arg(long, env = "QD_BULK_MIN_RECORDS", default_value_t = 5000)]
    bulk_min_records: u64,
    /// Also end the session that crossed the bulk-download line.
    #[arg(long, env = "QD_BULK_SUSPEND")]
    bulk_suspend: bool,
    /// Deletions one member may push within an hour without an admin's approval
    /// (0: no limit).
    #[arg(long, env = "QD_BULK_DELETE_THRESHOLD", default_value_t = 20)]
    bulk_delete_threshold: u64,
    /// Stored bytes a team may hold: the sealed current versions of its records (0: no
    /// limit). A push that would go past it is refused with 403 `team_quota_exceeded`;
    /// deleting and shrinking always work. Counted in the database: every instance on
    /// it agrees.
    #[arg(long, env = "QD_TEAM_QUOTA_BYTES", default_value_t = quietdesk_server::limits::DEFAULT_TEAM_QUOTA_BYTES)]
    team_quota_bytes: u64,
    /// Stored bytes one member's pushes may hold within a team (0: no limit); past it,
    /// 403 `member_quota_exceeded`.
    #[arg(long, env = "QD_MEMBER_QUOTA_BYTES", default_value_t = quietdesk_server::limits::DEFAULT_MEMBER_QUOTA_BYTES)]
    member_quota_bytes: u64,
    /// Wrong guesses (passphrase at log-in or when changing it, 2FA code, recovery key)
    /// an account may make for free; after that each guess waits (see
    /// --login-backoff-seconds) and one made while waiting is refused with 429
    /// `too_many_attempts` and Retry-After, unchecked. Unknown usernames count alike.
    #[arg(long, env = "QD_LOGIN_FAILURES_PER_USER", default_value_t = 5)]
    login_failures_per_user: u32,
    /// Wrong guesses one client address may make for free across all accounts (stops a
    /// spray of one passphrase over many usernames); IPv6 counts per /64.
    #[arg(long, env = "QD_LOGIN_FAILURES_PER_ADDRESS", default_value_t = 20)]
    login_failures_per_address: u32,
    /// The first wait once the free guesses are spent, in seconds; it doubles with
    /// every further wrong guess (0: no back-off at all). A right guess clears the
    /// account's count, never the address's. Counted in the database: every instance
    /// on it shares the counts.
    #[arg(long, env = "QD_LOGIN_BACKOFF_SECONDS", default_value_t = 30)]
    login_backoff_seconds: u64,
    /// The longest wait, in seconds.
    #[arg(long, env = "QD_LOGIN_BACKOFF_MAX_SECONDS", default_value_t = 900)]
    login_backoff_max_seconds: u64,
    /// Seconds without a wrong guess (counted from the end of a wait) after which an
    /// account's or an address's count is forgotten.
    #[arg(long, env = "QD_LOGIN_WINDOW_SECONDS", default_value_t = 900)]
    login_window_seconds: u64,
    /// A reverse proxy (its IP address) in front of this server, whose X-Forwarded-For
    /// header names the client (repeat for several; comma-separated in the
    /// environment). Without one, the socket's peer is the client: behind an untrusted
    /// proxy every client would share the proxy's address count.
    #[arg(long = "trusted-proxy", env = "QD_TRUSTED_PROXIES", value_delimiter = ',')]
    trusted_proxies: Vec<IpAddr>,
    /// An origin the app is served from, other than this server (repeat for several;
    /// comma-separated in the environment): browsers may call the API from it.
    #[arg(long = "allow-origin", env = "QD_ALLOW_ORIGINS", value_delimiter = ',')]
    allow_origins: Vec<String>,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Serve the API and the app (the default).
    Serve,
    /// Copy the database into FILE while the server keeps serving (a consistent
    /// snapshot), then check the copy.
    Backup {
        #[arg(long)]
        to: PathBuf,
    },
    /// Put a backup in place as the database (the server must not be running on it).
    /// Clients that synced past the backup point notice, pull again from the start and
    /// upload whatever they hold that the restored server lacks.
    Restore {
        #[arg(long)]
        from: PathBuf,
        /// Replace an existing database.
        #[arg(long)]
        force: bool,
    },
    /// Check that an origin serves exactly a release: every file of the release's
    /// manifest (`release.sha256`, written by every build: `sha256sum` lines), fetched
    /// from URL, has the listed SHA-256, and `/` is its `index.html`. Exit status 1 and
    /// the differing files otherwise. Meant to run from a monitor.
    VerifyRelease {
        /// Where the app is served, e.g. `https://app.example.com`.
        url: String,
        /// The release's manifest, as built (never the one the origin serves).
        manifest: PathBuf,
    },
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cli = Cli::parse();
    match &cli.command {
        Some(Command::Backup { .. } | Command::Restore { .. })
            if quietdesk_server::db::Backend::of(&cli.database) != Some(quietdesk_server::db::Backend::Sqlite) =>
        {
            return Err("backup and restore handle SQLite files; for PostgreSQL use pg_dump and pg_restore \
                        (see the README)"
                .into());
        }
        Some(Command::Backup { to }) => {
            let db = SqliteDb::connect(&cli.database).await?;
            let summary = db.backup_to(to).await?;
            println!("backup written to {}: {summary}", to.display());
            return Ok(());
        }
        Some(Command::Restore { from, force }) => {
            let summary = SqliteDb::restore(from, &cli.database, *force).await?;
            println!("restored {} into {}: {summary}", from.display(), cli.database);
            return Ok(());
        }
        Some(Command::VerifyRelease { url, manifest }) => {
            let text = std::fs::read_to_string(manifest)?;
            let report = quietdesk_server::release::verify(url, &text).await?;
            for (path, problem) in &report.differing {
                println!("DIFFERS {path}: {problem}");
            }
            println!("{} of {} files as released", report.checked - report.differing.len(), report.checked);
            if !report.differing.is_empty() {
                std::process::exit(1);
            }
            return Ok(());
        }
        Some(Command::Serve) | None => {}
    }
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    match &cli.log_file {
        Some(path) => {
            let file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
            tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_writer(std::io::stderr.and(Arc::new(file)))
                .with_ansi(false)
                .init();
        }
        None => tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init(),
    }

    // A panic (a bug) is logged like any error, without the request that caused it.
    std::panic::set_hook(Box::new(|info| {
        let at = info.location().map(|l| format!("{}:{}", l.file(), l.line())).unwrap_or_default();
        tracing::error!(at = %at, "panicked");
    }));
    let config = Config {
        static_dir: cli.static_dir.clone(),
        session_ttl: std::time::Duration::from_secs(cli.session_hours * 3600),
        limits: quietdesk_server::limits::LimitConfig {
            requests_per_minute: cli.rate_per_minute,
            burst: cli.rate_burst,
            bulk_factor: cli.bulk_factor,
            bulk_min_records: cli.bulk_min_records,
            bulk_suspend: cli.bulk_suspend,
            bulk_delete_threshold: cli.bulk_delete_threshold,
            team_quota_bytes: cli.team_quota_bytes,
            member_quota_bytes: cli.member_quota_bytes,
            login_failures_per_user: cli.login_failures_per_user,
            login_failures_per_address: cli.login_failures_per_address,
            login_backoff: std::time::Duration::from_secs(cli.login_backoff_seconds),
            login_backoff_max: std::time::Duration::from_secs(cli.login_backoff_max_seconds),
            login_window: std::time::Duration::from_secs(cli.login_window_seconds),
            trusted_proxies: cli.trusted_proxies.clone(),
        },
        allowed_origins: cli.allow_origins.clone(),
    };
    if let Some(dir) = &config.static_dir {
        if !dir.join("index.html").exists() {
            tracing::warn!(dir = %dir.display(), "static dir has no index.html; build the app with `cargo xtask build-app`");
        }
    }
    let state = quietdesk_server::open(&cli.database, config).await?;
    let listener = tokio::net::TcpListener::bind(cli.listen).await?;
    let addr = listener.local_addr()?;
    tracing::info!("listening on http://{addr}");
    // The peer's address reaches handlers: log-in guesses are counted per address.
    let service = app(state).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, service).with_graceful_shutdown(shutdown()).await?;
    Ok(())
}

async fn shutdown() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("signal handler");
        tokio::select! { _ = ctrl_c => {}, _ = term.recv() => {} }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutting down");
}
