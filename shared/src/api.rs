// Long: every wire type and path in one module, so the client and the server read one definition of each.
//! The wire: every path, request, response and the error body, in one place.
//!
//! Binary values travel as standard base64 strings. Each request type names its
//! response type through [`Endpoint`], so a client cannot pair them wrongly.

use serde::{Deserialize, Deserializer, Serialize};

use crate::chain::ChainEntry;
use crate::crypto::envelope::SealedRecord;
use crate::crypto::identity::{AccountBundle, PublicIdentity};
use crate::crypto::passphrase::KdfParams;
use crate::crypto::wrap::KeyWrap;
use crate::crypto::{label, Scope};
use crate::encoding::Writer;
use crate::ids::{CollectionId, InviteId, RecordId, TeamId, Username};

/// URL paths. `{team}` and `{username}` are path parameters (axum 0.8 syntax).
pub mod path {
    pub const HEALTH: &str = "/api/v1/health";
    pub const SIGNUP: &str = "/api/v1/auth/signup";
    pub const PRELOGIN: &str = "/api/v1/auth/prelogin";
    pub const LOGIN: &str = "/api/v1/auth/login";
    pub const LOGOUT: &str = "/api/v1/auth/logout";
    pub const USER: &str = "/api/v1/users/{username}";
    pub const TEAMS: &str = "/api/v1/teams";
    pub const CHAIN: &str = "/api/v1/teams/{team}/chain";
    pub const WRAPS: &str = "/api/v1/teams/{team}/wraps";
    /// Crypto-shredding: delete the key wraps of epochs no record uses any more.
    pub const SHRED_WRAPS: &str = "/api/v1/teams/{team}/wraps/shred";
    /// Admin: create (POST) and list (GET) the team's invitations.
    pub const INVITES: &str = "/api/v1/teams/{team}/invites";
    /// Admin: when each member was last seen, and on what kind of device.
    pub const ACTIVITY: &str = "/api/v1/teams/{team}/activity";
    /// Admin: security alerts raised by the server (e.g. a bulk download).
    pub const ALERTS: &str = "/api/v1/teams/{team}/alerts";
    /// The caller's own signed-in devices (GET).
    pub const DEVICES: &str = "/api/v1/devices";
    /// The caller's sealed account pins: read (GET) and store a newer version (PUT).
    pub const ACCOUNT_PINS: &str = "/api/v1/account/pins";
    /// Change the caller's passphrase: new salt, settings, auth key and sealed bundle,
    /// proven with the current auth key (PUT).
    pub const PASSPHRASE: &str = "/api/v1/account/passphrase";
    /// Set (replace) the caller's recovery kit, proven with the current auth key (PUT).
    pub const RECOVERY: &str = "/api/v1/account/recovery";
    /// The recovery-sealed bundle, to whoever proves the recovery key (POST).
    pub const RECOVERY_BUNDLE: &str = "/api/v1/auth/recovery/bundle";
    /// A new passphrase proven with the recovery key, for a forgotten one (POST).
    pub const RECOVER: &str = "/api/v1/auth/recover";
    /// Sign out one of the caller's devices and have it erase its local data (POST).
    pub const REVOKE_DEVICE: &str = "/api/v1/devices/{device}/revoke";
    /// Admin: sign out every device of a member and have each erase its data (POST).
    pub const WIPE_MEMBER: &str = "/api/v1/teams/{team}/wipe";
    /// Two-factor authentication: status (GET), start enrolment (POST .../setup),
    /// confirm it with a first code (POST .../enable).
    pub const TOTP: &str = "/api/v1/2fa";
    pub const TOTP_SETUP: &str = "/api/v1/2fa/setup";
    pub const TOTP_ENABLE: &str = "/api/v1/2fa/enable";
    /// Admin: incident mode — end every session of every member but the caller's (the
    /// caller's client rotates every key alongside, and records why in the team's
    /// encrypted records: the server never gets the reason, which may name customers).
    pub const INCIDENT: &str = "/api/v1/teams/{team}/incident";
    /// Freshness beacons ([`crate::beacon`]): an admin's device posts one (POST), and
    /// every member reads the newest each admin posted (GET).
    pub const BEACONS: &str = "/api/v1/teams/{team}/beacons";
    pub const RESTORE: &str = "/api/v1/teams/{team}/restore";
    /// Admin: require two-factor authentication of every member (PUT).
    pub const TEAM_2FA: &str = "/api/v1/teams/{team}/require-2fa";
    /// The joiner answers an invitation with their public keys and the MAC.
    pub const ACCEPT_INVITE: &str = "/api/v1/invites/{invite}/accept";
    /// The audit log: any member appends sealed entries (POST), admins read the
    /// chain (GET, paged by `after`).
    pub const AUDIT: &str = "/api/v1/teams/{team}/audit";
    /// Approvals of risky actions: ask (POST), list (GET: admins see every one,
    /// others their own).
    pub const APPROVALS: &str = "/api/v1/teams/{team}/approvals";
    /// Admin: approve (with a signature) or refuse one request (POST).
    pub const DECIDE_APPROVAL: &str = "/api/v1/teams/{team}/approvals/{approval}";
    /// Export everything the caller may read: a pull that needs an approved
    /// `export_all` request of the caller's, and leaves a note in the audit chain.
    pub const EXPORT: &str = "/api/v1/teams/{team}/export";
    /// Earlier versions of one record the server keeps for the team's retention period
    /// (GET: the list; members who may read the record's collection).
    pub const KEPT_VERSIONS: &str = "/api/v1/teams/{team}/records/{record}/versions";
    /// One kept version, sealed as it was pushed (GET).
    pub const KEPT_VERSION: &str = "/api/v1/teams/{team}/records/{record}/versions/{version}";
    /// How many days replaced versions are kept: read (GET, members), set (PUT, admins).
    pub const RETENTION: &str = "/api/v1/teams/{team}/retention";
    pub const PUSH: &str = "/api/v1/teams/{team}/push";
    pub const PULL: &str = "/api/v1/teams/{team}/pull";
    pub const EVENTS: &str = "/api/v1/teams/{team}/events";

