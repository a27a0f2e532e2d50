//! Durations and byte sizes in human units, three significant digits: what
//! every output shows (the text report, the live view, the findings' words).

/// `v` (at least 1) with three significant digits, then `unit`.
fn three_digits(v: f64, unit: &str) -> String {
    if v < 10.0 {
        format!("{v:.2}{unit}")
    } else if v < 100.0 {
        format!("{v:.1}{unit}")
    } else {
        format!("{v:.0}{unit}")
    }
}

/// 1234567 -> "1.23ms": three significant digits and a unit (ns, us, ms, s).
pub fn nanos(ns: u64) -> String {
    if ns < 1_000 {
        return format!("{ns}ns");
    }
    let (v, unit) = if ns < 999_500 {
        (ns as f64 / 1e3, "us")
    } else if ns < 999_500_000 {
        (ns as f64 / 1e6, "ms")
    } else {
        (ns as f64 / 1e9, "s")
    };
    three_digits(v, unit)
}

/// 6144000 -> "6.14M": three significant digits and a decimal unit (K, M,
/// G, T, P); below 1000, the number of bytes.
pub fn bytes(n: u64) -> String {
    if n < 1_000 {
        return n.to_string();
    }
    let mut v = n as f64;
    let mut unit = "";
    for u in ["K", "M", "G", "T", "P"] {
        // 999.5K rounds to 1000K: that is 1.00M.
        if v < 999.5 {
            break;
        }
        v /= 1_000.0;
        unit = u;
    }
    three_digits(v, unit)
}
