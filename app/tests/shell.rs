//! The app mounts in a real browser and starts locked, on the account form.
#![cfg(target_arch = "wasm32")]

use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
fn app_mounts_on_the_account_form() {
    leptos::mount::mount_to_body(app::App);
    let doc = web_sys::window().unwrap().document().unwrap();
    let h1 = doc.query_selector("h1").unwrap().expect("a heading");
    assert_eq!(h1.text_content().unwrap(), "Quietdesk");
    for label in ["username", "passphrase"] {
        let l = doc.query_selector(&format!("label[for={label}]")).unwrap().expect("a visible label");
        assert!(!l.text_content().unwrap().is_empty());
        assert!(doc.get_element_by_id(label).is_some(), "the labelled input exists");
    }
}
