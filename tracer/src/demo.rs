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

/// The live tracer of the demo: `tuntrace trace` (this very binary) in the UE's namespace.
mod live {
    use std::time::Duration;

    use tuntrace_core::report::Report;

    pub struct Tracer(crate::live::child::LiveChild);

    impl Tracer {
        /// `tuntrace explain TUN --watch` (this very binary) in namespace `ns`: the live trace
        /// of `tuntrace trace`, and when it is stopped, the host's own account of the tunnel
        /// interface while the lab still runs (its holder, routes, carrier, peers), judged by the
        /// rules. The watch is long: the demo stops it with SIGINT once the scenario is over.
        pub fn start(ns: &str, tun: &str) -> Result<Tracer, String> {
            let exe = std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?;
            let argv = ["explain", tun, "--watch", "1h", "--json"];
            crate::live::child::LiveChild::start_command(&exe, ns, &argv, Duration::from_secs(30)).map(Tracer)
        }

        pub fn stop(self) -> Result<Report, String> {
            self.0.stop()
        }
    }
}

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
    let mut progress = |msg: &str| say!("[{:5.2}s] {msg}", start.elapsed().as_secs_f64());
    // A lab left behind by a killed demo is cleaned first (only what the state file names).
    if let Ok(cleaned) = lab::cleanup_stale(&cfg.prefix) {
        for c in cleaned {
            progress(&format!("cleaned up after an earlier run: {c}"));
        }
    }
    // The live tracer runs in the UE's namespace from before the tunnel daemon starts, so it
    // sees the tunnel interface created; where it cannot run, the captures are replayed instead.
    let mut tracer: Option<live::Tracer> = None;
    let mut live_error: Option<String> = None;
    let mut up = lab::Lab::up_with(&cfg, &mut progress, &mut |n| {
        match live::Tracer::start(&n.ns_ue, opts.scenario.iface()) {
            Ok(t) => tracer = Some(t),
            Err(e) => live_error = Some(e),
        }
        Ok(())
    })
    .map_err(|e| e.to_string())?;
    if let Some(e) = &live_error {
        progress(&format!("live tracing unavailable ({e}): the captures will be replayed instead"));
    } else {
        progress(&format!(
            "tracing live in {} (tuntrace explain {} --watch, eBPF)",
            up.names().ns_ue,
            opts.scenario.iface()
        ));
    }
    let truth = up.run_scenario(&mut progress);
    let live_report = tracer.take().map(live::Tracer::stop);
    progress("tearing the lab down");
    let teardown = up.down();
    let truth = truth.map_err(|e| e.to_string())?;
    let teardown = teardown.map_err(|e| e.to_string())?;
    progress(&format!("lab down in {} ms", teardown.duration_ms));
    let report = match live_report {
        Some(Ok(r)) => r,
        Some(Err(e)) => {
            progress(&format!("the live tracer failed ({e}): replaying what was captured"));
            report_from_truth(&truth)
        }
        None => {
            progress("replaying what was captured");
            report_from_truth(&truth)
        }
    };
    let live = report.source.kind == SourceKind::Live;
    if opts.json {
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        report.write_json(&mut out).and_then(|_| out.flush()).map_err(|e| format!("cannot write the report: {e}"))?;
    } else {
        println!("{}", text::render(&report));
        println!("WHAT THE PEERS SAY ({})", peers_named(opts.scenario));
        for line in truth.summary().lines() {
            println!("  {line}");
        }
        // The plain-language answer last: what `tuntrace explain` says of the tunnel interface.
        let tun = opts.scenario.iface();
        let how = if live {
            format!("tuntrace explain {tun} --watch, live in the UE's namespace while the lab ran")
        } else {
            "tuntrace explain's rules on the captures: live tracing was not available".to_string()
        };
        println!("\nWHAT {tun} IS ({how})");
        print!("{}", tuntrace_core::report::answer::render(&report, Some(tun)));
    }
    let mut bad = truth.check_report(&report);
    if live {
        // Live, every packet of the lab has its process.
        if report.stats.unattributed_packets > 0 {
            bad.push(format!("{} packets not attributed to a process", report.stats.unattributed_packets));
        }
        if report.stats.dropped_events > 0 {
            bad.push(format!("{} events lost by the kernel", report.stats.dropped_events));
        }
    }
    if opts.scenario != Tunnel::Ipsec || live {
        bad.extend(truth.check_report_interfaces(&report));
    }
    // The report's WireGuard indices and OpenVPN session IDs and counts against tshark's
    // reading of the wire and the daemons' (nothing to hold for the IPsec scenario), live or
    // replayed.
    bad.extend(truth.check_report_tunnels(&report));
    progress(&format!("done in {:.1} s", start.elapsed().as_secs_f64()));
    if opts.keep.is_none() {
        let _ = std::fs::remove_dir_all(&workdir);
    } else {
        // Beside its captures, so `GroundTruth::read` finds them again.
        let kept = serde_json::to_string_pretty(&truth.clone().with_relative_captures()).map_err(|e| e.to_string())?;
        let path = workdir.join("truth.json");
        std::fs::write(&path, kept + "\n").map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        say!("captures and truth kept in {}", workdir.display());
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
        Err(e @ tuntrace_core::capture::OpenError::Io { .. }) => {
            sink.inner.unreadable(e.to_string());
            0
        }
        Err(e) => {
            sink.damage(&Damage { offset: 0, what: e.to_string() });
            0
        }
    }
}
