// Long: an account's whole life on a device (sign-up, log-in, unlock, passphrase change, recovery, wipe), whose steps share their checks.
//! Accounts in the browser: create, log in on a new device, unlock offline, lock,
//! log out. Keys exist only in memory while unlocked. The device keeps the sealed
//! account bundle, the salt and KDF parameters, the session token sealed under the
//! vault key, and the team's public chain and sealed key wraps — so it can unlock and
//! show data with the network off.

use serde::{Deserialize, Serialize};
use shared::api::{
    path, AcceptInviteRequest, ChainResponse, ChangePassphraseRequest, CreateInviteRequest, CreateTeamRequest,
    InviteInfo, InviteList, LoginRequest, PreloginRequest, PutWrapsRequest, SealedPins, SignupRequest, TeamList,
    TeamSummary, WrapItem, WrapsResponse,
};
use shared::audit::Checkpoint;
use shared::chain::{Acceptance, Action, ChainEntry, KnownHead, Member, Role, TeamState};
use shared::crypto::aead::{open_blob, seal_blob};
use shared::crypto::identity::{AccountBundle, IdentityKeys, PublicIdentity};
use shared::crypto::passphrase::{check_offered, KdfParams, Passphrase, SaltBinding, WrapKey};
use shared::crypto::CryptoError;
use shared::ids::{CollectionId, InviteId, RecordId, TeamId, Username};
use shared::invite::{decode_fragment, encode_fragment, InviteLink, InviteSecret};
use shared::pins::AccountPins;
use shared::sync::{Session, TransportError};
use shared::team::{collections_to_key, loses_access, open_wraps, Distributor};
use shared::wipe::{device_id, WipeOrder};

use crate::api::Api;
use crate::error::AppError;
use crate::i18n::{role_label, t, tf};
use crate::store::{self, IdbStore};
use crate::workers::derive_account_keys;

const ACCOUNT_KEY: &str = "account";
const TOKEN_KEY: &str = "token";
pub(crate) const CHAIN_KEY: &str = "chain";
const HEAD_KEY: &str = "known_head";
const WRAPS_KEY: &str = "wraps";
/// The account's pins, as this device last had them (the sealed blob and its version).
const PINS_KEY: &str = "pins";
const LAST_USER: &str = "quietdesk:last-user";
const INVITE_CONTEXT: &[u8] = b"invite-secret";

fn invite_key(invite: InviteId) -> String {
    format!("invite:{invite}")
}

/// What an admin's device can say about an open invitation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InviteCheck {
    /// Nobody has answered it yet.
    Waiting,
    /// Answered, and the joiner's keys verify against the secret: safe to add.
    Verified,
    /// Answered, but the keys do not verify: swapped in transit; never added.
    Refused,
    /// The server lists another role than the one this device invited for; never added.
    RoleChanged,
    /// Made on another device (which holds the secret).
    OtherDevice,
}

/// What the device remembers about an account (no secrets in the clear).
#[derive(Clone, Serialize, Deserialize)]
pub struct LocalAccount {
    pub username: Username,
    #[serde(with = "shared::api::b64_16")]
    pub salt: [u8; 16],
    pub kdf: KdfParams,
    pub identity: PublicIdentity,
    pub bundle: AccountBundle,
    pub team: Option<TeamId>,
    /// When this device logged in (or created the account), Unix ms: a wipe order
    /// signed before it is an old one replayed, and is not obeyed. 0 for a device that
    /// logged in with an earlier version.
    #[serde(default)]
    pub logged_in_ms: i64,
    // (`trust_listing_once`, which earlier versions stored here, is ignored when read:
    // a team is never taken from the server's listing.)
}

/// An unlocked account: keys in memory, the device store open.
pub struct Unlocked {
    pub account: LocalAccount,
    pub identity: IdentityKeys,
    pub api: Api,
    pub store: IdbStore,
    /// The passphrase-derived key that opens the account bundle on this device, kept
    /// while unlocked so another open tab of the same account can be unlocked with it.
    pub(crate) wrap: WrapKey,
}

fn now_ms() -> i64 {
    js_sys::Date::now() as i64
}

/// What to tell the user of a failed request made with a session (see [`AppError`]).
fn describe(e: TransportError) -> String {
    AppError::from(e).to_string()
}

/// What to tell the user of a failed log-in, or of a check of the passphrase.
fn describe_login(e: TransportError) -> String {
    AppError::at_login(&e).to_string()
}

fn local_storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok()?
}

/// The account last used on this device, if any (its name only).
pub fn last_user() -> Option<String> {
    local_storage()?.get_item(LAST_USER).ok()?
}

/// Set (to the account's database name) when the server said this device was signed
/// out remotely; the next start erases that database before opening anything.
const WIPE_FLAG: &str = "quietdesk-wipe";

/// The server revoked this device: note what to erase and restart the app, so the
/// erasing happens with no database connection open (one would block the deletion).
pub fn wipe_and_restart() {
    // Several requests may be refused at once: only the first restarts the app.
    let (Some(s), Some(user)) = (local_storage(), last_user()) else { return };
    let _ = s.set_item(WIPE_FLAG, &store::db_name(&user));
    let _ = s.remove_item(LAST_USER);
    if let Some(w) = web_sys::window() {
        let _ = w.location().reload();
    }
}

