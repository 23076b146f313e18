//! Wall-clock and monotonic time as the operator commands record and
//! print it.

use std::time::{SystemTime, UNIX_EPOCH};

use super::state;

pub(super) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

pub(super) fn now_f64() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}
/// Unix time `t` as `2026-11-27 05:59:01.25 UTC`.
pub fn utc(t: f64) -> String {
    let secs = t.floor() as i64;
    let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let frac = ((t - t.floor()) * 100.0).round().min(99.0) as u32;
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}.{frac:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Unix time of a CLOCK_MONOTONIC instant (nanoseconds).
pub(super) fn mono_to_unix(ns: u64) -> f64 {
    now_f64() - (state::monotonic_ns() as f64 - ns as f64) / 1e9
}

#[cfg(test)]
mod tests {
    #[test]
    fn utc_formats_unix_time() {
        assert_eq!(super::utc(0.0), "1970-01-01 00:00:00.00 UTC");
        assert_eq!(super::utc(1_795_759_141.5), "2026-11-27 05:59:01.50 UTC");
    }
}
