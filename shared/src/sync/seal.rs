//! Sealing a whole [`RecordDoc`] into a [`SealedRecord`] and back: sensitive fields go
//! into a section under the collection's `sensitive` key, the rest under `basic`.

use std::collections::BTreeMap;

use crate::chain::TeamState;
use crate::crypto::envelope::{
    ChainHead, Decryption, Encryption, EnvelopeHeader, Keyring, RecordContext, SealedEnvelope, SealedRecord,
    SignatureCheck, UncheckedDecryption, Unsigned,
};
use crate::crypto::identity::{IdentityKeys, PublicIdentity};
use crate::crypto::{CryptoError, Scope, SymmetricKey};
use crate::domain::is_sensitive;
use crate::ids::{CollectionId, Username};
use crate::record::{RecordDoc, Value, REPAIRED};

/// Who is sealing, with which keys, under which epoch.
pub struct Sealer<'a> {
    pub me: &'a Username,
    pub identity: &'a IdentityKeys,
    pub keyring: &'a Keyring,
    /// The verified chain's current epoch: the only one this client seals under. A
    /// newer key this client may hold is not the chain's word, and an older one may be
    /// held by a removed member: if the chain's key has not arrived (a server that
    /// withholds the new epoch's wraps), sealing fails with [`CryptoError::NoKey`] and
    /// the edit waits in the outbox.
    pub epoch: u32,
    /// The verified chain's head, bound into every envelope sealed here: readers learn
    /// which team history this writer saw.
    pub head: ChainHead,
}

/// A record opened as far as this client's keys allow.
#[derive(Debug, Clone, PartialEq)]
pub struct Opened {
    pub doc: RecordDoc,
    pub collection: CollectionId,
    /// The sensitive section, kept as ciphertext so a client without its key can
    /// carry it forward unchanged when it edits the basic fields.
    pub sensitive: Option<SealedEnvelope>,
    /// False when a sensitive section exists but this client cannot read it.
    pub complete: bool,
    /// The oldest key epoch any section is sealed under.
    pub epoch: u32,
    /// Who sealed this version (the basic section's author) and on which team chain
    /// head (`None` for a version-1 envelope).
    pub writer: Username,
    pub writer_head: Option<ChainHead>,
    /// Who sealed the sensitive section *as this version*, when this client opened it;
    /// `None` when it was carried forward from an earlier version (or not opened).
    pub sensitive_writer: Option<Username>,
}

impl Opened {
    /// The first field this version changes (relative to `prev`, the version before
    /// it, or nothing for a first version) that does not name the version's signer as
    /// its author, with the author it names. A member can only change fields in their
    /// own name: the basic section's fields in the basic signer's, the sensitive
    /// section's in the name of whoever sealed that section as this version (a carried
    /// section changes nothing). Where `restored` (the reader is on a generation of
    /// the server that an admin confirmed as restored, see [`crate::restore`]), a
    /// version marked [`REPAIRED`] by its signer is exempt: it puts back what a
    /// restored server lost, in its writers' names. On a server never restored no
    /// put-back is needed, and the mark exempts nothing.
    pub fn misattributed(&self, prev: &RecordDoc, version: u64, restored: bool) -> Option<(String, Username)> {
        self.misattributed_fields(prev, version, restored).next()
    }

    /// Every field [`Opened::misattributed`] would name, in field order.
    pub fn misattributed_fields<'a>(
        &'a self,
        prev: &'a RecordDoc,
        version: u64,
        restored: bool,
    ) -> impl Iterator<Item = (String, Username)> + 'a {
        let repaired = restored
            && self.doc.fields.get(REPAIRED).is_some_and(|s| {
                s.value == Some(Value::Int(i64::try_from(version).unwrap_or(i64::MAX))) && s.stamp.author == self.writer
            });
        let fields = self.doc.fields.iter().filter(move |_| !repaired);
        fields.filter_map(move |(name, state)| {
            if prev.fields.get(name).is_some_and(|p| !state.beats(p)) {
                return None; // unchanged (or older than what came before)
            }
            (!self.signed_by(name, &state.stamp.author)).then(|| (name.clone(), state.stamp.author.clone()))
        })
    }

    /// Whether `author` sealed the section holding the field `name` as this version:
    /// the basic section's signer, or the sensitive section's when it was sealed as
    /// this version (a carried section was signed by no one now).
    pub fn signed_by(&self, name: &str, author: &Username) -> bool {
        let signer = if is_sensitive(name) { self.sensitive_writer.as_ref() } else { Some(&self.writer) };
        signer == Some(author)
    }
}

