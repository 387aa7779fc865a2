//! Client-side navigation without a router crate: the path is one signal; clicks on
//! same-origin anchors and [`navigate`] push a history entry, back and forward set
//! it from `popstate`. The app matches paths itself (`crate::page_for`). A router
//! crate's generic route tree cost more .wasm than everything here.

use leptos::ev;
use leptos::prelude::*;
use wasm_bindgen::JsCast;

/// The current path (`location.pathname`), in context.
#[derive(Clone, Copy)]
pub struct CurrentPath(pub RwSignal<String>);

fn location_path() -> String {
    window().location().pathname().unwrap_or_else(|_| "/".into())
}

/// Start following the address bar; call once, at the app's root.
pub fn install() -> CurrentPath {
    let path = CurrentPath(RwSignal::new(location_path()));
    provide_context(path);
    window_event_listener(ev::popstate, move |_| path.0.set(location_path()));
    window_event_listener(ev::click, move |e: web_sys::MouseEvent| {
        if e.default_prevented() || e.button() != 0 || e.meta_key() || e.ctrl_key() || e.shift_key() || e.alt_key() {
            return;
        }
        let anchor = e
            .target()
            .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
            .and_then(|el| el.closest("a[href]").ok().flatten());
        let Some(a) = anchor else { return };
        if a.has_attribute("download") || a.has_attribute("target") {
            return;
        }
        let href = a.get_attribute("href").unwrap_or_default();
        if href.starts_with('/') && !href.starts_with("//") {
            e.prevent_default();
            go(path, &href);
        }
    });
    path
}

fn go(path: CurrentPath, to: &str) {
    if let Ok(h) = window().history() {
        let _ = h.push_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(to));
    }
    // The path alone: a query (`/customers?quiet=30`) is for the page to read.
    path.0.set(to.split('?').next().unwrap_or(to).to_owned());
    window().scroll_to_with_x_and_y(0.0, 0.0);
}

/// Something that goes to a path of this app as a link click would. Take it while
/// the component is built (it reads the context), call it later from anywhere.
pub fn navigator() -> impl Fn(&str) + Copy + 'static {
    let path = expect_context::<CurrentPath>();
    move |to| go(path, to)
}

/// The path signal, for pages that read it.
pub fn current() -> RwSignal<String> {
    expect_context::<CurrentPath>().0
}
