//! Data lifecycle: when each customer last had an interaction, which customers are
//! dormant (none for [`DORMANT_MONTHS`]), which an admin may anonymise or delete (none
//! for [`PURGE_MONTHS`]), and what anonymising changes. Runs in the admin's client
//! over decrypted records; the server never learns which customers are old.

use std::collections::HashMap;

use crate::domain::{field, EntityKind};
use crate::ids::RecordId;
use crate::record::{RecordDoc, Value, DELETED};
use crate::sync::RecordEdit;

pub const DORMANT_MONTHS: u32 = 36;
pub const PURGE_MONTHS: u32 = 60;
/// An average month (365.2425 / 12 days), in ms.
pub const MONTH_MS: i64 = 2_629_746_000;

/// Per customer: the time of its newest interaction, or — if it never had one — when
/// the customer record was created (its oldest field stamp).
pub fn last_activity<'a>(
    records: impl Iterator<Item = (&'a RecordId, &'a RecordDoc)> + Clone,
) -> HashMap<RecordId, i64> {
    let mut last: HashMap<RecordId, i64> = HashMap::new();
    let mut created: HashMap<RecordId, i64> = HashMap::new();
    for (id, d) in records {
        if d.is_deleted() {
            continue;
        }
        match d.text(field::KIND) {
            Some(k) if k == EntityKind::Customer.as_str() => {
                let oldest = d.fields.values().map(|f| f.stamp.hlc.wall_ms as i64).min().unwrap_or(0);
                created.insert(*id, oldest);
            }
            Some(k) if k == EntityKind::Interaction.as_str() => {
                let (Some(c), Some(at)) = (d.text(field::CUSTOMER).and_then(|c| c.parse().ok()), d.get(field::AT))
                else {
                    continue;
                };
                let at = at.as_int().unwrap_or(0);
                let e = last.entry(c).or_insert(at);
                *e = (*e).max(at);
            }
            _ => {}
        }
    }
    created.into_iter().map(|(id, made)| (id, last.get(&id).copied().unwrap_or(made))).collect()
}

/// Customers whose last activity is more than `months` before `now_ms`, oldest first.
pub fn inactive_for(last: &HashMap<RecordId, i64>, now_ms: i64, months: u32) -> Vec<(RecordId, i64)> {
    let cutoff = now_ms - i64::from(months) * MONTH_MS;
    let mut v: Vec<(RecordId, i64)> = last.iter().filter(|(_, at)| **at < cutoff).map(|(id, at)| (*id, *at)).collect();
    v.sort_unstable_by_key(|(id, at)| (*at, *id));
    v
}

/// Fields kept when a customer is anonymised: what it is (and who created it, see
/// [`crate::record::CREATED`]), where it stood, whose it was.
const KEPT: [&str; 6] = [field::KIND, crate::record::CREATED, field::STATUS, field::STAGE, field::OWNER, DELETED];