fn encode(doc: &RecordDoc) -> Vec<u8> {
    serde_json::to_vec(doc).expect("a RecordDoc always serializes")
}

fn decode(bytes: &[u8]) -> Result<RecordDoc, CryptoError> {
    serde_json::from_slice(bytes).map_err(|_| CryptoError::Malformed("record plaintext"))
}

impl Sealer<'_> {
    /// Seal `doc` as `version` of the record, under the chain's epoch. `carried` is the previous sensitive section, reused as-is when this
    /// client holds no sensitive key.
    pub fn seal(
        &self,
        ctx: &RecordContext,
        collection: CollectionId,
        version: u64,
        doc: &RecordDoc,
        carried: Option<&SealedEnvelope>,
    ) -> Result<(SealedRecord, Option<SealedEnvelope>), CryptoError> {
        let mut sealing = self.begin(ctx, collection, version, doc, carried)?;
        loop {
            if let Some(encryption) = sealing.to_encrypt() {
                let ciphertext = encryption.encrypt_here();
                sealing.encrypted(ciphertext)?;
            } else if let Some(message) = sealing.to_sign() {
                let signature = self.identity.sign(message);
                sealing.sign(signature);
            } else {
                return Ok(sealing.finish());
            }
        }
    }

    /// [`Sealer::seal`] up to its first encryption: the caller encrypts what
    /// [`Sealing::to_encrypt`] asks for and signs what [`Sealing::to_sign`] asks for
    /// (a batch of records' at once, elsewhere if it likes) until both ask for nothing.
    pub fn begin(
        &self,
        ctx: &RecordContext,
        collection: CollectionId,
        version: u64,
        doc: &RecordDoc,
        carried: Option<&SealedEnvelope>,
    ) -> Result<Sealing, CryptoError> {
        let epoch = self.epoch;
        let basic_key = self.keyring.get(collection, epoch, Scope::Basic).ok_or(CryptoError::NoKey)?;
        let (sensitive_fields, basic_fields): (BTreeMap<_, _>, BTreeMap<_, _>) =
            doc.fields.clone().into_iter().partition(|(name, _)| is_sensitive(name));
        // The deletion flag is signed in both sections' headers: the server counts
        // deletions from it, and readers refuse a version whose flag and content differ.
        let deleted = Some(doc.is_deleted());
        let header = |scope| EnvelopeHeader {
            collection,
            epoch,
            scope,
            record_version: version,
            author: self.me.clone(),
            chain: Some(self.head),
            deleted,
        };
        let basic = Pending {
            plain: zeroize::Zeroizing::new(encode(&RecordDoc { fields: basic_fields })),
            header: header(Scope::Basic),
            key: basic_key.clone(),
        };
        let step = match self.keyring.get(collection, epoch, Scope::Sensitive) {
            Some(key) if !sensitive_fields.is_empty() => Step::EncryptSensitive(
                Encryption::new(
                    &zeroize::Zeroizing::new(encode(&RecordDoc { fields: sensitive_fields })),
                    &header(Scope::Sensitive),
                    ctx,
                    &[0; 32],
                    key,
                ),
                basic,
            ),
            Some(_) => Step::EncryptBasic(basic.encryption(ctx, None), None),
            // A section only opens in the collection it was sealed in: without the
            // key, it can be carried forward but not moved.
            None => match carried {
                Some(c) if c.header()?.collection != collection => return Err(CryptoError::NoKey),
                c => Step::EncryptBasic(basic.encryption(ctx, c), c.cloned()),
            },
        };
        Ok(Sealing { ctx: *ctx, step })
    }
}

