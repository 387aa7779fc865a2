//! OpenAPI schemas (utoipa) for the types whose JSON form is written by hand: ids as
//! hex, byte strings as base64, names, string enums, and the signed chain entry. The
//! API's request and response structs derive theirs (`feature = "openapi"`); the server
//! assembles the document at `/api/openapi.json`.

use std::borrow::Cow;

use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
use utoipa::openapi::{RefOr, Schema};
use utoipa::{PartialSchema, ToSchema};

fn string(description: &str, pattern: Option<&str>, format: Option<KnownFormat>) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
        .pattern(pattern)
        .format(format.map(SchemaFormat::KnownFormat))
}

macro_rules! schema {
    ($ty:ty, $name:literal, $build:expr) => {
        impl PartialSchema for $ty {
            fn schema() -> RefOr<Schema> {
                RefOr::T(Schema::Object($build.build()))
            }
        }
        impl ToSchema for $ty {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed($name)
            }
        }
    };
}

const ID: &str = "^[0-9a-f]{32}$";
schema!(crate::ids::TeamId, "TeamId", string("A team: 16 random bytes as hex.", Some(ID), None));
schema!(crate::ids::RecordId, "RecordId", string("A record (or approval): 16 random bytes as hex.", Some(ID), None));
schema!(crate::ids::CollectionId, "CollectionId", string("A collection: 16 random bytes as hex.", Some(ID), None));
schema!(crate::ids::InviteId, "InviteId", string("An invitation: 16 random bytes as hex.", Some(ID), None));
schema!(
    crate::ids::Username,
    "Username",
    string(
        "3–32 of a–z, 0–9, '.', '_', '-', starting with a letter or digit.",
        Some("^[a-z0-9][a-z0-9._-]{2,31}$"),
        None
    )
    .min_length(Some(3))
    .max_length(Some(32))
);
schema!(
    crate::crypto::identity::AccountBundle,
    "AccountBundle",
    string(
        "The user's identity keys sealed under their passphrase-derived key (base64).",
        None,
        Some(KnownFormat::Byte)
    )
);
schema!(
    crate::crypto::wrap::KeyWrap,
    "KeyWrap",
    string("A collection key wrapped to one member (X25519 + AES-256-GCM, base64).", None, Some(KnownFormat::Byte))
);
schema!(
    crate::crypto::envelope::SealedRecord,
    "SealedRecord",
    string("A record envelope sealed by a client (base64); the server cannot open it.", None, Some(KnownFormat::Byte))
);
schema!(
    crate::api::SealedAudit,
    "SealedAudit",
    string("An audit entry signed and sealed for the team's admins (base64).", None, Some(KnownFormat::Byte))
);
schema!(
    crate::crypto::Scope,
    "Scope",
    string("Which of a collection's keys: basic or sensitive fields.", None, None)
        .enum_values(Some(["basic", "sensitive"]))
);
schema!(
    crate::chain::Role,
    "Role",
    string("A member's role.", None, None).enum_values(Some(["admin", "manager", "member", "support"]))
);
schema!(
    crate::api::ApprovalKind,
    "ApprovalKind",
    string("A risky action that needs an admin's approval.", None, None).enum_values(Some([
        "export_all",
        "bulk_delete",
        "grant_admin"
    ]))
);
schema!(
    crate::chain::ChainEntry,
    "ChainEntry",
    ObjectBuilder::new().description(Some(
        "One entry of a team's membership chain: index, previous hash, author, epoch, action \
         (create, add/remove member, change role, rotate keys, …) and the author's Ed25519 \
         signature. Clients verify the whole chain; the server checks it too before storing.",
    ))
);

impl ToSchema for crate::crypto::identity::PublicIdentity {}
impl PartialSchema for crate::crypto::identity::PublicIdentity {
    fn schema() -> RefOr<Schema> {
        let key = |what: &str| string(what, None, Some(KnownFormat::Byte));
        ObjectBuilder::new()
            .description(Some("A user's public keys (base64, 32 bytes each)."))
            .property("sign_pk", key("Ed25519 public key"))
            .required("sign_pk")
            .property("dh_pk", key("X25519 public key"))
            .required("dh_pk")
            .into()
    }
}

impl ToSchema for crate::crypto::passphrase::KdfParams {}
impl PartialSchema for crate::crypto::passphrase::KdfParams {
    fn schema() -> RefOr<Schema> {
        let n = |what: &str| {
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int32)))
                .minimum(Some(0))
                .description(Some(what))
        };
        ObjectBuilder::new()
            .description(Some("Argon2id cost parameters."))
            .property("m_cost_kib", n("memory in KiB"))
            .required("m_cost_kib")
            .property("t_cost", n("passes"))
            .required("t_cost")
            .property("p_cost", n("lanes"))
            .required("p_cost")
            .property(
                "binding",
                ObjectBuilder::new().schema_type(Type::String).enum_values(Some(["random", "username"])).description(
                    Some("How the account salt enters Argon2id (absent: random, accounts from before the binding)."),
                ),
            )
            .into()
    }
}
