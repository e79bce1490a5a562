//! Summaries of repeated measurements: median and spread (p10/p90, min/max).

use serde::Serialize;

/// Median and spread of a set of samples, in the unit the caller chose.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Summary {
    /// Number of samples.
    pub n: usize,
    /// The median (mean of the two middle samples when `n` is even).
    pub median: f64,
    /// 10th percentile (nearest rank).
    pub p10: f64,
    /// 90th percentile (nearest rank).
    pub p90: f64,
    /// Smallest sample.
    pub min: f64,
    /// Largest sample.
    pub max: f64,
}

impl Summary {
    /// Summarise `samples`; `None` when there are none (a case that could not run).
    pub fn of(samples: &[f64]) -> Option<Summary> {
        if samples.is_empty() {
            return None;
        }
        let mut s: Vec<f64> = samples.iter().copied().filter(|v| v.is_finite()).collect();
        if s.is_empty() {
            return None;
        }
        s.sort_by(f64::total_cmp);
        let n = s.len();
        let median = if n % 2 == 1 {
            s[n / 2]
        } else {
            (s[n / 2 - 1] + s[n / 2]) / 2.0
        };
        Some(Summary {
            n,
            median,
            p10: rank(&s, 0.10),
            p90: rank(&s, 0.90),
            min: s[0],
            max: s[n - 1],
        })
    }

    /// `p90 - p10`, the spread printed in the table.
    pub fn spread(&self) -> f64 {
        self.p90 - self.p10
    }
}

/// Nearest-rank percentile of sorted, non-empty `s`.
fn rank(s: &[f64], q: f64) -> f64 {
    let idx = ((q * s.len() as f64).ceil() as usize).clamp(1, s.len()) - 1;
    s[idx]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_percentiles() {
        assert_eq!(Summary::of(&[]), None);
        let s = Summary::of(&[3.0, 1.0, 2.0]).expect("samples");
        assert_eq!((s.n, s.median, s.min, s.max), (3, 2.0, 1.0, 3.0));
        let s = Summary::of(&[4.0, 1.0, 3.0, 2.0]).expect("samples");
        assert_eq!(s.median, 2.5);
        let ten: Vec<f64> = (1..=10).map(f64::from).collect();
        let s = Summary::of(&ten).expect("samples");
        assert_eq!((s.p10, s.p90), (1.0, 9.0));
        assert_eq!(s.spread(), 8.0);
    }
}
