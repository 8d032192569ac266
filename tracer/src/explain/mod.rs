//! `tuntrace explain`: what each tunnel interface of our network namespace is, from what the
//! system already knows, in a second; with `--watch`, from a short live trace as well.
//!
//! The host is one more event source (docs/event-model.md): its links (with their TUN holders)
//! become `Interface` events, the processes holding them and sockets `Process` events, the
//! sockets sock_diag lists `Socket(Existing)` events, and the same aggregator as replay's and
//! trace's makes the same report of them. With `--watch` the live session (tracer/src/live)
//! runs for that long instead, and finds all of that itself at its start. Either way the host's
//! tables are then read once more (links, routes and policy rules, TUN holders, sockets, the
//! kernel's IPsec over xfrm) and added to the report: each interface's kernel details, the
//! routes and rules into it, its users and carriers, the peers (named by AS with `--asn-db`),
//! and what this user could not see. Verdicts come last, from the rules (rules/verdicts.toml
//! and the user's files), so they see everything.

pub mod asn;
mod host;
pub mod xfrm;

use std::path::{Path, PathBuf};
use std::time::Duration;

use tuntrace_core::aggregate::{Aggregator, Options as AggOptions};
use tuntrace_core::event::{Batch, Event};
use tuntrace_core::report::{Backend, Report};
use tuntrace_core::rules::{LoadError, RuleSet};

use crate::host::clock::{boot_now, BootToWall};
use crate::host::procs::ProcClock;
use crate::host::{links, netns, tun, HostError};
use crate::live::convert::Converter;
use crate::live::session::{self, TraceError, TraceOptions};

/// Where rules files of this host are read from, besides `--rules`.
pub const RULES_DIR: &str = "/etc/tuntrace/rules.d";

#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The interface to go deep on; all tunnel interfaces when `None`.
    pub iface: Option<String>,
    /// Trace live for this long first.
    pub watch: Option<Duration>,
    /// Rules files given with `--rules`, tried before the built-in rules (last given first).
    pub rules: Vec<PathBuf>,
    /// The directory of the host's rules files (`*.toml`, in name order); [`RULES_DIR`] by
    /// default.
    pub rules_dir: Option<PathBuf>,
    /// An ASN database (MaxMind DB format).
    pub asn_db: Option<PathBuf>,
}

pub struct Outcome {
    pub report: Report,
    /// What limited what was seen (said on stderr).
    pub warnings: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ExplainError {
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Rules(#[from] LoadError),
    #[error("no interface {name} in this network namespace{}", list(.tunnels))]
    NoSuchInterface { name: String, tunnels: Vec<String> },
    #[error("{0}")]
    Host(#[from] HostError),
    #[error("{0}")]
    Trace(#[from] TraceError),
}

fn list(tunnels: &[String]) -> String {
    if tunnels.is_empty() {
        "; it has no tunnel interfaces".into()
    } else {
        format!("; its tunnel interfaces: {}", tunnels.join(", "))
    }
}

impl ExplainError {
    /// The `tuntrace` exit code: 2 for a bad option or rules file, 1 for an interface that is
    /// not there, 3 when the host cannot be read or traced.
    pub fn exit_code(&self) -> u8 {
        match self {
            ExplainError::Usage(_) | ExplainError::Rules(_) => 2,
            ExplainError::NoSuchInterface { .. } => 1,
            ExplainError::Host(_) => 3,
            ExplainError::Trace(e) => e.exit_code(),
        }
    }
}

/// The rules: built-in, then the host's directory (in name order), then `--rules` files.
pub fn load_rules(opts: &Options) -> Result<RuleSet, ExplainError> {
    let mut files = Vec::new();
    let dir = opts.rules_dir.clone().unwrap_or_else(|| PathBuf::from(RULES_DIR));
    if let Ok(entries) = std::fs::read_dir(&dir) {
        let mut paths: Vec<PathBuf> =
            entries.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "toml")).collect();
        paths.sort();
        for p in paths {
            files.push(read_rules(&p)?);
        }
    }
    for p in &opts.rules {
        files.push(read_rules(p)?);
    }
    Ok(RuleSet::load(&files)?)
}

fn read_rules(p: &Path) -> Result<(String, String), ExplainError> {
    let text = std::fs::read_to_string(p)
        .map_err(|e| ExplainError::Usage(format!("cannot read rules file {}: {e}", p.display())))?;
    Ok((p.display().to_string(), text))
}

/// Explain the calling thread's network namespace.
pub fn run(opts: &Options) -> Result<Outcome, ExplainError> {
    let rules = load_rules(opts)?;
    let asn = match &opts.asn_db {
        Some(p) => Some(asn::AsnDb::open(p).map_err(ExplainError::Usage)?),
        None => None,
    };
    let mut warnings = Vec::new();
    let mut report = match opts.watch {
        Some(d) => {
            if let Some(name) = &opts.iface {
                let here = links::snapshot()?;
                if here.by_name(name).is_none() {
                    say!("tuntrace explain: {name} does not exist (yet): watching for it");
                }
            }
            let topts = TraceOptions { duration: Some(d), status: false, ..Default::default() };
            let outcome = session::run(&topts, &mut |_| {}, &mut |_| {})?;
            warnings.extend(outcome.warnings);
            outcome.report
        }
        None => snapshot(&mut warnings)?,
    };
    host::enrich(&mut report, asn.as_ref(), &mut warnings)?;
    rules.apply(&mut report);
    if let Some(name) = &opts.iface {
        let present = report.interfaces.iter().any(|i| i.name.as_deref() == Some(name) && i.removed.is_none());
        if !present {
            let tunnels = report
                .interfaces
                .iter()
                .filter(|i| i.kind.is_tunnel() && i.removed.is_none())
                .filter_map(|i| i.name.clone())
                .collect();
            return Err(ExplainError::NoSuchInterface { name: name.clone(), tunnels });
        }
    }
    Ok(Outcome { report, warnings })
}

/// The report of the host as it is now, with no packets: links and their holders, the
/// processes holding them and sockets, the sockets.
fn snapshot(warnings: &mut Vec<String>) -> Result<Report, ExplainError> {
    let ns = netns::current()?;
    let clock = BootToWall::measure()?;
    let proc_clock = ProcClock::new()?;
    // Events name namespaces by cookie, as the live source does; the inode stands in on
    // kernels before 5.14.
    let mut conv = Converter::new(clock, proc_clock, ns.cookie.unwrap_or(ns.inode));
    let mut agg = Aggregator::with_options(AggOptions::live(Backend::Netlink));
    agg.add_input(format!("netns:[{}]", ns.inode));
    let mut batch = Batch::new();
    let holders = tun::holders()?;
    for l in &links::snapshot()?.links {
        let owner = holders.holders(&l.name, ns.inode).first().map(|h| h.pid);
        conv.link(l, true, owner, &mut batch);
    }
    let at = boot_now().map(|b| clock.timestamp(b))?;
    match crate::live::seed::snapshot() {
        Ok(sockets) => {
            for s in &sockets {
                conv.seeded(s, at, &mut batch);
            }
        }
        Err(e) => warnings.push(format!("sockets are not listed: {e}")),
    }
    batch.push(Event::Tick(at));
    agg.feed_batch(&batch);
    Ok(agg.report())
}
