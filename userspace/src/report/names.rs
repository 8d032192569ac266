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
    /// `esp_sas[].encap`: ESP in UDP (RFC 3948), or IP protocol 50.
    Encap {
        Udp = "udp",
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
        assert_eq!(spelled(Proto::ALL), ["udp", "tcp", "esp", "icmp", "other"]);
        assert_eq!(spelled(App::ALL), ["ike", "esp-in-udp", "esp", "nat-keepalive", "sip", "sip-tls", "rtp", "other"]);
        assert_eq!(spelled(IkeState::ALL), ["init", "auth", "established", "deleted", "unknown"]);
        assert_eq!(spelled(Encap::ALL), ["udp", "none"]);
        assert_eq!(spelled(DialogState::ALL), ["early", "confirmed", "terminated", "failed", "unknown"]);
        assert_eq!(spelled(Transport::ALL), ["udp", "tcp", "tls"]);
        let tunnels: Vec<_> = InterfaceKind::ALL.iter().filter(|k| k.is_tunnel()).map(|k| k.as_str()).collect();
        assert_eq!(tunnels, ["tun", "ipsec", "utun", "xfrm", "wireguard", "gre", "vti", "ipip"]);
        // Padding applies to the text, as it did to the strings.
        assert_eq!(format!("[{:<8}]", App::Sip), "[sip     ]");
    }
}
