//! Kubernetes resource quantities (`500m`, `2Gi`, `1.5`, `1e3`) as numbers, after the
//! apimachinery `resource.Quantity` grammar: a signed decimal number, then an optional
//! binary suffix (`Ki` … `Ei`, powers of 1024), decimal suffix (`n`, `u`, `m`, `k`, `M`, `G`,
//! `T`, `P`, `E`) or decimal exponent (`e3`, `E-2`).
//!
//! Only what a resource amount can be is accepted: the API server refuses negative requests
//! and allocatable amounts, and apimachinery holds an amount in an `int64` of its unit, so a
//! negative value (which would free room in the model's accounting) or one above
//! [`MAX`] (2⁶³ − 1) is not a quantity here either.

/// The largest amount accepted: `i64::MAX` units, apimachinery's bound.
pub const MAX: f64 = i64::MAX as f64;

/// The value of `text`, `None` when it is not a resource quantity (module doc).
pub fn parse(text: &str) -> Option<f64> {
    let text = text.trim();
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-')).unwrap_or(text.len());
    let (number, suffix) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let factor = match suffix {
        "" => 1.0,
        "Ki" => 1024f64,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        exponent => {
            let digits = exponent.strip_prefix(['e', 'E'])?;
            10f64.powi(digits.parse::<i32>().ok()?)
        }
    };
    let value = number * factor;
    (0.0..=MAX).contains(&value).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn suffixes_and_exponents() {
        assert_eq!(parse("500m"), Some(0.5));
        assert_eq!(parse("2"), Some(2.0));
        assert_eq!(parse("1.5"), Some(1.5));
        assert_eq!(parse("2Gi"), Some(2.0 * 1024.0 * 1024.0 * 1024.0));
        assert_eq!(parse("128Mi"), Some(128.0 * 1024.0 * 1024.0));
        assert_eq!(parse("1G"), Some(1e9));
        assert_eq!(parse("1e3"), Some(1000.0));
        assert_eq!(parse("25E-2"), Some(0.25));
        assert_eq!(parse("0"), Some(0.0));
        assert_eq!(parse("8Ei"), Some(8.0 * 1024f64.powi(6)), "2^63, which rounds to MAX as f64");
        for bad in ["", "abc", "1Xi", "m", "1e", "--1", "-1", "-500m", "-2Gi", "9Ei", "1e19", "1e308", "1e309"] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }
}