/// At start: erase what a remote sign-out asked for. True if something was erased.
pub async fn finish_wipe() -> bool {
    let Some(s) = local_storage() else { return false };
    let Some(name) = s.get_item(WIPE_FLAG).ok().flatten() else { return false };
    if store::delete(&name).await.is_ok() {
        let _ = s.remove_item(WIPE_FLAG);
    }
    true
}

fn remember_user(name: &str) {
    if let Some(s) = local_storage() {
        let _ = s.set_item(LAST_USER, name);
    }
}

async fn save_account(store: &IdbStore, account: &LocalAccount) -> Result<(), String> {
    let json = serde_json::to_vec(account).map_err(|e| e.to_string())?;
    store.set_meta(ACCOUNT_KEY, &json).await.map_err(|e| e.to_string())
}

async fn save_token(store: &IdbStore, identity: &IdentityKeys, token: &str) -> Result<(), String> {
    let sealed = seal_blob(identity.vault_key(), TOKEN_KEY.as_bytes(), token.as_bytes());
    store.set_meta(TOKEN_KEY, &sealed).await.map_err(|e| e.to_string())
}

fn parse_username(name: &str) -> Result<Username, String> {
    Username::parse(name.trim()).map_err(|e| e.to_string())
}

/// Create an account: keys are generated here; the server gets public keys, the sealed
/// bundle and a hash of the auth key.
pub async fn create_account(name: &str, passphrase: &str) -> Result<Unlocked, String> {
    let username = parse_username(name)?;
    if passphrase.chars().count() < 10 {
        return Err(t("error.short_passphrase").into());
    }
    let mut salt = [0u8; 16];
    getrandom_fill(&mut salt);
    let kdf = KdfParams::DEFAULT;
    let (auth, wrap) =
        derive_account_keys(&Passphrase::new(passphrase), &username, &salt, kdf).await.map_err(|e| e.to_string())?;
    let identity = IdentityKeys::generate();
    let bundle = identity.seal_bundle(&wrap, username.as_str());
    let api = Api::default();
    let resp = api
        .call(&SignupRequest {
            username: username.clone(),
            salt,
            kdf,
            auth_key: *auth.expose_secret(),
            identity: identity.public(),
            bundle: bundle.clone(),
        })
        .await
        .map_err(describe)?;
    api.set_token(Some(resp.token.clone()));
    let account = LocalAccount {
        username: username.clone(),
        salt,
        kdf,
        identity: identity.public(),
        bundle,
        team: None,
        logged_in_ms: now_ms(),
    };
    let store = store::open(&store::db_name(username.as_str())).await.map_err(|e| e.to_string())?;
    save_account(&store, &account).await?;
    save_token(&store, &identity, &resp.token).await?;
    remember_user(username.as_str());
    let unlocked = Unlocked { account, identity, api, store, wrap };
    unlocked.store_pins(AccountPins::new(salt, kdf)).await?;
    Ok(unlocked)
}

fn getrandom_fill(buf: &mut [u8]) {
    use rand_core::RngCore;
    rand_core::OsRng.fill_bytes(buf);
}

/// Log in with the server (a new device, or after log-out).
pub async fn log_in(name: &str, passphrase: &str, totp: Option<String>) -> Result<Unlocked, String> {
    let username = parse_username(name)?;
    let api = Api::default();
    let pre = api.call(&PreloginRequest { username: username.clone() }).await.map_err(describe)?;
    let store = store::open(&store::db_name(username.as_str())).await.map_err(|e| e.to_string())?;
    let previous: Option<LocalAccount> = load_account(&store).await;
    // The server's word on how to derive keys from the passphrase is checked before
    // anything derived from it is sent: a floor, the salt bound to the username, or
    // (an account from before the binding) the salt this device pinned.
    check_offered((&pre.salt, pre.kdf), KdfParams::DEFAULT, previous.as_ref().map(|p| (&p.salt, p.kdf)))
        .map_err(|e| e.to_string())?;
    let (auth, wrap) = derive_account_keys(&Passphrase::new(passphrase), &username, &pre.salt, pre.kdf)
        .await
        .map_err(|e| e.to_string())?;
    let resp = api
        .call(&LoginRequest { username: username.clone(), auth_key: *auth.expose_secret(), totp })
        .await
        .map_err(describe_login)?;
    let (identity, said) = IdentityKeys::open_bundle_with_flags(&resp.bundle, &wrap, username.as_str())
        .map_err(|_| t("error.bundle_does_not_open").to_string())?;
    api.set_token(Some(resp.token.clone()));
    let account = LocalAccount {
        username: username.clone(),
        salt: pre.salt,
        kdf: pre.kdf,
        // From the opened bundle, not from what the server says our public keys are.
        identity: identity.public(),
        bundle: resp.bundle,
        team: previous.and_then(|p| p.team),
        logged_in_ms: now_ms(),
    };
    let mut unlocked = Unlocked { account, identity, api, store, wrap };
    // The account's pins: what this device starts from, never the server's listing.
    match unlocked.fetch_pins().await? {
        // Other settings than the pinned ones: a change made elsewhere (a passphrase
        // change, a reset with the recovery key) is bound to the username and no
        // cheaper — pin it; anything else may be a server weakening the protection.
        Some(pins)
            if (pins.salt, pins.kdf) != (pre.salt, pre.kdf)
                && (pre.kdf.binding != SaltBinding::Username || !pre.kdf.at_least(pins.kdf)) =>
        {
            return Err("The server gave this device other passphrase settings than your account pinned: it may be \
                 trying to weaken your passphrase's protection. Change your passphrase from a device you trust."
                .into());
        }
        Some(mut pins) => {
            if unlocked.account.team.is_none() {
                unlocked.account.team = pins.teams.first().map(|t| t.team);
            }
            if (pins.salt, pins.kdf) != (pre.salt, pre.kdf) {
                (pins.salt, pins.kdf, pins.version) = (pre.salt, pre.kdf, pins.version + 1);
                unlocked.store_pins(pins).await?;
            }
        }
        // The account's own sealed bundle says it keeps pins: "none" is the server
        // withholding them (a device given no pins would have no team to check a
        // listing against). Nothing is opened.
        None if said.keeps_pins => return Err(t("error.pins_withheld").into()),
        None => {
            // An account from before pins (its bundle predates the flag): pin what this
            // log-in used. Its team comes from another device's pins or an invitation
            // link, never from the server's listing.
            unlocked.store_pins(AccountPins::new(pre.salt, pre.kdf)).await?;
        }
    }
    save_account(&unlocked.store, &unlocked.account).await?;
    save_token(&unlocked.store, &unlocked.identity, &resp.token).await?;
    if pre.kdf.binding == SaltBinding::Random || !said.keeps_pins {
        // Only a device that pinned this salt gets here with a random one: upgrade the
        // account to a salt bound to the username (same passphrase), so new devices can
        // log in. A bundle from before its flags is sealed again, saying it keeps pins.
        match unlocked.change_passphrase(passphrase, passphrase).await {
            Ok(account) => unlocked.account = account,
            Err(e) => web_sys::console::warn_1(&format!("quietdesk: passphrase protection not upgraded: {e}").into()),
        }
    }
    remember_user(username.as_str());
    Ok(unlocked)
}

