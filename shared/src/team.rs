//! Who holds which team keys, and the key wraps an admin makes to get them there.
//!
//! Roles are enforced by keys, not by the server: a role decides which collections'
//! keys, and which scopes of them, a member is wrapped ([`access`]): each member who
//! sells keeps customers in a [`portfolio`] of their own, beside the shared collection; a client opens only wraps
//! addressed to it and signed by someone the verified chain lets hand out that epoch's
//! keys ([`open_wraps`]). A removal or a rotation starts a new epoch in the chain;
//! [`rotate`] makes fresh keys for it and wraps them to the members who remain, so
//! nothing sealed afterwards opens with a removed member's keys.

use crate::api::WrapItem;
use crate::chain::{Member, Role, TeamState};
use crate::crypto::envelope::Keyring;
use crate::crypto::identity::IdentityKeys;
use crate::crypto::wrap::{unwrap_key, wrap_key, wrap_signer, WrapContext, WrapPurpose};
use crate::crypto::{Scope, SymmetricKey};
use crate::ids::{CollectionId, TeamId, Username};

/// A member's own portfolio: a collection id derived from the team and the username,
/// so every client and the server name it alike without a chain entry.
pub fn portfolio(team: TeamId, member: &Username) -> CollectionId {
    let h = crate::crypto::sha256(b"quietdesk/v1/portfolio", &[team.as_bytes(), member.as_str().as_bytes()]);
    CollectionId(h[..16].try_into().expect("16 of 32 bytes"))
}

/// Whether a role keeps customers in a portfolio of its own (support reads, it does
/// not own: its customers stay in the shared collection).
pub fn has_portfolio(role: Role) -> bool {
    role != Role::Support
}

/// The scopes of a collection a role is wrapped, as in the design: admins and managers
/// get every key; a member both keys of their own portfolio and the shared collection
/// (`own_or_shared`) and nothing of anyone else's; support the `basic` key of every
/// collection. The server checks the same table as defence in depth.
pub fn access(role: Role, own_or_shared: bool) -> &'static [Scope] {
    match role {
        Role::Admin | Role::Manager => &Scope::ALL,
        Role::Member if own_or_shared => &Scope::ALL,
        Role::Member => &[],
        Role::Support => &[Scope::Basic],
    }
}

/// [`access`] for one member and one collection of the team.
pub fn scopes_in(state: &TeamState, member: &Member, collection: CollectionId) -> &'static [Scope] {
    let own_or_shared = collection == state.shared_collection || collection == portfolio(state.team, &member.username);
    access(member.role, own_or_shared)
}

/// Whether going from `old` to `new` takes away any key (so the team needs a new
/// epoch for what is written afterwards): manager → member loses other portfolios,
/// member → support the sensitive keys, support → member the other portfolios' `basic`.
pub fn loses_access(old: Role, new: Role) -> bool {
    [true, false].into_iter().any(|own| access(old, own).iter().any(|s| !access(new, own).contains(s)))
}

/// The collections a new epoch needs keys for: every collection held so far, the
/// shared one, and the portfolio of every member who keeps one.
pub fn collections_to_key(state: &TeamState, keyring: &Keyring) -> Vec<CollectionId> {
    let mut all = keyring.collections();
    all.insert(state.shared_collection);
    all.extend(state.members.values().filter(|m| has_portfolio(m.role)).map(|m| portfolio(state.team, &m.username)));
    all.into_iter().collect()
}

/// An admin's signing identity, for making wraps.
pub struct Distributor<'a> {
    pub name: &'a Username,
    pub identity: &'a IdentityKeys,
}

