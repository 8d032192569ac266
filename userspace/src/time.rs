//! Timestamps: nanoseconds since the Unix epoch, printed as RFC 3339 UTC.

use std::fmt;

/// Nanoseconds since 1970-01-01T00:00:00Z.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub fn from_secs_nanos(secs: i64, nanos: u32) -> Self {
        Timestamp(secs.saturating_mul(1_000_000_000).saturating_add(nanos as i64))
    }

    pub fn secs(self) -> i64 {
        self.0.div_euclid(1_000_000_000)
    }

    pub fn subsec_nanos(self) -> u32 {
        self.0.rem_euclid(1_000_000_000) as u32
    }

    /// RFC 3339 with microseconds, UTC (`2024-01-02T03:04:05.123456Z`).
    pub fn rfc3339(self) -> String {
        self.to_string()
    }
}

/// Civil date from days since the epoch (Howard Hinnant's algorithm, proleptic Gregorian).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Days since the epoch of a civil date (the inverse of [`civil_from_days`], same algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from(if m > 2 { m - 3 } else { m + 9 });
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The RFC 3339 text of second `secs` and `micros` (below 10^6) written digit by digit into
/// `buf`, for years 0..=9999 (every capture nanosecond count is within 1677..=2262); `None`
/// otherwise. Reports print one timestamp per flow and SIP message, and going through `fmt`
/// for each was a tenth of a whole `--json` replay. (itoa writes no leading zeros, and every
/// field here has a fixed width.)
fn format_fast(secs: i64, micros: u32, buf: &mut [u8; 27]) -> Option<&str> {
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    if !(0..=9999).contains(&y) {
        return None;
    }
    let sod = secs.rem_euclid(86_400) as u32;
    let put = |buf: &mut [u8; 27], at: usize, width: usize, mut v: u32| {
        for i in (at..at + width).rev() {
            buf[i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    *buf = *b"0000-00-00T00:00:00.000000Z";
    put(buf, 0, 4, y as u32);
    put(buf, 5, 2, mo);
    put(buf, 8, 2, d);
    put(buf, 11, 2, sod / 3600);
    put(buf, 14, 2, (sod / 60) % 60);
    put(buf, 17, 2, sod % 60);
    put(buf, 20, 6, micros);
    std::str::from_utf8(buf).ok()
}

/// `2024-01-02T03:04:05.123456Z` for second `secs` and `micros` (below 10^6): the one
/// spelling of a time, for [`Timestamp`] and the report's times alike.
pub(crate) fn write_rfc3339(f: &mut fmt::Formatter<'_>, secs: i64, micros: u32) -> fmt::Result {
    let mut buf = [0u8; 27];
    if let Some(s) = format_fast(secs, micros, &mut buf) {
        return f.write_str(s);
    }
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400);
    write!(f, "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z", y, mo, d, sod / 3600, (sod / 60) % 60, sod % 60, micros)
}

/// [`write_rfc3339`] as a serialized string.
pub(crate) fn serialize_rfc3339<S: serde::Serializer>(s: S, secs: i64, micros: u32) -> Result<S::Ok, S::Error> {
    let mut buf = [0u8; 27];
    match format_fast(secs, micros, &mut buf) {
        Some(t) => s.serialize_str(t),
        None => s.collect_str(&fmt::from_fn(|f| write_rfc3339(f, secs, micros))),
    }
}

/// Second and microseconds of exactly the text [`write_rfc3339`] writes for years
/// 0..=9999 (`2024-01-02T03:04:05.123456Z`); `None` for anything else.
pub(crate) fn parse_rfc3339(t: &str) -> Option<(i64, u32)> {
    let b: &[u8; 27] = t.as_bytes().try_into().ok()?;
    if &b[4..5] != b"-" || &b[7..8] != b"-" || &b[10..11] != b"T" || &b[13..14] != b":" || &b[16..17] != b":" {
        return None;
    }
    if &b[19..20] != b"." || &b[26..27] != b"Z" {
        return None;
    }
    let num = |from: usize, to: usize| {
        b[from..to].iter().try_fold(0u32, |n, &c| c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0')))
    };
    let (y, mo, d) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (h, mi, s, micros) = (num(11, 13)?, num(14, 16)?, num(17, 19)?, num(20, 26)?);
    let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    let month_days = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    if !(1..=12).contains(&mo) || d == 0 || d > month_days[mo as usize - 1] || h > 23 || mi > 59 || s > 59 {
        return None;
    }
    let secs = days_from_civil(y.into(), mo, d) * 86_400 + i64::from(h * 3600 + mi * 60 + s);
    Some((secs, micros))
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_rfc3339(f, self.secs(), self.subsec_nanos() / 1000)
    }
}

impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serialize_rfc3339(s, self.secs(), self.subsec_nanos() / 1000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(Timestamp(0).to_string(), "1970-01-01T00:00:00.000000Z");
        // 2004-12-05T19:16:24.317453Z: first packet of tcpdump's isakmp4500 test capture
        let t = Timestamp::from_secs_nanos(1_102_274_184, 317_453_000);
        assert_eq!(t.to_string(), "2004-12-05T19:16:24.317453Z");
        assert_eq!(Timestamp::from_secs_nanos(951_782_400, 0).to_string(), "2000-02-29T00:00:00.000000Z");
        assert_eq!(Timestamp(-1).to_string(), "1969-12-31T23:59:59.999999Z");
    }

    /// The hand-written digits must match the `fmt` spelling everywhere, including outside
    /// the fast range (where the `fmt` path still runs).
    #[test]
    fn fast_path_matches_fmt() {
        let slow = |t: Timestamp| {
            let secs = t.secs();
            let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
            let sod = secs.rem_euclid(86_400);
            format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
                y,
                mo,
                d,
                sod / 3600,
                (sod / 60) % 60,
                sod % 60,
                t.subsec_nanos() / 1000
            )
        };
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for i in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let t = Timestamp(if i % 2 == 0 {
                (x >> 1) as i64
            } else {
                (x % 4_000_000_000_000_000_000) as i64 - 100_000_000_000_000_000
            });
            assert_eq!(t.to_string(), slow(t));
            assert_eq!(serde_json::to_string(&t).unwrap(), format!("\"{}\"", slow(t)));
        }
        for t in [i64::MIN, i64::MAX, 0, -1, 1_000] {
            assert_eq!(Timestamp(t).to_string(), slow(Timestamp(t)));
        }
    }

    /// The parser reads back exactly what the formatter writes: days of years 0..=9999 at
    /// varying times of day, and random instants across the range a `Timestamp` holds.
    #[test]
    fn parse_reads_what_format_writes() {
        let round = |secs: i64, micros: u32| {
            let text = fmt::from_fn(|f| write_rfc3339(f, secs, micros)).to_string();
            assert_eq!(parse_rfc3339(&text), Some((secs, micros)), "{text}");
        };
        let (first, last) = (days_from_civil(0, 1, 1), days_from_civil(9999, 12, 31));
        for day in first..=last {
            let (y, m, d) = civil_from_days(day);
            assert_eq!(days_from_civil(y, m, d), day);
            // The text of one day in 29, at varying times of day (every day costs seconds).
            if day % 29 == 0 {
                round(day * 86_400 + day.rem_euclid(86_400), day.rem_euclid(1_000_000) as u32);
            }
        }
        round(last * 86_400 + 86_399, 999_999);
        round(first * 86_400, 0);
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let t = Timestamp(x as i64);
            round(t.secs(), t.subsec_nanos() / 1000);
        }
    }

    #[test]
    fn parse_refuses_anything_else() {
        for bad in [
            "",
            "2026-01-01T00:00:00Z",
            "2026-01-01T00:00:00.000000",
            "2026-01-01 00:00:00.000000Z",
            "2026-01-01T00:00:00.000000+00:00",
            "2026-01-01T00:00:00.00000aZ",
            "2026-13-01T00:00:00.000000Z",
            "2026-00-01T00:00:00.000000Z",
            "2026-02-29T00:00:00.000000Z",
            "2100-02-29T00:00:00.000000Z",
            "2026-04-31T00:00:00.000000Z",
            "2026-01-00T00:00:00.000000Z",
            "2026-01-01T24:00:00.000000Z",
            "2026-01-01T00:60:00.000000Z",
            "2026-01-01T00:00:60.000000Z",
            "+026-01-01T00:00:00.000000Z",
            "2026-01-01T00:00:00.0000000Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
        assert_eq!(parse_rfc3339("2000-02-29T00:00:00.000000Z"), Some((951_782_400, 0)));
        assert_eq!(parse_rfc3339("1969-12-31T23:59:59.999999Z"), Some((-1, 999_999)));
    }
}
