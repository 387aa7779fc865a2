//! Passphrase → Argon2id (RFC 9106) → 32-byte master → HKDF-SHA-256 (RFC 5869) split
//! into an [`AuthKey`] and a [`WrapKey`].
//!
//! The auth key is what the client sends to log in; the server stores only
//! [`AuthKey::verifier`], a labelled SHA-256 of it (the auth key is already a
//! high-entropy Argon2id output, so a slow hash on the server adds nothing). The wrap
//! key never leaves the client: it seals the account bundle.

use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, Zeroizing};

use super::{hkdf32, label, sha256, CryptoError, SymmetricKey};
use crate::ids::Username;

/// Argon2id cost parameters, stored per user beside the salt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KdfParams {
    /// Memory in KiB.
    pub m_cost_kib: u32,
    pub t_cost: u32,
    pub p_cost: u32,
    /// How an account's stored salt enters Argon2id (account keys only; a sealed
    /// file's salt is random per file and used as it is).
    #[serde(default, skip_serializing_if = "SaltBinding::is_random")]
    pub binding: SaltBinding,
}

/// How the account salt the server stores becomes Argon2id's salt.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SaltBinding {
    /// Accounts from before the binding: the 16 stored bytes are the salt, so a
    /// server that hands every new device the same bytes gets auth keys it can attack
    /// all at once. Only a device that already pinned this exact salt derives with it
    /// (and then upgrades the account, see [`check_offered`]).
    #[default]
    Random,
    /// The salt is `SHA-256(label ‖ len(username) ‖ username ‖ stored bytes)`: whatever
    /// bytes a server hands out, no two accounts share a salt, so nothing it learns
    /// for one account helps against another.
    Username,
}

impl SaltBinding {
    fn is_random(&self) -> bool {
        *self == SaltBinding::Random
    }
}

impl KdfParams {
    /// What new accounts use: 64 MiB, 3 passes (RFC 9106's second recommendation).
    pub const DEFAULT: KdfParams =
        KdfParams { m_cost_kib: 64 * 1024, t_cost: 3, p_cost: 1, binding: SaltBinding::Username };
    /// The floor anyone may choose (OWASP's Argon2id minimum). Tests use it for speed.
    pub const MINIMUM: KdfParams =
        KdfParams { m_cost_kib: 19 * 1024, t_cost: 2, p_cost: 1, binding: SaltBinding::Username };
    /// The ceiling, so a hostile server cannot make a client allocate gigabytes.
    pub const MAXIMUM: KdfParams =
        KdfParams { m_cost_kib: 1024 * 1024, t_cost: 10, p_cost: 4, binding: SaltBinding::Username };

    pub fn validate(&self) -> Result<(), CryptoError> {
        let (lo, hi) = (Self::MINIMUM, Self::MAXIMUM);
        let ok = (lo.m_cost_kib..=hi.m_cost_kib).contains(&self.m_cost_kib)
            && (lo.t_cost..=hi.t_cost).contains(&self.t_cost)
            && (lo.p_cost..=hi.p_cost).contains(&self.p_cost);
        ok.then_some(()).ok_or(CryptoError::BadKdfParams)
    }
}

/// Why a client refuses the key-derivation settings a server offers at log-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KdfRefusal {
    /// Cheaper than the floor this client accepts: a server that hands out weak
    /// settings gets an auth key it can brute-force offline at a fraction of the cost.
    #[error(
        "The server offered weaker passphrase protection than this app accepts; refusing to send anything \
         derived from your passphrase."
    )]
    BelowFloor,
    /// Not the salt and settings this device already knows for the account.
    #[error(
        "The server offered other passphrase-protection settings for this account than this device knows; \
         refusing to send anything derived from your passphrase."
    )]
    NotPinned,
    /// An unbound (pre-binding) salt this device has not pinned: only a device that
    /// already knows the account may use it, and it upgrades the account as it does.
    #[error(
        "This account still uses an older passphrase protection that a new device cannot check. Log in once on \
         a device you have used before: that upgrades it, and then this device can log in."
    )]
    Unbound,
}

impl KdfParams {
    /// Whether every cost is at least `floor`'s.
    pub fn at_least(&self, floor: KdfParams) -> bool {
        self.m_cost_kib >= floor.m_cost_kib && self.t_cost >= floor.t_cost && self.p_cost >= floor.p_cost
    }
}

