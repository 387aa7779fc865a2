//! The HTTP API as an OpenAPI 3.1 document (utoipa), served at `/api/openapi.json`.
//! Request and response bodies are the `shared::api` types' own schemas (derived with
//! the `openapi` feature), so the document follows the code; the table below lists
//! every route the routers serve, checked against them in a test.

use std::sync::OnceLock;

use axum::http::header;
use axum::response::IntoResponse;
use shared::api::{self as api, path};
use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{ComponentsBuilder, KnownFormat, ObjectBuilder, SchemaFormat, Type};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    ContentBuilder, InfoBuilder, OpenApi, OpenApiBuilder, Paths, Ref, RefOr, Required, ResponseBuilder, Schema,
};
use utoipa::ToSchema;

pub const OPENAPI_PATH: &str = "/api/openapi.json";

/// One operation: method, path, summary, whether it needs a session, body, answer,
/// query parameters (name, integer?, required?).
struct Op {
    method: HttpMethod,
    path: &'static str,
    summary: &'static str,
    auth: bool,
    body: Option<&'static str>,
    ok: &'static str,
    query: &'static [(&'static str, bool, bool)],
}

/// Collects the schemas the operations name.
struct Schemas(Vec<(String, RefOr<Schema>)>);

impl Schemas {
    fn add<T: ToSchema>(&mut self) -> &'static str {
        let name = T::name().into_owned();
        self.0.push((name.clone(), T::schema()));
        T::schemas(&mut self.0);
        Box::leak(name.into_boxed_str())
    }
}

fn op(method: HttpMethod, path: &'static str, summary: &'static str) -> Op {
    Op { method, path, summary, auth: true, body: None, ok: "Empty", query: &[] }
}

