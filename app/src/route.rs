//! The app's pages, one row each ([`PAGES`]): where a page is, which module of the built
//! app holds its code, and where the navigation shows it. The shell's sidebar, the
//! phone's tab bar and "More" page, and the module a page is fetched from all read this
//! table; each group's view function (`daily_page`, `occasional_page` in `lib.rs`)
//! draws the page for its path, so the split keeps every page's code in its group.
//!
//! Adding a page: a path constant here, its row in [`PAGES`], its arm in its group's
//! view function, and its label in the two translation tables.

use crate::icons::Icon;

pub const HOME: &str = "/";
pub const CUSTOMERS: &str = "/customers";
pub const NEW_CUSTOMER: &str = "/customers/new";
pub const TASKS: &str = "/tasks";
pub const CALENDAR: &str = "/calendar";
pub const POOL: &str = "/pool";
pub const TEAM: &str = "/team";
pub const PIPELINE: &str = "/pipeline";
pub const IMPORT: &str = "/import";
pub const AUDIT: &str = "/audit";
pub const LIFECYCLE: &str = "/lifecycle";
pub const MORE: &str = "/more";
pub const DUPLICATES: &str = "/customers/duplicates";

/// A customer's page.
pub fn customer(id: &str) -> String {
    format!("/customers/{id}")
}

/// The page that merges `other` into `survivor`.
pub fn merge(survivor: &str, other: &str) -> String {
    format!("/customers/merge/{survivor}/{other}")
}

/// Which module of the built app holds a page's code: the pages used every day are
/// fetched while the passphrase is checked; the occasional ones the first time one
/// opens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Group {
    Daily,
    Occasional,
}

/// Where the navigation shows a page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Nav {
    /// In the sidebar, and (the first four) in the phone's tab bar.
    Primary,
    /// In the sidebar, and on the phone's "More" page.
    Secondary,
    /// As `Secondary`, for admins only.
    Admin,
    /// Reached through links only.
    Hidden,
}

/// One page.
#[derive(Clone, Copy)]
pub struct Page {
    pub path: &'static str,
    /// Its name's translation key, as the navigation shows it.
    pub label: &'static str,
    pub icon: Icon,
    pub nav: Nav,
    pub group: Group,
}

const fn page(path: &'static str, label: &'static str, icon: Icon, nav: Nav, group: Group) -> Page {
    Page { path, label, icon, nav, group }
}

/// Every page with a fixed path, in the navigation's order. Pages under a record's id
/// (a customer, a merge) are daily pages reached through links.
pub const PAGES: &[Page] = &[
    page(HOME, "nav.home", Icon::Home, Nav::Primary, Group::Daily),
    page(CUSTOMERS, "nav.customers", Icon::Customers, Nav::Primary, Group::Daily),
    page(PIPELINE, "nav.pipeline", Icon::Pipeline, Nav::Primary, Group::Daily),
    page(TASKS, "nav.tasks", Icon::Tasks, Nav::Primary, Group::Daily),
    page(TEAM, "nav.team", Icon::Team, Nav::Primary, Group::Occasional),
    page(POOL, "nav.pool", Icon::Customers, Nav::Secondary, Group::Daily),
    page(CALENDAR, "nav.calendar", Icon::Tasks, Nav::Secondary, Group::Daily),
    page(IMPORT, "nav.import", Icon::Import, Nav::Secondary, Group::Occasional),
    page(AUDIT, "nav.audit", Icon::Audit, Nav::Admin, Group::Occasional),
    page(LIFECYCLE, "nav.lifecycle", Icon::Lifecycle, Nav::Admin, Group::Occasional),
    page(MORE, "nav.more", Icon::More, Nav::Hidden, Group::Daily),
    page(NEW_CUSTOMER, "customers.new", Icon::Customers, Nav::Hidden, Group::Daily),
    page(DUPLICATES, "duplicates.find", Icon::Customers, Nav::Hidden, Group::Daily),
];

/// The row for `path`, if it is a page with a fixed path.
pub fn find(path: &str) -> Option<&'static Page> {
    PAGES.iter().find(|p| p.path == path)
}

/// The group whose module holds the page at `path`.
pub fn group(path: &str) -> Group {
    find(path).map_or(Group::Daily, |p| p.group)
}

/// The pages the navigation lists for this user, in order.
pub fn listed(admin: bool) -> impl Iterator<Item = &'static Page> {
    PAGES.iter().filter(move |p| match p.nav {
        Nav::Primary | Nav::Secondary => true,
        Nav::Admin => admin,
        Nav::Hidden => false,
    })
}

/// The phone's tab bar: the first four primary pages, then "More".
pub fn tabs() -> impl Iterator<Item = &'static Page> {
    PAGES.iter().filter(|p| p.nav == Nav::Primary).take(4).chain(find(MORE))
}

#[cfg(test)]
mod tests {
    use wasm_bindgen_test::*;

    use super::*;

    #[wasm_bindgen_test]
    fn every_path_is_one_row_and_the_navigation_reads_the_table() {
        for (i, p) in PAGES.iter().enumerate() {
            assert!(PAGES[..i].iter().all(|q| q.path != p.path), "{} twice", p.path);
        }
        let tabs: Vec<&str> = tabs().map(|p| p.path).collect();
        assert_eq!(tabs, [HOME, CUSTOMERS, PIPELINE, TASKS, MORE]);
        assert!(listed(true).any(|p| p.path == AUDIT) && !listed(false).any(|p| p.path == AUDIT));
        assert!(!listed(true).any(|p| p.nav == Nav::Hidden));
        assert_eq!(group(TEAM), Group::Occasional);
        assert_eq!(group(&customer("x")), Group::Daily);
    }
}