impl Distributor<'_> {
    /// Seal `key` to the recipient named in `ctx`, signed by this admin. `None` for a
    /// recipient key no wrap may be sealed to (a low-order point, which the verified
    /// chain never admits) or epoch 0.
    pub fn wrap(
        &self,
        ctx: WrapContext,
        key: &SymmetricKey,
        to: &crate::crypto::identity::PublicIdentity,
    ) -> Option<WrapItem> {
        let wrap = wrap_key(key, to, &ctx, self.identity, self.name).ok()?;
        Some(WrapItem {
            epoch: ctx.epoch,
            collection: ctx.collection,
            scope: ctx.scope,
            recipient: ctx.recipient,
            wrap,
        })
    }

    /// Every key in `keyring` (all collections and epochs this admin holds) that
    /// `member`'s role entitles them to, wrapped for them: what a new member, or one
    /// whose role changed, needs to read what exists. A member who keeps a portfolio
    /// and has none keyed in the current epoch also gets one made (wrapped to everyone
    /// entitled to it).
    pub fn wraps_for_member(&self, state: &TeamState, keyring: &Keyring, member: &Member) -> Vec<WrapItem> {
        let mut out: Vec<WrapItem> = keyring
            .iter()
            .filter(|(collection, _, scope, _)| scopes_in(state, member, *collection).contains(scope))
            .filter_map(|(collection, epoch, scope, key)| {
                let ctx = WrapContext {
                    purpose: WrapPurpose::TeamKey,
                    team: state.team,
                    epoch,
                    collection,
                    scope,
                    recipient: member.username.clone(),
                };
                self.wrap(ctx, key, &member.identity)
            })
            .collect();
        let own = portfolio(state.team, &member.username);
        if has_portfolio(member.role) && keyring.get(own, state.epoch, Scope::Basic).is_none() {
            out.extend(self.rotate(state, &[own]));
        }
        out
    }

    /// Fresh keys for the chain's current epoch (`state` already includes the removal
    /// or rotation entry) for each collection, wrapped to every remaining member by
    /// role. Returns the wraps to upload; the keys themselves exist only inside them.
    pub fn rotate(&self, state: &TeamState, collections: &[CollectionId]) -> Vec<WrapItem> {
        let mut out = Vec::new();
        for &collection in collections {
            for scope in Scope::ALL {
                let key = SymmetricKey::generate();
                for m in state.members.values().filter(|m| scopes_in(state, m, collection).contains(&scope)) {
                    let ctx = WrapContext {
                        purpose: WrapPurpose::TeamKey,
                        team: state.team,
                        epoch: state.epoch,
                        collection,
                        scope,
                        recipient: m.username.clone(),
                    };
                    out.extend(self.wrap(ctx, &key, &m.identity));
                }
            }
        }
        out
    }
}

/// Open the wraps addressed to `me`: only those signed by someone the verified chain
/// lets hand out that epoch's keys; anything else (forged, swapped, from a former
/// admin after they lost the right) is skipped.
///
/// Two wraps that verify can still hold different keys for one collection, epoch and
/// scope (an admin's mistake, or a former admin wrapping a junk key for an epoch they
/// held): the server's order never decides which is kept. A current admin's wrap wins
/// over a former admin's, and a former admin who kept the right to a later epoch over
/// one who lost it sooner; between equals, the key with the lower digest
/// ([`wrap_preference`]), so every device of the member holds the same key whatever
/// order, or repeats, it is served.
pub fn open_wraps(me: &Username, identity: &IdentityKeys, state: &TeamState, wraps: &[WrapItem]) -> Keyring {
    let mut chosen: std::collections::HashMap<(CollectionId, u32, Scope), (Preference, SymmetricKey)> =
        std::collections::HashMap::new();
    for w in wraps.iter().filter(|w| &w.recipient == me) {
        let Ok(signer) = wrap_signer(&w.wrap) else { continue };
        let Some(signer_keys) = state.key_distributor(&signer, w.epoch) else { continue };
        let ctx = WrapContext {
            purpose: WrapPurpose::TeamKey,
            team: state.team,
            epoch: w.epoch,
            collection: w.collection,
            scope: w.scope,
            recipient: me.clone(),
        };
        if let Ok(k) = unwrap_key(&w.wrap, identity, &ctx, signer_keys) {
            let rank = wrap_preference(state, &signer, &k);
            let slot = (w.collection, w.epoch, w.scope);
            if chosen.get(&slot).is_none_or(|(held, _)| *held < rank) {
                chosen.insert(slot, (rank, k));
            }
        }
    }
    let mut keyring = Keyring::new();
    for ((collection, epoch, scope), (_, key)) in chosen {
        keyring.insert(collection, epoch, scope, key);
    }
    keyring
}

