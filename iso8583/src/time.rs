//! Field 7, transmission date and time: MMDDhhmmss in UTC, from a Unix
//! time the caller gives (the codec reads no clock).

/// Field 7 (n10, MMDDhhmmss in UTC) of the instant `unix_ms`.
pub fn transmission_time(unix_ms: i64) -> String {
    let secs = unix_ms.div_euclid(1000);
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (h, m, s) = (rest / 3600, rest % 3600 / 60, rest % 60);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    format!("{month:02}{day:02}{h:02}{m:02}{s:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_transmission_time_is_mmddhhmmss_in_utc() {
        // 2026-12-02T05:23:21Z
        assert_eq!(transmission_time(1_796_189_001_000), "1202052321");
        // 2026-12-02T10:15:00Z
        assert_eq!(transmission_time(1_796_206_500_000), "1202101500");
        assert_eq!(transmission_time(0), "0101000000");
        // 2024-02-29T23:59:59Z
        assert_eq!(transmission_time(1_709_251_199_000), "0229235959");
    }
}
