//! Event times are milliseconds since the Unix epoch; people read them as dates. The civil date
//! is computed here (Howard Hinnant's days-to-civil algorithm) rather than with a date crate,
//! for the two places that print one: model versions and catalogue summaries.

/// The UTC date `(year, month, day)` of `ts_ms`.
pub fn civil_date(ts_ms: i64) -> (i64, u32, u32) {
    let z = ts_ms.div_euclid(86_400_000) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m as u32, d as u32)
}

#[cfg(test)]
mod tests {
    #[test]
    fn civil_dates() {
        assert_eq!(super::civil_date(0), (1970, 1, 1));
        assert_eq!(super::civil_date(1_318_896_000_000), (2011, 10, 18));
        assert_eq!(super::civil_date(951_782_400_000), (2000, 2, 29));
        assert_eq!(super::civil_date(-1), (1969, 12, 31));
    }
}
