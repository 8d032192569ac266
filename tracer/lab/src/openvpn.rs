//! OpenVPN peers: a server in the ePDG namespace and a client in the UE namespace, TLS mode
//! without tls-auth/tls-crypt (so opcodes, key IDs, session IDs and peer IDs are in the clear, as
//! in most real deployments' first packets), over UDP or TCP. A tiny CA and two certificates are
//! made with openssl at run time: nothing secret is shipped, nothing is fetched.
//!
//! What the daemons say is read from their own files: the status file (`--status FILE 1`, version
//! 1) for byte counts, and the client's log for the server's session ID and what was pushed.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};

use super::netns::{self, EPDG_V4};

/// The TUN each side opens (the server at start, the client once the server pushed its options).
pub const IFACE: &str = "tun0";
pub const PORT: u16 = 1194;
pub const SERVER_NET: &str = "198.19.3.0";
pub const SERVER_MASK: &str = "255.255.255.0";
/// `--server` takes .1 for itself and hands the first client .2 (topology subnet).
pub const EPDG_ADDR: &str = "198.19.3.1";
pub const UE_ADDR: &str = "198.19.3.2";
/// Certificate common names: the client's shows in the server's status file.
pub const SERVER_CN: &str = "epdg";
pub const CLIENT_CN: &str = "ue";
/// The server log's line once it serves, the client's once the tunnel carries traffic.
pub const READY: &str = "Initialization Sequence Completed";

/// The files of the run-time PKI, all in one directory.
#[derive(Debug, Clone)]
pub struct Pki {
    pub ca_key: PathBuf,
    pub ca_cert: PathBuf,
    pub server_key: PathBuf,
    pub server_cert: PathBuf,
    pub client_key: PathBuf,
    pub client_cert: PathBuf,
}

impl Pki {
    pub fn in_dir(dir: &Path) -> Pki {
        Pki {
            ca_key: dir.join("ca.key"),
            ca_cert: dir.join("ca.crt"),
            server_key: dir.join("server.key"),
            server_cert: dir.join("server.crt"),
            client_key: dir.join("client.key"),
            client_cert: dir.join("client.crt"),
        }
    }

    pub fn files(&self) -> [&Path; 6] {
        [&self.ca_key, &self.ca_cert, &self.server_key, &self.server_cert, &self.client_key, &self.client_cert]
    }

    /// The three openssl runs that make the CA, then the server's and the client's certificate
    /// signed by it (P-256 keys: quick to make). The extensions are what `--remote-cert-tls`
    /// checks: the server's certificate must say serverAuth, the client's clientAuth.
    pub fn commands(&self) -> Vec<Command> {
        let mut out = Vec::new();
        let base = |key: &Path, cert: &Path, cn: &str| {
            let mut c = Command::new("openssl");
            c.args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-days",
                "2",
            ]);
            c.arg("-keyout").arg(key).arg("-out").arg(cert).args(["-subj", &format!("/CN={cn}")]);
            c
        };
        let mut ca = base(&self.ca_key, &self.ca_cert, "tuntrace lab CA");
        ca.args(["-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"]);
        out.push(ca);
        for (key, cert, cn, eku) in [
            (&self.server_key, &self.server_cert, SERVER_CN, "serverAuth"),
            (&self.client_key, &self.client_cert, CLIENT_CN, "clientAuth"),
        ] {
            let mut c = base(key, cert, cn);
            c.arg("-CA").arg(&self.ca_cert).arg("-CAkey").arg(&self.ca_key);
            c.args(["-addext", "basicConstraints=CA:FALSE", "-addext", "keyUsage=critical,digitalSignature"]);
            c.args(["-addext", &format!("extendedKeyUsage={eku}")]);
            out.push(c);
        }
        out
    }
}

