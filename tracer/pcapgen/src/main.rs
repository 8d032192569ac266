//! tuntrace-pcapgen: a deterministic Wi-Fi-calling capture for benchmarks and tests.
//!
//! The traffic is what an ePDG-side tap sees for a population of phones: IKEv2 set-up (SA_INIT
//! on 500, IKE_AUTH rounds on 4500 behind the non-ESP marker), ESP-in-UDP, NAT-T keepalives, a
//! few site-to-site tunnels with raw ESP, and, in clear as on the tunnel interface, SIP
//! registration and calls whose SDP names the RTP endpoints that then carry media.
//!
//! Everything comes from one seeded PRNG and a discrete-event schedule, so the same seed and
//! size give the same bytes. The subscriber population is bounded (addresses and ports are
//! functions of the subscriber index), so the flow count stays bounded however large the file.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::{Parser, ValueEnum};
use tuntrace_core::capture::writer::{PacketMeta, PcapWriter, PcapngWriter, TsPrecision};
use tuntrace_core::time::Timestamp;

mod signaling;
mod tunnels;

/// Written into the summary: bump when the output for a given seed changes, so cached
/// benchmark inputs are regenerated.
const GENERATOR_VERSION: u32 = 1;

/// 2026-01-01T00:00:00Z, so reports show a plausible date.
const BASE_US: u64 = 1_767_225_600_000_000;

const IMS_DOMAIN: &str = "ims.mnc260.mcc310.3gppnetwork.org";
/// MD5("strongSwan"), the vendor ID strongSwan sends.
const VID_STRONGSWAN: [u8; 16] =
    [0x88, 0x2f, 0xe5, 0x6d, 0x6f, 0xd2, 0x0d, 0xbc, 0x22, 0x51, 0x61, 0x3b, 0x2e, 0xbe, 0x5b, 0xeb];

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Profile {
    /// Wi-Fi calling as an ePDG-side tap sees it: ESP and RTP dominate.
    WifiCalling,
    /// Real IKE, ESP and SIP packets from the corpus (`--corpus`), repeated for many hosts
    /// with their own SPIs and Call-IDs: IKE and SIP dominate.
    Signaling,
    /// A mobile core's GTP-U (with 5G extension headers) and a data centre's VXLAN, carrying
    /// ordinary traffic and some VoLTE SIP and RTP: every packet is a tunnel's.
    Tunnels,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// Legacy pcap, microsecond timestamps.
    Pcap,
    /// pcapng, one Ethernet interface.
    Pcapng,
}

/// Deterministic synthetic IKEv2/ESP/SIP/RTP capture.
#[derive(Parser, Debug)]
#[command(name = "tuntrace-pcapgen", version)]
struct Args {
    /// Output capture file.
    #[arg(long)]
    out: PathBuf,
    /// Stop once the file reaches this many MiB.
    #[arg(long)]
    size_mb: u64,
    /// PRNG seed: same seed and size, same bytes.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    #[arg(long, value_enum, default_value_t = Format::Pcap)]
    format: Format,
    /// Number of subscribers (default: 2 per MiB, between 2 and 2000, so that small files still
    /// contain whole calls); for the signaling profile, the hosts (default 300); for the
    /// tunnels profile, the GTP-U subscribers (default 5000).
    #[arg(long)]
    ues: Option<u32>,
    #[arg(long, value_enum, default_value_t = Profile::WifiCalling)]
    profile: Profile,
    /// The capture corpus the signaling profile takes its packets from (default:
    /// $TUNTRACE_CORPUS). Its files are read, never copied.
    #[arg(long)]
    corpus: Option<PathBuf>,
}

/// splitmix64: tiny, fast, and identical on every platform.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        let span = hi.saturating_sub(lo).saturating_add(1);
        lo + ((u128::from(self.next()) * u128::from(span)) >> 64) as u64
    }

    fn fill(&mut self, out: &mut [u8]) {
        for c in out.chunks_mut(8) {
            let v = self.next().to_le_bytes();
            c.copy_from_slice(&v[..c.len()]);
        }
    }

    fn nonzero_u64(&mut self) -> u64 {
        loop {
            let v = self.next();
            if v != 0 {
                return v;
            }
        }
    }

    /// ESP SPIs 1..=255 are reserved (RFC 4303).
    fn spi(&mut self) -> u32 {
        self.range(0x100, u64::from(u32::MAX)) as u32
    }
}

/// What a packet is, for the summary's mix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Ike,
    EspUdp,
    Esp,
    Keepalive,
    Sip,
    Rtp,
}
const KINDS: [(Kind, &str); 6] = [
    (Kind::Ike, "ike"),
    (Kind::EspUdp, "esp_udp"),
    (Kind::Esp, "esp"),
    (Kind::Keepalive, "nat_keepalive"),
    (Kind::Sip, "sip"),
    (Kind::Rtp, "rtp"),
];

/// Signalling script of one subscriber; it loops forever with fresh identifiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    IkeInitReq,
    IkeInitResp,
    IkeAuthReq,
    IkeAuthResp,
    Register,
    Reg401,
    RegisterAuth,
    Reg200,
    Invite,
    Trying,
    Ringing,
    InviteOk,
    Ack,
    Bye,
    ByeOk,
    InfoDeleteReq,
    InfoDeleteResp,
}

#[derive(Default, Clone, Copy)]
struct RtpStream {
    seq: u16,
    ts: u32,
    ssrc: u32,
    first: bool,
}

struct Ue {
    outer: [u8; 4],
    inner: [u8; 4],
    epdg: [u8; 4],
    mgw: [u8; 4],
    ike_port: u16,
    natt_port: u16,
    imsi: u64,
    pt: u8,
    step: Step,
    // IKE SA
    spi_i: u64,
    spi_r: u64,
    auth_round: u8,
    esp_spi_up: u32,
    esp_spi_down: u32,
    esp_seq_up: u32,
    esp_seq_down: u32,
    sa_up: bool,
    esp_gen: u32,
    // SIP
    reg_call_id: u64,
    call_id: u64,
    from_tag: u32,
    to_tag: u32,
    branch: u64,
    calls_left: u8,
    call_no: u32,
    in_call: bool,
    rtp_gen: u32,
    rtp: [RtpStream; 2],
}

impl Ue {
    fn new(i: u32, rng: &mut Rng) -> Ue {
        let (hi, lo) = ((1 + i / 250) as u8, (1 + i % 250) as u8);
        // Half the phones sit behind a NAT that remaps their IKE ports.
        let natted = i % 2 == 1;
        let nat_base = 30_000 + ((i * 2) % 30_000) as u16;
        Ue {
            outer: [198, 18, hi, lo],
            inner: [198, 19, hi, lo],
            epdg: [198, 18, 0, 1 + (i % 4) as u8],
            mgw: [198, 19, 0, 10 + (i % 8) as u8],
            ike_port: if natted { nat_base } else { 500 },
            natt_port: if natted { nat_base + 1 } else { 4500 },
            imsi: 310_260_000_000_000 + u64::from(i) + 1,
            pt: [0u8, 8, 96][(i % 3) as usize],
            step: Step::IkeInitReq,
            spi_i: 0,
            spi_r: 0,
            auth_round: 0,
            esp_spi_up: 0,
            esp_spi_down: 0,
            esp_seq_up: 0,
            esp_seq_down: 0,
            sa_up: false,
            esp_gen: 0,
            reg_call_id: rng.next(),
            call_id: 0,
            from_tag: 0,
            to_tag: 0,
            branch: 0,
            calls_left: 0,
            call_no: 0,
            in_call: false,
            rtp_gen: 0,
            rtp: [RtpStream::default(); 2],
        }
    }

