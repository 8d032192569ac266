//! SA payloads read into proposals: IKEv2 proposals with their transforms, IKEv1 proposals
//! with one suite per transform. Shared by the owned parse and by [`super::Scan::proposals`],
//! which renders only the proposals the aggregator keeps; with no output list the same walk
//! only checks.

use std::borrow::Cow;

use super::names::{self, proto_name, Group};
use super::payloads::{check_attributes, checked_attributes, uint, Attributes};
use super::{hex, MAX_PROPOSALS, MAX_TRANSFORMS};
use crate::decode::{be16, be32, Malformed};
use crate::digits::push_decimal;

/// One proposal of an SA payload, its transforms by kind and spelled as the IANA registries
/// name them (`AES_CBC_256`, `PRF_HMAC_SHA2_256`, `MODP_2048`…), numbers behind a prefix when
/// a registry has no name. IKEv2: one per proposal; IKEv1: one per transform, each a full
/// suite. The decoder's own value: the aggregator keeps it and the report is made from it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Proposal {
    pub number: u8,
    /// `"IKE"`, `"ESP"`, `"AH"`… or `PROTO_<n>`.
    pub protocol: String,
    pub encryption: Vec<String>,
    pub prf: Vec<String>,
    pub integrity: Vec<String>,
    pub dh: Vec<String>,
    pub esn: Vec<String>,
    /// IKEv1 authentication method, lifetimes, child SA SPIs (`spi=<hex>`) and the like.
    pub other: Vec<String>,
}

fn new_proposal(number: u8, protocol: u8) -> Proposal {
    Proposal {
        number,
        protocol: proto_name(protocol),
        encryption: Vec::new(),
        prf: Vec::new(),
        integrity: Vec::new(),
        dh: Vec::new(),
        esn: Vec::new(),
        other: Vec::new(),
    }
}

/// Iterate the proposal substructures of an SA payload body. Calls `f(number, protocol, spi,
/// transform count, transforms bytes)` per proposal.
fn for_each_proposal(
    mut b: &[u8],
    mut f: impl FnMut(u8, u8, &[u8], u8, &[u8]) -> Result<(), Malformed>,
) -> Result<(), Malformed> {
    let mut n = 0usize;
    while !b.is_empty() {
        if n >= MAX_PROPOSALS {
            return Err(Malformed::new("ike too many proposals"));
        }
        n += 1;
        let (Some(&more), Some(len)) = (b.first(), be16(b, 2)) else {
            return Err(Malformed::new("ike proposal truncated"));
        };
        let len = usize::from(len);
        if len < 8 || len > b.len() {
            return Err(Malformed::new("ike proposal length invalid"));
        }
        let p = &b[..len];
        let (number, proto, spi_size, ntrans) = (p[4], p[5], usize::from(p[6]), p[7]);
        let spi = p.get(8..8 + spi_size).ok_or(Malformed::new("ike proposal spi truncated"))?;
        f(number, proto, spi, ntrans, &p[8 + spi_size..])?;
        b = &b[len..];
        if more == 0 {
            break;
        }
    }
    Ok(())
}

/// Iterate transform substructures: `f(header bytes 4..8, attributes)`.
fn for_each_transform(mut b: &[u8], mut f: impl FnMut(&[u8], &[u8]) -> Result<(), Malformed>) -> Result<(), Malformed> {
    let mut n = 0usize;
    while !b.is_empty() {
        if n >= MAX_TRANSFORMS {
            return Err(Malformed::new("ike too many transforms"));
        }
        n += 1;
        let (Some(&more), Some(len)) = (b.first(), be16(b, 2)) else {
            return Err(Malformed::new("ike transform truncated"));
        };
        let len = usize::from(len);
        if len < 8 || len > b.len() {
            return Err(Malformed::new("ike transform length invalid"));
        }
        f(&b[4..8], &b[8..len])?;
        b = &b[len..];
        if more == 0 {
            break;
        }
    }
    Ok(())
}

