//! What the outer capture shows of a WireGuard or OpenVPN tunnel, read by tshark.
//!
//! Neither daemon prints its wire identifiers (`wg` shows no session indices; OpenVPN logs only
//! the peer's session ID), so Wireshark's dissectors are the independent reading: the lab puts
//! their summary in the truth beside what the daemons say, and the tests check the two against
//! each other.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use super::truth::{OvpnOpcodeCount, OvpnWire, WgHandshakeWire, WgSessionWire, WgWire};

/// One WireGuard message on the outer link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WgMessage {
    pub src: String,
    pub dst: String,
    /// 1 handshake initiation, 2 handshake response, 3 cookie reply, 4 transport data.
    pub kind: u8,
    pub sender: Option<String>,
    pub receiver: Option<String>,
    pub counter: Option<u64>,
    /// UDP payload length: the WireGuard message.
    pub len: u64,
}

/// A WireGuard transport message of this length carries no packet: a keepalive.
pub const WG_KEEPALIVE_LEN: u64 = 32;

fn tshark(file: &Path, args: &[&str]) -> Result<String, String> {
    let out = Command::new("tshark")
        .args(["-n", "-r"])
        .arg(file)
        .args(args)
        .output()
        .map_err(|e| format!("tshark (package tshark): {e}"))?;
    if !out.status.success() {
        return Err(format!("tshark on {}: {}", file.display(), String::from_utf8_lossy(&out.stderr).trim()));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Indices as 8 lower-case hex digits (tshark prints `0xf0b0b683`).
fn index(s: &str) -> Option<String> {
    let h = s.trim().trim_start_matches("0x").to_ascii_lowercase();
    (h.len() == 8 && h.bytes().all(|b| b.is_ascii_hexdigit())).then_some(h)
}

/// Parse `-T fields` lines: src, sport, dst, dport, udp.length, wg.type, wg.sender, wg.receiver,
/// wg.counter.
pub fn parse_wg_fields(text: &str) -> Vec<WgMessage> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            if f.len() < 9 {
                return None;
            }
            Some(WgMessage {
                src: format!("{}:{}", f[0], f[1]),
                dst: format!("{}:{}", f[2], f[3]),
                kind: f[5].parse().ok()?,
                sender: index(f[6]),
                receiver: index(f[7]),
                counter: f[8].parse().ok(),
                len: f[4].parse::<u64>().ok()?.checked_sub(8)?,
            })
        })
        .collect()
}

pub fn wireguard_messages(outer: &Path, port: u16) -> Result<Vec<WgMessage>, String> {
    let decode = format!("udp.port=={port},wg");
    let mut args = vec!["-d", &decode, "-Y", "wg", "-T", "fields"];
    for f in [
        "ip.src",
        "udp.srcport",
        "ip.dst",
        "udp.dstport",
        "udp.length",
        "wg.type",
        "wg.sender",
        "wg.receiver",
        "wg.counter",
    ] {
        args.extend(["-e", f]);
    }
    Ok(parse_wg_fields(&tshark(outer, &args)?))
}

/// Handshakes (who initiated, both sender indices) and transport data per receiver index.
pub fn summarize_wireguard(msgs: &[WgMessage]) -> WgWire {
    let mut w = WgWire::default();
    for m in msgs {
        match m.kind {
            1 => {
                w.initiations += 1;
                if let Some(i) = &m.sender {
                    w.handshakes.push(WgHandshakeWire {
                        initiator: m.src.clone(),
                        initiator_index: i.clone(),
                        responder_index: None,
                    });
                }
            }
            2 => {
                w.responses += 1;
                let h = w
                    .handshakes
                    .iter_mut()
                    .rev()
                    .find(|h| Some(&h.initiator_index) == m.receiver.as_ref() && h.responder_index.is_none());
                if let Some(h) = h {
                    h.responder_index = m.sender.clone();
                }
            }
            3 => w.cookie_replies += 1,
            4 => {
                w.transport += 1;
                let keepalive = m.len == WG_KEEPALIVE_LEN;
                w.keepalives += u64::from(keepalive);
                let Some(r) = &m.receiver else { continue };
                let pos = w.sessions.iter().position(|s| &s.receiver_index == r && s.src == m.src);
                let s = match pos {
                    Some(p) => &mut w.sessions[p],
                    None => {
                        w.sessions.push(WgSessionWire {
                            receiver_index: r.clone(),
                            src: m.src.clone(),
                            dst: m.dst.clone(),
                            ..Default::default()
                        });
                        w.sessions.last_mut().expect("just pushed")
                    }
                };
                s.packets += 1;
                s.keepalives += u64::from(keepalive);
                s.bytes += m.len;
                if let Some(c) = m.counter {
                    s.first_counter = Some(s.first_counter.map_or(c, |f| f.min(c)));
                    s.last_counter = Some(s.last_counter.map_or(c, |l| l.max(c)));
                }
            }
            _ => {}
        }
    }
    w
}