    fn ue_rtp_port(&self) -> u16 {
        50_000 + 2 * (self.call_no % 8) as u16
    }

    fn mgw_rtp_port(&self, i: u32) -> u16 {
        20_000 + 2 * (i % 5000) as u16
    }
}

/// Turns 160 random bytes into a valid AMR-WB octet-aligned payload (RFC 4867 §4.4): the
/// SDP announces AMR-WB, and decoders that follow the SDP flag random bytes as malformed.
/// CMR "no request", then three frames (23.85, 23.85, 14.25 kbit/s: 60 + 60 + 36 bytes),
/// which fill exactly 1 + 3 + 156 = 160 bytes; unused bits after each frame are zero.
fn amr_wb_octet_aligned(p: &mut [u8]) {
    if p.len() != 160 {
        return;
    }
    p[0] = 0xf0;
    p[1] = 0x80 | (8 << 3) | 0x04; // F=1 (more), FT=8, Q=1
    p[2] = 0x80 | (8 << 3) | 0x04;
    p[3] = (3 << 3) | 0x04; // last frame, FT=3
                            // 477 and 285 speech bits leave 3 padding bits in each frame's last byte.
    p[4 + 59] &= 0xf8;
    p[4 + 60 + 59] &= 0xf8;
    p[4 + 120 + 35] &= 0xf8;
}

/// A site-to-site tunnel that only ever shows raw ESP.
struct Tunnel {
    a: [u8; 4],
    b: [u8; 4],
    spi: [u32; 2],
    seq: [u32; 2],
}

/// Frame under construction: Ethernet + IPv4 + transport, reused for every packet.
#[derive(Default)]
struct Frame {
    buf: Vec<u8>,
    ip_id: u16,
}

const MAC_ACCESS: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
const MAC_CORE: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];
const ETH: usize = 14;
const IP: usize = 20;

/// Sum of big-endian 16-bit words, folding later; 32-bit words keep the loop short.
fn sum_words(data: &[u8], mut acc: u64) -> u64 {
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        acc += u64::from(u32::from_be_bytes([c[0], c[1], c[2], c[3]]));
    }
    let rest = chunks.remainder();
    let mut tail = [0u8; 4];
    tail[..rest.len()].copy_from_slice(rest);
    acc + u64::from(u32::from_be_bytes(tail))
}

fn fold(mut acc: u64) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16)
}

impl Frame {
    /// Starts a frame; `uplink` is phone → network (decides the MAC pair).
    fn ipv4(&mut self, uplink: bool, src: [u8; 4], dst: [u8; 4], proto: u8, tos: u8) {
        let b = &mut self.buf;
        b.clear();
        let (s, d) = if uplink { (MAC_ACCESS, MAC_CORE) } else { (MAC_CORE, MAC_ACCESS) };
        b.extend_from_slice(&d);
        b.extend_from_slice(&s);
        b.extend_from_slice(&[0x08, 0x00]);
        self.ip_id = self.ip_id.wrapping_add(1);
        let id = self.ip_id.to_be_bytes();
        b.extend_from_slice(&[0x45, tos, 0, 0, id[0], id[1], 0x40, 0x00, 63, proto, 0, 0]);
        b.extend_from_slice(&src);
        b.extend_from_slice(&dst);
    }

    fn udp(&mut self, uplink: bool, src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16, tos: u8) {
        self.ipv4(uplink, src, dst, 17, tos);
        self.buf.extend_from_slice(&sport.to_be_bytes());
        self.buf.extend_from_slice(&dport.to_be_bytes());
        self.buf.extend_from_slice(&[0, 0, 0, 0]);
    }

    /// Fills in IPv4 total length and checksum once the payload is in place.
    fn finish_ip(&mut self) {
        let b = &mut self.buf;
        let total = (b.len() - ETH) as u16;
        b[ETH + 2..ETH + 4].copy_from_slice(&total.to_be_bytes());
        let sum = fold(sum_words(&b[ETH..ETH + IP], 0));
        b[ETH + 10..ETH + 12].copy_from_slice(&sum.to_be_bytes());
    }

    /// Fills in UDP length and, when `checksum`, the checksum (RFC 3948 senders leave it 0
    /// for ESP-in-UDP and keepalives, which is what we mimic there).
    fn finish_udp(&mut self, checksum: bool) {
        let b = &mut self.buf;
        let udp = ETH + IP;
        let len = (b.len() - udp) as u16;
        b[udp + 4..udp + 6].copy_from_slice(&len.to_be_bytes());
        if checksum {
            let mut acc = sum_words(&b[ETH + 12..ETH + 20], 0);
            acc += 17 + u64::from(len);
            let mut sum = fold(sum_words(&b[udp..], acc));
            if sum == 0 {
                sum = 0xffff;
            }
            b[udp + 6..udp + 8].copy_from_slice(&sum.to_be_bytes());
        }
        self.finish_ip();
    }

    /// Appends `n` PRNG bytes (ciphertext, nonces, codec frames).
    fn random(&mut self, rng: &mut Rng, n: usize) {
        let start = self.buf.len();
        self.buf.resize(start + n, 0);
        rng.fill(&mut self.buf[start..]);
    }
}

// IKEv2 numbers (RFC 7296 and the IANA registry).
const PL_NONE: u8 = 0;
const PL_SA: u8 = 33;
const PL_KE: u8 = 34;
const PL_IDI: u8 = 35;
const PL_IDR: u8 = 36;
const PL_AUTH: u8 = 39;
const PL_NONCE: u8 = 40;
const PL_NOTIFY: u8 = 41;
const PL_DELETE: u8 = 42;
const PL_VENDOR: u8 = 43;
const PL_SK: u8 = 46;
const PL_EAP: u8 = 48;
const EX_SA_INIT: u8 = 34;
const EX_AUTH: u8 = 35;
const EX_INFORMATIONAL: u8 = 37;
const N_NAT_DETECTION_SOURCE_IP: u16 = 16388;
const N_NAT_DETECTION_DESTINATION_IP: u16 = 16389;

/// IKE header; the length is patched by [`ike_end`].
fn ike_header(b: &mut Vec<u8>, spi_i: u64, spi_r: u64, next: u8, exchange: u8, response: bool, mid: u32) -> usize {
    let start = b.len();
    b.extend_from_slice(&spi_i.to_be_bytes());
    b.extend_from_slice(&spi_r.to_be_bytes());
    // Only the original initiator (the phone) sets the I flag; every message here is its SA.
    let flags = if response { 0x20 } else { 0x08 };
    b.extend_from_slice(&[next, 0x20, exchange, flags]);
    b.extend_from_slice(&mid.to_be_bytes());
    b.extend_from_slice(&[0, 0, 0, 0]);
    start
}

fn ike_end(b: &mut [u8], start: usize) {
    let len = (b.len() - start) as u32;
    b[start + 24..start + 28].copy_from_slice(&len.to_be_bytes());
}

