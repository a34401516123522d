//! A small seeded random number generator (splitmix64) for the fault tests.
//! Each test prints its seed; `KEEPWATCH_FAULT_SEED=<seed>` replays it.
//!
//! Include it with `#[path = "support/rng.rs"] mod rng;`.

// Each test binary uses only some of these.
#![allow(dead_code)]

/// Random numbers from a seed.
pub struct Rng(u64);

impl Rng {
    /// Seeded from `KEEPWATCH_FAULT_SEED`, else from the clock; says which
    /// seed `what` runs with, so a failure can be replayed.
    pub fn from_env(what: &str) -> Self {
        let seed = std::env::var("KEEPWATCH_FAULT_SEED")
            .ok()
            .and_then(|seed| seed.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(1)
            });
        eprintln!("{what}: seed {seed} (replay with KEEPWATCH_FAULT_SEED={seed})");
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }

    /// A number in `low..high`.
    pub fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.next() % (high - low).max(1)
    }

    /// One of `items`.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}
