//! The scenario: captures on, IKE, REGISTER, calls, captures off, then ask every peer what
//! happened.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::procs::{self, Proc, Stopped};
use super::strongswan::{self, get, get_list, get_section};
use super::truth::{
    self, CharonPids, ChildSaTruth, GroundTruth, Holder, IkeSaTruth, PacketCounts, ScenarioInfo, Timings,
};
use super::{ms, netns, poll, sipp, tail, write, Charon, Lab, LabError};

/// Programs the lab runs inside its namespaces; nothing else is ever signalled by a sweep.
const LAB_PROGRAMS: [&str; 5] = ["charon", "tcpdump", "sipp", "wireguard-go", "openvpn"];

/// Pids of processes whose network namespace is `ns`.
fn pids_in(ns: &str) -> Vec<u32> {
    let Some(ino) = netns::inode(ns) else {
        return Vec::new();
    };
    let want = format!("net:[{ino}]");
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    rd.filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()))
        .filter(|pid| {
            std::fs::read_link(format!("/proc/{pid}/ns/net")).map(|l| l.to_string_lossy() == want).unwrap_or(false)
        })
        .collect()
}

/// End lab programs left inside one of the lab's own namespaces (a run killed before it could
/// record a pid). Other programs in there are not touched.
pub(crate) fn stop_lab_programs_in(ns: &str) -> Vec<Stopped> {
    let mut out = Vec::new();
    for pid in pids_in(ns) {
        let Some(argv) = procs::cmdline(pid) else {
            continue;
        };
        let Some(prog) = procs::program_of(&argv) else {
            continue;
        };
        if LAB_PROGRAMS.contains(&prog) {
            let r = procs::Recorded { what: prog.to_string(), pid, program: prog.to_string() };
            if let Some(s) = procs::stop_recorded(&r, Duration::from_secs(5)) {
                out.push(s);
            }
        }
    }
    out
}

/// The process in namespace `ns` holding the TUN named `iface`, from /proc/PID/fdinfo (`iff:`).
pub fn tun_holder(ns: &str, iface: &str) -> Option<Holder> {
    for pid in pids_in(ns) {
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
            continue;
        };
        for fd in fds.filter_map(|e| e.ok()) {
            let is_tun = std::fs::read_link(fd.path()).map(|t| t == Path::new("/dev/net/tun")).unwrap_or(false);
            if !is_tun {
                continue;
            }
            let Some(n) = fd.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            let info = std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{n}")).unwrap_or_default();
            let holds = info.lines().any(|l| l.strip_prefix("iff:").map(str::trim) == Some(iface));
            if holds {
                let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default().trim().to_string();
                return Some(Holder { pid, comm, fd: n });
            }
        }
    }
    None
}

/// tcpdump's "N packets captured" line.
pub(crate) fn captured(stderr: &str) -> Option<u64> {
    stderr.lines().find_map(|l| {
        l.strip_suffix(" packets captured").or_else(|| l.strip_suffix(" packet captured"))?.trim().parse().ok()
    })
}

