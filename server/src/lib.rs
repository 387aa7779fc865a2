//! # Quietdesk server
//!
//! A blind relay. It stores what clients seal — account bundles, team chain entries,
//! key wraps and record envelopes — checks what it can without keys (sessions,
//! membership from the verified chain, record versions, envelope structure, sizes),
//! assigns a per-team change sequence, and pokes connected members over a websocket.
//! It never sees a passphrase, a key or a customer field, and nothing it logs
//! contains request bodies or tokens.
//!
//! [`app`] builds the whole router from an [`AppState`], so tests drive it in-process
//! or over a real socket; `main.rs` only parses flags, sets up logging and serves.

pub mod access;
pub mod audit;
pub mod auth;
pub mod beacons;
pub mod db;
pub mod error;
pub mod events;
pub mod headers;
pub mod history;
pub mod invites;
pub mod limits;
pub mod openapi;
pub mod records;
pub mod release;
pub mod restore;
pub mod session;
pub mod teams;
pub mod twofa;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{Request, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use shared::api::{path, ErrorBody, Health, MAX_BODY_BYTES};
use tower_http::services::{ServeDir, ServeFile};
use tower_http::trace::TraceLayer;

use crate::db::Db;

/// Server settings. Holds no secrets (the fake-salt secret lives in the database).
#[derive(Debug, Clone)]
pub struct Config {
    pub static_dir: Option<PathBuf>,
    pub session_ttl: Duration,
    pub limits: limits::LimitConfig,
    /// Origins (`https://app.example.com`) allowed to call the API from a browser:
    /// where the app is served from when it is not this server (the recommended
    /// deployment: taking over the data server then does not give control of the
    /// code users run).
    pub allowed_origins: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            static_dir: None,
            session_ttl: Duration::from_secs(12 * 3600),
            limits: Default::default(),
            allowed_origins: Vec::new(),
        }
    }
}

#[derive(Clone)]
pub struct AppState {
    pub db: Arc<dyn Db>,
    pub config: Arc<Config>,
    pub hub: Arc<events::Hub>,
    pub server_secret: Arc<[u8; 32]>,
    /// This database's generation in a cursor's top 16 bits (see [`AppState::cursor_out`]).
    generation: u64,
    pub limits: Arc<limits::Limits>,
    /// Each team's shared collection (from its genesis entry), once read.
    pub shared_collections:
        Arc<std::sync::Mutex<std::collections::HashMap<shared::ids::TeamId, shared::ids::CollectionId>>>,
    /// Each team's chain heads (the hash after each entry), once read: a pushed
    /// envelope's writer head must be one of them (see `records.rs`). A chain only
    /// grows, so a head beyond what is cached reads the chain again.
    pub chain_heads: Arc<std::sync::Mutex<std::collections::HashMap<shared::ids::TeamId, Vec<[u8; 32]>>>>,
}

impl AppState {
    pub async fn new(db: Arc<dyn Db>, config: Config) -> Result<Self, db::DbError> {
        let server_secret = Arc::new(db.server_secret().await?);
        let generation = u64::from(db.generation().await?) << SEQ_BITS;
        Ok(Self {
            db,
            limits: Arc::new(limits::Limits::new(config.limits.clone())),
            config: Arc::new(config),
            hub: Arc::new(events::Hub::default()),
            server_secret,
            generation,
            shared_collections: Arc::default(),
            chain_heads: Arc::default(),
        })
    }
}

