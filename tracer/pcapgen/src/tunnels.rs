//! The tunnels profile: what a mobile core's and a data centre's taps see. GTP-U between
//! base stations and a gateway (5G's PDU session container on half the bearers) carrying the
//! subscribers' own traffic (TCP and QUIC to servers, DNS, VoLTE SIP and RTP), and VXLAN
//! between two VTEPs carrying tenants' Ethernet frames. Every packet is decapsulated by a
//! replay, so it measures the tunnel path and the inner flows, not the signalling decoders.

use super::{fold, sum_words, Frame, Rng};

/// Packets per kind, for the summary.
#[derive(Default)]
pub struct Counts {
    pub gtp: u64,
    pub vxlan: u64,
    pub inner_sip: u64,
}

/// The generator: every step sends one tunnel packet.
pub struct TunnelMix {
    ues: u32,
    rng: Rng,
    pub frame: Frame,
    pub counts: Counts,
    now_us: u64,
    inner: Vec<u8>,
    /// Per subscriber: the next GTP-U sequence number (bearers with the extension header).
    gtp_seq: Vec<u16>,
}

const SGW: [u8; 4] = [198, 18, 100, 1];
const VTEP_A: [u8; 4] = [198, 18, 200, 1];
const VTEP_B: [u8; 4] = [198, 18, 200, 2];
const PCSCF: [u8; 4] = [10, 200, 0, 10];
const GTP_U: u16 = 2152;
const VXLAN: u16 = 4789;
const TEID_UP: u32 = 0x1000_0000;
const TEID_DOWN: u32 = 0x2000_0000;

fn ue_addr(ue: u32) -> [u8; 4] {
    [10, 45 + (ue >> 16) as u8, (ue >> 8) as u8, ue as u8]
}

fn enb_addr(ue: u32) -> [u8; 4] {
    [198, 18, 101, 1 + (ue % 32) as u8]
}

/// An IPv4 header with its checksum, then `l4`.
fn ipv4(out: &mut Vec<u8>, src: [u8; 4], dst: [u8; 4], proto: u8, l4: &[u8]) {
    let total = (20 + l4.len()) as u16;
    let start = out.len();
    out.extend_from_slice(&[0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, proto, 0, 0]);
    out[start + 2..start + 4].copy_from_slice(&total.to_be_bytes());
    out.extend_from_slice(&src);
    out.extend_from_slice(&dst);
    let sum = fold(sum_words(&out[start..start + 20], 0));
    out[start + 10..start + 12].copy_from_slice(&sum.to_be_bytes());
    out.extend_from_slice(l4);
}

fn udp(sport: u16, dport: u16, data: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(8 + data.len());
    v.extend_from_slice(&sport.to_be_bytes());
    v.extend_from_slice(&dport.to_be_bytes());
    v.extend_from_slice(&((8 + data.len()) as u16).to_be_bytes());
    v.extend_from_slice(&[0, 0]);
    v.extend_from_slice(data);
    v
}

fn tcp(sport: u16, dport: u16, seq: u32, data: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(20 + data.len());
    v.extend_from_slice(&sport.to_be_bytes());
    v.extend_from_slice(&dport.to_be_bytes());
    v.extend_from_slice(&seq.to_be_bytes());
    v.extend_from_slice(&1u32.to_be_bytes());
    v.extend_from_slice(&[0x50, if data.is_empty() { 0x10 } else { 0x18 }, 0xff, 0xff, 0, 0, 0, 0]);
    v.extend_from_slice(data);
    v
}

impl TunnelMix {
    pub fn new(ues: u32, seed: u64) -> TunnelMix {
        let ues = ues.max(1);
        TunnelMix {
            ues,
            rng: Rng(seed),
            frame: Frame::default(),
            counts: Counts::default(),
            now_us: 0,
            inner: Vec::with_capacity(2048),
            gtp_seq: vec![0; ues as usize],
        }
    }

