//! The customer pool (公海): customers without an owner are the team's, for any member
//! to claim, up to a limit an admin sets; an admin's rule returns customers with no
//! follow-up in N days (default 30) to the pool, run from an admin's device after a
//! preview of exactly which, and owners are reminded a few days before.
//!
//! The rules live in the team's settings record and count only under an admin's
//! signature, like every team setting. A claim writes the owner and when it was
//! claimed; a customer's last activity is its newest interaction, its claim or its
//! creation, whichever is latest.

use std::collections::HashMap;

use crate::chain::TeamState;
use crate::domain::field;
use crate::ids::{RecordId, Username};
use crate::record::{RecordDoc, Value};

/// Settings fields: the most customers a member may hold (0: no limit), and the days
/// without follow-up after which a customer returns to the pool (0: never).
pub const LIMIT: &str = "pool_limit";
pub const RETURN_DAYS: &str = "pool_return_days";
/// A customer field: when its owner claimed it (Unix ms).
pub const CLAIMED_AT: &str = "claimed_at";
pub const DEFAULT_RETURN_DAYS: u32 = 30;
/// Owners are reminded this many days before a customer returns.
pub const WARN_DAYS: u32 = 3;
const DAY_MS: i64 = 86_400_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rules {
    pub limit: u32,
    pub return_days: u32,
}

impl Default for Rules {
    fn default() -> Self {
        Rules { limit: 0, return_days: DEFAULT_RETURN_DAYS }
    }
}

/// The pool's rules: what an admin signed in `settings`, else the defaults.
pub fn rules(settings: Option<&RecordDoc>, signer: Option<&Username>, state: &TeamState) -> Rules {
    let signed = signer.is_some_and(|s| state.is_admin(s));
    let int = |name: &str, max: i64| {
        let f = settings?.fields.get(name)?;
        (signed && state.is_admin(&f.stamp.author)).then_some(())?;
        Some(f.value.as_ref()?.as_int()?.clamp(0, max) as u32)
    };
    let d = Rules::default();
    Rules {
        limit: int(LIMIT, 100_000).unwrap_or(d.limit),
        return_days: int(RETURN_DAYS, 3650).unwrap_or(d.return_days),
    }
}

pub fn owner(doc: &RecordDoc) -> &str {
    doc.text(field::OWNER).unwrap_or_default().trim()
}

pub fn in_pool(doc: &RecordDoc) -> bool {
    owner(doc).is_empty()
}

/// The latest of: its newest interaction, when it was claimed, when it was created.
pub fn last_activity(doc: &RecordDoc, last_interaction: Option<i64>) -> i64 {
    let created = doc.fields.get(field::KIND).map_or(0, |f| f.stamp.hlc.wall_ms as i64);
    created.max(claimed_at(doc).unwrap_or(0)).max(last_interaction.unwrap_or(0))
}

/// When the customer was claimed: the time the claim wrote, but never later than the
/// claim field's own stamp (which readers refuse more than a few minutes ahead of
/// their clock), so a claim dated ahead cannot keep a customer out of the pool. (A
/// claim dated back only returns the customer sooner.)
pub fn claimed_at(doc: &RecordDoc) -> Option<i64> {
    let f = doc.fields.get(CLAIMED_AT)?;
    Some(f.value.as_ref()?.as_int()?.min(f.stamp.hlc.wall_ms as i64))
}

/// The members holding more customers than the rules' limit, with how many each holds,
/// most first: who owns a customer is its owner field, which only its signer can have
/// written (readers refuse a change in someone else's name). The limit is checked by
/// the claimer's client; a modified one can claim past it, and this is how an admin,
/// who holds every portfolio, sees that it did.
pub fn over_limit<'a>(customers: impl IntoIterator<Item = &'a RecordDoc>, rules: Rules) -> Vec<(String, usize)> {
    if rules.limit == 0 {
        return Vec::new();
    }
    let mut held: HashMap<&str, usize> = HashMap::new();
    for d in customers.into_iter().filter(|d| !in_pool(d)) {
        *held.entry(owner(d)).or_default() += 1;
    }
    let mut v: Vec<(String, usize)> =
        held.into_iter().filter(|(_, n)| *n > rules.limit as usize).map(|(o, n)| (o.to_owned(), n)).collect();
    v.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v
}

/// Owned customers and when each returns to the pool (last activity + the rule's
/// days), soonest first; `last` maps a customer id to its newest interaction.
pub fn return_dates<'a>(
    customers: impl IntoIterator<Item = (&'a RecordId, &'a RecordDoc)>,
    last: &HashMap<String, i64>,
    rules: Rules,
) -> Vec<(RecordId, i64)> {
    if rules.return_days == 0 {
        return Vec::new();
    }
    let mut v: Vec<(RecordId, i64)> = customers
        .into_iter()
        .filter(|(_, d)| !in_pool(d))
        .map(|(id, d)| {
            (*id, last_activity(d, last.get(&id.to_string()).copied()) + i64::from(rules.return_days) * DAY_MS)
        })
        .collect();
    v.sort_unstable_by_key(|(id, at)| (*at, *id));
    v
}

/// Those due back by `now`.
pub fn due(dates: &[(RecordId, i64)], now: i64) -> Vec<RecordId> {
    dates.iter().filter(|(_, at)| *at <= now).map(|(id, _)| *id).collect()
}

/// Those returning within the reminder window, not yet due.
pub fn soon(dates: &[(RecordId, i64)], now: i64) -> Vec<(RecordId, i64)> {
    dates.iter().filter(|(_, at)| *at > now && *at <= now + i64::from(WARN_DAYS) * DAY_MS).copied().collect()
}