    /// Fill the one `{…}` placeholder of a path.
    pub fn fill(template: &str, param: &str) -> String {
        match (template.find('{'), template.find('}')) {
            (Some(a), Some(b)) if a < b => format!("{}{param}{}", &template[..a], &template[b + 1..]),
            _ => template.to_owned(),
        }
    }
}

/// Largest JSON body the server accepts on any route (a push batch of ~500 records).
pub const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;
/// Most records in one push.
pub const MAX_PUSH_RECORDS: usize = 1000;
/// Most changes in one pull page.
pub const MAX_PULL_LIMIT: u32 = 1000;

/// Pairs a request with its response type and route at compile time.
pub trait Endpoint: Serialize {
    type Response: for<'de> Deserialize<'de>;
    const METHOD: Method;
    const PATH: &'static str;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Put,
}

/// Every non-2xx response body.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Stable machine-readable code, e.g. `bad_request`, `unauthorized`, `conflict`.
    pub code: String,
    /// A sentence for humans. Never contains secrets or stored data.
    pub message: String,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    pub status: String,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SignupRequest {
    pub username: Username,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Byte))]
    #[serde(with = "b64_16")]
    pub salt: [u8; 16],
    pub kdf: KdfParams,
    /// The client-derived auth key (not the passphrase). The server stores a hash.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Byte))]
    #[serde(with = "b64_32")]
    pub auth_key: [u8; 32],
    pub identity: PublicIdentity,
    pub bundle: AccountBundle,
}
impl Endpoint for SignupRequest {
    type Response = SessionResponse;
    const METHOD: Method = Method::Post;
    const PATH: &'static str = path::SIGNUP;
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PreloginRequest {
    pub username: Username,
}
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreloginResponse {
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Byte))]
    #[serde(with = "b64_16")]
    pub salt: [u8; 16],
    pub kdf: KdfParams,
}
impl Endpoint for PreloginRequest {
    type Response = PreloginResponse;
    const METHOD: Method = Method::Post;
    const PATH: &'static str = path::PRELOGIN;
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoginRequest {
    pub username: Username,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Byte))]
    #[serde(with = "b64_32")]
    pub auth_key: [u8; 32],
    /// The current code of the authenticator app, or a recovery code, once the user
    /// has turned on two-factor authentication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub totp: Option<String>,
}
impl Endpoint for LoginRequest {
    type Response = SessionResponse;
    const METHOD: Method = Method::Post;
    const PATH: &'static str = path::LOGIN;
}

