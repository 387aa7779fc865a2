// Long: the signed-in state, its index, edits, sync and the background loop; team administration and account security have files under workspace/, and splitting the rest into state areas is a known debt (ARCHITECTURE.md).
//! The unlocked workspace: the sync engine over IndexedDB and HTTP, a read-only index
//! of decrypted records for the views, and the sync status. Background sync runs on
//! start, after every edit, on a websocket poke, when the browser comes back online,
//! and every 30 s as a fallback.

use std::cell::Cell;
use std::collections::{BTreeMap, HashSet};
use std::rc::Rc;
use std::sync::{Arc, OnceLock};

use futures::lock::{Mutex, MutexGuard};
use futures::StreamExt;
use leptos::prelude::*;
use leptos::task::spawn_local;
use shared::api::{path, ClientEvent, ServerEvent};
use shared::audit::AuditAction;
use shared::crypto::aead::{open_blob, seal_blob};
use shared::domain::{field, Change, Entity, EntityKind};
use shared::duplicates::{merge_edits, DuplicateIndex, Side};
use shared::fields::Search;
use shared::ids::{RecordId, TeamId, Username};
use shared::record::{RecordDoc, Value};
use shared::search::{normalize_text, normalize_text_into, SearchText};
use shared::sync::{EpochProgress, RefusalReason, Superseded, SyncError, Syncer, TransportError};
use shared::team::{rotation_days, settings_record};
use shared::wipe::WipeOrder;

use crate::account::Unlocked;
use crate::api::HttpTransport;
use crate::compute::BrowserCompute;
use crate::error::AppError;
use crate::store::IdbStore;

mod account_security;
mod team_admin;

/// Decrypted records for the views, updated incrementally after every change. Cheap to
/// clone (shared maps of shared records).
#[derive(Clone, Default)]
pub struct Index {
    pub records: Arc<BTreeMap<RecordId, Arc<RecordDoc>>>,
    /// Customers in name order, each with its lower-cased search text.
    pub customers: Arc<Vec<CustomerEntry>>,
    /// The customers' search text in one buffer, in list order: copied from the last
    /// list's buffer when that was laid (see [`merged`]), else laid from each entry's
    /// [`CustomerEntry::text`] in the background or on the first search.
    search: Arc<OnceLock<SearchText>>,
    /// Set while [`Index::prepare_search`] lays the search buffer (one at a time).
    laying: Arc<std::sync::atomic::AtomicBool>,
    /// The tags and owners customers name, for the list's filter pickers: counted as
    /// the index is built and kept up to date per change, so an index change does not
    /// read every customer again.
    pub choices: Arc<Choices>,
    /// Who signed the version held of each record whose `kind` someone else wrote: what
    /// [`Index::creator`] names where no signature proves the `kind`'s author.
    pub signers: Arc<BTreeMap<RecordId, shared::ids::Username>>,
}

/// Who signed the version held of `r`, if not the author of its `kind`.
fn signed_by_another(r: &shared::sync::LocalRecord) -> Option<&shared::ids::Username> {
    let kind = r.view.fields.get(field::KIND)?;
    r.signer.as_ref().filter(|s| **s != kind.stamp.author)
}

/// Each tag and owner the customers name, with how many name it.
#[derive(Clone, Default, PartialEq, Debug)]
pub struct Choices {
    tags: std::collections::HashMap<String, u32>,
    owners: std::collections::HashMap<String, u32>,
}

impl Choices {
    fn count(&mut self, doc: &RecordDoc, add: bool) {
        let bump = |map: &mut std::collections::HashMap<String, u32>, name: &str| {
            if add {
                *map.entry(name.to_owned()).or_default() += 1;
            } else if let Some(n) = map.get_mut(name) {
                *n -= 1;
                if *n == 0 {
                    map.remove(name);
                }
            }
        };
        if let Some(tags) = doc.get(field::TAGS).and_then(Value::as_list) {
            // A customer naming a tag twice counts once.
            let mut seen = std::collections::HashSet::new();
            for t in tags.iter().filter(|t| !t.is_empty() && seen.insert(t.as_str())) {
                bump(&mut self.tags, t);
            }
        }
        if let Some(o) = doc.text(field::OWNER).filter(|o| !o.is_empty()) {
            bump(&mut self.owners, o);
        }
    }

    /// The tags and the owners in use, each sorted.
    pub fn sorted(&self) -> (Vec<String>, Vec<String>) {
        let sorted = |map: &std::collections::HashMap<String, u32>| {
            let mut v: Vec<String> = map.keys().cloned().collect();
            v.sort_unstable();
            v
        };
        (sorted(&self.tags), sorted(&self.owners))
    }
}

impl Index {
    /// Whether `other` is this same index (not only equal).
    pub fn is(&self, other: &Index) -> bool {
        Arc::ptr_eq(&self.search, &other.search)
    }

    /// Who created the record `id` (`doc`), on the word of signatures
    /// ([`shared::record::creator`]): the `kind`'s author where they signed the version
    /// held or certified the record, else whoever signed the version held.
    pub fn creator<'a>(&'a self, id: &RecordId, doc: &'a RecordDoc) -> Option<&'a shared::ids::Username> {
        match self.signers.get(id) {
            Some(signer) => shared::record::creator(doc, signer),
            None => doc.fields.get(field::KIND).map(|k| &k.stamp.author),
        }
    }

    /// Who signed the version of `id` (`doc`) held here.
    pub fn signer<'a>(&'a self, id: &RecordId, doc: &'a RecordDoc) -> Option<&'a shared::ids::Username> {
        self.signers.get(id).or_else(|| doc.fields.get(field::KIND).map(|k| &k.stamp.author))
    }
}

/// One customer in the search list: cheap to clone (one shared allocation), as every
/// change to the list copies the entries it keeps.
#[derive(Clone)]
pub struct CustomerEntry(Arc<Customer>);

/// What a [`CustomerEntry`] holds.
pub struct Customer {
    pub id: RecordId,
    /// Lower-cased name: the sort key.
    pub key: Arc<str>,
    /// The customer (the document [`Index::records`] holds for `id`).
    pub doc: Arc<RecordDoc>,
    /// Its search text, worked out once for this version of the document and kept by
    /// every index that keeps the entry (and shared when the record is sealed afresh):
    /// after a change, only the changed customers' text is worked out.
    text: OnceLock<Arc<str>>,
}

impl std::ops::Deref for CustomerEntry {
    type Target = Customer;
    fn deref(&self) -> &Customer {
        &self.0
    }
}

impl CustomerEntry {
    fn of(id: RecordId, doc: &Arc<RecordDoc>) -> Self {
        Self(Arc::new(Customer {
            id,
            key: normalize_text(doc.text(field::NAME).unwrap_or_default()).into(),
            doc: doc.clone(),
            text: OnceLock::new(),
        }))
    }

    /// The same customer, its document now `doc` (equal to the one it holds, the
    /// record sealed afresh): its key and the text worked out so far are shared.
    fn resealed(&self, doc: &Arc<RecordDoc>) -> Self {
        let text = self.text.get().cloned().map(OnceLock::from).unwrap_or_default();
        Self(Arc::new(Customer { id: self.id, key: self.key.clone(), doc: doc.clone(), text }))
    }

    /// The lower-cased text customer search looks at (see [`search_text_into`]).
    pub fn text(&self) -> &str {
        self.text.get_or_init(|| {
            let mut s = String::new();
            search_text_into(&mut s, &self.doc);
            s.into()
        })
    }
    fn order(&self) -> (&str, RecordId) {
        (&self.key, self.id)
    }
}