/// Whether `me`, holding `held` customers, may claim another.
pub fn may_claim(rules: Rules, held: usize) -> bool {
    rules.limit == 0 || held < rules.limit as usize
}

/// What a claim writes.
pub fn claim(me: &Username, now: i64) -> Vec<(String, Option<Value>)> {
    vec![(field::OWNER.into(), Some(Value::Text(me.to_string()))), (CLAIMED_AT.into(), Some(Value::Int(now)))]
}

/// What a return to the pool writes.
pub fn give_back() -> Vec<(String, Option<Value>)> {
    vec![(field::OWNER.into(), Some(Value::Text(String::new()))), (CLAIMED_AT.into(), None)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::tests::{append, new_chain, Person};
    use crate::chain::{Action, Role};
    use crate::hlc::{Hlc, Stamp};
    use crate::record::FieldState;

    fn customer(owner: &str, created: u64, claimed: Option<i64>) -> RecordDoc {
        let stamp = Stamp { hlc: Hlc { wall_ms: created, counter: 0 }, author: Username::parse("ann").unwrap() };
        let mut d = RecordDoc::new();
        d.apply(field::KIND, FieldState { value: Some(Value::Text("customer".into())), stamp: stamp.clone() });
        d.apply(field::OWNER, FieldState { value: Some(Value::Text(owner.into())), stamp: stamp.clone() });
        if let Some(c) = claimed {
            // An honest claim is stamped when it is made.
            let stamp = Stamp { hlc: Hlc { wall_ms: c.max(0) as u64, counter: 0 }, ..stamp };
            d.apply(CLAIMED_AT, FieldState { value: Some(Value::Int(c)), stamp });
        }
        d
    }

    #[test]
    fn customers_return_after_the_rules_days_without_follow_up_and_owners_hear_first() {
        let day = DAY_MS;
        let (a, b, c, pooled) = (RecordId::random(), RecordId::random(), RecordId::random(), RecordId::random());
        let docs = [
            (a, customer("bob", 0, None)),           // created day 0, never contacted
            (b, customer("bob", 0, Some(20 * day))), // claimed on day 20
            (c, customer("sue", 0, None)),           // contacted on day 28
            (pooled, customer("", 0, None)),
        ];
        let last: HashMap<String, i64> = [(c.to_string(), 28 * day)].into();
        let dates = return_dates(docs.iter().map(|(id, d)| (id, d)), &last, Rules::default());
        assert_eq!(dates, vec![(a, 30 * day), (b, 50 * day), (c, 58 * day)]);
        assert_eq!(due(&dates, 31 * day), vec![a]);
        assert_eq!(soon(&dates, 48 * day), vec![(b, 50 * day)]);
        assert!(return_dates(docs.iter().map(|(id, d)| (id, d)), &last, Rules { limit: 0, return_days: 0 }).is_empty());
    }

    #[test]
    fn a_claim_dated_ahead_counts_from_its_stamp_and_holdings_past_the_limit_are_named() {
        let day = DAY_MS;
        // Bob's modified client claims on day 10 but writes a claim time ten years on:
        // the customer still returns 30 days after the claim's stamp.
        let mut doc = customer("bob", 0, None);
        let stamp =
            Stamp { hlc: Hlc { wall_ms: 10 * day as u64, counter: 0 }, author: Username::parse("bob").unwrap() };
        doc.apply(CLAIMED_AT, FieldState { value: Some(Value::Int(3650 * day)), stamp });
        assert_eq!(claimed_at(&doc), Some(10 * day));
        let id = RecordId::random();
        let dates = return_dates([(&id, &doc)], &HashMap::new(), Rules::default());
        assert_eq!(dates, vec![(id, 40 * day)]);
        // A claim dated back counts as dated: it only returns the customer sooner.
        assert_eq!(claimed_at(&customer("bob", 0, Some(-day))), Some(-day));

        // A limit of 2: Bob holds three (one claimed past the limit), Sue two.
        let docs: Vec<RecordDoc> =
            ["bob", "bob", "bob", "sue", "sue", ""].iter().map(|o| customer(o, 0, None)).collect();
        let limited = Rules { limit: 2, return_days: 30 };
        assert_eq!(over_limit(&docs, limited), vec![("bob".to_owned(), 3)]);
        assert!(over_limit(&docs, Rules::default()).is_empty(), "no limit, nobody past it");
    }

    #[test]
    fn rules_count_only_under_an_admins_signature_and_limits_hold() {
        let (ann, bob) = (Person::new("ann"), Person::new("bob"));
        let mut chain = new_chain(&ann);
        append(&mut chain, &ann, Action::AddMember { member: bob.member(Role::Member) });
        let state = TeamState::verify(&chain, None).unwrap();
        let set_by = |who: &Person| {
            let stamp = Stamp { hlc: Hlc { wall_ms: 1, counter: 0 }, author: who.name.clone() };
            let mut d = RecordDoc::new();
            d.apply(LIMIT, FieldState { value: Some(Value::Int(2)), stamp: stamp.clone() });
            d.apply(RETURN_DAYS, FieldState { value: Some(Value::Int(7)), stamp });
            d
        };
        assert_eq!(rules(Some(&set_by(&ann)), Some(&ann.name), &state), Rules { limit: 2, return_days: 7 });
        assert_eq!(rules(Some(&set_by(&bob)), Some(&bob.name), &state), Rules::default());
        assert_eq!(rules(Some(&set_by(&ann)), Some(&bob.name), &state), Rules::default());
        let r = Rules { limit: 2, return_days: 7 };
        assert!(may_claim(r, 1) && !may_claim(r, 2) && may_claim(Rules::default(), 10_000));
    }
}
