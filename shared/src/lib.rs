//! # Quietdesk shared core
//!
//! Everything the browser app and the server agree on, with no I/O and no platform
//! dependency (it builds for native targets and for `wasm32-unknown-unknown`):
//!
//! * [`ids`], [`hlc`], [`record`] and [`domain`]: customers, contacts, interactions,
//!   tasks and deals as maps of fields, each field stamped with a hybrid logical clock
//!   and its author, merged per field (last writer wins, deletions are tombstones).
//! * [`crypto`]: the key hierarchy (passphrase → Argon2id → HKDF → `auth_key` /
//!   `wrap_key`), identity keys, team-key wraps, and the versioned record envelope.
//! * [`audit`]: the audit log — entries signed by their author, sealed for admins,
//!   hash-chained by the server, verified by the admins' clients.
//! * [`chain`]: the signed, hash-linked team membership log every client verifies.
//! * [`beacon`]: admins' signed freshness beacons of the chain head, which bound how
//!   long a server can keep a member on a frozen view.
//! * [`export`]: the encrypted export file (records sealed under a passphrase).
//! * [`fields`]: the built-in customer fields, one row each (form, table, import and
//!   export columns, search, which are sensitive).
//! * [`api`]: the one place where wire paths, request/response shapes and the error
//!   body live; client and server never restate them.
//! * [`search`]: customer search over decrypted text, one pass per keystroke.
//! * [`lifecycle`]: dormant customers, and what anonymising one changes.
//! * [`invite`]: invitation links whose secret the server never sees; safety numbers.
//! * [`team`]: which role holds which keys; the wraps admins make on adding,
//!   removing and rotating.
//! * [`pins`]: the account's sealed pins (teams, chain heads, audit checkpoints, KDF
//!   settings), so every device of an account starts pinned.
//! * [`wipe`]: remote wipe orders a device verifies before erasing anything.
//! * [`sync`]: the sync engine — a state machine behind [`sync::Store`] and
//!   [`sync::Transport`] traits, so it runs natively in tests and in the browser.
//!
//! The server only ever names *sealed* things (envelopes, wraps, bundles); opening
//! them needs keys that exist only in a member's client.

pub mod api;
pub mod audit;
pub mod beacon;
pub mod chain;
pub mod crypto;
pub mod csv;
pub mod custom;
pub mod domain;
pub mod duplicates;
pub mod encoding;
pub mod export;
pub mod fields;
pub mod hlc;
pub mod ics;
pub mod ids;
pub mod invite;
pub mod lifecycle;
#[cfg(feature = "openapi")]
pub mod openapi;
pub mod pins;
pub mod pinyin;
pub mod pipeline;
pub mod pool;
pub mod record;
pub mod restore;
pub mod search;
pub mod sync;
pub mod team;
pub mod views;
pub mod wipe;
#[cfg(feature = "xlsx")]
pub mod xlsx;