/// How much a verified wrap is preferred (higher wins): see [`wrap_preference`].
type Preference = (u32, std::cmp::Reverse<[u8; 32]>);

/// How much a verified wrap of `key` by `signer` is preferred: the last epoch the
/// signer may hand out keys of (a current admin: every one), then the lower digest
/// of the key.
fn wrap_preference(state: &TeamState, signer: &Username, key: &SymmetricKey) -> Preference {
    let until = if state.is_admin(signer) { u32::MAX } else { state.admin_until.get(signer).copied().unwrap_or(0) };
    (until, std::cmp::Reverse(crate::crypto::sha256(b"quietdesk/v1/wrap-preference", &[key.expose_secret()])))
}

/// The `kind` of the record an admin's incident declaration keeps its reason in (an
/// encrypted team record: the reason may name customers).
pub const INCIDENT: &str = "incident";

/// Who declared the incident `doc`, held at a version signed by `signer`: the record's
/// creator as signatures prove it ([`crate::record::creator`]: they signed the version
/// held, or their creation certificate was verified when it was taken), when the
/// verified chain names them an admin, now or formerly. Never whoever signed the
/// latest version (any member of the shared collection can edit the record), nor the
/// author a field names (a writer's word). `None` for a record that is not an
/// incident, or that no admin declared.
pub fn incident_declarer<'a>(
    doc: &'a crate::record::RecordDoc,
    signer: &'a Username,
    state: &TeamState,
) -> Option<&'a Username> {
    (doc.text(crate::domain::field::KIND) == Some(INCIDENT)).then_some(())?;
    let creator = crate::record::creator(doc, signer)?;
    (state.is_admin(creator) || state.admin_until.contains_key(creator)).then_some(creator)
}

/// The team's settings record: one per team, at an id derived from the team, in the
/// shared collection (so every member's client holds it, encrypted like any record).
pub fn settings_record(team: crate::ids::TeamId) -> crate::ids::RecordId {
    let h = crate::crypto::sha256(b"quietdesk/v1/settings-record", &[team.as_bytes()]);
    crate::ids::RecordId(h[..16].try_into().expect("16 of 32 bytes"))
}

/// The settings record's field: rotate the team keys every N days (0 or absent: never).
pub const ROTATION_DAYS: &str = "rotation_days";

/// The rotation schedule in `settings`, honoured only if an admin of the verified chain
/// signed the settings record's current version (`signer`: any member's client can
/// write the shared collection, and the author names inside fields are the signer's
/// word, so only the envelope's signature decides).
pub fn rotation_days(settings: &crate::record::RecordDoc, signer: Option<&Username>, state: &TeamState) -> u32 {
    match settings.fields.get(ROTATION_DAYS) {
        Some(f) if signer.is_some_and(|s| state.is_admin(s)) && state.is_admin(&f.stamp.author) => {
            f.value.as_ref().and_then(crate::record::Value::as_int).map_or(0, |d| d.clamp(0, 3650) as u32)
        }
        _ => 0,
    }
}

/// The settings record's field: how long, in hours, a member's client keeps sealing new
/// edits after an admin last confirmed its chain (see [`crate::beacon`]).
pub const BEACON_LEASE_HOURS: &str = "beacon_lease_hours";

/// The lease when no admin set one: 24 hours.
pub const DEFAULT_BEACON_LEASE_HOURS: u32 = 24;

