//! A native Quietdesk client for tests and benchmarks: the `shared` crypto and sync
//! engine over real HTTP (reqwest) and a real websocket (tokio-tungstenite).
#![allow(dead_code)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use futures::{SinkExt, StreamExt};
use shared::api::{
    path, AcceptInviteRequest, AppendChainRequest, ChainResponse, ClientEvent, CreateInviteRequest, CreateTeamRequest,
    Cursor, Empty, Endpoint, ErrorBody, InviteInfo, InviteList, LoginRequest, Method, PreloginRequest, PullResponse,
    PushRequest, PutWrapsRequest, ServerEvent, SessionResponse, SignupRequest, TeamSummary, UserKeys, WrapItem,
    WrapsResponse,
};
use shared::chain::{Acceptance, Action, ChainEntry, KnownHead, Member, Role, TeamState};
use shared::crypto::identity::IdentityKeys;
use shared::crypto::passphrase::{derive_account_keys, KdfParams, Passphrase};
use shared::ids::{CollectionId, InviteId, TeamId, Username};
use shared::invite::InviteSecret;
use shared::sync::{PushOutcome, Session, Transport, TransportError};
use shared::team::{collections_to_key, open_wraps, Distributor};

#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    pub base: String,
    pub token: Option<String>,
    /// When set, every request fails as if the network were down.
    pub offline: Arc<AtomicBool>,
}

impl Api {
    pub fn new(base: &str) -> Self {
        Self { http: reqwest::Client::new(), base: base.to_owned(), token: None, offline: Arc::default() }
    }

    async fn send<B: serde::Serialize, R: serde::de::DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<R, TransportError> {
        if self.offline.load(Ordering::SeqCst) {
            return Err(TransportError::Offline);
        }
        let url = format!("{}{}", self.base, path);
        let mut req = match method {
            Method::Get => self.http.get(url),
            Method::Post => self.http.post(url),
            Method::Put => self.http.put(url),
        };
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.map_err(|_| TransportError::Offline)?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(|_| TransportError::Offline)?;
        if status.is_success() {
            serde_json::from_slice(&bytes).map_err(|e| TransportError::Protocol(e.to_string()))
        } else {
            let _: ErrorBody = serde_json::from_slice(&bytes)
                .map_err(|e| TransportError::Protocol(format!("{status}: non-JSON error body: {e}")))?;
            Err(shared::sync::decode_error(status.as_u16(), &bytes))
        }
    }

    pub async fn call<E: Endpoint>(&self, req: &E) -> Result<E::Response, TransportError> {
        self.send(E::METHOD, E::PATH, Some(req)).await
    }
    pub async fn get<R: serde::de::DeserializeOwned>(&self, path: &str) -> Result<R, TransportError> {
        self.send::<(), R>(Method::Get, path, None).await
    }
    pub async fn post<B: serde::Serialize, R: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        b: &B,
    ) -> Result<R, TransportError> {
        self.send(Method::Post, path, Some(b)).await
    }
    pub async fn put<B: serde::Serialize, R: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        b: &B,
    ) -> Result<R, TransportError> {
        self.send(Method::Put, path, Some(b)).await
    }
}

/// What an invitation link carries (and the inviting device keeps).
pub struct Invitation {
    pub team: TeamId,
    pub invite: InviteId,
    pub secret: InviteSecret,
    pub role: Role,
    /// The inviting admin (the link names them; the joiner's acceptance too).
    pub inviter: Username,
}

/// A logged-in user.
pub struct Account {
    pub name: Username,
    pub identity: IdentityKeys,
    pub api: Api,
    pub token: String,
}

/// Every account's identity keys, by server and username: what each joiner's own client
/// holds. [`Account::add_member`] signs the joiner's acceptance with them, as the joiner's
/// client does when it answers an invitation (the invitation itself is what
/// [`Account::accept_invite`] and [`Account::admit`] test).
static JOINER_KEYS: std::sync::Mutex<Vec<(String, Username, IdentityKeys)>> = std::sync::Mutex::new(Vec::new());

