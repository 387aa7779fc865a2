//! Saved views of the customer list: a name, whether it opens by default, and the
//! list's state (filters, sort, columns, layout) as key–value pairs. Each user's views
//! are one record (at an id derived from the team and the user), encrypted and synced
//! like any other, so they follow the user to every device.

use crate::ids::{RecordId, TeamId, Username};
use crate::record::Value;

/// The record's field holding the views.
pub const VIEWS: &str = "views";
pub const MAX_VIEWS: usize = 30;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedView {
    pub name: String,
    pub default: bool,
    pub state: Vec<(String, String)>,
}

impl SavedView {
    /// One line: `name␟0|1␟key␞value␝key␞value…` (U+001F, U+001E, U+001D).
    pub fn line(&self) -> String {
        let state: Vec<String> = self.state.iter().map(|(k, v)| format!("{k}\u{1e}{v}")).collect();
        format!("{}\u{1f}{}\u{1f}{}", self.name, if self.default { 1 } else { 0 }, state.join("\u{1d}"))
    }

    pub fn parse(line: &str) -> Option<Self> {
        let mut p = line.splitn(3, '\u{1f}');
        let name: String = p.next()?.chars().take(60).collect();
        let default = match p.next()? {
            "0" => false,
            "1" => true,
            _ => return None,
        };
        let state = match p.next()? {
            "" => Vec::new(),
            s => s
                .split('\u{1d}')
                .map(|kv| kv.split_once('\u{1e}').map(|(k, v)| (k.to_owned(), v.to_owned())))
                .collect::<Option<Vec<_>>>()?,
        };
        (!name.trim().is_empty()).then_some(SavedView { name, default, state })
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.state.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

/// The record holding `user`'s views in `team`.
pub fn views_record(team: TeamId, user: &Username) -> RecordId {
    let h = crate::crypto::sha256(b"quietdesk/v1/views-record", &[team.as_bytes(), user.as_str().as_bytes()]);
    RecordId(h[..16].try_into().expect("16 of 32 bytes"))
}

pub fn to_value(views: &[SavedView]) -> Value {
    Value::List(views.iter().take(MAX_VIEWS).map(SavedView::line).collect())
}

pub fn from_value(v: Option<&Value>) -> Vec<SavedView> {
    v.and_then(Value::as_list).unwrap_or_default().iter().take(MAX_VIEWS).filter_map(|l| SavedView::parse(l)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stored_line_is_frozen() {
        let v = SavedView {
            name: "华东 VIP".into(),
            default: true,
            state: vec![("tag".into(), "vip".into()), ("sort".into(), "company".into())],
        };
        assert_eq!(v.line(), "华东 VIP\u{1f}1\u{1f}tag\u{1e}vip\u{1d}sort\u{1e}company");
        assert_eq!(SavedView::parse(&v.line()), Some(v.clone()));
        assert_eq!(from_value(Some(&to_value(std::slice::from_ref(&v)))), vec![v]);
        let empty = SavedView { name: "All".into(), default: false, state: vec![] };
        assert_eq!(SavedView::parse(&empty.line()), Some(empty));
        for bad in ["", "x", "x\u{1f}2\u{1f}", " \u{1f}0\u{1f}", "x\u{1f}0\u{1f}novalue"] {
            assert_eq!(SavedView::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn each_user_has_their_own_record() {
        let team = TeamId::random();
        let (ann, bob) = (Username::parse("ann").unwrap(), Username::parse("bob").unwrap());
        assert_ne!(views_record(team, &ann), views_record(team, &bob));
        assert_eq!(views_record(team, &ann), views_record(team, &ann));
        assert_ne!(views_record(team, &ann), crate::team::settings_record(team));
    }
}