/// Generic payload header followed by `body`.
fn payload(b: &mut Vec<u8>, next: u8, body: &[u8]) {
    b.extend_from_slice(&[next, 0]);
    b.extend_from_slice(&((4 + body.len()) as u16).to_be_bytes());
    b.extend_from_slice(body);
}

/// SA payload with one IKE proposal: AES-CBC-256 / HMAC-SHA2-256 PRF and integrity / ECP-256.
fn sa_payload(b: &mut Vec<u8>, next: u8) {
    #[rustfmt::skip]
    let transforms: [&[u8]; 4] = [
        &[3, 0, 0, 12, 1, 0, 0, 12, 0x80, 0x0e, 0x01, 0x00], // ENCR_AES_CBC, key length 256
        &[3, 0, 0, 8, 2, 0, 0, 5],                           // PRF_HMAC_SHA2_256
        &[3, 0, 0, 8, 3, 0, 0, 12],                          // AUTH_HMAC_SHA2_256_128
        &[0, 0, 0, 8, 4, 0, 0, 19],                          // 256-bit random ECP group
    ];
    let tlen: usize = transforms.iter().map(|t| t.len()).sum();
    let plen = (8 + tlen) as u16;
    let p = plen.to_be_bytes();
    b.extend_from_slice(&[next, 0]);
    b.extend_from_slice(&(4 + plen).to_be_bytes());
    b.extend_from_slice(&[0, 0, p[0], p[1], 1, 1, 0, 4]);
    for t in transforms {
        b.extend_from_slice(t);
    }
}

fn notify(b: &mut Vec<u8>, rng: &mut Rng, next: u8, kind: u16) {
    // NAT detection hashes are SHA-1 over SPIs, address and port; nobody downstream checks
    // them, so random bytes of the right size keep the generator dependency-free.
    let mut body = [0u8; 24];
    body[2..4].copy_from_slice(&kind.to_be_bytes());
    rng.fill(&mut body[4..]);
    payload(b, next, &body);
}

/// SK payload: IV, `blocks` AES blocks of ciphertext, 16-byte ICV.
fn sk_payload(b: &mut Vec<u8>, rng: &mut Rng, first_inner: u8, blocks: usize) {
    let len = 4 + 16 + 16 * blocks + 16;
    b.extend_from_slice(&[first_inner, 0]);
    b.extend_from_slice(&(len as u16).to_be_bytes());
    let start = b.len();
    b.resize(start + len - 4, 0);
    rng.fill(&mut b[start..]);
}

struct Counters {
    by_kind: [u64; 6],
    calls: u64,
    ike_sas: u64,
}

impl Counters {
    fn add(&mut self, k: Kind) {
        let i = KINDS.iter().position(|(x, _)| *x == k).unwrap_or(0);
        self.by_kind[i] += 1;
    }
}

// Streams of a subscriber, multiplexed into one schedule id.
const S_SIG: u32 = 0;
const S_RTP_UP: u32 = 1;
const S_RTP_DOWN: u32 = 2;
const S_ESP_UP: u32 = 3;
const S_ESP_DOWN: u32 = 4;
const S_KEEPALIVE: u32 = 5;
const STREAMS: u32 = 8;

const MS: u64 = 1000;
const SEC: u64 = 1_000_000;

struct Sim {
    rng: Rng,
    ues: Vec<Ue>,
    tunnels: Vec<Tunnel>,
    frame: Frame,
    sdp: Vec<u8>,
    /// (time µs, stream id, generation): generations retire streams that were stopped.
    heap: BinaryHeap<Reverse<(u64, u32, u32)>>,
    counters: Counters,
    /// Mean gap (µs) between raw ESP packets of one tunnel direction.
    tunnel_period: u64,
}

impl Sim {
    fn new(seed: u64, n_ues: u32) -> Sim {
        let mut rng = Rng(seed);
        let ues: Vec<Ue> = (0..n_ues).map(|i| Ue::new(i, &mut rng)).collect();
        let n_tunnels = (n_ues / 250).max(1);
        let tunnels = (0..n_tunnels)
            .map(|k| Tunnel {
                a: [198, 18, 254, 1 + (k % 250) as u8],
                b: [198, 18, 0, 254],
                spi: [rng.spi(), rng.spi()],
                seq: [0, 0],
            })
            .collect();
        let mut heap = BinaryHeap::new();
        for i in 0..n_ues {
            let t = rng.range(0, 2 * SEC);
            heap.push(Reverse((t, i * STREAMS + S_SIG, 0)));
        }
        for k in 0..n_tunnels {
            for d in 0..2 {
                let t = rng.range(0, 10 * MS);
                heap.push(Reverse((t, n_ues * STREAMS + k * 2 + d, 0)));
            }
        }
        Sim {
            rng,
            ues,
            tunnels,
            frame: Frame { buf: Vec::with_capacity(2048), ip_id: 0 },
            sdp: Vec::with_capacity(512),
            heap,
            counters: Counters { by_kind: [0; 6], calls: 0, ike_sas: 0 },
            // Raw ESP is a side dish: about 8 % of what the phones send (~150 packets/s each).
            tunnel_period: 2 * u64::from(n_tunnels) * SEC / (12 * u64::from(n_ues)),
        }
    }

    /// Builds the next packet into `self.frame`; returns its time (µs from the base).
    fn step(&mut self) -> u64 {
        loop {
            let Some(Reverse((t, id, gen))) = self.heap.pop() else {
                unreachable!("the signalling streams reschedule themselves forever")
            };
            let n_ues = self.ues.len() as u32;
            if id >= n_ues * STREAMS {
                let k = (id - n_ues * STREAMS) as usize;
                self.raw_esp(k / 2, k.is_multiple_of(2));
                let p = self.tunnel_period;
                let next = t + self.rng.range(p * 3 / 4, p * 5 / 4);
                self.heap.push(Reverse((next, id, 0)));
                return t;
            }
            let (i, stream) = (id / STREAMS, id % STREAMS);
            let emitted = match stream {
                S_SIG => {
                    let delay = self.signal(i, t);
                    self.heap.push(Reverse((t + delay, id, 0)));
                    true
                }
                S_RTP_UP | S_RTP_DOWN => {
                    let ue = &self.ues[i as usize];
                    if !ue.in_call || gen != ue.rtp_gen {
                        false
                    } else {
                        self.rtp(i, stream == S_RTP_UP);
                        let next = t + self.rng.range(19_500, 20_500);
                        self.heap.push(Reverse((next, id, gen)));
                        true
                    }
                }
                S_ESP_UP | S_ESP_DOWN => {
                    let ue = &self.ues[i as usize];
                    if !ue.sa_up || gen != ue.esp_gen {
                        false
                    } else {
                        let in_call = ue.in_call;
                        self.esp_udp(i, stream == S_ESP_UP);
                        // In a call the tunnel carries the voice frames; idle, some data.
                        let next =
                            if in_call { self.rng.range(23 * MS, 26 * MS) } else { self.rng.range(100 * MS, 700 * MS) };
                        self.heap.push(Reverse((t + next, id, gen)));
                        true
                    }
                }
                S_KEEPALIVE => {
                    let ue = &self.ues[i as usize];
                    if !ue.sa_up || gen != ue.esp_gen {
                        false
                    } else {
                        self.keepalive(i);
                        let next = t + self.rng.range(15 * SEC, 25 * SEC);
                        self.heap.push(Reverse((next, id, gen)));
                        true
                    }
                }
                _ => false,
            };
            if emitted {
                return t;
            }
        }
    }

