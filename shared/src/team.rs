//! Who holds which team keys, and the key wraps an admin makes to get them there.
//!
//! Roles are enforced by keys, not by the server: a role decides which scopes of a
//! collection's keys a member is wrapped ([`scopes_for`]); a client opens only wraps
//! addressed to it and signed by someone the verified chain lets hand out that epoch's
//! keys ([`open_wraps`]). A removal or a rotation starts a new epoch in the chain;
//! [`rotate`] makes fresh keys for it and wraps them to the members who remain, so
//! nothing sealed afterwards opens with a removed member's keys.

use crate::api::WrapItem;
use crate::chain::{Member, Role, TeamState};
use crate::crypto::envelope::Keyring;
use crate::crypto::identity::IdentityKeys;
use crate::crypto::wrap::{unwrap_key, wrap_key, wrap_signer, WrapContext};
use crate::crypto::{Scope, SymmetricKey};
use crate::ids::{CollectionId, Username};

/// The key scopes a role receives: support reads the `basic` section only (names,
/// masked phones, stages, interactions); every other role also gets `sensitive`.
pub fn scopes_for(role: Role) -> &'static [Scope] {
    match role {
        Role::Support => &[Scope::Basic],
        Role::Admin | Role::Manager | Role::Member => &Scope::ALL,
    }
}

/// An admin's signing identity, for making wraps.
pub struct Distributor<'a> {
    pub name: &'a Username,
    pub identity: &'a IdentityKeys,
}

impl Distributor<'_> {
    /// Seal `key` to the recipient named in `ctx`, signed by this admin.
    pub fn wrap(&self, ctx: WrapContext, key: &SymmetricKey, to: &crate::crypto::identity::PublicIdentity) -> WrapItem {
        let wrap = wrap_key(key, to, &ctx, self.identity, self.name);
        WrapItem { epoch: ctx.epoch, collection: ctx.collection, scope: ctx.scope, recipient: ctx.recipient, wrap }
    }

    /// Every key in `keyring` (all collections and epochs this admin holds) that
    /// `member`'s role entitles them to, wrapped for them: what a new member, or one
    /// whose role changed, needs to read what exists.
    pub fn wraps_for_member(&self, state: &TeamState, keyring: &Keyring, member: &Member) -> Vec<WrapItem> {
        let scopes = scopes_for(member.role);
        keyring
            .iter()
            .filter(|(_, _, scope, _)| scopes.contains(scope))
            .map(|(collection, epoch, scope, key)| {
                let ctx =
                    WrapContext { team: state.team, epoch, collection, scope, recipient: member.username.clone() };
                self.wrap(ctx, key, &member.identity)
            })
            .collect()
    }

    /// Fresh keys for the chain's current epoch (`state` already includes the removal
    /// or rotation entry) for each collection, wrapped to every remaining member by
    /// role. Returns the wraps to upload; the keys themselves exist only inside them.
    pub fn rotate(&self, state: &TeamState, collections: &[CollectionId]) -> Vec<WrapItem> {
        let mut out = Vec::new();
        for &collection in collections {
            for scope in Scope::ALL {
                let key = SymmetricKey::generate();
                for m in state.members.values().filter(|m| scopes_for(m.role).contains(&scope)) {
                    let ctx = WrapContext {
                        team: state.team,
                        epoch: state.epoch,
                        collection,
                        scope,
                        recipient: m.username.clone(),
                    };
                    out.push(self.wrap(ctx, &key, &m.identity));
                }
            }
        }
        out
    }
}

/// Open the wraps addressed to `me`: only those signed by someone the verified chain
/// lets hand out that epoch's keys; anything else (forged, swapped, from a former
/// admin after they lost the right) is skipped.
pub fn open_wraps(me: &Username, identity: &IdentityKeys, state: &TeamState, wraps: &[WrapItem]) -> Keyring {
    let mut keyring = Keyring::new();
    for w in wraps.iter().filter(|w| &w.recipient == me) {
        let Ok(signer) = wrap_signer(&w.wrap) else { continue };
        let Some(signer_keys) = state.key_distributor(&signer, w.epoch) else { continue };
        let ctx = WrapContext {
            team: state.team,
            epoch: w.epoch,
            collection: w.collection,
            scope: w.scope,
            recipient: me.clone(),
        };
        if let Ok(k) = unwrap_key(&w.wrap, identity, &ctx, signer_keys) {
            keyring.insert(w.collection, w.epoch, w.scope, k);
        }
    }
    keyring
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
/// set it (any member's client can write the shared collection; only admins decide).
pub fn rotation_days(settings: &crate::record::RecordDoc, state: &TeamState) -> u32 {
    match settings.fields.get(ROTATION_DAYS) {
        Some(f) if state.is_admin(&f.stamp.author) => {
            f.value.as_ref().and_then(crate::record::Value::as_int).map_or(0, |d| d.clamp(0, 3650) as u32)
        }
        _ => 0,
    }
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
        assert_eq!(rotation_days(&set_by(&ann, 30), &state), 30);
        assert_eq!(rotation_days(&set_by(&bob, 1), &state), 0, "a member cannot set the schedule");
        assert_eq!(rotation_days(&RecordDoc::new(), &state), 0);
        let day = 86_400_000;
        assert!(!state.rotation_due(0, 10_000 * day), "no schedule, never due");
        assert!(!state.rotation_due(30, state.epoch_started_ms + 29 * day));
        assert!(state.rotation_due(30, state.epoch_started_ms + 30 * day));
        assert_ne!(settings_record(state.team), settings_record(crate::ids::TeamId::random()));
    }
}
