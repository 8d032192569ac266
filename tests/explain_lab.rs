//! `tuntrace explain` against real tunnels (issue 12's acceptance): the Wi-Fi-calling lab's
//! ipsec0 (strongSwan's charon, IKEv2 with NAT-T, SIPp to the P-CSCF inside), WireGuard's wg0
//! held by wireguard-go, and a TUN that a small program of this test makes under a name of its
//! own; and what an unprivileged user is shown. Needs root and the lab's packages (ci/setup);
//! fails, never skips, without them when TUNTRACE_REQUIRE_ROOT is set (CI).

use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tuntrace_core::report::{Interface, Report};
use tuntrace_lab::{Lab, LabConfig, Tunnel};

mod common;
use common::root_or_skip;

#[path = "common/mmdb.rs"]
mod mmdb;

fn workdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("tuntrace-explain-test-{tag}"));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// An ASN database naming the lab's outer link as a carrier's network.
fn asn_db(dir: &Path) -> PathBuf {
    let p = dir.join("asn.mmdb");
    std::fs::write(&p, mmdb::asn_db(&[([198, 18, 0, 0], 30, 64500, "Example Mobile Carrier ePDG")])).unwrap();
    p
}

/// `tuntrace explain ARGS` in namespace `ns`, as `uid` when given; its stderr followed on a
/// thread, so a `--watch` can be waited for until it traces.
struct Explain {
    child: Child,
    lines: mpsc::Receiver<String>,
    stderr: Vec<String>,
}

impl Explain {
    fn start(ns: &str, args: &[&str], uid: Option<u32>) -> Explain {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", ns]);
        if let Some(u) = uid {
            cmd.args(["setpriv", &format!("--reuid={u}"), &format!("--regid={u}"), "--clear-groups"]);
        }
        let mut child = cmd
            .arg(env!("CARGO_BIN_EXE_tuntrace"))
            .arg("explain")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start tuntrace explain");
        let (tx, lines) = mpsc::channel();
        let err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for l in BufReader::new(err).lines().map_while(Result::ok) {
                let _ = tx.send(l);
            }
        });
        Explain { child, lines, stderr: Vec::new() }
    }

    /// Returns once the live part of `--watch` traces.
    fn wait_tracing(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match self.lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(l) => {
                    let ready = l.contains("tracing");
                    self.stderr.push(l);
                    if ready {
                        return;
                    }
                }
                Err(_) => panic!("explain --watch did not start tracing; stderr:\n{}", self.stderr.join("\n")),
            }
        }
    }

    /// Its stdout, exit code and stderr, once it ends by itself.
    fn finish(mut self) -> (String, i32, String) {
        let mut out = String::new();
        self.child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
        let status = self.child.wait().unwrap();
        std::thread::sleep(Duration::from_millis(20));
        self.stderr.extend(self.lines.try_iter());
        (out, status.code().unwrap_or(-1), self.stderr.join("\n"))
    }

    fn report(self) -> (Report, String) {
        let (out, code, err) = self.finish();
        assert_eq!(code, 0, "tuntrace explain failed; stderr:\n{err}");
        let r = serde_json::from_str(&out).unwrap_or_else(|e| panic!("explain's JSON: {e}\n{out}\nstderr:\n{err}"));
        (r, err)
    }
}

/// Explain once (no watch) in `ns` and return the report and the text.
fn explain_now(ns: &str, iface: &str, uid: Option<u32>) -> (Report, String) {
    let (report, _) = Explain::start(ns, &[iface, "--json"], uid).report();
    let (text, code, err) = Explain::start(ns, &[iface], uid).finish();
    assert_eq!(code, 0, "{err}");
    (report, text)
}

fn iface<'r>(r: &'r Report, name: &str) -> &'r Interface {
    r.interfaces.iter().find(|i| i.name.as_deref() == Some(name)).unwrap_or_else(|| panic!("{name} not reported"))
}

fn show(what: &str, text: &str) {
    if std::env::var_os("TUNTRACE_SHOW").is_some() {
        eprintln!("--- {what}\n{text}");
    }
}