    fn start_esp(&mut self, i: u32, t: u64) {
        let ue = &mut self.ues[i as usize];
        ue.sa_up = true;
        ue.esp_gen = ue.esp_gen.wrapping_add(1);
        let gen = ue.esp_gen;
        for s in [S_ESP_UP, S_ESP_DOWN] {
            let at = t + self.rng.range(5 * MS, 50 * MS);
            self.heap.push(Reverse((at, i * STREAMS + s, gen)));
        }
        let at = t + self.rng.range(SEC, 20 * SEC);
        self.heap.push(Reverse((at, i * STREAMS + S_KEEPALIVE, gen)));
    }

    fn start_rtp(&mut self, i: u32, t: u64) {
        let ue = &mut self.ues[i as usize];
        ue.in_call = true;
        ue.rtp_gen = ue.rtp_gen.wrapping_add(1);
        let gen = ue.rtp_gen;
        for r in &mut ue.rtp {
            *r = RtpStream {
                seq: self.rng.next() as u16,
                ts: self.rng.next() as u32,
                ssrc: self.rng.next() as u32,
                first: true,
            };
        }
        for s in [S_RTP_UP, S_RTP_DOWN] {
            let at = t + self.rng.range(MS, 20 * MS);
            self.heap.push(Reverse((at, i * STREAMS + s, gen)));
        }
        // ESP follows the call's rhythm: restart its streams so the faster pace applies now.
        self.start_esp(i, t);
    }

    /// Emits the subscriber's next signalling message; returns the delay to the one after.
    fn signal(&mut self, i: u32, t: u64) -> u64 {
        let step = self.ues[i as usize].step;
        let rng = &mut self.rng;
        let (next_step, delay) = match step {
            Step::IkeInitReq => {
                let ue = &mut self.ues[i as usize];
                ue.spi_i = rng.nonzero_u64();
                ue.spi_r = 0;
                ue.auth_round = 0;
                self.counters.ike_sas += 1;
                self.ike_sa_init(i, false);
                (Step::IkeInitResp, self.rng.range(15 * MS, 40 * MS))
            }
            Step::IkeInitResp => {
                self.ues[i as usize].spi_r = rng.nonzero_u64();
                self.ike_sa_init(i, true);
                (Step::IkeAuthReq, self.rng.range(2 * MS, 5 * MS))
            }
            Step::IkeAuthReq => {
                self.ues[i as usize].auth_round += 1;
                self.ike_auth(i, false);
                (Step::IkeAuthResp, self.rng.range(20 * MS, 60 * MS))
            }
            Step::IkeAuthResp => {
                self.ike_auth(i, true);
                // EAP-AKA takes three IKE_AUTH round trips before the SA is up.
                if self.ues[i as usize].auth_round < 3 {
                    (Step::IkeAuthReq, self.rng.range(2 * MS, 10 * MS))
                } else {
                    let ue = &mut self.ues[i as usize];
                    ue.esp_spi_up = self.rng.spi();
                    ue.esp_spi_down = self.rng.spi();
                    ue.esp_seq_up = 0;
                    ue.esp_seq_down = 0;
                    self.start_esp(i, t);
                    (Step::Register, self.rng.range(30 * MS, 100 * MS))
                }
            }
            Step::Register => {
                let ue = &mut self.ues[i as usize];
                ue.reg_call_id = rng.next();
                ue.from_tag = rng.next() as u32;
                ue.branch = rng.next();
                self.sip_register(i, 1);
                (Step::Reg401, self.rng.range(10 * MS, 30 * MS))
            }
            Step::Reg401 => {
                self.sip_register_response(i, 401);
                (Step::RegisterAuth, self.rng.range(5 * MS, 15 * MS))
            }
            Step::RegisterAuth => {
                self.ues[i as usize].branch = rng.next();
                self.sip_register(i, 2);
                (Step::Reg200, self.rng.range(10 * MS, 40 * MS))
            }
            Step::Reg200 => {
                self.sip_register_response(i, 200);
                self.ues[i as usize].calls_left = self.rng.range(1, 3) as u8;
                (Step::Invite, self.rng.range(200 * MS, 2 * SEC))
            }
            Step::Invite => {
                let ue = &mut self.ues[i as usize];
                ue.call_no = ue.call_no.wrapping_add(1);
                ue.call_id = rng.next();
                ue.from_tag = rng.next() as u32;
                ue.to_tag = rng.next() as u32;
                ue.branch = rng.next();
                self.counters.calls += 1;
                self.sip_invite(i);
                (Step::Trying, self.rng.range(5 * MS, 20 * MS))
            }
            Step::Trying => {
                self.sip_call_response(i, 100, "Trying", "INVITE", 1, false);
                (Step::Ringing, self.rng.range(200 * MS, SEC))
            }
            Step::Ringing => {
                self.sip_call_response(i, 180, "Ringing", "INVITE", 1, false);
                (Step::InviteOk, self.rng.range(SEC, 3 * SEC))
            }
            Step::InviteOk => {
                self.sip_call_response(i, 200, "OK", "INVITE", 1, true);
                (Step::Ack, self.rng.range(10 * MS, 30 * MS))
            }
            Step::Ack => {
                self.ues[i as usize].branch = rng.next();
                self.sip_in_dialog(i, "ACK", 1);
                self.start_rtp(i, t);
                (Step::Bye, self.rng.range(3 * SEC, 12 * SEC))
            }
            Step::Bye => {
                let ue = &mut self.ues[i as usize];
                ue.branch = rng.next();
                ue.in_call = false;
                self.sip_in_dialog(i, "BYE", 2);
                (Step::ByeOk, self.rng.range(10 * MS, 30 * MS))
            }
            Step::ByeOk => {
                self.sip_call_response(i, 200, "OK", "BYE", 2, false);
                let ue = &mut self.ues[i as usize];
                ue.calls_left = ue.calls_left.saturating_sub(1);
                if ue.calls_left > 0 {
                    (Step::Invite, self.rng.range(SEC, 4 * SEC))
                } else {
                    (Step::InfoDeleteReq, self.rng.range(500 * MS, 2 * SEC))
                }
            }
            Step::InfoDeleteReq => {
                self.ike_informational(i, false);
                (Step::InfoDeleteResp, self.rng.range(10 * MS, 30 * MS))
            }
            Step::InfoDeleteResp => {
                self.ike_informational(i, true);
                self.ues[i as usize].sa_up = false;
                (Step::IkeInitReq, self.rng.range(500 * MS, 3 * SEC))
            }
        };
        self.ues[i as usize].step = next_step;
        delay
    }

