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

impl Timestamp {
    /// The RFC 3339 text written digit by digit into `buf`, for years 0..=9999 (every capture
    /// nanosecond count is within 1677..=2262); `None` otherwise. Reports print one timestamp per flow and SIP message, and
    /// going through `fmt` for each was a tenth of a whole `--json` replay.
    fn format_fast(self, buf: &mut [u8; 27]) -> Option<&str> {
        let secs = self.secs();
        let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
        if !(0..=9999).contains(&y) {
            return None;
        }
        let sod = secs.rem_euclid(86_400) as u32;
        let micros = self.subsec_nanos() / 1000;
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
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; 27];
        if let Some(s) = self.format_fast(&mut buf) {
            return f.write_str(s);
        }
        let secs = self.secs();
        let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
        let sod = secs.rem_euclid(86_400);
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
            y,
            mo,
            d,
            sod / 3600,
            (sod / 60) % 60,
            sod % 60,
            self.subsec_nanos() / 1000
        )
    }
}

impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut buf = [0u8; 27];
        match self.format_fast(&mut buf) {
            Some(t) => s.serialize_str(t),
            None => s.collect_str(self),
        }
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
}