impl Index {
    /// Live records of a kind.
    pub fn of_kind<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = (&'a RecordId, &'a RecordDoc)> + 'a {
        self.records.iter().map(|(k, v)| (k, &**v)).filter(move |(_, d)| d.text(field::KIND) == Some(kind))
    }

    /// Live records of a kind that point at `customer`.
    pub fn linked<'a>(
        &'a self,
        kind: &'a str,
        customer: &'a str,
    ) -> impl Iterator<Item = (&'a RecordId, &'a RecordDoc)> + 'a {
        self.of_kind(kind).filter(move |(_, d)| d.text(field::CUSTOMER) == Some(customer))
    }

    /// The search buffer over [`Index::customers`], in the same order: built here if
    /// [`Index::prepare_search`] has not finished it yet.
    pub fn search(&self) -> &SearchText {
        self.search.get_or_init(|| SearchText::build(self.customers.iter().map(CustomerEntry::text)))
    }

    /// Work out the customers' search texts and lay the buffer a slice at a time, the
    /// page drawing in between (100,000 customers' text takes a few hundred
    /// milliseconds): once the list is on screen, so that neither the list nor the
    /// first keystroke waits for it. Stops once `wanted` says this index is no longer the one
    /// shown (the texts worked out so far stay with their entries).
    pub async fn prepare_search(&self, wanted: impl Fn(&Index) -> bool) {
        use std::sync::atomic::Ordering;
        if self.search.get().is_some() || self.laying.swap(true, Ordering::Relaxed) {
            return; // laid, or being laid
        }
        self.lay_search(wanted).await;
        self.laying.store(false, Ordering::Relaxed);
    }

    async fn lay_search(&self, wanted: impl Fn(&Index) -> bool) {
        let mut text = SearchText::with_capacity(self.customers.len());
        for (i, c) in self.customers.iter().enumerate() {
            if i % REFRESH_SLICE == REFRESH_SLICE - 1 {
                crate::compute::yield_now().await;
                if self.search.get().is_some() || !wanted(self) {
                    return; // built whole meanwhile, or the list changed
                }
            }
            text.push(c.text());
        }
        let _ = self.search.set(text);
    }

    pub fn doc(&self, id: &RecordId) -> Option<RecordDoc> {
        self.records.get(id).map(|d| (**d).clone())
    }
}

/// How a changed customer list was made from the one before: a run of its entries, or
/// a fresh entry (see [`merged`]).
#[derive(Clone, Debug, PartialEq)]
enum Step {
    Kept(std::ops::Range<usize>),
    Fresh,
}

/// The customer list `olds` (in order) without the customers `gone`, with `fresh`
/// ones placed in order: each found by halving, the kept entries in between copied (a
/// 500-row import batch into 100,000 customers compares a few thousand names, not
/// 100,000). Also how the list was made, to lay its search buffer from the old one's.
fn merged(
    olds: &[CustomerEntry],
    gone: &HashSet<RecordId>,
    mut fresh: Vec<CustomerEntry>,
) -> (Vec<CustomerEntry>, Vec<Step>) {
    fresh.sort_unstable_by(|a, b| a.order().cmp(&b.order()));
    let mut list = Vec::with_capacity(olds.len() + fresh.len());
    let mut steps = Vec::new();
    let keep = |list: &mut Vec<CustomerEntry>, steps: &mut Vec<Step>, from: usize, to: usize| {
        let mut start = from;
        if !gone.is_empty() {
            for (i, c) in olds.iter().enumerate().take(to).skip(from) {
                if gone.contains(&c.id) {
                    if start < i {
                        list.extend_from_slice(&olds[start..i]);
                        steps.push(Step::Kept(start..i));
                    }
                    start = i + 1;
                }
            }
        }
        if start < to {
            list.extend_from_slice(&olds[start..to]);
            steps.push(Step::Kept(start..to));
        }
    };
    let mut from = 0;
    for f in fresh {
        let at = from + olds[from..].partition_point(|c| c.order() < f.order());
        keep(&mut list, &mut steps, from, at);
        list.push(f);
        steps.push(Step::Fresh);
        from = at;
    }
    keep(&mut list, &mut steps, from, olds.len());
    (list, steps)
}

/// The search buffer of `list`, made by `steps` from the list whose buffer is `old`:
/// the kept runs copied whole, the fresh entries' text added.
fn spliced(old: &SearchText, steps: &[Step], list: &[CustomerEntry]) -> SearchText {
    let mut at = 0;
    let pieces = steps.iter().map(|step| match step {
        Step::Kept(run) => {
            at += run.len();
            shared::search::Piece::Kept(run.clone())
        }
        Step::Fresh => {
            at += 1;
            shared::search::Piece::New(list[at - 1].text())
        }
    });
    old.splice(pieces, list.len())
}

