//! A live session: the probes loaded, the interfaces of our network namespace followed and
//! traced, and everything the kernel and the host say turned into events for the aggregator,
//! until the duration is up or a signal says stop. One thread runs it all (tokio's current-thread
//! runtime): the ring buffer, the counters read every second, the link watch, signals and timers.
//!
//! The order of what happens at start matters: the link watch subscribes before it dumps, the
//! probes are loaded before existing sockets are seeded (a socket made in between is seen by
//! both, which is harmless), and counters are read once more after the last ring drain, so the
//! report holds everything the kernel counted up to the end.

use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::signal::unix::{signal, SignalKind};
use tuntrace_core::aggregate::{Aggregator, Options};
use tuntrace_core::event::{Batch, Event};
use tuntrace_core::report::{Backend, Report};
use tuntrace_core::time::Timestamp;

use super::convert::Converter;
use super::{LiveError, ProbeConfig, Probes};
use crate::host::clock::{boot_now, BootToWall};
use crate::host::links::Link;
use crate::host::procs::ProcClock;
use crate::host::watch::{self, LinkEvent, LinkWatch};
use crate::host::{netns, tun, HostError};

/// How soon held-back samples (see [`Probes::drain`]) are looked at again when the ring is quiet.
const HELD_RECHECK: Duration = Duration::from_millis(3);

/// What `tuntrace trace` asks of a session.
#[derive(Debug, Clone)]
pub struct TraceOptions {
    /// Interfaces to trace, as names or shell globs (`ipsec*`); empty: every tunnel interface
    /// and every other interface that is up except loopback (the tunnels' possible carriers).
    pub ifaces: Vec<String>,
    /// Stop after this long; `None`: until SIGINT or SIGTERM.
    pub duration: Option<Duration>,
    /// Bytes of each IKE/SIP packet kept, from the IP header.
    pub snaplen: u32,
    /// Size of the kernel's ring buffer.
    pub ring_bytes: u32,
    /// A one-line status on stderr each second.
    pub status: bool,
}

impl Default for TraceOptions {
    fn default() -> Self {
        TraceOptions {
            ifaces: Vec::new(),
            duration: None,
            snaplen: tuntrace_probes::layout::MAX_SNAPLEN,
            ring_bytes: 8 << 20,
            status: true,
        }
    }
}

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    Duration,
    Interrupt,
    Terminate,
}

pub struct Outcome {
    pub report: Report,
    /// Things that did not stop the session but limit what it saw (an optional hook that did
    /// not attach, an interface that could not be traced…).
    pub warnings: Vec<String>,
    pub stopped_by: Stop,
    pub elapsed: Duration,
}

/// What can keep a session from running; every one means exit code 3.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    #[error("{0}")]
    Live(#[from] LiveError),
    #[error("{0}")]
    Host(#[from] HostError),
    #[error("cannot start the event loop: {0}")]
    Runtime(std::io::Error),
    #[error("the kernel does not give network namespace cookies (Linux 5.14 or later is needed)")]
    NoNetnsCookie,
    /// The options themselves are wrong (exit code 2).
    #[error("{0}")]
    Usage(String),
}

impl TraceError {
    /// The `tuntrace` exit code: 2 for a usage error, else 3 (the environment cannot trace).
    pub fn exit_code(&self) -> u8 {
        match self {
            TraceError::Usage(_) => 2,
            _ => 3,
        }
    }
}

/// Whether interface `name` is one the options ask for.
pub struct Selection {
    patterns: Vec<glob::Pattern>,
}

impl Selection {
    /// The patterns of `-i`; an invalid one is a usage error, said with the pattern.
    pub fn new(patterns: &[String]) -> Result<Selection, String> {
        let patterns = patterns
            .iter()
            .map(|p| glob::Pattern::new(p).map_err(|e| format!("-i {p:?}: not a valid pattern ({e})")))
            .collect::<Result<_, _>>()?;
        Ok(Selection { patterns })
    }

    pub fn wants(&self, link: &Link) -> bool {
        if self.patterns.is_empty() {
            return link.is_tunnel() || (link.flags.up() && !link.flags.loopback());
        }
        self.patterns.iter().any(|p| p.matches(&link.name))
    }

    /// Patterns that are plain names, for saying which named interface does not exist.
    pub fn plain_names(&self) -> impl Iterator<Item = &str> {
        self.patterns.iter().map(glob::Pattern::as_str).filter(|p| !p.contains(['*', '?', '[']))
    }
}

/// The ring buffer's descriptor for tokio; the probes own it and outlive this.
struct RingFd(RawFd);

impl AsRawFd for RingFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0
    }
}

