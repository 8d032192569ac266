//! The `tuntrace` command.

use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tuntrace_core::replay::replay_files;
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
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Replay { files, json, ladder } => replay(&files, json, ladder.as_deref()),
        Cmd::Demo { scenario, json, calls, keep } => demo(scenario, json, calls, keep),
    }
}

fn replay(files: &[PathBuf], json: bool, ladder_id: Option<&str>) -> ExitCode {
    let report = replay_files(files);
    let mut stdout = std::io::stdout().lock();
    let written = if let Some(id) = ladder_id {
        match ladder::render(&report, id) {
            Some(l) => stdout.write_all(l.as_bytes()),
            None => {
                let known: Vec<&str> = report
                    .sip
                    .dialogs
                    .iter()
                    .map(|d| d.call_id.as_str())
                    .chain(report.sip.registrations.iter().map(|r| r.call_id.as_str()))
                    .collect();
                eprintln!("tuntrace: no SIP Call-ID {id:?} in the input");
                if known.is_empty() {
                    eprintln!("  the input holds no SIP dialogs or registrations");
                } else {
                    eprintln!("  Call-IDs seen: {}", known.join(", "));
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
        if e.offset == 0 {
            eprintln!("tuntrace: {}: {}", e.input, e.message);
        } else {
            eprintln!(
                "tuntrace: {}: {} at byte offset {}; everything before it is reported",
                e.input, e.message, e.offset
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

fn demo(scenario: tuntrace_lab::Tunnel, json: bool, calls: u32, keep: Option<PathBuf>) -> ExitCode {
    use tuntrace::demo::{agreement_named, run, Options, Outcome};
    match run(&Options { scenario, json, keep, calls }) {
        Ok(Outcome::Agrees) => {
            eprintln!("tuntrace's report agrees with the peers ({})", agreement_named(scenario));
            ExitCode::from(EXIT_OK)
        }
        Ok(Outcome::Disagrees(points)) => {
            eprintln!("tuntrace's report disagrees with the peers:");
            for p in points {
                eprintln!("  - {p}");
            }
            ExitCode::from(EXIT_INPUT)
        }
        Err(e) => {
            eprintln!("tuntrace demo: {e}");
            ExitCode::from(EXIT_ENVIRONMENT)
        }
    }
}