fn common(c: &mut Command, proto: &str, status: &Path) {
    // No data-channel offload: the point is a TUN held by the daemon (the ovpn-dco module is not
    // on these kernels anyway, but another host may have it).
    c.args(["--dev", IFACE, "--dev-type", "tun", "--disable-dco", "--verb", "3", "--proto", proto]);
    c.arg("--status").arg(status).args(["1", "--status-version", "1"]);
}

/// The server in the ePDG namespace, listening on the ePDG's veth address.
pub fn server_command(ns: &str, pki: &Pki, tcp: bool, port: u16, status: &Path) -> Command {
    let mut c = netns::exec_in(ns, "openvpn");
    common(&mut c, if tcp { "tcp-server" } else { "udp" }, status);
    c.args(["--local", EPDG_V4, "--port", &port.to_string()]);
    c.args(["--server", SERVER_NET, SERVER_MASK, "--topology", "subnet", "--dh", "none"]);
    c.arg("--ca").arg(&pki.ca_cert).arg("--cert").arg(&pki.server_cert).arg("--key").arg(&pki.server_key);
    c
}

/// The client in the UE namespace; it opens its tun0 once the server has pushed the address.
pub fn client_command(ns: &str, pki: &Pki, tcp: bool, port: u16, status: &Path) -> Command {
    let mut c = netns::exec_in(ns, "openvpn");
    common(&mut c, if tcp { "tcp-client" } else { "udp" }, status);
    c.args(["--client", "--nobind", "--remote", EPDG_V4, &port.to_string()]);
    c.args(["--remote-cert-tls", "server", "--verify-x509-name", SERVER_CN, "name"]);
    c.arg("--ca").arg(&pki.ca_cert).arg("--cert").arg(&pki.client_cert).arg("--key").arg(&pki.client_key);
    c
}

/// The client's status file (`OpenVPN STATISTICS`): bytes through its TUN and over its socket.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ClientStatus {
    pub updated: String,
    /// IP packets read from tun0 (what the UE sent into the tunnel), and written to it.
    pub tun_read_bytes: u64,
    pub tun_write_bytes: u64,
    /// Bytes over the UDP or TCP socket. Measured with OpenVPN 2.6.14: writes count what went on
    /// the socket (over TCP the 2-byte packet length included), reads count OpenVPN packets
    /// (over TCP without it).
    pub link_read_bytes: u64,
    pub link_write_bytes: u64,
    pub auth_read_bytes: u64,
}

/// One client in the server's status file (`CLIENT LIST` and `ROUTING TABLE`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ServerClient {
    pub common_name: String,
    pub real_address: String,
    pub bytes_received: u64,
    pub bytes_sent: u64,
    pub virtual_address: Option<String>,
}

fn number(v: Option<&str>, what: &str) -> Result<u64, String> {
    v.and_then(|s| s.trim().parse().ok()).ok_or_else(|| format!("{what}: not a number ({v:?})"))
}

/// Read a client status file (version 1); an incomplete file (no `END`) is an error, since
/// OpenVPN rewrites it in place.
pub fn parse_client_status(text: &str) -> Result<ClientStatus, String> {
    if !text.starts_with("OpenVPN STATISTICS") || !text.lines().any(|l| l == "END") {
        return Err("not a complete client status file".into());
    }
    let get = |k: &str| text.lines().find_map(|l| l.strip_prefix(k).and_then(|r| r.strip_prefix(',')));
    Ok(ClientStatus {
        updated: get("Updated").unwrap_or_default().to_string(),
        tun_read_bytes: number(get("TUN/TAP read bytes"), "TUN/TAP read bytes")?,
        tun_write_bytes: number(get("TUN/TAP write bytes"), "TUN/TAP write bytes")?,
        link_read_bytes: number(get("TCP/UDP read bytes"), "TCP/UDP read bytes")?,
        link_write_bytes: number(get("TCP/UDP write bytes"), "TCP/UDP write bytes")?,
        auth_read_bytes: number(get("Auth read bytes"), "Auth read bytes")?,
    })
}