    fn ike_udp(&mut self, i: u32, response: bool, natt: bool) {
        let ue = &self.ues[i as usize];
        let (port_ue, port_gw) = if natt { (ue.natt_port, 4500) } else { (ue.ike_port, 500) };
        if response {
            self.frame.udp(false, ue.epdg, port_gw, ue.outer, port_ue, 0);
        } else {
            self.frame.udp(true, ue.outer, port_ue, ue.epdg, port_gw, 0);
        }
        if natt {
            // Non-ESP marker: tells IKE on 4500 apart from ESP-in-UDP (RFC 3948).
            self.frame.buf.extend_from_slice(&[0, 0, 0, 0]);
        }
    }

    fn ike_sa_init(&mut self, i: u32, response: bool) {
        self.ike_udp(i, response, false);
        let (spi_i, spi_r) = (self.ues[i as usize].spi_i, self.ues[i as usize].spi_r);
        let b = &mut self.frame.buf;
        let start = ike_header(b, spi_i, spi_r, PL_SA, EX_SA_INIT, response, 0);
        sa_payload(b, PL_KE);
        let mut ke = [0u8; 68];
        ke[0..2].copy_from_slice(&19u16.to_be_bytes());
        self.rng.fill(&mut ke[4..]);
        payload(b, PL_NONCE, &ke);
        let mut nonce = [0u8; 32];
        self.rng.fill(&mut nonce);
        payload(b, PL_NOTIFY, &nonce);
        notify(b, &mut self.rng, PL_NOTIFY, N_NAT_DETECTION_SOURCE_IP);
        notify(b, &mut self.rng, PL_VENDOR, N_NAT_DETECTION_DESTINATION_IP);
        payload(b, PL_NONE, &VID_STRONGSWAN);
        ike_end(b, start);
        self.frame.finish_udp(true);
        self.counters.add(Kind::Ike);
    }

    fn ike_auth(&mut self, i: u32, response: bool) {
        self.ike_udp(i, response, true);
        let ue = &self.ues[i as usize];
        let (spi_i, spi_r, round) = (ue.spi_i, ue.spi_r, ue.auth_round);
        let (first, blocks) = match (round, response) {
            (1, false) => (PL_IDI, 24),
            (1, true) => (PL_IDR, 10),
            (2, _) => (PL_EAP, 6),
            _ => (PL_AUTH, if response { 14 } else { 4 }),
        };
        let b = &mut self.frame.buf;
        let start = ike_header(b, spi_i, spi_r, PL_SK, EX_AUTH, response, u32::from(round));
        sk_payload(b, &mut self.rng, first, blocks);
        ike_end(b, start);
        self.frame.finish_udp(true);
        self.counters.add(Kind::Ike);
    }

    fn ike_informational(&mut self, i: u32, response: bool) {
        self.ike_udp(i, response, true);
        let ue = &self.ues[i as usize];
        let (spi_i, spi_r, mid) = (ue.spi_i, ue.spi_r, u32::from(ue.auth_round) + 1);
        let b = &mut self.frame.buf;
        let start = ike_header(b, spi_i, spi_r, PL_SK, EX_INFORMATIONAL, response, mid);
        // The request deletes the IKE SA; the response is empty (only padding inside).
        sk_payload(b, &mut self.rng, if response { PL_NONE } else { PL_DELETE }, 1);
        ike_end(b, start);
        self.frame.finish_udp(true);
        self.counters.add(Kind::Ike);
    }

    fn esp_udp(&mut self, i: u32, up: bool) {
        let ue = &mut self.ues[i as usize];
        let (spi, seq) = if up {
            ue.esp_seq_up = ue.esp_seq_up.wrapping_add(1);
            (ue.esp_spi_up, ue.esp_seq_up)
        } else {
            ue.esp_seq_down = ue.esp_seq_down.wrapping_add(1);
            (ue.esp_spi_down, ue.esp_seq_down)
        };
        // A voice frame (IPv4+UDP+RTP = 200 B) padded to the cipher block; idle, any size.
        let inner_blocks = if ue.in_call { 13 } else { self.rng.range(3, 88) as usize };
        let ue = &self.ues[i as usize];
        if up {
            self.frame.udp(true, ue.outer, ue.natt_port, ue.epdg, 4500, 0xb8);
        } else {
            self.frame.udp(false, ue.epdg, 4500, ue.outer, ue.natt_port, 0xb8);
        }
        self.frame.buf.extend_from_slice(&spi.to_be_bytes());
        self.frame.buf.extend_from_slice(&seq.to_be_bytes());
        self.frame.random(&mut self.rng, 16 + 16 * inner_blocks + 16);
        self.frame.finish_udp(false);
        self.counters.add(Kind::EspUdp);
    }

    fn keepalive(&mut self, i: u32) {
        let ue = &self.ues[i as usize];
        self.frame.udp(true, ue.outer, ue.natt_port, ue.epdg, 4500, 0);
        self.frame.buf.push(0xff);
        self.frame.finish_udp(false);
        self.counters.add(Kind::Keepalive);
    }

    fn raw_esp(&mut self, k: usize, a_to_b: bool) {
        let d = usize::from(!a_to_b);
        let tun = &mut self.tunnels[k];
        tun.seq[d] = tun.seq[d].wrapping_add(1);
        let (src, dst, spi, seq) =
            if a_to_b { (tun.a, tun.b, tun.spi[0], tun.seq[0]) } else { (tun.b, tun.a, tun.spi[1], tun.seq[1]) };
        self.frame.ipv4(a_to_b, src, dst, 50, 0);
        self.frame.buf.extend_from_slice(&spi.to_be_bytes());
        self.frame.buf.extend_from_slice(&seq.to_be_bytes());
        let blocks = self.rng.range(3, 88) as usize;
        self.frame.random(&mut self.rng, 16 + 16 * blocks + 16);
        self.frame.finish_ip();
        self.counters.add(Kind::Esp);
    }

    fn rtp(&mut self, i: u32, up: bool) {
        let ue = &mut self.ues[i as usize];
        let r = &mut ue.rtp[usize::from(!up)];
        r.seq = r.seq.wrapping_add(1);
        r.ts = r.ts.wrapping_add(160);
        let marker = if r.first { 0x80 } else { 0 };
        r.first = false;
        let mut h = [0u8; 12];
        h[0] = 0x80;
        h[1] = marker | ue.pt;
        h[2..4].copy_from_slice(&r.seq.to_be_bytes());
        h[4..8].copy_from_slice(&r.ts.to_be_bytes());
        h[8..12].copy_from_slice(&r.ssrc.to_be_bytes());
        let (ue_port, mgw_port, pt) = (ue.ue_rtp_port(), ue.mgw_rtp_port(i), ue.pt);
        let ue = &self.ues[i as usize];
        if up {
            self.frame.udp(true, ue.inner, ue_port, ue.mgw, mgw_port, 0xb8);
        } else {
            self.frame.udp(false, ue.mgw, mgw_port, ue.inner, ue_port, 0xb8);
        }
        self.frame.buf.extend_from_slice(&h);
        let start = self.frame.buf.len();
        self.frame.random(&mut self.rng, 160);
        if pt == 96 {
            amr_wb_octet_aligned(&mut self.frame.buf[start..]);
        }
        self.frame.finish_udp(true);
        self.counters.add(Kind::Rtp);
    }

