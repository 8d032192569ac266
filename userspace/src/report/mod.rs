//! The report: what tuntrace tells about a capture or a live session.
//!
//! These structs are the `--json` contract (`tuntrace.report/1`, docs/report-schema.md): fields
//! are only ever added. Field order here is the order in the JSON. `None` serialises as `null`.

use serde::Serialize;

use crate::time::Timestamp;

pub mod ladder;
pub mod text;

pub const SCHEMA: &str = "tuntrace.report/1";

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Report {
    pub schema: &'static str,
    pub source: Source,
    pub stats: Stats,
    pub interfaces: Vec<Interface>,
    pub processes: Vec<Process>,
    pub flows: Vec<Flow>,
    pub ike_sas: Vec<IkeSa>,
    pub esp_sas: Vec<EspSa>,
    pub sip: Sip,
    pub verdicts: Vec<Verdict>,
    /// Malformed packets by reason (additive field).
    pub malformed: Vec<MalformedCount>,
    /// Frames on link types tuntrace does not decode, by link type (additive field).
    pub unknown_linktypes: Vec<LinktypeCount>,
    /// Damage that stopped reading an input early (additive field).
    pub errors: Vec<InputError>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Source {
    pub kind: &'static str,
    pub backend: &'static str,
    pub inputs: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Stats {
    pub packets: u64,
    pub bytes: u64,
    pub malformed: u64,
    pub unattributed_packets: u64,
    pub dropped_events: u64,
    pub started: Option<Timestamp>,
    pub ended: Option<Timestamp>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ProcRef {
    pub pid: u32,
    pub comm: Option<String>,
    pub exe: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CreatedBy {
    pub pid: u32,
    pub comm: Option<String>,
    pub at: Option<Timestamp>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Interface {
    pub name: Option<String>,
    pub kind: &'static str,
    pub mtu: Option<u32>,
    pub addresses: Vec<String>,
    pub owner: Option<ProcRef>,
    pub created_by: Option<CreatedBy>,
    pub packets: u64,
    pub bytes: u64,
    /// pcap LINKTYPE name of its frames (additive field).
    pub linktype: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Process {
    pub pid: u32,
    pub comm: Option<String>,
    pub exe: Option<String>,
    pub cmdline: Option<String>,
    pub uid: Option<u32>,
    pub packets: u64,
    pub bytes: u64,
    pub interfaces: Vec<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Flow {
    pub iface: Option<String>,
    pub proto: &'static str,
    pub src: String,
    pub sport: Option<u16>,
    pub dst: String,
    pub dport: Option<u16>,
    pub app: &'static str,
    pub pid: Option<u32>,
    pub comm: Option<String>,
    pub packets: u64,
    pub bytes: u64,
    pub first: Timestamp,
    pub last: Timestamp,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct IkeExchange {
    #[serde(rename = "type")]
    pub kind: String,
    pub message_id: u32,
    pub response: bool,
    pub at: Timestamp,
    /// Sender address and port (additive field).
    pub src: String,
    pub sport: u16,
    /// Payload types in chain order, e.g. `["SA", "KE", "Nonce"]`; `["Encrypted"]` when the
    /// body is protected (additive field).
    pub payloads: Vec<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Proposal {
    pub number: u8,
    pub protocol: String,
    pub encryption: Vec<String>,
    pub prf: Vec<String>,
    pub integrity: Vec<String>,
    pub dh: Vec<String>,
    pub esn: Vec<String>,
    /// IKEv1 authentication method, lifetimes and the like.
    pub other: Vec<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct IkeSa {
    pub version: u8,
    pub initiator_spi: String,
    pub responder_spi: Option<String>,
    pub initiator: String,
    pub initiator_port: u16,
    pub responder: String,
    pub responder_port: u16,
    pub nat_t: bool,
    pub state: &'static str,
    pub exchanges: Vec<IkeExchange>,
    pub vendor_ids: Vec<String>,
    pub pid: Option<u32>,
    pub comm: Option<String>,
    // additive fields
    pub proposals: Vec<Proposal>,
    /// The proposal the responder chose, when seen in cleartext.
    pub chosen: Option<Proposal>,
    pub ke_group: Option<String>,
    pub notifies: Vec<String>,
    pub encrypted_payloads: u64,
    pub nat_detected: Option<bool>,
    pub iface: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct EspSa {
    pub spi: String,
    pub src: String,
    pub dst: String,
    pub encap: &'static str,
    pub packets: u64,
    pub bytes: u64,
    pub ike_sa: Option<usize>,
    // additive fields
    pub first_seq: Option<u32>,
    pub last_seq: Option<u32>,
    /// Sequence numbers skipped (gaps between consecutive packets).
    pub seq_gaps: u64,
    pub iface: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SipMessage {
    pub at: Timestamp,
    pub src: String,
    pub dst: String,
    pub transport: &'static str,
    pub method: Option<String>,
    pub status: Option<u16>,
    pub cseq: Option<String>,
    // additive fields
    pub sport: u16,
    pub dport: u16,
    pub reason: Option<String>,
    /// SDP media offered/answered in this message, `audio 198.19.1.2:6000 RTP/AVP`.
    pub sdp: Vec<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SipDialog {
    pub call_id: String,
    pub from: Option<String>,
    pub to: Option<String>,
    pub method: String,
    pub state: &'static str,
    pub messages: Vec<SipMessage>,
    pub pid: Option<u32>,
    pub comm: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SipRegistration {
    pub call_id: String,
    pub aor: Option<String>,
    pub registrar: Option<String>,
    pub result: Option<u16>,
    pub messages: Vec<SipMessage>,
    pub pid: Option<u32>,
    pub comm: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Sip {
    pub dialogs: Vec<SipDialog>,
    pub registrations: Vec<SipRegistration>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Verdict {
    pub subject: String,
    pub summary: String,
    pub evidence: Vec<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct MalformedCount {
    pub reason: String,
    pub packets: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LinktypeCount {
    pub linktype: u32,
    pub name: String,
    pub frames: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct InputError {
    pub input: String,
    pub offset: u64,
    pub message: String,
}

impl Report {
    /// The `--json` document: pretty-printed, deterministic, with a trailing newline.
    pub fn to_json(&self) -> String {
        // The direct writer below prints exactly what serde_json's pretty printer does, at a
        // fraction of the cost; anything it does not handle (maps, floats…) sends the whole
        // report through serde_json instead, so the output never depends on which ran.
        let mut w = json::Writer::default();
        let mut s = match self.serialize(&mut w) {
            Ok(()) => String::from_utf8(w.out).unwrap_or_else(|_| serde_json::to_string_pretty(self).expect("report serialises")),
            Err(_) => serde_json::to_string_pretty(self).expect("report serialises"),
        };
        s.push('\n');
        s
    }
}

/// A pretty JSON writer for the report, byte for byte serde_json's `to_string_pretty`
/// (two-space indent, `"key": value`, `[]`/`{}` when empty, the same string escapes).
///
/// serde_json writes every token, indent level and escaped run through `io::Write` into its
/// buffer, one small copy each; for a report of thousands of flows and SIP messages that was a
/// tenth of a whole replay. Here the output buffer is written directly, indents in one piece,
/// and strings without anything to escape in one copy.
mod json {
    use serde::ser::{self, Impossible, Serialize};
    use std::fmt;

    /// A type the writer leaves to serde_json (none occurs in the report today).
    #[derive(Debug)]
    pub struct Unsupported;

    impl fmt::Display for Unsupported {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("not handled by the direct JSON writer")
        }
    }

    impl std::error::Error for Unsupported {}

    impl ser::Error for Unsupported {
        fn custom<T: fmt::Display>(_: T) -> Self {
            Unsupported
        }
    }

    #[derive(Default)]
    pub struct Writer {
        pub out: Vec<u8>,
        depth: usize,
    }

    const SPACES: [u8; 64] = [b' '; 64];

    impl Writer {
        fn newline_indent(&mut self) {
            self.out.push(b'\n');
            let mut n = self.depth * 2;
            while n > 0 {
                let k = n.min(SPACES.len());
                self.out.extend_from_slice(&SPACES[..k]);
                n -= k;
            }
        }

        fn string(&mut self, s: &str) {
            self.out.push(b'"');
            let b = s.as_bytes();
            if !needs_escape(b) {
                self.out.extend_from_slice(b);
            } else {
                let mut start = 0;
                for (i, &c) in b.iter().enumerate() {
                    let esc: &[u8] = match c {
                        b'"' => b"\\\"",
                        b'\\' => b"\\\\",
                        0x08 => b"\\b",
                        0x0c => b"\\f",
                        b'\n' => b"\\n",
                        b'\r' => b"\\r",
                        b'\t' => b"\\t",
                        0..=0x1f => b"",
                        _ => continue,
                    };
                    self.out.extend_from_slice(&b[start..i]);
                    if esc.is_empty() {
                        const HEX: &[u8; 16] = b"0123456789abcdef";
                        self.out.extend_from_slice(b"\\u00");
                        self.out.push(HEX[usize::from(c >> 4)]);
                        self.out.push(HEX[usize::from(c & 0xf)]);
                    } else {
                        self.out.extend_from_slice(esc);
                    }
                    start = i + 1;
                }
                self.out.extend_from_slice(&b[start..]);
            }
            self.out.push(b'"');
        }

        fn uint(&mut self, mut v: u64) {
            let mut buf = [0u8; 20];
            let mut i = buf.len();
            loop {
                i -= 1;
                buf[i] = b'0' + (v % 10) as u8;
                v /= 10;
                if v == 0 {
                    break;
                }
            }
            self.out.extend_from_slice(&buf[i..]);
        }

        fn int(&mut self, v: i64) {
            if v < 0 {
                self.out.push(b'-');
            }
            self.uint(v.unsigned_abs());
        }

        fn open(&mut self, c: u8) -> Compound<'_> {
            self.out.push(c);
            self.depth += 1;
            Compound { w: self, first: true }
        }
    }

    /// Whether any byte is a control character, `"` or `\\`: eight bytes per step, since
    /// nearly every string in a report has nothing to escape.
    fn needs_escape(b: &[u8]) -> bool {
        const ONES: u64 = 0x0101_0101_0101_0101;
        const HIGH: u64 = 0x8080_8080_8080_8080;
        // A byte of `x` is zero exactly where the result has its high bit set (the classic
        // "has zero byte" test; it can only err when a lower byte is zero, which is reported
        // anyway).
        let zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
        let mut chunks = b.chunks_exact(8);
        for c in &mut chunks {
            let w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
            // Bytes below 0x20: subtracting 0x20 borrows into the high bit of those bytes
            // whose own high bit was clear.
            let ctrl = w.wrapping_sub(ONES * 0x20) & !w & HIGH;
            if ctrl | zero(w ^ (ONES * u64::from(b'"'))) | zero(w ^ (ONES * u64::from(b'\\'))) != 0 {
                return true;
            }
        }
        chunks.remainder().iter().any(|&c| c < 0x20 || c == b'"' || c == b'\\')
    }

    /// An array or object being written.
    pub struct Compound<'a> {
        w: &'a mut Writer,
        first: bool,
    }

    impl Compound<'_> {
        fn next(&mut self) {
            if !self.first {
                self.w.out.push(b',');
            }
            self.first = false;
            self.w.newline_indent();
        }

        fn close(self, c: u8) {
            self.w.depth -= 1;
            if !self.first {
                self.w.newline_indent();
            }
            self.w.out.push(c);
        }
    }

    impl ser::SerializeSeq for Compound<'_> {
        type Ok = ();
        type Error = Unsupported;
        fn serialize_element<T: ?Sized + Serialize>(&mut self, v: &T) -> Result<(), Unsupported> {
            self.next();
            v.serialize(&mut *self.w)
        }
        fn end(self) -> Result<(), Unsupported> {
            self.close(b']');
            Ok(())
        }
    }

    impl ser::SerializeTuple for Compound<'_> {
        type Ok = ();
        type Error = Unsupported;
        fn serialize_element<T: ?Sized + Serialize>(&mut self, v: &T) -> Result<(), Unsupported> {
            ser::SerializeSeq::serialize_element(self, v)
        }
        fn end(self) -> Result<(), Unsupported> {
            ser::SerializeSeq::end(self)
        }
    }

    impl ser::SerializeTupleStruct for Compound<'_> {
        type Ok = ();
        type Error = Unsupported;
        fn serialize_field<T: ?Sized + Serialize>(&mut self, v: &T) -> Result<(), Unsupported> {
            ser::SerializeSeq::serialize_element(self, v)
        }
        fn end(self) -> Result<(), Unsupported> {
            ser::SerializeSeq::end(self)
        }
    }

    impl ser::SerializeStruct for Compound<'_> {
        type Ok = ();
        type Error = Unsupported;
        fn serialize_field<T: ?Sized + Serialize>(&mut self, key: &'static str, v: &T) -> Result<(), Unsupported> {
            self.next();
            self.w.string(key);
            self.w.out.extend_from_slice(b": ");
            v.serialize(&mut *self.w)
        }
        fn end(self) -> Result<(), Unsupported> {
            self.close(b'}');
            Ok(())
        }
    }

    type No = Impossible<(), Unsupported>;

    impl<'a> ser::Serializer for &'a mut Writer {
        type Ok = ();
        type Error = Unsupported;
        type SerializeSeq = Compound<'a>;
        type SerializeTuple = Compound<'a>;
        type SerializeTupleStruct = Compound<'a>;
        type SerializeTupleVariant = No;
        type SerializeMap = No;
        type SerializeStruct = Compound<'a>;
        type SerializeStructVariant = No;

        fn serialize_bool(self, v: bool) -> Result<(), Unsupported> {
            self.out.extend_from_slice(if v { b"true" } else { b"false" });
            Ok(())
        }
        fn serialize_i8(self, v: i8) -> Result<(), Unsupported> {
            self.int(v.into());
            Ok(())
        }
        fn serialize_i16(self, v: i16) -> Result<(), Unsupported> {
            self.int(v.into());
            Ok(())
        }
        fn serialize_i32(self, v: i32) -> Result<(), Unsupported> {
            self.int(v.into());
            Ok(())
        }
        fn serialize_i64(self, v: i64) -> Result<(), Unsupported> {
            self.int(v);
            Ok(())
        }
        fn serialize_u8(self, v: u8) -> Result<(), Unsupported> {
            self.uint(v.into());
            Ok(())
        }
        fn serialize_u16(self, v: u16) -> Result<(), Unsupported> {
            self.uint(v.into());
            Ok(())
        }
        fn serialize_u32(self, v: u32) -> Result<(), Unsupported> {
            self.uint(v.into());
            Ok(())
        }
        fn serialize_u64(self, v: u64) -> Result<(), Unsupported> {
            self.uint(v);
            Ok(())
        }
        fn serialize_f32(self, _: f32) -> Result<(), Unsupported> {
            Err(Unsupported)
        }
        fn serialize_f64(self, _: f64) -> Result<(), Unsupported> {
            Err(Unsupported)
        }
        fn serialize_char(self, v: char) -> Result<(), Unsupported> {
            self.string(v.encode_utf8(&mut [0; 4]));
            Ok(())
        }
        fn serialize_str(self, v: &str) -> Result<(), Unsupported> {
            self.string(v);
            Ok(())
        }
        fn serialize_bytes(self, _: &[u8]) -> Result<(), Unsupported> {
            Err(Unsupported)
        }
        fn serialize_none(self) -> Result<(), Unsupported> {
            self.out.extend_from_slice(b"null");
            Ok(())
        }
        fn serialize_some<T: ?Sized + Serialize>(self, v: &T) -> Result<(), Unsupported> {
            v.serialize(self)
        }
        fn serialize_unit(self) -> Result<(), Unsupported> {
            self.serialize_none()
        }
        fn serialize_unit_struct(self, _: &'static str) -> Result<(), Unsupported> {
            self.serialize_none()
        }
        fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> Result<(), Unsupported> {
            self.string(variant);
            Ok(())
        }
        fn serialize_newtype_struct<T: ?Sized + Serialize>(self, _: &'static str, v: &T) -> Result<(), Unsupported> {
            v.serialize(self)
        }
        fn serialize_newtype_variant<T: ?Sized + Serialize>(self, _: &'static str, _: u32, _: &'static str, _: &T) -> Result<(), Unsupported> {
            Err(Unsupported)
        }
        fn serialize_seq(self, _: Option<usize>) -> Result<Compound<'a>, Unsupported> {
            Ok(self.open(b'['))
        }
        fn serialize_tuple(self, _: usize) -> Result<Compound<'a>, Unsupported> {
            Ok(self.open(b'['))
        }
        fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Compound<'a>, Unsupported> {
            Ok(self.open(b'['))
        }
        fn serialize_tuple_variant(self, _: &'static str, _: u32, _: &'static str, _: usize) -> Result<No, Unsupported> {
            Err(Unsupported)
        }
        fn serialize_map(self, _: Option<usize>) -> Result<No, Unsupported> {
            Err(Unsupported)
        }
        fn serialize_struct(self, _: &'static str, _: usize) -> Result<Compound<'a>, Unsupported> {
            Ok(self.open(b'{'))
        }
        fn serialize_struct_variant(self, _: &'static str, _: u32, _: &'static str, _: usize) -> Result<No, Unsupported> {
            Err(Unsupported)
        }
        fn collect_str<T: ?Sized + fmt::Display>(self, v: &T) -> Result<(), Unsupported> {
            self.string(&v.to_string());
            Ok(())
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use serde::Serialize;

        #[derive(Serialize)]
        struct Inner {
            #[serde(rename = "type")]
            kind: &'static str,
            n: Option<u16>,
            none: Option<String>,
            empty: Vec<u8>,
            neg: i64,
        }

        #[derive(Serialize)]
        struct Empty {}

        #[derive(Serialize)]
        struct Outer {
            text: String,
            list: Vec<Inner>,
            nested: Vec<Vec<u64>>,
            empty: Empty,
            flag: bool,
            c: char,
            t: (u8, &'static str),
            big: u64,
        }

        fn ours<T: Serialize>(v: &T) -> String {
            let mut w = Writer::default();
            v.serialize(&mut w).expect("supported");
            String::from_utf8(w.out).unwrap()
        }

        #[test]
        fn matches_serde_json_pretty() {
            let mut text = String::from("plain \" \\ / \u{7f} é ☎ ");
            for c in 0u8..0x20 {
                text.push(char::from(c));
            }
            let v = Outer {
                text,
                list: vec![
                    Inner { kind: "a", n: Some(5060), none: None, empty: vec![], neg: i64::MIN },
                    Inner { kind: "b\n", n: None, none: Some("x".into()), empty: vec![0, 255], neg: -1 },
                ],
                nested: vec![vec![], vec![0, u64::MAX], vec![7]],
                empty: Empty {},
                flag: false,
                c: '"',
                t: (1, "two"),
                big: 18_446_744_073_709_551_615,
            };
            assert_eq!(ours(&v), serde_json::to_string_pretty(&v).unwrap());
            assert_eq!(ours(&Vec::<u8>::new()), "[]");
        }

        #[test]
        fn escape_scan_agrees_with_bytewise() {
            let slow = |b: &[u8]| b.iter().any(|&c| c < 0x20 || c == b'"' || c == b'\\');
            let mut x: u64 = 88172645463325252;
            for len in 0..40 {
                for _ in 0..300 {
                    let mut b: Vec<u8> = (0..len)
                        .map(|_| {
                            x ^= x << 13;
                            x ^= x >> 7;
                            x ^= x << 17;
                            // Mostly printable, sometimes one of the bytes that matter.
                            match x % 23 {
                                0 => b'"',
                                1 => b'\\',
                                2 => (x >> 8) as u8 % 0x20,
                                3 => 0x20,
                                4 => 0xff,
                                _ => 0x21 + (x >> 8) as u8 % 0x5e,
                            }
                        })
                        .collect();
                    assert_eq!(needs_escape(&b), slow(&b), "{b:?}");
                    b.retain(|&c| !slow(&[c]));
                    assert!(!needs_escape(&b));
                }
            }
        }

        #[test]
        fn deep_nesting_indents_past_the_spaces_table() {
            let mut v = serde_json::json!(1);
            for _ in 0..40 {
                v = serde_json::json!([v]);
            }
            // json! values serialise their arrays as sequences: no maps, so ours handles them.
            assert_eq!(ours(&v), serde_json::to_string_pretty(&v).unwrap());
        }

        #[test]
        fn unsupported_types_fall_back() {
            let mut w = Writer::default();
            assert!(1.5f64.serialize(&mut w).is_err());
            let m: std::collections::BTreeMap<String, u8> = [("a".to_string(), 1)].into();
            assert!(m.serialize(&mut Writer::default()).is_err());
        }
    }
}