/// The account's pins as the server holds them: an opaque blob sealed by the
/// account's devices ([`crate::pins::AccountPins`]) and its version. Version 0 with an
/// empty blob: none stored yet. A PUT is taken only if its version is higher.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedPins {
    pub version: u64,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Byte))]
    #[serde(with = "b64")]
    pub blob: Vec<u8>,
}

/// A new passphrase for the caller's account: what sign-up sends, minus the keys that do
/// not change, plus the current auth key as proof (a stolen session token alone cannot
/// change it). The identity keys stay; only the bundle is sealed again under the new
/// wrap key.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Serialize, Deserialize)]
pub struct ChangePassphraseRequest {
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Byte))]
    #[serde(with = "b64_32")]
    pub current_auth_key: [u8; 32],
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Byte))]
    #[serde(with = "b64_16")]
    pub salt: [u8; 16],
    pub kdf: KdfParams,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Byte))]
    #[serde(with = "b64_32")]
    pub auth_key: [u8; 32],
    pub bundle: AccountBundle,
}
impl std::fmt::Debug for ChangePassphraseRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangePassphraseRequest").field("kdf", &self.kdf).finish_non_exhaustive()
    }
}
impl Endpoint for ChangePassphraseRequest {
    type Response = Empty;
    const METHOD: Method = Method::Put;
    const PATH: &'static str = path::PASSPHRASE;
}

/// A new recovery kit: the verifier's input (the recovery-derived auth key) and the
/// bundle sealed under the recovery-derived wrap key; the current passphrase as proof.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Serialize, Deserialize)]
pub struct SetRecoveryRequest {
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Byte))]
    #[serde(with = "b64_32")]
    pub current_auth_key: [u8; 32],
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Byte))]
    #[serde(with = "b64_32")]
    pub recovery_auth_key: [u8; 32],
    pub bundle: AccountBundle,
}
impl std::fmt::Debug for SetRecoveryRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SetRecoveryRequest").finish_non_exhaustive()
    }
}
impl Endpoint for SetRecoveryRequest {
    type Response = Empty;
    const METHOD: Method = Method::Put;
    const PATH: &'static str = path::RECOVERY;
}

/// Ask for the recovery-sealed bundle, proving the recovery key.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Serialize, Deserialize)]
pub struct RecoveryBundleRequest {
    pub username: Username,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Byte))]
    #[serde(with = "b64_32")]
    pub recovery_auth_key: [u8; 32],
}
impl std::fmt::Debug for RecoveryBundleRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecoveryBundleRequest").field("username", &self.username).finish_non_exhaustive()
    }
}
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecoveryBundle {
    pub bundle: AccountBundle,
}
impl Endpoint for RecoveryBundleRequest {
    type Response = RecoveryBundle;
    const METHOD: Method = Method::Post;
    const PATH: &'static str = path::RECOVERY_BUNDLE;
}

/// Replace a forgotten passphrase, proving the recovery key: what a passphrase change
/// sends, with the recovery key's proof instead of the current passphrase.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Serialize, Deserialize)]
pub struct RecoverRequest {
    pub username: Username,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Byte))]
    #[serde(with = "b64_32")]
    pub recovery_auth_key: [u8; 32],
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Byte))]
    #[serde(with = "b64_16")]
    pub salt: [u8; 16],
    pub kdf: KdfParams,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Byte))]
    #[serde(with = "b64_32")]
    pub auth_key: [u8; 32],
    pub bundle: AccountBundle,
}
impl std::fmt::Debug for RecoverRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecoverRequest").field("username", &self.username).finish_non_exhaustive()
    }
}
impl Endpoint for RecoverRequest {
    type Response = Empty;
    const METHOD: Method = Method::Post;
    const PATH: &'static str = path::RECOVER;
}

