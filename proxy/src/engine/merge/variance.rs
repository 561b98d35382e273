//! VAR_POP, VAR_SAMP, STDDEV_POP and STDDEV_SAMP over several shards.
//!
//! A shard's own variance cannot be combined (MariaDB prints it rounded to a few decimals),
//! so each shard returns `COUNT(x)`, `SUM(x)` and `SUM(x * (x + 0.0))`. For integer and
//! DECIMAL arguments those are exact, and so is `n * Σx² - (Σx)²`, the variance's numerator:
//! the merge rounds only once, when it divides, where MariaDB accumulates a double as rows
//! pass. In the text protocol the result is spelled with the column's decimals, as MariaDB
//! spells a DOUBLE; in the binary protocol it goes out whole (MariaDB's own double, built in
//! row order, can differ from it in the last bits, as it differs between two scan orders).
//! Floating-point arguments (whose sums are already rounded) are refused when the merge is
//! set up, because the last digits would differ from MariaDB's.

use shardgate_router::AggregateFunction;

use super::select::MergeError;
use super::value::Decimal;

/// The variance or standard deviation from a group's folded parts, spelled with `decimals`
/// fraction digits, or, with `decimals` `None`, as the shortest text that reads back as the
/// same double; `None` (NULL) for no values, and for a sample of one.
pub fn variance(
    function: AggregateFunction,
    count: Option<&[u8]>,
    sum: Option<&[u8]>,
    squares: Option<&[u8]>,
    decimals: Option<u8>,
) -> Result<Option<Vec<u8>>, MergeError> {
    let count: i128 = match count.and_then(|c| std::str::from_utf8(c).ok()) {
        Some(c) => c.trim().parse().map_err(|_| too_big())?,
        None => 0,
    };
    let sample = matches!(
        function,
        AggregateFunction::VarSamp | AggregateFunction::StdSamp
    );
    if count == 0 || (sample && count == 1) {
        return Ok(None);
    }
    let (Some(sum), Some(squares)) = (
        sum.and_then(Decimal::parse),
        squares.and_then(Decimal::parse),
    ) else {
        return Err(too_big());
    };
    let n = Decimal::from_int(count).ok_or_else(too_big)?;
    let numerator = n
        .checked_mul(squares)
        .and_then(|nq| nq.checked_add(sum.checked_mul(sum)?.negated()))
        .ok_or_else(too_big)?;
    let divisor = if sample {
        count as f64 * (count - 1) as f64
    } else {
        count as f64 * count as f64
    };
    // Exact arithmetic cannot go below zero; the guard keeps a rounding from making a NaN.
    let mut value = (numerator.to_float() / divisor).max(0.0);
    if matches!(
        function,
        AggregateFunction::StdPop | AggregateFunction::StdSamp
    ) {
        value = value.sqrt();
    }
    Ok(Some(
        match decimals {
            Some(d) => format!("{value:.prec$}", prec = usize::from(d)),
            None => format!("{value}"),
        }
        .into_bytes(),
    ))
}

fn too_big() -> MergeError {
    MergeError::Overflow(
        "shardgate: a variance over several physical tables whose sums do not fit 38 digits".into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use AggregateFunction::*;

    fn run(function: AggregateFunction, values: &[&str], decimals: u8) -> Option<String> {
        let mut count = 0i128;
        let mut sum = Decimal::zero();
        let mut squares = Decimal::zero();
        for v in values {
            let d = Decimal::parse(v.as_bytes()).unwrap();
            count += 1;
            sum = sum.checked_add(d).unwrap();
            squares = squares.checked_add(d.checked_mul(d).unwrap()).unwrap();
        }
        let count = count.to_string();
        let sum = sum.to_text();
        let squares = squares.to_text();
        variance(
            function,
            Some(count.as_bytes()),
            Some(sum.as_bytes()),
            Some(squares.as_bytes()),
            Some(decimals),
        )
        .unwrap()
        .map(|v| String::from_utf8(v).unwrap())
    }

    #[test]
    fn as_mariadb_spells_them() {
        // Checked against MariaDB 10.11: 1, 2, 4 as INT, and 1.50, 2.25, 3.75 as
        // DECIMAL(10,2).
        assert_eq!(run(VarPop, &["1", "2", "4"], 4).as_deref(), Some("1.5556"));
        assert_eq!(run(StdPop, &["1", "2", "4"], 4).as_deref(), Some("1.2472"));
        assert_eq!(run(VarSamp, &["1", "2", "4"], 4).as_deref(), Some("2.3333"));
        assert_eq!(
            run(VarPop, &["1.50", "2.25", "3.75"], 6).as_deref(),
            Some("0.875000")
        );
        assert_eq!(
            run(StdSamp, &["1.50", "2.25", "3.75"], 6).as_deref(),
            Some("1.145644")
        );
    }

    #[test]
    fn whole_for_the_binary_protocol() {
        let v = variance(VarPop, Some(b"3"), Some(b"7"), Some(b"21"), None).unwrap();
        let v: f64 = String::from_utf8(v.unwrap()).unwrap().parse().unwrap();
        assert_eq!(v, (3.0 * 21.0 - 49.0) / 9.0);
    }

    #[test]
    fn no_values_or_a_sample_of_one_is_null() {
        assert_eq!(run(VarPop, &[], 4), None);
        assert_eq!(run(VarSamp, &["7"], 4), None);
        assert_eq!(run(StdSamp, &["7"], 4), None);
        assert_eq!(run(VarPop, &["7"], 4).as_deref(), Some("0.0000"));
    }

    #[test]
    fn large_values_without_cancellation() {
        // A double accumulator would lose these: the mean is 9e9 and the spread 2.
        assert_eq!(
            run(VarPop, &["9000000000", "9000000001", "9000000005"], 4).as_deref(),
            Some("4.6667")
        );
    }

    #[test]
    fn sums_beyond_38_digits_are_refused() {
        let e = variance(VarPop, Some(b"2"), Some(b"1"), Some(b"1.5e40"), Some(4));
        assert!(matches!(e, Err(MergeError::Overflow(_))));
    }
}
