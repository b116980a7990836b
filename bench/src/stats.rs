//! Order statistics over timing samples, and ratios of paired samples.

use serde::Serialize;

/// Summary of one tool's samples, in milliseconds.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub n: usize,
    pub median: f64,
    pub p95: f64,
    pub mean: f64,
    pub min: f64,
    pub max: f64,
}

/// The `q` quantile (0..=1) of sorted data, by linear interpolation between ranks.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

pub fn sorted(samples: &[f64]) -> Vec<f64> {
    let mut s: Vec<f64> = samples.iter().copied().filter(|x| x.is_finite()).collect();
    s.sort_by(|a, b| a.total_cmp(b));
    s
}

pub fn summarize(samples: &[f64]) -> Summary {
    let s = sorted(samples);
    let n = s.len();
    Summary {
        n,
        median: quantile(&s, 0.5),
        p95: quantile(&s, 0.95),
        mean: if n == 0 { f64::NAN } else { s.iter().sum::<f64>() / n as f64 },
        min: s.first().copied().unwrap_or(f64::NAN),
        max: s.last().copied().unwrap_or(f64::NAN),
    }
}

/// Median of the per-iteration ratios `a[i] / b[i]` (both measured in the same iteration).
pub fn paired_ratio(a: &[f64], b: &[f64]) -> f64 {
    let ratios: Vec<f64> = a
        .iter()
        .zip(b)
        .filter(|(x, y)| x.is_finite() && y.is_finite() && **y > 0.0)
        .map(|(x, y)| x / y)
        .collect();
    quantile(&sorted(&ratios), 0.5)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate() {
        let s = sorted(&[4.0, 1.0, 3.0, 2.0, 5.0]);
        assert_eq!(quantile(&s, 0.5), 3.0);
        assert_eq!(quantile(&s, 0.0), 1.0);
        assert_eq!(quantile(&s, 1.0), 5.0);
        assert!((quantile(&s, 0.95) - 4.8).abs() < 1e-9);
    }

    #[test]
    fn paired_ratio_is_median_of_ratios() {
        assert_eq!(paired_ratio(&[1.0, 2.0, 9.0], &[2.0, 2.0, 3.0]), 1.0);
    }
}
