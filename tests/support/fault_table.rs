//! The rows of the fault table that `scripts/faults.sh` gathers into the
//! table of docs/reliability.md: each fault test prints its own.

// Each test binary uses only some of this.
#![allow(dead_code)]

/// Prints one row: the fault, how many times it was made, the alerts
/// expected and delivered, the samples lost (`None`: not a fault where
/// either applies), and how it ended (the database's integrity, a refusal,
/// panics).
pub fn fault_row(
    fault: &str,
    runs: usize,
    alerts: Option<(usize, usize)>,
    lost: Option<usize>,
    end: &str,
) {
    let alerts = alerts.map_or("—".to_owned(), |(expected, delivered)| {
        format!("{expected}/{delivered}")
    });
    let lost = lost.map_or("—".to_owned(), |lost| lost.to_string());
    println!("FAULT | {fault} | {runs} | {alerts} | {lost} | {end}");
}
