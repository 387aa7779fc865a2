//! The team: members with their role and safety number; admins add members.

use leptos::prelude::*;
use leptos::task::spawn_local;
use shared::chain::Role;

use crate::use_ws;

#[component]
pub fn TeamPage() -> impl IntoView {
    let ws = use_ws();
    let members = LocalResource::new(move || {
        let ws = use_ws();
        async move { ws.members().await }
    });
    let who = RwSignal::new(String::new());
    let role = RwSignal::new("member".to_owned());
    let message = RwSignal::new(None::<String>);
    let add = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let name = who.get_untracked();
        let r = match role.get_untracked().as_str() {
            "admin" => Role::Admin,
            "manager" => Role::Manager,
            "support" => Role::Support,
            _ => Role::Member,
        };
        let ws = use_ws();
        spawn_local(async move {
            match ws.add_member(&name, r).await {
                Ok(()) => {
                    message.set(Some(format!("Added {name}.")));
                    who.set(String::new());
                    members.refetch();
                }
                Err(e) => message.set(Some(e)),
            }
        });
    };
    view! {
        <section class="page">
            <h2>"Team"</h2>
            <section class="card">
                <h3>"Members"</h3>
                <ul class="members" aria-label="Members">
                    {move || members.get().map(|list| list.into_iter().map(|(name, role, fp)| view! {
                        <li><strong>{name}</strong> " " <span class="badge">{role}</span>
                            <span class="fingerprint" title="Safety number">{fp}</span></li>
                    }).collect_view())}
                </ul>
            </section>
            {ws.is_admin.then(|| view! {
                <form class="card form inline" on:submit=add aria-label="Add member">
                    <div class="field grow">
                        <label for="m-name">"Username to add"</label>
                        <input id="m-name" prop:value=who on:input=move |ev| who.set(event_target_value(&ev)) />
                    </div>
                    <div class="field">
                        <label for="m-role">"Role"</label>
                        <select id="m-role" on:change=move |ev| role.set(event_target_value(&ev))>
                            <option value="member">"member"</option>
                            <option value="manager">"manager"</option>
                            <option value="support">"support"</option>
                            <option value="admin">"admin"</option>
                        </select>
                    </div>
                    <button type="submit">"Add member"</button>
                    <span role="status" class="message">{move || message.get()}</span>
                </form>
            })}
        </section>
    }
}
