// Long: the CRM's entity types (customer, interaction, task, deal) with their field names and checks; splitting them per entity is a known debt.
//! The CRM's entities as typed views over [`RecordDoc`] field maps.
//!
//! A record's kind lives in its `kind` field. Field names are constants here so the
//! app, the import code and the tests never spell them twice. Which fields are
//! *sensitive* (sealed under the `sensitive` key of a collection, see
//! [`crate::crypto::Scope`]) is decided by [`is_sensitive`]; the author also writes a
//! masked phone under `basic` so readers without the sensitive key see `138****1234`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::record::{RecordDoc, Value};

pub mod registry;

/// The pipeline a deal is in when it names none (every deal written before pipelines;
/// [`crate::pipeline::DEFAULT`]).
pub const DEFAULT_PIPELINE: &str = "sales";

/// Field names shared by every entity.
pub mod field {
    pub const KIND: &str = crate::record::KIND;
    pub const NAME: &str = "name";
    pub const COMPANY: &str = "company";
    pub const PHONE: &str = "phone";
    pub const PHONE_MASKED: &str = "phone_masked";
    pub const WECHAT: &str = "wechat";
    pub const EMAIL: &str = "email";
    pub const ADDRESS: &str = "address";
    pub const ID_NUMBER: &str = "id_number";
    pub const NOTES: &str = "notes";
    pub const PRIVATE_NOTES: &str = "private_notes";
    pub const TAGS: &str = "tags";
    /// A deal's stage in its pipeline. (Customers once had a `stage` too, with the
    /// deal stages' values; it is read as their [`super::Status`] until next saved.)
    pub const STAGE: &str = "stage";
    /// A customer's lifecycle status (see [`super::Status`]).
    pub const STATUS: &str = "status";
    /// A deal's pipeline (see [`crate::pipeline`]); absent: the default one.
    pub const PIPELINE: &str = "pipeline";
    /// Why a deal was lost (required when it moves to lost).
    pub const LOST_REASON: &str = "lost_reason";
    /// When a deal was won or lost (Unix ms); absent while it is open.
    pub const CLOSED_AT: &str = "closed_at";
    pub const OWNER: &str = "owner";
    pub const CONSENT_PURPOSE: &str = "consent_purpose";
    pub const CONSENT_AT: &str = "consent_at";
    pub const CONSENT_CHANNEL: &str = "consent_channel";
    pub const CONSENT_WITHDRAWN: &str = "consent_withdrawn";
    pub const CUSTOMER: &str = "customer";
    pub const ROLE: &str = "role";
    pub const CHANNEL: &str = "channel";
    pub const AT: &str = "at";
    pub const SUMMARY: &str = "summary";
    pub const TITLE: &str = "title";
    pub const DUE: &str = "due";
    pub const ASSIGNEE: &str = "assignee";
    pub const DONE: &str = "done";
    pub const AMOUNT: &str = "amount";
    pub const CURRENCY: &str = "currency";
    /// A history entry's record, and the field changes it holds (see [`super::Change`]).
    pub const RECORD: &str = "record";
    pub const CHANGES: &str = "changes";
    pub const SENSITIVE_CHANGES: &str = "sensitive_changes";
    /// Custom fields are stored as `custom.<name>`.
    pub const CUSTOM_PREFIX: &str = "custom.";
    /// Where a sensitive custom field's value lives: `custom_s.<key>` (sealed under the
    /// collection's sensitive key).
    pub const CUSTOM_SENSITIVE_PREFIX: &str = "custom_s.";
}

/// A mainland mobile (11 digits from 1), a landline with its area code, or E.164
/// (`+` and 8–15 digits); spaces, dashes and brackets ignored. Empty is fine.
pub fn valid_phone(phone: &str) -> bool {
    let p: String = phone.chars().filter(|c| !matches!(c, ' ' | '-' | '(' | ')')).collect();
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    p.is_empty()
        || (p.len() == 11 && p.starts_with('1') && digits(&p))
        || (p.starts_with('+') && (8..=15).contains(&(p.len() - 1)) && digits(&p[1..]))
        || (p.starts_with('0') && (10..=12).contains(&p.len()) && digits(&p))
}

