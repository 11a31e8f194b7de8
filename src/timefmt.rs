//! Timestamps as RFC 3339 text in UTC with milliseconds (stats, images, leases).

use std::time::{SystemTime, UNIX_EPOCH};

/// A protobuf timestamp as RFC 3339 in UTC with milliseconds,
/// e.g. `2026-11-28T12:00:00.123Z` (truncated, not rounded).
pub fn rfc3339_timestamp(ts: &prost_types::Timestamp) -> String {
    let mut ts = *ts;
    ts.normalize();
    rfc3339_millis(ts.seconds, ts.nanos as u32 / 1_000_000)
}

/// A `SystemTime` as RFC 3339 in UTC with milliseconds (times before 1970 included).
pub fn rfc3339_system_time(t: SystemTime) -> String {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => rfc3339_millis(d.as_secs() as i64, d.subsec_millis()),
        Err(e) => {
            // Before the epoch: step back to a whole second, then forward by millis.
            let d = e.duration();
            let mut secs = -(d.as_secs() as i64);
            let mut nanos = d.subsec_nanos();
            if nanos > 0 {
                secs -= 1;
                nanos = 1_000_000_000 - nanos;
            }
            rfc3339_millis(secs, nanos / 1_000_000)
        }
    }
}

/// Seconds since the Unix epoch (UTC) plus milliseconds, as RFC 3339.
fn rfc3339_millis(secs: i64, millis: u32) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Proleptic Gregorian date of a day count since 1970-01-01 (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11], March-based
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn ts(secs: i64, nanos: i32) -> String {
        rfc3339_timestamp(&prost_types::Timestamp { seconds: secs, nanos })
    }

    #[test]
    fn timestamps_format_as_rfc3339_utc_millis() {
        assert_eq!(ts(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(ts(1_000_000_000, 0), "2001-09-09T01:46:40.000Z");
        assert_eq!(ts(1_234_567_890, 999_999_999), "2009-02-13T23:31:30.999Z");
        // DESIGN's example.
        assert_eq!(ts(1_795_867_200, 123_456_789), "2026-11-28T12:00:00.123Z");
        // Leap years and month ends.
        assert_eq!(ts(951_782_399, 0), "2000-02-28T23:59:59.000Z");
        assert_eq!(ts(951_782_400, 0), "2000-02-29T00:00:00.000Z"); // 2000 is a leap year
        assert_eq!(ts(951_868_800, 0), "2000-03-01T00:00:00.000Z");
        assert_eq!(ts(4_107_542_400, 0), "2100-03-01T00:00:00.000Z"); // 2100 is not
        assert_eq!(ts(4_107_542_399, 0), "2100-02-28T23:59:59.000Z");
        assert_eq!(ts(1_709_164_800, 0), "2024-02-29T00:00:00.000Z");
        assert_eq!(ts(1_709_251_199, 1_000_000), "2024-02-29T23:59:59.001Z");
        assert_eq!(ts(1_677_628_799, 0), "2023-02-28T23:59:59.000Z");
        assert_eq!(ts(1_677_628_800, 0), "2023-03-01T00:00:00.000Z");
        assert_eq!(ts(1_704_067_199, 500_000_000), "2023-12-31T23:59:59.500Z");
        assert_eq!(ts(1_704_067_200, 0), "2024-01-01T00:00:00.000Z");
        assert_eq!(ts(1_719_791_999, 0), "2024-06-30T23:59:59.000Z");
        assert_eq!(ts(1_719_792_000, 0), "2024-07-01T00:00:00.000Z");
        assert_eq!(ts(253_402_300_799, 0), "9999-12-31T23:59:59.000Z");
        // Before the epoch, and a timestamp that needs normalising.
        assert_eq!(ts(-1, 0), "1969-12-31T23:59:59.000Z");
        assert_eq!(ts(-86_400, 250_000_000), "1969-12-31T00:00:00.250Z");
        assert_eq!(ts(10, -500_000_000), "1970-01-01T00:00:09.500Z");
        assert_eq!(ts(0, 2_000_000_123), "1970-01-01T00:00:02.000Z");
    }

    #[test]
    fn system_time_formats_like_the_timestamp() {
        let t = UNIX_EPOCH + Duration::new(1_795_867_200, 123_456_789);
        assert_eq!(rfc3339_system_time(t), "2026-11-28T12:00:00.123Z");
        let before = UNIX_EPOCH - Duration::from_millis(1500);
        assert_eq!(rfc3339_system_time(before), "1969-12-31T23:59:58.500Z");
        assert_eq!(rfc3339_system_time(UNIX_EPOCH - Duration::from_secs(86_400)), "1969-12-31T00:00:00.000Z");
    }

    #[test]
    fn civil_dates_match_a_day_by_day_walk() {
        // Walk day by day through 1600..2400 and compare with a naive calendar.
        fn leap(y: i64) -> bool {
            y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
        }
        let (mut y, mut m, mut d) = (1600i64, 1u32, 1u32);
        let start = -135_140; // days from 1970-01-01 back to 1600-01-01
        for z in start..start + 2 * 146_097 {
            assert_eq!(civil_from_days(z), (y, m, d), "day {z}");
            let len = match m {
                2 if leap(y) => 29,
                2 => 28,
                4 | 6 | 9 | 11 => 30,
                _ => 31,
            };
            d += 1;
            if d > len {
                d = 1;
                m += 1;
                if m > 12 {
                    m = 1;
                    y += 1;
                }
            }
        }
        assert_eq!((y, m, d), (2400, 1, 1));
    }
}