/// A record's basic section before it is encrypted: it binds the digest of the
/// sensitive section, which must be signed first.
struct Pending {
    plain: zeroize::Zeroizing<Vec<u8>>,
    header: EnvelopeHeader,
    key: SymmetricKey,
}

impl Pending {
    fn encryption(&self, ctx: &RecordContext, sensitive: Option<&SealedEnvelope>) -> Encryption {
        let companion = sensitive.map(SealedEnvelope::digest).unwrap_or([0; 32]);
        Encryption::new(&self.plain, &self.header, ctx, &companion, &self.key)
    }
}

enum Step {
    /// The sensitive section awaits its encryption, then its signature; the basic one
    /// comes after.
    EncryptSensitive(Encryption, Pending),
    Sensitive(Unsigned, Pending),
    /// The basic section awaits its encryption, then its signature, beside the
    /// sensitive section (if any).
    EncryptBasic(Encryption, Option<SealedEnvelope>),
    Basic(Unsigned, Option<SealedEnvelope>),
    Done(SealedEnvelope, Option<SealedEnvelope>),
}

/// A record being sealed, between its signatures (see [`Sealer::begin`]).
pub struct Sealing {
    ctx: RecordContext,
    step: Step,
}

impl Sealing {
    /// The encryption the next step needs, or `None` (a signature is, or it is sealed).
    pub fn to_encrypt(&self) -> Option<&Encryption> {
        match &self.step {
            Step::EncryptSensitive(e, _) | Step::EncryptBasic(e, _) => Some(e),
            _ => None,
        }
    }

    /// Take the ciphertext of [`Sealing::to_encrypt`]'s encryption (with its tag); one
    /// of the wrong length is refused. Nothing happens when no encryption is awaited.
    pub fn encrypted(&mut self, ciphertext: Vec<u8>) -> Result<(), CryptoError> {
        let step = std::mem::replace(&mut self.step, Step::Done(SealedEnvelope(Vec::new()), None));
        self.step = match step {
            Step::EncryptSensitive(e, basic) => Step::Sensitive(e.into_unsigned(ciphertext)?, basic),
            Step::EncryptBasic(e, sensitive) => Step::Basic(e.into_unsigned(ciphertext)?, sensitive),
            other => other,
        };
        Ok(())
    }

    /// The bytes whose signature the next step needs, or `None` (an encryption is, or
    /// it is sealed).
    pub fn to_sign(&self) -> Option<&[u8]> {
        match &self.step {
            Step::Sensitive(u, _) | Step::Basic(u, _) => Some(u.message()),
            _ => None,
        }
    }

    /// Take the signature of [`Sealing::to_sign`]'s bytes (by the sealer's identity).
    /// Nothing happens when no signature is awaited.
    pub fn sign(&mut self, signature: [u8; 64]) {
        let step = std::mem::replace(&mut self.step, Step::Done(SealedEnvelope(Vec::new()), None));
        self.step = match step {
            Step::Sensitive(u, basic) => {
                let sensitive = u.signed(signature);
                Step::EncryptBasic(basic.encryption(&self.ctx, Some(&sensitive)), Some(sensitive))
            }
            Step::Basic(u, sensitive) => Step::Done(u.signed(signature), sensitive),
            other => other,
        };
    }

    /// The sealed record and its sensitive section.
    ///
    /// # Panics
    /// If a signature is still missing ([`Sealing::to_sign`] is not `None`).
    pub fn finish(self) -> (SealedRecord, Option<SealedEnvelope>) {
        match self.step {
            Step::Done(basic, sensitive) => (SealedRecord::from_envelopes(&basic, sensitive.as_ref()), sensitive),
            _ => panic!("a record sealed without its signatures"),
        }
    }
}

