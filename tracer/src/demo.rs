//! `tuntrace demo`: the Wi-Fi-calling lab brought up, exercised, captured, taken down, and
//! reported on, with the peers' own account beside tuntrace's.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use tuntrace_core::aggregate::Aggregator;
use tuntrace_core::capture::{Damage, Sink};
use tuntrace_core::event::{Event, ProcessInfo};
use tuntrace_core::report::{text, Backend, Report, SourceKind};

use tuntrace_lab::{self as lab, truth::GroundTruth, LabConfig, Tunnel};

pub struct Options {
    /// Which tunnel the lab runs (IPsec, the Wi-Fi-calling lab, by default).
    pub scenario: Tunnel,
    pub json: bool,
    /// Keep the captures and truth here instead of a temporary directory.
    pub keep: Option<PathBuf>,
    pub calls: u32,
}

pub enum Outcome {
    /// The report agrees with the peers.
    Agrees,
    /// The report and the peers disagree on these points.
    Disagrees(Vec<String>),
}

/// Run the demo; progress goes to stderr, the report to stdout.
pub fn run(opts: &Options) -> Result<Outcome, String> {
    lab::check_prerequisites_for(opts.scenario).map_err(|e| e.to_string())?;
    let workdir = match &opts.keep {
        Some(d) => d.clone(),
        None => std::env::temp_dir().join(format!("tuntrace-demo-{}", std::process::id())),
    };
    std::fs::create_dir_all(&workdir).map_err(|e| format!("cannot create {}: {e}", workdir.display()))?;
    let mut cfg = LabConfig::demo(&workdir);
    cfg.tunnel = opts.scenario;
    cfg.calls = opts.calls;
    let start = Instant::now();
    let mut progress = |msg: &str| eprintln!("[{:5.2}s] {msg}", start.elapsed().as_secs_f64());
    // A lab left behind by a killed demo is cleaned first (only what the state file names).
    if let Ok(cleaned) = lab::cleanup_stale(&cfg.prefix) {
        for c in cleaned {
            progress(&format!("cleaned up after an earlier run: {c}"));
        }
    }
    let outcome = lab::demo(&cfg, &mut progress).map_err(|e| e.to_string())?;
    let truth = outcome.truth;
    progress("replaying what was captured");
    let report = report_from_truth(&truth);
    if opts.json {
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        report.write_json(&mut out).and_then(|_| out.flush()).map_err(|e| format!("cannot write the report: {e}"))?;
    } else {
        println!("{}", text::render(&report));
        println!("WHAT THE PEERS SAY ({})", peers_named(opts.scenario));
        for line in truth.summary().lines() {
            println!("  {line}");
        }
    }
    let mut bad = truth.check_report(&report);
    if opts.scenario != Tunnel::Ipsec {
        bad.extend(truth.check_report_interfaces(&report));
        // The report's WireGuard indices and OpenVPN session IDs and counts against tshark's
        // reading of the wire and the daemons'.
        bad.extend(truth.check_report_tunnels(&report));
    }
    progress(&format!("done in {:.1} s", start.elapsed().as_secs_f64()));
    if opts.keep.is_none() {
        let _ = std::fs::remove_dir_all(&workdir);
    } else {
        // Beside its captures, so `GroundTruth::read` finds them again.
        let kept = serde_json::to_string_pretty(&truth.clone().with_relative_captures()).map_err(|e| e.to_string())?;
        let path = workdir.join("truth.json");
        std::fs::write(&path, kept + "\n").map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        eprintln!("captures and truth kept in {}", workdir.display());
    }
    Ok(if bad.is_empty() { Outcome::Agrees } else { Outcome::Disagrees(bad) })
}

