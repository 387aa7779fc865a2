//! Remote wipe orders: a device erases its local copy only on an order it can verify,
//! never on the server's word.
//!
//! A lost phone is signed out from another device of the same user, or by an admin.
//! Either signs a [`WipeOrder`] with their identity key: who is to be wiped, which
//! device (or every device), when, by whom (and, for an admin, in which team). The
//! server stores it with the revoked session and hands it back with `401 device_wiped`.
//! The device checks it ([`WipeOrder::check`]): addressed to this user and this device,
//! issued after this device logged in (so an old order cannot be replayed against a
//! new log-in), and signed by the user's own identity key or by an admin of the team's
//! verified chain. A `device_wiped` without such an order signs the device out but
//! destroys nothing: its data stays sealed under the passphrase, unsent edits included.

use serde::{Deserialize, Serialize};

use crate::chain::TeamState;
use crate::crypto::identity::{IdentityKeys, PublicIdentity};
use crate::crypto::{label, sha256};
use crate::encoding::Writer;
use crate::ids::{TeamId, Username};

/// The id a device is known by: derived from its session token (the server derives the
/// same from its hash of the token), so a device can tell an order meant for it.
pub fn device_id(token: &str) -> String {
    device_id_of_hash(&session_token_hash(token))
}

/// The hash a server keeps of a session token (it never stores the token).
pub fn session_token_hash(token: &str) -> [u8; 32] {
    sha256(b"quietdesk/v1/session-token", &[token.as_bytes()])
}

/// [`device_id`] from the server's hash of the token.
pub fn device_id_of_hash(token_hash: &[u8; 32]) -> String {
    sha256(b"quietdesk/v1/device-id", &[token_hash])[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// A signed order to erase a device's local data.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WipeOrder {
    /// Whose devices.
    pub username: Username,
    /// Which device ([`device_id`]); `None`: every device of the user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// When it was signed (the signer's clock, Unix ms).
    pub issued_ms: i64,
    /// Who signed it: the user themselves, or an admin of `team`.
    pub signer: Username,
    /// The team whose verified chain makes `signer` an admin (admins' orders only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<TeamId>,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Byte))]
    #[serde(with = "crate::encoding::b64_64")]
    pub signature: [u8; 64],
}

/// Why a device does not obey a `device_wiped`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WipeRefusal {
    #[error("the server gave no signed order")]
    Missing,
    #[error("the order is for another user or another device")]
    NotForThisDevice,
    #[error("the order was signed before this device logged in")]
    Stale,
    #[error("the order is dated in the future")]
    FromTheFuture,
    #[error("the order is not signed by you or by an admin of your team")]
    BadSignature,
}

impl WipeOrder {
    fn statement(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(128);
        w.fixed(label::WIPE_ORDER)
            .short_str(self.username.as_str())
            .short_str(self.device.as_deref().unwrap_or(""))
            .u64(self.issued_ms as u64)
            .short_str(self.signer.as_str());
        match &self.team {
            Some(t) => w.u8(1).fixed(t.as_bytes()),
            None => w.u8(0),
        };
        w.finish()
    }

    /// Sign an order as `signer` (the user, or an admin of `team`).
    pub fn sign(
        username: Username,
        device: Option<String>,
        issued_ms: i64,
        signer: Username,
        team: Option<TeamId>,
        keys: &IdentityKeys,
    ) -> Self {
        let mut o = WipeOrder { username, device, issued_ms, signer, team, signature: [0; 64] };
        o.signature = keys.sign(&o.statement());
        o
    }

    /// Verify the signature with `key` (the server checks it against the signer's
    /// registered key too, so it stores no junk; the device's own check is what counts).
    pub fn verify_signature(&self, key: &PublicIdentity) -> bool {
        key.verify(&self.statement(), &self.signature).is_ok()
    }

