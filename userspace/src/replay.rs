//! Replay: capture files (and standard input) read into one report.
//!
//! A tuntrace recording (a live session written with `trace -w`) replays as its session: with the
//! live session's expiry rules, and the files of one session (`-C`/`-G` rotation) joined, so one
//! interface is one interface across them.

use std::collections::HashMap;
use std::path::PathBuf;

use crate::aggregate::{Aggregator, Expiry, Options};
use crate::capture::recording;
use crate::capture::{Damage, Sink};
use crate::report::{Backend, Report, SourceKind};

/// Read capture files (`-` is standard input), in order, as one stream into `agg`. Damage stops
/// the damaged input only; it is recorded against the input's name and the next file is read.
pub fn feed_files(agg: &mut Aggregator, paths: &[PathBuf]) {
    let mut next_iface = 0u32;
    // The first interface id each recorded session's files use.
    let mut sessions: HashMap<String, u32> = HashMap::new();
    for path in paths {
        let session = (path.as_os_str() != "-").then(|| recording::session_of(path)).flatten();
        let first = match &session {
            Some(s) => *sessions.entry(s.id.clone()).or_insert(next_iface),
            None => next_iface,
        };
        // Exact in the JSON (bytes that are not UTF-8 as `\xNN`); text writers escape it.
        let mut sink = agg.input(crate::escape::path_for_json(path));
        match crate::capture::stream(path, first, &mut sink) {
            Ok(n) => next_iface = next_iface.max(first + n),
            Err(e @ crate::capture::OpenError::Io { .. }) => sink.unreadable(e.to_string()),
            // Not a capture: its first bytes are the damage.
            Err(e) => sink.damage(&Damage { offset: 0, what: e.to_string() }),
        }
    }
}

/// The options a replay of `paths` wants: a capture's, or a recorded live session's (its backend,
/// its expiry rules) when the first input is a tuntrace recording.
pub fn options_for(paths: &[PathBuf]) -> Options {
    let first = paths.first().filter(|p| p.as_os_str() != "-").and_then(|p| recording::session_of(p));
    match first {
        Some(s) => Options {
            kind: SourceKind::Replay,
            backend: match s.backend.as_str() {
                "dtrace" => Backend::Dtrace,
                "pktap" => Backend::Pktap,
                "pcap" => Backend::Pcap,
                _ => Backend::Ebpf,
            },
            expiry: Expiry::LIVE,
        },
        None => Options::replay(),
    }
}

/// Replay capture files (`-` is standard input) into one report.
pub fn replay_files(paths: &[PathBuf]) -> Report {
    let mut agg = Aggregator::with_options(options_for(paths));
    feed_files(&mut agg, paths);
    agg.finish()
}