/// A new session. The token goes in `Authorization: Bearer`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Serialize, Deserialize)]
pub struct SessionResponse {
    pub token: String,
    /// Unix milliseconds.
    pub expires_at: i64,
    pub identity: PublicIdentity,
    pub bundle: AccountBundle,
}
impl std::fmt::Debug for SessionResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionResponse").field("token", &"[REDACTED]").field("expires_at", &self.expires_at).finish()
    }
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LogoutRequest {}
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Empty {}
impl Endpoint for LogoutRequest {
    type Response = Empty;
    const METHOD: Method = Method::Post;
    const PATH: &'static str = path::LOGOUT;
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserKeys {
    pub username: Username,
    pub identity: PublicIdentity,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CreateTeamRequest {
    pub genesis: ChainEntry,
}
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TeamSummary {
    pub team: TeamId,
    pub chain_len: u64,
}
impl Endpoint for CreateTeamRequest {
    type Response = TeamSummary;
    const METHOD: Method = Method::Post;
    const PATH: &'static str = path::TEAMS;
}
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TeamList {
    pub teams: Vec<TeamSummary>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AppendChainRequest {
    pub entry: ChainEntry,
    /// Making someone an admin needs an approved `grant_admin` request of the
    /// appending admin's for that member ([`ApprovalKind::GrantAdmin`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<RecordId>,
}
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChainResponse {
    pub entries: Vec<ChainEntry>,
}

/// One wrapped key for one member.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WrapItem {
    pub epoch: u32,
    pub collection: CollectionId,
    pub scope: Scope,
    pub recipient: Username,
    pub wrap: KeyWrap,
}
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PutWrapsRequest {
    pub wraps: Vec<WrapItem>,
}
/// One member's most recent use of the service (from their live sessions).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberActivity {
    pub username: Username,
    /// Unix ms of the latest request on any live session; `None` with no live session.
    pub last_seen_ms: Option<i64>,
    /// A coarse label ("Chrome on Linux") of that session's device.
    pub device: Option<String>,
    /// Live sessions (devices logged in).
    pub sessions: u32,
}
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ActivityResponse {
    pub members: Vec<MemberActivity>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IncidentRequest {}
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IncidentResponse {
    pub sessions_ended: u64,
}

/// An admin's device publishes a freshness beacon of the chain head it verified.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PublishBeaconRequest {
    pub beacon: crate::beacon::Beacon,
}
/// The newest beacon each admin posted (what members judge: the server's word on
/// nothing but which beacons exist).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct BeaconsResponse {
    pub beacons: Vec<crate::beacon::Beacon>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TotpStatus {
    pub enabled: bool,
}
/// A new authenticator secret (base32). The client draws the QR code itself, from the
/// secret and its own account name: the server sends no markup, ever.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TotpSetup {
    pub secret: String,
    /// The same secret as an `otpauth://` URI, for clients that hand it to an
    /// authenticator app as text.
    pub uri: String,
}
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TotpCode {
    pub code: String,
}
/// Shown once, when 2FA is turned on; each works once in place of a code.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecoveryCodes {
    pub codes: Vec<String>,
}
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Require2fa {
    pub required: bool,
}

/// A signed-in device (a session), as its owner sees it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    /// Opaque id to revoke it by (a hash of a hash of the token; never the token).
    pub id: String,
    /// Coarse, from the User-Agent at log-in: "Chrome on Android".
    pub device: String,
    pub created_ms: i64,
    pub last_seen_ms: i64,
    /// The device making this request.
    pub current: bool,
}
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeviceList {
    pub devices: Vec<Device>,
    /// Whether the account has two-factor authentication on.
    #[serde(default)]
    pub two_factor: bool,
}
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WipeMemberRequest {
    pub username: Username,
    /// The admin's signed order, handed to each of the member's devices.
    pub order: crate::wipe::WipeOrder,
}
/// Sign out one of the caller's own devices: the order the caller signed for it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RevokeDeviceRequest {
    pub order: crate::wipe::WipeOrder,
}
/// The body of `401 device_wiped`: the error, and the signed order the device checks
/// before it erases anything.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeviceWipedBody {
    pub code: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<crate::wipe::WipeOrder>,
}
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WipeResponse {
    /// How many devices will erase their data at their next contact.
    pub devices: u64,
}

/// One sealed audit entry ([`crate::audit::seal`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SealedAudit(#[serde(with = "b64")] pub Vec<u8>);
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuditAppend {
    pub entries: Vec<SealedAudit>,
}
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuditAppended {
    /// The sequence number of the last entry appended.
    pub seq: u64,
}
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuditQuery {
    /// Rows with a sequence number above this (0 = from the start).
    #[serde(default)]
    pub after: u64,
    pub limit: Option<u32>,
}
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuditPage {
    pub rows: Vec<crate::audit::AuditRow>,
    pub more: bool,
}
/// The most audit rows one page carries.
pub const MAX_AUDIT_PAGE: u32 = 1000;

