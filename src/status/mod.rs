//! `keepwatch status`: the latest state of this host, in plain words.
//!
//! [`StatusView::read`] gathers every fact from the store into the status
//! model (`model.rs`), a plain serialisable struct; `text.rs` lays it out for
//! the terminal and the API serialises the same struct, so both always say
//! the same. `maintenance.rs` starts and lists maintenance windows for the
//! command line and the API alike. Reads only what the store already holds,
//! so it works while `keepwatch run` is running (or after it stopped) and
//! never touches the collectors.

mod maintenance;
mod model;
mod text;

pub use maintenance::{Listed, Planned, Refusal, WindowRequest, list_windows, start_window};
pub use model::{
    AgentLink, AgentState, AgentSummary, AgentView, AlertView, DeliveryState, EventView,
    LastProblem, Liveness, Measurement, NextKind, NextView, ServiceView, Shown, Sources,
    StatusView, ToldView, WindowView, add_ping_urls, agent_views, ping_url, service_views,
    summarize,
};
pub use text::{
    SettingsInUse, render, render_agents, render_alerts, render_checks, render_windows,
    settings_lines,
};
