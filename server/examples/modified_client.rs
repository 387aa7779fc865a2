//! A member's modified client, for the browser's attack tests (`e2e/tests/hostile.spec.ts`):
//! it signs up and answers an invitation link as the app does, then seals with its
//! member's real keys what an honest client never would, and prints those versions as
//! JSON (`{"changes": [shared::api::Change, …], "texts": {…}}`, the changes as a pull
//! answer carries them) for the test's lying server to slip into another member's pull.
//! The honest server refuses every one of them on push (a made-up chain head, a new
//! record above version 1), so the tool never pushes.
//!
//! Built by `cargo build -p quietdesk-server --example modified_client` (the e2e step of
//! `cargo xtask test` builds it). The server and the account come from the environment:
//! `QD_SERVER` (e.g. `http://127.0.0.1:8091`), `QD_USER`, `QD_PASSPHRASE`. Then one of:
//! * `join LINK`: sign up, and answer the invitation link (the inviting admin's device
//!   admits the member on its own);
//! * `made-up-head TEAM CUSTOMER`: an edit of the notes of the customer named CUSTOMER,
//!   and a new customer, sealed on a chain head five entries past the team's with a
//!   made-up hash (issue 31 item 4);
//! * `in-anothers-name TEAM CUSTOMER NAMED`: at version 2, an interaction and a history
//!   entry of that customer stamped as NAMED's with no creation certificate, and an
//!   interaction carrying the certificate copied from NAMED's own interaction with the
//!   customer (issue 31 item 3).

#[path = "../tests/support/client.rs"]
mod client;

use client::{login, signup, Account, Invitation};
use shared::api::Change;
use shared::crypto::envelope::{ChainHead, RecordContext};
use shared::domain::{field, Channel, Customer, Entity, EntityKind, FieldChange, Interaction};
use shared::hlc::{Hlc, Stamp};
use shared::ids::{RecordId, TeamId, Username};
use shared::record::{FieldState, RecordDoc, Value, CREATED};
use shared::sync::memory::MemoryStore;
use shared::sync::seal::Sealer;
use shared::sync::{LocalRecord, Session, Syncer};

type Result<T = ()> = std::result::Result<T, String>;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    if let Err(e) = run(&std::env::args().skip(1).collect::<Vec<_>>()).await {
        eprintln!("modified_client: {e}");
        std::process::exit(1);
    }
}

async fn run(args: &[String]) -> Result {
    let env = |name: &str| std::env::var(name).map_err(|_| format!("{name} is not set"));
    let (base, user, passphrase) = (env("QD_SERVER")?, env("QD_USER")?, env("QD_PASSPHRASE")?);
    let team = |s: &str| s.parse::<TeamId>().map_err(|_| format!("not a team id: {s}"));
    let out =
        match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
            ["join", link] => {
                let link = shared::invite::decode_fragment(link).ok_or("not an invitation link")?;
                let me = signup(&base, &user, &passphrase).await;
                let inviter = link.inviter.ok_or("the link names no inviting admin")?;
                let invitation =
                    Invitation { team: link.team, invite: link.invite, secret: link.secret, role: link.role, inviter };
                me.accept_invite(&invitation).await.map_err(|e| format!("accepting the invitation: {e}"))?;
                serde_json::json!({ "team": link.team.to_string() })
            }
            ["made-up-head", t, customer] => {
                let me = login(&base, &user, &passphrase).await.map_err(|e| format!("log-in: {e}"))?;
                made_up_head(&me, team(t)?, customer).await?
            }
            ["in-anothers-name", t, customer, named] => {
                let me = login(&base, &user, &passphrase).await.map_err(|e| format!("log-in: {e}"))?;
                let named = Username::parse(named).map_err(|_| format!("not a username: {named}"))?;
                in_anothers_name(&me, team(t)?, customer, &named).await?
            }
            _ => return Err(
                "usage: modified_client join LINK | made-up-head TEAM CUSTOMER | in-anothers-name TEAM CUSTOMER NAMED"
                    .into(),
            ),
        };
    println!("{out}");
    Ok(())
}

/// What the member's device holds of the team: the verified chain, its keys, and every
/// record it can open.
async fn replica(me: &Account, team: TeamId) -> Result<(Session, Syncer<MemoryStore, client::HttpTransport>)> {
    let mut syncer = Syncer::open(me.session(team).await, MemoryStore::new(), me.transport(team))
        .await
        .map_err(|e| e.to_string())?;
    syncer.sync().await.map_err(|e| format!("sync: {e}"))?;
    Ok((me.session(team).await, syncer))
}

fn customer_named<'a>(
    s: &'a Syncer<MemoryStore, client::HttpTransport>,
    name: &str,
) -> Result<(RecordId, &'a LocalRecord)> {
    s.replica
        .records
        .iter()
        .find(|(_, r)| EntityKind::of(&r.view) == Some(EntityKind::Customer) && r.view.text(field::NAME) == Some(name))
        .map(|(id, r)| (*id, r))
        .ok_or_else(|| format!("no customer named {name} on this member's device"))
}