    /// The next packet into `frame`; returns its time in microseconds from the start.
    pub fn step(&mut self) -> u64 {
        self.now_us += 5 + self.rng.range(0, 25);
        if self.rng.range(0, 99) < 75 {
            self.gtp();
        } else {
            self.vxlan();
        }
        self.now_us
    }

    /// A subscriber's packet from or to the network, inside GTP-U.
    fn gtp(&mut self) {
        self.counts.gtp += 1;
        let ue = self.rng.range(0, u64::from(self.ues) - 1) as u32;
        let up = self.rng.range(0, 1) == 0;
        let addr = ue_addr(ue);
        let port = 30_000 + (ue % 20_000) as u16;
        self.inner.clear();
        let roll = self.rng.range(0, 99);
        let mut payload = vec![0u8; 0];
        let (server, l4, proto) = match roll {
            0..=54 => {
                let n = [0usize, 0, 536, 1380, 1380][self.rng.range(0, 4) as usize];
                payload.resize(n, 0);
                self.rng.fill(&mut payload);
                let seq = self.rng.next() as u32;
                let (s, d) = if up { (port, 443) } else { (443, port) };
                ([93, 184, 216, 34], tcp(s, d, seq, &payload), 6)
            }
            55..=89 => {
                payload.resize(self.rng.range(40, 1250) as usize, 0);
                self.rng.fill(&mut payload);
                let (s, d) = if up { (port, 443) } else { (443, port) };
                ([142, 250, 0, 1 + (ue % 200) as u8], udp(s, d, &payload), 17)
            }
            90..=94 => {
                payload.extend_from_slice(&(ue as u16).to_be_bytes());
                payload.extend_from_slice(&[1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 7]);
                payload.extend_from_slice(b"example\x03com\x00\x00\x01\x00\x01");
                let (s, d) = if up { (port, 53) } else { (53, port) };
                ([10, 200, 0, 53], udp(s, d, &payload), 17)
            }
            95..=96 => {
                // VoLTE signalling to the P-CSCF: a REGISTER refresh and its answer.
                self.counts.inner_sip += 1;
                let msg = if up {
                    format!(
                        "REGISTER sip:ims.mnc260.mcc310.3gppnetwork.org SIP/2.0\r\nVia: SIP/2.0/UDP {}.{}.{}.{}:5060;branch=z9hG4bK{:x}\r\nFrom: <sip:{ue}@ims.mnc260.mcc310.3gppnetwork.org>;tag={ue}\r\nTo: <sip:{ue}@ims.mnc260.mcc310.3gppnetwork.org>\r\nCall-ID: reg-{ue}@gtp\r\nCSeq: {} REGISTER\r\nExpires: 600000\r\nContent-Length: 0\r\n\r\n",
                        addr[0], addr[1], addr[2], addr[3], self.rng.next(), self.now_us / 1000
                    )
                } else {
                    format!(
                        "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP {}.{}.{}.{}:5060;branch=z9hG4bK{:x}\r\nFrom: <sip:{ue}@ims.mnc260.mcc310.3gppnetwork.org>;tag={ue}\r\nTo: <sip:{ue}@ims.mnc260.mcc310.3gppnetwork.org>;tag=p\r\nCall-ID: reg-{ue}@gtp\r\nCSeq: {} REGISTER\r\nContent-Length: 0\r\n\r\n",
                        addr[0], addr[1], addr[2], addr[3], self.rng.next(), self.now_us / 1000
                    )
                };
                (PCSCF, udp(5060, 5060, msg.as_bytes()), 17)
            }
            _ => {
                // VoLTE media: RTP, AMR-WB sized.
                payload.resize(12 + 61, 0);
                self.rng.fill(&mut payload);
                payload[0] = 0x80;
                payload[1] = 104;
                let (s, d) = if up { (50_000, 20_000) } else { (20_000, 50_000) };
                ([10, 200, 1, 1 + (ue % 100) as u8], udp(s, d, &payload), 17)
            }
        };
        let (isrc, idst) = if up { (addr, server) } else { (server, addr) };
        ipv4(&mut self.inner, isrc, idst, proto, &l4);

        let (osrc, odst) = if up { (enb_addr(ue), SGW) } else { (SGW, enb_addr(ue)) };
        self.frame.udp(up, osrc, GTP_U, odst, GTP_U, 0);
        let teid = if up { TEID_UP | ue } else { TEID_DOWN | ue };
        let b = &mut self.frame.buf;
        if ue.is_multiple_of(2) {
            // 5G: E flag, a sequence number, and a PDU session container (QFI 9).
            let seq = &mut self.gtp_seq[ue as usize];
            *seq = seq.wrapping_add(1);
            let len = (4 + 4 + self.inner.len()) as u16;
            b.extend_from_slice(&[0x34, 0xff]);
            b.extend_from_slice(&len.to_be_bytes());
            b.extend_from_slice(&teid.to_be_bytes());
            b.extend_from_slice(&seq.to_be_bytes());
            b.extend_from_slice(&[0, 0x85, 1, if up { 0x10 } else { 0x00 }, 9, 0]);
        } else {
            b.extend_from_slice(&[0x30, 0xff]);
            b.extend_from_slice(&(self.inner.len() as u16).to_be_bytes());
            b.extend_from_slice(&teid.to_be_bytes());
        }
        b.extend_from_slice(&self.inner);
        self.frame.finish_udp(false);
    }