fn remember_keys(base: &str, name: &Username, keys: &IdentityKeys) {
    let mut all = JOINER_KEYS.lock().unwrap();
    all.retain(|(b, n, _)| !(b == base && n == name));
    all.push((base.to_owned(), name.clone(), keys.duplicate()));
}

/// `who`'s acceptance of joining `team` as `role` by `inviter`'s invitation, signed with
/// the keys their client holds (`None` if no account of this server holds them).
pub fn joiners_acceptance(base: &str, team: TeamId, inviter: &Username, member: &Member) -> Option<Acceptance> {
    let all = JOINER_KEYS.lock().unwrap();
    // Signed up here, or on another instance of the same database (the same keys).
    let (_, _, keys) = all
        .iter()
        .find(|(b, n, _)| b == base && *n == member.username)
        .or_else(|| all.iter().find(|(_, n, k)| *n == member.username && k.public() == member.identity))?;
    Some(Acceptance::sign(team, InviteId::random(), Some(inviter.clone()), member, keys))
}

pub async fn signup(base: &str, name: &str, passphrase: &str) -> Account {
    signup_with(base, name, passphrase, KdfParams::MINIMUM).await
}

/// Sign up with chosen key-derivation settings (the app uses [`KdfParams::DEFAULT`]).
pub async fn signup_with(base: &str, name: &str, passphrase: &str, kdf: KdfParams) -> Account {
    let name = Username::parse(name).unwrap();
    let mut salt = [0u8; 16];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut salt);
    let (auth, wrap) = derive_account_keys(&Passphrase::new(passphrase), &name, &salt, kdf).unwrap();
    let identity = IdentityKeys::generate();
    let bundle = identity.seal_bundle(&wrap, name.as_str());
    let mut api = Api::new(base);
    let resp: SessionResponse = api
        .call(&SignupRequest {
            username: name.clone(),
            salt,
            kdf,
            auth_key: *auth.expose_secret(),
            identity: identity.public(),
            bundle,
        })
        .await
        .unwrap();
    api.token = Some(resp.token.clone());
    remember_keys(base, &name, &identity);
    Account { name, identity, api, token: resp.token }
}

pub async fn login(base: &str, name: &str, passphrase: &str) -> Result<Account, TransportError> {
    login_with(base, name, passphrase, None).await
}

/// Log in with a second factor (an authenticator code or a recovery code).
pub async fn login_with(
    base: &str,
    name: &str,
    passphrase: &str,
    totp: Option<String>,
) -> Result<Account, TransportError> {
    let name = Username::parse(name).unwrap();
    let mut api = Api::new(base);
    let pre = api.call(&PreloginRequest { username: name.clone() }).await?;
    let (auth, wrap) = derive_account_keys(&Passphrase::new(passphrase), &name, &pre.salt, pre.kdf).unwrap();
    let resp = api.call(&LoginRequest { username: name.clone(), auth_key: *auth.expose_secret(), totp }).await?;
    let identity = IdentityKeys::open_bundle(&resp.bundle, &wrap, name.as_str()).unwrap();
    api.token = Some(resp.token.clone());
    Ok(Account { name, identity, api, token: resp.token })
}

pub fn wall_clock() -> u64 {
    now() as u64
}

