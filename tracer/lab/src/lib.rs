//! The Wi-Fi-calling lab: real peers reproducing the situation tuntrace exists for.
//!
//! Two network namespaces, `<prefix>ue` (the phone) and `<prefix>epdg` (the carrier gateway),
//! joined by a veth on 198.18.0.0/15. One strongSwan charon per namespace (kernel-libipsec, so each
//! side gets a TUN named `ipsec0` held by charon) negotiates IKEv2 with forced NAT-T; the UE gets a
//! virtual IP and a P-CSCF address through the configuration payload; SIPp on both ends registers
//! (digest 401 → 200) and places calls through the tunnel.
//!
//! The same namespaces and veth carry three other tunnels ([`Tunnel`]): WireGuard (Debian's
//! wireguard-go on `wg0` in each namespace, configured with `wg`) and OpenVPN in TLS mode over
//! UDP or TCP (a server in `<prefix>epdg`, a client in `<prefix>ue`, each on its own `tun0`), with
//! the same SIP through them and their own ground truth (`wg show`, OpenVPN's status files and
//! log, and tshark's reading of the wire for the identifiers the daemons do not print).
//!
//! Everything the lab needs is compiled in (configuration text, SIPp scenarios): an installed
//! `tuntrace demo` has no source tree to read. Every process the lab starts is recorded by pid in
//! `/run/tuntrace-lab/<prefix>/state.json`, so a run that was killed is cleaned by the next one.
//!
//! ```no_run
//! use tuntrace_lab::{Lab, LabConfig};
//! let cfg = LabConfig::new("tt1-", "/tmp/tt1");
//! let mut progress = |m: &str| eprintln!("{m}");
//! let mut lab = Lab::up(&cfg, &mut progress)?;
//! let truth = lab.run_scenario(&mut progress)?;
//! let report = lab.down()?;
//! # Ok::<(), tuntrace_lab::LabError>(())
//! ```

pub mod netns;
pub mod openvpn;
pub mod prerequisites;
mod procs;
mod scenario;
pub mod sipp;
pub mod strongswan;
pub mod truth;
mod vpn;
pub mod wire;
pub mod wireguard;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

pub use netns::Names;
pub use prerequisites::{check_prerequisites, check_prerequisites_for};
pub use procs::Stopped;
pub use truth::GroundTruth;

use procs::{Proc, State};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Auth {
    /// Pre-shared key both ways.
    Psk,
    /// The UE authenticates with EAP-MD5 (a stand-in for EAP-AKA, which needs a SIM), the ePDG
    /// with the PSK.
    Eap,
}

impl Auth {
    pub fn as_str(self) -> &'static str {
        match self {
            Auth::Psk => "psk",
            Auth::Eap => "eap",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SipTransport {
    Udp,
    Tcp,
}

impl SipTransport {
    pub fn as_str(self) -> &'static str {
        match self {
            SipTransport::Udp => "udp",
            SipTransport::Tcp => "tcp",
        }
    }
}

/// The tunnel the lab brings up between its two namespaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Tunnel {
    /// strongSwan IKEv2 with forced NAT-T, ESP in UDP 4500, `ipsec0` held by charon.
    #[default]
    Ipsec,
    /// wireguard-go on both sides, `wg0` held by each, UDP 51820 on the ePDG side.
    WireGuard,
    /// OpenVPN in TLS mode, server on the ePDG side (port 1194), `tun0` held by each daemon.
    OpenVpn {
        /// TCP instead of UDP.
        tcp: bool,
    },
}

impl Tunnel {
    pub const ALL: [Tunnel; 4] =
        [Tunnel::Ipsec, Tunnel::WireGuard, Tunnel::OpenVpn { tcp: false }, Tunnel::OpenVpn { tcp: true }];

