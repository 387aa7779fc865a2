//! What the app tells the user when a request fails: one enum whose variants stand for
//! translation keys. The server's status and error `code` decide which, never its prose
//! (which is English and may change); what a code means can depend on the request (a
//! 401 `unauthorized` to a log-in is a wrong passphrase, to anything else an ended
//! session), so log-ins read answers with [`AppError::at_login`]. What the sync engine
//! refused or waits for is said by [`sync_error`].

use shared::sync::TransportError;

use crate::i18n::{t, tf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppError {
    Offline,
    WrongLogin,
    SessionEnded,
    SessionExpired,
    TotpRequired,
    TotpInvalid,
    TwoFactorRequired,
    TooManyAttempts,
    TooMany,
    SignedOutRemotely,
    Forbidden,
    NotFound,
    TooLarge,
    TeamQuota,
    MemberQuota,
    ApprovalRequired,
    Unavailable,
    /// Any other refusal: its status and code, shown as they are (no prose).
    Refused {
        status: u16,
        code: String,
    },
    /// An answer the app could not read.
    Protocol,
}

impl AppError {
    /// The answer to a log-in (or anything checked against the passphrase), where there
    /// is no session yet: a 401 `unauthorized` says the username or passphrase is wrong.
    pub fn at_login(e: &TransportError) -> Self {
        match e {
            TransportError::Http { status: 401, code, .. } if code == "unauthorized" => AppError::WrongLogin,
            e => AppError::from(e),
        }
    }

    fn of(status: u16, code: &str) -> Self {
        match (status, code) {
            (_, "session_expired") => AppError::SessionExpired,
            (_, "totp_required") => AppError::TotpRequired,
            (_, "totp_invalid") => AppError::TotpInvalid,
            (_, "2fa_required") => AppError::TwoFactorRequired,
            (_, "too_many_attempts") => AppError::TooManyAttempts,
            (_, "team_quota_exceeded") => AppError::TeamQuota,
            (_, "member_quota_exceeded") => AppError::MemberQuota,
            (_, "approval_required") => AppError::ApprovalRequired,
            (_, "payload_too_large") | (413, _) => AppError::TooLarge,
            (401, _) => AppError::SessionEnded,
            (403, _) => AppError::Forbidden,
            (404, _) => AppError::NotFound,
            (429, _) => AppError::TooMany,
            (500..=599, _) => AppError::Unavailable,
            (status, code) => AppError::Refused { status, code: code.to_owned() },
        }
    }
}

impl From<&TransportError> for AppError {
    fn from(e: &TransportError) -> Self {
        match e {
            TransportError::Offline => AppError::Offline,
            TransportError::Http { status, code, .. } => AppError::of(*status, code),
            TransportError::Protocol(_) => AppError::Protocol,
            TransportError::DeviceWiped(_) => AppError::SignedOutRemotely,
        }
    }
}

impl From<TransportError> for AppError {
    fn from(e: TransportError) -> Self {
        AppError::from(&e)
    }
}

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let key = match self {
            AppError::Offline => "error.offline",
            AppError::WrongLogin => "error.wrong_login",
            AppError::SessionEnded => "error.session_ended",
            AppError::SessionExpired => "error.session_expired",
            AppError::TotpRequired => "error.totp_required",
            AppError::TotpInvalid => "error.totp_invalid",
            AppError::TwoFactorRequired => "error.2fa_required",
            AppError::TooManyAttempts => "error.too_many_attempts",
            AppError::TooMany => "error.too_many",
            AppError::SignedOutRemotely => "error.signed_out_remotely",
            AppError::Forbidden => "error.forbidden",
            AppError::NotFound => "error.not_found",
            AppError::TooLarge => "error.too_large",
            AppError::TeamQuota => "sync.team_quota_exceeded",
            AppError::MemberQuota => "sync.member_quota_exceeded",
            AppError::ApprovalRequired => "error.approval_required",
            AppError::Unavailable => "error.unavailable",
            AppError::Protocol => "error.protocol",
            AppError::Refused { status, code } => {
                return f.write_str(&tf("error.refused", &[("status", status), ("code", code)]));
            }
        };
        f.write_str(t(key))
    }
}

/// What the sync engine refused or is waiting for, in the user's language.
pub fn sync_error(e: &shared::sync::SyncError) -> String {
    use shared::sync::{ChainDoubt, SyncError};
    match e {
        SyncError::NotAllowed(m) if m.starts_with("Only a manager") => t("sync.not_allowed_portfolio").into(),
        SyncError::NotAllowed(m) if m.starts_with("Your role cannot write sensitive") => {
            t("sync.not_allowed_sensitive").into()
        }
        SyncError::AwaitingKeys(epoch) => tf("sync.awaiting_keys", &[("epoch", epoch)]),
        SyncError::ConflictStorm => t("sync.conflict_storm").into(),
        SyncError::Transport(shared::sync::TransportError::Http { code, .. })
            if code == "team_quota_exceeded" || code == "member_quota_exceeded" =>
        {
            t(if code == "team_quota_exceeded" { "sync.team_quota_exceeded" } else { "sync.member_quota_exceeded" })
                .into()
        }
        SyncError::ChainDoubt(ChainDoubt::Behind { writer, head }) => {
            tf("sync.doubt_behind", &[("writer", writer), ("n", &head.len)])
        }
        SyncError::ChainDoubt(ChainDoubt::Fork { writer, head }) => {
            tf("sync.doubt_fork", &[("writer", writer), ("n", &head.len)])
        }
        SyncError::Unconfirmed { hours } => tf("sync.unconfirmed", &[("n", hours)]),
        SyncError::RestoreUnconfirmed { .. } => t("sync.restore_unconfirmed").into(),
        // The server's code decides the words, never its prose.
        SyncError::Transport(e) => tf("sync.error", &[("error", &AppError::from(e))]),
        e => tf("sync.error", &[("error", e)]),
    }
}

#[cfg(test)]
mod tests {
    use wasm_bindgen_test::*;

    use super::*;

    fn http(status: u16, code: &str, message: &str) -> TransportError {
        TransportError::Http { status, code: code.into(), message: message.into() }
    }

    #[wasm_bindgen_test]
    fn the_code_decides_never_the_prose() {
        let wrong = http(401, "unauthorized", "wrong username or passphrase");
        assert_eq!(AppError::at_login(&wrong), AppError::WrongLogin);
        assert_eq!(AppError::from(&wrong), AppError::SessionEnded, "with a session, it ended");
        let reworded = http(401, "unauthorized", "something else entirely");
        assert_eq!(AppError::at_login(&reworded), AppError::WrongLogin);
        assert_eq!(AppError::from(&http(429, "too_many_attempts", "")), AppError::TooManyAttempts);
        assert_eq!(AppError::from(&http(403, "team_quota_exceeded", "")), AppError::TeamQuota);
        assert_eq!(AppError::from(&http(400, "bad_request", "the notice's signature does not verify")), {
            AppError::Refused { status: 400, code: "bad_request".into() }
        });
        assert!(!AppError::from(&http(400, "bad_request", "English prose")).to_string().contains("English prose"));
    }
}