/// One OpenVPN packet on the outer link (several may share a TCP segment).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OvpnPacket {
    pub frame: u64,
    pub src: String,
    pub dst: String,
    pub opcode: u8,
    pub key_id: u8,
    /// 16 lower-case hex digits.
    pub session_id: Option<String>,
    pub remote_session_id: Option<String>,
    pub peer_id: Option<u32>,
    /// The OpenVPN packet's length (without TCP's 2-byte length prefix).
    pub len: u64,
}

pub fn opcode_name(op: u8) -> &'static str {
    match op {
        1 => "P_CONTROL_HARD_RESET_CLIENT_V1",
        2 => "P_CONTROL_HARD_RESET_SERVER_V1",
        3 => "P_CONTROL_SOFT_RESET_V1",
        4 => "P_CONTROL_V1",
        5 => "P_ACK_V1",
        6 => "P_DATA_V1",
        7 => "P_CONTROL_HARD_RESET_CLIENT_V2",
        8 => "P_CONTROL_HARD_RESET_SERVER_V2",
        9 => "P_DATA_V2",
        10 => "P_CONTROL_HARD_RESET_CLIENT_V3",
        11 => "P_CONTROL_WKC_V1",
        _ => "unknown",
    }
}

fn str_of<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v.get(k).and_then(Value::as_str)
}

fn hex_u64(decimal: &str) -> Option<String> {
    decimal.parse::<u64>().ok().map(|n| format!("{n:016x}"))
}

