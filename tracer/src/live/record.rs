//! `tuntrace trace -w FILE.pcapng`: the session's event stream written as it happens, so that
//! `tuntrace replay FILE.pcapng` gives the report the session gave, and Wireshark, tshark and
//! tcpdump read the packets with their processes (docs/recording.md).
//!
//! Every packet head is an Enhanced Packet Block on its interface (LINKTYPE_RAW: heads start at
//! the IP header) with its direction, a ptcpdump-style comment (`PID: n\nCmd: name`), an Apple
//! process block reference (which Wireshark shows), and tuntrace's own record (process, socket,
//! sampled). Everything else — the session, interfaces, processes, sockets, TUN attachments,
//! kernel counters, losses, heartbeats — goes in order between them as tuntrace custom blocks.
//!
//! Files are created mode 0600 (heads hold phone numbers and identities; `--redact` removes
//! them). Blocks reach the file at least every second, so a session killed with SIGKILL leaves a
//! file that replays up to its last second. With `-C`/`-G` the session goes on in a new file
//! (`FILE`, `FILE1`, `FILE2`… as tcpdump names them), each starting with what the session knows
//! (its interfaces, processes, sockets), so each replays alone and all replay together.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tuntrace_core::capture::recording::{self, PacketRecord, Recorded, Session};
use tuntrace_core::capture::writer::{PacketMeta, PcapngWriter};
use tuntrace_core::event::{Batch, Event, IfaceId, InterfaceInfo, PacketEvent, ProcessInfo, SocketEvent, SocketOp};
use tuntrace_core::time::Timestamp;

/// How to record.
#[derive(Debug, Clone)]
pub struct RecordOptions {
    pub path: PathBuf,
    /// Start a new file once this many bytes are written (`-C MB`).
    pub max_bytes: Option<u64>,
    /// Start a new file after this long (`-G SECONDS`), in the session's time.
    pub every: Option<Duration>,
    /// Remove SIP bodies and identities and IKE identities from the packets (`--redact`).
    pub redact: bool,
}

/// Counts what reaches the file, for `-C`.
struct Counting {
    file: File,
    written: u64,
}

impl Write for Counting {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        let n = self.file.write(b)?;
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// Processes and sockets remembered for a new file's opening state; past this they are not
/// (the file still replays, naming fewer of them).
const MAX_REMEMBERED: usize = 65_536;

pub struct Recorder {
    opts: RecordOptions,
    session: Session,
    out: Option<PcapngWriter<Counting>>,
    /// Files written so far.
    pub files: Vec<PathBuf>,
    file_started: Option<Timestamp>,
    last_flush: Instant,
    /// What the session said of each interface, by id (ids are dense from 0): a new file declares
    /// them all again so its interface numbers are the session's.
    ifaces: Vec<Option<InterfaceInfo>>,
    procs: HashMap<u32, ProcessInfo>,
    sockets: HashMap<u64, SocketEvent>,
    /// Non-packet events waiting to go out in one custom block.
    pending: Vec<Recorded>,
    comment: String,
    /// Why recording stopped, if it did (the session goes on without it).
    pub error: Option<String>,
    pub packets: u64,
}

fn create(path: &Path) -> io::Result<File> {
    let f = OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    // An existing file keeps its mode through open(2): make it ours to read only.
    f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    Ok(f)
}

impl Recorder {
    /// Creates the first file. An error here (an unwritable path) is for the caller to say; the
    /// session can go on without recording.
    pub fn create(opts: RecordOptions, backend: &str, netns: Option<u64>, started: Timestamp) -> io::Result<Recorder> {
        let session = Session {
            id: format!("{:x}-{}", started.0, std::process::id()),
            file: 0,
            backend: backend.into(),
            tool: format!("tuntrace {}", env!("CARGO_PKG_VERSION")),
            started_ns: started.0,
            netns,
            redacted: opts.redact,
        };
        let mut r = Recorder {
            opts,
            session,
            out: None,
            files: Vec::new(),
            file_started: None,
            last_flush: Instant::now(),
            ifaces: Vec::new(),
            procs: HashMap::new(),
            sockets: HashMap::new(),
            pending: Vec::new(),
            comment: String::new(),
            error: None,
            packets: 0,
        };
        r.open(started)?;
        Ok(r)
    }