async fn load_account(store: &IdbStore) -> Option<LocalAccount> {
    let raw = store.meta(ACCOUNT_KEY).await.ok()??;
    serde_json::from_slice(&raw).ok()
}

/// Unlock with the passphrase alone, from what this device stored. Works offline.
pub async fn unlock(name: &str, passphrase: &str) -> Result<Unlocked, String> {
    let username = parse_username(name)?;
    let store = store::open(&store::db_name(username.as_str())).await.map_err(|e| e.to_string())?;
    let account = load_account(&store).await.ok_or(t("error.no_local_account"))?;
    // Read while Argon2 runs, not after it.
    store.prefetch_cache().await;
    let (_, wrap) = derive_account_keys(&Passphrase::new(passphrase), &username, &account.salt, account.kdf)
        .await
        .map_err(|e| e.to_string())?;
    open_with_wrap(username, store, account, wrap).await
}

/// Unlock with the key another open tab of this account unlocked with (no passphrase,
/// no Argon2). Fails, and the user types the passphrase, if it does not open the bundle.
pub async fn unlock_with_wrap(name: &str, wrap: [u8; 32]) -> Result<Unlocked, String> {
    let username = parse_username(name)?;
    let store = store::open(&store::db_name(username.as_str())).await.map_err(|e| e.to_string())?;
    let account = load_account(&store).await.ok_or(t("error.no_local_account"))?;
    open_with_wrap(username, store, account, WrapKey::from_bytes(wrap)).await
}

async fn open_with_wrap(
    username: Username,
    store: IdbStore,
    account: LocalAccount,
    wrap: WrapKey,
) -> Result<Unlocked, String> {
    let identity = IdentityKeys::open_bundle(&account.bundle, &wrap, username.as_str()).map_err(|e| match e {
        CryptoError::DecryptionFailed => t("error.wrong_passphrase").to_string(),
        e => e.to_string(),
    })?;
    let api = Api::default();
    if let Ok(Some(sealed)) = store.meta(TOKEN_KEY).await {
        if let Ok(token) = open_blob(identity.vault_key(), TOKEN_KEY.as_bytes(), &sealed) {
            api.set_token(String::from_utf8(token).ok());
        }
    }
    remember_user(username.as_str());
    Ok(Unlocked { account, identity, api, store, wrap })
}

/// Reset a forgotten passphrase with the recovery key, on any device: the server hands
/// out the bundle sealed under the key (only to whoever proves the key), this device
/// opens it, seals it again under the new passphrase and sends that with the proof.
/// Then log in as usual.
pub async fn recover(name: &str, recovery_key: &str, new_passphrase: &str) -> Result<(), String> {
    use shared::api::{RecoverRequest, RecoveryBundleRequest};
    use shared::crypto::recovery::RecoveryKey;
    let username = parse_username(name)?;
    let key = RecoveryKey::parse(recovery_key).ok_or(t("recovery.bad_key"))?;
    if new_passphrase.chars().count() < 10 {
        return Err(t("error.short_passphrase").into());
    }
    let (auth, wrap) = key.keys(&username);
    let api = Api::default();
    let ask = RecoveryBundleRequest { username: username.clone(), recovery_auth_key: *auth.expose_secret() };
    let sealed = api.call(&ask).await.map_err(|e| match e {
        TransportError::Http { status: 401, .. } => t("recovery.wrong").to_owned(),
        e => describe(e),
    })?;
    let identity = IdentityKeys::open_bundle(&sealed.bundle, &wrap, username.as_str())
        .map_err(|_| t("recovery.wrong").to_owned())?;
    let mut salt = [0u8; 16];
    getrandom_fill(&mut salt);
    let kdf = KdfParams::DEFAULT;
    let (new_auth, new_wrap) = derive_account_keys(&Passphrase::new(new_passphrase), &username, &salt, kdf)
        .await
        .map_err(|e| e.to_string())?;
    let req = RecoverRequest {
        username: username.clone(),
        recovery_auth_key: *auth.expose_secret(),
        salt,
        kdf,
        auth_key: *new_auth.expose_secret(),
        bundle: identity.seal_bundle(&new_wrap, username.as_str()),
    };
    // A device that knew the old salt accepts the new one at the log-in that follows
    // (bound to the username and no cheaper, see `check_offered`).
    api.call(&req).await.map(drop).map_err(describe_login)
}

