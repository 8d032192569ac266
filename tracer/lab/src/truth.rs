//! What the lab's peers themselves say happened: the yardstick for tuntrace's report.
//!
//! Every value here comes from a peer (swanctl, /proc, SIPp's trace, tcpdump's own counters),
//! never from tuntrace's decoders, so comparing a report against it proves something.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tuntrace_core::report::{Encap, EspSa, Report};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct GroundTruth {
    pub schema: String,
    pub scenario: ScenarioInfo,
    /// IKE SAs as the UE's charon lists them.
    pub ike_sas: Vec<IkeSaTruth>,
    /// The same SAs as the ePDG's charon lists them (SPIs must agree with the UE's).
    pub epdg_ike_sas: Vec<IkeSaTruth>,
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
}

pub const SCHEMA: &str = "tuntrace.lab-truth/1";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ScenarioInfo {
    pub prefix: String,
    pub auth: String,
    pub sip_transport: String,
    pub ipv6_outer: bool,
    pub register: bool,
    pub calls: u32,
    pub ue_namespace: String,
    pub epdg_namespace: String,
    pub outer_iface: String,
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
    pub ike: u64,
    pub sip: u64,
    pub scenario: u64,
}

impl GroundTruth {
    /// The UE's IKE SA (the lab negotiates exactly one).
    pub fn ike(&self) -> Option<&IkeSaTruth> {
        self.ike_sas.first()
    }

    pub fn child(&self) -> Option<&ChildSaTruth> {
        self.ike().and_then(|i| i.child_sas.first())
    }

    /// What the peers said, for people (the `demo` output puts it beside tuntrace's report).
    pub fn summary(&self) -> String {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use tuntrace_core::report::{
        Backend, IkeSa, IkeState, Sip, SipMessage, SipRegistration, Source, SourceKind, Stats, Time, Transport,
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
        }
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
            pid: None,
            comm: None,
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
                }],
            },
            verdicts: vec![],
            malformed: vec![],
            unknown_linktypes: vec![],
            errors: vec![],
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
