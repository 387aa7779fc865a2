//! The websocket that pokes members when their team changes. It carries cursors and
//! chain lengths only; clients pull the data itself over HTTP. The token is sent as
//! the first message, never in the URL, so it cannot end up in an access log.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde::{Deserialize, Serialize};
use shared::api::{path, ClientEvent, ServerEvent};
use shared::ids::TeamId;
use tokio::sync::{broadcast, mpsc};

use crate::auth::authenticate;
use crate::error::ApiPath;
use crate::teams::require_member;
use crate::AppState;

/// Per-team broadcast channels, and (with several instances) the relay that carries
/// each event to the other instances.
#[derive(Default)]
pub struct Hub {
    teams: Mutex<HashMap<TeamId, broadcast::Sender<ServerEvent>>>,
    relay: std::sync::OnceLock<mpsc::UnboundedSender<Relayed>>,
}

/// An event on its way between instances (`NOTIFY` payload, JSON).
#[derive(Serialize, Deserialize)]
struct Relayed {
    /// The instance that raised it (it delivered the event itself).
    from: u64,
    team: TeamId,
    event: ServerEvent,
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
        if let Some(relay) = self.relay.get() {
            let _ = relay.send(Relayed { from: 0, team: *team, event: event.clone() });
        }
        self.deliver(team, event);
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
                    Ok(ev) if ev.from != me => state.hub.deliver(&ev.team, ev.event),
                    Ok(_) => {}
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

async fn upgrade(State(state): State<AppState>, ApiPath(team): ApiPath<TeamId>, ws: WebSocketUpgrade) -> Response {
    ws.max_message_size(4096).on_upgrade(move |socket| serve(socket, state, team))
}

async fn serve(mut socket: WebSocket, state: AppState, team: TeamId) {
    let auth = tokio::time::timeout(Duration::from_secs(10), socket.recv()).await;
    let Ok(Some(Ok(Message::Text(text)))) = auth else {
        return;
    };
    let Ok(ClientEvent::Auth { token }) = serde_json::from_str::<ClientEvent>(&text) else {
        return;
    };
    let user = match authenticate(&state, &token).await {
        Ok(u) => u,
        Err(_) => {
            let _ = socket.send(Message::Close(None)).await;
            return;
        }
    };
    if require_member(&state, &team, &user.username).await.is_err() {
        let _ = socket.send(Message::Close(None)).await;
        return;
    }
    let mut rx = state.hub.subscribe(&team);
    let Ok(cursor) = state.db.cursor(&team).await else {
        return;
    };
    if send(&mut socket, &ServerEvent::Ready { cursor: state.cursor_out(cursor) }).await.is_err() {
        return;
    }
    loop {
        tokio::select! {
            ev = rx.recv() => match ev {
                Ok(ev) => {
                    // The chain moved, or an incident was declared: a member removed by
                    // it, or whose session ended, loses the socket at once.
                    if matches!(ev, ServerEvent::Chain { .. } | ServerEvent::Alert)
                        && (authenticate(&state, &token).await.is_err()
                            || require_member(&state, &team, &user.username).await.is_err())
                    {
                        let _ = socket.send(Message::Close(None)).await;
                        return;
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

async fn send(socket: &mut WebSocket, ev: &ServerEvent) -> Result<(), axum::Error> {
    socket.send(Message::Text(serde_json::to_string(ev).expect("serializable").into())).await
}
