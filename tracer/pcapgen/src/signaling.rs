//! The signaling-heavy profile: real IKE, ESP and SIP packets taken from the corpus captures
//! (`--corpus`, never copied into the repository) and sent again and again between many
//! generated hosts, each with its own IKE SPIs, ESP SPIs and Call-IDs, so the tables see many
//! distinct SAs and dialogs and each of them a long history. IKE and SIP dominate the mix.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use tuntrace_core::capture::{Damage, Sink};
use tuntrace_core::decode::{ip, link};
use tuntrace_core::event::{Event, PacketEvent};

use super::{Frame, Rng};

/// One packet of the corpus, as the profile sends it again.
#[derive(Debug, Clone)]
enum Template {
    /// An IKE message (without the non-ESP marker); `natt` when it came on UDP 4500,
    /// `uplink` when its sender was the SA's initiator.
    Ike { msg: Vec<u8>, natt: bool, uplink: bool },
    /// ESP, in UDP 4500 (`udp`) or as IP protocol 50.
    Esp { body: Vec<u8>, udp: bool },
    /// A SIP message over UDP; `uplink` for requests.
    Sip { text: Vec<u8>, uplink: bool },
}

/// Corpus packets by kind.
#[derive(Default)]
pub struct Templates {
    ike: Vec<Template>,
    esp: Vec<Template>,
    sip: Vec<Template>,
    pub files: Vec<String>,
}

/// Reads every frame of a capture with its link type.
#[derive(Default)]
struct Collect {
    links: HashMap<u32, u32>,
    frames: Vec<(u32, Vec<u8>)>,
}

impl Sink for Collect {
    fn packet(&mut self, p: &PacketEvent<'_>) {
        if let Some(&lt) = self.links.get(&p.iface) {
            self.frames.push((lt, p.data.to_vec()));
        }
    }
    fn event(&mut self, e: &Event<'_>) {
        match e {
            Event::Interface(i) => {
                self.links.insert(i.id, i.linktype);
            }
            Event::Packet(p) => self.packet(p),
            _ => {}
        }
    }
    fn damage(&mut self, _: &Damage) {}
}

fn is_capture(p: &Path) -> bool {
    let n = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
    // The fuzzing finds are damaged on purpose; the rest are real traffic.
    (n.ends_with(".pcap") || n.ends_with(".pcapng")) && !n.starts_with("fuzz_")
}

impl Templates {
    /// The IKE, ESP and SIP packets of the captures directly in `dir`, in file name order.
    pub fn load(dir: &Path) -> Result<Templates> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .with_context(|| format!("cannot read the corpus {} (--corpus or TUNTRACE_CORPUS)", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && is_capture(p))
            .collect();
        files.sort();
        let mut t = Templates::default();
        for f in &files {
            let mut c = Collect::default();
            if tuntrace_core::capture::stream(f, 0, &mut c).is_err() {
                continue;
            }
            let before = t.ike.len() + t.esp.len() + t.sip.len();
            // The first sender of each IKE SA is its initiator.
            let mut initiators: HashMap<u64, IpAddr> = HashMap::new();
            for (lt, frame) in &c.frames {
                t.take(*lt, frame, &mut initiators);
            }
            if t.ike.len() + t.esp.len() + t.sip.len() > before {
                t.files.push(f.file_name().unwrap_or_default().to_string_lossy().into_owned());
            }
        }
        if t.ike.is_empty() || t.sip.is_empty() || t.esp.is_empty() {
            bail!(
                "the corpus {} lacks IKE, ESP or SIP packets ({} IKE, {} ESP, {} SIP)",
                dir.display(),
                t.ike.len(),
                t.esp.len(),
                t.sip.len()
            );
        }
        Ok(t)
    }

