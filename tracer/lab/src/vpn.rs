//! The WireGuard and OpenVPN scenarios on the lab's namespaces: bring-up (keys or certificates,
//! the daemons and their TUNs), the scenario run (captures, the tunnel coming up, SIP through
//! it), and what the daemons say happened.
//!
//! Every wait is on a signal the daemons give: the control socket and `wg0` present and `wg show`
//! answering, a handshake in `wg show latest-handshakes` on both sides; OpenVPN's own
//! "Initialization Sequence Completed", its `tun0` appearing, its status file rewritten after the
//! traffic ended.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use super::procs::Proc;
use super::scenario::{captured, output_file, tun_holder};
use super::truth::{
    self, CharonPids, DaemonTruth, GroundTruth, OpenVpnTruth, PacketCounts, ScenarioInfo, SipDialog, Timings, TunTruth,
    WireGuardTruth,
};
use super::{ms, netns, openvpn, poll, procs, sipp, tail, wire, wireguard, write, Daemon, Lab, LabError, Tunnel};

/// What a bring-up generated for this run: removed on teardown.
#[derive(Debug, Default)]
pub(crate) struct Setup {
    /// Private keys and certificates.
    pub files: Vec<PathBuf>,
    /// WireGuard public keys of the UE and of the ePDG.
    wg_public: Option<(String, String)>,
    pki: Option<openvpn::Pki>,
}

