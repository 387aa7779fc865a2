//! The app mounts in a real browser and shows its name.
#![cfg(target_arch = "wasm32")]

use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
fn app_mounts_and_shows_its_heading() {
    leptos::mount::mount_to_body(app::App);
    let doc = web_sys::window().unwrap().document().unwrap();
    let h1 = doc.query_selector("h1").unwrap().expect("a heading");
    assert_eq!(h1.text_content().unwrap(), "Quietdesk");
    let status = doc
        .query_selector("[role=status]")
        .unwrap()
        .expect("a status line");
    assert!(status.text_content().unwrap().starts_with("Server:"));
}