/// Everything a running session holds.
struct Session<'a> {
    probes: Probes,
    conv: Converter,
    agg: Aggregator,
    sel: Selection,
    netns_inode: u64,
    traced: std::collections::BTreeSet<u32>,
    warnings: Vec<String>,
    batch: Batch,
    on_batch: &'a mut dyn FnMut(&Batch),
    samples: u64,
    events: u64,
}

/// Run a session in the calling thread's network namespace. `on_batch` sees every batch of
/// events before the aggregator does (a recorder writes them out); `on_end` sees the outcome as
/// soon as the session stops, before the probes are taken out of the kernel (which takes the
/// kernel a moment per tracepoint): print the report there, and the user does not wait.
pub fn run(
    opts: &TraceOptions,
    on_batch: &mut dyn FnMut(&Batch),
    on_end: &mut dyn FnMut(&Outcome),
) -> Result<Outcome, TraceError> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(TraceError::Runtime)?;
    let (outcome, probes) = rt.block_on(session(opts, on_batch))?;
    on_end(&outcome);
    drop(probes);
    Ok(outcome)
}

fn now(clock: &BootToWall) -> Timestamp {
    boot_now().map(|b| clock.timestamp(b)).unwrap_or_else(|_| {
        let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        Timestamp(d.as_nanos() as i64)
    })
}