    /// The scenario's name, as `tuntrace demo --scenario` takes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Tunnel::Ipsec => "ipsec",
            Tunnel::WireGuard => "wireguard",
            Tunnel::OpenVpn { tcp: false } => "openvpn",
            Tunnel::OpenVpn { tcp: true } => "openvpn-tcp",
        }
    }

    pub fn parse(name: &str) -> Option<Tunnel> {
        Tunnel::ALL.into_iter().find(|t| t.as_str() == name)
    }

    /// The TUN the UE's daemon holds.
    pub fn iface(self) -> &'static str {
        match self {
            Tunnel::Ipsec => "ipsec0",
            Tunnel::WireGuard => wireguard::IFACE,
            Tunnel::OpenVpn { .. } => openvpn::IFACE,
        }
    }

    /// Tunnel addresses of the UE and of the ePDG end (IPsec: the P-CSCF; the UE's virtual IP is
    /// handed out at run time).
    pub fn addresses(self) -> (Option<&'static str>, &'static str) {
        match self {
            Tunnel::Ipsec => (None, netns::PCSCF),
            Tunnel::WireGuard => (Some(wireguard::UE_ADDR), wireguard::EPDG_ADDR),
            Tunnel::OpenVpn { .. } => (Some(openvpn::UE_ADDR), openvpn::EPDG_ADDR),
        }
    }
}

impl fmt::Display for Tunnel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone)]
pub struct LabConfig {
    /// Which tunnel runs between the namespaces (default: IPsec, the Wi-Fi-calling lab).
    pub tunnel: Tunnel,
    /// Prefix of namespace and interface names ("tt1-"): lowercase letters, digits and '-',
    /// at most 11 characters so interface names stay within Linux's 15.
    pub prefix: String,
    pub ipv6_outer: bool,
    pub auth: Auth,
    pub sip_transport: SipTransport,
    /// INVITE calls placed after registration.
    pub calls: u32,
    /// REGISTER with digest challenge before the calls.
    pub register: bool,
    /// Where configuration, logs, SIPp traces and captures are written. Created if missing; the
    /// caller owns it (the lab removes only its configuration files from it on teardown).
    pub workdir: PathBuf,
    /// Record the UE's veth and its tunnel interface (ipsec0, wg0, tun0) with tcpdump during the
    /// scenario.
    pub capture: bool,
    /// The OpenVPN server's port (UDP or TCP): 1194 unless a test wants OpenVPN where it is
    /// known by its first packets only, as on 443.
    pub openvpn_port: u16,
    /// IKE version of the IPsec lab: 2 (the default, as Wi-Fi calling uses) or 1 (Main Mode
    /// and Quick Mode, PSK only).
    pub ike_version: u8,
}

impl LabConfig {
    /// What `tuntrace demo` runs: the defaults under the prefix "ttdemo-".
    pub fn demo(workdir: impl Into<PathBuf>) -> LabConfig {
        LabConfig::new("ttdemo-", workdir)
    }

    /// PSK, SIP over UDP, IPv4 outer, REGISTER + 2 calls, captures on.
    pub fn new(prefix: &str, workdir: impl Into<PathBuf>) -> LabConfig {
        LabConfig {
            tunnel: Tunnel::Ipsec,
            prefix: prefix.to_string(),
            ipv6_outer: false,
            auth: Auth::Psk,
            sip_transport: SipTransport::Udp,
            calls: 2,
            register: true,
            workdir: workdir.into(),
            capture: true,
            openvpn_port: openvpn::PORT,
            ike_version: 2,
        }
    }