    /// Starts a SIP-over-UDP frame between the phone's tunnel address and the P-CSCF.
    fn sip_udp(&mut self, i: u32, from_ue: bool) {
        let ue = &self.ues[i as usize];
        let pcscf = [198, 19, 0, 1];
        if from_ue {
            self.frame.udp(true, ue.inner, 5060, pcscf, 5060, 0x68);
        } else {
            self.frame.udp(false, pcscf, 5060, ue.inner, 5060, 0x68);
        }
    }

    fn sip_finish(&mut self) {
        self.frame.finish_udp(true);
        self.counters.add(Kind::Sip);
    }

    fn sip_register(&mut self, i: u32, cseq: u32) {
        self.sip_udp(i, true);
        let ue = &self.ues[i as usize];
        let [a, b, c, d] = ue.inner;
        let auth = if cseq == 1 {
            format!(
                "Authorization: Digest username=\"{imsi}@{IMS_DOMAIN}\",realm=\"{IMS_DOMAIN}\",uri=\"sip:{IMS_DOMAIN}\",nonce=\"\",response=\"\"\r\n",
                imsi = ue.imsi
            )
        } else {
            format!(
                "Authorization: Digest username=\"{imsi}@{IMS_DOMAIN}\",realm=\"{IMS_DOMAIN}\",uri=\"sip:{IMS_DOMAIN}\",nonce=\"{n:016x}\",response=\"{r:016x}{r2:016x}\",algorithm=MD5,cnonce=\"{n2:08x}\",qop=auth,nc=00000001\r\n",
                imsi = ue.imsi,
                n = ue.reg_call_id.rotate_left(17),
                r = ue.branch,
                r2 = ue.branch.rotate_left(29),
                n2 = ue.from_tag,
            )
        };
        let msg = format!(
            "REGISTER sip:{IMS_DOMAIN} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {a}.{b}.{c}.{d}:5060;branch=z9hG4bK{br:016x};rport\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:{imsi}@{IMS_DOMAIN}>;tag={tag:08x}\r\n\
             To: <sip:{imsi}@{IMS_DOMAIN}>\r\n\
             Call-ID: {cid:016x}@{a}.{b}.{c}.{d}\r\n\
             CSeq: {cseq} REGISTER\r\n\
             Contact: <sip:{imsi}@{a}.{b}.{c}.{d}:5060>;+g.3gpp.icsi-ref=\"urn%3Aurn-7%3A3gpp-service.ims.icsi.mmtel\"\r\n\
             Expires: 600000\r\n\
             {auth}\
             User-Agent: tuntrace-pcapgen\r\n\
             Content-Length: 0\r\n\r\n",
            imsi = ue.imsi,
            br = ue.branch,
            tag = ue.from_tag,
            cid = ue.reg_call_id,
        );
        self.frame.buf.extend_from_slice(msg.as_bytes());
        self.sip_finish();
    }

    fn sip_register_response(&mut self, i: u32, status: u16) {
        self.sip_udp(i, false);
        let ue = &self.ues[i as usize];
        let [a, b, c, d] = ue.inner;
        let cseq = if status == 401 { 1 } else { 2 };
        let (reason, extra) = if status == 401 {
            (
                "Unauthorized",
                format!(
                    "WWW-Authenticate: Digest realm=\"{IMS_DOMAIN}\",nonce=\"{n:016x}\",algorithm=MD5,qop=\"auth\"\r\n",
                    n = ue.reg_call_id.rotate_left(17)
                ),
            )
        } else {
            ("OK", format!("Contact: <sip:{imsi}@{a}.{b}.{c}.{d}:5060>;expires=600000\r\n", imsi = ue.imsi))
        };
        let msg = format!(
            "SIP/2.0 {status} {reason}\r\n\
             Via: SIP/2.0/UDP {a}.{b}.{c}.{d}:5060;branch=z9hG4bK{br:016x};rport=5060\r\n\
             From: <sip:{imsi}@{IMS_DOMAIN}>;tag={tag:08x}\r\n\
             To: <sip:{imsi}@{IMS_DOMAIN}>;tag={tt:08x}\r\n\
             Call-ID: {cid:016x}@{a}.{b}.{c}.{d}\r\n\
             CSeq: {cseq} REGISTER\r\n\
             {extra}\
             Content-Length: 0\r\n\r\n",
            imsi = ue.imsi,
            br = ue.branch,
            tag = ue.from_tag,
            tt = ue.reg_call_id as u32,
            cid = ue.reg_call_id,
        );
        self.frame.buf.extend_from_slice(msg.as_bytes());
        self.sip_finish();
    }

    /// SDP offer (phone) or answer (media gateway) for the current call into `self.sdp`.
    fn sdp(&mut self, i: u32, answer: bool) {
        let ue = &self.ues[i as usize];
        let (addr, port) = if answer { (ue.mgw, ue.mgw_rtp_port(i)) } else { (ue.inner, ue.ue_rtp_port()) };
        let [a, b, c, d] = addr;
        let codec = match ue.pt {
            0 => "PCMU/8000",
            8 => "PCMA/8000",
            _ => "AMR-WB/16000",
        };
        let fmtp = if ue.pt == 96 { "a=fmtp:96 octet-align=1\r\n" } else { "" };
        let sess = ue.call_id >> 16;
        self.sdp.clear();
        let _ = write!(
            self.sdp,
            "v=0\r\n\
             o=- {sess} {ver} IN IP4 {a}.{b}.{c}.{d}\r\n\
             s=-\r\n\
             c=IN IP4 {a}.{b}.{c}.{d}\r\n\
             t=0 0\r\n\
             m=audio {port} RTP/AVP {pt}\r\n\
             a=rtpmap:{pt} {codec}\r\n\
             {fmtp}\
             a=ptime:20\r\n\
             a=sendrecv\r\n",
            ver = u64::from(answer) + 1,
            pt = ue.pt,
        );
    }

    fn callee(i: u32) -> String {
        format!("+1555{:07}", (u64::from(i) * 7919 + 12345) % 10_000_000)
    }

    fn sip_invite(&mut self, i: u32) {
        self.sdp(i, false);
        self.sip_udp(i, true);
        let ue = &self.ues[i as usize];
        let [a, b, c, d] = ue.inner;
        let msg = format!(
            "INVITE tel:{callee} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {a}.{b}.{c}.{d}:5060;branch=z9hG4bK{br:016x};rport\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:{imsi}@{IMS_DOMAIN}>;tag={tag:08x}\r\n\
             To: <tel:{callee}>\r\n\
             Call-ID: {cid:016x}@{a}.{b}.{c}.{d}\r\n\
             CSeq: 1 INVITE\r\n\
             Contact: <sip:{imsi}@{a}.{b}.{c}.{d}:5060>\r\n\
             User-Agent: tuntrace-pcapgen\r\n\
             Content-Type: application/sdp\r\n\
             Content-Length: {len}\r\n\r\n",
            callee = Sim::callee(i),
            imsi = ue.imsi,
            br = ue.branch,
            tag = ue.from_tag,
            cid = ue.call_id,
            len = self.sdp.len(),
        );
        self.frame.buf.extend_from_slice(msg.as_bytes());
        self.frame.buf.extend_from_slice(&self.sdp);
        self.sip_finish();
    }

