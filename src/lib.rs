//! keepwatch: self-hosted monitoring for small businesses.
//!
//! Data flows one way: **collect → store → evaluate → notify / report / serve**.
//! The modules sit in layers, bottom first; a module uses only its own layer
//! and those below (`docs/architecture.md` holds the list that
//! `tests/layering.rs` enforces):
//!
//! 1. Leaves, importing nothing of keepwatch: [`units`] (durations and sizes as
//!    the config writes them), [`observation`] (samples and series keys),
//!    [`vocabulary`] (states, failure kinds, severities, policies, metric and
//!    state names), [`clock`] (where time comes from, so tests can simulate
//!    days in milliseconds), [`secret`] (passwords given inline, from the
//!    environment or a file), [`tls`] (trusted authorities, certificate
//!    verification at the clock's time, the outgoing HTTP client),
//!    [`plain`] (numbers in plain words), [`printable`] (outside text made
//!    safe to show) and [`resident`] (keepwatch's idle code kept out of its
//!    memory).
//! 2. [`calendar`]: opening hours, holidays and time zone; [`logging`]: log
//!    lines stamped in that time zone, written without ever blocking;
//!    [`protocol`]: what an agent sends its hub and what the hub answers;
//!    [`message`]: a message as a channel delivers it, whoever wrote it.
//! 3. [`store`] keeps the observations in one SQLite file, compactly, with
//!    retention and a disk-space cap, and the alerts, notices and outbox.
//! 4. [`collect`] reads host metrics (CPU, memory, disks, network, load,
//!    uptime) through a [`collect::MetricsSource`], and decides when the agent
//!    should throttle itself on a busy host; [`checks`] runs the service checks
//!    (HTTP, TCP, ping, DNS, certificates, databases, local processes).
//! 5. [`alert`] turns service states and threshold rules into alerts, classified
//!    as emergency or not, and decides who is told when: business hours,
//!    escalation steps, the summary at opening, maintenance, flapping,
//!    grouping and `depends_on` folding; it names each problem (fingerprint,
//!    title, detail) and composes the messages.
//! 6. [`notify`] delivers composed messages through channels (email, SMS,
//!    webhook, chat, log) from a durable outbox that retries; [`pipeline`]
//!    is what happens to a new observation wherever it comes from (collected,
//!    checked or pushed): written, fed to the rules, its service's state and
//!    incidents recorded, its alerts opened or ended, decisions kept through a
//!    full disk.
//! 7. [`config`] is the whole `keepwatch.toml`: it aggregates each section's
//!    type from the module it configures, loads and validates it, and writes
//!    the commented file `keepwatch init` writes.
//! 8. [`status`] is `keepwatch status`: the status model read from the store
//!    (serialised as it is by the API), its text, and starting and listing
//!    maintenance windows for the command line and the API alike;
//!    [`export`] hands the data to a bigger system: Prometheus names for the
//!    series, and the history pushed with remote write (`[export]`).
//! 9. [`agent`] is the runtime of `keepwatch run`: it schedules collection and
//!    checks, hands their results to the pipeline, and reloads the configuration.
//! 10. [`report`] is `keepwatch report` (availability, cost, stories and
//!     trends over a period, from the store) and sends the scheduled
//!     `[[report]]`s by email; [`deploy`] is `keepwatch init`
//!     and `keepwatch doctor` and `keepwatch service`; [`api`] is the REST API
//!     `keepwatch run` serves (tokens, roles, status, history, alerts,
//!     maintenance, reports).
//!
//! The binary (`src/main.rs`) only parses the command line and calls into these.

pub mod agent;
pub mod alert;
pub mod api;
pub mod calendar;
pub mod checks;
pub mod clock;
pub mod collect;
pub mod config;
pub mod deploy;
pub mod export;
pub mod logging;
pub mod message;
pub mod notify;
pub mod observation;
pub mod pipeline;
pub mod plain;
pub mod printable;
pub mod protocol;
pub mod report;
pub mod resident;
pub mod secret;
pub mod status;
pub mod store;
pub mod tls;
pub mod units;
pub mod vocabulary;
