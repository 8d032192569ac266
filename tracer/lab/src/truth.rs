//! What the lab's peers themselves say happened: the yardstick for tuntrace's report.
//!
//! Every value here comes from a peer (swanctl, /proc, SIPp's trace, tcpdump's own counters),
//! never from tuntrace's decoders, so comparing a report against it proves something.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tuntrace_core::report::{Encap, EspSa, Flow, Report};

pub use super::openvpn::{ClientLog, ClientStatus, ServerClient};
pub use super::wireguard::{WgInterface, WgPeer};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct GroundTruth {
    pub schema: String,
    pub scenario: ScenarioInfo,
    /// IKE SAs as the UE's charon lists them.
    pub ike_sas: Vec<IkeSaTruth>,
    /// The same SAs as the ePDG's charon lists them (SPIs must agree with the UE's).
    pub epdg_ike_sas: Vec<IkeSaTruth>,
    /// Both 0 when the scenario runs no charon (WireGuard, OpenVPN): see `daemons`.
    pub charon_pids: CharonPids,
    /// Who holds the UE's ipsec0, found through /proc/PID/fdinfo (`iff: ipsec0`).
    pub ipsec0_holder: Option<Holder>,
    pub virtual_ip: Option<String>,
    /// The P-CSCF address the ePDG hands out (attribute 20), and whether the UE's charon logged
    /// receiving that attribute.
    pub pcscf: Option<String>,
    pub pcscf_received_by_ue: bool,
    /// Dialogs as the UE's SIPp traced them, REGISTER first when enabled.
    pub sip: Vec<SipDialog>,
    pub packets: PacketCounts,
    pub captures: Captures,
    pub timings_ms: Timings,
    /// The UE's tunnel interface (ipsec0, wg0, tun0), its holder from /proc/PID/fdinfo, and the
    /// tunnel addresses of both ends. Absent in truths recorded before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tun: Option<TunTruth>,
    /// Every tunnel daemon the scenario ran (charon, wireguard-go, openvpn), by side.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub daemons: Vec<DaemonTruth>,
    /// The WireGuard scenario: both sides' `wg show wg0 dump`, and tshark's reading of the wire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wireguard: Option<WireGuardTruth>,
    /// The OpenVPN scenarios: both status files, the client's log, and tshark's reading of the wire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub openvpn: Option<OpenVpnTruth>,
}

pub const SCHEMA: &str = "tuntrace.lab-truth/1";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ScenarioInfo {
    pub prefix: String,
    /// "psk" or "eap" (IPsec), "public-key" (WireGuard), "x509" (OpenVPN's certificates).
    pub auth: String,
    pub sip_transport: String,
    pub ipv6_outer: bool,
    pub register: bool,
    pub calls: u32,
    pub ue_namespace: String,
    pub epdg_namespace: String,
    pub outer_iface: String,
    /// "ipsec" (the default, and what truths recorded before this field say), "wireguard", "openvpn"
    /// or "openvpn-tcp".
    #[serde(default = "ipsec")]
    pub tunnel: String,
}