    fn validate(&self) -> Result<(), LabError> {
        let p = &self.prefix;
        if p.is_empty() || p.len() > 11 || !p.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(LabError::BadConfig(format!(
                "prefix {p:?}: use 1 to 11 characters of a-z, 0-9 and '-' (names like {p}epdg and {p}gw0 must fit)"
            )));
        }
        if self.workdir.starts_with("/run") || self.workdir.starts_with("/var/run") {
            // Each charon sees a private directory mounted over /run: it could not write there.
            return Err(LabError::BadConfig(format!(
                "workdir {} is under /run, which charon cannot see; use another directory",
                self.workdir.display()
            )));
        }
        if self.tunnel != Tunnel::Ipsec {
            if self.ipv6_outer {
                return Err(LabError::BadConfig(format!(
                    "{}: the IPv6 outer link is an IPsec variant only",
                    self.tunnel
                )));
            }
            if self.auth != Auth::Psk {
                return Err(LabError::BadConfig(format!(
                    "{}: auth {} is an IPsec variant only (WireGuard uses keys, OpenVPN certificates)",
                    self.tunnel,
                    self.auth.as_str()
                )));
            }
        }
        if !matches!(self.ike_version, 1 | 2) {
            return Err(LabError::BadConfig(format!("IKE version {}: use 1 or 2", self.ike_version)));
        }
        if self.ike_version == 1 && self.auth != Auth::Psk {
            return Err(LabError::BadConfig("IKEv1: auth eap needs IKEv2 (IKEv1 has no EAP)".into()));
        }
        if self.calls > 50 {
            return Err(LabError::BadConfig(format!("{} calls: the lab places at most 50", self.calls)));
        }
        Ok(())
    }
}

#[derive(Debug)]
pub enum LabError {
    NotRoot,
    /// Missing programs or files, each with the Debian package that provides it.
    Missing(Vec<String>),
    BadConfig(String),
    Io {
        what: String,
        source: std::io::Error,
    },
    Command {
        cmd: String,
        status: String,
        output: String,
    },
    /// A peer did not do its part in time, or failed; `log` is the tail of its own log.
    Peer {
        what: String,
        log: String,
    },
    /// Teardown finished but something the lab created is still there.
    Leftovers(Vec<String>),
}

impl LabError {
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> LabError {
        LabError::Io { what: what.into(), source }
    }
}

impl fmt::Display for LabError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LabError::NotRoot => write!(
                f,
                "the lab needs root (it creates network namespaces, runs charon, wireguard-go or openvpn, and tcpdump): \
                 run as root"
            ),
            LabError::Missing(m) => {
                write!(f, "lab prerequisites missing: {}; run ci/setup (as root) to install them", m.join(", "))
            }
            LabError::BadConfig(m) => write!(f, "lab configuration: {m}"),
            LabError::Io { what, source } => write!(f, "{what}: {source}"),
            LabError::Command { cmd, status, output } => write!(f, "`{cmd}` failed ({status}): {}", output.trim()),
            LabError::Peer { what, log } => write!(f, "{what}; its log:\n{log}"),
            LabError::Leftovers(l) => write!(f, "lab teardown left things behind: {}", l.join("; ")),
        }
    }
}

impl std::error::Error for LabError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LabError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Result of [`demo`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DemoOutcome {
    pub truth: GroundTruth,
    pub teardown: TeardownReport,
}

/// `tuntrace demo` in one call: lab up, scenario, lab down, whatever happens in between. The
/// captures named in the truth stay in `cfg.workdir` for the caller to replay and report on.
pub fn demo(cfg: &LabConfig, progress: &mut dyn FnMut(&str)) -> Result<DemoOutcome, LabError> {
    let mut lab = Lab::up(cfg, progress)?;
    let truth = lab.run_scenario(progress);
    progress("tearing the lab down");
    let teardown = lab.down();
    let truth = truth?;
    let teardown = teardown?;
    progress(&format!("lab down in {} ms", teardown.duration_ms));
    Ok(DemoOutcome { truth, teardown })
}

/// What teardown did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TeardownReport {
    pub duration_ms: u64,
    pub stopped: Vec<Stopped>,
    pub namespaces_removed: Vec<String>,
}