/// Open a sealed record that the server says is `version`. The basic section must
/// have been sealed *as* that version (no replays of old versions as new); every
/// section's author must be someone the verified chain `team` lets seal under that
/// section's epoch ([`TeamState::record_author`]: members, removed members only up to
/// the epoch they left in, nobody under a retired epoch).
pub fn open_record(
    sealed: &SealedRecord,
    ctx: &RecordContext,
    version: u64,
    keyring: &Keyring,
    team: &TeamState,
) -> Result<Opened, CryptoError> {
    // No answers: each signature is checked here.
    let plan = plan_unchecked(sealed, ctx, version, keyring, team)?.confirm(&[])?;
    let decrypted: Vec<_> = plan.decryptions().map(Decryption::decrypt_here).collect();
    plan.finish(decrypted)
}

/// The basic section's header of `sealed`, if it proves itself without any key: sealed
/// as `version` of `ctx`'s record, by someone the verified chain `team` lets seal
/// under its epoch, whose signature holds over the header, the ciphertext and the
/// sensitive section's digest (all public: the signature needs no record key). What a
/// client that cannot open a record may believe of it (where it now lives); any other
/// header is the server's word.
pub fn signed_header(
    sealed: &SealedRecord,
    ctx: &RecordContext,
    version: u64,
    team: &TeamState,
) -> Option<EnvelopeHeader> {
    sealed.inspect().ok()?;
    let (basic, sensitive) = sealed.envelopes().ok()?;
    let header = basic.header().ok()?;
    if header.record_version != version || header.scope != Scope::Basic {
        return None;
    }
    let author = team.record_author(&header.author, header.epoch)?;
    let companion = sensitive.as_ref().map(SealedEnvelope::digest).unwrap_or([0; 32]);
    // Only the signature check is taken: this key stands in for the decryption,
    // which is never made.
    let unused = SymmetricKey::from_bytes([0; 32]);
    let unchecked = basic.decryption_unchecked(ctx, &companion, &unused, author).ok()?;
    unchecked.check().holds().then_some(header)
}

/// A record's opening ([`open_record`]) checked up to its decryptions: the
/// headers, keys, authors and signatures. Its [`OpenPlan::decryptions`] are then done
/// (a batch of records' at once, by the platform's AES where it has one, see
/// `Transport::decrypt`) and [`OpenPlan::finish`] reads them.
#[derive(Debug)]
pub struct OpenPlan<'k> {
    basic: Decryption<'k>,
    /// The sensitive section, with the key to open it.
    sensitive: Option<Decryption<'k>>,
    rest: PlanRest,
}

/// [`OpenPlan`] before the signatures are checked: its [`UncheckedPlan::checks`] go to
/// be verified (a batch's at once, in Web Workers), and [`UncheckedPlan::confirm`]
/// takes the answers.
#[derive(Debug)]
pub struct UncheckedPlan<'k> {
    basic: UncheckedDecryption<'k>,
    sensitive: Option<UncheckedDecryption<'k>>,
    rest: PlanRest,
}

#[derive(Debug)]
struct PlanRest {
    /// The sensitive section this client holds no key for (carried as ciphertext).
    carried: Option<SealedEnvelope>,
    /// The sensitive section's author, when it was sealed as this version.
    sensitive_author: Option<Username>,
    collection: CollectionId,
    epoch: u32,
    writer: Username,
    writer_head: Option<ChainHead>,
    /// The basic section's signed deletion flag (envelope v3), which the content must agree with.
    deleted: Option<bool>,
}