    fn sip_call_response(&mut self, i: u32, status: u16, reason: &str, method: &str, cseq: u32, with_sdp: bool) {
        if with_sdp {
            self.sdp(i, true);
        } else {
            self.sdp.clear();
        }
        self.sip_udp(i, false);
        let ue = &self.ues[i as usize];
        let [a, b, c, d] = ue.inner;
        // 100 Trying is hop-by-hop and carries no To tag; everything later belongs to the dialog.
        let to_tag = if status == 100 { String::new() } else { format!(";tag={:08x}", ue.to_tag) };
        let contact = if status == 100 || method == "BYE" {
            String::new()
        } else {
            format!("Contact: <sip:{}@198.19.0.1:5060>\r\n", Sim::callee(i))
        };
        let ctype = if with_sdp { "Content-Type: application/sdp\r\n" } else { "" };
        let msg = format!(
            "SIP/2.0 {status} {reason}\r\n\
             Via: SIP/2.0/UDP {a}.{b}.{c}.{d}:5060;branch=z9hG4bK{br:016x};rport=5060\r\n\
             From: <sip:{imsi}@{IMS_DOMAIN}>;tag={tag:08x}\r\n\
             To: <tel:{callee}>{to_tag}\r\n\
             Call-ID: {cid:016x}@{a}.{b}.{c}.{d}\r\n\
             CSeq: {cseq} {method}\r\n\
             {contact}\
             {ctype}\
             Content-Length: {len}\r\n\r\n",
            callee = Sim::callee(i),
            imsi = ue.imsi,
            br = ue.branch,
            tag = ue.from_tag,
            cid = ue.call_id,
            len = self.sdp.len(),
        );
        self.frame.buf.extend_from_slice(msg.as_bytes());
        self.frame.buf.extend_from_slice(&self.sdp);
        self.sip_finish();
    }

    /// ACK or BYE from the phone inside the established dialog.
    fn sip_in_dialog(&mut self, i: u32, method: &str, cseq: u32) {
        self.sip_udp(i, true);
        let ue = &self.ues[i as usize];
        let [a, b, c, d] = ue.inner;
        let msg = format!(
            "{method} sip:{callee}@198.19.0.1:5060 SIP/2.0\r\n\
             Via: SIP/2.0/UDP {a}.{b}.{c}.{d}:5060;branch=z9hG4bK{br:016x};rport\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:{imsi}@{IMS_DOMAIN}>;tag={tag:08x}\r\n\
             To: <tel:{callee}>;tag={tt:08x}\r\n\
             Call-ID: {cid:016x}@{a}.{b}.{c}.{d}\r\n\
             CSeq: {cseq} {method}\r\n\
             User-Agent: tuntrace-pcapgen\r\n\
             Content-Length: 0\r\n\r\n",
            callee = Sim::callee(i),
            imsi = ue.imsi,
            br = ue.branch,
            tag = ue.from_tag,
            tt = ue.to_tag,
            cid = ue.call_id,
        );
        self.frame.buf.extend_from_slice(msg.as_bytes());
        self.sip_finish();
    }
}

enum Out {
    Pcap(PcapWriter<File>),
    Pcapng(PcapngWriter<File>),
}

fn main() -> Result<()> {
    let args = Args::parse();
    if args.size_mb == 0 {
        bail!("--size-mb must be at least 1");
    }
    match args.profile {
        Profile::Signaling => return signaling_main(&args),
        Profile::Tunnels => return tunnels_main(&args),
        Profile::WifiCalling => {}
    }
    let ues = args.ues.unwrap_or_else(|| args.size_mb.saturating_mul(2).clamp(2, 2000) as u32);
    if !(1..=50_000).contains(&ues) {
        bail!("--ues must be between 1 and 50000 (addresses are derived from the index)");
    }
    let target = args.size_mb.saturating_mul(1 << 20);
    let started = Instant::now();

    let file = File::create(&args.out).with_context(|| format!("cannot create {}", args.out.display()))?;
    let (mut out, mut written, per_packet) = match args.format {
        Format::Pcap => (Out::Pcap(PcapWriter::new(file, 1, 0, TsPrecision::Micro)?), 24u64, 16u64),
        Format::Pcapng => {
            let mut w = PcapngWriter::new(file, concat!("tuntrace-pcapgen ", env!("CARGO_PKG_VERSION")))?;
            w.add_interface(Some("eth0"), 1, 0)?;
            // SHB with the user_appl option, IDB with if_name "eth0" and if_tsresol.
            let appl = concat!("tuntrace-pcapgen ", env!("CARGO_PKG_VERSION")).len() as u64;
            let shb = 28 + 4 + appl.div_ceil(4) * 4 + 4;
            (Out::Pcapng(w), shb + 20 + 8 + 8 + 4, 32u64)
        }
    };

    let mut sim = Sim::new(args.seed, ues);
    let mut packets = 0u64;
    let mut first = None;
    let mut last = 0u64;
    let meta = PacketMeta::default();
    while written < target {
        let t = sim.step();
        let ts = Timestamp((BASE_US + t) as i64 * 1000);
        first.get_or_insert(ts);
        last = BASE_US + t;
        let data = &sim.frame.buf;
        match &mut out {
            Out::Pcap(w) => w.write_packet(ts, data, data.len() as u32)?,
            Out::Pcapng(w) => w.write_packet(0, ts, data, data.len() as u32, &meta)?,
        }
        written += per_packet + data.len().next_multiple_of(if per_packet == 16 { 1 } else { 4 }) as u64;
        packets += 1;
    }
    match out {
        Out::Pcap(w) => drop(w.finish()?),
        Out::Pcapng(w) => drop(w.finish()?),
    }
    let meta = std::fs::metadata(&args.out)?;
    // A pipe (`--out /dev/stdout`) has no length to check and no summary beside it.
    if !meta.is_file() {
        eprintln!("tuntrace-pcapgen: {packets} packets, {written} bytes written to a stream");
        return Ok(());
    }
    let on_disk = meta.len();
    if on_disk != written {
        bail!("internal error: wrote {on_disk} bytes, expected {written}");
    }

    let mut summary = format!(
        "generator=tuntrace-pcapgen/{GENERATOR_VERSION}\nseed={}\nsize_mb={}\nformat={}\nues={ues}\npackets={packets}\nbytes={on_disk}\n",
        args.seed,
        args.size_mb,
        match args.format {
            Format::Pcap => "pcap",
            Format::Pcapng => "pcapng",
        },
    );
    for (idx, (_, name)) in KINDS.iter().enumerate() {
        summary.push_str(&format!("packets_{name}={}\n", sim.counters.by_kind[idx]));
    }
    summary.push_str(&format!(
        "ike_sas={}\nsip_calls={}\nfirst={}\nlast={}\n",
        sim.counters.ike_sas,
        sim.counters.calls,
        first.unwrap_or_default(),
        Timestamp(last as i64 * 1000),
    ));
    let summary_path = summary_path(&args.out);
    std::fs::write(&summary_path, &summary).with_context(|| format!("cannot write {}", summary_path.display()))?;
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "tuntrace-pcapgen: {packets} packets, {:.1} MiB in {secs:.2} s ({:.0} MiB/s); summary in {}",
        on_disk as f64 / 1048576.0,
        on_disk as f64 / 1048576.0 / secs.max(1e-9),
        summary_path.display()
    );
    Ok(())
}