    fn take(&mut self, lt: u32, frame: &[u8], initiators: &mut HashMap<u64, IpAddr>) {
        let Ok(l) = link::decode(lt, frame) else { return };
        let Ok(Some(p)) = ip::parse(l.l3) else { return };
        if p.frag.is_some() {
            return;
        }
        match p.proto {
            50 if p.payload.len() >= 8 => self.esp.push(Template::Esp { body: p.payload.to_vec(), udp: false }),
            17 => {
                let Ok((sport, dport, data)) = ip::udp(p.payload) else { return };
                let ports = [sport, dport];
                if ports.contains(&4500) {
                    match data {
                        [0, 0, 0, 0, ike @ ..] if ike.len() >= 28 => self.ike(ike, true, p.src, initiators),
                        _ if data.len() >= 8 && data[..4] != [0; 4] => {
                            self.esp.push(Template::Esp { body: data.to_vec(), udp: true })
                        }
                        _ => {}
                    }
                } else if ports.contains(&500) && data.len() >= 28 {
                    self.ike(data, false, p.src, initiators);
                } else if (ports.contains(&5060) || ports.contains(&5061)) && data.windows(7).any(|w| w == b"SIP/2.0") {
                    let uplink = !data.starts_with(b"SIP/2.0");
                    self.sip.push(Template::Sip { text: data.to_vec(), uplink });
                }
            }
            _ => {}
        }
    }

    fn ike(&mut self, msg: &[u8], natt: bool, src: IpAddr, initiators: &mut HashMap<u64, IpAddr>) {
        let ispi = u64::from_be_bytes(msg[..8].try_into().expect("28 bytes"));
        let version = msg[17] >> 4;
        let first = *initiators.entry(ispi).or_insert(src);
        let uplink = if version == 2 { msg[19] & 0x08 != 0 } else { first == src };
        self.ike.push(Template::Ike { msg: msg.to_vec(), natt, uplink });
    }

    pub fn counts(&self) -> (usize, usize, usize) {
        (self.ike.len(), self.esp.len(), self.sip.len())
    }
}

/// What the profile wrote, for the summary.
#[derive(Default)]
pub struct Counts {
    pub ike: u64,
    pub esp: u64,
    pub sip: u64,
}

/// The generator: every step sends one corpus packet again for one of `peers` hosts.
pub struct Signaling {
    t: Templates,
    peers: u32,
    rng: Rng,
    pub frame: Frame,
    pub counts: Counts,
    now_us: u64,
}

/// The gateway (ePDG, P-CSCF) every generated host talks to.
const GATEWAY: [u8; 4] = [198, 18, 0, 1];

/// A value that differs per host and spreads its bits (SPIs, Call-ID suffixes).
fn mix(peer: u32) -> u64 {
    let mut z = u64::from(peer).wrapping_add(1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 31)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z ^ (z >> 29)
}

fn host(peer: u32) -> [u8; 4] {
    [10, 20 + (peer >> 16) as u8, (peer >> 8) as u8, peer as u8]
}

impl Signaling {
    pub fn new(t: Templates, peers: u32, seed: u64) -> Signaling {
        Signaling {
            t,
            peers: peers.max(1),
            rng: Rng(seed),
            frame: Frame::default(),
            counts: Counts::default(),
            now_us: 0,
        }
    }