/// Lower-cased text that customer search looks at, appended to `s`: the fields the
/// registry marks searchable (`shared::fields::CUSTOMER_FIELDS`), each normalised (and
/// its mask, the masked phone), fields separated by a control character no query can
/// contain (so no match spans two).
fn search_text_into(s: &mut String, d: &RecordDoc) {
    let searched = || shared::fields::CUSTOMER_FIELDS.iter().filter(|f| f.search != Search::No);
    for f in searched() {
        for name in std::iter::once(f.name).chain(f.mask) {
            match d.get(name) {
                Some(Value::Text(t)) => normalize_text_into(s, t),
                Some(Value::List(items)) => {
                    for (i, item) in items.iter().enumerate() {
                        if i > 0 {
                            s.push(' ');
                        }
                        normalize_text_into(s, item);
                    }
                }
                _ => continue,
            }
            s.push('\u{1}');
        }
    }
    // Chinese names and companies by pinyin: 张伟 by `zhangwei`, `zhang wei`, `zw`
    // (plain ASCII has none to give).
    for f in searched().filter(|f| f.search == Search::Pinyin) {
        let forms = d.text(f.name).filter(|t| !t.is_ascii()).map(shared::pinyin::search_forms).unwrap_or_default();
        if !forms.is_empty() {
            s.push('\u{1}');
            s.push_str(&forms);
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct SyncStatus {
    pub online: bool,
    pub syncing: bool,
    pub pending: usize,
    /// `Date.now()` of the last successful sync.
    pub last_synced: Option<f64>,
    pub error: Option<String>,
    /// Something under way the user should know of (an approval being waited for).
    pub notice: Option<String>,
    /// Record versions this device refused although they opened, one sentence each.
    pub refused: Vec<String>,
}

/// The verified team as the team page shows it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TeamView {
    pub epoch: u32,
    /// When the current epoch began (Unix ms).
    pub epoch_started_ms: i64,
    pub me_admin: bool,
    /// Whether this user's role reads (and writes) sensitive fields.
    pub me_sensitive: bool,
    /// Username, role, and the safety number this user and that member can compare
    /// (for oneself: one's own key fingerprint).
    pub members: Vec<(String, String, String)>,
    /// The team's fingerprint, from the verified chain head: the same on every member's
    /// device that sees the same team history; compared out of band, it catches a
    /// server showing two members two different teams.
    pub fingerprint: String,
}

impl TeamView {
    fn of(session: &shared::sync::Session) -> Self {
        let t = &session.team;
        TeamView {
            epoch: t.epoch,
            epoch_started_ms: t.epoch_started_ms,
            me_admin: t.is_admin(&session.me),
            me_sensitive: t
                .members
                .get(&session.me)
                .is_some_and(|m| shared::team::access(m.role, true).contains(&shared::crypto::Scope::Sensitive)),
            fingerprint: t.fingerprint(),
            members: t
                .members
                .values()
                .map(|m| {
                    let number = if m.username == session.me {
                        m.identity.fingerprint()
                    } else {
                        shared::invite::safety_number(&session.identity.public(), &m.identity)
                    };
                    (m.username.to_string(), m.role.as_str().to_owned(), number)
                })
                .collect(),
        }
    }
}

pub struct Workspace {
    pub me: Username,
    pub team_id: TeamId,
    /// Who is in the team, from the verified chain; follows removals and rotations.
    pub team: RwSignal<TeamView>,
    pub unlocked: Rc<Unlocked>,
    pub(crate) syncer: Mutex<Syncer<IdbStore, HttpTransport, BrowserCompute>>,
    /// Held by every change this device makes to the team chain, from signing on the
    /// current head until the session has re-read the chain: two changes from one
    /// device (a user's and the background retirement of old epochs) never sign on
    /// the same head.
    chain_writer: Mutex<()>,
    pub index: RwSignal<Index>,
    pub status: RwSignal<SyncStatus>,
    /// A large download under way (a new device's first sync), for its progress bar.
    pub download: RwSignal<Option<crate::api::Download>>,
    /// Re-encryption onto the newest key epoch (an admin's client does it).
    pub reencryption: RwSignal<EpochProgress>,
    /// The epoch below which this client already had the old key wraps shredded.
    shredded_before: Cell<u32>,
    sync_queued: Cell<bool>,
    stopped: Cell<bool>,
    /// `Date.now()` when the last sync ended: the replica cache is saved once syncing
    /// has been quiet for a moment, not after every round.
    last_sync_end: Cell<f64>,
    /// An audit upload is under way (one at a time).
    pub(crate) audit_flushing: Cell<bool>,
    /// An admin's device is adding answered invitations (one pass at a time).
    admitting: Cell<bool>,
    /// Sealed audit entries the server has not chained yet (also in IndexedDB).
    pub(crate) audit_queue: std::cell::RefCell<Vec<shared::api::SealedAudit>>,
    /// This device's audit stream, loaded at open; advanced only under the engine's
    /// lock, so two entries never take one counter.
    pub(crate) audit_stream: std::cell::RefCell<shared::audit::AuditStream>,
    /// A bulk-deletion approval is being asked for (one at a time).
    pub(crate) asking_approval: Cell<bool>,
    /// Bumped when the server says an approval was asked for or decided.
    pub approvals_changed: RwSignal<u32>,
    /// The record versions this device last pinned for the account, and whether a
    /// pinning is already scheduled.
    pinned_records: std::cell::RefCell<Vec<shared::pins::RecordPin>>,
    pin_due: Cell<bool>,
    /// This user's edits that a later concurrent edit replaced, until they put theirs
    /// back or dismiss the note (kept sealed in IndexedDB).
    pub superseded: RwSignal<Vec<Superseded>>,
    /// The duplicate index and the records it was built from (by address).
    dup_cache: std::cell::RefCell<Option<(usize, Rc<DuplicateIndex>)>>,
}

pub type Ws = Rc<Workspace>;

/// The most kept versions of a record the "Earlier versions" section opens at once.
pub const KEPT_SHOWN: usize = 20;

/// One kept version of a record as the customer page lists it: its version and when
/// it was written (the server's word), and, opened here, who sealed it (as verified)
/// with what putting it back would change; or why it was refused.
#[derive(Clone)]
pub struct KeptLine {
    pub version: u64,
    pub written_ms: i64,
    pub opened: Result<(Username, Vec<KeptField>), String>,
}

/// A field that reads differently in a kept version than now (a sensitive field this
/// client holds no key for is never among them: neither value is known here).
#[derive(Clone)]
pub struct KeptField {
    pub name: String,
    pub now: Option<Value>,
    pub then: Option<Value>,
}

/// Why a kept version could not be listed, opened or put back, in the user's language.
fn kept_error(e: &SyncError) -> String {
    match e {
        SyncError::Transport(TransportError::Offline) => crate::i18n::t("versions.offline").into(),
        SyncError::Transport(TransportError::Http { status: 404, .. }) => crate::i18n::t("versions.gone").into(),
        SyncError::Crypto(_) => crate::i18n::t("versions.refused").into(),
        SyncError::NotAllowed(m) if m.starts_with("only a version older") => {
            crate::i18n::t("versions.not_older").into()
        }
        e => crate::error::sync_error(e),
    }
}

/// What the admin's alert list shows of a `shared::api::Alert` (serde skips the rest:
/// a smaller reader in the .wasm than the full type's).
#[derive(serde::Deserialize, Clone)]
pub struct AlertLine {
    pub line: String,
}
#[derive(serde::Deserialize)]
struct Lean<T> {
    alerts: Vec<T>,
}

/// What the set-up takes of `shared::api::TotpSetup`: the key (the QR code is drawn
/// from it on this device).
#[derive(serde::Deserialize)]
pub struct TotpLines {
    pub secret: String,
}

/// What the device list shows of `shared::api::DeviceList`.
#[derive(serde::Deserialize, Clone)]
pub struct DeviceLines {
    pub devices: Vec<DeviceLine>,
    pub two_factor: bool,
}
#[derive(serde::Deserialize, Clone)]
pub struct DeviceLine {
    pub id: String,
    pub device: String,
    pub last_seen_ms: i64,
    pub current: bool,
}

/// Records queued for re-encryption per round (each round is pushed before the next).
const REENCRYPT_BATCH: usize = 2_000;
/// Changed records taken into the index between two yields to the page.
const REFRESH_SLICE: usize = 2_000;
/// Records a pass that only reads them (to leave out the deleted ones, say) takes
/// between two yields to the page: 10,000 is a few milliseconds.
const BULK_SLICE: usize = 10_000;

/// Where the replaced-edit notes are kept (sealed under the vault key).
const SUPERSEDED_KEY: &str = "superseded";

/// How long syncing must be quiet before the replica cache is rewritten.
const CACHE_QUIET_MS: f64 = 1_000.0;

/// The history entry for an edit of an existing record (`before`, as the user saw
/// it): which fields change, from what to what. Only for a customer or a record of
/// one; history entries themselves have none.
fn history_entry(record: RecordId, before: &RecordDoc, fields: &[(String, Option<Value>)]) -> Option<Change> {
    let customer = match EntityKind::of(before)? {
        EntityKind::Customer => record.to_string(),
        EntityKind::Change => return None,
        _ => before.text(field::CUSTOMER)?.to_owned(),
    };
    Change::between(&customer, &record.to_string(), before, fields, now() as i64)
}

fn is_customer(d: &RecordDoc) -> bool {
    d.text(field::KIND) == Some(shared::domain::EntityKind::Customer.as_str())
}

fn now() -> f64 {
    js_sys::Date::now()
}

/// Resolves once the page has drawn its next frame (or after 100 ms: a hidden tab draws
/// none).
pub async fn after_next_frame() {
    use wasm_bindgen::{closure::Closure, JsCast};
    let Some(window) = web_sys::window() else { return };
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        let (w, later) = (window.clone(), resolve.clone());
        let drawn = Closure::once_into_js(move || {
            let _ = w.set_timeout_with_callback(later.unchecked_ref());
        });
        let _ = window.request_animation_frame(drawn.unchecked_ref());
        let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(resolve.unchecked_ref(), 100);
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}

/// Why [`Workspace::open`] did not open the workspace.
pub enum OpenError {
    /// The account is in no team yet: the app offers to join one or start one.
    NoTeam(Unlocked),
    /// Anything else, said for the user, with the unlocked account while it is usable.
    Failed(String, Option<Unlocked>),
}

impl Workspace {
    /// Open the team workspace for an unlocked account (offline works from the cache).
    pub async fn open(mut unlocked: Unlocked, create_team: bool) -> Result<Ws, OpenError> {
        let t0 = now();
        let team = match unlocked.ensure_team(create_team).await {
            Ok(Some(t)) => t,
            Ok(None) => return Err(OpenError::NoTeam(unlocked)),
            Err(e) => return Err(OpenError::Failed(e, Some(unlocked))),
        };
        let session = match unlocked.session(team).await {
            Ok(s) => s,
            Err(e) => return Err(OpenError::Failed(e, Some(unlocked))),
        };
        let me = unlocked.account.username.clone();
        let team_view = TeamView::of(&session);
        let download = RwSignal::new(None);
        let transport = HttpTransport { api: unlocked.api.clone(), team, download };
        let store = match crate::store::open(&crate::store::db_name(me.as_str())).await {
            Ok(s) => s,
            Err(e) => return Err(OpenError::Failed(e.to_string(), Some(unlocked))),
        };
        let t1 = now();
        let mut syncer = match Syncer::open_cached_with(session, store, transport, BrowserCompute).await {
            Ok(s) => s,
            Err(e) => return Err(OpenError::Failed(e.to_string(), Some(unlocked))),
        };
        // With a replica cache, the list shows at once from it and the stored
        // ciphertext is read in the background (the engine waits for that); without one
        // (a first unlock on this device, or a cache of an older format), it is read now.
        let reading_in_background = syncer.shows_cached();
        if !reading_in_background {
            if let Err(e) = syncer.verify_stored().await {
                return Err(OpenError::Failed(e.to_string(), Some(unlocked)));
            }
        }
        // The versions the account's devices held: the server may not serve older.
        if let Some(pins) = unlocked.local_pins().await {
            if let Some(t) = pins.team(team) {
                syncer.set_record_pins(&t.records);
            }
        }
        let ws = Rc::new(Workspace {
            me,
            team_id: team,
            team: RwSignal::new(team_view),
            unlocked: Rc::new(unlocked),
            index: RwSignal::new(Index::default()),
            status: RwSignal::new(SyncStatus { online: true, ..Default::default() }),
            reencryption: RwSignal::new(EpochProgress::default()),
            download,
            shredded_before: Cell::new(1),
            syncer: Mutex::new(syncer),
            chain_writer: Mutex::new(()),
            sync_queued: Cell::new(false),
            stopped: Cell::new(false),
            last_sync_end: Cell::new(now()),
            audit_flushing: Cell::new(false),
            admitting: Cell::new(false),
            audit_queue: Default::default(),
            audit_stream: Default::default(),
            approvals_changed: RwSignal::new(0),
            asking_approval: Cell::new(false),
            pinned_records: Default::default(),
            pin_due: Cell::new(false),
            superseded: RwSignal::new(Vec::new()),
            dup_cache: Default::default(),
        });
        let t2 = now();
        ws.superseded.set(ws.load_superseded().await);
        ws.refresh().await;
        // Timings only (never names or keys): what benchmarks and users can read.
        web_sys::console::info_1(
            &format!(
                "quietdesk timing: team and keys {} ms, engine {} ms ({}), index {} ms",
                (t1 - t0) as u64,
                (t2 - t1) as u64,
                if reading_in_background { "from the cache; ciphertext read after" } else { "ciphertext read" },
                (now() - t2) as u64
            )
            .into(),
        );
        if reading_in_background {
            // Spawned before anything else can ask for the engine, so it is the first to
            // hold it: no edit, sync or setting read runs on the cached records alone.
            let later = ws.clone();
            leptos::task::spawn_local(async move {
                let mut engine = later.syncer.lock().await;
                // The read waits for the first page to be drawn, not the other way round.
                after_next_frame().await;
                let read = engine.verify_stored().await;
                drop(engine);
                match read {
                    Ok(()) => {
                        later.refresh().await;
                        later.note_new_device().await;
                        later.start_background();
                    }
                    Err(e) => later.status.update(|st| st.error = Some(crate::error::sync_error(&e))),
                }
            });
        } else {
            ws.note_new_device().await;
            ws.start_background();
        }
        Ok(ws)
    }

    /// Bring the index up to date with the records that changed since the last call.
    async fn refresh(&self) {
        let mut s = self.syncer.lock().await;
        let dirty = std::mem::take(&mut s.replica.dirty);
        // Edits the user made, not the history entries written beside them (an entry is
        // written once, its kind first, in one outbox entry).
        let history = Some(Value::Text(EntityKind::Change.as_str().into()));
        let pending = s
            .replica
            .outbox
            .iter()
            .filter(|op| !op.edits.iter().any(|e| e.field == field::KIND && e.state.value == history))
            .count();
        let refused: Vec<String> = s
            .refused
            .values()
            .map(|r| {
                let (signer, named) = (r.signer.to_string(), r.named.to_string());
                let field = crate::i18n::field_label(&r.field);
                match r.reason {
                    RefusalReason::InAnothersName => crate::i18n::tf(
                        "sync.refused_field",
                        &[("signer", &signer), ("field", &field), ("named", &named)],
                    ),
                    RefusalReason::StampedAhead { at_ms } => {
                        let when = crate::i18n::date_time(at_ms as f64);
                        crate::i18n::tf(
                            "sync.refused_ahead",
                            &[("signer", &signer), ("field", &field), ("when", &when)],
                        )
                    }
                    RefusalReason::SpentCounter => {
                        crate::i18n::tf("sync.refused_counter", &[("signer", &signer), ("field", &field)])
                    }
                    RefusalReason::NotAnAdmin => crate::i18n::tf("sync.refused_settings", &[("signer", &signer)]),
                    RefusalReason::AfterLeaving => {
                        crate::i18n::tf("sync.refused_after_leaving", &[("signer", &signer)])
                    }
                    RefusalReason::CreatedInAnothersName => {
                        crate::i18n::tf("sync.refused_created", &[("signer", &signer), ("named", &named)])
                    }
                    RefusalReason::OlderSensitive => {
                        crate::i18n::tf("sync.refused_older_sensitive", &[("signer", &signer)])
                    }
                }
            })
            .chain(s.rolled_back.iter().map(|(id, (served, pinned))| {
                let name = s.replica.records.get(id).and_then(|r| r.view.text(field::NAME)).unwrap_or_default();
                let (served, pinned) = (served.to_string(), pinned.to_string());
                crate::i18n::tf("sync.rolled_back", &[("name", &name), ("served", &served), ("pinned", &pinned)])
            }))
            .chain(s.moved_away.values().map(|m| crate::i18n::tf("sync.moved_away", &[("signer", &m.signer)])))
            .chain(
                s.freshness()
                    .filter(shared::beacon::Freshness::lapsed)
                    .map(|f| crate::i18n::tf("sync.unconfirmed", &[("n", &f.hours())])),
            )
            .chain(s.unknown_heads.values().map(|u| {
                let (n, count) = (u.head.len, u.refused.len());
                crate::i18n::tf("sync.unknown_head", &[("signer", &u.signer), ("n", &n), ("count", &count)])
            }))
            .collect();
        if !dirty.is_empty() && dirty.len() * 2 >= s.replica.records.len() {
            // Most records changed (an unlock, a first sync, a re-encryption): the index
            // is built again from the replica in one pass, the records' map in bulk (it
            // comes in record order) instead of a copy edited record by record.
            // Read a slice at a time (100,000 records held the page ~45 ms at once).
            let mut live = Vec::with_capacity(s.replica.records.len());
            let mut signers = BTreeMap::new();
            for (i, (id, r)) in s.replica.records.iter().enumerate() {
                if i % BULK_SLICE == BULK_SLICE - 1 {
                    crate::compute::yield_now().await;
                }
                if !r.view.is_deleted() {
                    live.push((*id, r.view.clone()));
                    if let Some(signer) = signed_by_another(r) {
                        signers.insert(*id, signer.clone());
                    }
                }
            }
            drop(s);
            // In record order already: built in bulk.
            let records: BTreeMap<RecordId, Arc<RecordDoc>> = live.into_iter().collect();
            // A re-encryption changes every record's sealing, not its fields: the entries
            // of unchanged customers keep their search text.
            let old = self.index.get_untracked();
            let kept: std::collections::HashMap<RecordId, &CustomerEntry> =
                old.customers.iter().map(|c| (c.id, c)).collect();
            let mut customers = Vec::new();
            let mut choices = Choices::default();
            for (i, (id, doc)) in records.iter().filter(|(_, d)| is_customer(d)).enumerate() {
                if i % REFRESH_SLICE == REFRESH_SLICE - 1 {
                    crate::compute::yield_now().await;
                }
                customers.push(match kept.get(id) {
                    Some(was) if was.doc == *doc => was.resealed(doc),
                    _ => {
                        let entry = CustomerEntry::of(*id, doc);
                        // Worked out here, a slice at a time, once there is a list
                        // already (an import's batches taken in at once): after an
                        // unlock, the list shows first and the text follows.
                        if !kept.is_empty() {
                            entry.text();
                        }
                        entry
                    }
                });
                choices.count(doc, true);
            }
            drop(kept);
            crate::compute::yield_now().await;
            customers.sort_unstable_by(|a, b| a.order().cmp(&b.order()));
            self.index.set(Index {
                records: Arc::new(records),
                customers: Arc::new(customers),
                choices: Arc::new(choices),
                signers: Arc::new(signers),
                ..Index::default()
            });
        } else if !dirty.is_empty() {
            let old = self.index.get_untracked();
            let mut records = (*old.records).clone();
            let mut customers_changed = false;
            let mut fresh: Vec<CustomerEntry> = Vec::new();
            let mut choices = (*old.choices).clone();
            let mut signers = old.signers.clone();
            for (i, id) in dirty.iter().enumerate() {
                // A first sync or a re-encryption changes every record: the page draws
                // between slices of the index's rebuild (the engine stays locked).
                if i % REFRESH_SLICE == REFRESH_SLICE - 1 {
                    crate::compute::yield_now().await;
                }
                let was = old.records.get(id).filter(|d| is_customer(d));
                let was_customer = was.is_some();
                if let Some(d) = was {
                    choices.count(d, false);
                }
                let live = s.replica.records.get(id).filter(|r| !r.view.is_deleted());
                let signer = live.and_then(signed_by_another);
                if signers.get(id) != signer {
                    let map = Arc::make_mut(&mut signers);
                    match signer {
                        Some(signer) => map.insert(*id, signer.clone()),
                        None => map.remove(id),
                    };
                }
                match live {
                    Some(r) => {
                        let doc = r.view.clone();
                        if is_customer(&doc) {
                            let entry = CustomerEntry::of(*id, &doc);
                            // Worked out now, a batch at a time: after an import, the
                            // first keystroke only lays the texts end to end.
                            entry.text();
                            fresh.push(entry);
                            choices.count(&doc, true);
                            customers_changed = true;
                        }
                        customers_changed |= was_customer;
                        records.insert(*id, doc);
                    }
                    None => {
                        customers_changed |= was_customer;
                        records.remove(id);
                    }
                }
            }
            drop(s);
            let (customers, search, laying) = if customers_changed {
                // The kept entries are already in order: sort only the changed ones and
                // place each where it belongs (found by halving), copying the kept
                // entries in between: a 500-row import batch into 100,000 customers
                // compares a few thousand names, not 100,000.
                let gone: HashSet<RecordId> =
                    dirty.iter().filter(|id| old.records.get(id).is_some_and(|d| is_customer(d))).copied().collect();
                let (list, steps) = merged(&old.customers, &gone, fresh);
                // The old list's buffer, if laid, is copied in runs (a few milliseconds
                // at 100,000, where laying it afresh takes tens): a keystroke after
                // each import batch finds it laid.
                let search = match old.search.get() {
                    Some(buffer) => Arc::new(OnceLock::from(spliced(buffer, &steps, &list))),
                    None => Arc::default(),
                };
                (Arc::new(list), search, Arc::default())
            } else {
                (old.customers.clone(), old.search.clone(), old.laying.clone())
            };
            let choices = if choices == *old.choices { old.choices.clone() } else { Arc::new(choices) };
            self.index.set(Index { records: Arc::new(records), customers, search, laying, choices, signers });
        } else {
            drop(s);
        }
        self.status.update(|st| {
            st.pending = pending;
            st.refused = refused;
        });
    }

    /// Read the team's settings record with whoever signed its current version (this
    /// admin's own unsent edit counts as theirs) and the verified team: every team
    /// setting is honoured only under an admin's signature.
    async fn with_settings<T>(
        self: &Rc<Self>,
        read: impl FnOnce(Option<&RecordDoc>, Option<&shared::ids::Username>, &shared::chain::TeamState) -> T,
    ) -> T {
        let s = self.syncer.lock().await;
        let team = &s.session.team;
        let id = settings_record(team.team);
        let pending = s.replica.outbox.iter().any(|p| p.record == id);
        let record = s.replica.records.get(&id);
        let signer = if pending { Some(&s.session.me) } else { record.and_then(|r| r.signer.as_ref()) };
        read(record.map(|r| &*r.view), signer, team)
    }

    /// Write team settings (the settings record, `shared::team::settings_record`): every
    /// client honours them only under an admin's signature (see [`Self::with_settings`]).
    pub async fn edit_settings(self: &Rc<Self>, fields: Vec<(String, Option<Value>)>) -> Result<(), String> {
        let mut writes = vec![(shared::domain::field::KIND.to_owned(), Some(Value::Text("settings".into())))];
        writes.extend(fields);
        self.edit(settings_record(self.team_id), writes).await
    }

    /// The team's custom fields (see `shared::custom::definitions`).
    pub async fn custom_fields(self: &Rc<Self>) -> Vec<shared::custom::FieldDef> {
        self.with_settings(shared::custom::definitions).await
    }

    /// The team's pipelines (see `shared::pipeline::pipelines`).
    pub async fn pipelines(self: &Rc<Self>) -> Vec<shared::pipeline::Pipeline> {
        self.with_settings(shared::pipeline::pipelines).await
    }

    /// The customer pool's rules (see `shared::pool::rules`).
    pub async fn pool_rules(self: &Rc<Self>) -> shared::pool::Rules {
        self.with_settings(shared::pool::rules).await
    }

    /// Write fields of a record (new or existing). Durable in IndexedDB before it returns.
    /// Every edit is audited (who created, changed or deleted which fields of what).
    pub async fn edit(self: &Rc<Self>, record: RecordId, fields: Vec<(String, Option<Value>)>) -> Result<(), String> {
        let before = self.index.get_untracked().doc(&record);
        let audited = fields.clone();
        let history = before.as_ref().and_then(|b| history_entry(record, b, &fields));
        {
            let mut s = self.syncer.lock().await;
            let mut edits = vec![(record, fields)];
            edits.extend(history.map(|h| (RecordId::random(), h.to_fields())));
            s.edit_many(edits, now() as u64).await.map_err(|e| crate::error::sync_error(&e))?;
        }
        self.refresh().await;
        self.audit_edit(record, &audited, before);
        self.request_sync();
        Ok(())
    }

    /// Write many new or changed records in one durable step (an import). No sync is
    /// started: the caller batches, then calls [`Workspace::request_sync`] once, so the
    /// upload runs after the import instead of competing with it for the engine.
    pub async fn edit_many(self: &Rc<Self>, edits: Vec<shared::sync::RecordEdit>) -> Result<(), String> {
        {
            let mut s = self.syncer.lock().await;
            s.edit_many(edits, now() as u64).await.map_err(|e| crate::error::sync_error(&e))?;
        }
        self.refresh().await;
        Ok(())
    }

    /// Change many existing records at once (a bulk action), each with its history entry
    /// as a single edit writes: one durable step, then one sync.
    pub async fn edit_existing(self: &Rc<Self>, edits: Vec<shared::sync::RecordEdit>) -> Result<(), String> {
        let index = self.index.get_untracked();
        let history: Vec<_> = edits
            .iter()
            .filter_map(|(id, fields)| history_entry(*id, index.records.get(id)?, fields))
            .map(|h| (RecordId::random(), h.to_fields()))
            .collect();
        self.edit_many(edits.into_iter().chain(history).collect()).await?;
        self.request_sync();
        Ok(())
    }

    /// The duplicate index over the customers as they are now (rebuilt only when the
    /// records changed since it was last built).
    pub fn duplicate_index(&self) -> Rc<DuplicateIndex> {
        let index = self.index.get_untracked();
        if let Some(cached) = self.cached_duplicate_index(&index) {
            return cached;
        }
        let built = Rc::new(DuplicateIndex::build(
            index.records.iter().filter(|(_, d)| is_customer(d)).map(|(id, d)| (id, &**d)),
        ));
        *self.dup_cache.borrow_mut() = Some((Arc::as_ptr(&index.records) as usize, built.clone()));
        built
    }

    /// [`Workspace::duplicate_index`] built a slice of customers at a time, the page
    /// drawing in between (100,000 customers' keys take the page for 0.4 s in one go).
    pub async fn duplicate_index_sliced(&self) -> Rc<DuplicateIndex> {
        let index = self.index.get_untracked();
        if let Some(cached) = self.cached_duplicate_index(&index) {
            return cached;
        }
        let mut built = DuplicateIndex::default();
        for (i, (id, doc)) in index.records.iter().filter(|(_, d)| is_customer(d)).enumerate() {
            if i % REFRESH_SLICE == REFRESH_SLICE - 1 {
                crate::compute::yield_now().await;
            }
            built.add(*id, doc);
        }
        let built = Rc::new(built);
        *self.dup_cache.borrow_mut() = Some((Arc::as_ptr(&index.records) as usize, built.clone()));
        built
    }

    fn cached_duplicate_index(&self, index: &Index) -> Option<Rc<DuplicateIndex>> {
        let key = Arc::as_ptr(&index.records) as usize;
        self.dup_cache.borrow().as_ref().filter(|(k, _)| *k == key).map(|(_, d)| d.clone())
    }

    /// Merge customer `other` into `survivor` with the fields chosen: one durable step
    /// (the survivor's fields, every record of the other's moved, the other deleted),
    /// synced like any edit and audited. Refused where this device cannot open both
    /// customers whole (a sensitive part it holds no key for would be lost).
    pub async fn merge(
        self: &Rc<Self>,
        survivor: RecordId,
        other: RecordId,
        choices: &BTreeMap<String, Side>,
    ) -> Result<(), String> {
        let index = self.index.get_untracked();
        let (Some(s_doc), Some(o_doc)) = (index.records.get(&survivor), index.records.get(&other)) else {
            return Err(crate::i18n::t("merge.gone").into());
        };
        {
            let s = self.syncer.lock().await;
            let whole = |id| s.replica.records.get(id).is_some_and(|r| r.complete);
            if !whole(&survivor) || !whole(&other) {
                return Err(crate::i18n::t("merge.no_keys").into());
            }
        }
        let (from, to) = (other.to_string(), survivor.to_string());
        let linked: Vec<(RecordId, &RecordDoc)> = index
            .records
            .iter()
            .filter(|(_, d)| d.text(field::CUSTOMER) == Some(from.as_str()))
            .map(|(id, d)| (*id, &**d))
            .collect();
        let edits = merge_edits((survivor, s_doc), (other, o_doc), choices, &linked);
        let moved = linked.len();
        let mut all = edits;
        if let Some(h) =
            history_entry(survivor, s_doc, all.first().filter(|(id, _)| *id == survivor).map_or(&[][..], |(_, f)| f))
        {
            all.push((RecordId::random(), h.to_fields()));
        }
        {
            let mut s = self.syncer.lock().await;
            s.edit_many(all, now() as u64).await.map_err(|e| crate::error::sync_error(&e))?;
        }
        self.refresh().await;
        let detail = format!("merge: customer {from} into {to}, {moved} records moved");
        let ws = self.clone();
        spawn_local(async move { ws.audit(AuditAction::Edit, Some(survivor), Some(other), detail).await });
        self.request_sync();
        Ok(())
    }

    /// Mark a record deleted (a tombstone that syncs like any edit).
    pub async fn delete(self: &Rc<Self>, record: RecordId) -> Result<(), String> {
        self.edit(record, vec![(shared::record::DELETED.into(), Some(Value::Bool(true)))]).await
    }

    /// Ask for a sync soon; coalesces bursts of requests into one run.
    pub fn request_sync(self: &Rc<Self>) {
        if self.sync_queued.replace(true) {
            return;
        }
        let ws = self.clone();
        spawn_local(async move {
            ws.sync_now().await;
        });
    }

    pub async fn sync_now(self: &Rc<Self>) {
        self.sync_queued.set(false);
        if self.stopped.get() {
            return;
        }
        self.status.update(|s| s.syncing = true);
        let mut result = {
            let mut s = self.syncer.lock().await;
            s.sync().await
        };
        // The team moved to a new key epoch (a removal or rotation): fetch the new
        // keys, then seal again under them.
        // Or the chain is at an epoch whose keys this device has not got yet: ask for
        // them once; if they still do not come, the edits wait and the status says why.
        // Or another member wrote on a newer chain than this device holds: re-read it.
        let behind = matches!(&result, Err(SyncError::AwaitingKeys(_)))
            || matches!(&result, Err(SyncError::ChainDoubt(shared::sync::ChainDoubt::Behind { .. })))
            || matches!(&result, Err(SyncError::Transport(TransportError::Http { code, .. })) if code == "stale_epoch");
        if behind && self.refresh_session().await.is_ok() {
            let mut s = self.syncer.lock().await;
            result = s.sync().await;
        }
        // Signed out remotely (a lost device): the one place that acts on it.
        let mut kept_after_wipe = None;
        if let Err(SyncError::Transport(TransportError::DeviceWiped(order))) = &result {
            if let crate::account::WipeOutcome::Kept(why) = self.unlocked.on_device_wiped(order.as_deref()).await {
                self.stopped.set(true);
                kept_after_wipe = Some(why);
            }
        }
        // A download the engine broke off (an error) is not under way any more.
        if self.download.get_untracked().is_some() {
            self.download.set(None);
        }
        self.refresh().await;
        self.last_sync_end.set(now());
        self.take_superseded().await;
        if result.is_ok() {
            self.flush_audit().await;
            self.schedule_record_pins();
        }
        // Too many deletions for the server to take unapproved: ask, wait, go on.
        let needs_approval = matches!(&result,
            Err(SyncError::Transport(TransportError::Http { code, .. })) if code == "approval_required");
        if needs_approval && !self.asking_approval.replace(true) {
            let ws = self.clone();
            spawn_local(async move { ws.approve_deletions().await });
        }
        self.status.update(|s| {
            s.syncing = false;
            match result {
                Ok(_) => {
                    s.online = true;
                    s.error = None;
                    s.notice = None;
                    s.last_synced = Some(now());
                }
                Err(SyncError::Transport(TransportError::Offline)) => {
                    s.online = false;
                    s.error = None;
                }
                Err(e) => {
                    s.online = true;
                    s.error = Some(kept_after_wipe.unwrap_or_else(|| crate::error::sync_error(&e)));
                }
            }
        });
    }

    async fn load_superseded(&self) -> Vec<Superseded> {
        let Ok(Some(sealed)) = self.unlocked.store.meta(SUPERSEDED_KEY).await else { return Vec::new() };
        let lines: Vec<String> = open_blob(self.unlocked.identity.vault_key(), SUPERSEDED_KEY.as_bytes(), &sealed)
            .ok()
            .and_then(|plain| serde_json::from_slice(&plain).ok())
            .unwrap_or_default();
        lines.iter().filter_map(|l| Superseded::from_line(l)).collect()
    }

    async fn save_superseded(&self) {
        let lines: Vec<String> = self.superseded.with_untracked(|all| all.iter().map(Superseded::to_line).collect());
        let plain = serde_json::to_vec(&lines).unwrap_or_default();
        let sealed = seal_blob(self.unlocked.identity.vault_key(), SUPERSEDED_KEY.as_bytes(), &plain);
        if let Err(e) = self.unlocked.store.set_meta(SUPERSEDED_KEY, &sealed).await {
            web_sys::console::warn_1(&format!("quietdesk: replaced edits not saved: {e}").into());
        }
    }

    /// Take the edits the last sync found replaced by someone else's, keep them (a note
    /// per field, the newest replacing an older one) and say so.
    async fn take_superseded(&self) {
        let lost = std::mem::take(&mut self.syncer.lock().await.superseded);
        if lost.is_empty() {
            return;
        }
        for l in &lost {
            let what = crate::i18n::field_label(&l.field);
            let key = if l.former { "history.left" } else { "history.replaced" };
            crate::toast(&crate::i18n::tf(key, &[("field", &what), ("who", &l.by.to_string())]));
        }
        self.superseded.update(|all| {
            for l in lost {
                all.retain(|o| (o.record, &o.field) != (l.record, &l.field));
                all.push(l);
            }
        });
        self.save_superseded().await;
    }

    /// Put the user's replaced value back (an ordinary edit, newer than the one that
    /// replaced it) and drop the note. For a change by someone who has left the team
    /// ([`Superseded::former`]), the value before it, whoever wrote it.
    pub async fn put_back(self: &Rc<Self>, note: &Superseded) -> Result<(), String> {
        self.edit(note.record, vec![(note.field.clone(), note.mine.clone())]).await?;
        self.dismiss_superseded(note).await;
        Ok(())
    }

    pub async fn dismiss_superseded(&self, note: &Superseded) {
        self.superseded.update(|all| all.retain(|o| o != note));
        self.save_superseded().await;
    }

    /// The earlier versions of `record` the server keeps (issue 31, item 12), newest
    /// first, at most [`KEPT_SHOWN`]: each opened as a pulled version is (its signer as
    /// the verified chain lets it seal, its signature holding) and compared with the
    /// record as it is now. A version that does not open is listed with why. Also the
    /// team's retention in days.
    pub async fn kept_versions(&self, record: RecordId) -> Result<(Vec<KeptLine>, u32), String> {
        let s = self.syncer.lock().await;
        let list = s.kept_versions(record).await.map_err(|e| kept_error(&e))?;
        let current = s.replica.records.get(&record).map(|l| l.view.clone()).unwrap_or_default();
        let mut lines = Vec::new();
        for info in list.versions.into_iter().take(KEPT_SHOWN) {
            let opened = s.open_kept(record, info.version).await.map_err(|e| kept_error(&e)).map(|kept| {
                let differs = shared::sync::history::restoring(&kept, &current)
                    .into_iter()
                    .map(|(name, then)| (current.get(&name).cloned(), then, name))
                    .map(|(now, then, name)| KeptField { name, now, then })
                    .collect();
                (kept.writer, differs)
            });
            lines.push(KeptLine { version: info.version, written_ms: info.written_ms, opened });
        }
        Ok((lines, list.retention_days))
    }

    /// Put `version` of `record` back as this user's edit (the engine's
    /// `Syncer::put_back`: it must open and verify as a pulled version does), with
    /// the history entry and audit any edit has; it syncs like one. How many fields
    /// changed.
    pub async fn put_back_version(self: &Rc<Self>, record: RecordId, version: u64) -> Result<usize, String> {
        let before = self.index.get_untracked().doc(&record);
        let changed = {
            let mut s = self.syncer.lock().await;
            s.put_back(record, version, now() as u64).await.map_err(|e| kept_error(&e))?
        };
        if changed == 0 {
            return Ok(0);
        }
        self.refresh().await;
        let after = self.index.get_untracked().doc(&record).unwrap_or_default();
        let old = before.clone().unwrap_or_default();
        let names: std::collections::BTreeSet<&String> = old.fields.keys().chain(after.fields.keys()).collect();
        let fields: Vec<(String, Option<Value>)> = names
            .into_iter()
            .filter(|f| old.get(f) != after.get(f))
            .map(|f| (f.clone(), after.get(f).cloned()))
            .collect();
        if let Some(h) = before.as_ref().and_then(|b| history_entry(record, b, &fields)) {
            let mut s = self.syncer.lock().await;
            s.edit_many(vec![(RecordId::random(), h.to_fields())], now() as u64)
                .await
                .map_err(|e| crate::error::sync_error(&e))?;
        }
        self.refresh().await;
        self.audit_edit(record, &fields, before);
        self.request_sync();
        Ok(changed)
    }

    /// Pin, for the account's other and future devices, the versions of the records
    /// this device saw change most recently (a few seconds after a sync, so a burst of
    /// edits is one write). Pins only go up: after a restore, the engine puts records
    /// back above every version the account saw (`shared::sync::PendingEdit::above`).
    fn schedule_record_pins(self: &Rc<Self>) {
        if self.pin_due.replace(true) {
            return;
        }
        let ws = self.clone();
        spawn_local(async move {
            gloo_timers::future::TimeoutFuture::new(3_000).await;
            ws.pin_due.set(false);
            let recent = ws.syncer.lock().await.recent_versions();
            if recent.is_empty() || *ws.pinned_records.borrow() == recent {
                return;
            }
            let Some(mut pins) = ws.unlocked.local_pins().await else { return };
            if pins.note_records(ws.team_id, &recent) {
                pins.version += 1;
                if let Err(e) = ws.unlocked.store_pins(pins).await {
                    web_sys::console::warn_1(&format!("quietdesk: record pins not stored: {e}").into());
                    return;
                }
            }
            *ws.pinned_records.borrow_mut() = recent;
        });
    }

    fn start_background(self: &Rc<Self>) {
        self.request_sync();
        // Reminders: a browser notification when a task falls due, if the user allowed it.
        let ws = self.clone();
        spawn_local(async move {
            let mut told = std::collections::HashSet::new();
            while !ws.stopped.get() {
                ws.remind(&mut told);
                gloo_timers::future::TimeoutFuture::new(20_000).await;
            }
        });
        // Freshness beacons (admins only): the chain head this device verified, signed,
        // every few minutes while online (see shared::beacon).
        let ws = self.clone();
        spawn_local(async move {
            while !ws.stopped.get() {
                ws.publish_beacon().await;
                gloo_timers::future::TimeoutFuture::new(shared::beacon::PUBLISH_EVERY_MS as u32).await;
            }
        });
        // Re-encryption after a removal or rotation (admins only), then shredding.
        let ws = self.clone();
        spawn_local(async move {
            while !ws.stopped.get() {
                ws.reencrypt().await;
                gloo_timers::future::TimeoutFuture::new(3_000).await;
            }
        });
        // The customers' search buffer, laid in the background once the list has not
        // changed for half a second (after an import, say), so that the first keystroke
        // on the list does not lay it.
        let ws = self.clone();
        spawn_local(async move {
            let mut seen = None;
            while !ws.stopped.get() {
                gloo_timers::future::TimeoutFuture::new(500).await;
                let idx = ws.index.get_untracked();
                let now = Arc::as_ptr(&idx.search) as usize;
                if seen == Some(now) {
                    let index = ws.index;
                    idx.prepare_search(|i| index.try_with_untracked(|shown| shown.is(i)).unwrap_or(false)).await;
                }
                seen = Some(now);
            }
        });
        // The replica cache, once syncing has been quiet for a second (not while a
        // sync runs: it would wait for the engine, and take it before the list is
        // drawn from what the sync brought).
        let ws = self.clone();
        spawn_local(async move {
            while !ws.stopped.get() {
                gloo_timers::future::TimeoutFuture::new(1_000).await;
                let syncing = ws.status.with_untracked(|s| s.syncing);
                if !syncing && !ws.sync_queued.get() && now() - ws.last_sync_end.get() >= CACHE_QUIET_MS {
                    ws.save_cache().await;
                }
            }
        });
        // Fallback timer.
        let ws = self.clone();
        spawn_local(async move {
            while !ws.stopped.get() {
                gloo_timers::future::TimeoutFuture::new(30_000).await;
                ws.request_sync();
            }
        });
        // Pokes over the websocket; reconnect with a pause when it drops.
        let ws = self.clone();
        spawn_local(async move {
            while !ws.stopped.get() {
                ws.listen_for_pokes().await;
                gloo_timers::future::TimeoutFuture::new(5_000).await;
            }
        });
        // The browser says the network is back.
        let ws = self.clone();
        let on_online = wasm_bindgen::closure::Closure::<dyn Fn()>::new(move || ws.request_sync());
        if let Some(w) = web_sys::window() {
            let _ =
                w.add_event_listener_with_callback("online", wasm_bindgen::JsCast::unchecked_ref(on_online.as_ref()));
            let ws_off = self.clone();
            let on_offline =
                wasm_bindgen::closure::Closure::<dyn Fn()>::new(move || ws_off.status.update(|s| s.online = false));
            let _ =
                w.add_event_listener_with_callback("offline", wasm_bindgen::JsCast::unchecked_ref(on_offline.as_ref()));
            on_offline.forget();
        }
        on_online.forget();
    }

    async fn listen_for_pokes(self: &Rc<Self>) {
        use futures::SinkExt;
        use gloo_net::websocket::{futures::WebSocket, Message};
        let Some(token) = self.unlocked.api.token() else {
            return;
        };
        // The API's origin (configured, or the page's), as a websocket origin.
        let origin = match crate::api::api_base() {
            base if !base.is_empty() => base,
            _ => match web_sys::window().and_then(|w| w.location().origin().ok()) {
                Some(o) => o,
                None => return,
            },
        };
        let origin = origin.replacen("https://", "wss://", 1).replacen("http://", "ws://", 1);
        let team = self.unlocked.account.team.map(|t| t.to_string()).unwrap_or_default();
        let url = format!("{origin}{}", path::fill(path::EVENTS, &team));
        let Ok(socket) = WebSocket::open(&url) else {
            return;
        };
        let (mut tx, mut rx) = socket.split();
        let auth = serde_json::to_string(&ClientEvent::Auth { token }).unwrap_or_default();
        if tx.send(Message::Text(auth)).await.is_err() {
            return;
        }
        while let Some(Ok(Message::Text(text))) = rx.next().await {
            if self.stopped.get() {
                return;
            }
            match serde_json::from_slice::<ServerEvent>(text.as_bytes()) {
                Ok(ServerEvent::Poke { .. }) => self.request_sync(),
                Ok(ServerEvent::Ready { .. }) => {
                    self.request_sync();
                    // Back online: answers that came while this device was away.
                    self.admit_answered().await;
                }
                Ok(ServerEvent::Chain { .. }) => {
                    let _ = self.refresh_session().await;
                    self.request_sync();
                    // An invitation answered (the server pokes the team): add them now.
                    self.admit_answered().await;
                }
                Ok(ServerEvent::Approval) => self.approvals_changed.update(|n| *n += 1),
                _ => {}
            }
        }
    }

    fn remind(&self, told: &mut std::collections::HashSet<RecordId>) {
        use shared::domain::{Entity, EntityKind, Task};
        if web_sys::Notification::permission() != web_sys::NotificationPermission::Granted {
            return;
        }
        let now = now() as i64;
        let idx = self.index.get_untracked();
        for (id, doc) in idx.of_kind(EntityKind::Task.as_str()) {
            let Some(task) = Task::from_doc(doc) else { continue };
            // Fell due within the last week and not yet announced on this device.
            if !task.done && task.due_ms <= now && task.due_ms > now - 7 * 86_400_000 && told.insert(*id) {
                let opts = web_sys::NotificationOptions::new();
                opts.set_body(crate::i18n::t("tasks.notification"));
                opts.set_tag(&id.to_string());
                let _ = web_sys::Notification::new_with_options(&task.title, &opts);
            }
        }
    }

    /// Save the sealed replica cache if records changed since it was saved, so the next
    /// unlock opens one blob instead of every record.
    pub async fn save_cache(&self) {
        let mut s = self.syncer.lock().await;
        if s.cache_is_stale() {
            if let Err(e) = s.save_cache().await {
                web_sys::console::warn_1(&format!("replica cache not saved: {e}").into());
            }
        }
    }

    /// Stop background work (lock or log out). Keys go when the last `Rc` drops.
    pub fn stop(&self) {
        self.stopped.set(true);
        // The signature workers hold this account's signing key: it goes with them.
        crate::workers::stop();
    }
}

#[cfg(test)]
mod tests {
    use shared::hlc::{Hlc, Stamp};
    use shared::ids::Username;
    use shared::record::FieldState;
    use wasm_bindgen_test::*;

    use super::*;

    fn customer(tags: &[&str], owner: &str) -> RecordDoc {
        let stamp = Stamp { hlc: Hlc { wall_ms: 1, counter: 0 }, author: Username::parse("ann").unwrap() };
        let mut doc = RecordDoc::new();
        let tags = Value::List(tags.iter().map(|t| t.to_string()).collect());
        for (name, value) in [(field::TAGS, tags), (field::OWNER, Value::Text(owner.into()))] {
            doc.apply(name, FieldState { value: Some(value), stamp: stamp.clone() });
        }
        doc
    }

    fn named(name: &str, notes: &str) -> Arc<RecordDoc> {
        let stamp = Stamp { hlc: Hlc { wall_ms: 1, counter: 0 }, author: Username::parse("ann").unwrap() };
        let mut doc = RecordDoc::new();
        for (f, v) in [(field::NAME, name), (field::NOTES, notes)] {
            doc.apply(f, FieldState { value: Some(Value::Text(v.into())), stamp: stamp.clone() });
        }
        Arc::new(doc)
    }

    fn index_of(customers: Vec<CustomerEntry>) -> Index {
        Index { customers: Arc::new(customers), ..Index::default() }
    }

    #[wasm_bindgen_test]
    async fn search_follows_each_version_of_a_customer() {
        // The app fetches the whole table; these two syllables are all this test reads.
        shared::pinyin::load("zhang 张\nwei 伟\n");
        let (a, b) = (RecordId::random(), RecordId::random());
        let first = index_of(vec![
            CustomerEntry::of(a, &named("张伟", "met at the fair")),
            CustomerEntry::of(b, &named("Bo", "old note")),
        ]);
        assert_eq!(first.search().find("zhangwei"), vec![0]);
        assert_eq!(first.search().find("old note"), vec![1]);
        // Bo's notes change: the next index keeps 张伟's entry (and its text) and takes a
        // fresh one for Bo, whose search finds the new notes and not the old.
        let second = index_of(vec![first.customers[0].clone(), CustomerEntry::of(b, &named("Bo", "new note"))]);
        assert_eq!(second.search().find("old note"), Vec::<u32>::new());
        assert_eq!(second.search().find("new note"), vec![1]);
        assert_eq!(second.search().find("fair"), vec![0]);
        // Worked out in slices first, the buffer is the same as one laid at once.
        let third = index_of(second.customers.iter().cloned().collect());
        third.prepare_search(|_| true).await;
        assert_eq!(third.search(), second.search());
    }

    #[wasm_bindgen_test]
    fn a_changed_list_is_the_list_sorted_afresh() {
        let entry = |name: &str| CustomerEntry::of(RecordId::random(), &named(name, ""));
        let olds: Vec<CustomerEntry> = {
            let mut v: Vec<CustomerEntry> = ["ann", "bo", "bo", "cy", "dee", "eve"].into_iter().map(entry).collect();
            v.sort_unstable_by(|a, b| a.order().cmp(&b.order()));
            v
        };
        let renamed = CustomerEntry::of(olds[1].id, &named("zed", ""));
        let gone: HashSet<RecordId> = [olds[1].id, olds[4].id].into_iter().collect();
        let fresh = vec![entry("aaron"), entry("bo"), renamed, entry("fay"), entry("cy")];
        let mut want: Vec<CustomerEntry> =
            olds.iter().filter(|c| !gone.contains(&c.id)).cloned().chain(fresh.iter().cloned()).collect();
        want.sort_unstable_by(|a, b| a.order().cmp(&b.order()));
        let (got, steps) = merged(&olds, &gone, fresh);
        let ids = |v: &[CustomerEntry]| v.iter().map(|c| c.id).collect::<Vec<_>>();
        assert_eq!(ids(&got), ids(&want));
        // Its search buffer, copied from the old one's in runs, is the one laid afresh.
        let before = SearchText::build(olds.iter().map(CustomerEntry::text));
        assert_eq!(spliced(&before, &steps, &got), SearchText::build(got.iter().map(CustomerEntry::text)));
        let (same, steps) = merged(&olds, &HashSet::new(), Vec::new());
        assert_eq!(ids(&same), ids(&olds));
        assert_eq!(steps, vec![Step::Kept(0..olds.len())]);
    }

    #[wasm_bindgen_test]
    fn the_pickers_choices_follow_each_change() {
        let mut choices = Choices::default();
        let (a, b) = (customer(&["vip", "vip", "north"], "ann"), customer(&["north"], "bo"));
        choices.count(&a, true);
        choices.count(&b, true);
        assert_eq!(choices.sorted(), (vec!["north".into(), "vip".into()], vec!["ann".into(), "bo".into()]));
        // `a` loses its tags and changes owner: "vip" is no longer in use, "north" still is.
        choices.count(&a, false);
        choices.count(&customer(&[], "bo"), true);
        assert_eq!(choices.sorted(), (vec!["north".into()], vec!["bo".into()]));
        choices.count(&b, false);
        choices.count(&customer(&[], "bo"), false);
        assert_eq!(choices, Choices::default());
    }
}