fn ipsec() -> String {
    "ipsec".into()
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct IkeSaTruth {
    pub name: String,
    pub version: u8,
    /// 16 lower-case hex digits.
    pub initiator_spi: String,
    pub responder_spi: String,
    /// Lower case of swanctl's state ("established").
    pub state: String,
    pub is_initiator: bool,
    pub local_address: String,
    pub local_port: u16,
    pub remote_address: String,
    pub remote_port: u16,
    pub nat_any: bool,
    pub local_vips: Vec<String>,
    pub child_sas: Vec<ChildSaTruth>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ChildSaTruth {
    pub name: String,
    /// 8 lower-case hex digits: the SPI of packets this peer receives.
    pub spi_in: String,
    /// The SPI of packets this peer sends.
    pub spi_out: String,
    pub encap: bool,
    pub mode: String,
    pub protocol: String,
    pub packets_in: Option<u64>,
    pub packets_out: Option<u64>,
    pub bytes_in: Option<u64>,
    pub bytes_out: Option<u64>,
    pub local_ts: Vec<String>,
    pub remote_ts: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CharonPids {
    pub ue: u32,
    pub epdg: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Holder {
    pub pid: u32,
    pub comm: String,
    pub fd: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SipDialog {
    pub call_id: String,
    pub transport: String,
    pub messages: u32,
    pub sent: u32,
    pub received: u32,
    /// Methods and status codes in the order SIPp traced them ("REGISTER", "401", ...).
    pub sequence: Vec<String>,
}

/// tcpdump's own "N packets captured" for each capture.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct PacketCounts {
    pub outer: Option<u64>,
    pub inner: Option<u64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Captures {
    /// The UE-side veth (IKE and ESP-in-UDP).
    pub outer: Option<PathBuf>,
    /// The UE's ipsec0 (SIP in clear).
    pub inner: Option<PathBuf>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Timings {
    pub up: u64,
    /// IKE negotiation (the IPsec scenario only; 0 otherwise).
    pub ike: u64,
    pub sip: u64,
    pub scenario: u64,
    /// From the scenario's start of the tunnel to its daemons reporting it up (IKE SA
    /// established, `wg show` listing a handshake on both sides, OpenVPN's client initialized).
    #[serde(default)]
    pub tunnel: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TunTruth {
    pub name: String,
    pub namespace: String,
    /// Found through /proc/PID/fdinfo (`iff: NAME`) of the processes in the namespace.
    pub holder: Option<Holder>,
    /// The UE's tunnel address, and the far end's (for IPsec: the virtual IP and the P-CSCF).
    pub address: Option<String>,
    pub peer_address: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DaemonTruth {
    /// "ue" or "epdg".
    pub side: String,
    pub program: String,
    pub pid: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct WireGuardTruth {
    /// `wg show wg0 dump` on each side (private keys left out), read before the captures stop.
    pub ue: WgInterface,
    pub epdg: WgInterface,
    /// tshark's reading of the outer capture (wg prints no session indices); None without captures.
    pub wire: Option<WgWire>,
}

/// WireGuard as tshark sees it on the outer link.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct WgWire {
    /// Messages by type: handshake initiation (1), response (2), cookie reply (3), transport
    /// data (4); keepalives are the transport messages without a packet inside.
    pub initiations: u64,
    pub responses: u64,
    pub cookie_replies: u64,
    pub transport: u64,
    pub keepalives: u64,
    pub handshakes: Vec<WgHandshakeWire>,
    /// Transport data per receiver index and sender.
    pub sessions: Vec<WgSessionWire>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct WgHandshakeWire {
    /// ip:port of the initiator.
    pub initiator: String,
    /// Sender index of the initiation and of the response: 8 lower-case hex digits.
    pub initiator_index: String,
    pub responder_index: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct WgSessionWire {
    pub receiver_index: String,
    pub src: String,
    pub dst: String,
    pub packets: u64,
    pub keepalives: u64,
    /// UDP payload bytes: what wireguard-go's transfer counters count.
    pub bytes: u64,
    pub first_counter: Option<u64>,
    pub last_counter: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct OpenVpnTruth {
    /// "udp" or "tcp".
    pub transport: String,
    pub port: u16,
    /// The client's status file, rewritten after the traffic ended.
    pub client: ClientStatus,
    /// The server's status file: its view of each client.
    pub server: Vec<ServerClient>,
    pub client_log: ClientLog,
    /// tshark's reading of the outer capture; None without captures.
    pub wire: Option<OvpnWire>,
}

/// OpenVPN as tshark sees it on the outer link.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct OvpnWire {
    pub transport: String,
    /// ip:port of each end, from the client's first packet.
    pub client: String,
    pub server: String,
    /// Session IDs (16 lower-case hex digits) in packets from each side.
    pub client_session_ids: Vec<String>,
    pub server_session_ids: Vec<String>,
    pub key_ids: Vec<u8>,
    /// Peer IDs of P_DATA_V2 packets.
    pub peer_ids: Vec<u32>,
    pub opcodes: Vec<OvpnOpcodeCount>,
    /// "client OPCODE" / "server OPCODE" in capture order up to the first data packet.
    pub handshake: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct OvpnOpcodeCount {
    pub opcode: String,
    pub from_client: bool,
    pub packets: u64,
    /// OpenVPN packet bytes (TCP's length prefix not included).
    pub bytes: u64,
}

impl GroundTruth {
    /// The UE's IKE SA (the lab negotiates exactly one).
    pub fn ike(&self) -> Option<&IkeSaTruth> {
        self.ike_sas.first()
    }

    pub fn child(&self) -> Option<&ChildSaTruth> {
        self.ike().and_then(|i| i.child_sas.first())
    }

    /// The strongSwan scenario (truths recorded before other tunnels existed included).
    pub fn is_ipsec(&self) -> bool {
        self.scenario.tunnel == "ipsec"
    }

    /// What the peers said, for people (the `demo` output puts it beside tuntrace's report).
    pub fn summary(&self) -> String {
        if !self.is_ipsec() {
            return self.vpn_summary();
        }
        let mut out = String::new();
        let na = || "?".to_string();
        for sa in &self.ike_sas {
            out += &format!(
                "IKEv{} SA {} {}/{}  {}:{} -> {}:{}{}\n",
                sa.version,
                sa.state,
                sa.initiator_spi,
                sa.responder_spi,
                sa.local_address,
                sa.local_port,
                sa.remote_address,
                sa.remote_port,
                if sa.nat_any { "  (NAT-T)" } else { "" }
            );
            for c in &sa.child_sas {
                out += &format!(
                    "  ESP SPIs in {} out {}{}  packets in {} out {}\n",
                    c.spi_in,
                    c.spi_out,
                    if c.encap { " (UDP-encapsulated)" } else { "" },
                    c.packets_in.map_or_else(na, |n| n.to_string()),
                    c.packets_out.map_or_else(na, |n| n.to_string())
                );
            }
        }
        out += &format!(
            "charon pids: UE {}, ePDG {}; ipsec0 held by {}\n",
            self.charon_pids.ue,
            self.charon_pids.epdg,
            self.ipsec0_holder
                .as_ref()
                .map_or_else(|| "nobody found".to_string(), |h| format!("{} (pid {}, fd {})", h.comm, h.pid, h.fd))
        );
        out += &format!(
            "virtual IP {}, P-CSCF {}\n",
            self.virtual_ip.clone().unwrap_or_else(na),
            self.pcscf.clone().unwrap_or_else(na)
        );
        for d in &self.sip {
            out += &format!("SIP {} ({}): {}\n", d.call_id, d.transport, d.sequence.join(" "));
        }
        out += &format!(
            "packets: {} outer, {} inner\n",
            self.packets.outer.map_or_else(na, |n| n.to_string()),
            self.packets.inner.map_or_else(na, |n| n.to_string())
        );
        out
    }

    /// Capture paths reduced to file names, for truth files stored beside their captures.
    pub fn with_relative_captures(mut self) -> GroundTruth {
        let rel = |p: &Option<PathBuf>| p.as_ref().and_then(|p| p.file_name()).map(PathBuf::from);
        self.captures = Captures { outer: rel(&self.captures.outer), inner: rel(&self.captures.inner) };
        self
    }

    /// Capture paths resolved against the directory a truth file was read from.
    pub fn resolve_captures(&mut self, dir: &Path) {
        for p in [&mut self.captures.outer, &mut self.captures.inner].into_iter().flatten() {
            if p.is_relative() {
                *p = dir.join(&*p);
            }
        }
    }

    pub fn read(path: &Path) -> Result<GroundTruth, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut t: GroundTruth = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        if let Some(dir) = path.parent() {
            t.resolve_captures(dir);
        }
        Ok(t)
    }

    /// Compare tuntrace's report of this run's captures (what `--json` prints, schema
    /// tuntrace.report/1) with the truth. Returns one line per disagreement; empty means the
    /// report matches.
    pub fn check_report(&self, report: &Report) -> Vec<String> {
        let mut bad = Vec::new();

        for sa in &self.ike_sas {
            match report.ike_sas.iter().find(|r| r.initiator_spi == sa.initiator_spi) {
                None => bad.push(format!("ike_sas: no SA with initiator_spi {}", sa.initiator_spi)),
                Some(r) => {
                    if r.responder_spi.as_deref() != Some(sa.responder_spi.as_str()) {
                        bad.push(format!(
                            "ike_sas[{}]: responder_spi {:?}, truth {}",
                            sa.initiator_spi, r.responder_spi, sa.responder_spi
                        ));
                    }
                    if r.version != sa.version {
                        bad.push(format!("ike_sas[{}]: version {}, truth {}", sa.initiator_spi, r.version, sa.version));
                    }
                    if sa.nat_any && !r.nat_t {
                        bad.push(format!("ike_sas[{}]: nat_t not true", sa.initiator_spi));
                    }
                    let (ini, res) = if sa.is_initiator {
                        (&sa.local_address, &sa.remote_address)
                    } else {
                        (&sa.remote_address, &sa.local_address)
                    };
                    if r.initiator != *ini || r.responder != *res {
                        bad.push(format!(
                            "ike_sas[{}]: endpoints {:?}->{:?}, truth {ini}->{res}",
                            sa.initiator_spi, r.initiator, r.responder
                        ));
                    }
                }
            }
        }

        for c in self.ike_sas.iter().flat_map(|i| &i.child_sas) {
            for (spi, truth_packets) in [(&c.spi_out, c.packets_out), (&c.spi_in, c.packets_in)] {
                let found: Vec<&EspSa> = report.esp_sas.iter().filter(|r| r.spi == *spi).collect();
                if found.is_empty() {
                    bad.push(format!("esp_sas: no SA with spi {spi}"));
                    continue;
                }
                if c.encap && !found.iter().all(|r| r.encap == Encap::Udp) {
                    bad.push(format!("esp_sas[{spi}]: encap is not udp"));
                }
                if let Some(want) = truth_packets {
                    let got: u64 = found.iter().map(|r| r.packets).sum();
                    if got != want {
                        bad.push(format!("esp_sas[{spi}]: {got} packets, charon counted {want}"));
                    }
                }
            }
        }

        let dialogs = report.sip.dialogs.iter().map(|d| (&d.call_id, &d.messages));
        let groups: Vec<_> =
            dialogs.chain(report.sip.registrations.iter().map(|r| (&r.call_id, &r.messages))).collect();
        for d in &self.sip {
            match groups.iter().find(|(call_id, _)| **call_id == d.call_id) {
                None => bad.push(format!("sip: no dialog or registration with Call-ID {}", d.call_id)),
                Some((_, msgs)) => {
                    let seq: Vec<String> = msgs
                        .iter()
                        .map(|m| match (&m.method, m.status) {
                            (Some(method), _) => method.clone(),
                            (None, Some(code)) => code.to_string(),
                            _ => "?".into(),
                        })
                        .collect();
                    if seq != d.sequence {
                        bad.push(format!("sip[{}]: sequence {seq:?}, SIPp traced {:?}", d.call_id, d.sequence));
                    }
                }
            }
        }
        bad
    }

    /// The WireGuard and OpenVPN scenarios' account, for people.
    fn vpn_summary(&self) -> String {
        let mut out = String::new();
        let na = || "?".to_string();
        if let Some(wg) = &self.wireguard {
            for (side, i) in [("UE", &wg.ue), ("ePDG", &wg.epdg)] {
                out += &format!("wg show ({side}): public key {}, listening on {}\n", i.public_key, i.listen_port);
                for p in &i.peers {
                    out += &format!(
                        "  peer {} endpoint {} handshake at {} (unix)  rx {} tx {} bytes\n",
                        p.public_key,
                        p.endpoint.clone().unwrap_or_else(na),
                        p.latest_handshake,
                        p.rx_bytes,
                        p.tx_bytes
                    );
                }
            }
            if let Some(w) = &wg.wire {
                for h in &w.handshakes {
                    out += &format!(
                        "on the wire (tshark): handshake from {} indices {}/{}\n",
                        h.initiator,
                        h.initiator_index,
                        h.responder_index.clone().unwrap_or_else(na)
                    );
                }
                out += &format!(
                    "  {} initiation(s), {} response(s), {} transport data ({} keepalives)\n",
                    w.initiations, w.responses, w.transport, w.keepalives
                );
            }
        }
        if let Some(o) = &self.openvpn {
            let c = &o.client;
            out += &format!(
                "OpenVPN client status: TUN read {} write {} bytes, {} read {} write {} bytes\n",
                c.tun_read_bytes,
                c.tun_write_bytes,
                o.transport.to_ascii_uppercase(),
                c.link_read_bytes,
                c.link_write_bytes
            );
            let l = &o.client_log;
            out += &format!(
                "  client log: server session {}, pushed address {} peer-id {} cipher {}\n",
                l.server_session_id.clone().unwrap_or_else(na),
                l.ifconfig.clone().unwrap_or_else(na),
                l.peer_id.map_or_else(na, |p| p.to_string()),
                l.cipher.clone().unwrap_or_else(na)
            );
            for s in &o.server {
                out += &format!(
                    "OpenVPN server status: client {} at {} -> {}, received {} sent {} bytes\n",
                    s.common_name,
                    s.real_address,
                    s.virtual_address.clone().unwrap_or_else(na),
                    s.bytes_received,
                    s.bytes_sent
                );
            }
            if let Some(w) = &o.wire {
                out += &format!(
                    "on the wire (tshark): sessions client {} server {}, key IDs {:?}, peer IDs {:?}\n",
                    w.client_session_ids.join(","),
                    w.server_session_ids.join(","),
                    w.key_ids,
                    w.peer_ids
                );
                for c in &w.opcodes {
                    out += &format!(
                        "  {} from {}: {} packets\n",
                        c.opcode,
                        if c.from_client { "client" } else { "server" },
                        c.packets
                    );
                }
            }
        }
        let daemons: Vec<String> =
            self.daemons.iter().map(|d| format!("{} {} pid {}", d.program, d.side, d.pid)).collect();
        out += &format!("daemons: {}\n", daemons.join(", "));
        if let Some(t) = &self.tun {
            out += &format!(
                "{} held by {}; tunnel {} <-> {}\n",
                t.name,
                t.holder
                    .as_ref()
                    .map_or_else(|| "nobody found".to_string(), |h| format!("{} (pid {}, fd {})", h.comm, h.pid, h.fd)),
                t.address.clone().unwrap_or_else(na),
                t.peer_address.clone().unwrap_or_else(na)
            );
        }
        for d in &self.sip {
            out += &format!("SIP {} ({}): {}\n", d.call_id, d.transport, d.sequence.join(" "));
        }
        out += &format!(
            "packets: {} outer, {} inner\n",
            self.packets.outer.map_or_else(na, |n| n.to_string()),
            self.packets.inner.map_or_else(na, |n| n.to_string())
        );
        out
    }

    /// What today's report can be held to beyond IKE, ESP and SIP: the outer and the tunnel
    /// interface by name with tcpdump's packet counts, the tunnel's holder, and the flows on each
    /// (on the outer link only between the two outer addresses, and for WireGuard and OpenVPN
    /// exactly one flow, to the daemon's port from the endpoint the server side learned; inside
    /// the tunnel only between the two tunnel addresses). Needs a report whose interfaces carry
    /// names (`tuntrace demo` names them; a replayed plain pcap does not). One line per
    /// disagreement.
    pub fn check_report_interfaces(&self, report: &Report) -> Vec<String> {
        let mut bad = Vec::new();
        let Some(tun) = &self.tun else {
            return vec!["truth: no tun section (recorded before the lab wrote one)".into()];
        };
        let outer_name = &self.scenario.outer_iface;
        for (name, want) in [(outer_name, self.packets.outer), (&tun.name, self.packets.inner)] {
            match report.interfaces.iter().find(|i| i.name.as_deref() == Some(name.as_str())) {
                None => bad.push(format!("interfaces: none named {name}")),
                Some(i) => {
                    if let Some(want) = want {
                        if i.packets != want {
                            bad.push(format!("interfaces[{name}]: {} packets, tcpdump captured {want}", i.packets));
                        }
                    }
                    if name == &tun.name {
                        let owner = i.owner.as_ref().map(|o| o.pid);
                        let holder = tun.holder.as_ref().map(|h| h.pid);
                        if owner != holder {
                            bad.push(format!("interfaces[{name}]: owner pid {owner:?}, /proc says {holder:?}"));
                        }
                    }
                }
            }
        }

        let ends = |f: &Flow| {
            let port = |p: Option<u16>| p.map_or(String::new(), |p| format!(":{p}"));
            let mut e = [format!("{}{}", f.src, port(f.sport)), format!("{}{}", f.dst, port(f.dport))];
            e.sort();
            e
        };
        let host = |e: &str| e.rsplit_once(':').map_or(e.to_string(), |(h, _)| h.to_string());
        let on =
            |name: &str| -> Vec<&Flow> { report.flows.iter().filter(|f| f.iface.as_deref() == Some(name)).collect() };

        // The kernel's own IPv6 link control (MLD reports to ff02::16 from ::, neighbour
        // discovery to ff02::) comes as the link comes up, before or after tcpdump starts: no
        // peer sent it, so it is not held to the peers.
        let link_control =
            |f: &Flow| !matches!(f.proto.as_str(), "udp" | "tcp") && (f.src == "::" || f.dst.starts_with("ff02:"));
        let outer: Vec<&Flow> = on(outer_name).into_iter().filter(|f| !link_control(f)).collect();
        let (ue, epdg) =
            if self.scenario.ipv6_outer { ("2001:2::2", "2001:2::1") } else { ("198.18.0.2", "198.18.0.1") };
        for f in &outer {
            let mut hosts = ends(f).map(|e| host(&e));
            hosts.sort();
            if hosts != [epdg.to_string(), ue.to_string()] {
                bad.push(format!("flows[{outer_name}]: {:?} is not between {ue} and {epdg}", ends(f)));
            }
        }
        let outer_packets: u64 = outer.iter().map(|f| f.packets).sum();
        if let Some(want) = self.packets.outer {
            if outer_packets != want {
                bad.push(format!("flows[{outer_name}]: {outer_packets} packets in all, tcpdump captured {want}"));
            }
        }
        // The one tunnel flow, with the UE's port as the server side learned it.
        let expected = if let Some(wg) = &self.wireguard {
            wg.epdg
                .peers
                .first()
                .and_then(|p| p.endpoint.clone())
                .map(|ue_end| ("udp", ue_end, format!("{epdg}:{}", super::wireguard::PORT)))
        } else if let Some(o) = &self.openvpn {
            o.server.first().map(|c| (o.transport.as_str(), c.real_address.clone(), format!("{epdg}:{}", o.port)))
        } else {
            None
        };
        if let Some((proto, a, b)) = expected {
            let mut want = [a, b];
            want.sort();
            if outer.len() != 1 || outer[0].proto.as_str() != proto || ends(outer[0]) != want {
                let seen: Vec<String> = outer.iter().map(|f| format!("{} {:?}", f.proto, ends(f))).collect();
                bad.push(format!("flows[{outer_name}]: want one {proto} flow {want:?}, report has {seen:?}"));
            }
        }

        let inner = on(&tun.name);
        if let (Some(a), Some(b)) = (&tun.address, &tun.peer_address) {
            let mut want = [a.clone(), b.clone()];
            want.sort();
            for f in &inner {
                let mut hosts = ends(f).map(|e| host(&e));
                hosts.sort();
                if hosts != want {
                    bad.push(format!("flows[{}]: {:?} is not between {a} and {b}", tun.name, ends(f)));
                }
            }
        }
        let inner_packets: u64 = inner.iter().map(|f| f.packets).sum();
        if let Some(want) = self.packets.inner {
            if inner_packets != want {
                bad.push(format!("flows[{}]: {inner_packets} packets in all, tcpdump captured {want}", tun.name));
            }
        }
        bad
    }

    /// Holds the report's `tunnels` section to the wire as tshark read it and the daemons'
    /// view: one tunnel of the scenario's kind, on its transport, between the same two
    /// endpoints; every WireGuard index or OpenVPN session ID on the wire among its `ids`;
    /// its packet count equal to tshark's; WireGuard's handshakes paired as tshark paired them
    /// and its message counts by type; OpenVPN's session IDs per side, key IDs and the packet
    /// counts by opcode class. One line per disagreement; nothing for the IPsec scenario.
    pub fn check_report_tunnels(&self, report: &Report) -> Vec<String> {
        use tuntrace_core::report::TunnelKind;
        let mut bad = Vec::new();
        let (kind, ids, packets, transport) = if let Some(wg) = &self.wireguard {
            let Some(w) = &wg.wire else { return bad };
            let mut ids: Vec<String> = w.handshakes.iter().map(|h| h.initiator_index.clone()).collect();
            ids.extend(w.handshakes.iter().filter_map(|h| h.responder_index.clone()));
            (TunnelKind::Wireguard, ids, w.initiations + w.responses + w.cookie_replies + w.transport, "udp")
        } else if let Some(o) = &self.openvpn {
            let Some(w) = &o.wire else { return bad };
            let ids = w.client_session_ids.iter().chain(&w.server_session_ids).cloned().collect();
            (TunnelKind::Openvpn, ids, w.opcodes.iter().map(|c| c.packets).sum(), o.transport.as_str())
        } else {
            return bad;
        };
        let found: Vec<&tuntrace_core::report::Tunnel> = report.tunnels.iter().filter(|t| t.kind == kind).collect();
        let [t] = found.as_slice() else {
            bad.push(format!("tunnels: {} of kind {kind}, want 1", found.len()));
            return bad;
        };
        if t.transport.as_str() != transport {
            bad.push(format!("tunnels[{kind}]: transport {}, want {transport}", t.transport));
        }
        for id in &ids {
            if !t.ids.contains(id) {
                bad.push(format!("tunnels[{kind}]: id {id} (on the wire, by tshark) missing from {:?}", t.ids));
            }
        }
        if t.packets != packets {
            bad.push(format!("tunnels[{kind}]: {} packets, tshark counted {packets}", t.packets));
        }
        let ends = |a: &str, p: Option<u16>| match p {
            Some(p) if a.contains(':') => format!("[{a}]:{p}"),
            Some(p) => format!("{a}:{p}"),
            None => a.to_string(),
        };
        let report_ends = [ends(&t.src, t.sport), ends(&t.dst, t.dport)];
        if let Some(w) = self.wireguard.as_ref().and_then(|w| w.wire.as_ref()) {
            let Some(rw) = &t.wireguard else {
                bad.push(format!("tunnels[{kind}]: no wireguard details"));
                return bad;
            };
            let counts = (rw.initiations, rw.responses, rw.cookie_replies, rw.transport_packets);
            let want = (w.initiations, w.responses, w.cookie_replies, w.transport);
            if counts != want {
                bad.push(format!(
                    "tunnels[{kind}]: (initiations, responses, cookie replies, transport) {counts:?}, tshark {want:?}"
                ));
            }
            for h in &w.handshakes {
                if !report_ends.contains(&h.initiator) {
                    bad.push(format!("tunnels[{kind}]: initiator {} is not one of {report_ends:?}", h.initiator));
                }
                let paired = rw.sessions.iter().any(|s| {
                    s.initiator_index == h.initiator_index
                        && s.responder_index == h.responder_index
                        && s.initiator == h.initiator
                });
                if !paired {
                    bad.push(format!(
                        "tunnels[{kind}]: handshake {} -> {:?} from {} not paired so in {:?}",
                        h.initiator_index, h.responder_index, h.initiator, rw.sessions
                    ));
                }
            }
            let completed = w.handshakes.iter().filter(|h| h.responder_index.is_some()).count() as u64;
            if rw.handshakes != completed {
                bad.push(format!("tunnels[{kind}]: {} handshakes, tshark paired {completed}", rw.handshakes));
            }
        }
        if let Some(w) = self.openvpn.as_ref().and_then(|o| o.wire.as_ref()) {
            let Some(ro) = &t.openvpn else {
                bad.push(format!("tunnels[{kind}]: no openvpn details"));
                return bad;
            };
            let sorted = |v: &[String]| {
                let mut v = v.to_vec();
                v.sort();
                v
            };
            if sorted(&ro.client_session_ids) != sorted(&w.client_session_ids)
                || sorted(&ro.server_session_ids) != sorted(&w.server_session_ids)
            {
                bad.push(format!(
                    "tunnels[{kind}]: session IDs client {:?} server {:?}, tshark client {:?} server {:?}",
                    ro.client_session_ids, ro.server_session_ids, w.client_session_ids, w.server_session_ids
                ));
            }
            if ro.client.as_deref() != Some(w.client.as_str()) {
                bad.push(format!("tunnels[{kind}]: client {:?}, tshark {}", ro.client, w.client));
            }
            let mut key_ids = ro.key_ids.clone();
            key_ids.sort_unstable();
            if key_ids != w.key_ids {
                bad.push(format!("tunnels[{kind}]: key IDs {key_ids:?}, tshark {:?}", w.key_ids));
            }
            let class = |names: &[&str]| -> u64 {
                w.opcodes.iter().filter(|c| names.contains(&c.opcode.as_str())).map(|c| c.packets).sum()
            };
            let data = class(&["P_DATA_V1", "P_DATA_V2"]);
            let ack = class(&["P_ACK_V1"]);
            let want = (packets - data - ack, ack, data);
            let got = (ro.control_packets, ro.ack_packets, ro.data_packets);
            if got != want {
                bad.push(format!("tunnels[{kind}]: (control, ack, data) packets {got:?}, tshark {want:?}"));
            }
            if ro.peer_ids != w.peer_ids {
                bad.push(format!("tunnels[{kind}]: peer IDs {:?}, tshark {:?}", ro.peer_ids, w.peer_ids));
            }
        }
        bad.extend(self.check_tunnel_bytes(report, t));
        bad
    }

    /// The report's tunnel bytes against the daemons' own counters: wireguard-go's transfer
    /// counts (`wg show`: the UDP payloads it sent and received, handshakes included) and the
    /// OpenVPN client's status file (what went over its socket). The report counts outer frames,
    /// so each packet's link, IP and UDP headers come off; OpenVPN over TCP counts its packets
    /// with their 2-byte length, which the status file counts on writes only. Also OpenVPN's
    /// data packets against the inner packets tcpdump saw on tun0, one for one.
    fn check_tunnel_bytes(&self, report: &Report, t: &tuntrace_core::report::Tunnel) -> Vec<String> {
        let mut bad = Vec::new();
        let kind = t.kind;
        // The outer link: the report's interface of that name, else (a capture replayed as it
        // is names none) the link type in the outer capture's own header. A live session's
        // packet heads start at IP (`RAW`) but its bytes are as tc counts them, with the
        // Ethernet header of an Ethernet (veth) link (docs/limitations.md).
        let iface = report.interfaces.iter().find(|i| i.name.is_some() && i.name == t.iface);
        let live_ethernet = report.source.kind == tuntrace_core::report::SourceKind::Live
            && iface.is_some_and(|i| matches!(i.kind.as_str(), "ethernet" | "loopback"));
        let link = if live_ethernet {
            Some("EN10MB".to_string())
        } else {
            iface.map(|i| i.linktype.clone()).or_else(|| self.captures.outer.as_deref().and_then(pcap_link_name))
        };
        let link_len = match link.as_deref() {
            Some("EN10MB") => Some(14),
            Some("LINUX_SLL") => Some(16),
            Some("LINUX_SLL2") => Some(20),
            Some("RAW") => Some(0),
            Some("NULL") => Some(4),
            _ => None,
        };
        let ip_len = if t.src.contains(':') { 40 } else { 20 };
        let overhead = link_len.map(|l| l + ip_len + 8u64);
        if let Some(wg) = &self.wireguard {
            let (Some(o), Some(p)) = (overhead, wg.ue.peers.first()) else {
                bad.push(format!(
                    "tunnels[{kind}]: bytes not compared: outer link type {link:?}, UE peers {:?}",
                    wg.ue.peers
                ));
                return bad;
            };
            let payload = t.bytes.saturating_sub(o * t.packets);
            if payload != p.tx_bytes + p.rx_bytes {
                bad.push(format!(
                    "tunnels[{kind}]: {payload} bytes of UDP payload ({} bytes less {o} per packet), wg show (UE) sent {} and received {}",
                    t.bytes, p.tx_bytes, p.rx_bytes
                ));
            }
            // Each way, when the UE initiated every handshake (as in the lab): initiations go
            // up and responses and cookie replies come down with the transport data.
            let ue_end = wg.epdg.peers.first().and_then(|e| e.endpoint.clone());
            if let (Some(rw), Some(ue_end)) = (&t.wireguard, ue_end) {
                if rw.sessions.iter().all(|s| s.initiator == ue_end) {
                    let data = |pk: u64, b: u64| b.saturating_sub(o * pk);
                    let up = 148 * rw.initiations
                        + rw.sessions.iter().map(|s| data(s.packets_to_responder, s.bytes_to_responder)).sum::<u64>();
                    let down = 92 * rw.responses
                        + 64 * rw.cookie_replies
                        + rw.sessions.iter().map(|s| data(s.packets_to_initiator, s.bytes_to_initiator)).sum::<u64>();
                    if (up, down) != (p.tx_bytes, p.rx_bytes) {
                        bad.push(format!(
                            "tunnels[{kind}]: (UE sent, UE received) {:?} bytes by its sessions, wg show {:?}",
                            (up, down),
                            (p.tx_bytes, p.rx_bytes)
                        ));
                    }
                }
            }
        }
        if let Some(ov) = &self.openvpn {
            let c = &ov.client;
            let sockets = c.link_write_bytes + c.link_read_bytes;
            if t.transport.as_str() == "tcp" {
                let Some(w) = &ov.wire else { return bad };
                let from_server: u64 = w.opcodes.iter().filter(|x| !x.from_client).map(|x| x.packets).sum();
                if t.bytes != sockets + 2 * from_server {
                    bad.push(format!(
                        "tunnels[{kind}]: {} bytes of OpenVPN packets with their lengths, the client's status file {} written and {} read (+ 2 for each of the server's {from_server} packets)",
                        t.bytes, c.link_write_bytes, c.link_read_bytes
                    ));
                }
            } else if let Some(o) = overhead {
                let payload = t.bytes.saturating_sub(o * t.packets);
                if payload != sockets {
                    bad.push(format!(
                        "tunnels[{kind}]: {payload} bytes of UDP payload ({} bytes less {o} per packet), the client's status file {} written and {} read",
                        t.bytes, c.link_write_bytes, c.link_read_bytes
                    ));
                }
            } else {
                bad.push(format!("tunnels[{kind}]: bytes not compared: outer link type {link:?}"));
            }
            if let (Some(ro), Some(inner)) = (&t.openvpn, self.packets.inner) {
                if ro.data_packets != inner {
                    bad.push(format!(
                        "tunnels[{kind}]: {} data packets, tcpdump saw {inner} packets on {}",
                        ro.data_packets,
                        self.tun.as_ref().map_or("the TUN", |x| x.name.as_str())
                    ));
                }
            }
        }
        bad
    }
}

/// The link type of a pcap file (tcpdump's format; not pcapng), by the name the report gives it.
fn pcap_link_name(path: &Path) -> Option<String> {
    use std::io::Read;
    let mut head = [0u8; 24];
    std::fs::File::open(path).ok()?.read_exact(&mut head).ok()?;
    let magic = u32::from_le_bytes(head[..4].try_into().ok()?);
    let field = head[20..24].try_into().ok()?;
    let linktype = match magic {
        0xa1b2_c3d4 | 0xa1b2_3c4d => u32::from_le_bytes(field),
        0xd4c3_b2a1 | 0x4d3c_b2a1 => u32::from_be_bytes(field),
        _ => return None,
    };
    // The low 16 bits: the rest are FCS flags.
    Some(tuntrace_core::linktype::name(linktype & 0xffff).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tuntrace_core::report::{
        App, Backend, IkeSa, IkeState, Interface, InterfaceKind, ProcRef, Proto, Sip, SipMessage, SipRegistration,
        Source, SourceKind, Stats, Time, Transport,
    };

    fn truth() -> GroundTruth {
        GroundTruth {
            schema: SCHEMA.into(),
            scenario: ScenarioInfo {
                prefix: "t-".into(),
                auth: "psk".into(),
                sip_transport: "udp".into(),
                ipv6_outer: false,
                register: true,
                calls: 0,
                ue_namespace: "t-ue".into(),
                epdg_namespace: "t-epdg".into(),
                outer_iface: "t-ue0".into(),
                tunnel: "ipsec".into(),
            },
            ike_sas: vec![IkeSaTruth {
                name: "ims".into(),
                version: 2,
                initiator_spi: "33b5d38250cb558d".into(),
                responder_spi: "f9d446cd4df251c1".into(),
                state: "established".into(),
                is_initiator: true,
                local_address: "198.18.0.2".into(),
                local_port: 4500,
                remote_address: "198.18.0.1".into(),
                remote_port: 4500,
                nat_any: true,
                local_vips: vec!["198.19.1.1".into()],
                child_sas: vec![ChildSaTruth {
                    name: "ims".into(),
                    spi_in: "530149f3".into(),
                    spi_out: "19f77a3e".into(),
                    encap: true,
                    mode: "TUNNEL".into(),
                    protocol: "ESP".into(),
                    packets_in: Some(2),
                    packets_out: Some(2),
                    bytes_in: None,
                    bytes_out: None,
                    local_ts: vec![],
                    remote_ts: vec![],
                }],
            }],
            epdg_ike_sas: vec![],
            charon_pids: CharonPids { ue: 1, epdg: 2 },
            ipsec0_holder: None,
            virtual_ip: Some("198.19.1.1".into()),
            pcscf: Some("198.19.0.1".into()),
            pcscf_received_by_ue: true,
            sip: vec![SipDialog {
                call_id: "1-8384@198.19.1.1".into(),
                transport: "udp".into(),
                messages: 4,
                sent: 2,
                received: 2,
                sequence: vec!["REGISTER".into(), "401".into(), "REGISTER".into(), "200".into()],
            }],
            packets: PacketCounts::default(),
            captures: Captures { outer: Some("/x/outer.pcap".into()), inner: None },
            timings_ms: Timings::default(),
            tun: None,
            daemons: vec![],
            wireguard: None,
            openvpn: None,
        }
    }

    /// A WireGuard run's truth as the lab writes it (values from a real run).
    fn wg_truth() -> GroundTruth {
        let mut t = truth();
        t.scenario.tunnel = "wireguard".into();
        t.scenario.auth = "public-key".into();
        t.ike_sas.clear();
        t.sip.clear();
        t.charon_pids = CharonPids { ue: 0, epdg: 0 };
        t.packets = PacketCounts { outer: Some(9), inner: Some(6) };
        t.tun = Some(TunTruth {
            name: "wg0".into(),
            namespace: "t-ue".into(),
            holder: Some(Holder { pid: 41, comm: "wireguard-go".into(), fd: 7 }),
            address: Some("198.19.2.2".into()),
            peer_address: Some("198.19.2.1".into()),
        });
        t.daemons = vec![
            DaemonTruth { side: "ue".into(), program: "wireguard-go".into(), pid: 41 },
            DaemonTruth { side: "epdg".into(), program: "wireguard-go".into(), pid: 42 },
        ];
        let peer = |key: &str, end: &str| WgPeer {
            public_key: key.into(),
            endpoint: Some(end.into()),
            allowed_ips: vec![],
            latest_handshake: 1796338813,
            rx_bytes: 812,
            tx_bytes: 1332,
            persistent_keepalive: None,
        };
        t.wireguard = Some(WireGuardTruth {
            ue: WgInterface {
                public_key: "U=".into(),
                listen_port: 40024,
                peers: vec![peer("E=", "198.18.0.1:51820")],
            },
            epdg: WgInterface {
                public_key: "E=".into(),
                listen_port: 51820,
                peers: vec![peer("U=", "198.18.0.2:40024")],
            },
            wire: Some(WgWire {
                initiations: 1,
                responses: 1,
                cookie_replies: 0,
                transport: 7,
                keepalives: 1,
                handshakes: vec![WgHandshakeWire {
                    initiator: "198.18.0.2:40024".into(),
                    initiator_index: "f0b0b683".into(),
                    responder_index: Some("a1e2207e".into()),
                }],
                sessions: vec![],
            }),
        });
        t
    }

    fn wg_report() -> Report {
        let iface = |name: &str, packets: u64, owner: Option<(u32, &str)>| Interface {
            name: Some(name.into()),
            kind: InterfaceKind::Other,
            mtu: None,
            addresses: vec![],
            owner: owner.map(|(pid, comm)| ProcRef { pid, comm: Some(comm.into()), exe: None }),
            created_by: None,
            packets,
            bytes: 0,
            linktype: "EN10MB".into(),
            netns: None,
            ifindex: None,
            removed: None,
            created_before_trace: false,
            host: Default::default(),
        };
        let flow = |iface: &str, src: &str, sport: u16, dst: &str, dport: u16, packets: u64| Flow {
            iface: Some(iface.into()),
            proto: Proto::Udp,
            src: src.into(),
            sport: Some(sport),
            dst: dst.into(),
            dport: Some(dport),
            app: App::Other,
            pid: None,
            comm: None,
            packets,
            bytes: 0,
            first: Time::from_micros(0),
            last: Time::from_micros(0),
            tunnel: None,
        };
        Report {
            interfaces: vec![iface("t-ue0", 9, None), iface("wg0", 6, Some((41, "wireguard-go")))],
            flows: vec![
                flow("t-ue0", "198.18.0.2", 40024, "198.18.0.1", 51820, 9),
                flow("wg0", "198.19.2.2", 5060, "198.19.2.1", 5060, 6),
            ],
            ike_sas: vec![],
            esp_sas: vec![],
            sip: Sip::default(),
            ..matching_report()
        }
    }

    #[test]
    fn vpn_report_interfaces_and_flows_are_checked() {
        let t = wg_truth();
        assert_eq!(t.check_report_interfaces(&wg_report()), Vec::<String>::new());
        assert!(t.check_report(&wg_report()).is_empty(), "no IKE, ESP or SIP to disagree on");
        let mut r = wg_report();
        r.interfaces[1].owner.as_mut().unwrap().pid = 7;
        r.flows[0].sport = Some(40025);
        r.flows[1].packets = 5;
        let bad = t.check_report_interfaces(&r);
        assert_eq!(bad.len(), 3, "{bad:?}");
        assert!(bad[0].contains("owner pid Some(7)"), "{bad:?}");
        assert!(bad[1].contains("want one udp flow"), "{bad:?}");
        assert!(bad[2].contains("5 packets in all"), "{bad:?}");
        let mut r = wg_report();
        r.flows[1].dst = "198.19.9.9".into();
        assert!(t.check_report_interfaces(&r)[0].contains("is not between"));
        // The kernel's own MLD report on the outer link is nobody's traffic; a stray UDP flow
        // from the unspecified address still is.
        let mut r = wg_report();
        let mut mld = r.flows[0].clone();
        (mld.proto, mld.src, mld.sport, mld.dst, mld.dport) =
            (Proto::Other, "::".into(), None, "ff02::16".into(), None);
        r.flows.push(mld.clone());
        assert_eq!(t.check_report_interfaces(&r), Vec::<String>::new());
        mld.proto = Proto::Udp;
        r.flows.push(mld);
        assert!(!t.check_report_interfaces(&r).is_empty());
        let empty = Report { interfaces: vec![], flows: vec![], ..wg_report() };
        assert_eq!(t.check_report_interfaces(&empty).len(), 5, "{:?}", t.check_report_interfaces(&empty));
        assert_eq!(truth().check_report_interfaces(&wg_report()).len(), 1, "a truth without tun says so");
    }

    #[test]
    fn tunnels_hook_holds_ids_and_counts() {
        use tuntrace_core::report::{Tunnel, TunnelKind, TunnelTransport, WireGuardSession, WireGuardTunnel};
        let t = wg_truth();
        let at = Time::from_micros(0);
        let tunnel = Tunnel {
            kind: TunnelKind::Wireguard,
            transport: TunnelTransport::Udp,
            iface: Some("t-ue0".into()),
            src: "198.18.0.2".into(),
            sport: Some(40024),
            dst: "198.18.0.1".into(),
            dport: Some(51820),
            ids: vec!["f0b0b683".into(), "a1e2207e".into()],
            ids_elided: 0,
            variant: None,
            packets: 9,
            // wg show's 1332 sent and 812 received, and 42 bytes of Ethernet, IPv4 and UDP each.
            bytes: 2522,
            first: at,
            last: at,
            inner_flows: 0,
            pid: None,
            comm: None,
            tunnel: None,
            wireguard: Some(WireGuardTunnel {
                initiations: 1,
                responses: 1,
                transport_packets: 7,
                handshakes: 1,
                sessions: vec![WireGuardSession {
                    initiator_index: "f0b0b683".into(),
                    responder_index: Some("a1e2207e".into()),
                    initiator: "198.18.0.2:40024".into(),
                    started: at,
                    packets_to_responder: 4,
                    bytes_to_responder: 1352,
                    packets_to_initiator: 3,
                    bytes_to_initiator: 846,
                }],
                ..Default::default()
            }),
            openvpn: None,
            gre: None,
        };
        let r = Report { tunnels: vec![tunnel.clone()], ..wg_report() };
        assert_eq!(t.check_report_tunnels(&r), Vec::<String>::new());
        let mut short = tunnel.clone();
        short.ids.pop();
        short.packets = 8;
        let bad = t.check_report_tunnels(&Report { tunnels: vec![short], ..wg_report() });
        assert_eq!(bad.len(), 3, "{bad:?}");
        assert!(bad[0].contains("a1e2207e") && bad[1].contains("tshark counted 9"), "{bad:?}");
        // A packet fewer with the same bytes: 42 more bytes of payload than wg show counted.
        assert!(bad[2].contains("2186 bytes of UDP payload"), "{bad:?}");
        // A byte off in one direction: both the total and that direction disagree with wg show.
        let mut off = tunnel.clone();
        off.bytes += 1;
        off.wireguard.as_mut().unwrap().sessions[0].bytes_to_initiator += 1;
        let bad = t.check_report_tunnels(&Report { tunnels: vec![off], ..wg_report() });
        assert_eq!(bad.len(), 2, "{bad:?}");
        assert!(
            bad[0].contains("2145 bytes of UDP payload") && bad[0].contains("sent 1332 and received 812"),
            "{bad:?}"
        );
        assert!(bad[1].contains("(1332, 813) bytes by its sessions, wg show (1332, 812)"), "{bad:?}");
        // Another link type's headers are taken off as they are.
        let mut sll = wg_report();
        sll.interfaces[0].linktype = "LINUX_SLL".into();
        let mut t_sll = tunnel.clone();
        t_sll.bytes += 2 * 9;
        for s in &mut t_sll.wireguard.as_mut().unwrap().sessions {
            s.bytes_to_responder += 2 * 4;
            s.bytes_to_initiator += 2 * 3;
        }
        assert_eq!(t.check_report_tunnels(&Report { tunnels: vec![t_sll], ..sll }), Vec::<String>::new());
        let mut unpaired = tunnel;
        unpaired.wireguard.as_mut().unwrap().sessions[0].responder_index = None;
        let bad = t.check_report_tunnels(&Report { tunnels: vec![unpaired], ..wg_report() });
        assert!(bad.len() == 1 && bad[0].contains("not paired"), "{bad:?}");
        assert_eq!(t.check_report_tunnels(&wg_report()), vec!["tunnels: 0 of kind wireguard, want 1"]);
        assert_eq!(truth().check_report_tunnels(&wg_report()), Vec::<String>::new(), "IPsec: nothing to hold");
    }

    /// An OpenVPN run over UDP and over TCP (counts of a real run's shape): the report's ids,
    /// packet classes and bytes held to tshark, the client's status file and tun0's capture.
    #[test]
    fn openvpn_tunnel_bytes_are_held_to_the_status_file() {
        use tuntrace_core::report::{OpenVpnTunnel, Tunnel, TunnelKind, TunnelTransport};
        let op = |opcode: &str, from_client: bool, packets: u64| OvpnOpcodeCount {
            opcode: opcode.into(),
            from_client,
            packets,
            bytes: 0,
        };
        let mut t = wg_truth();
        t.wireguard = None;
        t.scenario.tunnel = "openvpn".into();
        t.packets = PacketCounts { outer: Some(14), inner: Some(6) };
        let wire = OvpnWire {
            transport: "udp".into(),
            client: "198.18.0.2:50000".into(),
            server: "198.18.0.1:1194".into(),
            client_session_ids: vec!["1d4a3f29e43c0ab1".into()],
            server_session_ids: vec!["9f00aa00bb00cc00".into()],
            key_ids: vec![0],
            peer_ids: vec![0],
            opcodes: vec![
                op("P_CONTROL_HARD_RESET_CLIENT_V2", true, 1),
                op("P_CONTROL_HARD_RESET_SERVER_V2", false, 1),
                op("P_CONTROL_V1", true, 2),
                op("P_CONTROL_V1", false, 2),
                op("P_ACK_V1", true, 1),
                op("P_ACK_V1", false, 1),
                op("P_DATA_V2", true, 3),
                op("P_DATA_V2", false, 3),
            ],
            handshake: vec![],
        };
        t.openvpn = Some(OpenVpnTruth {
            transport: "udp".into(),
            port: 1194,
            client: ClientStatus { link_write_bytes: 3000, link_read_bytes: 2000, ..Default::default() },
            server: vec![],
            client_log: Default::default(),
            wire: Some(wire),
        });
        let at = Time::from_micros(0);
        let tunnel = Tunnel {
            kind: TunnelKind::Openvpn,
            transport: TunnelTransport::Udp,
            iface: Some("t-ue0".into()),
            src: "198.18.0.2".into(),
            sport: Some(50000),
            dst: "198.18.0.1".into(),
            dport: Some(1194),
            ids: vec!["1d4a3f29e43c0ab1".into(), "9f00aa00bb00cc00".into()],
            ids_elided: 0,
            variant: Some("tls-auth".into()),
            packets: 14,
            bytes: 5000 + 42 * 14,
            first: at,
            last: at,
            inner_flows: 0,
            pid: None,
            comm: None,
            tunnel: None,
            wireguard: None,
            openvpn: Some(OpenVpnTunnel {
                client_session_ids: vec!["1d4a3f29e43c0ab1".into()],
                server_session_ids: vec!["9f00aa00bb00cc00".into()],
                key_ids: vec![0],
                peer_ids: vec![0],
                control_packets: 6,
                ack_packets: 2,
                data_packets: 6,
                data_bytes: 600,
                client: Some("198.18.0.2:50000".into()),
            }),
            gre: None,
        };
        let check =
            |t: &GroundTruth, x: &Tunnel| t.check_report_tunnels(&Report { tunnels: vec![x.clone()], ..wg_report() });
        assert_eq!(check(&t, &tunnel), Vec::<String>::new());
        let mut off = tunnel.clone();
        off.bytes -= 1;
        off.openvpn.as_mut().unwrap().data_packets = 5;
        off.openvpn.as_mut().unwrap().control_packets = 7;
        let bad = check(&t, &off);
        assert_eq!(bad.len(), 3, "{bad:?}");
        assert!(bad[0].contains("(control, ack, data) packets (7, 2, 5), tshark (6, 2, 6)"), "{bad:?}");
        assert!(
            bad[1].contains("4999 bytes of UDP payload") && bad[1].contains("3000 written and 2000 read"),
            "{bad:?}"
        );
        assert!(bad[2].contains("5 data packets, tcpdump saw 6 packets on wg0"), "{bad:?}");
        // Over TCP the report counts each OpenVPN packet with its length; the status file counts
        // the lengths on writes only: 2 bytes for each of the server's 7 packets are the difference.
        let o = t.openvpn.as_mut().unwrap();
        o.transport = "tcp".into();
        o.wire.as_mut().unwrap().transport = "tcp".into();
        let tcp = Tunnel { transport: TunnelTransport::Tcp, bytes: 5000 + 2 * 7, ..tunnel };
        assert_eq!(check(&t, &tcp), Vec::<String>::new());
        let bad = check(&t, &Tunnel { bytes: 5000, ..tcp });
        assert!(bad.len() == 1 && bad[0].contains("5000 bytes of OpenVPN packets"), "{bad:?}");
    }

    #[test]
    fn outer_link_type_from_a_pcap_header() {
        let dir = std::env::temp_dir().join(format!("tuntrace-truth-link-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let write = |name: &str, magic: [u8; 4], link: [u8; 4]| {
            let mut h = magic.to_vec();
            h.extend([0u8; 16]);
            h.extend(link);
            let p = dir.join(name);
            std::fs::write(&p, h).unwrap();
            p
        };
        let le = write("le.pcap", [0xd4, 0xc3, 0xb2, 0xa1], 1u32.to_le_bytes());
        let be = write("be.pcap", [0xa1, 0xb2, 0xc3, 0xd4], 113u32.to_be_bytes());
        let ng = write("x.pcapng", [0x0a, 0x0d, 0x0d, 0x0a], [0; 4]);
        assert_eq!(pcap_link_name(&le).as_deref(), Some("EN10MB"));
        assert_eq!(pcap_link_name(&be).as_deref(), Some("LINUX_SLL"));
        assert_eq!(pcap_link_name(&ng), None);
        assert_eq!(pcap_link_name(&dir.join("missing.pcap")), None);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn vpn_summary_names_the_daemons_view() {
        let s = wg_truth().summary();
        assert!(s.contains("wg show (UE): public key U=, listening on 40024"), "{s}");
        assert!(s.contains("handshake from 198.18.0.2:40024 indices f0b0b683/a1e2207e"), "{s}");
        assert!(s.contains("wg0 held by wireguard-go (pid 41, fd 7)"), "{s}");
        assert!(!s.contains("charon"), "{s}");
    }

    #[test]
    fn old_truth_files_still_read() {
        // The fixture's truth.json predates the tunnel fields: it reads as the IPsec scenario.
        let mut v = serde_json::to_value(truth()).unwrap();
        v["scenario"].as_object_mut().unwrap().remove("tunnel");
        v["timings_ms"].as_object_mut().unwrap().remove("tunnel");
        let t: GroundTruth = serde_json::from_value(v).unwrap();
        assert!(t.is_ipsec() && t.tun.is_none() && t.wireguard.is_none());
        let back: GroundTruth = serde_json::from_str(&serde_json::to_string(&wg_truth()).unwrap()).unwrap();
        assert_eq!(back, wg_truth());
    }

    fn matching_report() -> Report {
        let esp = |spi: &str| EspSa {
            spi: spi.into(),
            src: "198.18.0.2".into(),
            dst: "198.18.0.1".into(),
            encap: Encap::Udp,
            packets: 2,
            bytes: 0,
            ike_sa: Some(0),
            first_seq: None,
            last_seq: None,
            seq_gaps: 0,
            iface: None,
            seq_repeats: 0,
            seq_reordered: 0,
            pid: None,
            comm: None,
            null_encryption: false,
        };
        let m = |method: Option<&str>, status: Option<u16>| SipMessage {
            at: Time::from_micros(0),
            src: "198.19.1.1".into(),
            dst: "198.19.0.1".into(),
            transport: Transport::Udp,
            method: method.map(str::to_string),
            status,
            cseq: None,
            sport: 5060,
            dport: 5060,
            reason: None,
            sdp: vec![],
        };
        Report {
            schema: tuntrace_core::report::SCHEMA,
            source: Source { kind: SourceKind::Replay, backend: Backend::Pcap, inputs: vec![] },
            stats: Stats::default(),
            interfaces: vec![],
            processes: vec![],
            flows: vec![],
            sockets: vec![],
            ike_sas: vec![IkeSa {
                version: 2,
                initiator_spi: "33b5d38250cb558d".into(),
                responder_spi: Some("f9d446cd4df251c1".into()),
                initiator: "198.18.0.2".into(),
                initiator_port: 4500,
                responder: "198.18.0.1".into(),
                responder_port: 4500,
                nat_t: true,
                state: IkeState::Established,
                exchanges: vec![],
                vendor_ids: vec![],
                pid: None,
                comm: None,
                proposals: vec![],
                chosen: None,
                ke_group: None,
                notifies: vec![],
                encrypted_payloads: 0,
                nat_detected: None,
                iface: None,
                owners: vec![],
                tunnel: None,
                malformed: vec![],
                exchange_counts: vec![],
                exchanges_elided: None,
            }],
            esp_sas: vec![esp("19f77a3e"), esp("530149f3")],
            sip: Sip {
                dialogs: vec![],
                registrations: vec![SipRegistration {
                    call_id: "1-8384@198.19.1.1".into(),
                    aor: None,
                    registrar: None,
                    result: Some(200),
                    messages: vec![
                        m(Some("REGISTER"), None),
                        m(None, Some(401)),
                        m(Some("REGISTER"), None),
                        m(None, Some(200)),
                    ],
                    pid: None,
                    comm: None,
                    tunnel: None,
                    message_counts: vec![],
                    messages_elided: None,
                }],
            },
            verdicts: vec![],
            malformed: vec![],
            unknown_linktypes: vec![],
            errors: vec![],
            tunnels: vec![],
            host: Default::default(),
        }
    }

    #[test]
    fn summary_names_what_the_peers_said() {
        let s = truth().summary();
        assert!(s.contains("IKEv2 SA established 33b5d38250cb558d/f9d446cd4df251c1"), "{s}");
        assert!(s.contains("ESP SPIs in 530149f3 out 19f77a3e (UDP-encapsulated)"), "{s}");
        assert!(s.contains("SIP 1-8384@198.19.1.1 (udp): REGISTER 401 REGISTER 200"), "{s}");
        assert!(s.contains("ipsec0 held by nobody found"), "{s}");
    }

    #[test]
    fn matching_report_passes() {
        assert_eq!(truth().check_report(&matching_report()), Vec::<String>::new());
    }

    #[test]
    fn each_disagreement_is_named() {
        let mut r = matching_report();
        r.ike_sas[0].responder_spi = Some("0000000000000000".into());
        r.esp_sas[1].packets = 1;
        r.sip.registrations[0].messages[1].status = Some(407);
        let bad = truth().check_report(&r);
        assert_eq!(bad.len(), 3, "{bad:?}");
        assert!(bad[0].contains("responder_spi"));
        assert!(bad[1].contains("530149f3"));
        assert!(bad[2].contains("407"));
        let nothing = Report { ike_sas: vec![], esp_sas: vec![], sip: Sip::default(), ..matching_report() };
        assert_eq!(truth().check_report(&nothing).len(), 4);
    }

    #[test]
    fn json_round_trip_and_relative_paths() {
        let t = truth().with_relative_captures();
        assert_eq!(t.captures.outer.as_deref(), Some(Path::new("outer.pcap")));
        let text = serde_json::to_string(&t).unwrap();
        let mut back: GroundTruth = serde_json::from_str(&text).unwrap();
        assert_eq!(back, t);
        back.resolve_captures(Path::new("/fix"));
        assert_eq!(back.captures.outer.as_deref(), Some(Path::new("/fix/outer.pcap")));
    }
}