/// Whether the server now counts this session's account a member of `team` (an admin's
/// device added it). Only a hint for when to open the workspace, which verifies the chain.
pub async fn admitted(api: &Api, team: TeamId) -> bool {
    api.get::<ChainResponse>(&path::fill(path::CHAIN, &team.to_string())).await.is_ok()
}

/// What the device did about a `device_wiped`.
pub enum WipeOutcome {
    /// The order checked out: the local copy is being erased (the app restarts).
    Erasing,
    /// No valid order: signed out, nothing erased. The message says why.
    Kept(String),
}

impl Unlocked {
    /// The one place that acts on `401 device_wiped` (the transport only reports it).
    /// The local copy is erased only on an order signed by this user (from another of
    /// their devices) or by an admin of the team's verified chain, for this device and
    /// issued after it logged in. Otherwise the device is signed out and keeps
    /// everything, unsent edits included: a server's word destroys nothing.
    pub async fn on_device_wiped(&self, order: Option<&WipeOrder>) -> WipeOutcome {
        let token = self.api.token().unwrap_or_default();
        let chain = match order.and_then(|o| o.team) {
            Some(team) => self.verified_cached_chain(team).await,
            None => None,
        };
        let me = &self.account.username;
        let checked = WipeOrder::check(
            order,
            me,
            &device_id(&token),
            self.account.logged_in_ms,
            now_ms(),
            &self.identity.public(),
            chain.as_ref(),
        );
        self.api.set_token(None);
        match checked {
            Ok(()) => {
                wipe_and_restart();
                WipeOutcome::Erasing
            }
            Err(why) => WipeOutcome::Kept(format!(
                "The server says this device was signed out, but {why}: nothing was erased, and edits not yet sent \
                 are kept. Lock and log in again to carry on."
            )),
        }
    }

    /// The team chain this device holds, verified against its pin, if it is `team`'s.
    async fn verified_cached_chain(&self, team: TeamId) -> Option<TeamState> {
        let entries: Vec<ChainEntry> = self.cached(CHAIN_KEY).await?;
        let known: Option<KnownHead> = self.cached(HEAD_KEY).await;
        TeamState::verify_team(&entries, team, known.as_ref()).ok()
    }

    /// End the server session and wipe this device's copy.
    /// End the server session, then delete this device's database (the deletion
    /// completes once the workspace's connections are dropped).
    pub async fn log_out(&self) {
        let _: Result<shared::api::Empty, _> = self.api.post(path::LOGOUT, &shared::api::Empty {}).await;
        self.api.set_token(None);
        let name = store::db_name(self.account.username.as_str());
        let _ = store::delete(&name).await;
        if let Some(s) = local_storage() {
            let _ = s.remove_item(LAST_USER);
        }
    }

    /// The team to work in: the one remembered, else one of the account's pinned teams
    /// (pinned by another device, or by answering an invitation) once the server lists
    /// this user in it, else (when `create`) a new one where this user is the admin.
    /// `None` otherwise (in no team yet). A team the server lists but the account never
    /// pinned is not taken (except once, for an account from before pins).
    pub async fn ensure_team(&mut self, create: bool) -> Result<Option<TeamId>, String> {
        if let Some(t) = self.account.team {
            return Ok(Some(t));
        }
        let pinned: Vec<TeamId> =
            self.local_pins().await.map(|p| p.teams.iter().map(|t| t.team).collect()).unwrap_or_default();
        let list: TeamList = self.api.get(path::TEAMS).await.map_err(describe)?;
        let listed = |t: &TeamId| list.teams.iter().any(|l| l.team == *t);
        let team = match pinned.iter().find(|t| listed(t)) {
            Some(t) => *t,
            None if create => self.create_team().await?,
            None => return Ok(None),
        };
        self.account.team = Some(team);
        save_account(&self.store, &self.account).await?;
        Ok(Some(team))
    }

    async fn create_team(&self) -> Result<TeamId, String> {
        let collection = CollectionId::random();
        // Self-certifying: the id is derived from the genesis's admin and collection.
        let team = shared::chain::team_id_for(&self.identity.public(), &collection);
        let me = self.account.username.clone();
        let genesis = ChainEntry::signed(
            team,
            0,
            [0; 32],
            &me,
            &self.identity,
            now_ms(),
            Action::Found {
                admin: Member { username: me.clone(), identity: self.identity.public(), role: Role::Admin },
                shared_collection: collection,
            },
        );
        let state = TeamState::verify(std::slice::from_ref(&genesis), None).map_err(|e| e.to_string())?;
        let _: TeamSummary = self.api.call(&CreateTeamRequest { genesis }).await.map_err(describe)?;
        self.pin_team(&state).await;
        let first = collections_to_key(&state, &shared::crypto::envelope::Keyring::new());
        self.put_wraps(team, self.distributor().rotate(&state, &first)).await?;
        Ok(team)
    }