/// Something@somewhere.tld, roughly; empty is fine.
pub fn valid_email(email: &str) -> bool {
    let e = email.trim();
    e.is_empty()
        || e.split_once('@').is_some_and(|(user, host)| {
            !user.is_empty() && host.contains('.') && !host.starts_with('.') && !host.ends_with('.') && !e.contains(' ')
        })
}

/// The `mailto:` link for an address a member wrote, or `None` when it is not one plain
/// address: a link built from `a@b.cn?bcc=x@y.cn&body=…` would add recipients or text
/// the user never sees. Letters of any script are kept as they are (a browser encodes
/// them); nothing that has a meaning in a URL passes.
pub fn mailto(address: &str) -> Option<String> {
    let a = address.trim();
    let plain = valid_email(a)
        && !a.is_empty()
        && a.matches('@').count() == 1
        && !a.chars().any(|c| c.is_control() || c.is_whitespace() || "?&#%,;:/\\\"'<>()[]{}".contains(c));
    plain.then(|| format!("mailto:{a}"))
}

/// Fields whose values only holders of a collection's `sensitive` key may read: the
/// built-in personal ones (marked `sensitive` in [`registry::CUSTOMER_FIELDS`]; a
/// contact's phone and email by the same names), a history entry's changes of those,
/// and custom fields an admin marked sensitive.
pub fn is_sensitive(name: &str) -> bool {
    name.starts_with(field::CUSTOM_SENSITIVE_PREFIX)
        || name == field::SENSITIVE_CHANGES
        || registry::CUSTOMER_FIELDS.iter().any(|f| f.sensitive && f.name == name)
}

/// `13812341234` → `138****1234`: keeps the first three and last four digits.
pub fn mask_phone(phone: &str) -> String {
    let chars: Vec<char> = phone.chars().filter(|c| !c.is_whitespace() && *c != '-').collect();
    if chars.len() <= 7 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..3].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(chars.len() - 7))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntityKind {
    Customer,
    Contact,
    Interaction,
    Task,
    Deal,
    /// A history entry: who changed which fields of a record, from what to what.
    Change,
}

impl EntityKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EntityKind::Customer => "customer",
            EntityKind::Contact => "contact",
            EntityKind::Interaction => "interaction",
            EntityKind::Task => "task",
            EntityKind::Deal => "deal",
            EntityKind::Change => "change",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "customer" => EntityKind::Customer,
            "contact" => EntityKind::Contact,
            "interaction" => EntityKind::Interaction,
            "task" => EntityKind::Task,
            "deal" => EntityKind::Deal,
            "change" => EntityKind::Change,
            _ => return None,
        })
    }
    pub fn of(doc: &RecordDoc) -> Option<Self> {
        doc.text(field::KIND).and_then(Self::parse)
    }
}

/// The default pipeline's stages (a deal's `stage` holds one of these keys, or one an
/// admin defined; see [`crate::pipeline`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Lead,
    Qualified,
    Proposal,
    Negotiation,
    Won,
    Lost,
}

impl Stage {
    pub const ALL: [Stage; 6] =
        [Stage::Lead, Stage::Qualified, Stage::Proposal, Stage::Negotiation, Stage::Won, Stage::Lost];
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Lead => "lead",
            Stage::Qualified => "qualified",
            Stage::Proposal => "proposal",
            Stage::Negotiation => "negotiation",
            Stage::Won => "won",
            Stage::Lost => "lost",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

/// Where a customer stands with the team, whatever its deals: a lead not yet qualified,
/// a prospect being worked, a paying customer, or an inactive one. (A deal's progress is
/// its pipeline stage, a different thing.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Lead,
    Prospect,
    Customer,
    Inactive,
}