/// Log in as the app does: the salt and settings the server offers are checked
/// (a floor, and the device's pin if it knows the account) before anything derived
/// from the passphrase is sent.
pub async fn login_checked(
    base: &str,
    name: &str,
    passphrase: &str,
    floor: KdfParams,
    pin: Option<([u8; 16], KdfParams)>,
) -> Result<Account, String> {
    let username = Username::parse(name).unwrap();
    let api = Api::new(base);
    let pre = api.call(&PreloginRequest { username }).await.map_err(|e| e.to_string())?;
    shared::crypto::passphrase::check_offered((&pre.salt, pre.kdf), floor, pin.as_ref().map(|(s, k)| (s, *k)))
        .map_err(|e| e.to_string())?;
    login(base, name, passphrase).await.map_err(|e| e.to_string())
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

impl Account {
    fn distributor(&self) -> Distributor<'_> {
        Distributor { name: &self.name, identity: &self.identity }
    }

    /// Create a team: genesis entry, epoch-1 keys for the shared collection and my
    /// portfolio, wrapped to me.
    pub async fn create_team(&self) -> TeamId {
        let team = TeamId::random();
        let genesis = ChainEntry::signed(
            team,
            0,
            [0; 32],
            &self.name,
            &self.identity,
            now(),
            Action::Found {
                admin: Member { username: self.name.clone(), identity: self.identity.public(), role: Role::Admin },
                shared_collection: CollectionId::random(),
            },
        );
        let state = TeamState::verify(std::slice::from_ref(&genesis), None).unwrap();
        let s: TeamSummary = self.api.call(&CreateTeamRequest { genesis }).await.unwrap();
        assert_eq!(s.team, team);
        let first = collections_to_key(&state, &shared::crypto::envelope::Keyring::new());
        self.put_wraps(team, self.distributor().rotate(&state, &first)).await.unwrap();
        team
    }

    pub async fn put_wraps(&self, team: TeamId, wraps: Vec<WrapItem>) -> Result<(), TransportError> {
        let _: WrapsResponse =
            self.api.put(&path::fill(path::WRAPS, &team.to_string()), &PutWrapsRequest { wraps }).await?;
        Ok(())
    }

    pub async fn chain(&self, team: TeamId, known: Option<&KnownHead>) -> Result<TeamState, String> {
        let c: ChainResponse =
            self.api.get(&path::fill(path::CHAIN, &team.to_string())).await.map_err(|e| e.to_string())?;
        TeamState::verify(&c.entries, known).map_err(|e| e.to_string())
    }

    /// Admin: sign `action` as the next chain entry and append it; the new state.
    pub async fn append(&self, team: TeamId, action: Action) -> Result<TeamState, TransportError> {
        self.append_approved(team, action, None).await
    }

    /// [`Account::append`] naming an approval (making someone an admin needs one).
    pub async fn append_approved(
        &self,
        team: TeamId,
        action: Action,
        approval: Option<shared::ids::RecordId>,
    ) -> Result<TeamState, TransportError> {
        let mut state = self.chain(team, None).await.unwrap();
        let entry = ChainEntry::signed(team, state.len, state.head, &self.name, &self.identity, now(), action);
        state.apply(&entry).unwrap();
        let _: TeamSummary =
            self.api.post(&path::fill(path::CHAIN, &team.to_string()), &AppendChainRequest { entry, approval }).await?;
        Ok(state)
    }

    /// Admin: add `who` with `role`, with the acceptance their client signed (see
    /// [`joiners_acceptance`]), and wrap every key their role entitles them to.
    pub async fn add_member(&self, team: TeamId, who: &str, role: Role) {
        let who = Username::parse(who).unwrap();
        let keys: UserKeys = self.api.get(&path::fill(path::USER, who.as_str())).await.unwrap();
        let member = Member { username: who, identity: keys.identity, role };
        let acceptance =
            joiners_acceptance(&self.api.base, team, &self.name, &member).expect("the joiner signed up here");
        let state = self.append(team, Action::Admit { member: member.clone(), acceptance }).await.unwrap();
        let session = self.session(team).await;
        self.put_wraps(team, self.distributor().wraps_for_member(&state, &session.keyring, &member)).await.unwrap();
    }

    /// Admin: offboard `who`: removal (a new epoch) and fresh keys for everyone else.
    pub async fn remove_member(&self, team: TeamId, who: &Username) {
        let held = self.session(team).await.keyring;
        let state = self.append(team, Action::RemoveMember { username: who.clone() }).await.unwrap();
        let collections = collections_to_key(&state, &held);
        self.put_wraps(team, self.distributor().rotate(&state, &collections)).await.unwrap();
    }

    /// Admin: open an invitation; the secret and the role stay here (they would be in
    /// the link, and on the inviting device).
    pub async fn create_invite(&self, team: TeamId, role: Role) -> Invitation {
        let invite = InviteId::random();
        let _: Empty = self
            .api
            .post(&path::fill(path::INVITES, &team.to_string()), &CreateInviteRequest { invite, role })
            .await
            .unwrap();
        Invitation { team, invite, secret: InviteSecret::generate(), role, inviter: self.name.clone() }
    }

    /// Joiner: answer an invitation with my keys, authenticated with the link's secret.
    pub async fn accept_invite(&self, link: &Invitation) -> Result<TeamSummary, TransportError> {
        let (team, invite) = (link.team, link.invite);
        let identity = self.identity.public();
        let mac = link.secret.authenticate(team, invite, link.role, &self.name, &identity);
        let me = Member { username: self.name.clone(), identity, role: link.role };
        let acceptance = Acceptance::sign(team, invite, Some(link.inviter.clone()), &me, &self.identity);
        let req = AcceptInviteRequest { team, identity, mac, acceptance };
        self.api.post(&path::fill(path::ACCEPT_INVITE, &invite.to_string()), &req).await
    }

    /// Admin: the team's open invitations, answered or not.
    pub async fn invites(&self, team: TeamId) -> Result<Vec<InviteInfo>, TransportError> {
        let l: InviteList = self.api.get(&path::fill(path::INVITES, &team.to_string())).await?;
        Ok(l.invites)
    }

    /// Admin: verify an answered invitation with its secret; only then add the joiner
    /// (with the role this side invited them as, whatever the server lists) and wrap
    /// their keys. `Err` if the keys the server relayed are not the ones the joiner
    /// authenticated, or the server lists another role.
    pub async fn admit(&self, link: &Invitation, info: &InviteInfo) -> Result<(), String> {
        let team = link.team;
        let a = info.accepted.as_ref().ok_or("not answered yet")?;
        if info.role != link.role {
            return Err(format!("the server lists the invitation as {}: refused", info.role.as_str()));
        }
        if !link.secret.verify(team, info.invite, link.role, &a.username, &a.identity, &a.mac) {
            return Err(format!("the keys for {} do not match the invitation: refused", a.username));
        }
        let acceptance = a.acceptance.clone().ok_or(format!("{} signed no acceptance: refused", a.username))?;
        let member = Member { username: a.username.clone(), identity: a.identity, role: link.role };
        let admit = Action::Admit { member: member.clone(), acceptance };
        let state = self.append(team, admit).await.map_err(|e| e.to_string())?;
        let session = self.session(team).await;
        self.put_wraps(team, self.distributor().wraps_for_member(&state, &session.keyring, &member))
            .await
            .map_err(|e| e.to_string())
    }

    /// Verified chain plus every key wrapped to me by someone allowed to.
    pub async fn session(&self, team: TeamId) -> Session {
        let state = self.chain(team, None).await.unwrap();
        let wraps: WrapsResponse = self.api.get(&path::fill(path::WRAPS, &team.to_string())).await.unwrap();
        let keyring = open_wraps(&self.name, &self.identity, &state, &wraps.wraps);
        assert_eq!(keyring.len(), wraps.wraps.len(), "every wrap to me opened");
        Session { me: self.name.clone(), identity: self.identity.duplicate(), keyring, team: state, now_ms: wall_clock }
    }

    pub fn transport(&self, team: TeamId) -> HttpTransport {
        HttpTransport { api: self.api.clone(), team }
    }

    /// Open the team's event socket and wait for `Ready`.
    pub async fn events(&self, team: TeamId) -> Events {
        let url = format!("{}{}", self.api.base.replacen("http", "ws", 1), path::fill(path::EVENTS, &team.to_string()));
        let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        let auth = serde_json::to_string(&ClientEvent::Auth { token: self.token.clone() }).unwrap();
        ws.send(tokio_tungstenite::tungstenite::Message::Text(auth.into())).await.unwrap();
        let mut ev = Events { ws };
        match ev.next().await {
            Some(ServerEvent::Ready { .. }) => ev,
            other => panic!("expected Ready, got {other:?}"),
        }
    }
}

