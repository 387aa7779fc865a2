//! Pipelines: the ways a team's deals move (new business, renewals…), each with the open
//! stages an admin defined, and the two closing stages every pipeline shares, won and
//! lost. A deal names its pipeline and its stage by key; moving it is an ordinary edit
//! (offline, synced, in its history), and [`move_deal`] is the one place that says what
//! a move writes: a lost deal needs a reason, a closed one its date.
//!
//! The definitions live in the team's settings record (`crate::team::settings_record`),
//! encrypted like any record, and count only when an admin of the verified chain signed
//! them ([`pipelines`]); without that, every client uses [`default_pipelines`].

use crate::chain::TeamState;
use crate::domain::{field, Stage};
use crate::ids::Username;
use crate::record::{RecordDoc, Value};

/// The pipeline a deal is in when it names none (every deal written before pipelines).
pub const DEFAULT: &str = crate::domain::DEFAULT_PIPELINE;
pub const WON: &str = "won";
pub const LOST: &str = "lost";
/// The settings record's field holding the definitions.
pub const PIPELINES: &str = "pipelines";
/// Limits, so a definition cannot break every member's board.
pub const MAX_PIPELINES: usize = 20;
pub const MAX_STAGES: usize = 20;
pub const MAX_NAME: usize = 60;

/// An open stage: its key (what deals store) and its name (empty: the default stage's
/// translated label, for the default pipeline's built-in stages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageDef {
    pub key: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pipeline {
    pub id: String,
    /// Empty for the default pipeline until an admin names it (the app shows "Sales").
    pub name: String,
    pub stages: Vec<StageDef>,
}

impl Pipeline {
    /// Every stage a deal of this pipeline may be in: the open ones, then won and lost.
    pub fn all_stages(&self) -> impl Iterator<Item = &str> {
        self.stages.iter().map(|s| s.key.as_str()).chain([WON, LOST])
    }
    pub fn has_stage(&self, key: &str) -> bool {
        self.all_stages().any(|k| k == key)
    }
    pub fn stage_name(&self, key: &str) -> Option<&str> {
        self.stages.iter().find(|s| s.key == key).map(|s| s.name.as_str())
    }

    /// Stored as one line: `id␟name␟key␞name␟key␞name…` (U+001F between the parts, U+001E
    /// between a stage's key and name).
    pub fn line(&self) -> String {
        let mut parts = vec![self.id.clone(), self.name.clone()];
        parts.extend(self.stages.iter().map(|s| format!("{}\u{1e}{}", s.key, s.name)));
        parts.join("\u{1f}")
    }

    pub fn parse(line: &str) -> Option<Self> {
        let mut parts = line.split('\u{1f}');
        let id = parts.next().filter(|id| valid_key(id))?.to_owned();
        let name = parts.next()?.chars().take(MAX_NAME).collect();
        let mut stages: Vec<StageDef> = Vec::new();
        for part in parts.take(MAX_STAGES) {
            let (key, name) = part.split_once('\u{1e}')?;
            if !valid_key(key) || key == WON || key == LOST || stages.iter().any(|s| s.key == key) {
                return None;
            }
            stages.push(StageDef { key: key.to_owned(), name: name.chars().take(MAX_NAME).collect() });
        }
        (!stages.is_empty()).then_some(Pipeline { id, name, stages })
    }
}

/// Keys are short, plain ASCII: they are compared, never shown.
fn valid_key(k: &str) -> bool {
    (1..=40).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The pipeline every team starts with: lead, qualified, proposal, negotiation.
pub fn default_pipelines() -> Vec<Pipeline> {
    let stages = [Stage::Lead, Stage::Qualified, Stage::Proposal, Stage::Negotiation]
        .into_iter()
        .map(|s| StageDef { key: s.as_str().to_owned(), name: String::new() })
        .collect();
    vec![Pipeline { id: DEFAULT.to_owned(), name: String::new(), stages }]
}

/// The settings field's value for these pipelines.
pub fn to_value(pipelines: &[Pipeline]) -> Value {
    Value::List(pipelines.iter().map(Pipeline::line).collect())
}

/// The team's pipelines: those in `settings` if an admin of the verified chain signed
/// its current version and wrote the field, otherwise the default. The default pipeline
/// is always there (first), so no deal is ever without a board.
pub fn pipelines(settings: Option<&RecordDoc>, signer: Option<&Username>, state: &TeamState) -> Vec<Pipeline> {
    let defined = settings.and_then(|doc| {
        let f = doc.fields.get(PIPELINES)?;
        if !(signer.is_some_and(|s| state.is_admin(s)) && state.is_admin(&f.stamp.author)) {
            return None;
        }
        Some(
            f.value
                .as_ref()?
                .as_list()?
                .iter()
                .take(MAX_PIPELINES)
                .filter_map(|l| Pipeline::parse(l))
                .collect::<Vec<_>>(),
        )
    });
    let mut list = defined.unwrap_or_default();
    if !list.iter().any(|p| p.id == DEFAULT) {
        list.splice(0..0, default_pipelines());
    }
    list
}

/// Why a move is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MoveError {
    /// Moving to lost needs a reason.
    NeedsReason,
    /// The stage is not one of the deal's pipeline.
    UnknownStage,
}