/// Remove what an earlier run with this prefix left behind: processes it recorded (only when
/// /proc/PID/cmdline still names the recorded program), lab programs still running inside its
/// namespaces, the namespaces, and the state directory. Returns a line per thing removed.
pub fn cleanup_stale(prefix: &str) -> Result<Vec<String>, LabError> {
    let names = Names::new(prefix);
    let mut done = Vec::new();
    let state = State::load(prefix);
    if let Some(owner) = state.as_ref().and_then(|s| s.owner) {
        let mine = owner == procs::Owner::me();
        // Our own earlier lab counts as stale only if it is no longer up (e.g. leaked).
        if mine && !procs::claim(prefix) {
            return Err(LabError::BadConfig(format!("a lab with prefix {prefix:?} is already up in this process")));
        }
        if !mine && owner.is_running() {
            return Err(LabError::BadConfig(format!(
                "a lab with prefix {prefix:?} is in use by running pid {}: pick another prefix",
                owner.pid
            )));
        }
        if mine {
            procs::release(prefix);
        }
    }
    if let Some(st) = &state {
        for r in st.processes.iter().rev() {
            if let Some(s) = procs::stop_recorded(r, Duration::from_secs(5)) {
                done.push(format!("stopped {} (pid {}, {})", s.what, s.pid, s.how));
            }
        }
    }
    let mut namespaces = vec![names.ns_ue.clone(), names.ns_epdg.clone()];
    if let Some(st) = &state {
        // Only names this prefix would generate: a corrupted state file must not name others.
        namespaces.extend(st.namespaces.iter().filter(|n| **n == names.ns_ue || **n == names.ns_epdg).cloned());
    }
    namespaces.sort();
    namespaces.dedup();
    // A run killed between spawning a peer and recording its pid leaves an unrecorded process
    // inside a namespace only this prefix creates; only the lab's own programs are ended.
    for ns in &namespaces {
        for s in scenario::stop_lab_programs_in(ns) {
            done.push(format!("stopped unrecorded {} (pid {}, {}) in {ns}", s.what, s.pid, s.how));
        }
    }
    for ns in &namespaces {
        if netns::exists(ns) {
            netns::delete(ns)?;
            done.push(format!("deleted namespace {ns}"));
        }
    }
    let dir = procs::state_dir(prefix);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(|e| LabError::io(format!("remove {}", dir.display()), e))?;
        done.push(format!("removed {}", dir.display()));
    }
    Ok(done)
}

/// One strongSwan peer.
struct Charon {
    side: &'static str,
    ns: String,
    proc: Proc,
    conf: PathBuf,
    swanctl_conf: PathBuf,
    run_dir: PathBuf,
    log: PathBuf,
}

impl Charon {
    fn uri(&self) -> String {
        strongswan::vici_uri(&self.run_dir)
    }
}

/// A tunnel daemon other than charon (wireguard-go, openvpn), one per side.
pub(crate) struct Daemon {
    side: &'static str,
    ns: String,
    proc: Proc,
    /// Its private /run (wireguard-go's control socket lives there).
    run_dir: Option<PathBuf>,
    log: PathBuf,
}

