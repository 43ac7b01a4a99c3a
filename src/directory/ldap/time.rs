//! LDAP GeneralizedTime (RFC 4517) to and from `SystemTime`: automatic reply start and end
//! times read from entries, and written by `mailtips export-ldif`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Parses an LDAP GeneralizedTime (`20261201090000Z`, `20261201090000+0900`, fractions
/// ignored).
pub(super) fn parse_generalized_time(s: &str) -> Option<SystemTime> {
    let s = s.trim();
    let digits = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        t.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| t.parse().ok())?
    };
    let (y, mo, d, h) = (digits(0..4)?, digits(4..6)?, digits(6..8)?, digits(8..10)?);
    let mi = digits(10..12).unwrap_or(0);
    let sec = digits(12..14).unwrap_or(0);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let rest = s.get(14..).unwrap_or("");
    let rest = rest.trim_start_matches(|c: char| c == '.' || c == ',' || c.is_ascii_digit());
    let offset = match rest {
        "Z" | "" => 0,
        _ => {
            let sign = match rest.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let oh: i64 = rest.get(1..3)?.parse().ok()?;
            let om: i64 = rest.get(3..5).unwrap_or("00").parse().ok()?;
            sign * (oh * 3600 + om * 60)
        }
    };
    let days = crate::domain::units::days_from_civil(y, mo as u32, d as u32);
    let secs = days * 86_400 + h * 3600 + mi * 60 + sec - offset;
    u64::try_from(secs)
        .ok()
        .map(|s| UNIX_EPOCH + Duration::from_secs(s))
}

/// Formats a time as GeneralizedTime in UTC (`20261201000000Z`).
pub(super) fn format_generalized_time(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = crate::domain::units::civil_from_days(days);
    format!(
        "{y:04}{m:02}{d:02}{:02}{:02}{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generalized_time_round_trips() {
        let t = parse_generalized_time("20261201090000+0900").unwrap();
        assert_eq!(format_generalized_time(t), "20261201000000Z");
        assert_eq!(
            parse_generalized_time("20260229000000Z"),
            parse_generalized_time("20260301000000Z")
        );
        assert!(parse_generalized_time("2026").is_none());
        assert!(parse_generalized_time("20261301000000Z").is_none());
    }
}
