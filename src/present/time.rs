//! Timestamps and ages. A clock before 1970 or past the year 9999 (a broken RTC, a test VM)
//! must not panic a report: such a time has no RFC 3339 form here and is shown as unknown.

use std::time::{Duration, SystemTime};

/// 9999-12-31T23:59:59Z, the last second RFC 3339 can write.
const LAST_RFC3339_SECOND: u64 = 253_402_300_799;

/// `2026-11-21T06:01:02Z` for seconds since the epoch, or None past the year 9999.
pub fn rfc3339_or_null(seconds: u64) -> Option<String> {
    (seconds <= LAST_RFC3339_SECOND).then(|| {
        let time = SystemTime::UNIX_EPOCH + Duration::from_secs(seconds);
        humantime::format_rfc3339_seconds(time).to_string()
    })
}

/// Like [`rfc3339_or_null`], with `?` for a time that has no RFC 3339 form.
pub fn rfc3339(seconds: u64) -> String {
    rfc3339_or_null(seconds).unwrap_or_else(|| "?".to_string())
}

/// The RFC 3339 form of a clock reading, or None before 1970 or after 9999.
pub fn rfc3339_at(time: SystemTime) -> Option<String> {
    let seconds = time.duration_since(SystemTime::UNIX_EPOCH).ok()?.as_secs();
    rfc3339_or_null(seconds)
}

/// `3m`, `2h 5m`, `4d 1h`: how long ago `start` was, from `now`.
pub fn age(start: u64, now: SystemTime) -> String {
    let now = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let secs = now.saturating_sub(start);
    let (d, h, m) = (secs / 86_400, secs / 3_600 % 24, secs / 60 % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{secs}s"),
        (0, 0, m) => format!("{m}m"),
        (0, h, m) => format!("{h}h {m}m"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_naturally() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(100_000);
        assert_eq!(age(100_000 - 42, now), "42s");
        assert_eq!(age(100_000 - 180, now), "3m");
        assert_eq!(age(100_000 - 7_500, now), "2h 5m");
        assert_eq!(age(0, now), "1d 3h");
        assert_eq!(age(200_000, now), "0s");
    }

    #[test]
    fn times_outside_rfc3339_are_unknown_not_a_panic() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(LAST_RFC3339_SECOND), "9999-12-31T23:59:59Z");
        assert_eq!(rfc3339_or_null(LAST_RFC3339_SECOND + 1), None);
        assert_eq!(rfc3339(u64::MAX), "?");
        let before = SystemTime::UNIX_EPOCH - Duration::from_secs(5);
        assert_eq!(rfc3339_at(before), None);
        let after = SystemTime::UNIX_EPOCH + Duration::from_secs(LAST_RFC3339_SECOND + 10);
        assert_eq!(rfc3339_at(after), None);
    }
}
