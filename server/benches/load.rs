//! The load tool: many simulated clients against the real server binary (release, on a
//! throwaway SQLite file, or a throwaway schema in PostgreSQL when `QD_TEST_POSTGRES`
//! names one), over HTTP and websockets, pushing real sealed 1 KiB records.
//!
//! `cargo xtask load [--postgres] [--clients N] [--seconds S] [--idle K] [--fanout F]`,
//! which runs `cargo bench -p quietdesk-server --bench load -- …`. It prints:
//! * push throughput of N concurrent clients (records/s, pushes/s, p50/p99 latency),
//!   beside a raw insert of the same rows into the same backend, measured in the same
//!   run;
//! * idle websockets held (K opened, all answered, the server still serving);
//! * pull throughput: N clients each reading the team from the start (pages of 1,000),
//!   beside the same pages read straight from the database in the same run;
//! * poke fan-out: F subscribed websockets, the time from a push until each receives
//!   its poke, p50/p99 over every delivery.

#[path = "../tests/support/backend.rs"]
mod backend;
#[path = "../tests/support/client.rs"]
mod client;
mod common;
#[path = "../tests/support/server.rs"]
mod server;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use server::TestServer;
use shared::api::{path, ClientEvent, PullResponse, PushItem, PushRequest, PushResponse, ServerEvent};
use shared::crypto::envelope::SealedRecord;
use shared::ids::{RecordId, TeamId};
use tokio_tungstenite::tungstenite::Message;

struct Args {
    clients: usize,
    seconds: u64,
    idle: usize,
    fanout: usize,
}

fn args() -> Args {
    let mut a = Args { clients: 20, seconds: 10, idle: 10_000, fanout: 1_000 };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().and_then(|v| v.parse().ok());
        match flag.as_str() {
            "--clients" => a.clients = val().unwrap_or(a.clients),
            "--seconds" => a.seconds = val().map_or(a.seconds, |v: usize| v as u64),
            "--idle" => a.idle = val().unwrap_or(a.idle),
            "--fanout" => a.fanout = val().unwrap_or(a.fanout),
            _ => {} // cargo bench passes --bench
        }
    }
    a
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn subscribe(base: &str, team: TeamId, token: &str) -> Option<Socket> {
    let url = format!("{}{}", base.replacen("http", "ws", 1), path::fill(path::EVENTS, &team.to_string()));
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.ok()?;
    let auth = serde_json::to_string(&ClientEvent::Auth { token: token.to_owned() }).ok()?;
    ws.send(Message::Text(auth.into())).await.ok()?;
    match ws.next().await {
        Some(Ok(Message::Text(t))) if matches!(serde_json::from_str(&t), Ok(ServerEvent::Ready { .. })) => Some(ws),
        _ => None,
    }
}

async fn push(http: &reqwest::Client, url: &str, token: &str, batch: &[(RecordId, SealedRecord)]) -> bool {
    let items = batch
        .iter()
        .map(|(id, s)| PushItem { record: *id, base_version: 0, sealed: s.clone(), tombstone: false })
        .collect();
    match http.post(url).bearer_auth(token).json(&PushRequest { items, approval: None }).send().await {
        Ok(r) if r.status().is_success() => r.json::<PushResponse>().await.is_ok(),
        _ => false,
    }
}

/// Rows/s of reading `n` records straight from the server's database in pages of 1,000,
/// as the pull handler's query does (sqlx's `Any` driver, one connection).
async fn raw_pull(srv: &TestServer, team: TeamId, n: usize) -> f64 {
    use sqlx::Row;
    let mut conn = srv.db.connect().await;
    let start = Instant::now();
    let (mut since, mut read) = (0i64, 0usize);
    while read < n {
        let rows = sqlx::query(
            "SELECT seq, record_id, version, sealed FROM records WHERE team_id = $1 AND seq > $2 ORDER BY seq LIMIT 1000",
        )
        .bind(team.as_bytes().to_vec())
        .bind(since)
        .fetch_all(&mut conn)
        .await
        .unwrap();
        if rows.is_empty() {
            break;
        }
        for r in &rows {
            let sealed: Vec<u8> = r.get("sealed");
            std::hint::black_box((r.get::<Vec<u8>, _>("record_id"), r.get::<i64, _>("version"), sealed));
        }
        since = rows.last().unwrap().get("seq");
        read += rows.len();
    }
    read as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let a = args();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(run(a));
}