/// Run a command with `input` on its standard input; its standard output on success.
fn run_with_input(cmd: &mut Command, input: &str) -> Result<String, LabError> {
    let shown = format!("{cmd:?}").replace('"', "");
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| LabError::io(format!("run {shown}"), e))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(input.as_bytes()).map_err(|e| LabError::io(format!("write to {shown}"), e))?;
    }
    let out = child.wait_with_output().map_err(|e| LabError::io(format!("wait {shown}"), e))?;
    if !out.status.success() {
        return Err(LabError::Command {
            cmd: shown,
            status: out.status.to_string(),
            output: String::from_utf8_lossy(&out.stderr).into_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A private key file readable by root only.
fn write_secret(path: &Path, text: &str) -> Result<(), LabError> {
    use std::os::unix::fs::OpenOptionsExt;
    let _ = std::fs::remove_file(path);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| LabError::io(format!("create {}", path.display()), e))?;
    f.write_all(text.as_bytes()).map_err(|e| LabError::io(format!("write {}", path.display()), e))
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

impl Lab {
    fn daemon(&self, side: &str) -> Result<&Daemon, LabError> {
        self.daemons.iter().find(|d| d.side == side).ok_or_else(|| LabError::BadConfig(format!("no {side} daemon")))
    }

    fn daemon_index(&self, side: &str) -> Option<usize> {
        self.daemons.iter().position(|d| d.side == side)
    }

    /// Start a tunnel daemon, recorded in the state file before anything else happens.
    fn spawn_daemon(
        &mut self,
        side: &'static str,
        program: &str,
        mut cmd: Command,
        log: &Path,
        run_dir: Option<PathBuf>,
    ) -> Result<usize, LabError> {
        let ns = if side == "ue" { self.names.ns_ue.clone() } else { self.names.ns_epdg.clone() };
        let (out, err) = output_file(log)?;
        let child = cmd
            .current_dir(&self.cfg.workdir)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| LabError::io(format!("start {program} in {ns}"), e))?;
        let proc = Proc { what: format!("{program} {side}"), program: program.to_string(), child };
        self.state.processes.push(proc.recorded());
        self.state.save()?;
        self.daemons.push(Daemon { side, ns, proc, run_dir, log: log.to_path_buf() });
        Ok(self.daemons.len() - 1)
    }

    /// Namespaces and veth as for IPsec (IPv4 only), then the tunnel's own daemons.
    pub(crate) fn bring_up_vpn(
        &mut self,
        progress: &mut dyn FnMut(&str),
        on_namespaces: &mut dyn FnMut(&super::Names) -> Result<(), String>,
    ) -> Result<(), LabError> {
        let n = self.names.clone();
        progress(&format!(
            "creating namespaces {} and {} joined by {} <-> {} (198.18.0.0/30)",
            n.ns_ue, n.ns_epdg, n.veth_ue, n.veth_epdg
        ));
        netns::create(&n, false)?;
        on_namespaces(&n).map_err(LabError::BadConfig)?;
        super::mkdir(&self.cfg.workdir)?;
        match self.cfg.tunnel {
            Tunnel::WireGuard => self.bring_up_wireguard(progress),
            Tunnel::OpenVpn { tcp } => self.bring_up_openvpn(tcp, progress),
            Tunnel::Ipsec => Err(LabError::BadConfig("the IPsec lab is brought up by Lab::bring_up".into())),
        }
    }

    fn wg(&self, side: &str, args: &[&str]) -> Result<String, LabError> {
        let d = self.daemon(side)?;
        let run_dir = d.run_dir.as_deref().ok_or_else(|| LabError::BadConfig("wireguard-go without a /run".into()))?;
        netns::run(&mut wireguard::wg(&d.ns, run_dir, args)).map_err(|e| LabError::Peer {
            what: format!("wg {} in {} failed: {e}", args.join(" "), d.ns),
            log: tail(&d.log, 20),
        })
    }

    fn bring_up_wireguard(&mut self, progress: &mut dyn FnMut(&str)) -> Result<(), LabError> {
        let dir = self.cfg.workdir.join("wireguard");
        super::mkdir(&dir)?;
        // Keys made for this run only (removed on teardown): nothing secret is shipped.
        let mut keys = Vec::new();
        for side in ["ue", "epdg"] {
            let private = netns::run(Command::new("wg").arg("genkey"))?.trim().to_string();
            let public = run_with_input(Command::new("wg").arg("pubkey"), &private)?.trim().to_string();
            let path = dir.join(format!("{side}.key"));
            write_secret(&path, &private)?;
            self.vpn.files.push(path.clone());
            keys.push((path, public));
        }
        progress("WireGuard keys made with wg genkey / wg pubkey");
        self.vpn.wg_public = Some((keys[0].1.clone(), keys[1].1.clone()));
        for side in ["ue", "epdg"] {
            let ns = if side == "ue" { self.names.ns_ue.clone() } else { self.names.ns_epdg.clone() };
            let run_dir = procs::state_dir(&self.cfg.prefix).join(format!("run-{side}"));
            super::mkdir(&run_dir)?;
            let log = dir.join(format!("{side}.log"));
            let i =
                self.spawn_daemon(side, "wireguard-go", wireguard::daemon_command(&ns, &run_dir), &log, Some(run_dir))?;
            progress(&format!("wireguard-go in {ns} started (pid {})", self.daemons[i].proc.pid()));
        }
        for side in ["ue", "epdg"] {
            self.await_wireguard(side)?;
            progress(&format!("wireguard-go in {} ready: wg0 exists, wg show answers", self.daemon(side)?.ns));
        }
        netns::wait_carrier(&self.names)?;
        let (ue_pub, epdg_pub) = (keys[0].1.clone(), keys[1].1.clone());
        let (ue_key, epdg_key) = (keys[0].0.to_string_lossy().into_owned(), keys[1].0.to_string_lossy().into_owned());
        let port = wireguard::PORT.to_string();
        let ue_allowed = format!("{}/32", wireguard::UE_ADDR);
        self.wg(
            "epdg",
            &[
                "set",
                wireguard::IFACE,
                "listen-port",
                &port,
                "private-key",
                &epdg_key,
                "peer",
                &ue_pub,
                "allowed-ips",
                &ue_allowed,
            ],
        )?;
        let endpoint = format!("{}:{port}", netns::EPDG_V4);
        self.wg(
            "ue",
            &[
                "set",
                wireguard::IFACE,
                "private-key",
                &ue_key,
                "peer",
                &epdg_pub,
                "allowed-ips",
                wireguard::TUNNEL_NET,
                "endpoint",
                &endpoint,
            ],
        )?;
        for (ns, addr) in [(&self.names.ns_ue, wireguard::UE_ADDR), (&self.names.ns_epdg, wireguard::EPDG_ADDR)] {
            netns::ip(&["-n", ns, "addr", "add", &format!("{addr}/24"), "dev", wireguard::IFACE])?;
            netns::ip(&["-n", ns, "link", "set", wireguard::IFACE, "up"])?;
        }
        progress(&format!(
            "wg0 configured: UE {} -> ePDG {} (endpoint {endpoint}); no handshake until the scenario",
            wireguard::UE_ADDR,
            wireguard::EPDG_ADDR
        ));
        Ok(())
    }

    /// Ready means: the control socket exists, wg0 is in the namespace, and `wg show` answers.
    fn await_wireguard(&mut self, side: &str) -> Result<(), LabError> {
        let i = self.daemon_index(side).ok_or_else(|| LabError::BadConfig(format!("no {side} daemon")))?;
        let limit = Duration::from_secs(10);
        let (ns, run_dir, log) = {
            let d = &self.daemons[i];
            (d.ns.clone(), d.run_dir.clone().unwrap_or_default(), d.log.clone())
        };
        let ready = poll(limit, || {
            if self.daemons[i].proc.exited() {
                return Some(false);
            }
            let ok = wireguard::socket(&run_dir).exists()
                && netns::links(&ns).map(|l| l.iter().any(|x| x == wireguard::IFACE)).unwrap_or(false)
                && wireguard::wg(&ns, &run_dir, &["show", wireguard::IFACE])
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .map(|s| s.success())
                    .unwrap_or(false);
            ok.then_some(true)
        });
        match ready {
            Some(true) => Ok(()),
            Some(false) => Err(LabError::Peer {
                what: format!("wireguard-go in {ns} exited during start-up"),
                log: tail(&log, 20),
            }),
            None => Err(LabError::Peer {
                what: format!("wireguard-go in {ns} did not create wg0 and answer on its socket within 10 s"),
                log: tail(&log, 20),
            }),
        }
    }

    fn bring_up_openvpn(&mut self, tcp: bool, progress: &mut dyn FnMut(&str)) -> Result<(), LabError> {
        let dir = self.cfg.workdir.join("openvpn");
        super::mkdir(&dir)?;
        let pki = openvpn::Pki::in_dir(&dir);
        for f in pki.files() {
            let _ = std::fs::remove_file(f);
            self.vpn.files.push(f.to_path_buf());
        }
        for mut c in pki.commands() {
            netns::run(&mut c)?;
        }
        progress("a CA and the ePDG's and UE's certificates made with openssl");
        let status = dir.join("server.status");
        let log = dir.join("server.log");
        let _ = std::fs::remove_file(&status);
        let ns = self.names.ns_epdg.clone();
        let i = self.spawn_daemon(
            "epdg",
            "openvpn",
            openvpn::server_command(&ns, &pki, tcp, self.cfg.openvpn_port, &status),
            &log,
            None,
        )?;
        progress(&format!(
            "OpenVPN server in {ns} started (pid {}), {} port {}",
            self.daemons[i].proc.pid(),
            if tcp { "TCP" } else { "UDP" },
            self.cfg.openvpn_port
        ));
        self.vpn.pki = Some(pki);
        self.await_openvpn(i, Duration::from_secs(10))?;
        progress(&format!(
            "OpenVPN server in {ns} ready: tun0 {} exists, initialization completed",
            openvpn::EPDG_ADDR
        ));
        netns::wait_carrier(&self.names)?;
        Ok(())
    }

    /// Ready means: the daemon logged "Initialization Sequence Completed" and its tun0 carries
    /// its tunnel address.
    fn await_openvpn(&mut self, i: usize, limit: Duration) -> Result<(), LabError> {
        let (ns, log, side) = (self.daemons[i].ns.clone(), self.daemons[i].log.clone(), self.daemons[i].side);
        let want = if side == "ue" { openvpn::UE_ADDR } else { openvpn::EPDG_ADDR };
        let ready = poll(limit, || {
            if self.daemons[i].proc.exited() {
                return Some(false);
            }
            let done = std::fs::read_to_string(&log).map(|t| t.contains(openvpn::READY)).unwrap_or(false)
                && netns::addrs_v4(&ns, openvpn::IFACE).map(|a| a.iter().any(|x| x == want)).unwrap_or(false);
            done.then_some(true)
        });
        match ready {
            Some(true) => Ok(()),
            Some(false) => Err(LabError::Peer { what: format!("openvpn in {ns} exited"), log: tail(&log, 25) }),
            None => Err(LabError::Peer {
                what: format!(
                    "openvpn in {ns} did not complete initialization (tun0 {want}) within {} s",
                    limit.as_secs()
                ),
                log: tail(&log, 25),
            }),
        }
    }

    /// tcpdump on the UE's veth (and on its TUN when `tun` is given).
    fn start_capture(&mut self, what: &str, dev: &str, path: &Path) -> Result<(u32, PathBuf), LabError> {
        let i = self.start_tcpdump(what, dev, path)?;
        Ok((self.others[i].pid(), path.to_path_buf()))
    }

    /// Stop the captures (by pid) and read tcpdump's own counts.
    fn stop_captures(&mut self, caps: &[(u32, PathBuf)], outer: &Path) -> PacketCounts {
        let mut packets = PacketCounts::default();
        for (pid, path) in caps {
            if let Some(pos) = self.others.iter().position(|p| p.pid() == *pid) {
                let mut p = self.others.remove(pos);
                p.stop("TERM", Duration::from_secs(3));
            }
            let count = captured(&std::fs::read_to_string(path.with_extension("tcpdump.log")).unwrap_or_default());
            if path == outer {
                packets.outer = count;
            } else {
                packets.inner = count;
            }
        }
        packets
    }

    /// The P-CSCF (SIPp UAS) on the ePDG's end of the tunnel, listening before the tunnel is up.
    fn start_uas(&mut self, addr: &str, dialogs: u32, sip_dir: &Path) -> Result<Option<usize>, LabError> {
        if dialogs == 0 {
            return Ok(None);
        }
        let t = self.cfg.sip_transport;
        let mut cmd = sipp::uas_command_at(
            &self.names.ns_epdg,
            &sip_dir.join("uas.xml"),
            addr,
            t,
            dialogs,
            &sip_dir.join("uas.messages"),
        );
        let log = sip_dir.join("uas.log");
        let i = self.track("sipp uas", "sipp", &mut cmd, &log)?;
        let pid = self.others[i].pid();
        let ready = poll(Duration::from_secs(5), || {
            if self.others[i].exited() {
                return Some(false);
            }
            sipp::listening(pid, t, sipp::SIP_PORT).then_some(true)
        });
        if ready != Some(true) {
            return Err(LabError::Peer {
                what: format!("SIPp UAS (P-CSCF) did not listen on {addr}:{} within 5 s", sipp::SIP_PORT),
                log: tail(&log, 15),
            });
        }
        Ok(Some(i))
    }

    /// REGISTER and calls from the UE's tunnel address to the P-CSCF's, then the UAS's exit.
    fn run_sip(
        &mut self,
        local: &str,
        remote: &str,
        uas: Option<usize>,
        sip_dir: &Path,
        progress: &mut dyn FnMut(&str),
    ) -> Result<Vec<SipDialog>, LabError> {
        let cfg = self.cfg.clone();
        let mut msg_files = Vec::new();
        for (on, name, xml, calls, say) in [
            (
                cfg.register,
                "register",
                "uac_register.xml",
                1,
                "REGISTER through the tunnel (digest challenge expected)".to_string(),
            ),
            (
                cfg.calls > 0,
                "call",
                "uac_call.xml",
                cfg.calls,
                format!("placing {} call(s): INVITE/180/200/ACK/BYE", cfg.calls),
            ),
        ] {
            if !on {
                continue;
            }
            let msgs = sip_dir.join(format!("uac_{name}.messages"));
            let mut cmd = sipp::uac_command_to(
                &self.names.ns_ue,
                &sip_dir.join(xml),
                local,
                remote,
                cfg.sip_transport,
                calls,
                &msgs,
            );
            progress(&say);
            let what = if name == "register" { "sipp register" } else { "sipp calls" };
            self.run_uac(what, &mut cmd, &sip_dir.join(format!("uac_{name}.log")), &msgs)?;
            msg_files.push(msgs);
        }
        if let Some(i) = uas {
            if !self.others[i].wait_for_exit(Duration::from_secs(5)) {
                return Err(LabError::Peer {
                    what: "SIPp UAS did not finish its dialogs".into(),
                    log: tail(&sip_dir.join("uas.messages"), 30),
                });
            }
        }
        let mut traced = Vec::new();
        for f in &msg_files {
            traced.extend(sipp::parse_trace(&std::fs::read_to_string(f).unwrap_or_default()));
        }
        Ok(sipp::dialogs(&traced, cfg.sip_transport))
    }

    /// The WireGuard or OpenVPN scenario: captures, the tunnel up, SIP through it, captures off,
    /// and what the daemons (and tshark, for the wire's identifiers) say.
    pub(crate) fn run_vpn_scenario(
        &mut self,
        progress: &mut dyn FnMut(&str),
        tunnel_up: &mut dyn FnMut(&super::Names) -> Result<(), String>,
    ) -> Result<GroundTruth, LabError> {
        let t0 = Instant::now();
        let cfg = self.cfg.clone();
        let n = self.names.clone();
        let wd = cfg.workdir.clone();
        let tun = cfg.tunnel.iface();
        let (ue_addr, epdg_addr) = match cfg.tunnel.addresses() {
            (Some(u), e) => (u, e),
            (None, _) => return Err(LabError::BadConfig("run_vpn_scenario: not a WireGuard or OpenVPN lab".into())),
        };

        let outer_path = wd.join("outer.pcap");
        let inner_path = wd.join("inner.pcap");
        let mut caps = Vec::new();
        if cfg.capture {
            caps.push(self.start_capture("tcpdump outer", &n.veth_ue.clone(), &outer_path)?);
        }
        // wg0 exists from bring-up; the OpenVPN client's tun0 only once the client is connected.
        if cfg.capture && cfg.tunnel == Tunnel::WireGuard {
            caps.push(self.start_capture("tcpdump inner", tun, &inner_path)?);
            progress(&format!("capturing {} and {tun} in {}", n.veth_ue, n.ns_ue));
        }

        let dialogs = u32::from(cfg.register) + cfg.calls;
        let sip_dir = wd.join("sip");
        std::fs::create_dir_all(&sip_dir).map_err(|e| LabError::io(format!("create {}", sip_dir.display()), e))?;
        write(&sip_dir.join("uas.xml"), sipp::UAS_XML)?;
        write(&sip_dir.join("uac_register.xml"), sipp::UAC_REGISTER_XML)?;
        write(&sip_dir.join("uac_call.xml"), sipp::UAC_CALL_XML)?;
        let uas = self.start_uas(epdg_addr, dialogs, &sip_dir)?;
        if uas.is_some() {
            progress(&format!(
                "P-CSCF (SIPp UAS) listening on {epdg_addr}:{} ({})",
                sipp::SIP_PORT,
                cfg.sip_transport.as_str()
            ));
        }

        let t_tun = Instant::now();
        match cfg.tunnel {
            Tunnel::WireGuard => self.wireguard_handshake(progress)?,
            Tunnel::OpenVpn { tcp } => {
                self.connect_openvpn_client(tcp, &mut caps, &inner_path, progress)?;
            }
            Tunnel::Ipsec => {}
        }
        let tunnel_ms = ms(t_tun.elapsed());
        progress(&format!("tunnel up in {tunnel_ms} ms: {tun} {ue_addr} <-> {epdg_addr}"));
        tunnel_up(&n).map_err(LabError::BadConfig)?;

        let t_sip = Instant::now();
        let sip = self.run_sip(ue_addr, epdg_addr, uas, &sip_dir, progress)?;
        let sip_ms = ms(t_sip.elapsed());

        // The daemons' counters, read before the captures stop: nothing crosses the tunnel now.
        let mut wg_truth = None;
        let mut ovpn_truth = None;
        match cfg.tunnel {
            Tunnel::WireGuard => {
                let dump = |side: &str| -> Result<wireguard::WgInterface, LabError> {
                    let text = self.wg(side, &["show", wireguard::IFACE, "dump"])?;
                    wireguard::parse_dump(&text).map_err(|e| LabError::Peer {
                        what: format!("cannot read wg show dump ({side}): {e}"),
                        log: String::new(),
                    })
                };
                let ue = dump("ue")?;
                let epdg = dump("epdg")?;
                wg_truth = Some(WireGuardTruth { ue, epdg, wire: None });
            }
            Tunnel::OpenVpn { tcp } => ovpn_truth = Some(self.openvpn_truth(tcp)?),
            Tunnel::Ipsec => {}
        }
        let holder = tun_holder(&n.ns_ue, tun);

        let packets = self.stop_captures(&caps, &outer_path);
        self.others.retain_mut(|p| !p.exited());
        if cfg.capture {
            progress(&format!(
                "captures stopped: {} packets on {}, {} on {tun}",
                packets.outer.map_or("?".into(), |c| c.to_string()),
                n.veth_ue,
                packets.inner.map_or("?".into(), |c| c.to_string())
            ));
            // The identifiers the daemons do not print, read off the wire by tshark.
            if let Some(w) = wg_truth.as_mut() {
                let msgs = wire::wireguard_messages(&outer_path, wireguard::PORT)
                    .map_err(|e| LabError::Peer { what: e, log: String::new() })?;
                w.wire = Some(wire::summarize_wireguard(&msgs));
            }
            if let Some(o) = ovpn_truth.as_mut() {
                let pkts = wire::openvpn_packets(&outer_path, self.cfg.openvpn_port)
                    .map_err(|e| LabError::Peer { what: e, log: String::new() })?;
                o.wire = Some(wire::summarize_openvpn(&pkts, netns::UE_V4, &o.transport));
            }
        }

        let daemons = self
            .daemons
            .iter()
            .map(|d| DaemonTruth { side: d.side.into(), program: d.proc.program.clone(), pid: d.proc.pid() })
            .collect();
        Ok(GroundTruth {
            schema: truth::SCHEMA.into(),
            scenario: ScenarioInfo {
                prefix: cfg.prefix.clone(),
                auth: if cfg.tunnel == Tunnel::WireGuard { "public-key" } else { "x509" }.into(),
                sip_transport: cfg.sip_transport.as_str().into(),
                ipv6_outer: false,
                register: cfg.register,
                calls: cfg.calls,
                ue_namespace: n.ns_ue.clone(),
                epdg_namespace: n.ns_epdg.clone(),
                outer_iface: n.veth_ue.clone(),
                tunnel: cfg.tunnel.as_str().into(),
            },
            ike_sas: Vec::new(),
            epdg_ike_sas: Vec::new(),
            charon_pids: CharonPids { ue: 0, epdg: 0 },
            ipsec0_holder: None,
            virtual_ip: None,
            pcscf: None,
            pcscf_received_by_ue: false,
            sip,
            packets,
            captures: truth::Captures {
                outer: cfg.capture.then(|| outer_path.clone()),
                inner: cfg.capture.then(|| inner_path.clone()),
            },
            timings_ms: Timings { up: self.up_ms, ike: 0, sip: sip_ms, scenario: ms(t0.elapsed()), tunnel: tunnel_ms },
            tun: Some(TunTruth {
                name: tun.into(),
                namespace: n.ns_ue.clone(),
                holder,
                address: Some(ue_addr.into()),
                peer_address: Some(epdg_addr.into()),
            }),
            daemons,
            wireguard: wg_truth,
            openvpn: ovpn_truth,
        })
    }

    /// The UE turns persistent keepalive on, which makes wireguard-go send a keepalive at once and
    /// so initiate the first handshake; done when both sides list it.
    fn wireguard_handshake(&mut self, progress: &mut dyn FnMut(&str)) -> Result<(), LabError> {
        let (_, epdg_pub) =
            self.vpn.wg_public.clone().ok_or_else(|| LabError::BadConfig("no WireGuard keys".into()))?;
        progress("UE's wireguard-go initiates the handshake (persistent keepalive on)");
        let keepalive = wireguard::PERSISTENT_KEEPALIVE.to_string();
        self.wg("ue", &["set", wireguard::IFACE, "peer", &epdg_pub, "persistent-keepalive", &keepalive])?;
        let done = poll(Duration::from_secs(10), || {
            for side in ["ue", "epdg"] {
                let text = self.wg(side, &["show", wireguard::IFACE, "latest-handshakes"]).ok()?;
                let hs = wireguard::parse_latest_handshakes(&text);
                if !hs.iter().any(|(_, t)| *t > 0) {
                    return None;
                }
            }
            Some(())
        });
        if done.is_none() {
            let d = self.daemon("ue")?;
            return Err(LabError::Peer {
                what: "no WireGuard handshake listed by wg show on both sides within 10 s".into(),
                log: tail(&d.log, 25),
            });
        }
        Ok(())
    }

    /// Start the UE's OpenVPN client, capture its tun0 from the moment it exists, and wait for
    /// its initialization.
    fn connect_openvpn_client(
        &mut self,
        tcp: bool,
        caps: &mut Vec<(u32, PathBuf)>,
        inner_path: &Path,
        progress: &mut dyn FnMut(&str),
    ) -> Result<(), LabError> {
        let pki = self.vpn.pki.clone().ok_or_else(|| LabError::BadConfig("no OpenVPN certificates".into()))?;
        let dir = self.cfg.workdir.join("openvpn");
        let status = dir.join("client.status");
        let log = dir.join("client.log");
        let _ = std::fs::remove_file(&status);
        let ns = self.names.ns_ue.clone();
        let i = self.spawn_daemon(
            "ue",
            "openvpn",
            openvpn::client_command(&ns, &pki, tcp, self.cfg.openvpn_port, &status),
            &log,
            None,
        )?;
        progress(&format!(
            "OpenVPN client in {ns} started (pid {}), connecting to {}:{} over {}",
            self.daemons[i].proc.pid(),
            netns::EPDG_V4,
            self.cfg.openvpn_port,
            if tcp { "TCP" } else { "UDP" }
        ));
        if self.cfg.capture {
            // The client opens tun0 once the server has pushed its address; nothing enters it
            // before the SIP traffic, so a capture started then misses nothing.
            let appeared = poll(Duration::from_secs(10), || {
                if self.daemons[i].proc.exited() {
                    return Some(false);
                }
                netns::links(&ns).ok().filter(|l| l.iter().any(|x| x == openvpn::IFACE)).map(|_| true)
            });
            if appeared != Some(true) {
                return Err(LabError::Peer {
                    what: format!("the OpenVPN client in {ns} did not open tun0 within 10 s"),
                    log: tail(&log, 25),
                });
            }
            caps.push(self.start_capture("tcpdump inner", openvpn::IFACE, inner_path)?);
            progress(&format!("capturing {} and tun0 in {ns}", self.names.veth_ue));
        }
        self.await_openvpn(i, Duration::from_secs(10))
    }

    /// Both status files, each rewritten after the traffic ended (OpenVPN rewrites them every
    /// second), and the client's log.
    fn openvpn_truth(&mut self, tcp: bool) -> Result<OpenVpnTruth, LabError> {
        let dir = self.cfg.workdir.join("openvpn");
        let (client, server) = (dir.join("client.status"), dir.join("server.status"));
        let before = (modified(&client), modified(&server));
        let read = poll(Duration::from_secs(5), || {
            if modified(&client) == before.0 || modified(&server) == before.1 {
                return None;
            }
            let c = openvpn::parse_client_status(&std::fs::read_to_string(&client).ok()?).ok()?;
            let s = openvpn::parse_server_status(&std::fs::read_to_string(&server).ok()?).ok()?;
            Some((c, s))
        });
        let Some((client_status, server_status)) = read else {
            return Err(LabError::Peer {
                what: "OpenVPN did not rewrite both status files within 5 s".into(),
                log: format!("{}\n{}", tail(&client, 10), tail(&server, 10)),
            });
        };
        let client_log =
            openvpn::parse_client_log(&std::fs::read_to_string(dir.join("client.log")).unwrap_or_default());
        Ok(OpenVpnTruth {
            transport: if tcp { "tcp" } else { "udp" }.into(),
            port: self.cfg.openvpn_port,
            client: client_status,
            server: server_status,
            client_log,
            wire: None,
        })
    }
}
