//! The licence expiration date as `vstorage stat` prints it: `MM/DD/YYYY` (the newer
//! `License: ACTIVE (expiration: 01/10/2021, ...)` line, reference/virtuozzo-cli.md §2.3).

/// Seconds since the Unix epoch at the end of that day (UTC): a licence is valid through its
/// expiration date. `None` for anything but a real `MM/DD/YYYY` date.
pub fn expiration_unix(text: &str) -> Option<i64> {
    let mut parts = text.trim().split('/');
    let month: u32 = parts.next()?.parse().ok()?;
    let day: u32 = parts.next()?.parse().ok()?;
    let year: i64 = parts.next()?.parse().ok()?;
    if parts.next().is_some() || !(1..=12).contains(&month) || day == 0 {
        return None;
    }
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days_in_month = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if day > days_in_month[month as usize - 1] {
        return None;
    }
    Some((days_from_civil(year, month, day) + 1) * 86_400)
}

/// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = month as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::expiration_unix;

    #[test]
    fn expiration_dates_are_the_end_of_the_day_in_utc() {
        // 1970-01-01 ends at 86400; 2021-01-10 ends at 1610323200 (date -u -d 2021-01-11 +%s).
        assert_eq!(expiration_unix("01/01/1970"), Some(86_400));
        assert_eq!(expiration_unix("01/10/2021"), Some(1_610_323_200));
        assert_eq!(expiration_unix("02/29/2024"), Some(1_709_251_200));
        assert_eq!(expiration_unix("02/29/2023"), None);
        assert_eq!(expiration_unix("13/01/2023"), None);
        assert_eq!(expiration_unix("2023-01-01"), None);
        assert_eq!(expiration_unix(""), None);
    }
}