/// A risky action that needs an admin's signed approval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalKind {
    /// Export everything the requester may read.
    ExportAll,
    /// Delete more records at once than the team's threshold.
    BulkDelete,
    /// Make `subject` an admin (by a role change or by admitting them as one).
    GrantAdmin,
}
impl<'de> Deserialize<'de> for ApprovalKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        named(
            d,
            &[
                ("export_all", ApprovalKind::ExportAll),
                ("bulk_delete", ApprovalKind::BulkDelete),
                ("grant_admin", ApprovalKind::GrantAdmin),
            ],
        )
    }
}

impl ApprovalKind {
    /// What is asked for, as a phrase ("export everything", "delete 40 records",
    /// "make bob an admin").
    pub fn describe(self, count: u64, subject: Option<&Username>) -> String {
        match self {
            ApprovalKind::ExportAll => "export everything".into(),
            ApprovalKind::BulkDelete => format!("delete {count} records"),
            ApprovalKind::GrantAdmin => format!("make {} an admin", subject.map_or("someone", |s| s.as_str())),
        }
    }
}
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NewApproval {
    pub kind: ApprovalKind,
    /// How many records (0 when not about records).
    pub count: u64,
    /// Whom it is about (`grant_admin`: the member to become an admin).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Username>,
}
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    pub id: RecordId,
    pub requester: Username,
    pub kind: ApprovalKind,
    pub count: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Username>,
    pub created_ms: i64,
    pub expires_ms: i64,
    /// `pending`, `approved`, `refused`, `used` (a single-use approval, once used) or
    /// `expired`.
    pub state: String,
    pub approver: Option<Username>,
    /// The approver's Ed25519 signature over [`approval_statement`].
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = Byte))]
    #[serde(default, with = "b64_opt64", skip_serializing_if = "Option::is_none")]
    pub signature: Option<[u8; 64]>,
}
impl Approval {
    /// What it asks for, as a phrase.
    pub fn describe(&self) -> String {
        self.kind.describe(self.count, self.subject.as_ref())
    }
}
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Approvals {
    pub approvals: Vec<Approval>,
}
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DecideApproval {
    pub approve: bool,
    /// Required to approve.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = Byte))]
    #[serde(default, with = "b64_opt64", skip_serializing_if = "Option::is_none")]
    pub signature: Option<[u8; 64]>,
}
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExportQuery {
    pub approval: RecordId,
    #[serde(default)]
    pub since: Cursor,
    pub limit: Option<u32>,
}

/// Something the server noticed that admins should look at. The server sees no
/// content, so alerts are about volumes and patterns (who pulled how much, when).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    pub at_ms: i64,
    /// `bulk_download`.
    pub kind: String,
    pub username: Username,
    pub detail: String,
    /// Whether the server ended the session that triggered it.
    pub suspended: bool,
    /// The alert as one line for a list: UTC time, then the detail.
    #[serde(default)]
    pub line: String,
}
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AlertsResponse {
    pub alerts: Vec<Alert>,
}

/// Admin: open an invitation (its secret stays in the link's fragment).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CreateInviteRequest {
    pub invite: InviteId,
    pub role: crate::chain::Role,
}
/// A joiner's answer, as the admin's client receives it to verify.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InviteAcceptance {
    pub username: Username,
    pub identity: PublicIdentity,
    /// HMAC of the joiner's keys under the link's secret (see `crate::invite`).
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Byte))]
    #[serde(with = "b64_32")]
    pub mac: [u8; 32],
    /// The joiner's signed consent, which the admin's chain entry carries; `None` for
    /// answers stored before acceptances existed (such an answer admits nobody).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acceptance: Option<crate::chain::Acceptance>,
}
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InviteInfo {
    pub invite: InviteId,
    pub role: crate::chain::Role,
    pub created_by: Username,
    pub expires_at: i64,
    pub accepted: Option<InviteAcceptance>,
}
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InviteList {
    pub invites: Vec<InviteInfo>,
}
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AcceptInviteRequest {
    pub team: TeamId,
    pub identity: PublicIdentity,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Byte))]
    #[serde(with = "b64_32")]
    pub mac: [u8; 32],
    /// The joiner's consent to join with these keys and the link's role
    /// ([`crate::chain::Acceptance`]).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub acceptance: crate::chain::Acceptance,
}

