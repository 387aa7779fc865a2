//! Icons: a few inline SVG paths (24×24, stroked in the text colour), so no icon font
//! or image is downloaded. Decorative: every icon sits next to its text.

use leptos::prelude::*;

#[derive(Clone, Copy)]
pub enum Icon {
    Home,
    Customers,
    Pipeline,
    Tasks,
    Team,
    Import,
    Audit,
    Lifecycle,
    More,
    Sync,
}

fn path(icon: Icon) -> &'static str {
    match icon {
        Icon::Home => "M3 10l9-7 9 7v10a2 2 0 0 1-2 2h-4v-7H9v7H5a2 2 0 0 1-2-2z",
        Icon::Customers => "M16 21v-2a4 4 0 0 0-4-4H6a4 4 0 0 0-4 4v2M9 11a4 4 0 1 0 0-8 4 4 0 0 0 0 8M22 21v-2a4 4 0 0 0-3-3.9M16 3.1a4 4 0 0 1 0 7.8",
        Icon::Pipeline => "M4 4h4v16H4zM10 4h4v10h-4zM16 4h4v6h-4z",
        Icon::Tasks => "M9 11l3 3 8-8M20 12v7a2 2 0 0 1-2 2H6a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2h9",
        Icon::Team => "M12 22s8-4 8-10V5l-8-3-8 3v7c0 6 8 10 8 10z",
        Icon::Import => "M12 3v12M7 10l5 5 5-5M4 21h16",
        Icon::Audit => "M8 6h13M8 12h13M8 18h13M3 6h.01M3 12h.01M3 18h.01",
        Icon::Lifecycle => "M12 22a10 10 0 1 0 0-20 10 10 0 0 0 0 20zM12 6v6l4 2",
        Icon::More => "M5 12h.01M12 12h.01M19 12h.01",
        Icon::Sync => "M21 12a9 9 0 0 1-15 6.7L3 16M3 12a9 9 0 0 1 15-6.7L21 8M21 3v5h-5M3 21v-5h5",
    }
}

pub fn icon(icon: Icon) -> impl IntoView {
    view! {
        <svg class="icon" viewBox="0 0 24 24" width="20" height="20" aria-hidden="true" focusable="false"
            fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round">
            <path d=path(icon) />
        </svg>
    }
}