    /// The next packet into `frame`; returns its time in microseconds from the start.
    pub fn step(&mut self) -> u64 {
        self.now_us += 20 + self.rng.range(0, 60);
        let peer = self.rng.range(0, u64::from(self.peers) - 1) as u32;
        // IKE and SIP dominate: 45 % each, ESP 10 %.
        let roll = self.rng.range(0, 99);
        let list = match roll {
            0..=44 => &self.t.ike,
            45..=89 => &self.t.sip,
            _ => &self.t.esp,
        };
        let tmpl = list[self.rng.range(0, list.len() as u64 - 1) as usize].clone();
        let (ue, gw) = (host(peer), GATEWAY);
        let key = mix(peer);
        match tmpl {
            Template::Ike { mut msg, natt, uplink } => {
                self.counts.ike += 1;
                // The same SA's messages for this host: its SPIs differ from every other host's.
                for range in [0..8, 8..16] {
                    let spi = u64::from_be_bytes(msg[range.clone()].try_into().expect("8 bytes"));
                    if spi != 0 {
                        msg[range].copy_from_slice(&(spi ^ key).max(1).to_be_bytes());
                    }
                }
                let port = if natt { 4500 } else { 500 };
                let (s, d) = if uplink { (ue, gw) } else { (gw, ue) };
                self.frame.udp(uplink, s, port, d, port, 0);
                if natt {
                    self.frame.buf.extend_from_slice(&[0; 4]);
                }
                self.frame.buf.extend_from_slice(&msg);
                self.frame.finish_udp(true);
            }
            Template::Esp { mut body, udp } => {
                self.counts.esp += 1;
                let spi = u32::from_be_bytes(body[..4].try_into().expect("8 bytes"));
                let spi = (spi ^ key as u32).max(0x100);
                body[..4].copy_from_slice(&spi.to_be_bytes());
                let uplink = peer.is_multiple_of(2);
                let (s, d) = if uplink { (ue, gw) } else { (gw, ue) };
                if udp {
                    self.frame.udp(uplink, s, 4500, d, 4500, 0);
                    self.frame.buf.extend_from_slice(&body);
                    self.frame.finish_udp(false);
                } else {
                    self.frame.ipv4(uplink, s, d, 50, 0);
                    self.frame.buf.extend_from_slice(&body);
                    self.frame.finish_ip();
                }
            }
            Template::Sip { text, uplink } => {
                self.counts.sip += 1;
                let (s, d) = if uplink { (ue, gw) } else { (gw, ue) };
                self.frame.udp(uplink, s, 5060, d, 5060, 0);
                with_call_id_suffix(&text, key, &mut self.frame.buf);
                self.frame.finish_udp(true);
            }
        }
        self.now_us
    }
}

/// Appends `text` to `out` with `-<key>` after the Call-ID's value (long or compact form), so
/// each host has calls of its own.
fn with_call_id_suffix(text: &[u8], key: u64, out: &mut Vec<u8>) {
    let mut at = None;
    let mut line_start = 0;
    for (i, &b) in text.iter().enumerate() {
        if b == b'\n' {
            line_start = i + 1;
            continue;
        }
        if i == line_start {
            let rest = &text[i..];
            let named = |h: &[u8]| rest.len() > h.len() && rest[..h.len()].eq_ignore_ascii_case(h);
            if named(b"call-id:") || named(b"i:") {
                let end = rest.iter().position(|&c| c == b'\r' || c == b'\n').unwrap_or(rest.len());
                at = Some(i + end);
                break;
            }
        }
    }
    match at {
        Some(end) => {
            out.extend_from_slice(&text[..end]);
            out.extend_from_slice(format!("-{:012x}", key & 0xffff_ffff_ffff).as_bytes());
            out.extend_from_slice(&text[end..]);
        }
        None => out.extend_from_slice(text),
    }
}

#[cfg(test)]
mod tests {
    use super::with_call_id_suffix;

    #[test]
    fn call_ids_get_the_hosts_suffix_in_either_form() {
        let mut out = Vec::new();
        with_call_id_suffix(b"INVITE sip:b SIP/2.0\r\nCall-ID: abc@h\r\nCSeq: 1 INVITE\r\n\r\n", 0xab, &mut out);
        assert_eq!(out, b"INVITE sip:b SIP/2.0\r\nCall-ID: abc@h-0000000000ab\r\nCSeq: 1 INVITE\r\n\r\n");
        out.clear();
        with_call_id_suffix(b"SIP/2.0 200 OK\ni: x\n\n", 1, &mut out);
        assert_eq!(out, b"SIP/2.0 200 OK\ni: x-000000000001\n\n");
    }
}
