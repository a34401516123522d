//! Sets of time spans in milliseconds, as sorted, non-overlapping
//! `[start, end)` pairs: availability is lengths of such sets (down time
//! minus maintenance, intersected with opening hours), never counts of samples,
//! so a changed check interval or a thinned history gives the same answer.

use jiff::Timestamp;

/// A set of `[start, end)` spans in milliseconds since 1970, sorted and disjoint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Spans(Vec<(i64, i64)>);

impl Spans {
    /// The set covering the given spans; empty and reversed spans are dropped,
    /// overlapping and touching ones merged.
    pub fn new(mut spans: Vec<(i64, i64)>) -> Self {
        spans.retain(|(a, b)| a < b);
        spans.sort_unstable();
        let mut merged: Vec<(i64, i64)> = Vec::with_capacity(spans.len());
        for (a, b) in spans {
            match merged.last_mut() {
                Some(last) if a <= last.1 => last.1 = last.1.max(b),
                _ => merged.push((a, b)),
            }
        }
        Self(merged)
    }

    /// The set of instants spans.
    pub fn of(spans: impl IntoIterator<Item = (Timestamp, Timestamp)>) -> Self {
        Self::new(
            spans
                .into_iter()
                .map(|(a, b)| (a.as_millisecond(), b.as_millisecond()))
                .collect(),
        )
    }

    /// One span.
    pub fn one(from: Timestamp, to: Timestamp) -> Self {
        Self::of([(from, to)])
    }

    /// The spans, in order.
    pub fn iter(&self) -> impl Iterator<Item = (i64, i64)> + '_ {
        self.0.iter().copied()
    }

    /// The total length in milliseconds.
    pub fn total_ms(&self) -> i64 {
        self.0.iter().map(|(a, b)| b - a).sum()
    }

    /// What both sets cover.
    pub fn intersect(&self, other: &Spans) -> Spans {
        let (mut i, mut j) = (0, 0);
        let mut out = Vec::new();
        while i < self.0.len() && j < other.0.len() {
            let (a, b) = self.0[i];
            let (c, d) = other.0[j];
            let (start, end) = (a.max(c), b.min(d));
            if start < end {
                out.push((start, end));
            }
            if b < d {
                i += 1;
            } else {
                j += 1;
            }
        }
        Spans(out)
    }

    /// What this set covers and `other` does not.
    pub fn subtract(&self, other: &Spans) -> Spans {
        let mut out = Vec::new();
        let mut j = 0;
        for &(a, b) in &self.0 {
            let mut start = a;
            while j < other.0.len() && other.0[j].1 <= start {
                j += 1;
            }
            let mut k = j;
            while k < other.0.len() && other.0[k].0 < b {
                let (c, d) = other.0[k];
                if c > start {
                    out.push((start, c));
                }
                start = start.max(d);
                k += 1;
            }
            if start < b {
                out.push((start, b));
            }
        }
        Spans(out)
    }

    /// `true` when nothing is covered.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_merge_intersect_and_subtract() {
        let a = Spans::new(vec![(10, 20), (0, 5), (4, 8), (30, 30), (40, 35)]);
        assert_eq!(a.iter().collect::<Vec<_>>(), vec![(0, 8), (10, 20)]);
        assert_eq!(a.total_ms(), 18);
        let b = Spans::new(vec![(6, 12), (15, 16), (19, 40)]);
        assert_eq!(
            a.intersect(&b).iter().collect::<Vec<_>>(),
            vec![(6, 8), (10, 12), (15, 16), (19, 20)]
        );
        assert_eq!(
            a.subtract(&b).iter().collect::<Vec<_>>(),
            vec![(0, 6), (12, 15), (16, 19)]
        );
        assert_eq!(b.subtract(&a).total_ms(), 2 + 20);
        assert!(a.subtract(&a).is_empty());
        assert_eq!(a.subtract(&Spans::default()), a);
        assert!(Spans::default().intersect(&a).is_empty());
    }
}