/// The fields a move of a deal (in `pipeline`) to `stage` writes: the stage; when won or
/// lost, the date it closed (kept if it was closed already); when lost, the reason
/// (required); when reopened, neither.
pub fn move_deal(
    pipeline: &Pipeline,
    deal: &crate::domain::Deal,
    stage: &str,
    lost_reason: &str,
    now_ms: i64,
) -> Result<Vec<(String, Option<Value>)>, MoveError> {
    if !pipeline.has_stage(stage) {
        return Err(MoveError::UnknownStage);
    }
    let reason = lost_reason.trim();
    if stage == LOST && reason.is_empty() {
        return Err(MoveError::NeedsReason);
    }
    let closing = stage == WON || stage == LOST;
    let closed_at = if !closing {
        None
    } else if deal.stage == stage {
        deal.closed_at_ms.or(Some(now_ms))
    } else {
        Some(now_ms)
    };
    Ok(vec![
        (field::STAGE.into(), Some(Value::Text(stage.to_owned()))),
        (field::CLOSED_AT.into(), closed_at.map(Value::Int)),
        (field::LOST_REASON.into(), (stage == LOST).then(|| Value::Text(reason.chars().take(500).collect()))),
    ])
}

/// A key for a new stage or pipeline.
pub fn new_key() -> String {
    crate::ids::RecordId::random().to_string()[..12].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Deal, Entity};

    fn deal(stage: &str) -> Deal {
        Deal {
            customer: "c".into(),
            title: "t".into(),
            pipeline: DEFAULT.into(),
            stage: stage.into(),
            amount: 1,
            currency: "CNY".into(),
            lost_reason: String::new(),
            closed_at_ms: None,
        }
    }

    #[test]
    fn the_stored_line_is_frozen() {
        let p = Pipeline {
            id: "renewals".into(),
            name: "续约".into(),
            stages: vec![
                StageDef { key: "a1".into(), name: "Contacted".into() },
                StageDef { key: "b2".into(), name: "报价".into() },
            ],
        };
        assert_eq!(p.line(), "renewals\u{1f}续约\u{1f}a1\u{1e}Contacted\u{1f}b2\u{1e}报价");
        assert_eq!(Pipeline::parse(&p.line()), Some(p));
        for bad in [
            "",
            "x",
            "x\u{1f}n",
            "x\u{1f}n\u{1f}won\u{1e}W",
            "x\u{1f}n\u{1f}a\u{1e}A\u{1f}a\u{1e}B",
            "bad id\u{1f}n\u{1f}a\u{1e}A",
        ] {
            assert_eq!(Pipeline::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_lost_deal_needs_a_reason_and_closing_records_the_date() {
        let p = &default_pipelines()[0];
        assert_eq!(move_deal(p, &deal("lead"), LOST, "  ", 5), Err(MoveError::NeedsReason));
        assert_eq!(move_deal(p, &deal("lead"), "nowhere", "", 5), Err(MoveError::UnknownStage));
        let lost = move_deal(p, &deal("proposal"), LOST, " too expensive ", 5).unwrap();
        assert!(lost.contains(&(field::CLOSED_AT.into(), Some(Value::Int(5)))));
        assert!(lost.contains(&(field::LOST_REASON.into(), Some(Value::Text("too expensive".into())))));
        let reopened = move_deal(p, &deal(LOST), "negotiation", "", 9).unwrap();
        assert!(reopened.contains(&(field::CLOSED_AT.into(), None)));
        assert!(reopened.contains(&(field::LOST_REASON.into(), None)));
        let mut won = deal(WON);
        won.closed_at_ms = Some(3);
        assert!(move_deal(p, &won, WON, "", 9).unwrap().contains(&(field::CLOSED_AT.into(), Some(Value::Int(3)))));
    }

    #[test]
    fn pipelines_count_only_under_an_admins_signature_and_the_default_is_always_there() {
        use crate::chain::tests::{append, new_chain, Person};
        use crate::chain::{Action, Role};
        use crate::hlc::{Hlc, Stamp};
        use crate::record::FieldState;
        let (ann, bob) = (Person::new("ann"), Person::new("bob"));
        let mut chain = new_chain(&ann);
        append(&mut chain, &ann, Action::AddMember { member: bob.member(Role::Member) });
        let state = TeamState::verify(&chain, None).unwrap();
        let renewals = Pipeline {
            id: "renewals".into(),
            name: "Renewals".into(),
            stages: vec![StageDef { key: "asked".into(), name: "Asked".into() }],
        };
        let set_by = |who: &Person| {
            let mut doc = RecordDoc::new();
            let stamp = Stamp { hlc: Hlc { wall_ms: 1, counter: 0 }, author: who.name.clone() };
            doc.apply(PIPELINES, FieldState { value: Some(to_value(std::slice::from_ref(&renewals))), stamp });
            doc
        };
        let ids = |list: Vec<Pipeline>| list.into_iter().map(|p| p.id).collect::<Vec<_>>();
        assert_eq!(ids(pipelines(Some(&set_by(&ann)), Some(&ann.name), &state)), ["sales", "renewals"]);
        assert_eq!(
            ids(pipelines(Some(&set_by(&bob)), Some(&bob.name), &state)),
            ["sales"],
            "a member cannot define them"
        );
        assert_eq!(
            ids(pipelines(Some(&set_by(&ann)), Some(&bob.name), &state)),
            ["sales"],
            "a member's version naming the admin as the field's author does not count"
        );
        assert_eq!(ids(pipelines(None, None, &state)), ["sales"]);
    }

    #[test]
    fn a_deal_written_before_pipelines_is_in_the_default_one() {
        let mut d = deal("qualified");
        let mut fields = d.to_fields();
        fields.retain(|(k, _)| k != field::PIPELINE);
        let doc = crate::domain::tests::doc_of(fields);
        d.pipeline = DEFAULT.into();
        assert_eq!(Deal::from_doc(&doc), Some(d));
        assert!(default_pipelines()[0].has_stage("qualified"));
    }
}