fn stamp(author: &Username) -> Stamp {
    Stamp { hlc: Hlc { wall_ms: client::wall_clock(), counter: 0 }, author: author.clone() }
}

fn doc_of(fields: Vec<(String, Option<Value>)>, stamp: &Stamp) -> RecordDoc {
    let mut doc = RecordDoc::new();
    for (f, value) in fields {
        doc.apply(&f, FieldState { value, stamp: stamp.clone() });
    }
    doc
}

/// Issue 31 item 4: versions bound to a chain head the team's chain does not have.
async fn made_up_head(me: &Account, team: TeamId, name: &str) -> Result<serde_json::Value> {
    let (session, s) = replica(me, team).await?;
    let (id, held) = customer_named(&s, name)?;
    let real = session.team.chain_head();
    let sealer = Sealer {
        me: &me.name,
        identity: &me.identity,
        keyring: &session.keyring,
        epoch: session.team.epoch,
        head: ChainHead { len: real.len + 5, hash: [7; 32] },
    };
    let (notes, planted_name) = ("forged: written on a made-up team history".to_owned(), "Planted Holdings");
    let mine = stamp(&me.name);
    let mut edited = (*held.base).clone();
    edited.apply(field::NOTES, FieldState { value: Some(Value::Text(notes.clone())), stamp: mine.clone() });
    let planted = doc_of(Customer { name: planted_name.into(), ..Default::default() }.to_fields(), &mine);
    let mut changes = Vec::new();
    for (record, version, doc) in [(id, held.version + 1, edited), (RecordId::random(), 1, planted)] {
        let sealed = sealer
            .seal(&RecordContext { team, record }, held.collection, version, &doc, None)
            .map_err(|e| e.to_string())?
            .0;
        changes.push(Change { seq: 0, record, version, sealed });
    }
    Ok(serde_json::json!({ "changes": changes, "texts": { "notes": notes, "planted": planted_name } }))
}

/// Issue 31 item 3: records created at version 2 in `named`'s name.
async fn in_anothers_name(me: &Account, team: TeamId, name: &str, named: &Username) -> Result<serde_json::Value> {
    let (session, s) = replica(me, team).await?;
    let (customer, held) = customer_named(&s, name)?;
    let cid = customer.to_string();
    // `named`'s own interaction with the customer, as their client certified it.
    let (_, certified) = s
        .replica
        .records
        .iter()
        .find(|(_, r)| {
            let kind = r.view.fields.get(field::KIND);
            EntityKind::of(&r.view) == Some(EntityKind::Interaction)
                && r.view.text(field::CUSTOMER) == Some(cid.as_str())
                && kind.is_some_and(|k| &k.stamp.author == named)
                && r.view.fields.contains_key(CREATED)
        })
        .ok_or_else(|| format!("no interaction {named} certified for {name}"))?;
    let sealer = Sealer {
        me: &me.name,
        identity: &me.identity,
        keyring: &session.keyring,
        epoch: session.team.epoch,
        head: session.team.chain_head(),
    };
    let theirs = stamp(named);
    let call = |summary: &str| {
        let at_ms = client::wall_clock() as i64;
        Interaction { customer: cid.clone(), channel: Channel::Call, at_ms, summary: summary.into() }.to_fields()
    };
    let texts = serde_json::json!({
        "bare_interaction": "forged: gave the price list away",
        "history_notes": "forged: promised 50% off",
        "copied_interaction": "forged: promised a free year",
    });
    let text = |k: &str| texts[k].as_str().unwrap_or_default().to_owned();
    let bare = doc_of(call(&text("bare_interaction")), &theirs);
    let entry = shared::domain::Change {
        customer: cid.clone(),
        record: cid.clone(),
        at_ms: client::wall_clock() as i64,
        changes: vec![FieldChange {
            field: field::NOTES.into(),
            from: held.view.get(field::NOTES).cloned(),
            to: Some(Value::Text(text("history_notes"))),
        }],
    };
    let history = doc_of(entry.to_fields(), &theirs);
    let mut copied = doc_of(call(&text("copied_interaction")), &theirs);
    for f in [field::KIND, CREATED] {
        copied.fields.insert(f.to_owned(), certified.view.fields[f].clone());
    }
    let mut changes = Vec::new();
    for (doc, collection) in [(bare, certified.collection), (history, held.collection), (copied, certified.collection)]
    {
        let record = RecordId::random();
        let sealed =
            sealer.seal(&RecordContext { team, record }, collection, 2, &doc, None).map_err(|e| e.to_string())?.0;
        changes.push(Change { seq: 0, record, version: 2, sealed });
    }
    Ok(serde_json::json!({ "changes": changes, "texts": texts }))
}
