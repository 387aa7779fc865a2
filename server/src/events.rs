//! The websocket that pokes members when their team changes. It carries cursors and
//! chain lengths only; clients pull the data itself over HTTP. The token is sent as
//! the first message, never in the URL, so it cannot end up in an access log.
//!
//! A socket lives only as long as its session and its membership: it closes when the
//! session is logged out, revoked, wiped or expires, and when a chain change removes
//! its member. A refusal is a close frame (1008, policy) whose reason is the code an
//! HTTP answer would carry (`unauthorized`, `forbidden`, `bad_request`, …).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{close_code, CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde::{Deserialize, Serialize};
use shared::api::{path, ClientEvent, ServerEvent};
use shared::ids::{TeamId, Username};
use tokio::sync::{broadcast, mpsc};

use crate::access::require_member;
use crate::error::{ApiError, ApiPath};
use crate::session::{authenticate, live_until};
use crate::AppState;

/// Per-team broadcast channels, the word that sessions ended, and (with several
/// instances) the relay that carries both to the other instances.
pub struct Hub {
    teams: Mutex<HashMap<TeamId, broadcast::Sender<ServerEvent>>>,
    /// Whose sessions just ended (`None`: possibly anyone's): their sockets check theirs.
    ended: broadcast::Sender<Option<Username>>,
    relay: std::sync::OnceLock<mpsc::UnboundedSender<Relayed>>,
}

impl Default for Hub {
    fn default() -> Self {
        Self { teams: Mutex::default(), ended: broadcast::channel(64).0, relay: std::sync::OnceLock::new() }
    }
}

/// What travels between instances (`NOTIFY` payload, JSON).
#[derive(Serialize, Deserialize)]
struct Relayed {
    /// The instance that raised it (it delivered it itself).
    from: u64,
    #[serde(flatten)]
    what: Relay,
}

/// A team's event (`{"team":…,"event":…}`, as before sessions were relayed), or the
/// word that a user's sessions ended.
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum Relay {
    Team { team: TeamId, event: ServerEvent },
    SessionsEnded { sessions_ended: Option<Username> },
}

/// The `LISTEN`/`NOTIFY` channel every instance on one database shares.
const CHANNEL: &str = "quietdesk_events";

impl Hub {
    pub fn subscribe(&self, team: &TeamId) -> broadcast::Receiver<ServerEvent> {
        let mut g = self.teams.lock().expect("hub lock");
        g.entry(*team).or_insert_with(|| broadcast::channel(64).0).subscribe()
    }

    /// Tell this instance's sockets for `team`, and every other instance's.
    pub fn send(&self, team: &TeamId, event: ServerEvent) {
        self.relay(Relay::Team { team: *team, event: event.clone() });
        self.deliver(team, event);
    }

    /// Sessions of `who` ended (logged out, revoked, wiped, the member removed), or of
    /// several users (`None`): their sockets here and on every other instance check
    /// their session again, and those whose session ended close.
    pub fn sessions_ended(&self, who: Option<&Username>) {
        self.relay(Relay::SessionsEnded { sessions_ended: who.cloned() });
        let _ = self.ended.send(who.cloned()); // nobody listening is fine
    }

    fn relay(&self, what: Relay) {
        if let Some(relay) = self.relay.get() {
            let _ = relay.send(Relayed { from: 0, what });
        }
    }

    fn deliver(&self, team: &TeamId, event: ServerEvent) {
        let mut g = self.teams.lock().expect("hub lock");
        if let Some(tx) = g.get(team) {
            if tx.send(event).is_err() {
                g.remove(team); // nobody listening any more
            }
        }
    }

    fn local_teams(&self) -> Vec<TeamId> {
        self.teams.lock().expect("hub lock").keys().copied().collect()
    }
}

