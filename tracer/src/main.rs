//! The `tuntrace` command.

use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tuntrace::{escape, say};
use tuntrace_core::aggregate::Aggregator;
use tuntrace_core::replay;
use tuntrace_core::report::{ladder, text};

/// Exit codes (docs/usage.md).
const EXIT_OK: u8 = 0;
const EXIT_INPUT: u8 = 1;
const EXIT_USAGE: u8 = 2;
const EXIT_ENVIRONMENT: u8 = 3;

#[derive(Parser)]
#[command(
    name = "tuntrace",
    version,
    about = "Who created a tunnel interface, which processes use it, and what flows through it"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Report on pcap/pcapng captures (tcpdump, Wireshark, macOS `tcpdump -i pktap`) or tuntrace recordings.
    Replay {
        /// Capture files, read in order as one stream (`-` reads standard input, e.g. from
        /// `tcpdump -w -`).
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Print the report as JSON (schema tuntrace.report/1, docs/report-schema.md).
        #[arg(long, conflicts_with = "ladder")]
        json: bool,
        /// Draw the call flow of one SIP Call-ID instead of the report.
        #[arg(long, value_name = "CALL-ID")]
        ladder: Option<String>,
        /// A rules file of your own for the verdicts (docs/rules.md), tried before the built-in
        /// rules; repeatable.
        #[arg(long = "rules", value_name = "FILE")]
        rules: Vec<PathBuf>,
    },
    /// Trace live (Linux, eBPF): attribute every socket and every packet on tunnel interfaces
    /// and their carriers to its process, in the network namespace this runs in
    /// (`ip netns exec NS tuntrace trace` for another). Needs root (or CAP_BPF, CAP_NET_ADMIN and
    /// CAP_PERFMON). Prints a status line each second on stderr and the report at the end
    /// (duration, Ctrl-C or SIGTERM); SIGUSR1 prints the report so far on stderr.
    Trace {
        /// Interfaces to trace, by name or shell pattern (`ipsec*`); repeatable. Default: every
        /// tunnel interface, and every other interface that is up except loopback (the
        /// tunnels' possible carriers). Interfaces that appear later are traced when they match.
        #[arg(short = 'i', long = "interface", value_name = "IFACE")]
        ifaces: Vec<String>,
        /// Report only what these processes own (flows, sockets, SAs, SIP calls, tunnels); repeatable.
        #[arg(long, value_name = "PID")]
        pid: Vec<u32>,
        /// Report only what processes of this command name own; repeatable.
        #[arg(long, value_name = "NAME")]
        comm: Vec<String>,
        /// Stop after this long (`30s`, `5m`, `1h30m`, or seconds); default: until Ctrl-C.
        #[arg(short = 'd', long, value_name = "DURATION", value_parser = parse_duration)]
        duration: Option<std::time::Duration>,
        /// Print the report as JSON (schema tuntrace.report/1, docs/report-schema.md).
        #[arg(long)]
        json: bool,
        /// Bytes of each IKE and SIP packet taken for decoding, from the IP header (64 to 1500).
        #[arg(long, default_value_t = 1500, value_parser = clap::value_parser!(u32).range(64..=1500))]
        snaplen: u32,
        /// Size of the kernel's ring buffer for events and packet heads, in KiB (a power of two,
        /// at least 4). Raise it when the report counts ring-buffer losses.
        #[arg(long, default_value_t = 8192, value_name = "KIB", value_parser = parse_ring_kib)]
        ring_kib: u32,
        /// Record the session to this pcapng file while tracing: every packet head with its
        /// process (Wireshark and tshark show it), and every other event, so that
        /// `tuntrace replay FILE` gives this session's report (docs/recording.md). Mode 0600.
        #[arg(short = 'w', long = "write", value_name = "FILE")]
        write: Option<PathBuf>,
        /// With -w: start a new file after this many MB (FILE, FILE1, FILE2…, as tcpdump -C).
        #[arg(short = 'C', value_name = "MB", requires = "write", value_parser = clap::value_parser!(u64).range(1..))]
        file_mb: Option<u64>,
        /// With -w: start a new file every this many seconds (as tcpdump -G; files named as -C).
        #[arg(short = 'G', value_name = "SECONDS", requires = "write", value_parser = clap::value_parser!(u64).range(1..))]
        file_secs: Option<u64>,
        /// With -w: remove SIP bodies, the user parts of SIP URIs and phone numbers, display
        /// names, and IKE identities from the recorded packets (lengths kept, still decodable).
        #[arg(long, requires = "write")]
        redact: bool,
        /// No status line.
        #[arg(short, long)]
        quiet: bool,
        /// Log what the session does on stderr (-v: setup and interface changes, -vv: more).
        #[arg(short, action = clap::ArgAction::Count)]
        verbose: u8,
    },
    /// Explain the tunnel interfaces of this network namespace (`ip netns exec NS tuntrace
    /// explain` for another): what each is for (a verdict from the rules, with its evidence),
    /// its kind and settings, who holds and created it, the routes and policy rules into it,
    /// its carrier and peers, the kernel's IPsec, and the processes that use it. Reads what
    /// the system already knows (rtnetlink, sock_diag, /proc, xfrm); `--watch` adds a live
    /// trace (eBPF, root). Without root it shows what an unprivileged user can see and says
    /// what root would add.
    Explain {
        /// The interface to explain in depth (default: every tunnel interface, briefly).
        #[arg(value_name = "IFACE")]
        iface: Option<String>,
        /// Trace live this long first (`5`, `30s`, `2m`): IKE peers and SAs, ESP SPIs, SIP
        /// registrations and calls, each with its process; an interface created meanwhile names
        /// its creator.
        #[arg(long, value_name = "SECONDS", value_parser = parse_duration)]
        watch: Option<std::time::Duration>,
        /// Print the report as JSON (schema tuntrace.report/1, docs/report-schema.md).
        #[arg(long)]
        json: bool,
        /// A rules file of your own (docs/rules.md), tried before the built-in rules; repeatable.
        #[arg(long = "rules", value_name = "FILE")]
        rules: Vec<PathBuf>,
        /// Where the host's rules files are (`*.toml`).
        #[arg(long, value_name = "DIR", default_value = "/etc/tuntrace/rules.d")]
        rules_dir: PathBuf,
        /// An ASN database in MaxMind DB format (GeoLite2-ASN, DB-IP ASN Lite): peers are named by
        /// AS number and organisation, offline.
        #[arg(long, value_name = "FILE")]
        asn_db: Option<PathBuf>,
    },
    /// Bring up the Wi-Fi-calling lab (strongSwan IKEv2 + SIPp in network namespaces, or the same
    /// SIP over WireGuard or OpenVPN), run a REGISTER and calls through the tunnel, tear it down,
    /// and report what was seen beside what the peers themselves say. Needs root and the lab
    /// packages (ci/setup).
    Demo {
        /// The tunnel: ipsec (strongSwan, ipsec0), wireguard (wireguard-go, wg0), openvpn
        /// (OpenVPN over UDP, tun0) or openvpn-tcp.
        #[arg(long, default_value = "ipsec", value_name = "SCENARIO", value_parser = parse_scenario)]
        scenario: tuntrace_lab::Tunnel,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        /// Number of calls to place.
        #[arg(long, default_value_t = 2)]
        calls: u32,
        /// Keep the captures and the peers' truth in this directory.
        #[arg(long, value_name = "DIR")]
        keep: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    tuntrace_core::aggregate::set_memory_probe(tuntrace::heap::in_use);
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Trace {
            ifaces,
            pid,
            comm,
            duration,
            json,
            snaplen,
            ring_kib,
            write,
            file_mb,
            file_secs,
            redact,
            quiet,
            verbose,
        } => {
            let filter = tuntrace_core::report::filter::ProcessFilter { pids: pid, comms: comm };
            let record = write.map(|path| Record { path, file_mb, file_secs, redact });
            let args = TraceArgs { ifaces, duration, snaplen, ring_bytes: ring_kib * 1024, status: !quiet, record };
            trace(args, filter, json, verbose)
        }
        Cmd::Replay { files, json, ladder, rules } => match user_rules(&rules) {
            Ok(r) => replay(&files, json, ladder.as_deref(), r.as_ref()),
            Err(e) => {
                say!("tuntrace: {e}");
                ExitCode::from(EXIT_USAGE)
            }
        },
        Cmd::Explain { iface, watch, json, rules, rules_dir, asn_db } => {
            explain(ExplainArgs { iface, watch, json, rules, rules_dir, asn_db })
        }
        Cmd::Demo { scenario, json, calls, keep } => demo(scenario, json, calls, keep),
    }
}

fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    if let Ok(secs) = s.parse::<f64>() {
        if secs.is_finite() && secs > 0.0 {
            return Ok(std::time::Duration::from_secs_f64(secs));
        }
    }
    humantime::parse_duration(s).map_err(|e| format!("{s:?} is not a duration like 30s, 5m or 1h30m ({e})"))
}

fn parse_ring_kib(s: &str) -> Result<u32, String> {
    match s.parse::<u32>() {
        Ok(k) if k >= 4 && k.is_power_of_two() && k <= 1 << 20 => Ok(k),
        _ => Err(format!("{s:?}: a power of two from 4 to 1048576 (KiB)")),
    }
}

/// What `tuntrace trace` was asked, besides output and filtering.
struct TraceArgs {
    ifaces: Vec<String>,
    duration: Option<std::time::Duration>,
    snaplen: u32,
    ring_bytes: u32,
    status: bool,
    record: Option<Record>,
}

/// `-w FILE [-C MB] [-G SECONDS] [--redact]`.
struct Record {
    path: PathBuf,
    file_mb: Option<u64>,
    file_secs: Option<u64>,
    redact: bool,
}

#[cfg(target_os = "linux")]
fn trace(args: TraceArgs, filter: tuntrace_core::report::filter::ProcessFilter, json: bool, verbose: u8) -> ExitCode {
    use tuntrace::live::session::{self, TraceOptions};
    if verbose > 0 {
        let level = if verbose > 1 { tracing::Level::DEBUG } else { tracing::Level::INFO };
        tracing_subscriber::fmt().with_max_level(level).with_writer(std::io::stderr).init();
    }
    use tuntrace::live::record::{RecordOptions, Recorder};
    let TraceArgs { ifaces, duration, snaplen, ring_bytes, status, record } = args;
    let opts = TraceOptions { ifaces, duration, snaplen, ring_bytes, status };
    // An unwritable file is said at once; the session goes on and its report still prints.
    let mut record_failed = false;
    let mut recorder = record.and_then(|r| {
        let ropts = RecordOptions {
            path: r.path.clone(),
            max_bytes: r.file_mb.map(|mb| mb * 1_000_000),
            every: r.file_secs.map(std::time::Duration::from_secs),
            redact: r.redact,
        };
        let started = tuntrace_core::time::Timestamp(
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as i64),
        );
        let netns = std::fs::metadata("/proc/thread-self/ns/net").ok().map(|m| std::os::unix::fs::MetadataExt::ino(&m));
        match Recorder::create(ropts, "ebpf", netns, started) {
            Ok(rec) => Some(rec),
            Err(e) => {
                say!("tuntrace trace: cannot record to {}: {e}; tracing without recording", escape::path(&r.path));
                record_failed = true;
                None
            }
        }
    });
    // The report is printed as soon as the session stops, before the probes leave the kernel.
    let mut print = |outcome: &session::Outcome| {
        for w in &outcome.warnings {
            say!("tuntrace trace: warning: {w}");
        }
        let mut report = outcome.report.clone();
        filter.apply(&mut report);
        let mut out = BufWriter::with_capacity(64 << 10, std::io::stdout().lock());
        let written = if json { report.write_json(&mut out) } else { out.write_all(text::render(&report).as_bytes()) };
        // A closed pipe (`| head`) is not an error worth a message.
        let _ = written.and_then(|_| out.flush());
    };
    let mut on_batch = |b: &tuntrace_core::event::Batch| {
        if let Some(r) = recorder.as_mut() {
            r.write(b);
        }
    };
    let result = session::run(&opts, &mut on_batch, &mut print);
    if let Some(r) = recorder {
        match r.finish() {
            Ok(files) => {
                let names: Vec<String> = files.iter().map(|f| escape::path(f).into_owned()).collect();
                say!("tuntrace trace: recorded to {}", names.join(", "));
            }
            Err(e) => {
                say!("tuntrace trace: {e}");
                record_failed = true;
            }
        }
    }
    match result {
        Ok(_) if record_failed => ExitCode::from(EXIT_INPUT),
        Ok(_) => ExitCode::from(EXIT_OK),
        Err(e) => {
            say!("tuntrace trace: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn trace(_: TraceArgs, _: tuntrace_core::report::filter::ProcessFilter, _: bool, _: u8) -> ExitCode {
    say!("tuntrace trace: live tracing needs Linux (eBPF); on macOS, replay a `tcpdump -i pktap` capture");
    ExitCode::from(EXIT_ENVIRONMENT)
}

/// What `tuntrace explain` was asked.
struct ExplainArgs {
    iface: Option<String>,
    watch: Option<std::time::Duration>,
    json: bool,
    rules: Vec<PathBuf>,
    rules_dir: PathBuf,
    asn_db: Option<PathBuf>,
}

#[cfg(target_os = "linux")]
fn explain(a: ExplainArgs) -> ExitCode {
    use tuntrace::explain::{run, Options};
    let opts = Options {
        iface: a.iface.clone(),
        watch: a.watch,
        rules: a.rules,
        rules_dir: Some(a.rules_dir),
        asn_db: a.asn_db,
    };
    match run(&opts) {
        Ok(outcome) => {
            for w in &outcome.warnings {
                say!("tuntrace explain: warning: {w}");
            }
            let mut out = BufWriter::with_capacity(64 << 10, std::io::stdout().lock());
            let written = if a.json {
                outcome.report.write_json(&mut out)
            } else {
                out.write_all(tuntrace_core::report::answer::render(&outcome.report, a.iface.as_deref()).as_bytes())
            };
            let _ = written.and_then(|_| out.flush());
            ExitCode::from(EXIT_OK)
        }
        Err(e) => {
            say!("tuntrace explain: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn explain(_: ExplainArgs) -> ExitCode {
    say!("tuntrace explain: needs Linux for now; on macOS, replay a `tcpdump -i pktap` capture");
    ExitCode::from(EXIT_ENVIRONMENT)
}

/// The built-in rules and `files`, or `None` when no file is given (the report's verdicts are
/// then the built-in rules' already).
fn user_rules(files: &[PathBuf]) -> Result<Option<tuntrace_core::rules::RuleSet>, String> {
    if files.is_empty() {
        return Ok(None);
    }
    let mut texts = Vec::new();
    for p in files {
        let t = std::fs::read_to_string(p).map_err(|e| format!("cannot read rules file {}: {e}", escape::path(p)))?;
        texts.push((p.display().to_string(), t));
    }
    tuntrace_core::rules::RuleSet::load(&texts).map(Some).map_err(|e| e.to_string())
}

fn replay(
    files: &[PathBuf],
    json: bool,
    ladder_id: Option<&str>,
    rules: Option<&tuntrace_core::rules::RuleSet>,
) -> ExitCode {
    let mut agg = Aggregator::with_options(replay::options_for(files));
    replay::feed_files(&mut agg, files);
    let mut report = agg.report();
    // The process ends soon after: the tables' strings and vectors (tens of thousands of calls
    // on a large capture) would be freed one by one for nothing the OS does not take back.
    std::mem::forget(agg);
    if let Some(r) = rules {
        r.apply(&mut report);
    }
    let mut stdout = std::io::stdout().lock();
    let written = if let Some(id) = ladder_id {
        match ladder::render(&report, id) {
            Some(l) => stdout.write_all(l.as_bytes()),
            None => {
                let known: Vec<_> = report
                    .sip
                    .dialogs
                    .iter()
                    .map(|d| escape::field(&d.call_id))
                    .chain(report.sip.registrations.iter().map(|r| escape::field(&r.call_id)))
                    .collect();
                say!("tuntrace: no SIP Call-ID \"{}\" in the input", escape::field(id));
                if known.is_empty() {
                    say!("  the input holds no SIP dialogs or registrations");
                } else {
                    say!("  Call-IDs seen: {}", known.join(", "));
                }
                return ExitCode::from(EXIT_USAGE);
            }
        }
    } else if json {
        // Streamed: the document (26 MB for the benchmark capture) is never held whole.
        let mut out = BufWriter::with_capacity(64 * 1024, &mut stdout);
        report.write_json(&mut out).and_then(|_| out.flush())
    } else {
        stdout.write_all(text::render(&report).as_bytes())
    };
    // A closed pipe (`| head`) is not an error worth a message.
    let _ = written.and_then(|_| stdout.flush());
    for e in &report.errors {
        if e.unreadable {
            say!("tuntrace: {}: {}", escape::field(&e.input), escape::field(&e.message));
        } else {
            say!(
                "tuntrace: {}: {} at byte offset {}; everything before it is reported",
                escape::field(&e.input),
                escape::field(&e.message),
                e.offset
            );
        }
    }
    let code = if report.errors.is_empty() { ExitCode::from(EXIT_OK) } else { ExitCode::from(EXIT_INPUT) };
    // The process ends right after this: freeing every string and vector of a large report
    // one by one costs time (about 20 instructions a packet) and frees nothing the OS would
    // not take back anyway. Output is already written and flushed above.
    std::mem::forget(report);
    code
}

fn parse_scenario(s: &str) -> Result<tuntrace_lab::Tunnel, String> {
    tuntrace_lab::Tunnel::parse(s).ok_or_else(|| {
        let names: Vec<&str> = tuntrace_lab::Tunnel::ALL.iter().map(|t| t.as_str()).collect();
        format!("unknown scenario {s:?}: one of {}", names.join(", "))
    })
}

#[cfg(not(target_os = "linux"))]
fn demo(_: tuntrace_lab::Tunnel, _: bool, _: u32, _: Option<PathBuf>) -> ExitCode {
    say!("tuntrace demo: the lab needs Linux (network namespaces, strongSwan, eBPF)");
    ExitCode::from(EXIT_ENVIRONMENT)
}

#[cfg(target_os = "linux")]
fn demo(scenario: tuntrace_lab::Tunnel, json: bool, calls: u32, keep: Option<PathBuf>) -> ExitCode {
    use tuntrace::demo::{agreement_named, run, Options, Outcome};
    match run(&Options { scenario, json, keep, calls }) {
        Ok(Outcome::Agrees) => {
            say!("tuntrace's report agrees with the peers ({})", agreement_named(scenario));
            ExitCode::from(EXIT_OK)
        }
        Ok(Outcome::Disagrees(points)) => {
            say!("tuntrace's report disagrees with the peers:");
            for p in points {
                say!("  - {p}");
            }
            ExitCode::from(EXIT_INPUT)
        }
        Err(e) => {
            say!("tuntrace demo: {e}");
            ExitCode::from(EXIT_ENVIRONMENT)
        }
    }
}