/// An IKEv2 SA payload: its proposals appended to `out`, or with `out` `None` only the checks.
/// Proposals read before damage are kept.
pub(super) fn v2_sa(b: &[u8], mut out: Option<&mut Vec<Proposal>>) -> Result<(), Malformed> {
    for_each_proposal(b, |number, proto, spi, _n, transforms| {
        let Some(out) = out.as_deref_mut() else {
            return for_each_transform(transforms, |_, attrs| check_attributes(attrs));
        };
        let mut p = new_proposal(number, proto);
        if !spi.is_empty() {
            add(&mut p.other, format!("spi={}", hex(spi)));
        }
        let r = for_each_transform(transforms, |h, attrs| v2_transform(&mut p, h, attrs));
        out.reserve_exact(1);
        out.push(p);
        r
    })
}

fn v2_transform(p: &mut Proposal, h: &[u8], attrs: &[u8]) -> Result<(), Malformed> {
    let ttype = h[0];
    let id = u16::from_be_bytes([h[2], h[3]]);
    let mut keylen = None;
    for a in Attributes::new(attrs) {
        let (t, v) = a?;
        if t == 14 {
            keylen = uint(v);
        }
    }
    match ttype {
        1 => {
            let base = names::v2_encr(id).map_or_else(|| Cow::Owned(format!("ENCR_{id}")), Cow::Borrowed);
            add(&mut p.encryption, with_key_length(&base, keylen));
        }
        2 => add(&mut p.prf, name_or(names::v2_prf(id), "PRF_", id)),
        3 => add(&mut p.integrity, name_or(names::v2_integ(id), "AUTH_", id)),
        4 => add(&mut p.dh, Group::new(id).label()),
        5 => add(&mut p.esn, name_or(names::v2_esn(id), "ESN_", id)),
        // RFC 9370 additional key exchanges 1..7.
        6..=12 => add(&mut p.other, format!("ADDKE{}={}", ttype - 5, Group::new(id).label())),
        _ => add(&mut p.other, format!("TRANSFORM_{ttype}={id}")),
    }
    Ok(())
}

/// Append to a proposal list one slot at a time. The aggregator keeps proposals until the
/// report, and most lists hold a single entry: growing exactly leaves no slack to give back.
fn add(v: &mut Vec<String>, s: String) {
    v.reserve_exact(1);
    v.push(s);
}

/// The registry name, or `prefix` followed by the number.
fn name_or(known: Option<&'static str>, prefix: &str, n: u16) -> String {
    match known {
        Some(name) => name.to_string(),
        None => format!("{prefix}{n}"),
    }
}

/// `AES_CBC` with a key length attribute of 256 becomes `AES_CBC_256`. Built by hand: this
/// runs for every proposal kept, and `format!` costs several times the copy.
fn with_key_length(base: &str, keylen: Option<u64>) -> String {
    let Some(k) = keylen else {
        return base.to_string();
    };
    let mut s = String::with_capacity(base.len() + 21);
    s.push_str(base);
    s.push('_');
    push_decimal(&mut s, k);
    s
}

/// An IKEv1 SA payload: one proposal per transform appended to `out`, or with `out` `None` only
/// the checks. Transforms read before damage are kept.
pub(super) fn v1_sa(b: &[u8], mut out: Option<&mut Vec<Proposal>>) -> Result<(), Malformed> {
    // DOI(4) situation(4); the IPsec DOI's labelled-domain situations add fields nobody sends.
    let doi = be32(b, 0).ok_or(Malformed::new("ike sa payload truncated"))?;
    let rest = b.get(8..).ok_or(Malformed::new("ike sa payload truncated"))?;
    if doi != 1 {
        return Err(Malformed::new("ike sa doi unsupported"));
    }
    for_each_proposal(rest, |number, proto, spi, ntrans, transforms| {
        for_each_transform(transforms, |h, attrs| {
            check_attributes(attrs)?;
            let Some(out) = out.as_deref_mut() else {
                return Ok(());
            };
            let (tnum, tid) = (h[0], h[1]);
            let mut p = new_proposal(number, proto);
            if ntrans > 1 {
                p.other.push(format!("transform={tnum}"));
            }
            if !spi.is_empty() {
                p.other.push(format!("spi={}", hex(spi)));
            }
            if proto == 1 {
                v1_isakmp_transform(&mut p, tid, checked_attributes(attrs));
            } else {
                v1_ipsec_transform(&mut p, proto, tid, checked_attributes(attrs));
            }
            out.reserve_exact(1);
            out.push(p);
            Ok(())
        })
    })
}