/// A running lab. Dropping it tears it down (best effort); [`Lab::down`] does the same and
/// reports what it did.
pub struct Lab {
    cfg: LabConfig,
    names: Names,
    state: State,
    ue: Option<Charon>,
    epdg: Option<Charon>,
    /// wireguard-go or openvpn daemons, in start order.
    daemons: Vec<Daemon>,
    /// What the WireGuard and OpenVPN bring-ups generated (keys, certificates).
    vpn: vpn::Setup,
    /// Other processes still running (captures, SIPp).
    others: Vec<Proc>,
    up_ms: u64,
    ran: bool,
    down: bool,
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The last lines of a log file, for error messages.
pub(crate) fn tail(path: &Path, lines: usize) -> String {
    match std::fs::read_to_string(path) {
        Ok(t) => {
            let v: Vec<&str> = t.lines().collect();
            v[v.len().saturating_sub(lines)..].join("\n")
        }
        Err(e) => format!("({}: {e})", path.display()),
    }
}

fn poll<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let end = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= end {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn write(path: &Path, text: &str) -> Result<(), LabError> {
    std::fs::write(path, text).map_err(|e| LabError::io(format!("write {}", path.display()), e))
}

fn mkdir(path: &Path) -> Result<(), LabError> {
    std::fs::create_dir_all(path).map_err(|e| LabError::io(format!("create {}", path.display()), e))
}

impl Lab {
    /// Bring the lab up: namespaces, veth, both charons running with `ipsec0` created and their
    /// configuration loaded. The tunnel itself is negotiated by [`Lab::run_scenario`], so its
    /// captures see IKE from the first packet.
    pub fn up(cfg: &LabConfig, progress: &mut dyn FnMut(&str)) -> Result<Lab, LabError> {
        Self::up_with(cfg, progress, &mut |_| Ok(()))
    }

    /// [`Lab::up`], calling `on_namespaces` once the namespaces and their veth exist and before
    /// any peer starts: a test starts a tracer there to see the tunnel being created. An error it
    /// returns stops the bring-up (and tears down what exists).
    pub fn up_with(
        cfg: &LabConfig,
        progress: &mut dyn FnMut(&str),
        on_namespaces: &mut dyn FnMut(&Names) -> Result<(), String>,
    ) -> Result<Lab, LabError> {
        let t0 = Instant::now();
        cfg.validate()?;
        check_prerequisites_for(cfg.tunnel)?;
        let mut cfg = cfg.clone();
        // charon and tcpdump run with other working directories: give them absolute paths.
        mkdir(&cfg.workdir)?;
        cfg.workdir = std::fs::canonicalize(&cfg.workdir)
            .map_err(|e| LabError::io(format!("resolve {}", cfg.workdir.display()), e))?;
        let cfg = &cfg;
        for line in cleanup_stale(&cfg.prefix)? {
            progress(&format!("cleaned leftover of an earlier run: {line}"));
        }
        let names = Names::new(&cfg.prefix);
        if !procs::claim(&cfg.prefix) {
            return Err(LabError::BadConfig(format!(
                "a lab with prefix {:?} is already up in this process",
                cfg.prefix
            )));
        }
        let state = State {
            owner: Some(procs::Owner::me()),
            prefix: cfg.prefix.clone(),
            namespaces: vec![names.ns_ue.clone(), names.ns_epdg.clone()],
            processes: Vec::new(),
            workdir: cfg.workdir.clone(),
        };
        if let Err(e) = state.save() {
            procs::release(&cfg.prefix);
            return Err(e);
        }
        let mut lab = Lab {
            cfg: cfg.clone(),
            names,
            state,
            ue: None,
            epdg: None,
            daemons: Vec::new(),
            vpn: vpn::Setup::default(),
            others: Vec::new(),
            up_ms: 0,
            ran: false,
            down: false,
        };
        // On error the partly built lab is dropped here, which tears down what exists.
        match cfg.tunnel {
            Tunnel::Ipsec => lab.bring_up(progress, on_namespaces)?,
            _ => lab.bring_up_vpn(progress, on_namespaces)?,
        }
        lab.up_ms = ms(t0.elapsed());
        progress(&format!("lab up in {} ms", lab.up_ms));
        Ok(lab)
    }

    fn bring_up(
        &mut self,
        progress: &mut dyn FnMut(&str),
        on_namespaces: &mut dyn FnMut(&Names) -> Result<(), String>,
    ) -> Result<(), LabError> {
        let n = self.names.clone();
        progress(&format!(
            "creating namespaces {} and {} joined by {} <-> {} ({})",
            n.ns_ue,
            n.ns_epdg,
            n.veth_ue,
            n.veth_epdg,
            if self.cfg.ipv6_outer { "IPv6 2001:2::/64" } else { "198.18.0.0/30" }
        ));
        netns::create(&n, self.cfg.ipv6_outer)?;
        on_namespaces(&n).map_err(LabError::BadConfig)?;
        mkdir(&self.cfg.workdir)?;
        for side in ["ue", "epdg"] {
            let c = self.start_charon(side)?;
            progress(&format!("charon in {} started (pid {})", c.ns, c.proc.pid()));
            if side == "ue" {
                self.ue = Some(c);
            } else {
                self.epdg = Some(c);
            }
        }
        for c in [&mut self.ue, &mut self.epdg].into_iter().flatten() {
            Self::await_charon(c)?;
            progress(&format!("charon in {} ready: vici answers, ipsec0 exists", c.ns));
        }
        // Checked after charon's start-up, which overlaps the kernel's deferred carrier report.
        netns::wait_carrier(&n)?;
        for c in [&self.ue, &self.epdg].into_iter().flatten() {
            let file = c.swanctl_conf.to_string_lossy();
            netns::run(&mut strongswan::swanctl(&c.conf, &c.uri(), &["--load-all", "--noprompt", "--file", &file]))
                .map_err(|e| LabError::Peer {
                    what: format!("loading swanctl.conf into charon in {} failed: {e}", c.ns),
                    log: tail(&c.log, 20),
                })?;
        }
        progress("IKEv2 configuration loaded on both sides");
        Ok(())
    }

    fn start_charon(&mut self, side: &'static str) -> Result<Charon, LabError> {
        let ns = if side == "ue" { self.names.ns_ue.clone() } else { self.names.ns_epdg.clone() };
        let dir = self.cfg.workdir.join(side);
        mkdir(&dir)?;
        let run_dir = procs::state_dir(&self.cfg.prefix).join(format!("run-{side}"));
        mkdir(&run_dir)?;
        let conf = dir.join("strongswan.conf");
        let swanctl_conf = dir.join("swanctl.conf");
        let log = dir.join("charon.log");
        // A log of an earlier run would confuse readiness checks and error messages.
        let _ = std::fs::remove_file(&log);
        write(&conf, &strongswan::strongswan_conf(&log))?;
        let text = if side == "ue" {
            strongswan::swanctl_conf_ue(&self.cfg)
        } else {
            strongswan::swanctl_conf_epdg(&self.cfg)
        };
        write(&swanctl_conf, &text)?;
        let out =
            std::fs::File::create(dir.join("charon.stderr")).map_err(|e| LabError::io("create charon.stderr", e))?;
        let err = out.try_clone().map_err(|e| LabError::io("dup charon.stderr", e))?;
        let child = strongswan::charon_command(&ns, &conf, &run_dir)
            .stdin(std::process::Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| LabError::io(format!("start charon in {ns}"), e))?;
        let proc = Proc { what: format!("charon {side}"), program: "charon".into(), child };
        self.state.processes.push(proc.recorded());
        self.state.save()?;
        Ok(Charon { side, ns, proc, conf, swanctl_conf, run_dir, log })
    }

    /// Ready means: vici answers and kernel-libipsec has created ipsec0 in the namespace.
    fn await_charon(c: &mut Charon) -> Result<(), LabError> {
        let limit = Duration::from_secs(10);
        let uri = c.uri();
        let vici = poll(limit, || {
            if c.proc.exited() {
                return Some(false);
            }
            let ok = c.run_dir.join("charon.vici").exists()
                && strongswan::swanctl(&c.conf, &uri, &["--stats"])
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .status()
                    .map(|s| s.success())
                    .unwrap_or(false);
            ok.then_some(true)
        });
        let log = || format!("{}\n{}", tail(&c.log, 25), tail(&c.log.with_file_name("charon.stderr"), 10));
        match vici {
            Some(true) => {}
            Some(false) => {
                return Err(LabError::Peer { what: format!("charon in {} exited during start-up", c.ns), log: log() })
            }
            None => {
                return Err(LabError::Peer {
                    what: format!("charon in {} did not answer on vici within 10 s", c.ns),
                    log: log(),
                })
            }
        }
        let tun = poll(limit, || netns::links(&c.ns).ok().filter(|l| l.iter().any(|n| n == "ipsec0")));
        if tun.is_none() {
            return Err(LabError::Peer {
                what: format!("charon in {} did not create ipsec0 within 10 s", c.ns),
                log: log(),
            });
        }
        let _ = c.side;
        Ok(())
    }

    pub fn config(&self) -> &LabConfig {
        &self.cfg
    }

    pub fn names(&self) -> &Names {
        &self.names
    }

    /// Bring-up time of this lab.
    pub fn up_ms(&self) -> u64 {
        self.up_ms
    }

    /// Every process this lab has started so far, finished ones included: (role, pid), e.g.
    /// ("charon ue", 1234), ("tcpdump outer", ...), ("sipp calls", ...).
    pub fn started(&self) -> Vec<(String, u32)> {
        self.state.processes.iter().map(|r| (r.what.clone(), r.pid)).collect()
    }

    /// Pids of the processes the lab currently runs (tunnel daemons first: charons, or
    /// wireguard-go/openvpn in start order).
    pub fn pids(&self) -> Vec<u32> {
        [&self.ue, &self.epdg]
            .into_iter()
            .flatten()
            .map(|c| c.proc.pid())
            .chain(self.daemons.iter().map(|d| d.proc.pid()))
            .chain(self.others.iter().map(Proc::pid))
            .collect()
    }

    /// Tear down: stop every process the lab started (by pid: SIGTERM, then SIGKILL after a
    /// grace period), delete the namespaces (which removes the veth and the TUNs), remove the
    /// state directory and the generated configuration. Fails if anything is left.
    pub fn down(mut self) -> Result<TeardownReport, LabError> {
        let (report, leftovers) = self.teardown();
        if leftovers.is_empty() {
            Ok(report)
        } else {
            Err(LabError::Leftovers(leftovers))
        }
    }

    fn teardown(&mut self) -> (TeardownReport, Vec<String>) {
        let t0 = Instant::now();
        let mut report = TeardownReport { duration_ms: 0, stopped: Vec::new(), namespaces_removed: Vec::new() };
        if self.down {
            return (report, Vec::new());
        }
        self.down = true;
        let mut pids = Vec::new();
        for mut p in self.others.drain(..).rev() {
            pids.push(p.pid());
            report.stopped.push(p.stop("TERM", Duration::from_secs(2)));
        }
        // Both charons get SIGTERM before either is waited for: their shutdowns overlap.
        let mut charons: Vec<Charon> = [self.ue.take(), self.epdg.take()].into_iter().flatten().collect();
        for c in &mut charons {
            pids.push(c.proc.pid());
            if !c.proc.exited() {
                procs::signal(c.proc.pid(), "TERM");
            }
        }
        // The same for wireguard-go and openvpn.
        let mut daemons: Vec<Daemon> = self.daemons.drain(..).collect();
        for d in &mut daemons {
            pids.push(d.proc.pid());
            if !d.proc.exited() {
                procs::signal(d.proc.pid(), "TERM");
            }
        }
        for c in &mut charons {
            report.stopped.push(c.proc.stop("TERM", Duration::from_secs(5)));
        }
        for d in &mut daemons {
            report.stopped.push(d.proc.stop("TERM", Duration::from_secs(5)));
        }
        let mut leftovers = Vec::new();
        for ns in [&self.names.ns_ue, &self.names.ns_epdg] {
            for s in scenario::stop_lab_programs_in(ns) {
                leftovers.push(format!("{} (pid {}) was still running in {ns}", s.what, s.pid));
            }
            if netns::exists(ns) {
                match netns::delete(ns) {
                    Ok(()) => report.namespaces_removed.push(ns.clone()),
                    Err(e) => leftovers.push(format!("namespace {ns}: {e}")),
                }
            }
        }
        for c in &charons {
            let _ = std::fs::remove_file(&c.conf);
            let _ = std::fs::remove_file(&c.swanctl_conf);
        }
        // Keys and certificates made for this run only.
        for f in self.vpn.files.drain(..) {
            let _ = std::fs::remove_file(f);
        }
        let dir = procs::state_dir(&self.cfg.prefix);
        if let Err(e) = std::fs::remove_dir_all(&dir) {
            if e.kind() != std::io::ErrorKind::NotFound {
                leftovers.push(format!("{}: {e}", dir.display()));
            }
        }
        // Fails harmlessly while other labs still have their state there.
        let _ = std::fs::remove_dir(procs::STATE_ROOT);
        for pid in pids {
            if procs::alive(pid) {
                leftovers.push(format!("pid {pid} still alive"));
            }
        }
        for ns in [&self.names.ns_ue, &self.names.ns_epdg] {
            if netns::exists(ns) {
                leftovers.push(format!("namespace {ns} still exists"));
            }
        }
        procs::release(&self.cfg.prefix);
        report.duration_ms = ms(t0.elapsed());
        (report, leftovers)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = self.teardown();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_is_checked() {
        assert!(LabConfig::new("tt1-", "/tmp").validate().is_ok());
        for bad in ["", "TT", "a b", "much-too-long-prefix", "x/y"] {
            assert!(matches!(LabConfig::new(bad, "/tmp").validate(), Err(LabError::BadConfig(_))), "{bad}");
        }
    }

    #[test]
    fn tunnels_are_named_and_checked() {
        for t in Tunnel::ALL {
            assert_eq!(Tunnel::parse(t.as_str()), Some(t));
        }
        assert_eq!(Tunnel::parse("gre"), None);
        assert_eq!(Tunnel::default(), Tunnel::Ipsec);
        assert_eq!(LabConfig::new("t-", "/tmp").tunnel, Tunnel::Ipsec, "the IPsec lab stays the default");
        assert_eq!(Tunnel::ALL.map(Tunnel::iface), ["ipsec0", "wg0", "tun0", "tun0"], "each daemon's own TUN name");
        let mut cfg = LabConfig::new("t-", "/tmp");
        cfg.tunnel = Tunnel::WireGuard;
        assert!(cfg.validate().is_ok());
        cfg.ipv6_outer = true;
        assert!(matches!(cfg.validate(), Err(LabError::BadConfig(m)) if m.contains("IPsec variant only")));
        cfg.ipv6_outer = false;
        cfg.auth = Auth::Eap;
        cfg.tunnel = Tunnel::OpenVpn { tcp: true };
        assert!(matches!(cfg.validate(), Err(LabError::BadConfig(m)) if m.contains("openvpn-tcp: auth eap")));
        let mut cfg = LabConfig::new("t-", "/tmp");
        cfg.ike_version = 1;
        assert!(cfg.validate().is_ok());
        assert!(crate::strongswan::swanctl_conf_ue(&cfg).contains("version = 1\n"));
        cfg.auth = Auth::Eap;
        assert!(matches!(cfg.validate(), Err(LabError::BadConfig(m)) if m.contains("IKEv1 has no EAP")));
        cfg.ike_version = 3;
        assert!(matches!(cfg.validate(), Err(LabError::BadConfig(m)) if m.contains("use 1 or 2")));
    }

    #[test]
    fn errors_say_what_to_do() {
        assert!(LabError::NotRoot.to_string().contains("needs root"));
        let e = LabError::Peer { what: "charon in ue did not create ipsec0 within 10 s".into(), log: "line".into() };
        assert!(e.to_string().contains("its log:\nline"));
    }
}
