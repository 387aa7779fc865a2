//! This account's security: two-factor set-up and its signed-in devices.

use super::*;

impl Workspace {
    /// Start 2FA enrolment: a secret to scan or type.
    pub async fn totp_setup(&self) -> Result<TotpLines, String> {
        self.unlocked
            .api
            .post(path::TOTP_SETUP, &shared::api::Empty {})
            .await
            .map_err(|e| AppError::from(e).to_string())
    }

    /// Confirm 2FA with a first code; the recovery codes (shown once).
    pub async fn totp_enable(&self, code: String) -> Result<Vec<String>, String> {
        let r: shared::api::RecoveryCodes = self
            .unlocked
            .api
            .post(path::TOTP_ENABLE, &shared::api::TotpCode { code })
            .await
            .map_err(|e| AppError::from(e).to_string())?;
        Ok(r.codes)
    }

    /// This account's signed-in devices.
    pub async fn devices(&self) -> Result<DeviceLines, String> {
        self.unlocked.api.get(path::DEVICES).await.map_err(|e| AppError::from(e).to_string())
    }

    /// Sign out one of this account's devices with an order signed here (the device
    /// checks it, then erases its data at its next contact).
    pub async fn revoke_device(&self, id: &str) -> Result<(), String> {
        let url = path::fill(path::REVOKE_DEVICE, id);
        let me = self.unlocked.account.username.clone();
        let order = WipeOrder::sign(me.clone(), Some(id.to_owned()), now() as i64, me, None, &self.unlocked.identity);
        // The answer (a count) is not shown; `Empty` reads any object.
        let _: shared::api::Empty = self
            .unlocked
            .api
            .post(&url, &shared::api::RevokeDeviceRequest { order })
            .await
            .map_err(|e| AppError::from(e).to_string())?;
        Ok(())
    }
}