    /// Whether this device must obey: for `me` on `device`, issued at or after
    /// `logged_in_ms` (this device's log-in) and not later than `now_ms` (with the clock
    /// skew records allow: an order dated ahead would pass against every later log-in
    /// until that date), signed by `me` (`my_key`) or by an admin of the order's team
    /// as `chain` (the device's verified chain of that team) says.
    pub fn check(
        order: Option<&WipeOrder>,
        me: &Username,
        device: &str,
        logged_in_ms: i64,
        now_ms: i64,
        my_key: &PublicIdentity,
        chain: Option<&TeamState>,
    ) -> Result<(), WipeRefusal> {
        let o = order.ok_or(WipeRefusal::Missing)?;
        if &o.username != me || o.device.as_deref().is_some_and(|d| d != device) {
            return Err(WipeRefusal::NotForThisDevice);
        }
        if o.issued_ms < logged_in_ms {
            return Err(WipeRefusal::Stale);
        }
        if o.issued_ms > now_ms.saturating_add(crate::hlc::MAX_CLOCK_SKEW_MS as i64) {
            return Err(WipeRefusal::FromTheFuture);
        }
        let key = if &o.signer == me && o.team.is_none() {
            Some(my_key)
        } else {
            chain
                .filter(|c| Some(c.team) == o.team && c.is_admin(&o.signer))
                .and_then(|c| c.members.get(&o.signer))
                .map(|m| &m.identity)
        };
        match key {
            Some(k) if o.verify_signature(k) => Ok(()),
            _ => Err(WipeRefusal::BadSignature),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::tests::{append, new_chain, Person};
    use crate::chain::{Action, Role};

    #[test]
    fn only_orders_from_the_user_or_an_admin_for_this_device_and_log_in_are_obeyed() {
        let (ann, bob, eve) = (Person::new("ann"), Person::new("bob"), Person::new("eve"));
        let mut chain = new_chain(&ann);
        append(&mut chain, &ann, Action::AddMember { member: bob.member(Role::Member) });
        append(&mut chain, &ann, Action::AddMember { member: eve.member(Role::Member) });
        let state = TeamState::verify(&chain, None).unwrap();
        let phone = device_id("bob-phone-token");
        let check = |o: &WipeOrder, at: i64| {
            WipeOrder::check(Some(o), &bob.name, &phone, at, 10_000, &bob.keys.public(), Some(&state))
        };

        let own = WipeOrder::sign(bob.name.clone(), Some(phone.clone()), 2_000, bob.name.clone(), None, &bob.keys);
        assert_eq!(check(&own, 1_000), Ok(()), "signed by bob on his laptop");
        let admin = WipeOrder::sign(bob.name.clone(), None, 2_000, ann.name.clone(), Some(state.team), &ann.keys);
        assert_eq!(check(&admin, 1_000), Ok(()), "signed by an admin of the verified chain");

        assert_eq!(
            WipeOrder::check(None, &bob.name, &phone, 0, 0, &bob.keys.public(), None),
            Err(WipeRefusal::Missing)
        );
        // Dated a day ahead: it would pass against every log-in until then.
        let ahead = WipeOrder::sign(bob.name.clone(), None, 86_400_000, bob.name.clone(), None, &bob.keys);
        assert_eq!(check(&ahead, 1_000), Err(WipeRefusal::FromTheFuture));
        assert_eq!(check(&own, 3_000), Err(WipeRefusal::Stale), "an order from before this log-in");
        let other_device =
            WipeOrder::sign(bob.name.clone(), Some("aa".into()), 2_000, bob.name.clone(), None, &bob.keys);
        assert_eq!(check(&other_device, 1_000), Err(WipeRefusal::NotForThisDevice));
        let by_member = WipeOrder::sign(bob.name.clone(), None, 2_000, eve.name.clone(), Some(state.team), &eve.keys);
        assert_eq!(check(&by_member, 1_000), Err(WipeRefusal::BadSignature), "eve is no admin");
        let forged = WipeOrder { issued_ms: 5_000, ..admin.clone() };
        assert_eq!(check(&forged, 1_000), Err(WipeRefusal::BadSignature), "altered after signing");
        let by_server = WipeOrder::sign(bob.name.clone(), None, 2_000, ann.name.clone(), Some(state.team), &eve.keys);
        assert_eq!(check(&by_server, 1_000), Err(WipeRefusal::BadSignature), "someone else's key under ann's name");
        let other_team = WipeOrder { team: Some(TeamId::random()), ..admin };
        assert_eq!(check(&other_team, 1_000), Err(WipeRefusal::BadSignature));
    }
}