    fn distributor(&self) -> Distributor<'_> {
        Distributor { name: &self.account.username, identity: &self.identity }
    }

    /// Verified chain and keys for `team`: fresh from the server when online (cached
    /// for offline use), else from the device. A chain shorter than, or diverging from,
    /// the longest one this device has verified is refused.
    pub async fn session(&self, team: TeamId) -> Result<Session, String> {
        let session = self.verified_session(team).await?;
        if session.keyring.is_empty() {
            return Err(t("error.no_team_keys").into());
        }
        Ok(session)
    }

    /// [`Unlocked::session`] without requiring a key: the verified chain is taken even
    /// when the keys of its epoch are withheld (the engine then seals nothing and
    /// says why), so a device never goes on with an older chain than it verified.
    pub async fn verified_session(&self, team: TeamId) -> Result<Session, String> {
        self.verified_session_read(team).await.map(|(session, _)| session)
    }

    /// [`Unlocked::verified_session`], and whether its chain was read from the server
    /// now (not this device's copy, offline): only a chain read again answers a doubt
    /// about a writer's head (the engine isolates a writer whose head it does not).
    pub async fn verified_session_read(&self, team: TeamId) -> Result<(Session, bool), String> {
        let known: Option<KnownHead> =
            self.store.meta(HEAD_KEY).await.ok().flatten().and_then(|b| serde_json::from_slice(&b).ok());
        let online = async {
            let chain: ChainResponse = self.api.get(&path::fill(path::CHAIN, &team.to_string())).await?;
            let wraps: WrapsResponse = self.api.get(&path::fill(path::WRAPS, &team.to_string())).await?;
            Ok::<_, TransportError>((chain.entries, wraps.wraps))
        };
        let (entries, wraps, fresh) = match online.await {
            Ok((entries, wraps)) => (entries, wraps, true),
            Err(TransportError::Offline) => {
                let entries: Vec<ChainEntry> = self.cached(CHAIN_KEY).await.ok_or(t("error.offline_no_team"))?;
                let wraps: Vec<WrapItem> = self.cached(WRAPS_KEY).await.unwrap_or_default();
                (entries, wraps, false)
            }
            Err(TransportError::DeviceWiped(order)) => {
                return Err(match self.on_device_wiped(order.as_deref()).await {
                    WipeOutcome::Erasing => t("error.signed_out_remotely").into(),
                    WipeOutcome::Kept(why) => why,
                });
            }
            Err(e) => return Err(describe(e)),
        };
        let pins = self.local_pins().await;
        let pin = pins.as_ref().and_then(|p| p.team(team));
        // An unpinned team whose id is not derived from its genesis (one made before
        // ids were) is taken on trust once, if this device already worked in it or
        // the account had no pins yet; then it is pinned.
        // Never because the account's pins are empty or missing: that is the server's
        // word (it can withhold them), and a team it made would be opened.
        let allow_unpinned = pin.is_none() && known.is_some();
        let state = shared::pins::verify_pinned(&entries, team, pin, known.as_ref(), allow_unpinned)
            .map_err(|e| format!("The team's membership chain was refused: {e}"))?;
        // Kept for offline use (and shown on the audit page) only once verified.
        if fresh {
            let _ = self.store.set_meta(CHAIN_KEY, &serde_json::to_vec(&entries).unwrap_or_default()).await;
            let _ = self.store.set_meta(WRAPS_KEY, &serde_json::to_vec(&wraps).unwrap_or_default()).await;
        }
        let _ = self.store.set_meta(HEAD_KEY, &serde_json::to_vec(&state.known_head()).unwrap_or_default()).await;
        self.pin_team(&state).await;
        let keyring = open_wraps(&self.account.username, &self.identity, &state, &wraps);
        let session = Session {
            me: self.account.username.clone(),
            identity: self.identity.duplicate(),
            keyring,
            team: state,
            now_ms: || js_sys::Date::now() as u64,
        };
        Ok((session, fresh))
    }

    pub(crate) async fn cached<T: serde::de::DeserializeOwned>(&self, key: &str) -> Option<T> {
        serde_json::from_slice(&self.store.meta(key).await.ok()??).ok()
    }

    /// Admin: offboard `who` — remove them from the chain (which starts a new epoch; the
    /// server ends their sessions at once) and wrap fresh keys to the remaining members.
    pub async fn remove_member(&self, session: &Session, who: &Username) -> Result<(), String> {
        let state = self.append(&session.team, Action::RemoveMember { username: who.clone() }).await?;
        self.put_rotation(session, &state).await
    }

    /// Admin: change a member's role. A role that gains keys gets them; one that loses
    /// any (member → support loses `sensitive`, manager → member the other portfolios)
    /// also starts a new epoch, so what is written from now on is sealed under keys
    /// the member no longer gets.
    /// Making someone an admin names an approved `grant_admin` request (`approval`).
    pub async fn change_role(
        &self,
        session: &Session,
        who: &Username,
        role: Role,
        approval: Option<RecordId>,
    ) -> Result<(), String> {
        let old = session.team.members.get(who).ok_or("Not a member of this team.")?.clone();
        let state =
            self.append_approved(&session.team, Action::ChangeRole { username: who.clone(), role }, approval).await?;
        let member = Member { role, ..old };
        // What the new role may read of what exists (support → member: the sensitive
        // keys of the shared collection, and a portfolio of their own).
        let mut wraps = self.distributor().wraps_for_member(&state, &session.keyring, &member);
        if loses_access(old.role, role) {
            let next = self.append(&state, Action::Rotate { epoch: state.epoch + 1 }).await?;
            wraps.extend(self.distributor().rotate(&next, &collections_to_key(&next, &session.keyring)));
        }
        self.put_wraps(state.team, wraps).await
    }

    /// Admin: retire every epoch below `below` (see [`Action::Retire`]). `Ok(false)`
    /// when there is nothing to retire.
    pub async fn retire_epochs(&self, session: &Session, below: u32) -> Result<bool, String> {
        if session.team.retired_below >= below || below > session.team.epoch {
            return Ok(false);
        }
        self.append(&session.team, Action::Retire { below }).await.map(|_| true)
    }

    /// Admin: start a new epoch now ("rotate keys") for every collection held.
    pub async fn rotate_keys(&self, session: &Session) -> Result<(), String> {
        let state = self.append(&session.team, Action::Rotate { epoch: session.team.epoch + 1 }).await?;
        self.put_rotation(session, &state).await
    }

    /// Admin: open an invitation with `role`. The secret goes only into the returned
    /// link's fragment and, sealed under the vault key, into this device's store (to
    /// verify the answer later); the server gets the id and the role.
    pub async fn create_invite(&self, session: &Session, role: Role) -> Result<String, String> {
        let (team, invite, secret) = (session.team.team, InviteId::random(), InviteSecret::generate());
        let _: shared::api::Empty = self
            .api
            .post(&path::fill(path::INVITES, &team.to_string()), &CreateInviteRequest { invite, role })
            .await
            .map_err(describe)?;
        // The role is kept with the secret: what the server later lists for this
        // invitation is never what decides the role.
        let kept = [secret.expose_secret().as_slice(), &[role.code()]].concat();
        let sealed = seal_blob(self.identity.vault_key(), INVITE_CONTEXT, &kept);
        self.store.set_meta(&invite_key(invite), &sealed).await.map_err(|e| e.to_string())?;
        let origin = web_sys::window().and_then(|w| w.location().origin().ok()).unwrap_or_default();
        let inviter = Some(self.account.username.clone());
        let link = InviteLink { team, invite, secret, role, genesis: session.team.genesis_hash(), inviter };
        Ok(format!("{origin}/#{}", encode_fragment(&link)))
    }

    /// Admin: the team's open invitations, each with what this device can say of it.
    pub async fn invitations(&self, session: &Session) -> Result<Vec<(InviteInfo, InviteCheck)>, String> {
        let team = session.team.team;
        let list: InviteList = self.api.get(&path::fill(path::INVITES, &team.to_string())).await.map_err(describe)?;
        let mut out = Vec::with_capacity(list.invites.len());
        for info in list.invites {
            let check = match (&info.accepted, self.invite_secret(info.invite).await) {
                (_, None) => InviteCheck::OtherDevice,
                (_, Some((_, role))) if role != info.role => InviteCheck::RoleChanged,
                (None, Some(_)) => InviteCheck::Waiting,
                (Some(a), Some((secret, role)))
                    if secret.verify(team, info.invite, role, &a.username, &a.identity, &a.mac) =>
                {
                    InviteCheck::Verified
                }
                (Some(_), Some(_)) => InviteCheck::Refused,
            };
            out.push((info, check));
        }
        Ok(out)
    }

    /// The secret of an invitation made on this device, with the role it was made for.
    /// (One kept by an earlier version, without its role, is not used: such an
    /// invitation is answered as made elsewhere, and the admin makes a new one.)
    async fn invite_secret(&self, invite: InviteId) -> Option<(InviteSecret, Role)> {
        let sealed = self.store.meta(&invite_key(invite)).await.ok()??;
        let raw = open_blob(self.identity.vault_key(), INVITE_CONTEXT, &sealed).ok()?;
        let (secret, role) = raw.split_first_chunk::<32>()?;
        let role = Role::from_code(*role.first()?)?;
        Some((InviteSecret::from_bytes(*secret), role))
    }

    /// Admin: verify the answer to an invitation against its secret; only then add the
    /// joiner (with the invited role) and wrap the keys that role may hold.
    pub async fn admit(&self, session: &Session, info: &InviteInfo, approval: Option<RecordId>) -> Result<(), String> {
        let team = session.team.team;
        let a = info.accepted.as_ref().ok_or(t("invite.no_answer"))?;
        let (secret, role) = self.invite_secret(info.invite).await.ok_or(t("invite.made_elsewhere"))?;
        if role != info.role {
            return Err(tf(
                "invite.refused_role",
                &[("listed", &role_label(info.role)), ("made", &role_label(role)), ("who", &a.username)],
            ));
        }
        if !secret.verify(team, info.invite, role, &a.username, &a.identity, &a.mac) {
            return Err(tf("invite.refused_keys", &[("who", &a.username)]));
        }
        // The joiner's own signed consent goes into the entry: no member without one.
        let acceptance = a.acceptance.clone().ok_or_else(|| tf("invite.no_acceptance", &[("who", &a.username)]))?;
        let member = Member { username: a.username.clone(), identity: a.identity, role };
        let admit = Action::Admit { member: member.clone(), acceptance };
        let state = self.append_approved(&session.team, admit, approval).await?;
        self.put_wraps(team, self.distributor().wraps_for_member(&state, &session.keyring, &member)).await?;
        let _ = self.store.set_meta(&invite_key(info.invite), &[]).await;
        Ok(())
    }

    /// Joiner: answer an invitation link with this account's public keys, authenticated
    /// with the link's secret.
    pub async fn accept_invite(&self, link: &str) -> Result<(), String> {
        let link = decode_fragment(link).ok_or(t("invite.not_a_link"))?;
        let (team, invite) = (link.team, link.invite);
        let identity = self.identity.public();
        let mac = link.secret.authenticate(team, invite, link.role, &self.account.username, &identity);
        // This account's consent to join this team, as the link's role, by the link's admin.
        let me = Member { username: self.account.username.clone(), identity, role: link.role };
        let acceptance = Acceptance::sign(team, invite, link.inviter.clone(), &me, &self.identity);
        let req = AcceptInviteRequest { team, identity, mac, acceptance };
        let _: TeamSummary =
            self.api.post(&path::fill(path::ACCEPT_INVITE, &invite.to_string()), &req).await.map_err(describe)?;
        // The link, not the server, says which team this is: pin its genesis.
        let mut pins = match self.local_pins().await {
            Some(p) => p,
            None => self.fetch_pins().await?.unwrap_or_else(|| AccountPins::new(self.account.salt, self.account.kdf)),
        };
        if pins.note_head(team, link.genesis, KnownHead { len: 1, hash: link.genesis }) {
            pins.version += 1;
            self.store_pins(pins).await?;
        }
        Ok(())
    }

    /// The auth key of `passphrase` if it is this account's (it opens the bundle this
    /// device holds), to prove it to the server.
    async fn prove_passphrase(&self, passphrase: &str) -> Result<shared::crypto::passphrase::AuthKey, String> {
        let username = &self.account.username;
        let (auth, wrap) =
            derive_account_keys(&Passphrase::new(passphrase), username, &self.account.salt, self.account.kdf)
                .await
                .map_err(|e| e.to_string())?;
        match IdentityKeys::open_bundle(&self.account.bundle, &wrap, username.as_str()) {
            Ok(_) => Ok(auth),
            Err(_) => Err(t("passphrase.wrong_current").into()),
        }
    }

    /// Make (or replace) the account's recovery kit, proven with the current passphrase.
    /// The key is returned to be shown once; this device keeps nothing of it.
    pub async fn create_recovery_kit(&self, passphrase: &str) -> Result<String, String> {
        use shared::api::SetRecoveryRequest;
        use shared::crypto::recovery::RecoveryKey;
        let username = &self.account.username;
        let current = self.prove_passphrase(passphrase).await?;
        let key = RecoveryKey::generate();
        let (auth, wrap) = key.keys(username);
        let req = SetRecoveryRequest {
            current_auth_key: *current.expose_secret(),
            recovery_auth_key: *auth.expose_secret(),
            bundle: self.identity.seal_bundle(&wrap, username.as_str()),
        };
        self.api.call(&req).await.map_err(describe)?;
        Ok(key.display().to_string())
    }

    /// Change the passphrase: a fresh salt bound to the username, the current settings,
    /// the bundle sealed again; proven to the server with the current passphrase. The
    /// account as this device now stores it is returned (and saved), and the pins
    /// follow. The server ends every other session of the account; those devices keep
    /// their data and log in again with the new passphrase.
    pub async fn change_passphrase(&self, current: &str, new: &str) -> Result<LocalAccount, String> {
        let username = &self.account.username;
        let current_auth = self.prove_passphrase(current).await?;
        let mut salt = [0u8; 16];
        getrandom_fill(&mut salt);
        let kdf = KdfParams::DEFAULT;
        let (auth, wrap) =
            derive_account_keys(&Passphrase::new(new), username, &salt, kdf).await.map_err(|e| e.to_string())?;
        let bundle = self.identity.seal_bundle(&wrap, username.as_str());
        let req = ChangePassphraseRequest {
            current_auth_key: *current_auth.expose_secret(),
            salt,
            kdf,
            auth_key: *auth.expose_secret(),
            bundle: bundle.clone(),
        };
        self.api.call(&req).await.map_err(describe)?;
        let account = LocalAccount { salt, kdf, bundle, ..self.account.clone() };
        save_account(&self.store, &account).await?;
        let mut pins = match self.local_pins().await {
            Some(p) => p,
            None => self.fetch_pins().await?.unwrap_or_else(|| AccountPins::new(salt, kdf)),
        };
        (pins.salt, pins.kdf, pins.version) = (salt, kdf, pins.version + 1);
        self.store_pins(pins).await?;
        Ok(account)
    }

    /// The account's pins as this device holds them.
    pub(crate) async fn local_pins(&self) -> Option<AccountPins> {
        let stored: SealedPins = self.cached(PINS_KEY).await?;
        AccountPins::open(&stored.blob, &self.account.username, &self.identity).ok()
    }

    /// Read the server's pins; take them if newer than this device's (a server can
    /// withhold newer ones, not forge or alter them). `None` if the server has none.
    async fn fetch_pins(&self) -> Result<Option<AccountPins>, String> {
        let stored: SealedPins = self.api.get(path::ACCOUNT_PINS).await.map_err(describe)?;
        if stored.version == 0 {
            return Ok(self.local_pins().await);
        }
        let theirs = AccountPins::open(&stored.blob, &self.account.username, &self.identity)
            .map_err(|_| "The account's pins from the server do not open: refusing to go on.".to_string())?;
        if theirs.version != stored.version {
            return Err("The account's pins from the server are mislabelled: refusing to go on.".into());
        }
        match self.local_pins().await {
            Some(mine) if mine.version >= theirs.version => Ok(Some(mine)),
            _ => {
                let _ = self.store.set_meta(PINS_KEY, &serde_json::to_vec(&stored).unwrap_or_default()).await;
                Ok(Some(theirs))
            }
        }
    }

    /// Store a new version of the pins here and on the server. If another device
    /// stored a newer version meanwhile, merge (heads and checkpoints only grow) and
    /// store again.
    pub(crate) async fn store_pins(&self, mut pins: AccountPins) -> Result<(), String> {
        for _ in 0..3 {
            let sealed = SealedPins { version: pins.version, blob: pins.seal(&self.account.username, &self.identity) };
            let _ = self.store.set_meta(PINS_KEY, &serde_json::to_vec(&sealed).unwrap_or_default()).await;
            match self.api.put::<_, SealedPins>(path::ACCOUNT_PINS, &sealed).await {
                Ok(_) | Err(TransportError::Offline) => return Ok(()),
                Err(TransportError::Http { status: 409, .. }) => {
                    let stored: SealedPins = self.api.get(path::ACCOUNT_PINS).await.map_err(describe)?;
                    let theirs = AccountPins::open(&stored.blob, &self.account.username, &self.identity)
                        .map_err(|_| "The account's pins from the server do not open.".to_string())?;
                    let mut merged = theirs.clone();
                    for t in &pins.teams {
                        merged.note_head(t.team, t.genesis, t.head);
                        if let Some(a) = t.audit {
                            merged.note_audit(t.team, a);
                        }
                        merged.note_records(t.team, &t.records);
                    }
                    // This device's salt and settings: it stores pins right after it
                    // changed the passphrase, and otherwise they are the same.
                    (merged.salt, merged.kdf) = (pins.salt, pins.kdf);
                    merged.version = theirs.version.max(pins.version) + 1;
                    pins = merged;
                }
                Err(e) => return Err(describe(e)),
            }
        }
        Err("The account's pins kept changing on the server; try again.".into())
    }

    /// Pin a verified chain's genesis and head (if longer than the pinned one).
    async fn pin_team(&self, state: &TeamState) {
        // A device from before pins (unlocked, never logged in since) starts them.
        let mut pins = match self.local_pins().await {
            Some(p) => p,
            None => match self.fetch_pins().await {
                Ok(Some(p)) => p,
                Ok(None) => AccountPins::new(self.account.salt, self.account.kdf),
                Err(e) => {
                    web_sys::console::warn_1(&format!("quietdesk: pins not read: {e}").into());
                    return;
                }
            },
        };
        if pins.note_head(state.team, state.genesis_hash(), state.known_head()) {
            pins.version += 1;
            if let Err(e) = self.store_pins(pins).await {
                web_sys::console::warn_1(&format!("quietdesk: pins not stored: {e}").into());
            }
        }
    }

    /// Pin an audit checkpoint an admin's device verified; the pinned one, if any.
    pub(crate) async fn pin_audit(&self, team: TeamId, checkpoint: Option<Checkpoint>) -> Option<Checkpoint> {
        let mut pins = self.local_pins().await?;
        if let Some(c) = checkpoint {
            if pins.note_audit(team, c) {
                pins.version += 1;
                let _ = self.store_pins(pins.clone()).await;
            }
        }
        pins.team(team).and_then(|t| t.audit)
    }

    async fn put_rotation(&self, session: &Session, state: &TeamState) -> Result<(), String> {
        let collections = collections_to_key(state, &session.keyring);
        self.put_wraps(state.team, self.distributor().rotate(state, &collections)).await
    }

    /// Sign `action` as the next entry after `team`, append it, and return the new state.
    async fn append(&self, team: &TeamState, action: Action) -> Result<TeamState, String> {
        self.append_approved(team, action, None).await
    }

    async fn append_approved(
        &self,
        team: &TeamState,
        action: Action,
        approval: Option<RecordId>,
    ) -> Result<TeamState, String> {
        let mut state = team.clone();
        let entry = ChainEntry::signed(
            state.team,
            state.len,
            state.head,
            &self.account.username,
            &self.identity,
            now_ms(),
            action,
        );
        state.apply(&entry).map_err(|e| e.to_string())?;
        let _: TeamSummary = self
            .api
            .post(
                &path::fill(path::CHAIN, &state.team.to_string()),
                &shared::api::AppendChainRequest { entry, approval },
            )
            .await
            .map_err(describe)?;
        Ok(state)
    }

    async fn put_wraps(&self, team: TeamId, wraps: Vec<WrapItem>) -> Result<(), String> {
        let _: WrapsResponse = self
            .api
            .put(&path::fill(path::WRAPS, &team.to_string()), &PutWrapsRequest { wraps })
            .await
            .map_err(describe)?;
        Ok(())
    }
}