/// Open the database `url` names (`sqlite:…` or `postgres://…`), migrate it, and build
/// the state. On PostgreSQL the instance also joins the `LISTEN`/`NOTIFY` relay, so
/// any number of instances can serve one team behind a load balancer.
pub async fn open(url: &str, config: Config) -> Result<AppState, OpenError> {
    match db::Backend::of(url) {
        Some(db::Backend::Sqlite) => {
            let db = db::sqlite::SqliteDb::connect(url).await?;
            Ok(AppState::new(Arc::new(db), config).await?)
        }
        Some(db::Backend::Postgres) => {
            let db = db::postgres::PgDb::connect(url).await?;
            let pool = db.pool().clone();
            let state = AppState::new(Arc::new(db), config).await?;
            events::relay_through_postgres(&state, pool).await?;
            Ok(state)
        }
        None => Err(OpenError::Scheme),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("the database URL must start with sqlite: or postgres://")]
    Scheme,
    #[error(transparent)]
    Sqlx(#[from] sqlx::Error),
    #[error(transparent)]
    Db(#[from] db::DbError),
}

/// A cursor is `generation << 48 | seq`: a client's cursor from before a restore
/// carries the old generation, which tells the server to start that client over.
const SEQ_BITS: u32 = shared::restore::CURSOR_SEQ_BITS;

impl AppState {
    /// The cursor a client sees for sequence number `seq`.
    pub fn cursor_out(&self, seq: u64) -> shared::api::Cursor {
        self.generation | (seq & ((1 << SEQ_BITS) - 1))
    }

    /// Whether this database was restored from a backup (its generation moved on):
    /// only then do clients give back records it lacks, at the versions they hold.
    pub fn restored(&self) -> bool {
        self.generation != 0
    }

    /// This database's generation, as clients read it from a cursor
    /// ([`shared::restore::generation_of`]) and admins sign it in a restore notice.
    pub fn generation(&self) -> u64 {
        self.generation >> SEQ_BITS
    }

    /// The sequence number in a client's cursor, or `None` if the cursor is from
    /// another generation of this database (it was restored since).
    pub fn cursor_in(&self, cursor: shared::api::Cursor) -> Option<u64> {
        let seq = cursor & ((1 << SEQ_BITS) - 1);
        (cursor == 0 || cursor - seq == self.generation).then_some(seq)
    }
}

/// `2026-11-23 15:16 UTC` for a Unix time in ms (proleptic Gregorian, days to civil
/// date after Howard Hinnant's algorithm).
pub fn utc_text(ms: i64) -> String {
    let (days, secs) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000) / 1000);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02} UTC", secs / 3600, secs % 3600 / 60)
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

async fn health() -> Json<Health> {
    Json(Health { status: "ok".into() })
}

async fn api_not_found() -> impl IntoResponse {
    (StatusCode::NOT_FOUND, Json(ErrorBody { code: "not_found".into(), message: "no such API route".into() }))
}

async fn method_not_allowed() -> impl IntoResponse {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        Json(ErrorBody { code: "method_not_allowed".into(), message: "this API route takes another method".into() }),
    )
}

/// The whole application.
/// Cross-origin calls from the configured app origins only (none by default: the app
/// is served by this server). Bearer tokens, no cookies: credentials are not allowed.
fn cors(origins: &[String]) -> tower_http::cors::CorsLayer {
    use axum::http::{header, HeaderValue, Method};
    let allowed: Vec<HeaderValue> = origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()).collect();
    tower_http::cors::CorsLayer::new()
        .allow_origin(allowed)
        .allow_methods([Method::GET, Method::POST, Method::PUT])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
        .max_age(Duration::from_secs(3600))
}

pub fn app(state: AppState) -> Router {
    let api = Router::new()
        .route(path::HEALTH, get(health))
        .route(openapi::OPENAPI_PATH, get(openapi::serve))
        .merge(auth::router())
        .merge(audit::router())
        .merge(teams::router())
        .merge(beacons::router())
        .merge(restore::router())
        .merge(invites::router())
        .merge(records::router())
        .merge(history::router())
        .merge(events::router())
        .merge(twofa::router())
        .route("/api/{*rest}", axum::routing::any(api_not_found))
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::map_response(headers::api))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(cors(&state.config.allowed_origins))
        .with_state(state.clone());

    let router = match &state.config.static_dir {
        Some(dir) => api.fallback_service(static_app(dir)),
        None => api,
    };
    // Spans carry the method and path only: never query strings, headers or bodies.
    router.layer(TraceLayer::new_for_http().make_span_with(
        |req: &Request<_>| tracing::info_span!("http", method = %req.method(), path = %req.uri().path()),
    ))
}