async fn run(a: Args) {
    const BATCH: usize = 10;
    // No rate limit, and no bulk-download alerts for the pull phase's repeated full reads.
    let srv = TestServer::start_with(&["--rate-per-minute", "0", "--bulk-factor", "100000"]);
    let admin = client::signup(&srv.base, "loadadmin", "pass-load-admin").await;
    let team = admin.create_team().await;
    let session = admin.session(team).await;
    let push_url = format!("{}{}", srv.base, path::fill(path::PUSH, &team.to_string()));
    let on_pg = backend::on_postgres();
    let backend_name = if on_pg { "PostgreSQL" } else { "SQLite" };
    println!("load against the release server binary on {backend_name} ({} clients, {} s)", a.clients, a.seconds);

    // 1. Push throughput: N clients, each pushing batches of 10 sealed 1 KiB records.
    let per_client = 4_000;
    let records = common::sealed_records(&session, a.clients * per_client);
    let records = Arc::new(records);
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for c in 0..a.clients {
        let (records, stop, url, token) = (records.clone(), stop.clone(), push_url.clone(), admin.token.clone());
        tasks.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mine = &records[c * per_client..(c + 1) * per_client];
            let mut lat = Vec::new();
            for batch in mine.chunks(BATCH) {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let t = Instant::now();
                if push(&http, &url, &token, batch).await {
                    lat.push(t.elapsed());
                }
            }
            lat
        }));
    }
    let start = Instant::now();
    tokio::time::sleep(Duration::from_secs(a.seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await.unwrap());
    }
    let elapsed = start.elapsed();
    lat.sort();
    let pushes = lat.len();
    let recs = pushes * BATCH;
    let rate = recs as f64 / elapsed.as_secs_f64();
    let sample = &records[..20_000.min(records.len())];
    let raw_dir = tempfile::tempdir().unwrap();
    let raw_time = if on_pg {
        let raw_db = backend::TestDb::fresh(raw_dir.path());
        common::raw_insert_pg(sample, &raw_db.url(), BATCH).await
    } else {
        common::raw_insert(sample, raw_dir.path(), BATCH, false).await
    };
    let baseline = sample.len() as f64 / raw_time.as_secs_f64();
    println!(
        "push: {pushes} pushes of {BATCH} x 1 KiB records in {:.1} s = {rate:.0} records/s ({:.0} pushes/s), latency p50 {} p99 {}",
        elapsed.as_secs_f64(),
        pushes as f64 / elapsed.as_secs_f64(),
        ms(pct(&lat, 0.5)),
        ms(pct(&lat, 0.99))
    );
    println!(
        "      raw {backend_name} insert of the same rows (one transaction per 10, {}): {baseline:.0} rows/s; ratio {:.2}",
        if on_pg { "synchronous_commit on" } else { "WAL, synchronous=FULL" },
        rate / baseline
    );

    // The part of a push the server's signature check takes (issue 31 item 12): the
    // checks of a push of 10, one batch, as `records.rs` makes them, timed alone in the
    // same run; beside the measured push rate, what the check leaves of it on the
    // machine's cores.
    let checks: Vec<Vec<shared::crypto::envelope::SignatureCheck>> = records[..2_000.min(records.len())]
        .chunks(BATCH)
        .map(|batch| {
            batch
                .iter()
                .map(|(id, sealed)| {
                    let (basic, _) = sealed.envelopes().unwrap();
                    let ctx = shared::crypto::envelope::RecordContext { team, record: *id };
                    basic.signature_check(&ctx, &[0; 32], &session.identity.public()).unwrap()
                })
                .collect()
        })
        .collect();
    let t = Instant::now();
    for batch in &checks {
        let refs: Vec<&shared::crypto::envelope::SignatureCheck> = batch.iter().collect();
        assert!(shared::crypto::envelope::SignatureCheck::all_hold(&refs).iter().all(|&h| h));
    }
    let per_push = t.elapsed() / checks.len() as u32;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let share = pushes as f64 / elapsed.as_secs_f64() * per_push.as_secs_f64() / cores;
    println!(
        "      signature check of a push of {BATCH}: {} (one core); at this push rate {:.1} % of {cores:.0} cores, \
         so without it at most {:.2}x this rate",
        ms(per_push),
        share * 100.0,
        1.0 / (1.0 - share).max(0.01)
    );

    // 2. Pull: N clients each read the team from the start, 1,000 changes a page (a new
    // device's first sync), for up to S seconds; beside the same pages read straight
    // from the database by one connection, in the same run.
    let pull_url = format!("{}{}", srv.base, path::fill(path::PULL, &team.to_string()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for _ in 0..a.clients {
        let (stop, url, token) = (stop.clone(), pull_url.clone(), admin.token.clone());
        tasks.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let (mut lat, mut n, mut since) = (Vec::new(), 0usize, 0u64);
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                let Ok(r) = http.get(format!("{url}?since={since}&limit=1000")).bearer_auth(&token).send().await else {
                    break;
                };
                let Ok(page) = r.json::<PullResponse>().await else { break };
                lat.push(t.elapsed());
                n += page.changes.len();
                since = page.cursor;
                if !page.more {
                    break;
                }
            }
            (lat, n)
        }));
    }
    let start = Instant::now();
    let deadline = tokio::time::sleep(Duration::from_secs(a.seconds));
    tokio::pin!(deadline);
    let mut all = futures::future::join_all(tasks);
    let results = tokio::select! {
        r = &mut all => r,
        _ = &mut deadline => { stop.store(true, Ordering::Relaxed); all.await }
    };
    let elapsed = start.elapsed();
    let (mut lat, mut pulled) = (Vec::new(), 0);
    for r in results {
        let (l, n) = r.unwrap();
        lat.extend(l);
        pulled += n;
    }
    lat.sort();
    let raw_rate = raw_pull(&srv, team, pulled.min(20 * 1000)).await;
    println!(
        "pull: {} pages of up to 1,000 changes in {:.1} s = {:.0} records/s, page latency p50 {} p99 {}",
        lat.len(),
        elapsed.as_secs_f64(),
        pulled as f64 / elapsed.as_secs_f64(),
        ms(pct(&lat, 0.5)),
        ms(pct(&lat, 0.99))
    );
    println!(
        "      raw paged SELECT of the same rows from the database, one connection: {raw_rate:.0} rows/s; ratio {:.2}",
        pulled as f64 / elapsed.as_secs_f64() / raw_rate
    );

    // 3. Poke fan-out: F subscribers, each push's poke timed to every one of them.
    let mut subs = Vec::with_capacity(a.fanout);
    for _ in 0..a.fanout {
        match subscribe(&srv.base, team, &admin.token).await {
            Some(ws) => subs.push(ws),
            None => break,
        }
    }
    let subscribed = subs.len();
    let extra = common::sealed_records(&session, 20);
    let http = reqwest::Client::new();
    let mut deliveries = Vec::new();
    for rec in extra.chunks(1) {
        let sent = Instant::now();
        let (ok, times) = tokio::join!(push(&http, &push_url, &admin.token, rec), async {
            let waits = subs.iter_mut().map(|ws| async move {
                loop {
                    match tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
                        Ok(Some(Ok(Message::Text(t)))) => {
                            if matches!(serde_json::from_str(&t), Ok(ServerEvent::Poke { .. })) {
                                return Some(sent.elapsed());
                            }
                        }
                        _ => return None,
                    }
                }
            });
            futures::future::join_all(waits).await
        });
        assert!(ok, "push failed during fan-out");
        deliveries.extend(times.into_iter().flatten());
    }
    deliveries.sort();
    println!(
        "fan-out: {subscribed} subscribers, 20 pushes, {} pokes delivered; push → poke p50 {} p99 {}",
        deliveries.len(),
        ms(pct(&deliveries, 0.5)),
        ms(pct(&deliveries, 0.99))
    );
    drop(subs);

    // 4. Idle websockets held: open K, then check the server still serves.
    let mut idle = Vec::with_capacity(a.idle);
    let opening = Instant::now();
    let mut failed = 0;
    for chunk in 0..a.idle.div_ceil(200) {
        let n = 200.min(a.idle - chunk * 200);
        let opened = futures::future::join_all((0..n).map(|_| subscribe(&srv.base, team, &admin.token))).await;
        for ws in opened {
            match ws {
                Some(ws) => idle.push(ws),
                None => failed += 1,
            }
        }
    }
    let t = Instant::now();
    let health = reqwest::get(format!("{}{}", srv.base, path::HEALTH)).await.map(|r| r.status().is_success());
    println!(
        "idle websockets: {} held ({failed} refused) after {:.1} s of opening; health check {} in {}",
        idle.len(),
        opening.elapsed().as_secs_f64(),
        if matches!(health, Ok(true)) { "answered" } else { "FAILED" },
        ms(t.elapsed())
    );
}