/// The edits that anonymise a customer (`doc`) and the records linked to it
/// (`linked`): every personal field of the customer cleared and its name replaced;
/// contact persons deleted; interaction summaries and task titles cleared (free text
/// that may name people); history entries emptied and deleted (they hold what the
/// fields were); deals kept (stage and amount are not personal).
pub fn anonymise(id: RecordId, doc: &RecordDoc, linked: &[(RecordId, &RecordDoc)]) -> Vec<RecordEdit> {
    let mut fields: Vec<(String, Option<Value>)> = doc
        .fields
        .iter()
        .filter(|(k, s)| !KEPT.contains(&k.as_str()) && s.value.is_some())
        .map(|(k, _)| (k.clone(), None))
        .collect();
    fields.retain(|(k, _)| k != field::NAME);
    fields.push((field::NAME.into(), Some(Value::Text("Anonymised customer".into()))));
    let mut edits = vec![(id, fields)];
    for (rid, d) in linked {
        let kind = d.text(field::KIND).unwrap_or_default();
        let edit = if kind == EntityKind::Contact.as_str() {
            vec![(DELETED.to_owned(), Some(Value::Bool(true)))]
        } else if kind == EntityKind::Interaction.as_str() {
            vec![(field::SUMMARY.to_owned(), None)]
        } else if kind == EntityKind::Task.as_str() {
            vec![(field::TITLE.to_owned(), None)]
        } else if kind == EntityKind::Change.as_str() {
            // History holds what the fields were: gone with them.
            vec![
                (field::CHANGES.to_owned(), None),
                (field::SENSITIVE_CHANGES.to_owned(), None),
                (DELETED.to_owned(), Some(Value::Bool(true))),
            ]
        } else {
            continue;
        };
        edits.push((*rid, edit));
    }
    edits
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Channel, Customer, Entity, Interaction};
    use crate::hlc::{Hlc, Stamp};
    use crate::ids::Username;
    use crate::record::FieldState;

    fn doc(fields: Vec<(String, Option<Value>)>, wall_ms: u64) -> RecordDoc {
        let mut d = RecordDoc::new();
        for (k, v) in fields {
            let stamp = Stamp { hlc: Hlc { wall_ms, counter: 0 }, author: Username::parse("ada").unwrap() };
            d.apply(&k, FieldState { value: v, stamp });
        }
        d
    }

    #[test]
    fn dormant_and_purgeable_follow_the_newest_interaction() {
        let now = 100 * 12 * MONTH_MS;
        let (old, quiet, busy, fresh) = (RecordId([1; 16]), RecordId([2; 16]), RecordId([3; 16]), RecordId([4; 16]));
        let customer = |name: &str| doc(Customer { name: name.into(), ..Default::default() }.to_fields(), 1_000);
        let call = |c: RecordId, months_ago: i64| {
            let i = Interaction {
                customer: c.to_string(),
                channel: Channel::Call,
                at_ms: now - months_ago * MONTH_MS,
                summary: "s".into(),
            };
            doc(i.to_fields(), now as u64)
        };
        let mut records = vec![
            (old, customer("Old")),
            (RecordId([11; 16]), call(old, 70)),
            (quiet, customer("Quiet")),
            (RecordId([12; 16]), call(quiet, 40)),
            (RecordId([13; 16]), call(quiet, 80)),
            (busy, customer("Busy")),
            (RecordId([14; 16]), call(busy, 1)),
            (RecordId([15; 16]), call(busy, 90)),
        ];
        // Never contacted: counts from its creation (here: just now).
        records.push((fresh, doc(Customer { name: "Fresh".into(), ..Default::default() }.to_fields(), now as u64)));
        let last = last_activity(records.iter().map(|(id, d)| (id, d)));
        let ids = |v: Vec<(RecordId, i64)>| v.into_iter().map(|(id, _)| id).collect::<Vec<_>>();
        assert_eq!(ids(inactive_for(&last, now, DORMANT_MONTHS)), vec![old, quiet]);
        assert_eq!(ids(inactive_for(&last, now, PURGE_MONTHS)), vec![old]);
    }

    #[test]
    fn anonymising_clears_personal_fields_and_linked_free_text() {
        let c = Customer {
            name: "Canary Person".into(),
            phone: "13800000000".into(),
            email: "a@b.c".into(),
            owner: "ada".into(),
            private_notes: "secret".into(),
            ..Default::default()
        };
        let d = doc(c.to_fields(), 1);
        let call = doc(
            Interaction { customer: "x".into(), channel: Channel::Call, at_ms: 1, summary: "talked to Canary".into() }
                .to_fields(),
            1,
        );
        let edits = anonymise(RecordId([1; 16]), &d, &[(RecordId([2; 16]), &call)]);
        let mut after = d.clone();
        for (k, v) in &edits[0].1 {
            let stamp = Stamp { hlc: Hlc { wall_ms: 2, counter: 0 }, author: Username::parse("ada").unwrap() };
            after.apply(k, FieldState { value: v.clone(), stamp });
        }
        assert_eq!(after.text(field::NAME), Some("Anonymised customer"));
        assert_eq!(after.text(field::OWNER), Some("ada"));
        for f in [field::PHONE, field::EMAIL, field::PRIVATE_NOTES, field::PHONE_MASKED] {
            assert!(after.get(f).is_none(), "{f} kept");
        }
        assert_eq!(edits[1], (RecordId([2; 16]), vec![(field::SUMMARY.to_owned(), None)]));
        let history = doc(
            crate::domain::Change {
                customer: "x".into(),
                record: "x".into(),
                at_ms: 1,
                changes: vec![crate::domain::FieldChange { field: field::PHONE.into(), from: None, to: None }],
            }
            .to_fields(),
            1,
        );
        let edits = anonymise(RecordId([1; 16]), &d, &[(RecordId([3; 16]), &history)]);
        assert!(edits[1].1.contains(&(field::SENSITIVE_CHANGES.to_owned(), None)));
        assert!(edits[1].1.contains(&(DELETED.to_owned(), Some(Value::Bool(true)))));
    }
}