/// Read a server status file (version 1): the client list joined with the routing table.
pub fn parse_server_status(text: &str) -> Result<Vec<ServerClient>, String> {
    if !text.starts_with("OpenVPN CLIENT LIST") || !text.lines().any(|l| l == "END") {
        return Err("not a complete server status file".into());
    }
    let mut clients = Vec::new();
    let mut section = "";
    for l in text.lines() {
        match l {
            "OpenVPN CLIENT LIST" | "ROUTING TABLE" | "GLOBAL STATS" | "END" => {
                section = l;
                continue;
            }
            _ => {}
        }
        if l.starts_with("Updated,") || l.starts_with("Common Name,") || l.starts_with("Virtual Address,") {
            continue;
        }
        let f: Vec<&str> = l.split(',').collect();
        match section {
            "OpenVPN CLIENT LIST" if f.len() >= 5 => clients.push(ServerClient {
                common_name: f[0].to_string(),
                real_address: f[1].to_string(),
                bytes_received: number(Some(f[2]), "Bytes Received")?,
                bytes_sent: number(Some(f[3]), "Bytes Sent")?,
                virtual_address: None,
            }),
            "ROUTING TABLE" if f.len() >= 3 => {
                if let Some(c) = clients.iter_mut().find(|c| c.common_name == f[1] && c.real_address == f[2]) {
                    c.virtual_address = Some(f[0].to_string());
                }
            }
            _ => {}
        }
    }
    Ok(clients)
}

/// What the client's log (verb 3) says about the session.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ClientLog {
    /// The server's session ID from "TLS: Initial packet from …, sid=xxxxxxxx xxxxxxxx", as 16
    /// lower-case hex digits.
    pub server_session_id: Option<String>,
    /// From the PUSH_REPLY: the peer ID the client puts in its P_DATA_V2 packets, its address
    /// and the data cipher.
    pub peer_id: Option<u32>,
    pub ifconfig: Option<String>,
    pub cipher: Option<String>,
    pub initialized: bool,
}