    fn file_name(&self, n: u32) -> PathBuf {
        if n == 0 {
            return self.opts.path.clone();
        }
        let mut s = self.opts.path.clone().into_os_string();
        s.push(n.to_string());
        PathBuf::from(s)
    }

    /// A new file: section header, the session record, every interface declared in id order,
    /// and what is known of processes and sockets.
    fn open(&mut self, at: Timestamp) -> io::Result<()> {
        let n = self.files.len() as u32;
        let path = self.file_name(n);
        let file = create(&path)?;
        let mut w = PcapngWriter::new(Counting { file, written: 0 }, &self.session.tool)?;
        self.session.file = n;
        // The session first, where a replay looks for it; then the interfaces, then the state.
        w.write_custom(recording::PEN, &recording::encode(&[Recorded::Session(self.session.clone())]))?;
        let mut state = Vec::new();
        for (id, info) in self.ifaces.iter().enumerate() {
            let info = info.clone().unwrap_or(InterfaceInfo { id: id as IfaceId, ..Default::default() });
            declare(&mut w, &info)?;
            state.extend(Recorded::of(&Event::Interface(Box::new(info))));
        }
        let mut procs: Vec<&ProcessInfo> = self.procs.values().collect();
        procs.sort_by_key(|p| (p.pid, p.start));
        state.extend(procs.into_iter().filter_map(|p| Recorded::of(&Event::Process(Box::new(p.clone())))));
        let mut socks: Vec<&SocketEvent> = self.sockets.values().collect();
        socks.sort_by_key(|s| s.cookie);
        state.extend(socks.into_iter().filter_map(|s| Recorded::of(&Event::Socket(Box::new(s.clone())))));
        if !state.is_empty() {
            w.write_custom(recording::PEN, &recording::encode(&state))?;
        }
        w.flush()?;
        self.out = Some(w);
        self.files.push(path);
        self.file_started = Some(at);
        Ok(())
    }

    /// Write a batch of the session's events. Never fails the session: a write error (a full
    /// disk) stops the recording, and [`Recorder::error`] says why.
    pub fn write(&mut self, b: &Batch) {
        if self.out.is_none() {
            return;
        }
        let mut res = Ok(());
        b.for_each(|e| {
            if res.is_ok() {
                res = self.event(e);
            }
        });
        let res = res.and_then(|()| self.write_pending()).and_then(|()| {
            if self.last_flush.elapsed() >= Duration::from_millis(900) {
                self.last_flush = Instant::now();
                self.out.as_mut().map_or(Ok(()), |w| w.flush())
            } else {
                Ok(())
            }
        });
        if let Err(e) = res {
            self.fail(e);
        }
    }

    fn fail(&mut self, e: io::Error) {
        let file = self.files.last().map(|p| p.display().to_string()).unwrap_or_default();
        self.error = Some(format!("recording to {file} stopped: {e}"));
        // What was buffered may not fit either; the file ends at its last complete block.
        if let Some(w) = self.out.take() {
            let _ = w.finish();
        }
    }

    fn event(&mut self, e: &Event<'_>) -> io::Result<()> {
        match e {
            Event::Packet(p) => {
                self.write_pending()?;
                self.packet(p)?;
                self.rotate_if_due(p.ts)?;
            }
            Event::Interface(i) => {
                let id = i.id as usize;
                if id >= self.ifaces.len() {
                    self.write_pending()?;
                    let first_new = self.ifaces.len();
                    self.ifaces.resize(id + 1, None);
                    if let Some(w) = self.out.as_mut() {
                        // The file's interface numbers are the session's ids: ids the source
                        // skipped (never, for the live tracer) are declared unnamed.
                        for gap in first_new..id {
                            declare(
                                w,
                                &InterfaceInfo { id: gap as IfaceId, linktype: i.linktype, ..Default::default() },
                            )?;
                        }
                        declare(w, i)?;
                    }
                }
                self.ifaces[id] = Some((**i).clone());
                self.pending.extend(Recorded::of(e));
            }
            Event::Process(p) => {
                if self.procs.len() < MAX_REMEMBERED || self.procs.contains_key(&p.pid) {
                    self.procs.insert(p.pid, (**p).clone());
                }
                self.pending.extend(Recorded::of(e));
            }
            Event::Socket(s) => {
                if s.op == SocketOp::Closed {
                    self.sockets.remove(&s.cookie);
                } else if self.sockets.len() < MAX_REMEMBERED || self.sockets.contains_key(&s.cookie) {
                    self.sockets.insert(s.cookie, (**s).clone());
                }
                self.pending.extend(Recorded::of(e));
            }
            Event::Tick(t) => {
                self.pending.extend(Recorded::of(e));
                self.write_pending()?;
                self.rotate_if_due(*t)?;
            }
            other => self.pending.extend(Recorded::of(other)),
        }
        Ok(())
    }

