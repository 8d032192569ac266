//! Numbers and addresses as text, without the formatting machinery.
//!
//! Reports spell tens of thousands of addresses, ports, counts and SPIs; through `core::fmt`
//! each cost several times the work of the digits themselves. Decimal digits come from the
//! itoa crate. Every function here writes exactly what `Display` (or the `format!` named
//! beside it) writes.

use std::net::IpAddr;

/// Append `n` in decimal, as `{n}` would.
pub fn push_decimal(out: &mut String, n: u64) {
    out.push_str(itoa::Buffer::new().format(n));
}

/// Append `ip` as `Display` writes it: IPv4 octet by octet; IPv6 through `Display` (its
/// `::` compression rules are subtle, and IPv6 is rare in the reports).
pub fn push_ip(out: &mut String, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            let mut digits = itoa::Buffer::new();
            for (i, o) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push('.');
                }
                out.push_str(digits.format(o));
            }
        }
        IpAddr::V6(_) => {
            use std::fmt::Write;
            let _ = write!(out, "{ip}");
        }
    }
}

/// `ip.to_string()`.
pub fn ip_string(ip: IpAddr) -> String {
    let mut s = String::with_capacity(15);
    push_ip(&mut s, ip);
    s
}

/// `format!("{v:0digits$x}")` for `digits` ≤ 16 (SPIs).
pub fn hex_id(v: u64, digits: u32) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    // Masked to seven bits (a no-op) so that each is seen as a one-byte character.
    (0..digits).rev().map(|i| char::from(HEX[(v >> (i * 4)) as usize & 0xf] & 0x7f)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn edges_match_display() {
        for v in [0u32, 1, 9, 10, 99, 100, 255, 0x0a00_0001, 0xc0a8_0a64, 0xffff_ffff, 0x6465_0a09, 0x0009_630a] {
            let ip = IpAddr::V4(Ipv4Addr::from(v));
            assert_eq!(ip_string(ip), ip.to_string());
        }
        let ip = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1));
        assert_eq!(ip_string(ip), "2001:db8::1");
        for v in [0u64, 1, 0xabc, 0x0bf0_1aff_05f5_eb1e, u64::MAX] {
            assert_eq!(hex_id(v, 16), format!("{v:016x}"));
            let w = v as u32;
            assert_eq!(hex_id(w.into(), 8), format!("{w:08x}"));
        }
    }

    proptest! {
        #[test]
        fn everything_matches_format(v4 in any::<u32>(), v6 in any::<u128>(), n in any::<u64>(), small in 0u64..100_000) {
            prop_assert_eq!(ip_string(IpAddr::V4(v4.into())), Ipv4Addr::from(v4).to_string());
            prop_assert_eq!(ip_string(IpAddr::V6(v6.into())), Ipv6Addr::from(v6).to_string());
            for x in [n, small] {
                let mut s = String::from("x");
                push_decimal(&mut s, x);
                prop_assert_eq!(s, format!("x{x}"));
            }
        }
    }
}