fn operations(s: &mut Schemas) -> Vec<Op> {
    use HttpMethod::{Get, Post, Put};
    let empty = s.add::<api::Empty>();
    let public = |o: Op| Op { auth: false, ..o };
    let with = |o: Op, body: &'static str, ok: &'static str| Op { body: Some(body), ok, ..o };
    let answers = |o: Op, ok: &'static str| Op { ok, ..o };
    let since: &'static [(&'static str, bool, bool)] = &[("since", true, true), ("limit", true, false)];
    vec![
        answers(public(op(Get, path::HEALTH, "Health check")), s.add::<api::Health>()),
        public(with(
            op(Post, path::SIGNUP, "Create an account"),
            s.add::<api::SignupRequest>(),
            s.add::<api::SessionResponse>(),
        )),
        public(with(
            op(Post, path::PRELOGIN, "A user's salt and KDF parameters (fake ones for unknown users)"),
            s.add::<api::PreloginRequest>(),
            s.add::<api::PreloginResponse>(),
        )),
        public(with(
            op(Post, path::LOGIN, "Log in with the passphrase-derived auth key (and a second factor)"),
            s.add::<api::LoginRequest>(),
            s.add::<api::SessionResponse>(),
        )),
        op(Post, path::LOGOUT, "End this session"),
        answers(op(Get, path::DEVICES, "The caller's signed-in devices"), s.add::<api::DeviceList>()),
        with(
            op(Post, path::REVOKE_DEVICE, "Sign out one of the caller's devices with a signed wipe order"),
            s.add::<api::RevokeDeviceRequest>(),
            s.add::<api::WipeResponse>(),
        ),
        answers(op(Get, path::ACCOUNT_PINS, "The caller's sealed account pins"), s.add::<api::SealedPins>()),
        with(
            op(Put, path::ACCOUNT_PINS, "Store a newer version of the caller's sealed account pins"),
            s.add::<api::SealedPins>(),
            s.add::<api::SealedPins>(),
        ),
        with(
            op(Put, path::PASSPHRASE, "Change the caller's passphrase (proven with the current auth key)"),
            s.add::<api::ChangePassphraseRequest>(),
            s.add::<api::Empty>(),
        ),
        with(
            op(Put, path::RECOVERY, "Set the caller's recovery kit (proven with the current auth key)"),
            s.add::<api::SetRecoveryRequest>(),
            s.add::<api::Empty>(),
        ),
        public(with(
            op(Post, path::RECOVERY_BUNDLE, "The recovery-sealed bundle, to whoever proves the recovery key"),
            s.add::<api::RecoveryBundleRequest>(),
            s.add::<api::RecoveryBundle>(),
        )),
        public(with(
            op(Post, path::RECOVER, "A new passphrase for a forgotten one, proven with the recovery key"),
            s.add::<api::RecoverRequest>(),
            s.add::<api::Empty>(),
        )),
        answers(op(Get, path::USER, "A user's public keys"), s.add::<api::UserKeys>()),
        answers(op(Get, path::TEAMS, "The caller's teams"), s.add::<api::TeamList>()),
        with(
            op(Post, path::TEAMS, "Create a team from its signed genesis entry"),
            s.add::<api::CreateTeamRequest>(),
            s.add::<api::TeamSummary>(),
        ),
        answers(op(Get, path::CHAIN, "The team's membership chain"), s.add::<api::ChainResponse>()),
        with(
            op(Post, path::CHAIN, "Append a signed entry to the chain (admins)"),
            s.add::<api::AppendChainRequest>(),
            s.add::<api::TeamSummary>(),
        ),
        answers(op(Get, path::WRAPS, "The caller's key wraps"), s.add::<api::WrapsResponse>()),
        with(
            op(Put, path::WRAPS, "Store key wraps for members"),
            s.add::<api::PutWrapsRequest>(),
            s.add::<api::WrapsResponse>(),
        ),
        with(
            op(Post, path::SHRED_WRAPS, "Delete the wraps of old epochs (admins)"),
            s.add::<api::ShredWrapsRequest>(),
            s.add::<api::ShredWrapsResponse>(),
        ),
        answers(op(Get, path::ACTIVITY, "Members' last activity (admins)"), s.add::<api::ActivityResponse>()),
        answers(op(Get, path::ALERTS, "Security alerts (admins)"), s.add::<api::AlertsResponse>()),
        with(
            op(Post, path::WIPE_MEMBER, "Sign out every device of a member (admins)"),
            s.add::<api::WipeMemberRequest>(),
            s.add::<api::WipeResponse>(),
        ),
        with(
            op(Post, path::INCIDENT, "Declare an incident: end every session but the caller's (admins)"),
            s.add::<api::IncidentRequest>(),
            s.add::<api::IncidentResponse>(),
        ),
        answers(
            op(Get, path::BEACONS, "The latest freshness beacon each admin posted (members)"),
            s.add::<api::BeaconsResponse>(),
        ),
        with(
            op(Post, path::BEACONS, "Publish a signed freshness beacon of the chain head (admins)"),
            s.add::<api::PublishBeaconRequest>(),
            s.add::<api::Empty>(),
        ),
        answers(
            op(Get, path::RESTORE, "The generation the server runs as and the admin's notice of its restore (members)"),
            s.add::<api::RestoreStatus>(),
        ),
        with(
            op(Post, path::RESTORE, "Confirm a restore from a backup with a signed notice (admins)"),
            s.add::<api::ConfirmRestoreRequest>(),
            s.add::<api::Empty>(),
        ),
        answers(op(Get, path::TOTP, "Two-factor status"), s.add::<api::TotpStatus>()),
        answers(op(Post, path::TOTP_SETUP, "Start two-factor enrolment"), s.add::<api::TotpSetup>()),
        with(
            op(Post, path::TOTP_ENABLE, "Finish enrolment with a first code"),
            s.add::<api::TotpCode>(),
            s.add::<api::RecoveryCodes>(),
        ),
        with(op(Put, path::TEAM_2FA, "Require two-factor of the team (admins)"), s.add::<api::Require2fa>(), empty),
        with(op(Post, path::INVITES, "Create an invitation (admins)"), s.add::<api::CreateInviteRequest>(), empty),
        answers(op(Get, path::INVITES, "Open invitations (admins)"), s.add::<api::InviteList>()),
        with(
            op(Post, path::ACCEPT_INVITE, "Answer an invitation"),
            s.add::<api::AcceptInviteRequest>(),
            s.add::<api::TeamSummary>(),
        ),
        Op {
            query: &[("after", true, true), ("limit", true, false)],
            ..answers(op(Get, path::AUDIT, "Audit rows after a sequence number (admins)"), s.add::<api::AuditPage>())
        },
        with(
            op(Post, path::AUDIT, "Append sealed audit entries"),
            s.add::<api::AuditAppend>(),
            s.add::<api::AuditAppended>(),
        ),
        answers(
            op(Get, path::APPROVALS, "Approval requests (all for admins, own for others)"),
            s.add::<api::Approvals>(),
        ),
        with(op(Post, path::APPROVALS, "Ask for an approval"), s.add::<api::NewApproval>(), s.add::<api::Approval>()),
        with(
            op(Post, path::DECIDE_APPROVAL, "Approve (signed) or refuse a request (admins)"),
            s.add::<api::DecideApproval>(),
            s.add::<api::Approval>(),
        ),
        Op {
            query: &[("approval", false, true), ("since", true, true), ("limit", true, false)],
            ..answers(
                op(Get, path::EXPORT, "Export everything, with an approved request"),
                s.add::<api::PullResponse>(),
            )
        },
        answers(
            op(Get, path::KEPT_VERSIONS, "A record's kept earlier versions, within the team's retention"),
            s.add::<api::KeptVersions>(),
        ),
        answers(op(Get, path::KEPT_VERSION, "One kept earlier version, sealed"), s.add::<api::KeptVersion>()),
        answers(op(Get, path::RETENTION, "How many days earlier versions are kept"), s.add::<api::Retention>()),
        with(
            op(Put, path::RETENTION, "Set how many days earlier versions are kept (admins)"),
            s.add::<api::Retention>(),
            s.add::<api::Retention>(),
        ),
        with(
            op(Post, path::PUSH, "Push sealed record versions (all or nothing)"),
            s.add::<api::PushRequest>(),
            s.add::<api::PushResponse>(),
        ),
        Op { query: since, ..answers(op(Get, path::PULL, "Changes after a cursor"), s.add::<api::PullResponse>()) },
    ]
}

