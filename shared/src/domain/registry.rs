//! The table of built-in customer fields ([`CUSTOMER_FIELDS`]), one row each, and the
//! shape of a row. Read through [`crate::fields`] by the form, the table, import,
//! exports and search, and by [`super::is_sensitive`] for sealing.

use super::field;

/// How the customer form takes a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// One line of text.
    Text,
    /// A phone number (checked by [`crate::domain::valid_phone`]).
    Tel,
    /// An email address (checked by [`crate::domain::valid_email`]).
    Email,
    /// Several lines of text.
    Area,
    /// Words separated by commas, stored as a list.
    Tags,
    /// One of [`crate::domain::Status`], chosen from a list.
    Status,
    /// A day, stored as Unix ms.
    Date,
    /// Yes or no.
    Check,
}

impl Input {
    /// The `type` of the `<input>` a one-line field is typed in (`None`: not one line).
    pub fn line_type(self) -> Option<&'static str> {
        match self {
            Input::Text => Some("text"),
            Input::Tel => Some("tel"),
            Input::Email => Some("email"),
            _ => None,
        }
    }
}

/// Whether customer search looks at a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Search {
    No,
    /// Its text (a list's items).
    Text,
    /// Its text, and a Chinese text's pinyin (张伟 by `zhangwei`, `zhang wei`, `zw`).
    Pinyin,
}

/// Whether a spreadsheet column can be imported into a field, and the words (lower
/// case, English and Chinese) that make the import guess it from a column's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Import {
    No,
    Words(&'static [&'static str]),
    /// Its words count only when no other field's are in the header: the name's
    /// ("Company name" is a company, 客户电话 a phone).
    Fallback(&'static [&'static str]),
}

/// Whether the customer table offers a field as a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    No,
    /// In the column picker, not shown until chosen.
    Offered,
    /// In the column picker, and shown by default.
    Shown,
}

/// One built-in customer field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldSpec {
    /// The stored name (a [`field`] constant).
    pub name: &'static str,
    /// Its label's key in the app's translation tables.
    pub label: &'static str,
    pub input: Input,
    /// Most characters the form takes (0: not typed as text).
    pub max_len: u32,
    /// Sealed under a collection's `sensitive` key: only roles holding it read or write it.
    pub sensitive: bool,
    /// A field holding what readers without the sensitive key see in its place (the
    /// masked phone); tables, exports and search read it when the field is absent.
    pub mask: Option<&'static str>,
    pub search: Search,
    pub import: Import,
    /// Its column's header in both exports (English; the import maps it back), or
    /// `None`: not exported.
    pub export: Option<&'static str>,
    pub column: Column,
}

const NONE: FieldSpec = FieldSpec {
    name: "",
    label: "",
    input: Input::Text,
    max_len: 0,
    sensitive: false,
    mask: None,
    search: Search::No,
    import: Import::No,
    export: None,
    column: Column::No,
};

/// The built-in customer fields, in the order the exports, the import's choices and the
/// table's columns list them, and the form its one-line fields and its text areas. (The
/// name heads every table row; it is not a column to choose.)
pub const CUSTOMER_FIELDS: &[FieldSpec] = &[
    FieldSpec {
        name: field::NAME,
        label: "customer.name",
        max_len: 200,
        search: Search::Pinyin,
        import: Import::Fallback(&["name", "姓名", "客户"]),
        export: Some("Name"),
        ..NONE
    },
    FieldSpec {
        name: field::COMPANY,
        label: "customer.company",
        max_len: 200,
        search: Search::Pinyin,
        import: Import::Words(&["company", "organisation", "organization", "account", "公司"]),
        export: Some("Company"),
        column: Column::Shown,
        ..NONE
    },
    FieldSpec {
        name: field::PHONE,
        label: "customer.phone",
        input: Input::Tel,
        max_len: 32,
        sensitive: true,
        mask: Some(field::PHONE_MASKED),
        search: Search::Text,
        import: Import::Words(&["phone", "mobile", "tel", "手机", "电话"]),
        export: Some("Phone"),
        column: Column::Shown,
    },
    FieldSpec {
        name: field::WECHAT,
        label: "customer.wechat",
        max_len: 64,
        sensitive: true,
        search: Search::Text,
        import: Import::Words(&["wechat", "weixin", "微信"]),
        export: Some("WeChat ID"),
        column: Column::Offered,
        ..NONE
    },
    FieldSpec {
        name: field::EMAIL,
        label: "customer.email",
        input: Input::Email,
        max_len: 254,
        sensitive: true,
        search: Search::Text,
        import: Import::Words(&[
            "e-mail",
            "email",
            "mail",
            "邮箱",
            "邮件",
            // Longer than "address", so the email wins over the address.
            "email address",
            "e-mail address",
            "mail address",
            "邮箱地址",
            "邮件地址",
        ]),
        export: Some("Email"),
        column: Column::Offered,
        ..NONE
    },
    FieldSpec {
        name: field::ADDRESS,
        label: "customer.address",
        max_len: 500,
        sensitive: true,
        import: Import::Words(&["address", "地址"]),
        export: Some("Address"),
        ..NONE
    },
    FieldSpec {
        name: field::ID_NUMBER,
        label: "customer.id_number",
        max_len: 64,
        sensitive: true,
        import: Import::Words(&["id number", "id_number", "national id", "身份证", "证件"]),
        export: Some("ID number"),
        ..NONE
    },
    FieldSpec {
        name: field::STATUS,
        label: "customer.status",
        input: Input::Status,
        import: Import::Words(&["stage", "status", "阶段", "状态"]),
        export: Some("Status"),
        column: Column::Shown,
        ..NONE
    },
    FieldSpec {
        name: field::OWNER,
        label: "customer.owner",
        max_len: 64,
        import: Import::Words(&["owner", "负责人"]),
        export: Some("Owner"),
        column: Column::Shown,
        ..NONE
    },
    FieldSpec {
        name: field::TAGS,
        label: "customer.tags",
        input: Input::Tags,
        max_len: 500,
        search: Search::Text,
        import: Import::Words(&["tag", "label", "标签"]),
        export: Some("Tags"),
        column: Column::Offered,
        ..NONE
    },
    FieldSpec {
        name: field::NOTES,
        label: "customer.notes",
        input: Input::Area,
        max_len: NOTES_MAX,
        search: Search::Text,
        import: Import::Words(&["note", "comment", "备注"]),
        export: Some("Notes"),
        ..NONE
    },
    FieldSpec {
        name: field::PRIVATE_NOTES,
        label: "customer.private_notes",
        input: Input::Area,
        max_len: NOTES_MAX,
        sensitive: true,
        ..NONE
    },
    FieldSpec { name: field::CONSENT_PURPOSE, label: "customer.consent_purpose", max_len: 500, ..NONE },
    FieldSpec { name: field::CONSENT_CHANNEL, label: "customer.consent_channel", max_len: 200, ..NONE },
    FieldSpec { name: field::CONSENT_AT, label: "customer.consent_date", input: Input::Date, ..NONE },
    FieldSpec { name: field::CONSENT_WITHDRAWN, label: "customer.consent_withdrawn", input: Input::Check, ..NONE },
];

/// Notes may be long, not unbounded (every device of the team stores and draws them).
const NOTES_MAX: u32 = 10_000;