fn life(p: &mut Proposal, life_type: u16, v: &[u8]) {
    match (life_type, uint(v)) {
        (1, Some(s)) => p.other.push(format!("life={s}s")),
        (2, Some(k)) => p.other.push(format!("life={k}KB")),
        (_, Some(x)) => p.other.push(format!("life={x}")),
        (_, None) => p.other.push(format!("life=0x{}", hex(v))),
    }
}

fn v1_isakmp_transform<'a>(p: &mut Proposal, tid: u8, attrs: impl Iterator<Item = (u16, &'a [u8])>) {
    if tid != 1 {
        p.other.push(format!("transform_id={tid}"));
    }
    let mut encr = None;
    let mut keylen = None;
    let mut life_type = 1u16;
    for (t, v) in attrs {
        let n = uint(v).unwrap_or(0);
        let n16 = u16::try_from(n).unwrap_or(u16::MAX);
        match t {
            1 => encr = Some(names::v1_encr(n16).map_or_else(|| format!("ENCR_{n}"), str::to_string)),
            2 => p.integrity.push(names::v1_hash(n16).map_or_else(|| format!("HASH_{n}"), str::to_string)),
            3 => p
                .other
                .push(format!("auth={}", names::v1_auth_method(n16).map_or_else(|| n.to_string(), str::to_string))),
            4 => p.dh.push(Group::new(n16).label()),
            5 => p.other.push(format!("group_type={n}")),
            11 => life_type = n16,
            12 => life(p, life_type, v),
            13 => p.prf.push(format!("PRF_{n}")),
            14 => keylen = Some(n),
            _ => p.other.push(format!("attr{t}={}", hex(v))),
        }
    }
    if let Some(e) = encr {
        p.encryption.push(with_key_length(&e, keylen));
    }
}

fn v1_ipsec_transform<'a>(p: &mut Proposal, proto: u8, tid: u8, attrs: impl Iterator<Item = (u16, &'a [u8])>) {
    let mut keylen = None;
    let mut life_type = 1u16;
    for (t, v) in attrs {
        let n = uint(v).unwrap_or(0);
        let n16 = u16::try_from(n).unwrap_or(u16::MAX);
        match t {
            1 => life_type = n16,
            2 => life(p, life_type, v),
            3 => p.dh.push(Group::new(n16).label()),
            4 => p
                .other
                .push(format!("mode={}", names::v1_encap_mode(n16).map_or_else(|| n.to_string(), str::to_string))),
            5 => {
                let a = names::v1_ipsec_auth(n16).map_or_else(|| format!("AUTH_{n}"), str::to_string);
                if !p.integrity.contains(&a) {
                    p.integrity.push(a);
                }
            }
            6 => keylen = Some(n),
            11 => p.esn.push(if n != 0 { "ESN".into() } else { "NO_ESN".into() }),
            _ => p.other.push(format!("attr{t}={}", hex(v))),
        }
    }
    match proto {
        3 => {
            let base = names::v1_esp_transform(tid).map_or_else(|| format!("ESP_{tid}"), str::to_string);
            p.encryption.push(with_key_length(&base, keylen));
        }
        2 => {
            let a = names::v1_ah_transform(tid).map_or_else(|| format!("AH_{tid}"), str::to_string);
            if !p.integrity.contains(&a) {
                p.integrity.insert(0, a);
            }
        }
        4 => p.other.insert(0, names::v1_ipcomp_transform(tid).map_or_else(|| format!("IPCOMP_{tid}"), str::to_string)),
        _ => p.other.insert(0, format!("transform_id={tid}")),
    }
}