fn method_name(m: &HttpMethod) -> &'static str {
    match m {
        HttpMethod::Get => "get",
        HttpMethod::Post => "post",
        HttpMethod::Put => "put",
        _ => "other",
    }
}

fn json(schema: &str) -> utoipa::openapi::Content {
    ContentBuilder::new().schema(Some(Ref::from_schema_name(schema))).build()
}

fn build() -> OpenApi {
    let mut schemas = Schemas(Vec::new());
    let error = schemas.add::<api::ErrorBody>();
    schemas.add::<api::PushConflict>();
    let ops = operations(&mut schemas);
    let mut paths = Paths::new();
    for o in ops {
        let mut b = OperationBuilder::new()
            .summary(Some(o.summary))
            .operation_id(Some(format!("{}_{}", method_name(&o.method), o.path)))
            .response("200", ResponseBuilder::new().description("OK").content("application/json", json(o.ok)))
            .response(
                "4XX",
                ResponseBuilder::new()
                    .description("Refused: a JSON error with a machine-readable code")
                    .content("application/json", json(error)),
            )
            .response(
                "503",
                ResponseBuilder::new()
                    .description("The database is busy or unavailable; try again (Retry-After)")
                    .content("application/json", json(error)),
            );
        if o.auth {
            b = b.security(SecurityRequirement::new("session", Vec::<String>::new()));
        }
        for name in o.path.split('{').skip(1).filter_map(|s| s.split_once('}')).map(|(n, _)| n) {
            let schema: RefOr<Schema> = match name {
                "team" => Ref::from_schema_name("TeamId").into(),
                "invite" => Ref::from_schema_name("InviteId").into(),
                "approval" | "record" => Ref::from_schema_name("RecordId").into(),
                "version" => ObjectBuilder::new().schema_type(Type::Integer).into(),
                "username" => Ref::from_schema_name("Username").into(),
                _ => ObjectBuilder::new().schema_type(Type::String).into(),
            };
            b = b.parameter(
                ParameterBuilder::new()
                    .name(name)
                    .parameter_in(ParameterIn::Path)
                    .required(Required::True)
                    .schema(Some(schema)),
            );
        }
        for &(name, integer, required) in o.query {
            let schema: RefOr<Schema> = if integer {
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
                    .minimum(Some(0))
                    .into()
            } else {
                Ref::from_schema_name("RecordId").into()
            };
            b = b.parameter(
                ParameterBuilder::new()
                    .name(name)
                    .parameter_in(ParameterIn::Query)
                    .required(if required { Required::True } else { Required::False })
                    .schema(Some(schema)),
            );
        }
        if let Some(body) = o.body {
            b = b.request_body(Some(
                RequestBodyBuilder::new()
                    .required(Some(Required::True))
                    .content("application/json", json(body))
                    .build(),
            ));
        }
        paths.add_path_operation(o.path, vec![o.method], b);
    }
    // The event socket: a websocket upgrade, then JSON messages (documented, not JSON).
    paths.add_path_operation(
        path::EVENTS,
        vec![HttpMethod::Get],
        OperationBuilder::new()
            .summary(Some("Websocket of team events: send {\"type\":\"auth\",\"token\":…} first"))
            .operation_id(Some("events"))
            .parameter(
                ParameterBuilder::new()
                    .name("team")
                    .parameter_in(ParameterIn::Path)
                    .required(Required::True)
                    .schema(Some(Ref::from_schema_name("TeamId"))),
            )
            .response("101", ResponseBuilder::new().description("Switching to the websocket protocol"))
            .response("4XX", ResponseBuilder::new().description("Not a websocket upgrade")),
    );
    let mut components =
        ComponentsBuilder::new().security_scheme("session", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
    schemas.0.sort_by(|a, b| a.0.cmp(&b.0));
    schemas.0.dedup_by(|a, b| a.0 == b.0);
    for (name, schema) in schemas.0 {
        components = components.schema(name, schema);
    }
    OpenApiBuilder::new()
        .info(InfoBuilder::new().title("Quietdesk API").version(env!("CARGO_PKG_VERSION")).description(Some(
            "A zero-knowledge CRM's relay: clients seal every customer record, key and audit entry \
                     before it arrives; the server stores ciphertext, checks sessions, membership (from the \
                     verified team chain) and versions, and pokes connected members. Every request body is \
                     JSON of at most 8 MiB; every refusal is a JSON `ErrorBody`.",
        )))
        .paths(paths)
        .components(Some(components.build()))
        .build()
}

/// The document, built once.
pub fn document() -> &'static OpenApi {
    static DOC: OnceLock<OpenApi> = OnceLock::new();
    DOC.get_or_init(build)
}

