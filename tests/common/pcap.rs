//! A pcap file written frame by frame, for tests that build their own captures: Ethernet,
//! IPv4 from a given host to 198.18.0.1, one millisecond apart.

use std::io::Write;
use std::path::Path;

pub struct Pcap {
    out: std::io::BufWriter<std::fs::File>,
    t: u32,
}

impl Pcap {
    pub fn create(path: &Path) -> Pcap {
        let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
        out.write_all(&0xa1b2_c3d4u32.to_le_bytes()).unwrap();
        out.write_all(&[2, 0, 4, 0]).unwrap();
        out.write_all(&[0; 8]).unwrap();
        out.write_all(&262_144u32.to_le_bytes()).unwrap();
        out.write_all(&1u32.to_le_bytes()).unwrap();
        Pcap { out, t: 0 }
    }

    /// One Ethernet frame with an IPv4 packet of protocol `proto` from `src` to 198.18.0.1.
    pub fn ipv4(&mut self, src: [u8; 4], proto: u8, payload: &[u8]) {
        let len = (20 + payload.len()) as u16;
        let mut f = vec![0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0x08, 0x00];
        f.extend_from_slice(&[0x45, 0, (len >> 8) as u8, len as u8, 0, 1, 0, 0, 64, proto, 0, 0]);
        f.extend_from_slice(&src);
        f.extend_from_slice(&[198, 18, 0, 1]);
        f.extend_from_slice(payload);
        self.t += 1;
        let (s, us) = (1_700_000_000 + self.t / 1000, (self.t % 1000) * 1000);
        for v in [s, us, f.len() as u32, f.len() as u32] {
            self.out.write_all(&v.to_le_bytes()).unwrap();
        }
        self.out.write_all(&f).unwrap();
    }

    pub fn udp(&mut self, src: [u8; 4], sport: u16, dport: u16, data: &[u8]) {
        let mut u = Vec::with_capacity(8 + data.len());
        for v in [sport, dport, (8 + data.len()) as u16, 0] {
            u.extend_from_slice(&v.to_be_bytes());
        }
        u.extend_from_slice(data);
        self.ipv4(src, 17, &u);
    }
}