    /// A tenant's frame between two VTEPs.
    fn vxlan(&mut self) {
        self.counts.vxlan += 1;
        let tenant = self.rng.range(0, 31) as u8;
        let vm = self.rng.range(1, 200) as u8;
        let up = self.rng.range(0, 1) == 0;
        let (a, b) = ([172, 16, tenant, vm], [172, 16, tenant, 250]);
        let mut payload = vec![0u8; [64usize, 512, 1400][self.rng.range(0, 2) as usize]];
        self.rng.fill(&mut payload);
        let port = 40_000 + u16::from(vm);
        let l4 = if up { tcp(port, 5432, self.rng.next() as u32, &payload) } else { tcp(5432, port, 7, &payload) };
        self.inner.clear();
        self.inner.extend_from_slice(&[0x02, 0, 0, tenant, 0, if up { 250 } else { vm }]);
        self.inner.extend_from_slice(&[0x02, 0, 0, tenant, 0, if up { vm } else { 250 }]);
        self.inner.extend_from_slice(&[0x08, 0x00]);
        let (s, d) = if up { (a, b) } else { (b, a) };
        ipv4(&mut self.inner, s, d, 6, &l4);

        let (osrc, odst) = if up { (VTEP_A, VTEP_B) } else { (VTEP_B, VTEP_A) };
        // The source port spreads flows over paths (RFC 7348): from the inner flow.
        let sport = 49_152 + (u16::from(vm) * 97 + u16::from(tenant)) % 16_000;
        self.frame.udp(up, osrc, sport, odst, VXLAN, 0);
        let vni = 5000 + u32::from(tenant);
        let bytes = vni.to_be_bytes();
        self.frame.buf.extend_from_slice(&[0x08, 0, 0, 0, bytes[1], bytes[2], bytes[3], 0]);
        self.frame.buf.extend_from_slice(&self.inner);
        self.frame.finish_udp(false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_well_formed_gtp_and_vxlan() {
        let mut m = TunnelMix::new(100, 1);
        for _ in 0..2000 {
            m.step();
            let b = &m.frame.buf;
            let udp_len = usize::from(u16::from_be_bytes([b[38], b[39]]));
            assert_eq!(udp_len, b.len() - 34, "the UDP length covers the tunnel packet");
            let dport = u16::from_be_bytes([b[36], b[37]]);
            if dport == GTP_U {
                let gtp_len = usize::from(u16::from_be_bytes([b[44], b[45]]));
                assert_eq!(gtp_len + 8, udp_len - 8, "GTP-U's length counts what follows its 8 bytes");
            } else {
                assert_eq!(dport, VXLAN);
                assert_eq!(b[42], 0x08, "the VNI flag");
            }
        }
        assert!(m.counts.gtp > 1000 && m.counts.vxlan > 300 && m.counts.inner_sip > 10);
    }
}