/// Whose account the demo prints beside the report.
pub fn peers_named(scenario: Tunnel) -> &'static str {
    match scenario {
        Tunnel::Ipsec => "strongSwan swanctl, SIPp message trace, /proc, tcpdump",
        Tunnel::WireGuard => "wg show, SIPp message trace, /proc, tcpdump, tshark for the wire's indices",
        Tunnel::OpenVpn { .. } => {
            "OpenVPN status files and log, SIPp message trace, /proc, tcpdump, tshark for the wire"
        }
    }
}

/// What "agrees" covers for a scenario, for the demo's last line.
pub fn agreement_named(scenario: Tunnel) -> &'static str {
    match scenario {
        Tunnel::Ipsec => "IKE and ESP SPIs, SIP Call-IDs and messages",
        Tunnel::WireGuard => {
            "interfaces, TUN holder, packet counts, the tunnel's outer flow, SIP Call-IDs and messages, \
             WireGuard's indices, handshakes and messages by type"
        }
        Tunnel::OpenVpn { .. } => {
            "interfaces, TUN holder, packet counts, the tunnel's outer flow, SIP Call-IDs and messages, \
             OpenVPN's session IDs, key IDs, client and packets by opcode class"
        }
    }
}

/// The report of the lab's captures, with what the lab knows about its interfaces: the outer
/// veth's name, and the tunnel interface (ipsec0, wg0, tun0) with its holder and address (until
/// live tracing learns these from the kernel itself).
pub fn report_from_truth(truth: &GroundTruth) -> Report {
    let mut agg = Aggregator::new(SourceKind::Replay, Backend::Pcap);
    // Truths recorded before the lab wrote a `tun` section name ipsec0's holder and address only.
    let tun_name = truth.tun.as_ref().map_or("ipsec0", |t| t.name.as_str());
    let holder = truth.tun.as_ref().map_or(truth.ipsec0_holder.as_ref(), |t| t.holder.as_ref());
    let address = truth.tun.as_ref().map_or(truth.virtual_ip.as_ref(), |t| t.address.as_ref());
    if let Some(h) = holder {
        agg.feed(&Event::Process(Box::new(ProcessInfo {
            pid: h.pid,
            comm: Some(h.comm.clone()),
            ..Default::default()
        })));
    }
    let mut next_iface = 0;
    let inputs = [(truth.captures.outer.as_deref(), false), (truth.captures.inner.as_deref(), true)];
    for (path, inner) in inputs {
        let Some(path) = path else { continue };
        next_iface += feed_file(&mut agg, path, next_iface, |i| {
            if inner {
                i.name = Some(tun_name.into());
                i.owner = holder.map(|h| h.pid);
                i.addresses = address.iter().map(|a| a.to_string()).collect();
            } else {
                i.name = Some(truth.scenario.outer_iface.clone());
            }
        });
    }
    agg.finish()
}

fn feed_file(
    agg: &mut Aggregator,
    path: &Path,
    first: u32,
    name_it: impl Fn(&mut tuntrace_core::event::InterfaceInfo),
) -> u32 {
    /// The aggregator's sink, with this lab's names put on the file's interfaces.
    struct Named<'g, F> {
        inner: tuntrace_core::aggregate::InputSink<'g>,
        name_it: F,
    }
    impl<F: Fn(&mut tuntrace_core::event::InterfaceInfo)> Sink for Named<'_, F> {
        fn packet(&mut self, p: &tuntrace_core::event::PacketEvent<'_>) {
            self.inner.packet(p);
        }
        fn event(&mut self, e: &Event<'_>) {
            match e {
                Event::Interface(i) => {
                    let mut i = i.clone();
                    (self.name_it)(&mut i);
                    self.inner.event(&Event::Interface(i));
                }
                e => self.inner.event(e),
            }
        }
        fn damage(&mut self, d: &Damage) {
            self.inner.damage(d);
        }
    }
    let mut sink = Named { inner: agg.input(path.display().to_string()), name_it };
    match tuntrace_core::capture::stream(path, first, &mut sink) {
        Ok(n) => n,
        Err(e) => {
            sink.damage(&Damage { offset: 0, what: e.to_string() });
            0
        }
    }
}