/// Check the salt and settings a server offers at log-in before deriving anything:
/// at least `floor` (apps pass [`KdfParams::DEFAULT`], what they create accounts with;
/// only tests go lower), and the salt bound to the username — or, for an account from
/// before the binding, exactly the salt and settings this device pinned.
///
/// A bound salt that differs from the pin is accepted (another device of the account
/// changed the passphrase) as long as it is no cheaper than the pin: with the username
/// in the salt and the floor held, a server that picks the bytes gains nothing it
/// does not already have by knowing the real ones.
pub fn check_offered(
    offered: (&[u8; 16], KdfParams),
    floor: KdfParams,
    pinned: Option<(&[u8; 16], KdfParams)>,
) -> Result<(), KdfRefusal> {
    if offered.1.validate().is_err() || !offered.1.at_least(floor) {
        return Err(KdfRefusal::BelowFloor);
    }
    match (offered.1.binding, pinned) {
        (SaltBinding::Random, Some(pin)) if pin == offered => Ok(()),
        (SaltBinding::Random, Some(_)) => Err(KdfRefusal::NotPinned),
        (SaltBinding::Random, None) => Err(KdfRefusal::Unbound),
        (SaltBinding::Username, Some((_, pin))) if !offered.1.at_least(pin) => Err(KdfRefusal::NotPinned),
        (SaltBinding::Username, _) => Ok(()),
    }
}

/// A passphrase held only as long as needed. No `Debug`, no `Serialize`.
pub struct Passphrase(Zeroizing<String>);

impl Passphrase {
    pub fn new(s: impl Into<String>) -> Self {
        Self(Zeroizing::new(s.into()))
    }
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

/// Proves knowledge of the passphrase to the server.
pub struct AuthKey(SymmetricKey);

impl AuthKey {
    pub fn from_bytes(b: [u8; 32]) -> Self {
        Self(SymmetricKey::from_bytes(b))
    }
    pub fn expose_secret(&self) -> &[u8; 32] {
        self.0.expose_secret()
    }
    /// What the server stores and compares: `SHA-256(label ‖ auth_key)`.
    pub fn verifier(&self) -> [u8; 32] {
        sha256(label::AUTH_VERIFIER, &[self.0.expose_secret()])
    }
}

/// Seals and opens the account bundle. Never leaves the client.
pub struct WrapKey(pub(crate) SymmetricKey);

impl WrapKey {
    /// From the bytes a device keeps when it is set never to lock, or that one tab sends
    /// another sealed under their [`WrapKey::tabs_key`]; never from the server.
    pub fn from_bytes(b: [u8; 32]) -> Self {
        Self(SymmetricKey::from_bytes(b))
    }
    pub fn expose_secret(&self) -> &[u8; 32] {
        self.0.expose_secret()
    }
    /// The key the tabs of one account on one device seal their unlock messages with:
    /// only a tab that has held this wrap key has it (HKDF-SHA-256, its own label, the
    /// username in the info), so a script that only listens gets nothing it can open.
    pub fn tabs_key(&self, username: &str) -> SymmetricKey {
        hkdf32(None, self.0.expose_secret(), &[label::TABS_KEY, username.as_bytes()])
    }
}

/// Derive both account keys. Takes ~0.1–1 s by design.
pub fn derive_account_keys(
    passphrase: &Passphrase,
    username: &Username,
    salt: &[u8; 16],
    params: KdfParams,
) -> Result<(AuthKey, WrapKey), CryptoError> {
    let mut master = match params.binding {
        SaltBinding::Random => argon_master(passphrase, salt, params)?,
        SaltBinding::Username => argon_master(passphrase, &bound_salt(username, salt), params)?,
    };
    let auth = hkdf32(None, master.as_ref(), &[label::AUTH_KEY]);
    let wrap = hkdf32(None, master.as_ref(), &[label::WRAP_KEY]);
    master.zeroize();
    Ok((AuthKey(auth), WrapKey(wrap)))
}

/// The Argon2id salt of a bound account: the username and the stored bytes under a
/// label, length-prefixed so no two (username, bytes) pairs meet.
fn bound_salt(username: &Username, salt: &[u8; 16]) -> [u8; 32] {
    let name = username.as_str().as_bytes();
    sha256(label::KDF_SALT, &[&(name.len() as u32).to_be_bytes(), name, salt])
}

/// Argon2id (v0x13, 32-byte output) of the passphrase: the master every passphrase key
/// is derived from.
fn argon_master(passphrase: &Passphrase, salt: &[u8], params: KdfParams) -> Result<Zeroizing<[u8; 32]>, CryptoError> {
    params.validate()?;
    let argon_params = argon2::Params::new(params.m_cost_kib, params.t_cost, params.p_cost, Some(32))
        .map_err(|_| CryptoError::BadKdfParams)?;
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, argon_params);
    let mut master = Zeroizing::new([0u8; 32]);
    argon
        .hash_password_into(passphrase.expose_secret().as_bytes(), salt, master.as_mut())
        .map_err(|_| CryptoError::BadKdfParams)?;
    Ok(master)
}

