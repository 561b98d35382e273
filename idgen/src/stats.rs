//! How evenly ids spread over the 32 x 32 layout (`database = id % 32`, `table = id / 32 %
//! 32`): counts per (database, table) pair and Pearson's chi-square test against uniform.

/// Databases and tables per database of the layout the project exists for.
pub const DATABASES: u64 = 32;
pub const TABLES: u64 = 32;

/// The (database, table) pair of an id.
pub fn shard_of(id: i64) -> (u64, u64) {
    let id = id.rem_euclid(i64::MAX) as u64;
    (id % DATABASES, id / DATABASES % TABLES)
}

/// Ids per (database, table) pair, `database * 32 + table`.
#[derive(Debug, Clone)]
pub struct Spread {
    pub counts: Vec<u64>,
}

impl Default for Spread {
    fn default() -> Self {
        Spread {
            counts: vec![0; (DATABASES * TABLES) as usize],
        }
    }
}

impl Spread {
    pub fn add(&mut self, id: i64) {
        let (d, t) = shard_of(id);
        self.counts[(d * TABLES + t) as usize] += 1;
    }

    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Pairs that got no id.
    pub fn empty(&self) -> usize {
        self.counts.iter().filter(|c| **c == 0).count()
    }

    /// Pearson's chi-square statistic against the uniform spread.
    pub fn chi_square(&self) -> f64 {
        let expected = self.total() as f64 / self.counts.len() as f64;
        if expected == 0.0 {
            return 0.0;
        }
        self.counts
            .iter()
            .map(|&c| {
                let d = c as f64 - expected;
                d * d / expected
            })
            .sum()
    }

    /// The probability of a statistic at least this large if ids were uniform (1023
    /// degrees of freedom), by the Wilson-Hilferty normal approximation, which is
    /// accurate to well under 1% at this many degrees of freedom.
    pub fn p_value(&self) -> f64 {
        chi_square_survival(self.chi_square(), (self.counts.len() - 1) as f64)
    }
}

/// P(X >= x) for X chi-square distributed with `k` degrees of freedom.
pub fn chi_square_survival(x: f64, k: f64) -> f64 {
    if x <= 0.0 {
        return 1.0;
    }
    let h = 2.0 / (9.0 * k);
    let z = ((x / k).powf(1.0 / 3.0) - (1.0 - h)) / h.sqrt();
    0.5 * erfc(z / std::f64::consts::SQRT_2)
}

/// The complementary error function (Numerical Recipes' erfcc, relative error < 1.2e-7).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t
        * (-z * z - 1.265_512_23
            + t * (1.000_023_68
                + t * (0.374_091_96
                    + t * (0.096_784_18
                        + t * (-0.186_288_06
                            + t * (0.278_868_07
                                + t * (-1.135_203_98
                                    + t * (1.488_515_87
                                        + t * (-0.822_152_23 + t * 0.170_872_77)))))))))
            .exp();
    if x >= 0.0 {
        r
    } else {
        2.0 - r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn survival_matches_known_quantiles() {
        // Chi-square with 1023 degrees of freedom: the median is about 1022.3, the 0.1%
        // upper quantile about 1168.
        assert!((chi_square_survival(1022.3, 1023.0) - 0.5).abs() < 0.01);
        assert!((chi_square_survival(1168.0, 1023.0) - 0.001).abs() < 0.0005);
        assert!(chi_square_survival(2000.0, 1023.0) < 1e-12);
    }

    #[test]
    fn a_skewed_spread_fails_and_an_even_one_passes() {
        let mut even = Spread::default();
        (0..102_400).for_each(|i| even.add(i));
        assert_eq!(even.empty(), 0);
        assert!(even.p_value() > 0.99);
        let mut skewed = Spread::default();
        (0..102_400).for_each(|i| skewed.add((i % 7) << 22));
        assert!(skewed.p_value() < 1e-9);
    }
}
