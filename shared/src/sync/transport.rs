//! The engine's way to the server, behind the [`Transport`] trait, and the wire's errors.

use super::*;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TransportError {
    #[error("offline or server unreachable")]
    Offline,
    #[error("server answered {status}: {code}: {message}")]
    Http { status: u16, code: String, message: String },
    #[error("unexpected response: {0}")]
    Protocol(String),
    /// `401 device_wiped`: the server says this device was signed out remotely, with
    /// the signed order if it gave one. Whether to erase anything is decided by whoever
    /// can check the order ([`crate::wipe::WipeOrder::check`]), never by a transport.
    #[error("this device was signed out remotely")]
    DeviceWiped(Option<Box<crate::wipe::WipeOrder>>),
}

/// Read an error answer the same way in every transport.
pub fn decode_error(status: u16, body: &[u8]) -> TransportError {
    match serde_json::from_slice::<crate::api::DeviceWipedBody>(body) {
        Ok(e) if status == 401 && e.code == "device_wiped" => TransportError::DeviceWiped(e.order.map(Box::new)),
        Ok(e) => TransportError::Http { status, code: e.code, message: e.message },
        Err(_) => TransportError::Http { status, code: "http".into(), message: format!("HTTP {status}") },
    }
}

pub enum PushOutcome {
    Accepted(PushResponse),
    Conflict(Vec<Change>),
}

/// Read a push answer: 200 accepted, 409 with `code: "conflict"` (merge and retry),
/// any other status (including other 409s such as `stale_epoch`) an error. One place,
/// so every transport reads the wire the same way.
pub fn decode_push_response(status: u16, body: &[u8]) -> Result<PushOutcome, TransportError> {
    let proto = |e: serde_json::Error| TransportError::Protocol(e.to_string());
    match status {
        200 => Ok(PushOutcome::Accepted(serde_json::from_slice(body).map_err(proto)?)),
        _ => {
            let e: crate::api::ErrorBody = serde_json::from_slice(body).map_err(proto)?;
            if status == 409 && e.code == "conflict" {
                let c: crate::api::PushConflict = serde_json::from_slice(body).map_err(proto)?;
                return Ok(PushOutcome::Conflict(c.conflicts));
            }
            Err(decode_error(status, body))
        }
    }
}

/// The server, as the engine sees it.
#[allow(async_fn_in_trait)]
pub trait Transport {
    async fn push(&self, req: &PushRequest) -> Result<PushOutcome, TransportError>;
    async fn pull(&self, since: Cursor, limit: u32) -> Result<PullResponse, TransportError>;
    /// The kept earlier versions of `record` the server lists ([`history`]): its word
    /// on what exists, nothing more. A transport without the call answers
    /// [`TransportError::Protocol`].
    async fn kept_versions(&self, record: RecordId) -> Result<crate::api::KeptVersions, TransportError> {
        let _ = record;
        Err(TransportError::Protocol("this transport fetches no kept versions".into()))
    }

    /// One kept version of `record`, sealed: opened by [`Syncer::open_kept`] as a pulled
    /// version is, never taken on the server's word.
    async fn kept_version(&self, record: RecordId, version: u64) -> Result<crate::api::KeptVersion, TransportError> {
        let _ = (record, version);
        Err(TransportError::Protocol("this transport fetches no kept versions".into()))
    }

    /// The team's freshness beacons, as the server lists them (the latest each admin
    /// posted; see [`crate::beacon`]): `Some` from every transport that reaches a
    /// Quietdesk server, and then the beacon lease holds ([`Syncer::freshness`]) whatever
    /// it answers. `None` only for transports with no server behind them (a test's
    /// model of one, a benchmark).
    async fn beacons(&self) -> Option<Result<Vec<crate::beacon::Beacon>, TransportError>> {
        None
    }
}
