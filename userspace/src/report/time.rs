//! [`Time`]: a time as the report spells it, to the microsecond.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::time::{self as clock, Timestamp};

/// A time in the report: microseconds since 1970-01-01T00:00:00Z, the precision the JSON
/// spells (`2026-11-26T18:02:33.123456Z`). Made from a capture's [`Timestamp`] by dropping
/// what is below the microsecond, so that a report read back from its JSON is equal to the
/// report written, whatever the resolution of the capture's clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Time {
    micros: i64,
}

impl Time {
    pub const fn from_micros(micros: i64) -> Time {
        Time { micros }
    }

    pub const fn micros(self) -> i64 {
        self.micros
    }

    pub fn secs(self) -> i64 {
        self.micros.div_euclid(1_000_000)
    }

    pub fn subsec_micros(self) -> u32 {
        self.micros.rem_euclid(1_000_000) as u32
    }
}

impl From<Timestamp> for Time {
    /// The microsecond the timestamp falls in (rounded down, as its text always was).
    fn from(t: Timestamp) -> Time {
        Time { micros: t.0.div_euclid(1000) }
    }
}

impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        clock::write_rfc3339(f, self.secs(), self.subsec_micros())
    }
}

impl Serialize for Time {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        clock::serialize_rfc3339(s, self.secs(), self.subsec_micros())
    }
}

impl<'de> Deserialize<'de> for Time {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Time, D::Error> {
        struct Rfc3339;
        impl serde::de::Visitor<'_> for Rfc3339 {
            type Value = Time;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an RFC 3339 UTC time with microseconds (\"2026-11-26T18:02:33.123456Z\")")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Time, E> {
                let (secs, micros) =
                    clock::parse_rfc3339(v).ok_or_else(|| E::invalid_value(serde::de::Unexpected::Str(v), &self))?;
                Ok(Time { micros: secs * 1_000_000 + i64::from(micros) })
            }
        }
        d.deserialize_str(Rfc3339)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Times keep the microsecond the JSON spells, from any capture clock and at the ends of
    /// the range a `Timestamp` holds; a time read back is the time written.
    #[test]
    fn times_are_microseconds_and_read_back() {
        for ns in [0, 1, 999, 1000, -1, -999, -1000, -1001, i64::MIN, i64::MAX, 1_767_225_600_599_123_456] {
            let t = Timestamp(ns);
            let time = Time::from(t);
            assert_eq!(time.to_string(), t.to_string(), "{ns}");
            assert_eq!(serde_json::to_string(&time).unwrap(), serde_json::to_string(&t).unwrap());
            assert_eq!(time.micros(), ns.div_euclid(1000));
            let back: Time = serde_json::from_str(&serde_json::to_string(&time).unwrap()).unwrap();
            assert_eq!(back, time);
        }
        let e = serde_json::from_str::<Time>("\"2026-01-01T00:00:00Z\"").unwrap_err().to_string();
        assert!(e.contains("RFC 3339 UTC time with microseconds"), "{e}");
    }
}