impl Status {
    pub const ALL: [Status; 4] = [Status::Lead, Status::Prospect, Status::Customer, Status::Inactive];
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Lead => "lead",
            Status::Prospect => "prospect",
            Status::Customer => "customer",
            Status::Inactive => "inactive",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }
    /// A customer's status: its `status` field, or what its old `stage` (written before
    /// statuses existed, with a deal stage's value) meant.
    pub fn of(doc: &RecordDoc) -> Option<Self> {
        if let Some(s) = doc.text(field::STATUS) {
            return Self::parse(s);
        }
        Stage::parse(doc.text(field::STAGE)?).map(Self::from_stage)
    }
    fn from_stage(stage: Stage) -> Self {
        match stage {
            Stage::Lead => Status::Lead,
            Stage::Qualified | Stage::Proposal | Stage::Negotiation => Status::Prospect,
            Stage::Won => Status::Customer,
            Stage::Lost => Status::Inactive,
        }
    }
    /// A status as a spreadsheet writes it: its key, its Chinese name, or a deal
    /// stage's value as the old customer `stage` held it.
    pub fn from_text(s: &str) -> Option<Self> {
        let s = s.trim().to_lowercase();
        Self::parse(&s).or_else(|| match s.as_str() {
            "线索" => Some(Status::Lead),
            "意向客户" | "意向" | "潜在客户" => Some(Status::Prospect),
            "成交客户" | "客户" | "已成交" => Some(Status::Customer),
            "沉睡客户" | "流失" | "无效" => Some(Status::Inactive),
            _ => Stage::parse(&s).map(Self::from_stage),
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Call,
    Email,
    WeChat,
    Meeting,
    Visit,
    Note,
}

impl Channel {
    pub const ALL: [Channel; 6] =
        [Channel::Call, Channel::Email, Channel::WeChat, Channel::Meeting, Channel::Visit, Channel::Note];
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Call => "call",
            Channel::Email => "email",
            Channel::WeChat => "wechat",
            Channel::Meeting => "meeting",
            Channel::Visit => "visit",
            Channel::Note => "note",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// What a customer agreed to, when, through which channel, and whether withdrawn.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consent {
    pub purpose: String,
    pub at_ms: i64,
    pub channel: String,
    pub withdrawn: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Customer {
    pub name: String,
    pub company: String,
    pub phone: String,
    pub wechat: String,
    pub email: String,
    pub address: String,
    pub id_number: String,
    pub notes: String,
    pub private_notes: String,
    pub tags: Vec<String>,
    pub status: Option<Status>,
    pub owner: String,
    pub consent: Option<Consent>,
    pub custom: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    pub customer: String,
    pub name: String,
    pub role: String,
    pub phone: String,
    pub email: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interaction {
    pub customer: String,
    pub channel: Channel,
    pub at_ms: i64,
    pub summary: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    pub customer: String,
    pub title: String,
    pub due_ms: i64,
    pub assignee: String,
    pub done: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deal {
    pub customer: String,
    pub title: String,
    /// The pipeline's id ([`crate::pipeline::DEFAULT`] when none was written).
    pub pipeline: String,
    /// A stage key of the pipeline, or [`crate::pipeline::WON`] / [`crate::pipeline::LOST`].
    pub stage: String,
    /// Minor units (cents, fen).
    pub amount: i64,
    pub currency: String,
    pub lost_reason: String,
    /// When it was won or lost.
    pub closed_at_ms: Option<i64>,
}

fn text(v: &str) -> Option<Value> {
    Some(Value::Text(v.to_owned()))
}
fn get_text(doc: &RecordDoc, name: &str) -> String {
    doc.text(name).unwrap_or_default().to_owned()
}
fn get_int(doc: &RecordDoc, name: &str) -> i64 {
    doc.get(name).and_then(Value::as_int).unwrap_or_default()
}

/// One field's change in a history entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldChange {
    pub field: String,
    pub from: Option<Value>,
    pub to: Option<Value>,
}

impl FieldChange {
    /// Stored as one line, `field␟from␟to` (U+001F between the parts): a value as its
    /// text (`t…`), a number (`i…`), a yes/no (`b1`/`b0`), a list (`l` and its items
    /// joined by U+001E), or nothing (empty).
    pub fn line(&self) -> String {
        fn value(v: &Option<Value>) -> String {
            match v {
                None => String::new(),
                // The separators are control characters no one types; were one in a
                // value, it is kept as a space.
                Some(Value::Text(t)) => format!("t{}", t.replace(['\u{1f}', '\u{1e}'], " ")),
                Some(Value::Int(i)) => format!("i{i}"),
                Some(Value::Bool(b)) => format!("b{}", u8::from(*b)),
                Some(Value::List(l)) => format!("l{}", l.join("\u{1e}").replace('\u{1f}', " ")),
            }
        }
        format!("{}\u{1f}{}\u{1f}{}", self.field, value(&self.from), value(&self.to))
    }

    pub fn parse(line: &str) -> Option<Self> {
        fn value(s: &str) -> Option<Option<Value>> {
            let mut chars = s.chars();
            Some(match chars.next() {
                None => None,
                Some('t') => Some(Value::Text(chars.as_str().to_owned())),
                Some('i') => Some(Value::Int(chars.as_str().parse().ok()?)),
                Some('b') => Some(Value::Bool(chars.as_str() == "1")),
                Some('l') if chars.as_str().is_empty() => Some(Value::List(Vec::new())),
                Some('l') => Some(Value::List(chars.as_str().split('\u{1e}').map(str::to_owned).collect())),
                Some(_) => return None,
            })
        }
        let mut parts = line.splitn(3, '\u{1f}');
        let field = parts.next()?.to_owned();
        Some(FieldChange { field, from: value(parts.next()?)?, to: value(parts.next()?)? })
    }
}

/// A history entry: the fields of one record (a customer, or a record of the
/// customer's: a deal, a task…) one edit changed, from what to what. Written beside the
/// edit, in the customer's collection, and never edited afterwards; who wrote it is the
/// signer of its (only) version. Sensitive fields' changes are sealed under the
/// sensitive key like the fields themselves, so a reader sees the history as far as
/// their keys open the record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Change {
    pub customer: String,
    pub record: String,
    pub at_ms: i64,
    pub changes: Vec<FieldChange>,
}

impl Change {
    /// Fields a change entry never lists: the kind, what is derived from another field,
    /// and the marks sealing adds.
    const UNLISTED: [&'static str; 4] =
        [field::KIND, field::PHONE_MASKED, crate::record::REPAIRED, crate::record::CREATED];

    /// The history entry for writing `fields` over `before` (what the editor saw), or
    /// `None` when nothing changes.
    pub fn between(
        customer: &str,
        record: &str,
        before: &RecordDoc,
        fields: &[(String, Option<Value>)],
        at_ms: i64,
    ) -> Option<Self> {
        let changes: Vec<FieldChange> = fields
            .iter()
            .filter(|(f, _)| !Self::UNLISTED.contains(&f.as_str()))
            .filter_map(|(f, to)| {
                let from = before.get(f).cloned();
                let blank = |v: &Option<Value>| match v {
                    None => true,
                    Some(Value::Text(t)) => t.is_empty(),
                    Some(Value::List(l)) => l.is_empty(),
                    _ => false,
                };
                (from != *to && !(blank(&from) && blank(to))).then(|| FieldChange {
                    field: f.clone(),
                    from,
                    to: to.clone(),
                })
            })
            .collect();
        (!changes.is_empty()).then(|| Change { customer: customer.into(), record: record.into(), at_ms, changes })
    }
}

impl Entity for Change {
    const KIND: EntityKind = EntityKind::Change;
    fn to_fields(&self) -> Vec<(String, Option<Value>)> {
        let (sensitive, basic): (Vec<&FieldChange>, Vec<&FieldChange>) =
            self.changes.iter().partition(|c| is_sensitive(&c.field));
        let json =
            |v: Vec<&FieldChange>| (!v.is_empty()).then(|| Value::List(v.into_iter().map(FieldChange::line).collect()));
        // An entry is written once: a part with nothing in it is left out (a writer
        // without the sensitive key could not write even an empty sensitive part).
        let parts = [(field::CHANGES, json(basic)), (field::SENSITIVE_CHANGES, json(sensitive))];
        let mut fields = vec![
            (field::KIND.into(), text(Self::KIND.as_str())),
            (field::CUSTOMER.into(), text(&self.customer)),
            (field::RECORD.into(), text(&self.record)),
            (field::AT.into(), Some(Value::Int(self.at_ms))),
        ];
        fields.extend(parts.into_iter().filter_map(|(f, v)| Some((f.to_owned(), Some(v?)))));
        fields
    }
    fn from_doc(doc: &RecordDoc) -> Option<Self> {
        if EntityKind::of(doc)? != Self::KIND {
            return None;
        }
        let list = |f: &str| -> Vec<FieldChange> {
            doc.get(f)
                .and_then(Value::as_list)
                .unwrap_or_default()
                .iter()
                .filter_map(|l| FieldChange::parse(l))
                .collect()
        };
        let mut changes = list(field::CHANGES);
        changes.extend(list(field::SENSITIVE_CHANGES));
        Some(Change {
            customer: get_text(doc, field::CUSTOMER),
            record: get_text(doc, field::RECORD),
            at_ms: get_int(doc, field::AT),
            changes,
        })
    }
}

/// Conversion between a typed entity and the field writes that store it.
pub trait Entity: Sized {
    const KIND: EntityKind;
    /// Every field this entity writes, with its value (`None` clears the field).
    fn to_fields(&self) -> Vec<(String, Option<Value>)>;
    /// Read the entity back; absent fields take their defaults. `None` if the record
    /// is of another kind.
    fn from_doc(doc: &RecordDoc) -> Option<Self>;
}

impl Entity for Customer {
    const KIND: EntityKind = EntityKind::Customer;
    fn to_fields(&self) -> Vec<(String, Option<Value>)> {
        use field::*;
        let mut f = vec![
            (KIND.into(), text(Self::KIND.as_str())),
            (NAME.into(), text(&self.name)),
            (COMPANY.into(), text(&self.company)),
            (PHONE.into(), text(&self.phone)),
            (PHONE_MASKED.into(), text(&mask_phone(&self.phone))),
            (WECHAT.into(), text(&self.wechat)),
            (EMAIL.into(), text(&self.email)),
            (ADDRESS.into(), text(&self.address)),
            (ID_NUMBER.into(), text(&self.id_number)),
            (NOTES.into(), text(&self.notes)),
            (PRIVATE_NOTES.into(), text(&self.private_notes)),
            (TAGS.into(), Some(Value::List(self.tags.clone()))),
            (STATUS.into(), self.status.map(|s| Value::Text(s.as_str().into()))),
            // Saving moves an old `stage` into `status` (see `Status::of`).
            (STAGE.into(), None),
            (OWNER.into(), text(&self.owner)),
        ];
        if let Some(c) = &self.consent {
            f.push((CONSENT_PURPOSE.into(), text(&c.purpose)));
            f.push((CONSENT_AT.into(), Some(Value::Int(c.at_ms))));
            f.push((CONSENT_CHANNEL.into(), text(&c.channel)));
            f.push((CONSENT_WITHDRAWN.into(), Some(Value::Bool(c.withdrawn))));
        }
        for (k, v) in &self.custom {
            f.push((format!("{CUSTOM_PREFIX}{k}"), text(v)));
        }
        f
    }
    fn from_doc(doc: &RecordDoc) -> Option<Self> {
        use field::*;
        (EntityKind::of(doc)? == Self::KIND).then(|| Customer {
            name: get_text(doc, NAME),
            company: get_text(doc, COMPANY),
            phone: get_text(doc, PHONE),
            wechat: get_text(doc, WECHAT),
            email: get_text(doc, EMAIL),
            address: get_text(doc, ADDRESS),
            id_number: get_text(doc, ID_NUMBER),
            notes: get_text(doc, NOTES),
            private_notes: get_text(doc, PRIVATE_NOTES),
            tags: doc.get(TAGS).and_then(Value::as_list).map(<[String]>::to_vec).unwrap_or_default(),
            status: Status::of(doc),
            owner: get_text(doc, OWNER),
            consent: doc.text(CONSENT_PURPOSE).map(|purpose| Consent {
                purpose: purpose.to_owned(),
                at_ms: get_int(doc, CONSENT_AT),
                channel: get_text(doc, CONSENT_CHANNEL),
                withdrawn: doc.get(CONSENT_WITHDRAWN).and_then(Value::as_bool).unwrap_or(false),
            }),
            custom: doc
                .fields
                .iter()
                .filter_map(|(k, st)| {
                    let name = k.strip_prefix(CUSTOM_PREFIX)?;
                    Some((name.to_owned(), st.value.as_ref()?.as_text()?.to_owned()))
                })
                .collect(),
        })
    }
}

impl Entity for Contact {
    const KIND: EntityKind = EntityKind::Contact;
    fn to_fields(&self) -> Vec<(String, Option<Value>)> {
        use field::*;
        vec![
            (KIND.into(), text(Self::KIND.as_str())),
            (CUSTOMER.into(), text(&self.customer)),
            (NAME.into(), text(&self.name)),
            (ROLE.into(), text(&self.role)),
            (PHONE.into(), text(&self.phone)),
            (PHONE_MASKED.into(), text(&mask_phone(&self.phone))),
            (EMAIL.into(), text(&self.email)),
        ]
    }
    fn from_doc(doc: &RecordDoc) -> Option<Self> {
        use field::*;
        (EntityKind::of(doc)? == Self::KIND).then(|| Contact {
            customer: get_text(doc, CUSTOMER),
            name: get_text(doc, NAME),
            role: get_text(doc, ROLE),
            phone: get_text(doc, PHONE),
            email: get_text(doc, EMAIL),
        })
    }
}

impl Entity for Interaction {
    const KIND: EntityKind = EntityKind::Interaction;
    fn to_fields(&self) -> Vec<(String, Option<Value>)> {
        use field::*;
        vec![
            (KIND.into(), text(Self::KIND.as_str())),
            (CUSTOMER.into(), text(&self.customer)),
            (CHANNEL.into(), text(self.channel.as_str())),
            (AT.into(), Some(Value::Int(self.at_ms))),
            (SUMMARY.into(), text(&self.summary)),
        ]
    }
    fn from_doc(doc: &RecordDoc) -> Option<Self> {
        use field::*;
        (EntityKind::of(doc)? == Self::KIND).then(|| Interaction {
            customer: get_text(doc, CUSTOMER),
            channel: doc.text(CHANNEL).and_then(Channel::parse).unwrap_or(Channel::Note),
            at_ms: get_int(doc, AT),
            summary: get_text(doc, SUMMARY),
        })
    }
}

impl Entity for Task {
    const KIND: EntityKind = EntityKind::Task;
    fn to_fields(&self) -> Vec<(String, Option<Value>)> {
        use field::*;
        vec![
            (KIND.into(), text(Self::KIND.as_str())),
            (CUSTOMER.into(), text(&self.customer)),
            (TITLE.into(), text(&self.title)),
            (DUE.into(), Some(Value::Int(self.due_ms))),
            (ASSIGNEE.into(), text(&self.assignee)),
            (DONE.into(), Some(Value::Bool(self.done))),
        ]
    }
    fn from_doc(doc: &RecordDoc) -> Option<Self> {
        use field::*;
        (EntityKind::of(doc)? == Self::KIND).then(|| Task {
            customer: get_text(doc, CUSTOMER),
            title: get_text(doc, TITLE),
            due_ms: get_int(doc, DUE),
            assignee: get_text(doc, ASSIGNEE),
            done: doc.get(DONE).and_then(Value::as_bool).unwrap_or(false),
        })
    }
}

impl Entity for Deal {
    const KIND: EntityKind = EntityKind::Deal;
    fn to_fields(&self) -> Vec<(String, Option<Value>)> {
        use field::*;
        vec![
            (KIND.into(), text(Self::KIND.as_str())),
            (CUSTOMER.into(), text(&self.customer)),
            (TITLE.into(), text(&self.title)),
            (PIPELINE.into(), text(&self.pipeline)),
            (STAGE.into(), text(&self.stage)),
            (AMOUNT.into(), Some(Value::Int(self.amount))),
            (CURRENCY.into(), text(&self.currency)),
            (LOST_REASON.into(), (!self.lost_reason.is_empty()).then(|| Value::Text(self.lost_reason.clone()))),
            (CLOSED_AT.into(), self.closed_at_ms.map(Value::Int)),
        ]
    }
    fn from_doc(doc: &RecordDoc) -> Option<Self> {
        use field::*;
        (EntityKind::of(doc)? == Self::KIND).then(|| Deal {
            customer: get_text(doc, CUSTOMER),
            title: get_text(doc, TITLE),
            pipeline: doc.text(PIPELINE).unwrap_or(DEFAULT_PIPELINE).to_owned(),
            stage: doc.text(STAGE).unwrap_or(Stage::Lead.as_str()).to_owned(),
            amount: get_int(doc, AMOUNT),
            currency: get_text(doc, CURRENCY),
            lost_reason: get_text(doc, LOST_REASON),
            closed_at_ms: doc.get(CLOSED_AT).and_then(Value::as_int),
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::hlc::{Hlc, Stamp};
    use crate::ids::Username;
    use crate::record::FieldState;

    #[test]
    fn a_mailto_link_is_one_plain_address_or_none() {
        assert_eq!(mailto(" wang@example.cn ").as_deref(), Some("mailto:wang@example.cn"));
        assert_eq!(mailto("张伟@例子.中国").as_deref(), Some("mailto:张伟@例子.中国"));
        for bad in [
            "",
            "wang@example.cn?bcc=spy@evil.example",
            "wang@example.cn&body=pay%20here",
            "wang@example.cn,spy@evil.example",
            "a@b@example.cn",
            "wang@example.cn#x",
            "javascript:alert(1)//@example.cn",
            "wang @example.cn",
        ] {
            assert_eq!(mailto(bad), None, "{bad}");
        }
    }

    pub(crate) fn doc_of(fields: Vec<(String, Option<Value>)>) -> RecordDoc {
        let stamp = Stamp { hlc: Hlc { wall_ms: 1, counter: 0 }, author: Username::parse("ann").unwrap() };
        let mut d = RecordDoc::new();
        for (f, v) in fields {
            d.apply(&f, FieldState { value: v, stamp: stamp.clone() });
        }
        d
    }

    #[test]
    fn a_customer_saved_with_a_stage_reads_as_the_status_it_meant_and_saving_moves_it() {
        for (stage, status) in [
            ("lead", Status::Lead),
            ("qualified", Status::Prospect),
            ("negotiation", Status::Prospect),
            ("won", Status::Customer),
            ("lost", Status::Inactive),
        ] {
            let doc = doc_of(vec![(field::KIND.into(), text("customer")), (field::STAGE.into(), text(stage))]);
            let c = Customer::from_doc(&doc).unwrap();
            assert_eq!(c.status, Some(status), "{stage}");
            let saved = c.to_fields();
            assert!(saved.contains(&(field::STAGE.into(), None)), "saving drops the old field");
            assert!(saved.contains(&(field::STATUS.into(), text(status.as_str()))));
        }
    }

    #[test]
    fn masks_keep_three_and_four_digits() {
        assert_eq!(mask_phone("13812341234"), "138****1234");
        assert_eq!(mask_phone("+86 138-1234-1234"), "+86*******1234");
        assert_eq!(mask_phone("12345"), "*****");
    }

    #[test]
    fn entities_round_trip_through_fields() {
        let c = Customer {
            name: "Li Wei".into(),
            company: "Acme".into(),
            phone: "13812341234".into(),
            tags: vec!["vip".into()],
            status: Some(Status::Prospect),
            consent: Some(Consent { purpose: "newsletter".into(), at_ms: 5, channel: "web".into(), withdrawn: false }),
            custom: [("industry".to_owned(), "steel".to_owned())].into(),
            ..Default::default()
        };
        let doc = doc_of(c.to_fields());
        assert_eq!(Customer::from_doc(&doc).unwrap(), c);
        assert_eq!(doc.text(field::PHONE_MASKED), Some("138****1234"));
        assert!(Deal::from_doc(&doc).is_none());

        let d = Deal {
            customer: "x".into(),
            title: "t".into(),
            pipeline: "renewals".into(),
            stage: "lost".into(),
            amount: 12_345,
            currency: "CNY".into(),
            lost_reason: "budget cut".into(),
            closed_at_ms: Some(7),
        };
        assert_eq!(Deal::from_doc(&doc_of(d.to_fields())).unwrap(), d);
        let i = Interaction { customer: "x".into(), channel: Channel::WeChat, at_ms: 9, summary: "s".into() };
        assert_eq!(Interaction::from_doc(&doc_of(i.to_fields())).unwrap(), i);
        let t = Task { customer: "x".into(), title: "call back".into(), due_ms: 3, assignee: "bob".into(), done: true };
        assert_eq!(Task::from_doc(&doc_of(t.to_fields())).unwrap(), t);
        let k = Contact {
            customer: "x".into(),
            name: "n".into(),
            role: "cfo".into(),
            phone: "1".into(),
            email: "e".into(),
        };
        assert_eq!(Contact::from_doc(&doc_of(k.to_fields())).unwrap(), k);
    }

    #[test]
    fn sensitive_fields_are_the_designed_ones() {
        for f in [field::PHONE, field::EMAIL, field::ADDRESS, field::ID_NUMBER, field::PRIVATE_NOTES] {
            assert!(is_sensitive(f));
        }
        for f in [field::NAME, field::COMPANY, field::PHONE_MASKED, field::NOTES, field::STAGE] {
            assert!(!is_sensitive(f));
        }
    }

    #[test]
    fn a_history_entry_lists_what_changed_and_keeps_sensitive_changes_under_the_sensitive_key() {
        let before = doc_of(
            Customer {
                name: "Zhang Wei".into(),
                phone: "13800001111".into(),
                notes: "old".into(),
                ..Default::default()
            }
            .to_fields(),
        );
        let after = Customer {
            name: "Zhang Wei".into(),
            phone: "13900002222".into(),
            notes: "new".into(),
            company: String::new(),
            ..Default::default()
        };
        let c = Change::between("c1", "c1", &before, &after.to_fields(), 5).expect("something changed");
        let changed: Vec<&str> = c.changes.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(changed, vec![field::PHONE, field::NOTES], "name unchanged, masked phone derived, blanks equal");
        let fields = c.to_fields();
        let stored = doc_of(fields.clone());
        let joined = |f| stored.get(f).and_then(Value::as_list).unwrap().join(" ");
        assert!(!joined(field::CHANGES).contains("1390000"), "the phone is not in the basic section");
        assert!(joined(field::SENSITIVE_CHANGES).contains("13900002222"));
        // Every kind of value comes back as it was.
        for v in [
            None,
            text(""),
            text("a\u{1f}b"),
            Some(Value::Int(-5)),
            Some(Value::Bool(true)),
            Some(Value::List(vec![])),
            Some(Value::List(vec!["x".into(), "y".into()])),
        ] {
            let c = FieldChange { field: "f".into(), from: v.clone(), to: v.clone() };
            let back = FieldChange::parse(&c.line()).unwrap();
            if v == text("a\u{1f}b") {
                assert_eq!(back.to, text("a b"));
            } else {
                assert_eq!(back, c);
            }
        }
        assert!(is_sensitive(field::SENSITIVE_CHANGES) && !is_sensitive(field::CHANGES));
        let back = Change::from_doc(&stored).unwrap();
        assert_eq!(back.changes.len(), 2);
        assert_eq!((back.customer.as_str(), back.at_ms), ("c1", 5));
        // A reader without the sensitive key sees the rest.
        let mut basic_only = stored.clone();
        basic_only.fields.remove(field::SENSITIVE_CHANGES);
        assert_eq!(Change::from_doc(&basic_only).unwrap().changes[0].field, field::NOTES);
        assert!(Change::between("c1", "c1", &before, &[(field::NAME.into(), text("Zhang Wei"))], 6).is_none());
        // The stored form is frozen: entries written by this version read the same forever.
        let golden = FieldChange {
            field: "stage".into(),
            from: text("lead"),
            to: Some(Value::List(vec!["a".into(), "b".into()])),
        };
        assert_eq!(golden.line(), "stage\u{1f}tlead\u{1f}la\u{1e}b");
        let golden = FieldChange { field: "amount".into(), from: None, to: Some(Value::Int(120050)) };
        assert_eq!(FieldChange::parse("amount\u{1f}\u{1f}i120050"), Some(golden));
        assert_eq!(FieldChange::parse("done\u{1f}b0\u{1f}b1").unwrap().to, Some(Value::Bool(true)));
    }
}
