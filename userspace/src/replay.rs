//! Replay: capture files (and standard input) read into one report.

use std::path::PathBuf;

use crate::aggregate::Aggregator;
use crate::capture::{Damage, Sink};
use crate::report::Report;

/// Read capture files (`-` is standard input), in order, as one stream into `agg`. Damage stops
/// the damaged input only; it is recorded against the input's name and the next file is read.
pub fn feed_files(agg: &mut Aggregator, paths: &[PathBuf]) {
    let mut next_iface = 0u32;
    for path in paths {
        let mut sink = agg.input(path.display().to_string());
        match crate::capture::stream(path, next_iface, &mut sink) {
            Ok(n) => next_iface += n,
            Err(e) => sink.damage(&Damage { offset: 0, what: e.to_string() }),
        }
    }
}

/// Replay capture files (`-` is standard input) into one report.
pub fn replay_files(paths: &[PathBuf]) -> Report {
    let mut agg = Aggregator::new(crate::report::SourceKind::Replay, crate::report::Backend::Pcap);
    feed_files(&mut agg, paths);
    agg.finish()
}