pub struct Events {
    ws: tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
}

impl Events {
    pub async fn next(&mut self) -> Option<ServerEvent> {
        while let Some(msg) = self.ws.next().await {
            if let Ok(tokio_tungstenite::tungstenite::Message::Text(t)) = msg {
                return serde_json::from_str(&t).ok();
            }
        }
        None
    }

    /// Wait for a poke announcing at least `cursor`.
    pub async fn poked_past(&mut self, cursor: Cursor) -> Cursor {
        loop {
            if let Some(ServerEvent::Poke { cursor: c }) = self.next().await {
                if c >= cursor {
                    return c;
                }
            }
        }
    }
}

#[derive(Clone)]
pub struct HttpTransport {
    pub api: Api,
    pub team: TeamId,
}

impl Transport for HttpTransport {
    async fn push(&self, req: &PushRequest) -> Result<PushOutcome, TransportError> {
        if self.api.offline.load(Ordering::SeqCst) {
            return Err(TransportError::Offline);
        }
        let url = format!("{}{}", self.api.base, path::fill(path::PUSH, &self.team.to_string()));
        let resp = self
            .api
            .http
            .post(url)
            .bearer_auth(self.api.token.as_deref().unwrap_or_default())
            .json(req)
            .send()
            .await
            .map_err(|_| TransportError::Offline)?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(|_| TransportError::Offline)?;
        shared::sync::decode_push_response(status.as_u16(), &bytes)
    }