/// The acceptance: in the UE's namespace, `explain ipsec0 --watch 5 --json` started
/// before charon names charon (the lab's pid) as holder and creator, the IKE peer and NAT-T, the
/// virtual IP, SIP to the P-CSCF with the SIPp process, the peer's AS, and a Wi-Fi-calling
/// verdict with its evidence; plain `explain` then lists ipsec0 and its carrier.
#[test]
fn explain_watch_answers_the_wifi_calling_question() {
    if !root_or_skip() {
        return;
    }
    let prefix = "tex1-";
    let dir = workdir(prefix);
    let db = asn_db(&dir);
    let mut cfg = LabConfig::new(prefix, dir.join("lab"));
    cfg.calls = 2;
    let mut progress = |m: &str| eprintln!("[{prefix}] {m}");
    let mut watch = None;
    let mut lab = Lab::up_with(&cfg, &mut progress, &mut |n| {
        let mut e =
            Explain::start(&n.ns_ue, &["ipsec0", "--watch", "5", "--json", "--asn-db", db.to_str().unwrap()], None);
        e.wait_tracing();
        watch = Some(e);
        Ok(())
    })
    .unwrap_or_else(|e| panic!("lab up: {e}"));
    let truth = lab.run_scenario(&mut progress).unwrap_or_else(|e| panic!("scenario: {e}"));
    let names = lab.names().clone();
    let started = lab.started();
    let (report, stderr) = watch.take().unwrap().report();
    let (plain, text) = explain_now(&names.ns_ue, "ipsec0", None);
    let (all, all_text) = {
        let (r, _) = Explain::start(&names.ns_ue, &["--json"], None).report();
        let (t, code, err) = Explain::start(&names.ns_ue, &[], None).finish();
        assert_eq!(code, 0, "{err}");
        (r, t)
    };
    lab.down().unwrap_or_else(|e| panic!("lab down: {e}"));
    eprintln!("{stderr}");
    show("explain ipsec0 --watch 5", &tuntrace_core::report::answer::render(&report, Some("ipsec0")));
    show("explain ipsec0", &text);
    show("explain", &all_text);

    let pid_of = |role: &str| started.iter().find(|(w, _)| w == role).map(|(_, p)| *p).expect(role);
    let charon = pid_of("charon ue");
    let sipp: Vec<u32> =
        started.iter().filter(|(w, _)| w.starts_with("sipp") && !w.contains("uas")).map(|(_, p)| *p).collect();
    let ipsec0 = iface(&report, "ipsec0");
    assert_eq!(ipsec0.owner.as_ref().map(|o| (o.pid, o.comm.as_deref())), Some((charon, Some("charon"))), "{ipsec0:?}");
    assert_eq!(ipsec0.created_by.as_ref().map(|c| c.pid), Some(charon), "created while watched: {ipsec0:?}");
    let vip = truth.virtual_ip.clone().expect("virtual IP");
    assert!(ipsec0.addresses.contains(&vip), "virtual IP {vip} on ipsec0: {:?}", ipsec0.addresses);
    assert_eq!(ipsec0.host.link_kind.as_deref(), Some("tun"));
    // The IKE peer, NAT-T, charon's.
    let sa = report.ike_sas.first().expect("an IKE SA seen");
    assert_eq!((sa.responder.as_str(), sa.nat_t, sa.pid), ("198.18.0.1", true, Some(charon)), "{sa:?}");
    let peer = report.host.peers.iter().find(|p| p.address == "198.18.0.1").expect("the ePDG among the peers");
    assert_eq!((peer.asn, peer.org.as_deref()), (Some(64500), Some("Example Mobile Carrier ePDG")));
    assert_eq!(peer.via.as_deref(), Some(names.veth_ue.as_str()));
    assert!(peer.roles.iter().any(|r| r == "IKEv2 responder (NAT-T)"), "{:?}", peer.roles);
    assert!(peer.interfaces.contains(&"ipsec0".to_string()));
    // SIP to the P-CSCF, SIPp's.
    let pcscf = truth.pcscf.clone().unwrap_or_else(|| "198.19.0.1".into());
    let reg = report.sip.registrations.first().expect("the REGISTER seen");
    assert!(reg.pid.is_some_and(|p| sipp.contains(&p)), "registration by {:?}, SIPp is {sipp:?}", reg.pid);
    assert_eq!(reg.comm.as_deref(), Some("sipp"));
    assert!(reg.messages.iter().any(|m| m.method.as_deref() == Some("REGISTER") && m.dst == pcscf), "{reg:?}");
    assert_eq!(report.sip.dialogs.len(), 2, "two calls");
    // Every SIPp process with packets on ipsec0 is among its users (the REGISTER's and the calls').
    for p in report.processes.iter().filter(|p| p.comm.as_deref() == Some("sipp") && p.packets > 0) {
        assert!(
            ipsec0.host.users.iter().any(|u| u.pid == Some(p.pid) && u.what.contains("packets on it")),
            "sipp {} not among {:?}",
            p.pid,
            ipsec0.host.users
        );
    }
    // The verdict, with its evidence.
    let v = report.verdicts.iter().find(|v| v.subject == "ipsec0").expect("a verdict on ipsec0");
    assert_eq!(v.summary, "IPsec tunnel to 198.18.0.1 (the carrier's ePDG), used for Wi-Fi calling");
    assert_eq!(v.rule.as_deref(), Some("wifi-calling-ims-sip"));
    for want in [
        format!("held by charon (pid {charon})"),
        format!("created by charon (pid {charon})"),
        "IKEv2 SA 198.18.0.2:4500 -> 198.18.0.1:4500 (NAT-T), established".to_string(),
        "1 SIP flow inside the tunnel (1 registration, 2 calls)".to_string(),
        format!("SIP requests to {pcscf}:5060"),
        "peer 198.18.0.1 belongs to Example Mobile Carrier ePDG".to_string(),
        "SIP identities in the operator's IMS domain (3gppnetwork.org)".to_string(),
    ] {
        assert!(v.evidence.contains(&want), "{want:?} not in {:#?}", v.evidence);
    }
    // Plain explain, after the fact: ipsec0, its holder (creator unknowable), its carrier.
    let p0 = iface(&plain, "ipsec0");
    assert_eq!(p0.owner.as_ref().map(|o| o.pid), Some(charon));
    assert!(p0.created_by.is_none() && p0.created_before_trace);
    assert_eq!(
        p0.host.carriers.first().map(|c| c.iface.as_str()),
        Some(names.veth_ue.as_str()),
        "{:?}",
        p0.host.carriers
    );
    assert!(
        p0.host.users.iter().any(|u| u.pid == Some(charon) && u.what.starts_with("holds the TUN device")),
        "{:?}",
        p0.host.users
    );
    let pv = plain.verdicts.iter().find(|v| v.subject == "ipsec0").unwrap();
    assert_eq!(pv.rule.as_deref(), Some("strongswan"), "without traffic, the daemon names it: {pv:?}");
    assert!(
        text.contains("ipsec0: strongSwan IPsec VPN") && text.contains(&format!("carrier   {}", names.veth_ue)),
        "{text}"
    );
    assert!(iface(&all, "ipsec0").kind.is_tunnel());
    assert!(
        all_text.contains("ipsec0: ") && all_text.contains(&format!("{} (carries ipsec0)", names.veth_ue)),
        "{all_text}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// WireGuard's wg0, explained once the tunnel is up: held by wireguard-go (the lab's pid), said
/// to be WireGuard in userspace, carried by the veth.
#[test]
fn explain_names_wireguard_go() {
    if !root_or_skip() {
        return;
    }
    let prefix = "tex2-";
    let dir = workdir(prefix);
    let mut cfg = LabConfig::new(prefix, dir.join("lab"));
    cfg.tunnel = Tunnel::WireGuard;
    cfg.calls = 1;
    let mut progress = |m: &str| eprintln!("[{prefix}] {m}");
    let mut lab = Lab::up(&cfg, &mut progress).unwrap_or_else(|e| panic!("lab up: {e}"));
    let mut seen = None;
    lab.run_scenario_with(&mut progress, &mut |n| {
        seen = Some((explain_now(&n.ns_ue, "wg0", None), n.clone()));
        Ok(())
    })
    .unwrap_or_else(|e| panic!("scenario: {e}"));
    let started = lab.started();
    lab.down().unwrap_or_else(|e| panic!("lab down: {e}"));
    let ((report, text), names) = seen.expect("explained while the tunnel was up");
    show("explain wg0", &text);
    let daemon = started.iter().find(|(w, _)| w.contains("wireguard-go") && w.contains("ue")).map(|(_, p)| *p);
    let wg0 = iface(&report, "wg0");
    assert_eq!(wg0.owner.as_ref().map(|o| o.pid), daemon, "{started:?} {wg0:?}");
    assert_eq!(wg0.owner.as_ref().and_then(|o| o.comm.as_deref()), Some("wireguard-go"));
    let v = report.verdicts.iter().find(|v| v.subject == "wg0").unwrap();
    assert_eq!(
        (v.rule.as_deref(), v.summary.as_str()),
        (Some("wireguard-go"), "WireGuard VPN in userspace (wireguard-go)")
    );
    assert!(wg0.host.carriers.iter().any(|c| c.iface == names.veth_ue), "{:?}", wg0.host.carriers);
    assert!(text.contains("wg0: WireGuard VPN in userspace (wireguard-go)"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A network namespace that lives as long as the value.
struct Netns(String);

impl Netns {
    fn new(tag: &str) -> Netns {
        let name = format!("tt-explain-{}-{tag}", std::process::id());
        let _ = Command::new("ip").args(["netns", "del", &name]).stderr(Stdio::null()).status();
        ip(&["netns", "add", &name]);
        ip(&["-n", &name, "link", "set", "lo", "up"]);
        Netns(name)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).stdin(Stdio::null()).output().expect("run ip");
    assert!(out.status.success(), "ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
}

/// This test binary, re-run in `ns` as the TUN program (`helper_make_tun`).
struct TunProgram {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
}

impl TunProgram {
    fn start(ns: &str, name: &str) -> TunProgram {
        let mut child = Command::new("ip")
            .args(["netns", "exec", ns])
            .arg(std::env::current_exe().unwrap())
            .args(["--exact", "helper_make_tun", "--ignored", "--nocapture", "--test-threads=1"])
            .env("TT_MAKE_TUN", name)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let (tx, lines) = mpsc::channel();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(l);
            }
        });
        let mut p = TunProgram { child, stdin, lines };
        p.expect("tt-ready");
        p
    }

    fn expect(&mut self, what: &str) {
        loop {
            match self.lines.recv_timeout(Duration::from_secs(10)) {
                Ok(l) if l.contains("tt-error") => panic!("TUN program: {l}"),
                Ok(l) if l.contains(what) => return,
                Ok(_) => {}
                Err(e) => panic!("TUN program did not say {what}: {e:?}"),
            }
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn bind(&mut self, at: &str) {
        writeln!(self.stdin, "bind {at}").unwrap();
        self.expect("tt-bound");
    }

    fn stop(mut self) {
        drop(self.stdin);
        let _ = self.child.wait();
    }
}

/// Started by the tests as `--exact helper_make_tun --ignored` with TT_MAKE_TUN=NAME: creates
/// TUN NAME, says `tt-ready`, binds a UDP socket for each `bind ADDR:PORT` line, and exits at
/// the end of its input. Without TT_MAKE_TUN, returns at once.
#[test]
#[ignore = "helper process for the root tests, started by them"]
fn helper_make_tun() {
    let Ok(name) = std::env::var("TT_MAKE_TUN") else { return };
    let file = match std::fs::OpenOptions::new().read(true).write(true).open("/dev/net/tun") {
        Ok(f) => f,
        Err(e) => return println!("tt-error open /dev/net/tun: {e}"),
    };
    let mut ifr = [0u8; 40];
    ifr[..name.len()].copy_from_slice(name.as_bytes());
    let flags = (libc::IFF_TUN | libc::IFF_NO_PI) as u16;
    ifr[16..18].copy_from_slice(&flags.to_ne_bytes());
    // SAFETY: TUNSETIFF reads and writes the ifreq we pass, which outlives the call.
    if unsafe { libc::ioctl(file.as_raw_fd(), libc::TUNSETIFF, ifr.as_mut_ptr()) } < 0 {
        return println!("tt-error TUNSETIFF {name}: {}", std::io::Error::last_os_error());
    }
    println!("tt-ready");
    let mut sockets = Vec::new();
    for line in std::io::stdin().lines().map_while(Result::ok) {
        if let Some(at) = line.strip_prefix("bind ") {
            match std::net::UdpSocket::bind(at) {
                Ok(s) => {
                    sockets.push(s);
                    println!("tt-bound");
                }
                Err(e) => println!("tt-error bind {at}: {e}"),
            }
        }
    }
    drop(file);
}

/// A TUN named after nothing known, made by a program of this test: `explain --watch` running as
/// it is created names the program as creator and holder; plain `explain` names the holder, says
/// the creator cannot be known, finds the kernel's xfrm policy, and says the purpose is unknown
/// with the facts found rather than guess.
#[test]
fn explain_names_the_program_that_made_a_tun() {
    if !root_or_skip() {
        return;
    }
    let ns = Netns::new("own");
    let name = "ttxown0";
    let mut watch = Explain::start(&ns.0, &[name, "--watch", "3", "--json"], None);
    watch.wait_tracing();
    let mut prog = TunProgram::start(&ns.0, name);
    let pid = prog.pid();
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap().trim().to_string();
    ip(&["-n", &ns.0, "addr", "add", "198.19.77.1/32", "dev", name]);
    ip(&["-n", &ns.0, "link", "set", name, "up"]);
    ip(&["-n", &ns.0, "route", "add", "198.19.78.0/24", "dev", name, "table", "77"]);
    ip(&["-n", &ns.0, "rule", "add", "from", "198.19.77.1", "lookup", "77", "priority", "77"]);
    ip(&[
        "-n",
        &ns.0,
        "xfrm",
        "policy",
        "add",
        "src",
        "198.19.77.1/32",
        "dst",
        "198.19.78.0/24",
        "dir",
        "out",
        "tmpl",
        "src",
        "198.18.7.1",
        "dst",
        "198.18.7.2",
        "proto",
        "esp",
        "mode",
        "tunnel",
    ]);
    prog.bind("198.19.77.1:5060");
    let (watched, _) = watch.report();
    let (plain, text) = explain_now(&ns.0, name, None);
    let (unpriv, unpriv_text) = explain_now(&ns.0, name, Some(65534));
    let (_, code, err) = Explain::start(&ns.0, &[name, "--watch", "1"], Some(65534)).finish();
    prog.stop();
    show("explain --watch", &tuntrace_core::report::answer::render(&watched, Some(name)));
    show("explain", &text);
    show("explain as nobody", &unpriv_text);

    let w = iface(&watched, name);
    assert_eq!(w.owner.as_ref().map(|o| (o.pid, o.comm.as_deref())), Some((pid, Some(comm.as_str()))), "{w:?}");
    assert_eq!(w.created_by.as_ref().map(|c| (c.pid, c.comm.as_deref())), Some((pid, Some(comm.as_str()))), "{w:?}");

    let p = iface(&plain, name);
    assert_eq!(p.owner.as_ref().map(|o| o.pid), Some(pid));
    assert!(p.created_by.is_none() && p.created_before_trace);
    assert_eq!(p.host.tun.as_ref().and_then(|t| t.mode.as_deref()), Some("tun"));
    assert!(p.host.flags.contains(&"UP".to_string()), "{:?}", p.host.flags);
    assert!(p.host.routes.iter().any(|r| r.dst == "198.19.78.0/24" && r.table == 77), "{:?}", p.host.routes);
    assert!(
        p.host.rules.iter().any(|r| r.table == 77 && r.priority == Some(77) && r.selector == "from 198.19.77.1/32"),
        "{:?}",
        p.host.rules
    );
    assert!(
        p.host.users.iter().any(|u| u.pid == Some(pid) && u.what == "UDP socket 198.19.77.1:5060"),
        "{:?}",
        p.host.users
    );
    let x = plain.host.xfrm.as_ref().unwrap();
    assert_eq!(x.policies.len(), 1, "{x:?}");
    assert_eq!(x.policies[0].templates, ["esp tunnel 198.18.7.1 -> 198.18.7.2 reqid 0"]);
    let v = plain.verdicts.iter().find(|v| v.subject == name).unwrap();
    assert_eq!((v.rule.as_deref(), v.summary.as_str()), (None, "purpose unknown: no rule matches what was found"));
    assert!(v.evidence.contains(&format!("held by {comm} (pid {pid})")), "{:?}", v.evidence);
    assert!(text.contains(&format!("{name}: purpose unknown")), "{text}");

    // Without root: what an unprivileged user can see, and what root would add.
    let u = iface(&unpriv, name);
    assert!(u.owner.is_none(), "another user's holder is not visible: {u:?}");
    assert!(u.host.routes.iter().any(|r| r.table == 77), "routes are visible to anyone");
    assert!(
        u.host
            .users
            .iter()
            .any(|u| u.pid.is_none() && u.what.contains("198.19.77.1:5060") && u.what.contains("run as root")),
        "{:?}",
        u.host.users
    );
    let vis = unpriv.host.visibility.as_ref().unwrap();
    assert!(!vis.privileged && vis.hidden_sockets >= 1);
    assert!(
        vis.notes.iter().any(|n| n.contains("run as root to see which processes hold sockets and TUN devices")),
        "{vis:?}"
    );
    assert!(
        unpriv_text.contains("note: not root") && unpriv_text.contains("nobody found (run as root"),
        "{unpriv_text}"
    );
    // A live watch needs root: said, with exit code 3.
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("root"), "{err}");
}
