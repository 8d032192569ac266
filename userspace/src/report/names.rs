//! The report's enum-like fields: each an enum whose values serialize to the names the
//! contract lists (docs/report-schema.md), spelled once, by the `names!` macro.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A field whose value is one of a fixed set of names: an enum whose variants serialize to
/// those names, each spelled once, here. `as_str` gives the same spelling to the text report.
macro_rules! names {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $v:ident = $s:literal,)+ }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vdoc])* #[serde(rename = $s)] $v,)+
        }

        impl $name {
            /// Every value, in the order docs/report-schema.md lists them.
            pub const ALL: &[$name] = &[$($name::$v,)+];

            /// The value as the report spells it.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$v => $s,)+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.pad(self.as_str())
            }
        }
    };
}

names! {
    /// `schema`: the contract a document follows.
    Schema {
        V1 = "tuntrace.report/1",
    }
}

/// The schema every report of this version carries.
pub const SCHEMA: Schema = Schema::V1;

names! {
    /// `source.kind`: a recorded input replayed, or a live session.
    SourceKind {
        Replay = "replay",
        Live = "live",
    }
}

names! {
    /// `source.backend`: where the events come from.
    Backend {
        Pcap = "pcap",
        Ebpf = "ebpf",
        Dtrace = "dtrace",
        Pktap = "pktap",
        /// The host's own tables, read once (`explain` without `--watch`): rtnetlink, sock_diag
        /// and /proc (additive value).
        Netlink = "netlink",
    }
}

names! {
    /// `interfaces[].kind`, from the interface's name, else from its link type.
    InterfaceKind {
        Tun = "tun",
        Ipsec = "ipsec",
        Utun = "utun",
        Xfrm = "xfrm",
        Wireguard = "wireguard",
        Gre = "gre",
        Vti = "vti",
        /// IP in IP: ipip, sit (6in4), ip6tnl (kernel link kinds; additive value).
        Ipip = "ipip",
        Ethernet = "ethernet",
        Loopback = "loopback",
        Other = "other",
    }
}

impl InterfaceKind {
    /// The kinds that are tunnels (the interfaces tuntrace is asked about).
    pub fn is_tunnel(self) -> bool {
        use InterfaceKind::*;
        matches!(self, Tun | Ipsec | Utun | Xfrm | Wireguard | Gre | Vti | Ipip)
    }
}

names! {
    /// `flows[].proto`: the IP protocol, ICMP and ICMPv6 alike.
    Proto {
        Udp = "udp",
        Tcp = "tcp",
        Esp = "esp",
        Icmp = "icmp",
        Other = "other",
        /// SCTP (carries SIP on some IMS core links, RFC 4168).
        Sctp = "sctp",
    }
}

names! {
    /// `flows[].app`: the most specific application seen on a flow.
    App {
        Ike = "ike",
        EspInUdp = "esp-in-udp",
        Esp = "esp",
        NatKeepalive = "nat-keepalive",
        Sip = "sip",
        SipTls = "sip-tls",
        Rtp = "rtp",
        Other = "other",
        /// Additive values: the flow carries a tunnel of this kind (`tunnels[].kind`).
        Ipip = "ipip",
        SixIn4 = "6in4",
        FourIn6 = "4in6",
        SixIn6 = "6in6",
        Gre = "gre",
        L2tp = "l2tp",
        GtpU = "gtp-u",
        Vxlan = "vxlan",
        Geneve = "geneve",
        Teredo = "teredo",
        Wireguard = "wireguard",
        Openvpn = "openvpn",
        /// Additive: HEP (Homer), capture agents' copies of SIP messages sent to a collector.
        Hep = "hep",
    }
}

impl App {
    /// A flow that carries a tunnel of `kind` (PPPoE is not carried in IP, so no flow names it).
    pub fn carrying(kind: TunnelKind) -> App {
        match kind {
            TunnelKind::Ipip => App::Ipip,
            TunnelKind::SixIn4 => App::SixIn4,
            TunnelKind::FourIn6 => App::FourIn6,
            TunnelKind::SixIn6 => App::SixIn6,
            TunnelKind::Gre => App::Gre,
            TunnelKind::L2tp => App::L2tp,
            TunnelKind::GtpU => App::GtpU,
            TunnelKind::Vxlan => App::Vxlan,
            TunnelKind::Geneve => App::Geneve,
            TunnelKind::Teredo => App::Teredo,
            TunnelKind::Wireguard => App::Wireguard,
            TunnelKind::Openvpn => App::Openvpn,
            TunnelKind::Pppoe => App::Other,
        }
    }
}

names! {
    /// `ike_sas[].state`, moved only by cleartext evidence.
    IkeState {
        Init = "init",
        Auth = "auth",
        Established = "established",
        Deleted = "deleted",
        Unknown = "unknown",
    }
}

names! {
    /// `esp_sas[].encap`: ESP in UDP (RFC 3948), in a TCP stream (RFC 8229), or IP protocol 50.
    Encap {
        Udp = "udp",
        Tcp = "tcp",
        None = "none",
    }
}