    async fn pull(&self, since: Cursor, limit: u32) -> Result<PullResponse, TransportError> {
        let p = format!("{}?since={since}&limit={limit}", path::fill(path::PULL, &self.team.to_string()));
        self.api.get(&p).await
    }

    async fn beacons(&self) -> Option<Result<Vec<shared::beacon::Beacon>, TransportError>> {
        let answer: Result<shared::api::BeaconsResponse, _> =
            self.api.get(&path::fill(path::BEACONS, &self.team.to_string())).await;
        Some(answer.map(|a| a.beacons))
    }

    async fn kept_versions(&self, record: shared::ids::RecordId) -> Result<shared::api::KeptVersions, TransportError> {
        let p = path::fill(&path::fill(path::KEPT_VERSIONS, &self.team.to_string()), &record.to_string());
        self.api.get(&p).await
    }

    async fn kept_version(
        &self,
        record: shared::ids::RecordId,
        version: u64,
    ) -> Result<shared::api::KeptVersion, TransportError> {
        let p = path::fill(&path::fill(path::KEPT_VERSIONS, &self.team.to_string()), &record.to_string());
        self.api.get(&format!("{p}/{version}")).await
    }
}

impl Account {
    /// Admin: publish a freshness beacon of `state`'s head, signed at `at_ms`.
    pub async fn publish_beacon(&self, state: &TeamState, at_ms: i64) -> Result<(), TransportError> {
        let beacon =
            shared::beacon::Beacon::sign(state.team, state.chain_head(), self.name.clone(), at_ms, &self.identity);
        let _: Empty = self
            .api
            .post(&path::fill(path::BEACONS, &state.team.to_string()), &shared::api::PublishBeaconRequest { beacon })
            .await?;
        Ok(())
    }

    /// The generation the server says it runs as, and its restore notice.
    pub async fn restore_status(&self, team: TeamId) -> Result<shared::api::RestoreStatus, TransportError> {
        self.api.get(&path::fill(path::RESTORE, &team.to_string())).await
    }

    /// Admin: confirm that the server was restored, for the generation it says it runs
    /// as (signed now).
    pub async fn confirm_restore(&self, team: TeamId) -> Result<(), TransportError> {
        let generation = self.restore_status(team).await?.generation;
        self.confirm_restore_of(team, generation).await
    }

    /// Admin: post a restore notice for `generation`, signed now.
    pub async fn confirm_restore_of(&self, team: TeamId, generation: u64) -> Result<(), TransportError> {
        let notice = shared::restore::RestoreNotice::sign(
            team,
            generation,
            self.name.clone(),
            wall_clock() as i64,
            &self.identity,
        );
        let req = shared::api::ConfirmRestoreRequest { notice };
        let _: Empty = self.api.post(&path::fill(path::RESTORE, &team.to_string()), &req).await?;
        Ok(())
    }
}