/// The key of a file sealed under a passphrase (the encrypted export): Argon2id as
/// for the account, then HKDF with the file's own label, so the same passphrase and
/// salt never give an account key.
pub fn derive_file_key(
    passphrase: &Passphrase,
    salt: &[u8; 16],
    params: KdfParams,
) -> Result<SymmetricKey, CryptoError> {
    let master = argon_master(passphrase, salt, params)?;
    Ok(hkdf32(None, master.as_ref(), &[label::EXPORT_FILE]))
}

/// The salt the server hands out for a username that does not exist: a keyed hash of
/// the name, so repeated look-ups agree and the salt alone does not tell real from fake
/// (other answers can: an account from before salt binding, non-default settings, a
/// salt that changed, sign-up's "taken"; see SECURITY.md's limits).
pub fn fake_salt(server_secret: &[u8; 32], username: &str) -> [u8; 16] {
    use hmac::{Mac, SimpleHmac};
    let mut mac = SimpleHmac::<sha2::Sha256>::new_from_slice(server_secret).expect("HMAC takes any key length");
    mac.update(label::FAKE_SALT);
    mac.update(username.as_bytes());
    let full = mac.finalize().into_bytes();
    let mut salt = [0u8; 16];
    salt.copy_from_slice(&full[..16]);
    salt
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> Username {
        Username::parse(s).unwrap()
    }

    const LEGACY_MINIMUM: KdfParams = KdfParams { binding: SaltBinding::Random, ..KdfParams::MINIMUM };

    #[test]
    fn same_inputs_same_keys_and_the_two_keys_differ() {
        let salt = [7u8; 16];
        let alice = name("alice");
        let (a1, w1) =
            derive_account_keys(&Passphrase::new("correct horse"), &alice, &salt, KdfParams::MINIMUM).unwrap();
        let (a2, _) =
            derive_account_keys(&Passphrase::new("correct horse"), &alice, &salt, KdfParams::MINIMUM).unwrap();
        let (a3, _) =
            derive_account_keys(&Passphrase::new("correct horsf"), &alice, &salt, KdfParams::MINIMUM).unwrap();
        assert_eq!(a1.expose_secret(), a2.expose_secret());
        assert_ne!(a1.expose_secret(), a3.expose_secret());
        assert_ne!(a1.expose_secret(), w1.0.expose_secret());
    }

    /// The point of the binding: the same bytes and passphrase under two usernames give
    /// unrelated keys (a server handing everyone one salt gets nothing to share work
    /// on); unbound, the username plays no part.
    #[test]
    fn a_bound_salt_differs_per_username() {
        let pass = Passphrase::new("same for both");
        let (a, _) = derive_account_keys(&pass, &name("alice"), &[5; 16], KdfParams::MINIMUM).unwrap();
        let (b, _) = derive_account_keys(&pass, &name("bob"), &[5; 16], KdfParams::MINIMUM).unwrap();
        assert_ne!(a.expose_secret(), b.expose_secret());
        let (a, _) = derive_account_keys(&pass, &name("alice"), &[5; 16], LEGACY_MINIMUM).unwrap();
        let (b, _) = derive_account_keys(&pass, &name("bob"), &[5; 16], LEGACY_MINIMUM).unwrap();
        assert_eq!(a.expose_secret(), b.expose_secret());
    }

    /// Frozen: changing the KDF chain would lock every user out.
    #[test]
    fn golden_auth_verifier() {
        let pass = Passphrase::new("golden passphrase");
        let (a, _) = derive_account_keys(&pass, &name("golden"), &[1u8; 16], LEGACY_MINIMUM).unwrap();
        assert_eq!(hex::encode(a.verifier()), include_str!("../../tests/golden/auth_verifier.hex").trim());
        let (a, _) = derive_account_keys(&pass, &name("golden"), &[1u8; 16], KdfParams::MINIMUM).unwrap();
        assert_eq!(hex::encode(a.verifier()), include_str!("../../tests/golden/auth_verifier_bound.hex").trim());
    }

    /// Frozen: the stored settings of accounts from before the binding read as unbound,
    /// and bound ones say so.
    #[test]
    fn stored_settings_keep_their_form() {
        let old: KdfParams = serde_json::from_str(r#"{"m_cost_kib":65536,"t_cost":3,"p_cost":1}"#).unwrap();
        assert_eq!(old, KdfParams { binding: SaltBinding::Random, ..KdfParams::DEFAULT });
        assert_eq!(serde_json::to_string(&old).unwrap(), r#"{"m_cost_kib":65536,"t_cost":3,"p_cost":1}"#);
        assert_eq!(
            serde_json::to_string(&KdfParams::DEFAULT).unwrap(),
            r#"{"m_cost_kib":65536,"t_cost":3,"p_cost":1,"binding":"username"}"#
        );
    }

    #[test]
    fn params_out_of_range_are_refused() {
        let weak = KdfParams { m_cost_kib: 1024, t_cost: 1, p_cost: 1, binding: SaltBinding::Username };
        let r = derive_account_keys(&Passphrase::new("x"), &name("xavier"), &[0; 16], weak);
        assert!(matches!(r, Err(CryptoError::BadKdfParams)));
        assert!(KdfParams::DEFAULT.validate().is_ok());
    }

    #[test]
    fn an_unbound_salt_is_used_only_where_it_is_pinned() {
        let salt = [3u8; 16];
        let floor = KdfParams::DEFAULT;
        let legacy = KdfParams { binding: SaltBinding::Random, ..KdfParams::DEFAULT };
        assert_eq!(check_offered((&salt, legacy), floor, None), Err(KdfRefusal::Unbound), "a new device");
        assert_eq!(check_offered((&salt, legacy), floor, Some((&salt, legacy))), Ok(()), "the device that knows it");
        assert_eq!(check_offered((&[4; 16], legacy), floor, Some((&salt, legacy))), Err(KdfRefusal::NotPinned));
        assert_eq!(
            check_offered((&salt, legacy), floor, Some((&salt, KdfParams::DEFAULT))),
            Err(KdfRefusal::NotPinned),
            "a server cannot walk an upgraded account back"
        );
        // A bound salt other than the pin: the passphrase was changed on another device.
        assert_eq!(check_offered((&[4; 16], KdfParams::DEFAULT), floor, Some((&salt, legacy))), Ok(()));
        assert_eq!(check_offered((&[4; 16], KdfParams::DEFAULT), floor, Some((&salt, KdfParams::DEFAULT))), Ok(()));
    }

    #[test]
    fn offered_settings_below_the_floor_or_off_the_pin_are_refused() {
        let salt = [3u8; 16];
        let floor = KdfParams::DEFAULT;
        assert_eq!(check_offered((&salt, KdfParams::DEFAULT), floor, None), Ok(()));
        assert_eq!(check_offered((&salt, KdfParams::MINIMUM), floor, None), Err(KdfRefusal::BelowFloor));
        let fewer_passes = KdfParams { t_cost: 2, ..KdfParams::DEFAULT };
        assert_eq!(check_offered((&salt, fewer_passes), floor, None), Err(KdfRefusal::BelowFloor));
        let absurd = KdfParams { m_cost_kib: u32::MAX, ..KdfParams::DEFAULT };
        assert_eq!(check_offered((&salt, absurd), floor, None), Err(KdfRefusal::BelowFloor), "above the ceiling");
        let stronger = KdfParams { t_cost: 4, ..KdfParams::DEFAULT };
        let pin = (&salt, stronger);
        assert_eq!(check_offered((&salt, stronger), floor, Some(pin)), Ok(()));
        assert_eq!(check_offered((&salt, KdfParams::DEFAULT), floor, Some(pin)), Err(KdfRefusal::NotPinned), "cheaper");
    }

    #[test]
    fn fake_salts_are_stable_and_distinct() {
        let s = [9u8; 32];
        assert_eq!(fake_salt(&s, "ghost"), fake_salt(&s, "ghost"));
        assert_ne!(fake_salt(&s, "ghost"), fake_salt(&s, "ghost2"));
    }
}
