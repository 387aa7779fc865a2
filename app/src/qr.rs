//! QR codes drawn on the device. The two-factor set-up's code is made here from the
//! secret and the account's name, as SVG elements the app builds itself: the server
//! sends no markup (a server that could put HTML into the page could run script in the
//! app's origin), and the code cannot name another account than the one set up.

use leptos::prelude::*;

/// The authenticator secret the server hands out: 160 bits in base32 (RFC 4648, no
/// padding), 32 letters. Anything else is refused rather than drawn.
pub fn is_totp_secret(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b))
}

/// The `otpauth://` URI authenticator apps read (Google's key-URI format): issuer
/// Quietdesk, this account, SHA-1, 6 digits, 30 s — what the server checks codes with.
pub fn otpauth_uri(account: &str, secret: &str) -> String {
    let label = String::from(js_sys::encode_uri_component(&format!("Quietdesk:{account}")));
    format!("otpauth://totp/{label}?secret={secret}&issuer=Quietdesk&algorithm=SHA1&digits=6&period=30")
}

/// The path of the dark modules of `text`'s QR code (one unit a module, a four-module
/// quiet zone), and the side of the square it is drawn in.
fn modules_path(text: &str) -> Option<(String, usize)> {
    let code = qrcode::QrCode::new(text.as_bytes()).ok()?;
    let width = code.width();
    let mut d = String::new();
    for (i, color) in code.to_colors().into_iter().enumerate() {
        if color == qrcode::Color::Dark {
            let (x, y) = (i % width + 4, i / width + 4);
            d.push_str(&format!("M{x} {y}h1v1h-1z"));
        }
    }
    Some((d, width + 8))
}

/// `text` as a QR code, an image named `label` for screen readers.
#[component]
pub fn QrCode(text: String, label: &'static str) -> impl IntoView {
    modules_path(&text).map(|(d, side)| {
        view! {
            <svg
                xmlns="http://www.w3.org/2000/svg"
                role="img"
                aria-label=label
                viewBox=format!("0 0 {side} {side}")
                width="200"
                height="200"
                shape-rendering="crispEdges"
            >
                <rect width=side.to_string() height=side.to_string() fill="#fff" />
                <path d=d fill="#000" />
            </svg>
        }
    })
}

#[cfg(test)]
mod tests {
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test]
    fn only_a_base32_secret_of_160_bits_is_drawn() {
        assert!(super::is_totp_secret("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"));
        for bad in [
            "",
            "jbswy3dpehpk3pxpjbswy3dpehpk3pxp",
            "JBSWY3DPEHPK3PXP",
            "<svg onload=alert(1)>AAAAAAAAAAAAAAAAAA",
            "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PX1",
        ] {
            assert!(!super::is_totp_secret(bad), "{bad}");
        }
    }

    #[wasm_bindgen_test]
    fn the_uri_names_this_account_and_the_code_holds_it() {
        let uri = super::otpauth_uri("张伟 a&b", "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP");
        assert_eq!(
            uri,
            "otpauth://totp/Quietdesk%3A%E5%BC%A0%E4%BC%9F%20a%26b?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP\
             &issuer=Quietdesk&algorithm=SHA1&digits=6&period=30"
        );
        let (d, side) = super::modules_path(&uri).expect("fits a QR code");
        assert!(side > 8 && d.starts_with('M') && !d.contains('<'));
    }
}