/// The built app. Files are sent precompressed (the build writes `.br` and `.gz` beside
/// each) to browsers that accept it; hashed assets (`app-<hash>_bg.wasm`) are cached for
/// a year as immutable, everything else (the HTML, the service worker, the web
/// manifest) is revalidated on every load, so a new release shows at once. Any other
/// path is the app's own route and gets `index.html`, except a hashed asset that is not
/// there (an old release's), which is a 404 rather than HTML cached for a year.
fn static_app(dir: &Path) -> Router {
    let index = ServeFile::new(dir.join("index.html")).precompressed_br().precompressed_gzip();
    let files = ServeDir::new(dir).precompressed_br().precompressed_gzip().fallback(index);
    Router::new()
        .fallback_service(files)
        .layer(axum::middleware::from_fn_with_state(dir.to_path_buf(), cache_policy))
        .layer(axum::middleware::from_fn(headers::app))
}

async fn cache_policy(
    State(dir): State<PathBuf>,
    req: Request<axum::body::Body>,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::http::{header, HeaderValue};
    use axum::response::IntoResponse;
    let path = req.uri().path().to_owned();
    let hashed = is_hashed_asset(&path);
    if hashed && !path.contains("..") && !dir.join(path.trim_start_matches('/')).is_file() {
        return StatusCode::NOT_FOUND.into_response();
    }
    let mut resp = next.run(req).await;
    if resp.status().is_success() || resp.status() == StatusCode::NOT_MODIFIED {
        let policy = if hashed { "public, max-age=31536000, immutable" } else { "no-cache" };
        resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static(policy));
    }
    // The same URL has a brotli, a gzip and a plain body: caches must key on the header.
    resp.headers_mut().insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    resp
}

/// A file named by a content hash, as Trunk writes them (`main-c41421086c9844cb.css`; the
/// hash's leading zeros may be dropped), or a file in a directory named so: the app's
/// WebAssembly modules and their JS live in `app-<hash>/` (they find each other by
/// relative paths; see xtask/src/wasm.rs).
fn is_hashed_asset(path: &str) -> bool {
    fn hashed(name: &str) -> bool {
        let stem = name.split_once('.').map_or(name, |(stem, _ext)| stem);
        let Some((_, hash)) = stem.rsplit_once('-') else { return false };
        let hash = hash.strip_suffix("_bg").unwrap_or(hash);
        (12..=64).contains(&hash.len()) && hash.bytes().all(|b| b.is_ascii_hexdigit())
    }
    let mut segments = path.trim_start_matches('/').split('/');
    match (segments.next(), segments.next(), segments.next()) {
        (Some(file), None, _) => file.contains('.') && hashed(file),
        (Some(dir), Some(file), None) => !dir.contains('.') && hashed(dir) && file.contains('.'),
        _ => false,
    }
}

#[cfg(test)]
mod static_tests {
    #[test]
    fn hashed_assets_are_told_from_the_rest() {
        for p in [
            "/app-6674814350ce274_bg.wasm",
            "/app-6674814350ce274.js",
            "/main-c41421086c9844cb.css",
            "/app-0f3a9c2e7d41b855/app_bg.wasm",
            "/app-0f3a9c2e7d41b855/__wasm_split.js",
        ] {
            assert!(super::is_hashed_asset(p), "{p}");
        }
        for p in [
            "/",
            "/index.html",
            "/sw.js",
            "/manifest.webmanifest",
            "/icons/icon-192.png",
            "/customers/abc-def",
            "/customers/0f3a9c2e-7d41-b855-0f3a-9c2e7d41b855",
            "/app-0f3a9c2e7d41b855",
            "/app-0f3a9c2e7d41b855/x/y.wasm",
        ] {
            assert!(!super::is_hashed_asset(p), "{p}");
        }
    }
}

#[cfg(test)]
mod time_tests {
    #[test]
    fn utc_text_matches_known_dates() {
        assert_eq!(super::utc_text(0), "1970-01-01 00:00 UTC");
        assert_eq!(super::utc_text(951_782_400_000), "2000-02-29 00:00 UTC");
        assert_eq!(super::utc_text(1_795_446_960_000), "2026-11-23 15:16 UTC");
    }
}