fn parse_int(s: &str) -> Option<u64> {
    match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

/// Parse tshark's `-T json --no-duplicate-keys` output for frames with OpenVPN in them.
pub fn parse_openvpn_json(text: &str) -> Result<Vec<OvpnPacket>, String> {
    let frames: Value = serde_json::from_str(text).map_err(|e| format!("tshark JSON: {e}"))?;
    let mut out = Vec::new();
    for f in frames.as_array().ok_or("tshark JSON is not an array")? {
        let layers = &f["_source"]["layers"];
        let frame = str_of(&layers["frame"], "frame.number").and_then(|n| n.parse().ok()).unwrap_or(0);
        let (src, dst) =
            (str_of(&layers["ip"], "ip.src").unwrap_or("?"), str_of(&layers["ip"], "ip.dst").unwrap_or("?"));
        let (l4, proto) = if layers.get("tcp").is_some() { (&layers["tcp"], "tcp") } else { (&layers["udp"], "udp") };
        let sport = str_of(l4, &format!("{proto}.srcport")).unwrap_or("?");
        let dport = str_of(l4, &format!("{proto}.dstport")).unwrap_or("?");
        let pdus: Vec<&Value> = match &layers["openvpn"] {
            Value::Array(a) => a.iter().collect(),
            v @ Value::Object(_) => vec![v],
            _ => continue,
        };
        for p in pdus {
            let tree = &p["openvpn.type_tree"];
            let Some(opcode) = str_of(tree, "openvpn.opcode").and_then(parse_int).and_then(|o| u8::try_from(o).ok())
            else {
                continue;
            };
            // Over UDP there is no length field: the packet is the datagram.
            let len = match str_of(p, "openvpn.plen").and_then(parse_int) {
                Some(l) => l,
                None => str_of(l4, "udp.length").and_then(parse_int).unwrap_or(8).saturating_sub(8),
            };
            out.push(OvpnPacket {
                frame,
                src: format!("{src}:{sport}"),
                dst: format!("{dst}:{dport}"),
                opcode,
                key_id: str_of(tree, "openvpn.keyid")
                    .and_then(parse_int)
                    .and_then(|k| u8::try_from(k).ok())
                    .unwrap_or(0),
                session_id: str_of(p, "openvpn.sessionid").and_then(hex_u64),
                remote_session_id: str_of(p, "openvpn.rsessionid").and_then(hex_u64),
                peer_id: str_of(p, "openvpn.peerid").and_then(parse_int).and_then(|v| u32::try_from(v).ok()),
                len,
            });
        }
    }
    Ok(out)
}

pub fn openvpn_packets(outer: &Path, port: u16) -> Result<Vec<OvpnPacket>, String> {
    let (udp, tcp) = (format!("udp.port=={port},openvpn"), format!("tcp.port=={port},openvpn"));
    let args = [
        "-d",
        &udp,
        "-d",
        &tcp,
        "-Y",
        "openvpn",
        "-T",
        "json",
        "--no-duplicate-keys",
        "-J",
        "frame ip udp tcp openvpn",
    ];
    parse_openvpn_json(&tshark(outer, &args)?)
}

/// Session and key IDs, peer IDs, packets per opcode and direction, and the opcodes in order up
/// to the first data packet (the handshake). `client` is the client's outer address (no port).
pub fn summarize_openvpn(pkts: &[OvpnPacket], client: &str, transport: &str) -> OvpnWire {
    let mut w = OvpnWire { transport: transport.to_string(), ..Default::default() };
    let from_client = |p: &OvpnPacket| p.src.rsplit_once(':').map(|(a, _)| a) == Some(client);
    let mut handshake_done = false;
    for p in pkts {
        let fc = from_client(p);
        if w.client.is_empty() && fc {
            w.client = p.src.clone();
            w.server = p.dst.clone();
        }
        if let Some(s) = &p.session_id {
            let slot = if fc { &mut w.client_session_ids } else { &mut w.server_session_ids };
            if !slot.contains(s) {
                slot.push(s.clone());
            }
        }
        if !w.key_ids.contains(&p.key_id) {
            w.key_ids.push(p.key_id);
        }
        if let Some(id) = p.peer_id {
            if !w.peer_ids.contains(&id) {
                w.peer_ids.push(id);
            }
        }
        let name = opcode_name(p.opcode);
        match w.opcodes.iter_mut().find(|o| o.opcode == name && o.from_client == fc) {
            Some(o) => {
                o.packets += 1;
                o.bytes += p.len;
            }
            None => w.opcodes.push(OvpnOpcodeCount { opcode: name.into(), from_client: fc, packets: 1, bytes: p.len }),
        }
        if !handshake_done {
            w.handshake.push(format!("{} {name}", if fc { "client" } else { "server" }));
            handshake_done = matches!(p.opcode, 6 | 9);
        }
    }
    w.key_ids.sort_unstable();
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    // tshark 4.0's fields for a real handshake, keepalive and two data messages of this lab.
    const WG: &str = "198.18.0.2\t40024\t198.18.0.1\t51820\t156\t1\t0xf0b0b683\t\t\n\
198.18.0.1\t51820\t198.18.0.2\t40024\t100\t2\t0xa1e2207e\t0xf0b0b683\t\n\
198.18.0.2\t40024\t198.18.0.1\t51820\t40\t4\t\t0xa1e2207e\t0\n\
198.18.0.2\t40024\t198.18.0.1\t51820\t88\t4\t\t0xa1e2207e\t1\n\
198.18.0.1\t51820\t198.18.0.2\t40024\t120\t4\t\t0xf0b0b683\t0\n";

    #[test]
    fn wireguard_indices_and_sessions() {
        let m = parse_wg_fields(WG);
        assert_eq!(m.len(), 5);
        assert_eq!((m[0].kind, m[0].len, m[0].sender.as_deref()), (1, 148, Some("f0b0b683")));
        let w = summarize_wireguard(&m);
        assert_eq!((w.initiations, w.responses, w.transport, w.keepalives), (1, 1, 3, 1));
        assert_eq!(w.handshakes.len(), 1);
        assert_eq!(w.handshakes[0].initiator, "198.18.0.2:40024");
        assert_eq!(w.handshakes[0].responder_index.as_deref(), Some("a1e2207e"));
        assert_eq!(w.sessions.len(), 2);
        let up = &w.sessions[0];
        assert_eq!((up.receiver_index.as_str(), up.packets, up.keepalives, up.bytes), ("a1e2207e", 2, 1, 112));
        assert_eq!((up.first_counter, up.last_counter), (Some(0), Some(1)));
        assert_eq!(w.sessions[1].src, "198.18.0.1:51820");
    }

    // Two frames of a real OpenVPN-over-TCP capture: the server's hard reset, and a segment with
    // two data packets.
    const OVPN: &str = r#"[
 {"_source": {"layers": {"frame": {"frame.number": "6"},
   "ip": {"ip.src": "198.18.0.1", "ip.dst": "198.18.0.2"},
   "tcp": {"tcp.srcport": "1194", "tcp.dstport": "37482"},
   "openvpn": {"openvpn.plen": "26", "openvpn.type": "0x40",
     "openvpn.type_tree": {"openvpn.opcode": "0x08", "openvpn.keyid": "0"},
     "openvpn.sessionid": "6058321812255143667", "openvpn.rsessionid": "14045939382964379557"}}}},
 {"_source": {"layers": {"frame": {"frame.number": "23"},
   "ip": {"ip.src": "198.18.0.2", "ip.dst": "198.18.0.1"},
   "tcp": {"tcp.srcport": "37482", "tcp.dstport": "1194"},
   "openvpn": [
     {"openvpn.plen": "71", "openvpn.type_tree": {"openvpn.opcode": "0x09", "openvpn.keyid": "0"}, "openvpn.peerid": "0"},
     {"openvpn.plen": "1052", "openvpn.type_tree": {"openvpn.opcode": "0x09", "openvpn.keyid": "0"}, "openvpn.peerid": "0"}]}}}
]"#;

    #[test]
    fn openvpn_ids_and_opcodes() {
        let p = parse_openvpn_json(OVPN).unwrap();
        assert_eq!(p.len(), 3);
        assert_eq!(p[0].session_id.as_deref(), Some("54137b970277f6f3"));
        assert_eq!(p[0].remote_session_id.as_deref(), Some("c2ed33734242dfa5"));
        assert_eq!((p[2].opcode, p[2].len, p[2].peer_id, p[2].frame), (9, 1052, Some(0), 23));
        let w = summarize_openvpn(&p, "198.18.0.2", "tcp");
        assert_eq!(w.client, "198.18.0.2:37482");
        assert_eq!(w.server_session_ids, vec!["54137b970277f6f3".to_string()]);
        assert!(w.client_session_ids.is_empty());
        assert_eq!((w.key_ids.clone(), w.peer_ids.clone()), (vec![0], vec![0]));
        assert_eq!(w.handshake, ["server P_CONTROL_HARD_RESET_SERVER_V2", "client P_DATA_V2"]);
        let data = w.opcodes.iter().find(|o| o.opcode == "P_DATA_V2").unwrap();
        assert_eq!((data.from_client, data.packets, data.bytes), (true, 2, 1123));
        assert!(parse_openvpn_json("not json").is_err());
    }

    proptest::proptest! {
        #[test]
        fn any_text_is_read_without_panic(s in "(\\PC|\\t|\\n){0,300}") {
            let m = parse_wg_fields(&s);
            let _ = summarize_wireguard(&m);
            let _ = parse_openvpn_json(&s);
        }
    }
}