/// See [`UncheckedPlan`].
pub fn plan_unchecked<'k>(
    sealed: &SealedRecord,
    ctx: &RecordContext,
    version: u64,
    keyring: &'k Keyring,
    team: &TeamState,
) -> Result<UncheckedPlan<'k>, CryptoError> {
    let authors = |who: &Username, epoch: u32| team.record_author(who, epoch).copied();
    let (basic, sensitive) = sealed.envelopes()?;
    let bh = basic.header()?;
    if bh.record_version != version || bh.scope != Scope::Basic {
        return Err(CryptoError::DecryptionFailed);
    }
    let key = keyring.get(bh.collection, bh.epoch, Scope::Basic).ok_or(CryptoError::NoKey)?;
    let author: PublicIdentity = authors(&bh.author, bh.epoch).ok_or(CryptoError::DecryptionFailed)?;
    let companion = sensitive.as_ref().map(SealedEnvelope::digest).unwrap_or([0; 32]);
    let basic = basic.decryption_unchecked(ctx, &companion, key, &author)?;
    let mut plan = UncheckedPlan {
        basic,
        sensitive: None,
        rest: PlanRest {
            carried: None,
            sensitive_author: None,
            collection: bh.collection,
            epoch: bh.epoch,
            writer: bh.author,
            writer_head: bh.chain,
            deleted: bh.deleted,
        },
    };
    if let Some(s) = sensitive {
        let sh = s.header()?;
        plan.rest.epoch = plan.rest.epoch.min(sh.epoch);
        if sh.collection != bh.collection || sh.record_version > version || sh.scope != Scope::Sensitive {
            return Err(CryptoError::DecryptionFailed);
        }
        match keyring.get(sh.collection, sh.epoch, Scope::Sensitive) {
            Some(k) => {
                let author = authors(&sh.author, sh.epoch).ok_or(CryptoError::DecryptionFailed)?;
                plan.sensitive = Some(s.decryption_unchecked(ctx, &[0; 32], k, &author)?);
                plan.rest.sensitive_author = (sh.record_version == version).then_some(sh.author);
            }
            None => plan.rest.carried = Some(s),
        }
    }
    Ok(plan)
}

impl<'k> UncheckedPlan<'k> {
    /// The basic section's signature, then the sensitive section's where this client
    /// holds its key: what opening the record checks.
    pub fn checks(&self) -> impl Iterator<Item = &SignatureCheck> {
        std::iter::once(&self.basic).chain(&self.sensitive).map(UncheckedDecryption::check)
    }

    /// The plan, if every signature holds: `held` answers [`UncheckedPlan::checks`] in
    /// order (see [`UncheckedDecryption::confirm`]; a missing answer is verified here).
    pub fn confirm(self, held: &[bool]) -> Result<OpenPlan<'k>, CryptoError> {
        let held = |i: usize| held.get(i).copied().unwrap_or(false);
        Ok(OpenPlan {
            basic: self.basic.confirm(held(0))?,
            sensitive: self.sensitive.map(|s| s.confirm(held(1))).transpose()?,
            rest: self.rest,
        })
    }
}

impl<'k> OpenPlan<'k> {
    /// The basic section's, then the sensitive section's where this client holds its key.
    pub fn decryptions(&self) -> impl Iterator<Item = &Decryption<'k>> {
        std::iter::once(&self.basic).chain(&self.sensitive)
    }

    /// The record, from what AES-256-GCM made of each of [`OpenPlan::decryptions`], in
    /// their order.
    pub fn finish(self, decrypted: Vec<Result<Vec<u8>, CryptoError>>) -> Result<Opened, CryptoError> {
        let mut decrypted = decrypted.into_iter();
        let mut next = || Decryption::plaintext(decrypted.next().unwrap_or(Err(CryptoError::DecryptionFailed)));
        let mut doc = decode(&next()?)?;
        if doc.fields.keys().any(|f| is_sensitive(f)) {
            return Err(CryptoError::Malformed("sensitive field in basic section"));
        }
        let rest = self.rest;
        let complete = rest.carried.is_none();
        let (sensitive, sensitive_writer) = match self.sensitive {
            Some(d) => {
                let part = decode(&next()?)?;
                if part.fields.keys().any(|f| !is_sensitive(f)) {
                    return Err(CryptoError::Malformed("sensitive section"));
                }
                doc.merge(&part);
                (Some(d.into_envelope()), rest.sensitive_author)
            }
            None => (rest.carried, None),
        };
        // A version whose signed flag and content disagree hid a deletion from the
        // server's count (or claimed one it does not make): it does not open.
        if rest.deleted.is_some_and(|d| d != doc.is_deleted()) {
            return Err(CryptoError::Malformed("a deletion flag that disagrees with the record"));
        }
        Ok(Opened {
            doc,
            collection: rest.collection,
            sensitive,
            complete,
            epoch: rest.epoch,
            writer: rest.writer,
            writer_head: rest.writer_head,
            sensitive_writer,
        })
    }
}