/// Relay events between server instances sharing one PostgreSQL database: what one
/// instance sends goes out with `pg_notify`, and what the others send arrives on a
/// `LISTEN` connection and reaches this instance's sockets. Listening starts before
/// this returns. If the listening connection drops, notifications sent meanwhile are
/// lost; once it is back, every team with sockets here gets a poke with its current
/// cursor, so no client waits for a change it missed.
pub async fn relay_through_postgres(state: &AppState, pool: sqlx::PgPool) -> Result<(), sqlx::Error> {
    let mut listener = sqlx::postgres::PgListener::connect_with(&pool).await?;
    listener.listen(CHANNEL).await?;
    let me = loop {
        let id = rand_core::RngCore::next_u64(&mut rand_core::OsRng);
        if id != 0 {
            break id;
        }
    };
    let (tx, mut rx) = mpsc::unbounded_channel::<Relayed>();
    if state.hub.relay.set(tx).is_err() {
        return Ok(()); // already relaying
    }
    tokio::spawn(async move {
        while let Some(mut ev) = rx.recv().await {
            ev.from = me;
            let payload = serde_json::to_string(&ev).expect("serializable");
            if let Err(e) = sqlx::query("SELECT pg_notify($1, $2)").bind(CHANNEL).bind(payload).execute(&pool).await {
                tracing::warn!(error = %e, "could not relay an event to the other instances");
            }
        }
    });
    let state = state.clone();
    tokio::spawn(async move {
        loop {
            match listener.try_recv().await {
                Ok(Some(n)) => match serde_json::from_str::<Relayed>(n.payload()) {
                    Ok(ev) if ev.from == me => {}
                    Ok(Relayed { what: Relay::Team { team, event }, .. }) => state.hub.deliver(&team, event),
                    Ok(Relayed { what: Relay::SessionsEnded { sessions_ended }, .. }) => {
                        let _ = state.hub.ended.send(sessions_ended);
                    }
                    Err(e) => tracing::warn!(error = %e, "unreadable relayed event"),
                },
                // The connection dropped and is being re-established: poke everyone.
                Ok(None) => {
                    tracing::warn!("relay connection lost; reconnecting");
                    // `listen` reconnects (re-listening) before it returns.
                    while let Err(e) = listener.listen(CHANNEL).await {
                        tracing::warn!(error = %e, "relay listener cannot reconnect yet");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                    for team in state.hub.local_teams() {
                        if let Ok(cursor) = state.db.cursor(&team).await {
                            state.hub.deliver(&team, ServerEvent::Poke { cursor: state.cursor_out(cursor) });
                        }
                    }
                    // Sessions may have ended meanwhile too.
                    let _ = state.hub.ended.send(None);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "relay listener failed; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    });
    Ok(())
}

pub fn router() -> Router<AppState> {
    Router::new().route(path::EVENTS, get(upgrade))
}

/// A request that is not a websocket upgrade is refused like any bad request (JSON
/// body), not with axum's plain-text rejection.
async fn upgrade(
    State(state): State<AppState>,
    ApiPath(team): ApiPath<TeamId>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let ws = ws.map_err(|r| ApiError::Rejected(r.status(), r.body_text()))?;
    Ok(ws.max_message_size(4096).on_upgrade(move |socket| serve(socket, state, team)))
}

/// How long a new socket may take to send its `auth` message.
const AUTH_WAIT: Duration = Duration::from_secs(10);

async fn serve(mut socket: WebSocket, state: AppState, team: TeamId) {
    let token = match tokio::time::timeout(AUTH_WAIT, socket.recv()).await {
        Ok(Some(Ok(Message::Text(text)))) => match serde_json::from_str::<ClientEvent>(&text) {
            Ok(ClientEvent::Auth { token }) => token,
            Err(_) => return refuse(socket, close_code::POLICY, "bad_request").await,
        },
        Ok(None | Some(Ok(Message::Close(_)))) => return,
        // Over `max_message_size`, or not a frame at all.
        Ok(Some(Err(_))) => return refuse(socket, close_code::SIZE, "bad_request").await,
        Ok(Some(Ok(_))) => return refuse(socket, close_code::UNSUPPORTED, "bad_request").await,
        Err(_) => return refuse(socket, close_code::POLICY, "timeout").await,
    };
    let user = match authenticate(&state, &token, Some(&team)).await {
        Ok(u) => u,
        Err(e) => return refuse(socket, close_code::POLICY, e.code()).await,
    };
    if let Err(e) = require_member(&state, &team, &user.username).await {
        return refuse(socket, close_code::POLICY, e.code()).await;
    }
    // Listen before reading the session's end, so no word of its end is missed.
    let mut ended = state.hub.ended.subscribe();
    let mut rx = state.hub.subscribe(&team);
    let expires_at = match live_until(&state, &user.token_hash, Some(&team)).await {
        Ok(at) => at,
        Err(e) => return refuse(socket, close_code::POLICY, e.code()).await,
    };
    let Ok(cursor) = state.db.cursor(&team).await else {
        return refuse(socket, close_code::AGAIN, "unavailable").await;
    };
    if send(&mut socket, &ServerEvent::Ready { cursor: state.cursor_out(cursor) }).await.is_err() {
        return;
    }
    let left = u64::try_from(expires_at - crate::now_ms()).unwrap_or(0);
    let expiry = tokio::time::sleep(Duration::from_millis(left));
    tokio::pin!(expiry);
    loop {
        tokio::select! {
            () = &mut expiry => return refuse(socket, close_code::POLICY, ApiError::SessionExpired.code()).await,
            who = ended.recv() => {
                let mine = match &who {
                    Ok(Some(who)) => *who == user.username,
                    Ok(None) | Err(broadcast::error::RecvError::Lagged(_)) => true,
                    Err(broadcast::error::RecvError::Closed) => return,
                };
                if mine {
                    let still = live_until(&state, &user.token_hash, Some(&team)).await;
                    if let Err(e) = still {
                        return refuse(socket, close_code::POLICY, e.code()).await;
                    }
                }
            }
            ev = rx.recv() => match ev {
                Ok(ev) => {
                    // The chain moved, or an incident was declared: a member removed by
                    // it, or whose session ended, loses the socket at once.
                    if matches!(ev, ServerEvent::Chain { .. } | ServerEvent::Alert) {
                        let still = match live_until(&state, &user.token_hash, Some(&team)).await {
                            Ok(_) => require_member(&state, &team, &user.username).await.map(|_| ()),
                            Err(e) => Err(e),
                        };
                        if let Err(e) = still {
                            return refuse(socket, close_code::POLICY, e.code()).await;
                        }
                    }
                    if send(&mut socket, &ev).await.is_err() { return }
                }
                // Missed some pokes: one fresh poke with the latest cursor covers them.
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    let Ok(cursor) = state.db.cursor(&team).await else { return };
                    if send(&mut socket, &ServerEvent::Poke { cursor: state.cursor_out(cursor) }).await.is_err() { return }
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
            msg = socket.recv() => match msg {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
        }
    }
}

/// Close `socket` with `code` and the refusal's `reason`; nothing more is sent on it.
async fn refuse(mut socket: WebSocket, code: u16, reason: &'static str) {
    let _ = socket.send(Message::Close(Some(CloseFrame { code, reason: reason.into() }))).await;
}

async fn send(socket: &mut WebSocket, ev: &ServerEvent) -> Result<(), axum::Error> {
    socket.send(Message::Text(serde_json::to_string(ev).expect("serializable").into())).await
}
