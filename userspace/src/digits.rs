//! Numbers and addresses as text, without the formatting machinery.
//!
//! Reports spell tens of thousands of addresses, ports, counts and SPIs; through `core::fmt`
//! each cost several times the work of the digits themselves. Every function here writes
//! exactly what `Display` (or the `format!` named beside it) writes.

use std::net::IpAddr;

/// Append `n` in decimal, as `{n}` would.
pub fn push_decimal(out: &mut String, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend(digits[i..].iter().map(|&d| char::from(d)));
}

/// Append `ip` as `Display` writes it: IPv4 octet by octet from a table; IPv6 through
/// `Display` (its `::` compression rules are subtle, and IPv6 is rare in the reports).
///
/// An IPv4 address is laid out in a 16-byte buffer first, each octet as one four-byte copy
/// of its digits and a dot, then appended a byte at a time. Each byte is masked to seven
/// bits (a no-op: they are all digits and dots) so that the compiler sees a one-byte
/// character and pushes a plain byte, not a UTF-8 encoding; appending a `&str` would need
/// the bytes checked as UTF-8 first, and safe code has no other way into a `String`.
pub fn push_ip(out: &mut String, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            let mut buf = [0u8; 16];
            let mut n = 0;
            for o in v4.octets() {
                let (text, len) = OCTET[usize::from(o)];
                buf[n..n + 4].copy_from_slice(&text);
                n += usize::from(len) + 1;
            }
            // Without the dot after the last octet.
            let text = &buf[..n - 1];
            out.reserve(text.len());
            for &c in text {
                out.push(char::from(c & 0x7f));
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

/// Every octet in decimal followed by a dot (then padding), and how many digits there are.
static OCTET: [([u8; 4], u8); 256] = octet_table();

const fn octet_table() -> [([u8; 4], u8); 256] {
    let mut t = [([0u8; 4], 0u8); 256];
    let mut i = 0;
    while i < 256 {
        let o = i as u8;
        t[i] = if o >= 100 {
            ([b'0' + o / 100, b'0' + o / 10 % 10, b'0' + o % 10, b'.'], 3)
        } else if o >= 10 {
            ([b'0' + o / 10, b'0' + o % 10, b'.', 0], 2)
        } else {
            ([b'0' + o, b'.', 0, 0], 1)
        };
        i += 1;
    }
    t
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