pub fn parse_client_log(text: &str) -> ClientLog {
    let mut out = ClientLog::default();
    for l in text.lines() {
        if let Some((_, sid)) = l.split_once("TLS: Initial packet from ").and_then(|(_, r)| r.split_once(", sid=")) {
            let hex: String = sid.split_whitespace().collect::<Vec<_>>().join("").to_ascii_lowercase();
            if hex.len() == 16 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                out.server_session_id = Some(hex);
            }
        }
        if let Some(push) = l.split_once("PUSH_REPLY,").map(|(_, r)| r.trim_end_matches('\'')) {
            for opt in push.split(',') {
                let mut w = opt.split_whitespace();
                match w.next() {
                    Some("peer-id") => out.peer_id = w.next().and_then(|v| v.parse().ok()),
                    Some("ifconfig") => out.ifconfig = w.next().map(str::to_string),
                    Some("cipher") => out.cipher = w.next().map(str::to_string),
                    _ => {}
                }
            }
        }
        if l.ends_with(READY) {
            out.initialized = true;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    // Both files as this lab's peers wrote them (OpenVPN 2.6.14, UDP).
    const CLIENT: &str = "OpenVPN STATISTICS\nUpdated,2026-12-03 23:01:00\nTUN/TAP read bytes,1075\n\
TUN/TAP write bytes,651\nTCP/UDP read bytes,2737\nTCP/UDP write bytes,3105\nAuth read bytes,651\nEND\n";
    const SERVER: &str = "OpenVPN CLIENT LIST\nUpdated,2026-12-03 23:01:00\n\
Common Name,Real Address,Bytes Received,Bytes Sent,Connected Since\n\
ue,198.18.0.2:46030,3091,2711,2026-12-03 23:00:58\nROUTING TABLE\n\
Virtual Address,Common Name,Real Address,Last Ref\n198.19.3.2,ue,198.18.0.2:46030,2026-12-03 23:00:58\n\
GLOBAL STATS\nMax bcast/mcast queue length,0\nEND\n";
    const LOG: &str = "2026-12-03 23:00:58 TLS: Initial packet from [AF_INET]198.18.0.1:1194, sid=fa6440ed 3ed5863b\n\
2026-12-03 23:00:58 PUSH: Received control message: 'PUSH_REPLY,route-gateway 198.19.3.1,topology subnet,\
ifconfig 198.19.3.2 255.255.255.0,peer-id 0,cipher AES-256-GCM,protocol-flags cc-exit tls-ekm dyn-tls-crypt,tun-mtu 1500'\n\
2026-12-03 23:00:58 Initialization Sequence Completed\n";

    #[test]
    fn reads_client_status() {
        let s = parse_client_status(CLIENT).unwrap();
        assert_eq!(
            (s.tun_read_bytes, s.tun_write_bytes, s.link_read_bytes, s.link_write_bytes),
            (1075, 651, 2737, 3105)
        );
        assert_eq!(s.updated, "2026-12-03 23:01:00");
        assert!(parse_client_status(&CLIENT[..60]).is_err(), "a file cut by a rewrite is not read");
        assert!(parse_client_status(SERVER).is_err());
    }

    #[test]
    fn reads_server_status() {
        let c = parse_server_status(SERVER).unwrap();
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].common_name, "ue");
        assert_eq!(c[0].real_address, "198.18.0.2:46030");
        assert_eq!((c[0].bytes_received, c[0].bytes_sent), (3091, 2711));
        assert_eq!(c[0].virtual_address.as_deref(), Some("198.19.3.2"));
        assert!(parse_server_status(CLIENT).is_err());
    }

    #[test]
    fn reads_client_log() {
        let l = parse_client_log(LOG);
        assert_eq!(l.server_session_id.as_deref(), Some("fa6440ed3ed5863b"));
        assert_eq!(
            (l.peer_id, l.ifconfig.as_deref(), l.cipher.as_deref()),
            (Some(0), Some("198.19.3.2"), Some("AES-256-GCM"))
        );
        assert!(l.initialized);
        assert_eq!(parse_client_log("nothing here"), ClientLog::default());
    }

    #[test]
    fn commands_are_tls_mode_without_tls_auth() {
        let pki = Pki::in_dir(Path::new("/w"));
        for tcp in [false, true] {
            let s = server_command("e", &pki, tcp, PORT, Path::new("/w/s.status"));
            let args: Vec<String> = s.get_args().map(|a| a.to_string_lossy().into_owned()).collect();
            let text = args.join(" ");
            assert!(text.contains("--server 198.19.3.0 255.255.255.0") && text.contains("--dev tun0"), "{text}");
            assert!(!text.contains("tls-auth") && !text.contains("tls-crypt") && !text.contains("secret"), "{text}");
            assert_eq!(text.contains("tcp-server"), tcp);
            let c = client_command("u", &pki, tcp, PORT, Path::new("/w/c.status"));
            let text: Vec<String> = c.get_args().map(|a| a.to_string_lossy().into_owned()).collect();
            assert!(text.join(" ").contains("--remote 198.18.0.1 1194"));
        }
        let cmds = pki.commands();
        assert_eq!(cmds.len(), 3);
        let server: Vec<String> = cmds[1].get_args().map(|a| a.to_string_lossy().into_owned()).collect();
        assert!(server.contains(&"extendedKeyUsage=serverAuth".to_string()) && server.contains(&"/CN=epdg".into()));
    }

    proptest::proptest! {
        #[test]
        fn any_text_is_read_without_panic(s in "(\\PC|\\n|,|END|OpenVPN STATISTICS\\n|sid=){0,200}") {
            let _ = parse_client_status(&s);
            let _ = parse_server_status(&s);
            let _ = parse_client_log(&s);
        }
    }
}