names! {
    /// `sip.dialogs[].state`.
    DialogState {
        Early = "early",
        Confirmed = "confirmed",
        Terminated = "terminated",
        Failed = "failed",
        Unknown = "unknown",
    }
}

names! {
    /// `messages[].transport` of a SIP message.
    Transport {
        Udp = "udp",
        Tcp = "tcp",
        Tls = "tls",
        /// SIP over WebSocket (RFC 7118), unencrypted.
        Ws = "ws",
        /// SIP over SCTP (RFC 4168).
        Sctp = "sctp",
    }
}

names! {
    /// `tunnels[].kind`.
    TunnelKind {
        /// IPv4 in IPv4 (IP protocol 4).
        Ipip = "ipip",
        /// IPv6 in IPv4 (protocol 41: SIT, 6to4, 6rd).
        SixIn4 = "6in4",
        /// IPv4 in IPv6.
        FourIn6 = "4in6",
        /// IPv6 in IPv6.
        SixIn6 = "6in6",
        /// GRE, PPTP's enhanced GRE, GRE in UDP (4754), ERSPAN.
        Gre = "gre",
        /// L2TPv2 and L2TPv3, over UDP or IP.
        L2tp = "l2tp",
        Pppoe = "pppoe",
        GtpU = "gtp-u",
        Vxlan = "vxlan",
        Geneve = "geneve",
        Teredo = "teredo",
        Wireguard = "wireguard",
        Openvpn = "openvpn",
    }
}

names! {
    /// `tunnels[].transport`: what carries the tunnel's packets.
    TunnelTransport {
        /// Directly in IP (IP in IP, GRE, L2TPv3 over IP).
        Ip = "ip",
        Udp = "udp",
        Tcp = "tcp",
        /// In Ethernet frames (PPPoE): the ends are MAC addresses.
        Ethernet = "ethernet",
    }
}

#[cfg(test)]
mod tests {
    use serde::Serialize;

    use super::*;

    /// Each value's JSON string, checked to be its `Display` text too.
    fn spelled<T: Serialize + fmt::Display>(all: &[T]) -> Vec<String> {
        all.iter()
            .map(|v| {
                assert_eq!(serde_json::to_string(v).unwrap(), format!("\"{v}\""));
                v.to_string()
            })
            .collect()
    }

    /// The values docs/report-schema.md lists, spelled as the JSON has always spelled them.
    #[test]
    fn enum_values_are_the_schema_strings() {
        assert_eq!(spelled(Schema::ALL), ["tuntrace.report/1"]);
        assert_eq!(spelled(SourceKind::ALL), ["replay", "live"]);
        assert_eq!(spelled(Backend::ALL), ["pcap", "ebpf", "dtrace", "pktap", "netlink"]);
        assert_eq!(
            spelled(InterfaceKind::ALL),
            ["tun", "ipsec", "utun", "xfrm", "wireguard", "gre", "vti", "ipip", "ethernet", "loopback", "other"]
        );
        assert_eq!(spelled(Proto::ALL), ["udp", "tcp", "esp", "icmp", "other", "sctp"]);
        assert_eq!(
            spelled(App::ALL),
            [
                "ike",
                "esp-in-udp",
                "esp",
                "nat-keepalive",
                "sip",
                "sip-tls",
                "rtp",
                "other",
                "ipip",
                "6in4",
                "4in6",
                "6in6",
                "gre",
                "l2tp",
                "gtp-u",
                "vxlan",
                "geneve",
                "teredo",
                "wireguard",
                "openvpn",
                "hep"
            ]
        );
        assert_eq!(
            spelled(TunnelKind::ALL),
            [
                "ipip",
                "6in4",
                "4in6",
                "6in6",
                "gre",
                "l2tp",
                "pppoe",
                "gtp-u",
                "vxlan",
                "geneve",
                "teredo",
                "wireguard",
                "openvpn"
            ]
        );
        assert_eq!(spelled(TunnelTransport::ALL), ["ip", "udp", "tcp", "ethernet"]);
        // A flow carrying a tunnel is named by the tunnel's kind.
        for &k in TunnelKind::ALL.iter().filter(|&&k| k != TunnelKind::Pppoe) {
            assert_eq!(App::carrying(k).as_str(), k.as_str());
        }
        assert_eq!(spelled(IkeState::ALL), ["init", "auth", "established", "deleted", "unknown"]);
        assert_eq!(spelled(Encap::ALL), ["udp", "tcp", "none"]);
        assert_eq!(spelled(DialogState::ALL), ["early", "confirmed", "terminated", "failed", "unknown"]);
        assert_eq!(spelled(Transport::ALL), ["udp", "tcp", "tls", "ws", "sctp"]);
        let tunnels: Vec<_> = InterfaceKind::ALL.iter().filter(|k| k.is_tunnel()).map(|k| k.as_str()).collect();
        assert_eq!(tunnels, ["tun", "ipsec", "utun", "xfrm", "wireguard", "gre", "vti", "ipip"]);
        // Padding applies to the text, as it did to the strings.
        assert_eq!(format!("[{:<8}]", App::Sip), "[sip     ]");
    }
}