/// The team's beacon lease in ms: [`BEACON_LEASE_HOURS`] as an admin of the verified
/// chain set it (as [`rotation_days`], only the settings version's signature decides),
/// between 1 hour and 30 days; [`DEFAULT_BEACON_LEASE_HOURS`] otherwise.
pub fn beacon_lease_ms(
    settings: Option<&crate::record::RecordDoc>,
    signer: Option<&Username>,
    state: &TeamState,
) -> u64 {
    let set = settings.and_then(|s| s.fields.get(BEACON_LEASE_HOURS));
    let hours = match set {
        Some(f) if signer.is_some_and(|s| state.is_admin(s)) && state.is_admin(&f.stamp.author) => {
            f.value.as_ref().and_then(crate::record::Value::as_int).map(|h| h.clamp(1, 720) as u32)
        }
        _ => None,
    };
    u64::from(hours.unwrap_or(DEFAULT_BEACON_LEASE_HOURS)) * 3_600_000
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::tests::{append, new_chain, Person};
    use crate::chain::Action;

    #[test]
    fn roles_get_their_scopes_and_a_removal_leaves_the_removed_without_new_keys() {
        let (ann, bob, sue) = (Person::new("ann"), Person::new("bob"), Person::new("sue"));
        let mut chain = new_chain(&ann);
        append(&mut chain, &ann, Action::AddMember { member: bob.member(Role::Member) });
        append(&mut chain, &ann, Action::AddMember { member: sue.member(Role::Support) });
        let state = TeamState::verify(&chain, None).unwrap();
        let admin = Distributor { name: &ann.name, identity: &ann.keys };
        let shared = state.shared_collection;
        let first = admin.rotate(&state, &[shared]);
        let held = |p: &Person, s: &TeamState, w: &[WrapItem]| open_wraps(&p.name, &p.keys, s, w);
        assert_eq!(held(&bob, &state, &first).len(), 2);
        let sue_keys = held(&sue, &state, &first);
        assert!(sue_keys.get(shared, 1, Scope::Basic).is_some());
        assert!(sue_keys.get(shared, 1, Scope::Sensitive).is_none(), "support never gets the sensitive key");

        // Bob leaves: epoch 2, keys for Ann and Sue only.
        append(&mut chain, &ann, Action::RemoveMember { username: bob.name.clone() });
        let after = TeamState::verify(&chain, None).unwrap();
        assert_eq!(after.epoch, 2);
        let second = admin.rotate(&after, &[shared]);
        assert!(second.iter().all(|w| w.recipient != bob.name && w.epoch == 2));
        assert!(held(&bob, &after, &second).is_empty());
        assert!(held(&sue, &after, &second).get(shared, 2, Scope::Basic).is_some());

        // A wrap to Sue signed by Bob (never an admin) is ignored, even with a valid signature.
        let forged = Distributor { name: &bob.name, identity: &bob.keys }.rotate(&after, &[shared]);
        assert!(held(&sue, &after, &forged).is_empty());
    }

    #[test]
    fn a_former_admins_wraps_count_only_up_to_the_epoch_they_left_in() {
        let (ann, max, bob) = (Person::new("ann"), Person::new("max"), Person::new("bob"));
        let mut chain = new_chain(&ann);
        append(&mut chain, &ann, Action::AddMember { member: max.member(Role::Admin) });
        append(&mut chain, &ann, Action::AddMember { member: bob.member(Role::Member) });
        let state = TeamState::verify(&chain, None).unwrap();
        let by_max = Distributor { name: &max.name, identity: &max.keys }.rotate(&state, &[state.shared_collection]);
        append(&mut chain, &ann, Action::RemoveMember { username: max.name.clone() });
        let after = TeamState::verify(&chain, None).unwrap();
        // Max's epoch-1 wraps still open for Bob (old records stay readable)...
        assert_eq!(open_wraps(&bob.name, &bob.keys, &after, &by_max).len(), 2);
        // ...but anything Max signs for epoch 2 is refused.
        let late = Distributor { name: &max.name, identity: &max.keys }.rotate(&after, &[after.shared_collection]);
        assert!(open_wraps(&bob.name, &bob.keys, &after, &late).is_empty());
    }

    #[test]
    fn a_later_wrap_with_another_key_never_shadows_the_kept_one_whatever_the_order() {
        let (ann, zed, max, bob) = (Person::new("ann"), Person::new("zed"), Person::new("max"), Person::new("bob"));
        let mut chain = new_chain(&ann);
        append(&mut chain, &ann, Action::AddMember { member: zed.member(Role::Admin) });
        append(&mut chain, &ann, Action::AddMember { member: max.member(Role::Admin) });
        append(&mut chain, &ann, Action::AddMember { member: bob.member(Role::Member) });
        let shared = TeamState::verify(&chain, None).unwrap().shared_collection;
        let good = Distributor { name: &ann.name, identity: &ann.keys }
            .rotate(&TeamState::verify(&chain, None).unwrap(), &[shared]);
        append(&mut chain, &ann, Action::RemoveMember { username: max.name.clone() });
        let state = TeamState::verify(&chain, None).unwrap();
        let key_of = |wraps: &[WrapItem]| {
            let keys = open_wraps(&bob.name, &bob.keys, &state, wraps);
            *keys.get(shared, 1, Scope::Basic).expect("a basic key of epoch 1").expose_secret()
        };
        let kept = key_of(&good);
        // Max, removed, may still hand out keys of epoch 1 and wraps a junk one for
        // Bob: served after the good wrap, or before it, or twice, it is never kept.
        let junk = |by: &Person| {
            let ctx = WrapContext {
                purpose: WrapPurpose::TeamKey,
                team: state.team,
                epoch: 1,
                collection: shared,
                scope: Scope::Basic,
                recipient: bob.name.clone(),
            };
            let to = state.members[&bob.name].identity;
            Distributor { name: &by.name, identity: &by.keys }.wrap(ctx, &SymmetricKey::generate(), &to).unwrap()
        };
        let by_max = junk(&max);
        let orders = [
            [good.clone(), vec![by_max.clone()]].concat(),
            [vec![by_max.clone()], good.clone()].concat(),
            [vec![by_max.clone()], good.clone(), vec![by_max.clone()]].concat(),
        ];
        for wraps in &orders {
            assert_eq!(key_of(wraps), kept, "a former admin's later wrap never replaces a current admin's");
        }
        // Two current admins wrapping two different keys (a mistake, or malice):
        // whichever the server serves first, every device keeps the same one.
        let by_zed = junk(&zed);
        let one = key_of(&[good.clone(), vec![by_zed.clone()]].concat());
        let other = key_of(&[vec![by_zed.clone()], good.clone()].concat());
        assert_eq!(one, other, "the choice between two admins' keys does not follow the server's order");
        // The only wrap served is the only key held (withholding is denial of service).
        assert_ne!(key_of(&[by_max]), kept);
    }

    #[test]
    fn an_incident_is_named_for_the_admin_who_signed_its_declaration_never_its_latest_signer() {
        use crate::domain::field;
        use crate::hlc::{Hlc, Stamp};
        use crate::ids::RecordId;
        use crate::record::{FieldState, RecordDoc, Value};
        let (ann, bob) = (Person::new("ann"), Person::new("bob"));
        let mut chain = new_chain(&ann);
        append(&mut chain, &ann, Action::AddMember { member: bob.member(Role::Member) });
        let state = TeamState::verify(&chain, None).unwrap();
        // Declared after creation certificates began (one from before carries none, and
        // is named on its stamp: `record::CERTIFIED_SINCE_MS`).
        let set = |doc: &mut RecordDoc, name: &str, text: &str, by: &Person, at: u64| {
            let wall_ms = crate::record::CERTIFIED_SINCE_MS + at;
            let stamp = Stamp { hlc: Hlc { wall_ms, counter: 0 }, author: by.name.clone() };
            doc.apply(name, FieldState { value: Some(Value::Text(text.into())), stamp });
        };
        let declared_by = |by: &Person| {
            let mut doc = RecordDoc::new();
            set(&mut doc, field::KIND, INCIDENT, by, 1);
            set(&mut doc, field::SUMMARY, "a laptop was stolen", by, 1);
            doc
        };
        let record = RecordId::random();
        let mut declared = declared_by(&ann);
        assert_eq!(incident_declarer(&declared, &ann.name, &state), Some(&ann.name));
        // Bob edits the reason: the declarer is still Ann, on her certificate (the
        // version Bob signed names him only for what he changed).
        let statement = crate::record::creation_to_sign(&declared, &state.team, &record, &ann.name).unwrap();
        crate::record::certify(&mut declared, &ann.keys.sign(&statement));
        set(&mut declared, field::SUMMARY, "nothing happened", &bob, 2);
        assert_eq!(incident_declarer(&declared, &bob.name, &state), Some(&ann.name));
        // Without a certificate, the version held names its signer, who is no admin.
        let uncertified = declared_by(&ann);
        assert_eq!(incident_declarer(&uncertified, &bob.name, &state), None);
        // An incident a member makes up is nobody's declaration, in their name or an admin's.
        assert_eq!(incident_declarer(&declared_by(&bob), &bob.name, &state), None);
        // Not an incident at all.
        let mut customer = RecordDoc::new();
        set(&mut customer, field::KIND, "customer", &ann, 1);
        assert_eq!(incident_declarer(&customer, &ann.name, &state), None);
    }

    #[test]
    fn a_rotation_schedule_counts_only_when_an_admin_set_it_and_the_epoch_is_old() {
        use crate::hlc::{Hlc, Stamp};
        use crate::record::{FieldState, RecordDoc, Value};
        let (ann, bob) = (Person::new("ann"), Person::new("bob"));
        let mut chain = new_chain(&ann);
        append(&mut chain, &ann, Action::AddMember { member: bob.member(Role::Member) });
        let state = TeamState::verify(&chain, None).unwrap();
        let set_by = |who: &Person, days: i64| {
            let mut doc = RecordDoc::new();
            let stamp = Stamp { hlc: Hlc { wall_ms: 1, counter: 0 }, author: who.name.clone() };
            doc.apply(ROTATION_DAYS, FieldState { value: Some(Value::Int(days)), stamp });
            doc
        };
        assert_eq!(rotation_days(&set_by(&ann, 30), Some(&ann.name), &state), 30);
        assert_eq!(rotation_days(&set_by(&bob, 1), Some(&bob.name), &state), 0, "a member cannot set the schedule");
        assert_eq!(
            rotation_days(&set_by(&ann, 1), Some(&bob.name), &state),
            0,
            "a member's version naming the admin as the field's author does not count"
        );
        assert_eq!(rotation_days(&RecordDoc::new(), Some(&ann.name), &state), 0);
        let day = 86_400_000;
        assert!(!state.rotation_due(0, 10_000 * day), "no schedule, never due");
        assert!(!state.rotation_due(30, state.epoch_started_ms + 29 * day));
        assert!(state.rotation_due(30, state.epoch_started_ms + 30 * day));
        assert_ne!(settings_record(state.team), settings_record(crate::ids::TeamId::random()));
    }

    #[test]
    fn the_beacon_lease_counts_only_when_an_admin_set_it() {
        use crate::hlc::{Hlc, Stamp};
        use crate::record::{FieldState, RecordDoc, Value};
        let (ann, bob) = (Person::new("ann"), Person::new("bob"));
        let mut chain = new_chain(&ann);
        append(&mut chain, &ann, Action::AddMember { member: bob.member(Role::Member) });
        let state = TeamState::verify(&chain, None).unwrap();
        let set_by = |who: &Person, hours: i64| {
            let mut doc = RecordDoc::new();
            let stamp = Stamp { hlc: Hlc { wall_ms: 1, counter: 0 }, author: who.name.clone() };
            doc.apply(BEACON_LEASE_HOURS, FieldState { value: Some(Value::Int(hours)), stamp });
            doc
        };
        let hour = 3_600_000;
        assert_eq!(beacon_lease_ms(None, None, &state), 24 * hour);
        assert_eq!(beacon_lease_ms(Some(&set_by(&ann, 2)), Some(&ann.name), &state), 2 * hour);
        assert_eq!(beacon_lease_ms(Some(&set_by(&ann, 0)), Some(&ann.name), &state), hour, "at least an hour");
        assert_eq!(beacon_lease_ms(Some(&set_by(&ann, 99_999)), Some(&ann.name), &state), 720 * hour);
        assert_eq!(beacon_lease_ms(Some(&set_by(&bob, 9_000)), Some(&bob.name), &state), 24 * hour, "not a member's");
        assert_eq!(beacon_lease_ms(Some(&set_by(&ann, 9_000)), Some(&bob.name), &state), 24 * hour);
    }

    #[test]
    fn portfolios_are_wrapped_by_role_and_losing_access_is_detected() {
        let people: Vec<Person> = ["ann", "max", "bob", "cat", "sue"].into_iter().map(Person::new).collect();
        let mut chain = new_chain(&people[0]);
        for (p, role) in people[1..].iter().zip([Role::Manager, Role::Member, Role::Member, Role::Support]) {
            append(&mut chain, &people[0], Action::AddMember { member: p.member(role) });
        }
        let state = TeamState::verify(&chain, None).unwrap();
        let collections = collections_to_key(&state, &Keyring::new());
        assert_eq!(collections.len(), 5, "shared + ann, max, bob, cat (support keeps none)");
        let wraps = Distributor { name: &people[0].name, identity: &people[0].keys }.rotate(&state, &collections);
        let held = |i: usize| open_wraps(&people[i].name, &people[i].keys, &state, &wraps);
        let (bobs, cats) = (portfolio(state.team, &people[2].name), portfolio(state.team, &people[3].name));
        for admin_or_manager in [0, 1] {
            assert_eq!(held(admin_or_manager).iter().count(), 10);
        }
        let bob = held(2);
        assert!(
            bob.get(bobs, 1, Scope::Sensitive).is_some()
                && bob.get(state.shared_collection, 1, Scope::Sensitive).is_some()
        );
        assert!(bob.get(cats, 1, Scope::Basic).is_none(), "a member holds nothing of another member's portfolio");
        assert_eq!(bob.iter().count(), 4);
        let sue = held(4);
        assert_eq!(sue.iter().count(), 5);
        assert!(sue.iter().all(|(_, _, s, _)| s == Scope::Basic));
        assert_ne!(bobs, portfolio(TeamId::random(), &people[2].name), "portfolios are per team");

        assert!(loses_access(Role::Manager, Role::Member));
        assert!(loses_access(Role::Member, Role::Support));
        assert!(loses_access(Role::Support, Role::Member));
        assert!(!loses_access(Role::Member, Role::Manager));
        assert!(!loses_access(Role::Admin, Role::Manager));

        // A new member's wraps include a fresh portfolio, keyed for everyone entitled.
        let dan = Person::new("dan");
        let mut chain2 = chain.clone();
        append(&mut chain2, &people[0], Action::AddMember { member: dan.member(Role::Member) });
        let after = TeamState::verify(&chain2, None).unwrap();
        let ann_keys = held(0);
        let admin = Distributor { name: &people[0].name, identity: &people[0].keys };
        let new = admin.wraps_for_member(&after, &ann_keys, &dan.member(Role::Member));
        let dans = portfolio(after.team, &dan.name);
        let dan_keys = open_wraps(&dan.name, &dan.keys, &after, &new);
        assert!(dan_keys.get(dans, 1, Scope::Sensitive).is_some());
        assert!(dan_keys.get(state.shared_collection, 1, Scope::Sensitive).is_some());
        assert!(dan_keys.get(bobs, 1, Scope::Basic).is_none());
        assert!(open_wraps(&people[1].name, &people[1].keys, &after, &new).get(dans, 1, Scope::Sensitive).is_some());
        assert!(open_wraps(&people[2].name, &people[2].keys, &after, &new).is_empty());
    }
}