fn ike_truth(name: String, s: &strongswan::Section) -> IkeSaTruth {
    let num = |k: &str| get(s, k).and_then(|v| v.parse::<u64>().ok());
    let mut child_sas = Vec::new();
    if let Some(children) = get_section(s, "child-sas") {
        for (_, c) in children.iter().filter_map(|(k, v)| match v {
            strongswan::Value::Section(c) => Some((k, c)),
            _ => None,
        }) {
            let cnum = |k: &str| get(c, k).and_then(|v| v.parse::<u64>().ok());
            child_sas.push(ChildSaTruth {
                name: get(c, "name").unwrap_or_default().to_string(),
                spi_in: get(c, "spi-in").unwrap_or_default().to_ascii_lowercase(),
                spi_out: get(c, "spi-out").unwrap_or_default().to_ascii_lowercase(),
                encap: get(c, "encap") == Some("yes"),
                mode: get(c, "mode").unwrap_or_default().to_string(),
                protocol: get(c, "protocol").unwrap_or_default().to_string(),
                packets_in: cnum("packets-in"),
                packets_out: cnum("packets-out"),
                bytes_in: cnum("bytes-in"),
                bytes_out: cnum("bytes-out"),
                local_ts: get_list(c, "local-ts"),
                remote_ts: get_list(c, "remote-ts"),
            });
        }
    }
    IkeSaTruth {
        name,
        version: num("version").and_then(|v| u8::try_from(v).ok()).unwrap_or(0),
        initiator_spi: get(s, "initiator-spi").unwrap_or_default().to_ascii_lowercase(),
        responder_spi: get(s, "responder-spi").unwrap_or_default().to_ascii_lowercase(),
        state: get(s, "state").unwrap_or_default().to_ascii_lowercase(),
        is_initiator: get(s, "initiator") == Some("yes"),
        local_address: get(s, "local-host").unwrap_or_default().to_string(),
        local_port: num("local-port").and_then(|v| u16::try_from(v).ok()).unwrap_or(0),
        remote_address: get(s, "remote-host").unwrap_or_default().to_string(),
        remote_port: num("remote-port").and_then(|v| u16::try_from(v).ok()).unwrap_or(0),
        nat_any: get(s, "nat-any") == Some("yes"),
        local_vips: get_list(s, "local-vips"),
        child_sas,
    }
}

fn list_sas(c: &Charon) -> Result<Vec<IkeSaTruth>, LabError> {
    let raw = netns::run(&mut strongswan::swanctl(&c.conf, &c.uri(), &["--list-sas", "--raw", "--noblock"]))?;
    let sas = strongswan::parse_list_sas(&raw).map_err(|e| LabError::Peer {
        what: format!("cannot read swanctl --list-sas of charon in {}: {e}", c.ns),
        log: raw.clone(),
    })?;
    Ok(sas.into_iter().map(|(n, s)| ike_truth(n, &s)).collect())
}

pub(crate) fn output_file(path: &Path) -> Result<(File, File), LabError> {
    let f = File::create(path).map_err(|e| LabError::io(format!("create {}", path.display()), e))?;
    let g = f.try_clone().map_err(|e| LabError::io(format!("dup {}", path.display()), e))?;
    Ok((f, g))
}