    fn write_pending(&mut self) -> io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        if let Some(w) = self.out.as_mut() {
            w.write_custom(recording::PEN, &recording::encode(&self.pending))?;
        }
        self.pending.clear();
        Ok(())
    }

    fn packet(&mut self, p: &PacketEvent<'_>) -> io::Result<()> {
        let Some(w) = self.out.as_mut() else { return Ok(()) };
        let comm = p.pid.and_then(|pid| self.procs.get(&pid)).and_then(|i| i.comm.as_deref());
        let process = match p.pid {
            Some(pid) => Some(w.process_index(pid, comm)?),
            None => None,
        };
        self.comment.clear();
        if let Some(pid) = p.pid {
            use std::fmt::Write as _;
            let _ = write!(self.comment, "PID: {pid}");
            if let Some(c) = comm {
                let _ = write!(self.comment, "\nCmd: {c}");
            }
        }
        let rec = PacketRecord { pid: p.pid, cookie: p.cookie, sampled: p.sampled }.encode();
        let meta = PacketMeta {
            direction: p.direction,
            process,
            effective_process: None,
            comment: (!self.comment.is_empty()).then_some(self.comment.as_str()),
            custom: Some((recording::PEN, &rec)),
        };
        let redacted = if self.opts.redact { tuntrace_core::redact::packet(p.data) } else { None };
        let data = redacted.as_deref().unwrap_or(p.data);
        w.write_packet(p.iface, p.ts, data, p.orig_len, &meta)?;
        self.packets += 1;
        Ok(())
    }

    fn rotate_if_due(&mut self, now: Timestamp) -> io::Result<()> {
        let Some(w) = self.out.as_ref() else { return Ok(()) };
        let size = self.opts.max_bytes.is_some_and(|max| w.get_ref_written() >= max);
        let time = match (self.opts.every, self.file_started) {
            (Some(every), Some(start)) => now.0.saturating_sub(start.0) >= every.as_nanos() as i64,
            _ => false,
        };
        if !size && !time {
            return Ok(());
        }
        self.write_pending()?;
        if let Some(w) = self.out.take() {
            w.finish()?;
        }
        self.open(now)
    }

    /// The last blocks out and the file closed; the files written.
    pub fn finish(mut self) -> Result<Vec<PathBuf>, String> {
        if let Err(e) = self.write_pending() {
            self.fail(e);
        }
        if let Some(w) = self.out.take() {
            if let Err(e) = w.finish() {
                self.fail(e);
            }
        }
        match self.error {
            Some(e) => Err(e),
            None => Ok(self.files),
        }
    }
}

/// An Interface Description Block for `i`: its name, its namespace in the description.
fn declare(w: &mut PcapngWriter<Counting>, i: &InterfaceInfo) -> io::Result<u32> {
    let desc = i.netns.map(|n| format!("network namespace cookie {n}"));
    w.add_interface_described(i.name.as_deref(), desc.as_deref(), i.linktype, 0)
}

trait Written {
    fn get_ref_written(&self) -> u64;
}

impl Written for PcapngWriter<Counting> {
    /// Bytes that reached the file (the writer's buffer not included: files rotate near the
    /// size asked, as tcpdump's do, not to the byte).
    fn get_ref_written(&self) -> u64 {
        self.get_ref().written
    }
}
