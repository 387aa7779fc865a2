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
use shared::api::{path, ClientEvent, ServerEvent};
use shared::ids::TeamId;
use tokio::sync::broadcast;

use crate::auth::authenticate;
use crate::error::ApiPath;
use crate::teams::require_member;
use crate::AppState;

/// Per-team broadcast channels.
#[derive(Default)]
pub struct Hub {
    teams: Mutex<HashMap<TeamId, broadcast::Sender<ServerEvent>>>,
}

impl Hub {
    pub fn subscribe(&self, team: &TeamId) -> broadcast::Receiver<ServerEvent> {
        let mut g = self.teams.lock().expect("hub lock");
        g.entry(*team).or_insert_with(|| broadcast::channel(64).0).subscribe()
    }

    pub fn send(&self, team: &TeamId, event: ServerEvent) {
        let mut g = self.teams.lock().expect("hub lock");
        if let Some(tx) = g.get(team) {
            if tx.send(event).is_err() {
                g.remove(team); // nobody listening any more
            }
        }
    }
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