impl Lab {
    pub(crate) fn track(
        &mut self,
        what: &str,
        program: &str,
        cmd: &mut Command,
        log: &Path,
    ) -> Result<usize, LabError> {
        let (out, err) = output_file(log)?;
        let child = cmd
            .current_dir(&self.cfg.workdir)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| LabError::io(format!("start {what}"), e))?;
        let p = Proc { what: what.to_string(), program: program.to_string(), child };
        self.state.processes.push(p.recorded());
        self.state.save()?;
        self.others.push(p);
        Ok(self.others.len() - 1)
    }

    pub(crate) fn start_tcpdump(&mut self, what: &str, dev: &str, file: &Path) -> Result<usize, LabError> {
        let log = file.with_extension("tcpdump.log");
        let mut cmd = netns::exec_in(&self.names.ns_ue, "tcpdump");
        // -Z root: Debian's tcpdump otherwise drops to user tcpdump, which may not write workdir.
        cmd.args(["-i", dev, "-n", "-s", "0", "--immediate-mode", "-U", "-Z", "root", "-w"]).arg(file);
        let i = self.track(what, "tcpdump", &mut cmd, &log)?;
        let ready = poll(Duration::from_secs(5), || {
            if self.others[i].exited() {
                return Some(false);
            }
            std::fs::read_to_string(&log).ok().filter(|t| t.contains("listening on")).map(|_| true)
        });
        if ready != Some(true) {
            return Err(LabError::Peer {
                what: format!("{what} on {dev} did not start listening within 5 s"),
                log: tail(&log, 10),
            });
        }
        Ok(i)
    }

    /// Run a short-lived SIPp UAC to completion.
    pub(crate) fn run_uac(
        &mut self,
        what: &str,
        cmd: &mut Command,
        log: &Path,
        msg_file: &Path,
    ) -> Result<(), LabError> {
        let i = self.track(what, "sipp", cmd, log)?;
        let finished = self.others[i].wait_for_exit(Duration::from_secs(25));
        let mut p = self.others.remove(i);
        if !finished {
            p.stop("TERM", Duration::from_secs(1));
            return Err(LabError::Peer { what: format!("{what} did not finish within 25 s"), log: tail(msg_file, 30) });
        }
        let status = p.child.wait().map_err(|e| LabError::io(format!("wait {what}"), e))?;
        if !status.success() {
            return Err(LabError::Peer {
                what: format!("{what} failed ({status})"),
                log: format!("{}\n{}", tail(log, 15), tail(msg_file, 30)),
            });
        }
        Ok(())
    }

    /// Run the scenario once: start captures, bring the tunnel up (IKEv2 with forced NAT-T, the
    /// first WireGuard handshake, or the OpenVPN client's connection), REGISTER with digest, the
    /// configured number of calls, stop captures, and collect the peers' own account.
    pub fn run_scenario(&mut self, progress: &mut dyn FnMut(&str)) -> Result<GroundTruth, LabError> {
        self.run_scenario_with(progress, &mut |_| Ok(()))
    }

    /// [`Lab::run_scenario`], calling `tunnel_up` once the tunnel is up and the P-CSCF (SIPp UAS)
    /// listens, before the first SIP message: a test starts a tracer there to see a tunnel and
    /// sockets that existed before it. An error it returns stops the scenario.
    pub fn run_scenario_with(
        &mut self,
        progress: &mut dyn FnMut(&str),
        tunnel_up: &mut dyn FnMut(&super::Names) -> Result<(), String>,
    ) -> Result<GroundTruth, LabError> {
        if self.ran {
            return Err(LabError::BadConfig("run_scenario runs once per lab: bring a new lab up".into()));
        }
        self.ran = true;
        match self.cfg.tunnel {
            super::Tunnel::Ipsec => self.run_ipsec_scenario(progress, tunnel_up),
            _ => self.run_vpn_scenario(progress, tunnel_up),
        }
    }

    fn run_ipsec_scenario(
        &mut self,
        progress: &mut dyn FnMut(&str),
        tunnel_up: &mut dyn FnMut(&super::Names) -> Result<(), String>,
    ) -> Result<GroundTruth, LabError> {
        let t0 = Instant::now();
        let cfg = self.cfg.clone();
        let n = self.names.clone();
        let wd = cfg.workdir.clone();

        let outer_path = wd.join("outer.pcap");
        let inner_path = wd.join("inner.pcap");
        let mut caps: Vec<(usize, PathBuf)> = Vec::new();
        if cfg.capture {
            caps.push((self.start_tcpdump("tcpdump outer", &n.veth_ue, &outer_path)?, outer_path.clone()));
            caps.push((self.start_tcpdump("tcpdump inner", "ipsec0", &inner_path)?, inner_path.clone()));
            progress(&format!("capturing {} and ipsec0 in {}", n.veth_ue, n.ns_ue));
        }

        let dialogs = u32::from(cfg.register) + cfg.calls;
        let sip_dir = wd.join("sip");
        std::fs::create_dir_all(&sip_dir).map_err(|e| LabError::io(format!("create {}", sip_dir.display()), e))?;
        let uas_xml = sip_dir.join("uas.xml");
        let reg_xml = sip_dir.join("uac_register.xml");
        let call_xml = sip_dir.join("uac_call.xml");
        write(&uas_xml, sipp::UAS_XML)?;
        write(&reg_xml, sipp::UAC_REGISTER_XML)?;
        write(&call_xml, sipp::UAC_CALL_XML)?;
        let uas_msgs = sip_dir.join("uas.messages");
        let uas_log = sip_dir.join("uas.log");
        let mut uas = None;
        if dialogs > 0 {
            let mut cmd = sipp::uas_command(&n.ns_epdg, &uas_xml, cfg.sip_transport, dialogs, &uas_msgs);
            let i = self.track("sipp uas", "sipp", &mut cmd, &uas_log)?;
            let pid = self.others[i].pid();
            let ready = poll(Duration::from_secs(5), || {
                if self.others[i].exited() {
                    return Some(false);
                }
                sipp::listening(pid, cfg.sip_transport, sipp::SIP_PORT).then_some(true)
            });
            if ready != Some(true) {
                return Err(LabError::Peer {
                    what: "SIPp UAS (P-CSCF) did not listen on 5060 within 5 s".into(),
                    log: tail(&uas_log, 15),
                });
            }
            progress(&format!(
                "P-CSCF (SIPp UAS) listening on {}:{} ({})",
                netns::PCSCF,
                sipp::SIP_PORT,
                cfg.sip_transport.as_str()
            ));
            uas = Some(i);
        }

        let ue = self.ue.as_ref().ok_or_else(|| LabError::BadConfig("lab is not up".into()))?;
        let t_ike = Instant::now();
        progress("UE initiates IKEv2 to the ePDG (NAT-T forced, asks for a virtual IP)");
        netns::run(&mut strongswan::swanctl(&ue.conf, &ue.uri(), &["--initiate", "--child", "ims", "--timeout", "10"]))
            .map_err(|e| LabError::Peer { what: format!("IKEv2 negotiation failed: {e}"), log: tail(&ue.log, 30) })?;
        let ike_ms = ms(t_ike.elapsed());
        let sas = list_sas(ue)?;
        let vip = sas.first().and_then(|s| s.local_vips.first()).cloned().ok_or_else(|| LabError::Peer {
            what: "IKE_SA up but the UE got no virtual IP".into(),
            log: tail(&ue.log, 30),
        })?;
        let ns_ue = n.ns_ue.clone();
        if poll(Duration::from_secs(5), || netns::addrs_v4(&ns_ue, "ipsec0").ok().filter(|a| a.contains(&vip)))
            .is_none()
        {
            return Err(LabError::Peer {
                what: format!("virtual IP {vip} did not appear on ipsec0 within 5 s"),
                log: tail(&ue.log, 30),
            });
        }
        let spis = sas
            .first()
            .and_then(|s| s.child_sas.first())
            .map(|c| format!("ESP SPIs {}/{}", c.spi_in, c.spi_out))
            .unwrap_or_default();
        progress(&format!("tunnel up in {ike_ms} ms: virtual IP {vip} on ipsec0, {spis}"));
        tunnel_up(&n).map_err(LabError::BadConfig)?;

        let t_sip = Instant::now();
        let mut msg_files = Vec::new();
        if cfg.register {
            let msgs = sip_dir.join("uac_register.messages");
            let mut cmd = sipp::uac_command(&n.ns_ue, &reg_xml, &vip, cfg.sip_transport, 1, &msgs);
            progress("REGISTER through the tunnel (digest challenge expected)");
            self.run_uac("sipp register", &mut cmd, &sip_dir.join("uac_register.log"), &msgs)?;
            msg_files.push(msgs);
        }
        if cfg.calls > 0 {
            let msgs = sip_dir.join("uac_call.messages");
            let mut cmd = sipp::uac_command(&n.ns_ue, &call_xml, &vip, cfg.sip_transport, cfg.calls, &msgs);
            progress(&format!("placing {} call(s): INVITE/180/200/ACK/BYE", cfg.calls));
            self.run_uac("sipp calls", &mut cmd, &sip_dir.join("uac_call.log"), &msgs)?;
            msg_files.push(msgs);
        }
        if let Some(i) = uas {
            if !self.others[i].wait_for_exit(Duration::from_secs(5)) {
                return Err(LabError::Peer {
                    what: "SIPp UAS did not finish its dialogs".into(),
                    log: tail(&uas_msgs, 30),
                });
            }
        }
        let sip_ms = ms(t_sip.elapsed());

        // Counters are read before the captures stop; nothing else crosses the tunnel now.
        let ue = self.ue.as_ref().ok_or_else(|| LabError::BadConfig("lab is not up".into()))?;
        let ike_sas = list_sas(ue)?;
        let pcscf_received_by_ue =
            std::fs::read_to_string(&ue.log).map(|l| l.contains("P_CSCF_IP4_ADDRESS")).unwrap_or(false);
        let ue_pid = ue.proc.pid();
        let epdg = self.epdg.as_ref().ok_or_else(|| LabError::BadConfig("lab is not up".into()))?;
        let epdg_ike_sas = list_sas(epdg)?;
        let epdg_pid = epdg.proc.pid();
        let holder = tun_holder(&n.ns_ue, "ipsec0");

        let mut packets = PacketCounts::default();
        // Stop captures last-started first; indices shift as they are removed, so go by pid.
        let cap_pids: Vec<(u32, PathBuf)> = caps.iter().map(|(i, p)| (self.others[*i].pid(), p.clone())).collect();
        for (pid, path) in cap_pids {
            if let Some(pos) = self.others.iter().position(|p| p.pid() == pid) {
                let mut p = self.others.remove(pos);
                p.stop("TERM", Duration::from_secs(3));
            }
            let count = captured(&std::fs::read_to_string(path.with_extension("tcpdump.log")).unwrap_or_default());
            if path == outer_path {
                packets.outer = count;
            } else {
                packets.inner = count;
            }
        }
        // The UAS has exited; drop its handle (reaped by wait_for_exit).
        self.others.retain_mut(|p| !p.exited());
        if cfg.capture {
            progress(&format!(
                "captures stopped: {} packets on {}, {} on ipsec0",
                packets.outer.map_or("?".into(), |c| c.to_string()),
                n.veth_ue,
                packets.inner.map_or("?".into(), |c| c.to_string())
            ));
        }

        let mut traced = Vec::new();
        for f in &msg_files {
            traced.extend(sipp::parse_trace(&std::fs::read_to_string(f).unwrap_or_default()));
        }
        let sip = sipp::dialogs(&traced, cfg.sip_transport);

        Ok(GroundTruth {
            schema: truth::SCHEMA.into(),
            scenario: ScenarioInfo {
                prefix: cfg.prefix.clone(),
                auth: cfg.auth.as_str().into(),
                sip_transport: cfg.sip_transport.as_str().into(),
                ipv6_outer: cfg.ipv6_outer,
                register: cfg.register,
                calls: cfg.calls,
                ue_namespace: n.ns_ue.clone(),
                epdg_namespace: n.ns_epdg.clone(),
                outer_iface: n.veth_ue.clone(),
                tunnel: cfg.tunnel.as_str().into(),
            },
            tun: Some(truth::TunTruth {
                name: "ipsec0".into(),
                namespace: n.ns_ue.clone(),
                holder: holder.clone(),
                address: Some(vip.clone()),
                peer_address: Some(netns::PCSCF.into()),
            }),
            daemons: vec![
                truth::DaemonTruth { side: "ue".into(), program: "charon".into(), pid: ue_pid },
                truth::DaemonTruth { side: "epdg".into(), program: "charon".into(), pid: epdg_pid },
            ],
            wireguard: None,
            openvpn: None,
            ike_sas,
            epdg_ike_sas,
            charon_pids: CharonPids { ue: ue_pid, epdg: epdg_pid },
            ipsec0_holder: holder,
            virtual_ip: Some(vip),
            pcscf: Some(netns::PCSCF.into()),
            pcscf_received_by_ue,
            sip,
            packets,
            captures: truth::Captures {
                outer: cfg.capture.then(|| outer_path.clone()),
                inner: cfg.capture.then(|| inner_path.clone()),
            },
            timings_ms: Timings {
                up: self.up_ms,
                ike: ike_ms,
                sip: sip_ms,
                scenario: ms(t0.elapsed()),
                tunnel: ike_ms,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_tcpdump_count() {
        let err = "tcpdump: listening on ipsec0, link-type RAW (Raw IP), snapshot length 262144 bytes\n14 packets captured\n14 packets received by filter\n0 packets dropped by kernel\n";
        assert_eq!(captured(err), Some(14));
        assert_eq!(captured("1 packet captured\n"), Some(1));
        assert_eq!(captured("tcpdump: listening on x\n"), None);
    }

    #[test]
    fn own_namespace_has_no_tun_holder_named_like_this() {
        assert!(tun_holder("no-such-namespace-tuntrace", "ipsec0").is_none());
        assert!(pids_in("no-such-namespace-tuntrace").is_empty());
    }
}