/// Admin: delete every key wrap of an epoch below `before_epoch`. Refused (409) while
/// any record is still sealed under such an epoch.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShredWrapsRequest {
    pub before_epoch: u32,
}
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShredWrapsResponse {
    pub deleted: u64,
}
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WrapsResponse {
    pub wraps: Vec<WrapItem>,
}

/// The team's change sequence position: "everything up to here".
pub type Cursor = u64;

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushItem {
    pub record: RecordId,
    /// The version this edit was made on; 0 for a new record.
    pub base_version: u64,
    pub sealed: SealedRecord,
    /// This version deletes the record. Said in the clear so the server can hold bulk
    /// deletions to an approval; the record's content stays sealed. It must match the
    /// deletion flag signed in the basic section's header (envelope v3), which is what
    /// the server counts: a push where they differ is refused.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tombstone: bool,
}
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PushRequest {
    pub items: Vec<PushItem>,
    /// An approved `bulk_delete` request of the pusher's, for pushes that delete more
    /// records than the server lets anyone delete unapproved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<RecordId>,
}
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushAccepted {
    pub record: RecordId,
    pub version: u64,
    pub seq: u64,
}
/// 200: every item committed, atomically.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PushResponse {
    pub accepted: Vec<PushAccepted>,
    /// The team's position after this push. A cursor is its database's generation
    /// plus a sequence number, the numbering of `accepted[].seq`: a client whose
    /// cursor is just before a gapless block of its own writes ending at this one
    /// saw everything up to it (see [`crate::sync`]'s push).
    pub cursor: Cursor,
}

impl PushResponse {
    /// The cursor to move to without pulling this push back: `Some` when the accepted
    /// writes are the only ones since `cursor` (their sequence numbers follow it without
    /// a gap and end at the response's cursor, in the same generation). A server that
    /// lies here can only make a client skip changes, which withholding them does too.
    pub fn cursor_after(&self, cursor: Cursor) -> Option<Cursor> {
        let mut seqs: Vec<u64> = self.accepted.iter().map(|a| a.seq).collect();
        seqs.sort_unstable();
        let (&first, &last) = (seqs.first()?, seqs.last()?);
        let gapless = seqs.windows(2).all(|w| w[1] == w[0] + 1);
        let generation = self.cursor.checked_sub(last)?;
        (gapless && first > 0 && cursor.checked_sub(first - 1) == Some(generation)).then_some(self.cursor)
    }
}
/// 409: nothing committed; these records moved on since the client's base version.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PushConflict {
    pub code: String,
    pub message: String,
    pub conflicts: Vec<Change>,
}

/// A record's current state as stored by the server.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub seq: u64,
    pub record: RecordId,
    pub version: u64,
    pub sealed: SealedRecord,
}
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PullQuery {
    pub since: Cursor,
    pub limit: Option<u32>,
    /// Ask for [`PullResponse::remaining`] (a first sync asks once, for its progress bar).
    #[serde(default)]
    pub count: bool,
}
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PullResponse {
    pub changes: Vec<Change>,
    /// Pass as `since` next time.
    pub cursor: Cursor,
    pub more: bool,
    /// The client's `since` was ahead of anything this server ever assigned (it was
    /// restored from a backup): these changes start again from the beginning, and the
    /// client should upload what it holds that the server lacks.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reset: bool,
    /// With a `reset`: the admin's signed notice of the restore, for this generation of
    /// the server if one was posted. A client starts over only on a notice it checks
    /// ([`crate::restore`]), never on `reset` alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore: Option<crate::restore::RestoreNotice>,
    /// When asked (`count`): how many changes this page and the ones after it hold.
    /// Only ever a progress estimate: nothing is decided by it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remaining: Option<u64>,
}

/// Whether the team's server was restored from a backup, and the admin's notice of it
/// (`GET` [`path::RESTORE`]).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoreStatus {
    /// The generation the server runs as ([`crate::restore::generation_of`] its
    /// cursors): 0 until it is first restored from a backup.
    pub generation: u64,
    /// The newest notice an admin posted for that generation, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notice: Option<crate::restore::RestoreNotice>,
}

