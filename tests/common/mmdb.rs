//! A small writer of MaxMind DB files (the format GeoLite2-ASN and DB-IP's ASN Lite use,
//! maxmind.github.io/MaxMind-DB), so tests make their own ASN database instead of shipping or
//! fetching one: an IPv4 search tree with 24-bit records, a data section of maps, metadata.

/// Type numbers of the format's data section.
const POINTER_FREE_UTF8: u8 = 2;
const UINT16: u8 = 5;
const UINT32: u8 = 6;
const MAP: u8 = 7;
const UINT64: u8 = 9;
const ARRAY: u8 = 11;

/// A control byte (and the extended type, and the size's extra byte, when needed).
fn control(out: &mut Vec<u8>, kind: u8, size: usize) {
    assert!(size < 29 + 256, "sizes up to 284 only");
    let low = size.min(29) as u8;
    if kind <= 7 {
        out.push(kind << 5 | low);
    } else {
        out.push(low);
        out.push(kind - 7);
    }
    if size >= 29 {
        out.push((size - 29) as u8);
    }
}

fn string(out: &mut Vec<u8>, s: &str) {
    control(out, POINTER_FREE_UTF8, s.len());
    out.extend_from_slice(s.as_bytes());
}

fn uint(out: &mut Vec<u8>, kind: u8, v: u64) {
    let bytes = v.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    control(out, kind, 8 - skip);
    out.extend_from_slice(&bytes[skip..]);
}

/// An IPv4 ASN database: each `(network, prefix, asn, organisation)` is one entry.
pub fn asn_db(entries: &[([u8; 4], u8, u32, &str)]) -> Vec<u8> {
    // Data section: one map per entry.
    let mut data = Vec::new();
    let mut offsets = Vec::new();
    for (_, _, asn, org) in entries {
        offsets.push(data.len() as u32);
        control(&mut data, MAP, 2);
        string(&mut data, "autonomous_system_number");
        uint(&mut data, UINT32, u64::from(*asn));
        string(&mut data, "autonomous_system_organization");
        string(&mut data, org);
    }
    // Search tree: node 0 is the root; `None` is "no data" until numbered.
    #[derive(Clone, Copy)]
    enum Rec {
        Empty,
        Node(usize),
        Data(usize),
    }
    let mut nodes: Vec<[Rec; 2]> = vec![[Rec::Empty, Rec::Empty]];
    for (n, (net, prefix, _, _)) in entries.iter().enumerate() {
        let bits = u32::from_be_bytes(*net);
        let mut at = 0;
        for depth in 0..*prefix {
            let side = (bits >> (31 - depth)) & 1;
            if depth + 1 == *prefix {
                nodes[at][side as usize] = Rec::Data(n);
            } else {
                at = match nodes[at][side as usize] {
                    Rec::Node(x) => x,
                    _ => {
                        nodes.push([Rec::Empty, Rec::Empty]);
                        nodes[at][side as usize] = Rec::Node(nodes.len() - 1);
                        nodes.len() - 1
                    }
                };
            }
        }
    }
    let count = nodes.len() as u32;
    let mut out = Vec::new();
    for node in &nodes {
        for rec in node {
            let v = match *rec {
                Rec::Empty => count,
                Rec::Node(x) => x as u32,
                Rec::Data(n) => count + 16 + offsets[n],
            };
            out.extend_from_slice(&v.to_be_bytes()[1..]);
        }
    }
    out.extend_from_slice(&[0; 16]);
    out.extend_from_slice(&data);
    out.extend_from_slice(b"\xAB\xCD\xEFMaxMind.com");
    let meta = &mut out;
    control(meta, MAP, 9);
    string(meta, "binary_format_major_version");
    uint(meta, UINT16, 2);
    string(meta, "binary_format_minor_version");
    uint(meta, UINT16, 0);
    string(meta, "build_epoch");
    uint(meta, UINT64, 1_767_225_600);
    string(meta, "database_type");
    string(meta, "GeoLite2-ASN");
    string(meta, "description");
    control(meta, MAP, 1);
    string(meta, "en");
    string(meta, "tuntrace test ASN database");
    string(meta, "ip_version");
    uint(meta, UINT16, 4);
    string(meta, "languages");
    control(meta, ARRAY, 1);
    string(meta, "en");
    string(meta, "node_count");
    uint(meta, UINT32, u64::from(count));
    string(meta, "record_size");
    uint(meta, UINT16, 24);
    out
}
