//! Human units and names, shared by the live view and the text report:
//! durations and byte sizes with three significant digits (base::units,
//! which the findings' words use too), percentages, and the short function
//! names both show.

/// `/srv/bin/demo-service` -> `demo-service`.
pub fn base_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

pub use crate::base::units::{bytes, nanos};

/// A rate (0..=1) as a percentage with `decimals` places: `0.0667` -> `6.67%`.
pub fn percent(rate: f64, decimals: usize) -> String {
    format!("{:.*}%", decimals, rate * 100.0)
}

/// `s` cut to `width` characters, its middle replaced by `…` (the end of
/// a Go symbol, its function, is what tells names apart).
pub fn fit(s: &str, width: usize) -> String {
    let n = s.chars().count();
    if n <= width {
        return s.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let tail = (width - 1) * 2 / 3;
    let head = width - 1 - tail;
    let mut out: String = s.chars().take(head).collect();
    out.push('…');
    out.extend(s.chars().skip(n - tail));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(nanos(999), "999ns");
        assert_eq!(nanos(1_500), "1.50us");
        assert_eq!(nanos(123_456), "123us");
        assert_eq!(nanos(999_499), "999us");
        assert_eq!(nanos(999_500), "1.00ms");
        assert_eq!(nanos(6_086_655), "6.09ms");
        assert_eq!(nanos(12_345_678), "12.3ms");
        assert_eq!(nanos(2_500_000_000), "2.50s");
        assert_eq!(bytes(999), "999");
        assert_eq!(bytes(6_144_000), "6.14M");
        assert_eq!(bytes(211_304_337), "211M");
        assert_eq!(bytes(999_999), "1.00M");
        assert_eq!(bytes(226_019_848_000), "226G");
        assert_eq!(percent(0.066_666, 2), "6.67%");
        assert_eq!(percent(0.003, 3), "0.300%");
    }

    #[test]
    fn base_names() {
        assert_eq!(base_name("/srv/bin/demo-service"), "demo-service");
    }

    #[test]
    fn fit_keeps_both_ends() {
        assert_eq!(fit("short", 10), "short");
        let f = fit("github.com/org/service/internal/store.(*Blob).flush", 20);
        assert_eq!(f.chars().count(), 20);
        assert!(f.starts_with("github") && f.ends_with(".flush"), "{f}");
        assert!(f.contains('…'));
    }
}