async fn session(opts: &TraceOptions, on_batch: &mut dyn FnMut(&Batch)) -> Result<(Outcome, Probes), TraceError> {
    let started = Instant::now();
    let sel = Selection::new(&opts.ifaces).map_err(TraceError::Usage)?;
    let ns = netns::current()?;
    let cookie = ns.cookie.ok_or(TraceError::NoNetnsCookie)?;
    let clock = BootToWall::measure()?;
    let proc_clock = ProcClock::new()?;
    let probes = Probes::load(&ProbeConfig {
        snaplen: opts.snaplen,
        ring_bytes: opts.ring_bytes,
        netns_cookie: None,
        kernel_idle_ns: ProbeConfig::kernel_idle_from_env(),
    })?;
    tracing::info!(netns = ns.inode, programs = probes.program_ids().len(), "probes loaded");
    let warnings = probes.warnings().to_vec();
    let mut agg = Aggregator::with_options(Options::live(Backend::Ebpf));
    agg.add_input(format!("netns:[{}]", ns.inode));
    let mut s = Session {
        probes,
        conv: Converter::new(clock, proc_clock, cookie),
        agg,
        sel,
        netns_inode: ns.inode,
        traced: Default::default(),
        warnings,
        batch: Batch::with_capacity(1024, 256 << 10),
        on_batch,
        samples: 0,
        events: 0,
    };
    let mut watch = watch::watch()?;
    let links: Vec<Link> = watch.links().cloned().collect();
    let holders = tun::holders().ok();
    for l in &links {
        let owner = holders.as_ref().and_then(|h| h.holders(&l.name, ns.inode).first().map(|x| x.pid));
        s.conv.link(l, true, owner, &mut s.batch);
        s.trace_if_wanted(l);
    }
    for name in s.sel.plain_names() {
        if !links.iter().any(|l| l.name == name) {
            s.warnings.push(format!("interface {name} does not exist (yet): it is traced when it appears"));
        }
    }
    let at = now(&clock);
    match s.probes.seed_sockets() {
        Ok(seeded) => {
            for sock in &seeded {
                s.conv.seeded(sock, at, &mut s.batch);
            }
        }
        Err(e) => s.warnings.push(format!("sockets open before the session are not attributed: {e}")),
    }
    s.batch.push(Event::Tick(at));
    s.flush();
    for w in &s.warnings {
        say!("tuntrace trace: warning: {w}");
    }
    let traced: Vec<&str> = links.iter().filter(|l| s.traced.contains(&l.index)).map(|l| l.name.as_str()).collect();
    say!(
        "tuntrace trace: tracing {} in network namespace [{}]{}",
        if traced.is_empty() { "no interface yet".to_string() } else { traced.join(", ") },
        ns.inode,
        if opts.duration.is_some() { "" } else { "; Ctrl-C to stop" }
    );
    let warned = s.warnings.len();

    // SAFETY: the descriptor belongs to the probes in `s`, declared before `ring` and so
    // dropped after it: it stays open for as long as tokio has it registered.
    let ring = unsafe { AsyncFd::register_with_interest(RingFd(s.probes.ring_fd().as_raw_fd()), Interest::READABLE) }
        .map_err(|e| TraceError::Live(LiveError::io("the ring buffer (tokio)", e.into())))?;
    let mut sigint = signal(SignalKind::interrupt()).map_err(TraceError::Runtime)?;
    let mut sigterm = signal(SignalKind::terminate()).map_err(TraceError::Runtime)?;
    let mut sigusr1 = signal(SignalKind::user_defined1()).map_err(TraceError::Runtime)?;
    let mut second = tokio::time::interval(Duration::from_secs(1));
    second.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    second.tick().await;
    let deadline = opts.duration.map(|d| tokio::time::Instant::now() + d);
    let until = async {
        match deadline {
            Some(d) => tokio::time::sleep_until(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(until);
    let mut watch_alive = true;
    let stop = loop {
        tokio::select! {
            r = ring.readable() => {
                match r {
                    Ok(mut guard) => {
                        s.drain();
                        guard.clear_ready();
                        s.flush();
                    }
                    Err(e) => s.warnings.push(format!("the ring buffer stopped being readable: {e}")),
                }
            }
            ev = watch.next(), if watch_alive => match ev {
                Ok(ev) => s.link_event(ev, &watch, &clock),
                Err(e) => {
                    s.warnings.push(format!("interface changes are no longer followed: {e}"));
                    watch_alive = false;
                }
            },
            // An egress sample waits for its sender's confirmation (microseconds after tc): the
            // ring may stay quiet meanwhile, so it is looked at again shortly.
            _ = tokio::time::sleep(HELD_RECHECK), if s.probes.held_records() > 0 => {
                s.drain();
                s.flush();
            }
            _ = second.tick() => {
                s.read_counters(&clock);
                s.flush();
                if opts.status {
                    s.status_line(started.elapsed());
                }
            }
            _ = sigusr1.recv() => {
                say!("{}", tuntrace_core::report::text::render(&s.agg.report()));
            }
            _ = sigint.recv() => break Stop::Interrupt,
            _ = sigterm.recv() => break Stop::Terminate,
            _ = &mut until => break Stop::Duration,
        }
    };
    // What the kernel holds up to now: the ring drained (held samples included), the counters
    // read once more.
    s.drain_all();
    s.read_counters(&clock);
    s.flush();
    if opts.status && std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        say!();
    }
    if watch.overruns() > 0 {
        s.warnings.push(format!(
            "the kernel dropped interface notifications {} times (each recovered by a new dump)",
            watch.overruns()
        ));
    }
    // Warnings said at start are not said again at the end.
    let warnings = s.warnings.split_off(warned);
    drop(ring);
    let outcome = Outcome { report: s.agg.report(), warnings, stopped_by: stop, elapsed: started.elapsed() };
    Ok((outcome, s.probes))
}

impl Session<'_> {
    fn trace_if_wanted(&mut self, l: &Link) {
        if !self.sel.wants(l) || self.traced.contains(&l.index) {
            return;
        }
        let Some(l2) = l.l2_header_len() else {
            self.warnings
                .push(format!("{}: link type {} is not one tuntrace can parse: not traced", l.name, l.link_type));
            return;
        };
        match self.probes.attach_iface(l.index, u32::from(l2), l.flags.loopback()) {
            Ok(()) => {
                tracing::info!(iface = %l.name, ifindex = l.index, "traced");
                self.traced.insert(l.index);
            }
            // It went away between the news and the attach: its removal follows.
            Err(LiveError::InterfaceGone { .. }) => {}
            Err(e) => self.warnings.push(format!("{}: not traced: {e}", l.name)),
        }
    }

    fn link_event(&mut self, ev: LinkEvent, watch: &LinkWatch, clock: &BootToWall) {
        match ev {
            LinkEvent::Added(l) => {
                // A TUN that appears was just created; its holder is whoever attached to it.
                let owner = if l.kind.as_ref().is_some_and(|k| k.as_str() == "tun") {
                    tun::holders().ok().and_then(|h| h.holders(&l.name, self.netns_inode).first().map(|x| x.pid))
                } else {
                    None
                };
                tracing::debug!(iface = %l.name, "link added");
                self.conv.link(&l, false, owner, &mut self.batch);
                self.trace_if_wanted(&l);
            }
            LinkEvent::Changed { after, .. } => {
                self.conv.relink(&after, &mut self.batch);
                self.trace_if_wanted(&after);
            }
            LinkEvent::Removed(l) => {
                tracing::debug!(iface = %l.name, "link removed");
                if self.traced.remove(&l.index) {
                    let _ = self.probes.detach_iface(l.index);
                }
                // What the kernel counted on it until now is read before it is forgotten.
                self.read_counters(clock);
                self.conv.link_removed(l.index, now(clock), &mut self.batch);
            }
            LinkEvent::AddressAdded { index, .. } | LinkEvent::AddressRemoved { index, .. } => {
                if let Some(l) = watch.links().find(|l| l.index == index) {
                    self.conv.relink(l, &mut self.batch);
                }
            }
        }
        self.flush();
    }

    fn drain(&mut self) {
        self.drain_records(false);
    }

    fn drain_all(&mut self) {
        self.drain_records(true);
    }

    fn drain_records(&mut self, all: bool) {
        let (conv, batch) = (&mut self.conv, &mut self.batch);
        let mut samples = 0;
        let f = |r: super::RecordRef<'_>| {
            samples += u64::from(matches!(r, super::RecordRef::Packet { .. }));
            conv.record(&r, batch);
        };
        if all {
            self.probes.drain_all(f);
        } else {
            self.probes.drain(f);
        }
        self.samples += samples;
        for k in self.conv.take_not_openvpn() {
            if let Err(e) = self.probes.not_openvpn(&k) {
                tracing::warn!("{e}");
            }
        }
    }

    fn read_counters(&mut self, clock: &BootToWall) {
        let at = now(clock);
        match (self.probes.read_counters(), self.probes.ring_full_per_cpu()) {
            (Ok(c), Ok(per_cpu)) => {
                let bad = self.probes.bad_records();
                self.conv.counters(&c, &per_cpu, bad, at, &mut self.batch);
            }
            (Err(e), _) | (_, Err(e)) => {
                let w = format!("kernel counters could not be read: {e}");
                if !self.warnings.contains(&w) {
                    self.warnings.push(w);
                }
            }
        }
        self.batch.push(Event::Tick(at));
    }

    fn flush(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        (self.on_batch)(&self.batch);
        self.events += self.batch.len() as u64;
        self.agg.feed_batch(&self.batch);
        self.batch.clear();
    }

    fn status_line(&self, elapsed: Duration) {
        use std::io::IsTerminal;
        let st = self.agg.status();
        let attributed = if st.packets == 0 {
            "-".to_string()
        } else {
            format!("{:.1}%", 100.0 * (st.packets - st.unattributed_packets) as f64 / st.packets as f64)
        };
        // On a terminal the line is rewritten in place; in a log, one line a second.
        let (start, end) = if std::io::stderr().is_terminal() { ("\r\x1b[2K", "") } else { ("", "\n") };
        eprint!(
            "{start}tuntrace: {:>6.1}s  packets {}  samples {}  events {}  drops {}  interfaces {} ({} traced)  attributed {}{end}",
            elapsed.as_secs_f64(),
            st.packets,
            self.samples,
            self.events,
            st.dropped_events,
            st.interfaces,
            self.traced.len(),
            attributed
        );
    }
}