pub async fn serve() -> impl IntoResponse {
    static JSON: OnceLock<String> = OnceLock::new();
    let body = JSON.get_or_init(|| document().to_json().expect("serializable"));
    ([(header::CONTENT_TYPE, "application/json")], body.as_str())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    /// `shared::api::path`'s constants, by name, read from its source.
    fn path_consts() -> BTreeMap<String, String> {
        let src = include_str!("../../shared/src/api.rs");
        let module = src.split("pub mod path {").nth(1).expect("shared::api::path").split("\n}").next().unwrap();
        module
            .lines()
            .filter_map(|l| l.trim().strip_prefix("pub const "))
            .filter_map(|l| {
                let (name, rest) = l.split_once(": &str = \"")?;
                Some((name.to_owned(), rest.split('"').next()?.to_owned()))
            })
            .collect()
    }

    /// Every `route` call on a `path` constant under `dir`, with the methods its method router
    /// names (`get(…)`, `.post(…)`, …).
    fn routes_in(dir: &std::path::Path) -> Vec<(String, Vec<&'static str>)> {
        let mut found = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let file = entry.unwrap().path();
            if file.is_dir() {
                found.extend(routes_in(&file));
                continue;
            }
            let src = std::fs::read_to_string(&file).unwrap();
            for piece in src.split(".route(").skip(1) {
                let Some(rest) = piece.trim_start().strip_prefix("path::") else { continue };
                let name: String =
                    rest.chars().take_while(|c| c.is_ascii_uppercase() || *c == '_' || c.is_ascii_digit()).collect();
                // The method router: up to the `)` that closes `.route(`.
                let mut depth = 1;
                let end = rest
                    .char_indices()
                    .find(|&(_, c)| {
                        depth += i32::from(c == '(') - i32::from(c == ')');
                        depth == 0
                    })
                    .map_or(rest.len(), |(i, _)| i);
                let body = &rest[..end];
                let methods = ["get", "post", "put", "delete", "patch"]
                    .into_iter()
                    .filter(|m| {
                        body.match_indices(&format!("{m}("))
                            .any(|(i, _)| i == 0 || !body[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_'))
                    })
                    .collect();
                found.push((name, methods));
            }
        }
        found
    }

    #[test]
    fn every_schema_named_is_defined_and_every_route_is_described() {
        let doc = super::document();
        let json = serde_json::to_value(doc).unwrap();
        let defined = json["components"]["schemas"].as_object().unwrap();
        let text = json.to_string();
        for piece in text.split("#/components/schemas/").skip(1) {
            let name = piece.split('"').next().unwrap();
            assert!(defined.contains_key(name), "{name} is referenced but not defined");
        }
        let paths = json["paths"].as_object().unwrap();
        // Every route the routers serve, read from their source (each `route` call on a `path` constant,
        // in any module), with each method its method router names, is described.
        let consts = path_consts();
        let routes = routes_in(std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/src")));
        assert!(routes.len() >= 30, "the routers' source was not read: {routes:?}");
        for (name, methods) in &routes {
            let p = consts.get(name.as_str()).unwrap_or_else(|| panic!("path::{name} is not in shared::api::path"));
            for m in methods {
                assert!(
                    paths.get(p.as_str()).and_then(|o| o.get(*m)).is_some(),
                    "{m} {p} (path::{name}) is not described"
                );
            }
        }
        // And every path the clients are given is served.
        for (name, p) in &consts {
            assert!(routes.iter().any(|(n, _)| n == name), "path::{name} ({p}) is served by no router");
        }
        assert!(defined["SignupRequest"]["properties"]["salt"]["format"] == "byte");
    }
}
