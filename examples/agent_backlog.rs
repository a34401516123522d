//! Writes an agent's database holding HOURS of history it has not sent,
//! ending now, as an agent cut off from its hub for that long would have
//! it: a simulated host (about 20 series every 10 s) and 25 TCP services
//! checked every 30 s, recorded through the agent's own code in simulated
//! time. scripts/bench-hub.sh then measures how fast a real agent delivers
//! it to a real hub.
//!
//!     cargo run --example agent_backlog -- DATABASE NAME [HOURS=24]

use std::path::PathBuf;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use keepwatch::checks::CheckOutcome;
use keepwatch::clock::SimClock;

#[path = "../tests/support/remote.rs"]
mod remote;

fn main() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: agent_backlog DATABASE NAME [HOURS=24]";
    let database = PathBuf::from(args.next().ok_or(usage)?);
    let name = args.next().ok_or(usage)?;
    let hours: i64 = match args.next() {
        Some(hours) => hours
            .parse()
            .map_err(|_| format!("HOURS {hours:?} is not a number; {usage}"))?,
        None => 24,
    };
    let services: String = (0..25)
        .map(|i| {
            format!(
                "[[service]]\nname = \"service{i}\"\ntype = \"tcp\"\nhost = \"127.0.0.1\"\nport = 1\ninterval = \"30s\"\n"
            )
        })
        .collect();
    let now = Timestamp::now();
    let clock = SimClock::new(now - SignedDuration::from_hours(hours));
    let mut agent = remote::Remote::with_settings(&clock, &name, &services, 500_000_000);
    agent.run_for(SignedDuration::from_hours(hours), |service, _| {
        CheckOutcome::up(format!("{service} answered"))
            .with_response_time(Duration::from_millis(12))
    });
    agent.stop_into(&database);
    println!(
        "{hours} h of {name}'s history up to {now} in {}",
        database.display()
    );
    Ok(())
}
