//! The real router served in-process on 127.0.0.1:0, for tests that need to reach
//! into the database or tweak the configuration.
#![allow(dead_code)]

use std::sync::Arc;

use quietdesk_server::{app, AppState, Config};

use super::backend::TestDb;

pub struct InProc {
    pub base: String,
    pub state: AppState,
    pub db: Arc<TestDb>,
    pub dir: tempfile::TempDir,
}

pub async fn spawn(config: Config) -> InProc {
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(TestDb::fresh(dir.path()));
    let state = quietdesk_server::open(&db.url(), config).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let router = app(state.clone());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    InProc { base, state, db, dir }
}