/// The signaling profile: corpus packets again and again, written as pcap. `--out` may be a
/// pipe (`/dev/stdout`), so a capture of many millions of packets needs no disk.
fn signaling_main(args: &Args) -> Result<()> {
    let corpus = match &args.corpus {
        Some(c) => c.clone(),
        None => PathBuf::from(std::env::var_os("TUNTRACE_CORPUS").context("--corpus or TUNTRACE_CORPUS is needed")?),
    };
    let peers = args.ues.unwrap_or(300);
    if !(1..=1_000_000).contains(&peers) {
        bail!("--ues must be between 1 and 1000000 for the signaling profile");
    }
    let started = Instant::now();
    let templates = signaling::Templates::load(&corpus)?;
    let (n_ike, n_esp, n_sip) = templates.counts();
    let files = templates.files.join(",");
    let mut sim = signaling::Signaling::new(templates, peers, args.seed);
    let Written { bytes: written, packets, last } = write_pcap(args, &mut sim)?;
    let c = &sim.counts;
    let summary = format!(
        "generator=tuntrace-pcapgen/{GENERATOR_VERSION}\nprofile=signaling\nseed={}\nsize_mb={}\nformat=pcap\n\
peers={peers}\npackets={packets}\nbytes={written}\npackets_ike={}\npackets_esp={}\npackets_sip={}\n\
templates_ike={n_ike}\ntemplates_esp={n_esp}\ntemplates_sip={n_sip}\ncorpus_files={files}\nlast={}\n",
        args.seed,
        args.size_mb,
        c.ike,
        c.esp,
        c.sip,
        Timestamp((BASE_US + last) as i64 * 1000),
    );
    write_summary(&args.out, &summary)?;
    eprintln!(
        "tuntrace-pcapgen: signaling profile, {packets} packets ({} IKE, {} ESP, {} SIP) for {peers} hosts, {:.1} MiB in {:.2} s",
        c.ike,
        c.esp,
        c.sip,
        written as f64 / 1048576.0,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The tunnels profile, written as pcap (`--out` may be a pipe).
fn tunnels_main(args: &Args) -> Result<()> {
    let ues = args.ues.unwrap_or(5000);
    if !(1..=1_000_000).contains(&ues) {
        bail!("--ues must be between 1 and 1000000 for the tunnels profile");
    }
    let started = Instant::now();
    let mut sim = tunnels::TunnelMix::new(ues, args.seed);
    let Written { bytes: written, packets, last } = write_pcap(args, &mut sim)?;
    let c = &sim.counts;
    let summary = format!(
        "generator=tuntrace-pcapgen/{GENERATOR_VERSION}\nprofile=tunnels\nseed={}\nsize_mb={}\nformat=pcap\n\
ues={ues}\npackets={packets}\nbytes={written}\npackets_gtp={}\npackets_vxlan={}\npackets_inner_sip={}\nlast={}\n",
        args.seed,
        args.size_mb,
        c.gtp,
        c.vxlan,
        c.inner_sip,
        Timestamp((BASE_US + last) as i64 * 1000),
    );
    write_summary(&args.out, &summary)?;
    eprintln!(
        "tuntrace-pcapgen: tunnels profile, {packets} packets ({} GTP-U, {} VXLAN) for {ues} subscribers, {:.1} MiB in {:.2} s",
        c.gtp,
        c.vxlan,
        written as f64 / 1048576.0,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// What [`write_pcap`] wrote: bytes (headers included), packets, the last packet's time.
struct Written {
    bytes: u64,
    packets: u64,
    last: u64,
}

/// A profile that makes one frame at a time (the signaling and tunnels profiles).
trait Steps {
    /// The next frame; its time in microseconds from the start.
    fn step(&mut self) -> u64;
    fn frame(&self) -> &[u8];
}

impl Steps for signaling::Signaling {
    fn step(&mut self) -> u64 {
        signaling::Signaling::step(self)
    }
    fn frame(&self) -> &[u8] {
        &self.frame.buf
    }
}

impl Steps for tunnels::TunnelMix {
    fn step(&mut self) -> u64 {
        tunnels::TunnelMix::step(self)
    }
    fn frame(&self) -> &[u8] {
        &self.frame.buf
    }
}

/// A profile's frames as pcap into `--out` until it holds `--size-mb`.
fn write_pcap(args: &Args, sim: &mut impl Steps) -> Result<Written> {
    let file = File::create(&args.out).with_context(|| format!("cannot create {}", args.out.display()))?;
    let mut w = PcapWriter::new(file, 1, 0, TsPrecision::Micro)?;
    let target = args.size_mb.saturating_mul(1 << 20);
    let mut n = Written { bytes: 24, packets: 0, last: 0 };
    while n.bytes < target {
        let t = sim.step();
        let data = sim.frame();
        w.write_packet(Timestamp((BASE_US + t) as i64 * 1000), data, data.len() as u32)?;
        (n.bytes, n.packets, n.last) = (n.bytes + 16 + data.len() as u64, n.packets + 1, t);
    }
    w.finish()?.flush()?;
    Ok(n)
}

/// `FILE.summary` beside a capture written to a file; a pipe has none (the figures go to
/// stderr only).
fn write_summary(out: &Path, summary: &str) -> Result<()> {
    if std::fs::metadata(out).is_ok_and(|m| m.is_file()) {
        let path = summary_path(out);
        std::fs::write(&path, summary).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

/// `FILE.summary` beside the capture.
fn summary_path(out: &Path) -> PathBuf {
    let mut s = out.as_os_str().to_owned();
    s.push(".summary");
    PathBuf::from(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_checksum_of_the_textbook_header() {
        // The worked example of the Internet checksum for an IPv4 header: result 0xb861.
        let h = [0x45, 0, 0, 0x73, 0, 0, 0x40, 0, 0x40, 0x11, 0, 0, 0xc0, 0xa8, 0, 1, 0xc0, 0xa8, 0, 0xc7];
        assert_eq!(fold(sum_words(&h, 0)), 0xb861);
        // Odd lengths pad with a zero byte.
        assert_eq!(fold(sum_words(&[0x12, 0x34, 0x56], 0)), !0x6834);
    }

    #[test]
    fn amr_wb_payload_has_cmr_three_tocs_and_zero_padding() {
        let mut p = [0xffu8; 160];
        amr_wb_octet_aligned(&mut p);
        assert_eq!(&p[..4], &[0xf0, 0xc4, 0xc4, 0x1c]);
        assert_eq!(p[63] & 0x07, 0);
        assert_eq!(p[123] & 0x07, 0);
        assert_eq!(p[159] & 0x07, 0);
        assert_eq!(p[64], 0xff, "the second frame starts untouched");
    }

    #[test]
    fn rng_is_reproducible_and_range_is_inclusive() {
        let (mut a, mut b) = (Rng(42), Rng(42));
        assert_eq!((0..100).map(|_| a.next()).collect::<Vec<_>>(), (0..100).map(|_| b.next()).collect::<Vec<_>>());
        let mut r = Rng(1);
        let v: Vec<u64> = (0..1000).map(|_| r.range(3, 5)).collect();
        assert!(v.iter().all(|x| (3..=5).contains(x)) && v.contains(&3) && v.contains(&5));
        assert!((0..1000).all(|_| r.spi() >= 0x100));
    }
}
