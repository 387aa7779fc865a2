//! Entry point: mount the app and nothing else.

fn main() {
    // In a Web Worker (the page's signature workers load this same module; see
    // `app::workers`) there is no page to mount.
    if web_sys::window().is_none() {
        return;
    }
    // Panics go to the browser console (the message only: no JS stack capture, which
    // would cost code in the size-budgeted .wasm).
    std::panic::set_hook(Box::new(|info| web_sys::console::error_1(&info.to_string().into())));
    // The texts of the language the page starts in first (the start script asked for
    // them while the wasm downloaded; see `app::i18n`).
    // (Not Leptos' spawner: it starts with the mount.)
    wasm_bindgen_futures::spawn_local(async {
        app::i18n::load(app::i18n::starting()).await;
        leptos::mount::mount_to_body(app::App);
    });
}