/// An admin confirms the restore (`POST` [`path::RESTORE`]).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConfirmRestoreRequest {
    pub notice: crate::restore::RestoreNotice,
}

/// How long replaced record versions are kept unless an admin sets otherwise.
pub const DEFAULT_RETENTION_DAYS: u32 = 30;
/// The longest retention an admin may set (ten years).
pub const MAX_RETENTION_DAYS: u32 = 3650;

/// One earlier version of a record that the server keeps (the server's word on what
/// exists; what it holds is checked when it is opened, like any pulled version).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeptVersionInfo {
    pub version: u64,
    /// Who pushed it (its basic section's signer, as the server checked it).
    pub author: Username,
    /// When it was pushed, and when a later version replaced it (Unix ms).
    pub written_ms: i64,
    pub replaced_ms: i64,
    /// Its sealed size in bytes.
    pub size: u64,
}
/// A record's kept versions, newest first.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeptVersions {
    pub record: RecordId,
    pub versions: Vec<KeptVersionInfo>,
    /// The team's retention: versions replaced longer ago are gone.
    pub retention_days: u32,
}
/// One kept version, sealed as it was pushed.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeptVersion {
    pub record: RecordId,
    pub version: u64,
    pub sealed: SealedRecord,
    pub written_ms: i64,
    pub replaced_ms: i64,
}
/// The team's retention of replaced versions, in days (0 keeps none; at most
/// [`MAX_RETENTION_DAYS`]).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retention {
    pub days: u32,
}

/// Websocket messages. The client's first message authenticates (tokens never go in URLs).
#[derive(Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientEvent {
    Auth { token: String },
}
/// Externally tagged (`{"poke":{"cursor":7}}`, `"alert"`): an internally tagged enum
/// would make every client buffer each message through serde's generic `Content`
/// before reading it, which costs the browser bundle for nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServerEvent {
    Ready {
        cursor: Cursor,
    },
    /// New changes exist up to `cursor`: pull.
    Poke {
        cursor: Cursor,
    },
    /// The chain grew, or key wraps were shared: re-read both.
    Chain {
        len: u64,
    },
    /// A security alert was raised (admins fetch the list).
    Alert,
    /// An approval was asked for or decided (re-read the list).
    Approval,
}

/// The bytes an admin signs to approve `a` (and the server and the requester verify):
/// which request, of what kind and size, about whom, by whom, until when.
pub fn approval_statement(team: &TeamId, a: &Approval) -> Vec<u8> {
    let kind = match a.kind {
        ApprovalKind::ExportAll => 1,
        ApprovalKind::BulkDelete => 2,
        ApprovalKind::GrantAdmin => 3,
    };
    let mut w = Writer::with_capacity(96);
    w.fixed(label::APPROVAL)
        .fixed(team.as_bytes())
        .fixed(a.id.as_bytes())
        .u8(kind)
        .u64(a.count)
        .short_str(a.requester.as_str())
        .u64(a.expires_ms as u64)
        .short_str(a.subject.as_ref().map_or("", |s| s.as_str()));
    w.finish()
}

// The JSON encodings of bytes and names live with the other encodings (`encoding`),
// below the formats that use them; the wire re-exports them for its own types.
pub(crate) use crate::encoding::named;
pub use crate::encoding::{b64, b64_16, b64_32, b64_64, b64_opt64};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::Role;

    #[test]
    fn unit_enums_are_plain_names_both_ways() {
        fn round<T: Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug>(v: T, name: &str) {
            assert_eq!(serde_json::to_string(&v).unwrap(), format!("\"{name}\""));
            assert_eq!(serde_json::from_str::<T>(&format!("\"{name}\"")).unwrap(), v);
        }
        round(Role::Admin, "admin");
        round(Role::Support, "support");
        round(Scope::Sensitive, "sensitive");
        round(ApprovalKind::GrantAdmin, "grant_admin");
        assert!(serde_json::from_str::<Role>("\"owner\"").is_err());
        assert!(serde_json::from_str::<Scope>("{\"basic\":null}").is_err());
        assert!(serde_json::from_str::<ApprovalKind>("3").is_err());
    }
}
