//! Facts: what a report says about each subject, named, with the evidence line a verdict shows
//! for it. Rules match facts; they never read the report themselves, so a new kind of evidence
//! is one entry in [`VOCABULARY`] and a few lines in the builder of its subject.
//!
//! Every list of the report is read once and grouped (flows by interface and by process, IKE
//! SAs by process, SIP calls by interface), so the facts of all subjects together cost
//! O(n log n) in the size of the report, whatever the number of interfaces; and a subject keeps
//! at most a few facts of each name (the rest are counted, and the verdict says how many).

use std::collections::BTreeSet;

use rustc_hash::{FxHashMap, FxHashSet};

use super::format::On;
use crate::report::{
    App, DialogState, Encap, EspSa, Flow, IkeSa, Interface, InterfaceKind, Process, Report, SourceKind, Tunnel,
    TunnelKind,
};

/// Every fact name, what it holds, and the noun for "and N more …" when a subject has more
/// of them than it keeps.
pub const VOCABULARY: &[(&str, &str, &str)] = &[
    ("iface", "the interface's name", "names"),
    ("iface_kind", "the report's kind of interface (tun, ipsec, utun, wireguard, xfrm, vti, gre, ipip)", "kinds"),
    ("link_kind", "the kernel's link kind (tun, wireguard, xfrm, vti, gre, ipip, sit…)", "kinds"),
    ("tun_mode", "tun or tap, for a TUN/TAP device", "modes"),
    ("mtu", "the MTU", "MTUs"),
    ("address", "an address on the interface", "addresses"),
    ("holder", "command name of the process holding the device", "holders"),
    ("creator", "command name of the process that created it", "creators"),
    ("process", "command name of any process tied to it (holder, creator, packets, sockets)", "processes"),
    ("exe", "program path of any of those processes", "programs"),
    ("port", "a UDP/TCP port of the holder's or creator's sockets and outer flows", "ports"),
    ("peer", "a remote end of the tunnel (IKE peer, holder's socket peer, xfrm state)", "peers"),
    ("peer_asn", "the AS number of a peer (with --asn-db)", "AS numbers"),
    ("peer_org", "the organisation of a peer's AS (with --asn-db)", "organisations"),
    ("carrier", "an interface the tunnel's outer packets leave by", "carriers"),
    ("route", "a route into the interface (destination)", "routes"),
    ("policy_rule", "a policy rule steering traffic to its routes (the table)", "rules"),
    ("ike", "an IKE SA of the tunnel (value: its responder)", "IKE SAs"),
    ("ike_peer", "the responder of the tunnel's latest IKE SA", "peers"),
    ("ike_version", "IKE version, 1 or 2", "versions"),
    ("ike_state", "IKE SA state (init, auth, established, deleted, unknown)", "states"),
    ("initiator", "an IKE SA's initiator address", "initiators"),
    ("responder", "an IKE SA's responder address", "responders"),
    ("nat_t", "present when IKE ran behind NAT (UDP 4500)", "NAT-T flags"),
    ("ike_vendor", "an IKE vendor ID's name (strongSwan, Openswan/Libreswan, KAME/racoon…)", "vendor IDs"),
    ("ike_vendors", "all vendor IDs of an IKE SA, as one line", "lines"),
    ("ike_identity", "an IKE identity seen in clear (IKEv1; IKEv2 hides them)", "identities"),
    ("exchanges", "an IKE SA's exchanges, as one line", "lines"),
    ("esp", "ESP SAs (value: how many)", "ESP SAs"),
    ("sip", "SIP flows inside the tunnel (value: how many)", "SIP flows"),
    ("rtp", "RTP media flows inside the tunnel (value: how many)", "RTP flows"),
    ("sip_domain", "the host part of a SIP URI (From, To, AOR, registrar)", "SIP domains"),
    ("sip_peer", "where SIP requests went (address:port): the registrar or P-CSCF", "SIP peers"),
    ("sip_counts", "registrations and calls, as one line", "lines"),
    ("sip_failed", "failed SIP dialogs (value: how many)", "lines"),
    ("traffic", "packets seen on it (value: how many)", "lines"),
    ("idle", "present when a source that counts packets saw none on it", "lines"),
    ("tunnel_kind", "the kind of the tunnels seen on the wire (the report's `tunnels[].kind`)", "kinds"),
    ("tunnel", "one tunnel: its two ends, packets and identifiers", "tunnels"),
    ("tunnel_count", "how many tunnels the subject stands for", "lines"),
    ("tunnel_totals", "tunnels, identifiers and packets, as one line", "lines"),
    ("tunnel_transport", "what carries the tunnel: UDP, TCP, IP or Ethernet", "transports"),
    ("tunnel_src", "the end that sent the first packet seen (address:port)", "ends"),
    ("tunnel_dst", "the other end (address:port)", "ends"),
    ("tunnel_id", "an identifier: WireGuard index, TEID, VNI, GRE key, L2TP or PPPoE session…", "identifiers"),
    (
        "tunnel_variant",
        "the tunnel's form: pptp, erspan, l2tpv2, l2tpv3; OpenVPN's plain, tls-auth, tls-crypt…",
        "variants",
    ),
    ("inner_flows", "flows decoded inside the tunnels (value: how many)", "lines"),
    ("nested", "present when the tunnels were themselves carried in another tunnel", "lines"),
    ("wg_handshakes", "completed WireGuard handshakes (value: how many)", "lines"),
    ("wg_rekeys", "WireGuard handshakes after the first (value: how many)", "lines"),
    ("wg_initiator", "the end that initiated the first WireGuard handshake", "initiators"),
    ("wg_transport", "WireGuard transport data packets (value: how many)", "lines"),
    ("openvpn_client", "the OpenVPN client's address:port, when its hard reset was seen", "clients"),
    ("openvpn_packets", "OpenVPN control, ack and data packets, as one line (value: all of them)", "lines"),
    ("openvpn_sessions", "OpenVPN session IDs of both peers (value: how many)", "lines"),
];

/// Every fact name, in [`VOCABULARY`] order.
pub const NAMES: &[&str] = &{
    let mut out = [""; VOCABULARY.len()];
    let mut i = 0;
    while i < VOCABULARY.len() {
        out[i] = VOCABULARY[i].0;
        i += 1;
    }
    out
};

/// The vocabulary's spelling of `name`, if it is a fact name.
pub fn known(name: &str) -> Option<&'static str> {
    NAMES.iter().copied().find(|n| *n == name)
}

fn noun(key: &str) -> &'static str {
    VOCABULARY.iter().find(|v| v.0 == key).map_or("facts", |v| v.2)
}

/// Facts of one name a subject keeps; more are counted.
const KEEP: usize = 8;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fact {
    pub key: &'static str,
    pub value: String,
    /// What a verdict says for it; `None` for facts its summary says (`nat_t`).
    pub line: Option<String>,
}

impl Fact {
    pub fn new(key: &'static str, value: impl Into<String>, line: Option<String>) -> Fact {
        Fact { key, value: value.into(), line }
    }
}

/// One thing a verdict is about (an interface, an IKE SA…) and its facts.
#[derive(Debug, Clone)]
pub struct Subject {
    pub on: On,
    pub name: String,
    /// Sorted by name (stable: each name's facts in the order found) once [`Subject::finish`]ed.
    facts: Vec<Fact>,
    /// Facts of a name left out, by name.
    elided: FxHashMap<&'static str, usize>,
}

impl Subject {
    pub fn new(on: On, name: String) -> Subject {
        Subject { on, name, facts: Vec::new(), elided: FxHashMap::default() }
    }

    /// Adds a fact unless the same fact is there, or [`KEEP`] of its name already are (then it
    /// is counted).
    pub fn push(&mut self, f: Fact) {
        let same = self.facts.iter().filter(|x| x.key == f.key);
        let mut n = 0;
        for x in same {
            if x.value == f.value && x.line == f.line {
                return;
            }
            n += 1;
        }
        if n >= KEEP {
            *self.elided.entry(f.key).or_default() += 1;
        } else {
            self.facts.push(f);
        }
    }

    /// Counts `n` facts of `key` that were not even built.
    pub fn elide(&mut self, key: &'static str, n: usize) {
        if n > 0 {
            *self.elided.entry(key).or_default() += n;
        }
    }

    pub fn finish(&mut self) {
        self.facts.sort_by_key(|f| f.key);
    }

    pub fn facts_of(&self, key: &str) -> &[Fact] {
        let lo = self.facts.partition_point(|f| f.key < key);
        let hi = self.facts.partition_point(|f| f.key <= key);
        &self.facts[lo..hi]
    }

    pub fn value(&self, key: &str) -> Option<&str> {
        self.facts_of(key).first().map(|f| f.value.as_str())
    }

    /// "and N more …" for `key`, when facts of it were left out.
    pub fn elided_line(&self, key: &str) -> Option<String> {
        self.elided.get(key).map(|n| format!("and {n} more {}", noun(key)))
    }

    /// Every fact, in the order the vocabulary lists their names.
    pub fn all(&self) -> impl Iterator<Item = &Fact> {
        NAMES.iter().flat_map(|k| self.facts_of(k))
    }

    pub fn elided_keys(&self) -> impl Iterator<Item = &'static str> + '_ {
        NAMES.iter().copied().filter(|k| self.elided.contains_key(k))
    }
}

pub(super) fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The host part of a SIP URI or name-addr (`"A" <sip:alice@ims.example.org:5060;x>` →
/// `ims.example.org`), lower case; `None` when there is none.
pub fn sip_host(uri: &str) -> Option<String> {
    let s = uri.rsplit_once('<').map_or(uri, |(_, r)| r);
    let s = s.split('>').next().unwrap_or(s);
    let rest = s.split_once(':').map_or(s, |(scheme, r)| if scheme.contains('@') { s } else { r });
    let host = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    let host = if let Some(v6) = host.strip_prefix('[') {
        v6.split(']').next().unwrap_or(v6)
    } else {
        host.split([':', ';', '?', '>', ' ']).next().unwrap_or(host)
    };
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

/// `addr:port`, with brackets around an IPv6 address.
fn endpoint(addr: &str, port: Option<u16>) -> String {
    match port {
        Some(p) if addr.contains(':') => format!("[{addr}]:{p}"),
        Some(p) => format!("{addr}:{p}"),
        None => addr.to_string(),
    }
}

/// A conversation's ends in a fixed order, for finding the flow a SIP message travelled on.
type Ends<'r> = ((&'r str, u16), (&'r str, u16));

fn ends<'r>(a: (&'r str, u16), b: (&'r str, u16)) -> Ends<'r> {
    if a <= b {
        (a, b)
    } else {
        (b, a)
    }
}

/// One IKE SA as a tunnel interface's evidence line.
pub(super) fn ike_sa_line(s: &IkeSa) -> String {
    format!(
        "IKEv{} SA {}:{} -> {}:{}{}, {}",
        s.version,
        s.initiator,
        s.initiator_port,
        s.responder,
        s.responder_port,
        if s.nat_t { " (NAT-T)" } else { "" },
        s.state
    )
}

fn esp_line(sas: usize, packets: u64) -> String {
    format!("{} carrying {packets} packets", plural(sas, "ESP SA", "ESP SAs"))
}

/// What the whole report says, grouped once for every subject to look up.
pub(super) struct Index<'r> {
    r: &'r Report,
    /// Flows by interface name.
    flows_by_iface: FxHashMap<&'r str, Vec<usize>>,
    flows_by_pid: FxHashMap<u32, Vec<usize>>,
    sockets_by_pid: FxHashMap<u32, Vec<usize>>,
    /// The newest process of each pid.
    procs: FxHashMap<u32, &'r Process>,
    ike_by_pid: FxHashMap<u32, Vec<usize>>,
    /// ESP SAs and their packets per IKE SA.
    esp_per_ike: Vec<(usize, u64)>,
    /// SIP dialogs (index) and registrations (index + dialogs.len()) per interface.
    sip_by_iface: FxHashMap<&'r str, Vec<usize>>,
    /// Host parts of every SIP URI, for subjects that see SIP only as "alongside".
    sip_domains: BTreeSet<String>,
    /// Whether the source counts packets (a snapshot of the host does not).
    counts_packets: bool,
    /// The host's peers by the tunnel interfaces they serve.
    peers_by_iface: FxHashMap<&'r str, Vec<usize>>,
    /// SIP and RTP flows carried by each tunnel of the `tunnels` section, by its index.
    media_by_tunnel: Vec<(usize, usize)>,
    /// SIP dialogs (index) and registrations (index + dialogs.len()) by the tunnel that
    /// carried them.
    sip_by_tunnel: FxHashMap<usize, Vec<usize>>,
}

/// At most this many distinct SIP domains are kept for the whole report.
const MAX_DOMAINS: usize = 64;

impl<'r> Index<'r> {
    pub fn new(r: &'r Report) -> Index<'r> {
        let mut flows_by_iface: FxHashMap<&str, Vec<usize>> = FxHashMap::default();
        let mut flows_by_pid: FxHashMap<u32, Vec<usize>> = FxHashMap::default();
        let mut sip_flow_iface: FxHashMap<Ends<'r>, &'r str> = FxHashMap::default();
        for (i, f) in r.flows.iter().enumerate() {
            if let Some(n) = f.iface.as_deref() {
                flows_by_iface.entry(n).or_default().push(i);
                if matches!(f.app, App::Sip | App::SipTls) {
                    let key = ends((&f.src, f.sport.unwrap_or(0)), (&f.dst, f.dport.unwrap_or(0)));
                    sip_flow_iface.entry(key).or_insert(n);
                }
            }
            if let Some(p) = f.pid {
                flows_by_pid.entry(p).or_default().push(i);
            }
        }
        let mut sockets_by_pid: FxHashMap<u32, Vec<usize>> = FxHashMap::default();
        for (i, s) in r.sockets.iter().enumerate() {
            if let Some(p) = s.pid {
                sockets_by_pid.entry(p).or_default().push(i);
            }
        }
        let procs = r.processes.iter().map(|p| (p.pid, p)).collect();
        let mut ike_by_pid: FxHashMap<u32, Vec<usize>> = FxHashMap::default();
        for (i, s) in r.ike_sas.iter().enumerate() {
            if let Some(p) = s.pid {
                ike_by_pid.entry(p).or_default().push(i);
            }
        }
        let mut esp_per_ike = vec![(0usize, 0u64); r.ike_sas.len()];
        for e in &r.esp_sas {
            if let Some(slot) = e.ike_sa.and_then(|n| esp_per_ike.get_mut(n)) {
                slot.0 += 1;
                slot.1 += e.packets;
            }
        }
        // Each SIP call belongs to the interface its first message crossed; when that cannot
        // be told but only one interface carried SIP, to that one.
        let sip_ifaces: BTreeSet<&str> = sip_flow_iface.values().copied().collect();
        let only = (sip_ifaces.len() == 1).then(|| *sip_ifaces.iter().next().expect("one"));
        let mut sip_by_iface: FxHashMap<&str, Vec<usize>> = FxHashMap::default();
        let firsts = r
            .sip
            .dialogs
            .iter()
            .map(|d| d.messages.first())
            .chain(r.sip.registrations.iter().map(|g| g.messages.first()));
        for (i, m) in firsts.enumerate() {
            let iface =
                m.and_then(|m| sip_flow_iface.get(&ends((&m.src, m.sport), (&m.dst, m.dport))).copied()).or(only);
            if let Some(n) = iface {
                sip_by_iface.entry(n).or_default().push(i);
            }
        }
        let mut sip_domains = BTreeSet::new();
        let uris = r
            .sip
            .dialogs
            .iter()
            .flat_map(|d| [d.from.as_deref(), d.to.as_deref()])
            .chain(r.sip.registrations.iter().flat_map(|g| [g.aor.as_deref(), g.registrar.as_deref()]))
            .flatten();
        for u in uris {
            if sip_domains.len() >= MAX_DOMAINS {
                break;
            }
            if let Some(h) = sip_host(u) {
                sip_domains.insert(h);
            }
        }
        let mut peers_by_iface: FxHashMap<&str, Vec<usize>> = FxHashMap::default();
        for (k, p) in r.host.peers.iter().enumerate() {
            for n in &p.interfaces {
                peers_by_iface.entry(n.as_str()).or_default().push(k);
            }
        }
        let counts_packets =
            !(r.source.kind == SourceKind::Live && r.source.backend == crate::report::Backend::Netlink);
        let mut media_by_tunnel = vec![(0usize, 0usize); r.tunnels.len()];
        for f in &r.flows {
            if let Some(m) = f.tunnel.and_then(|t| media_by_tunnel.get_mut(t)) {
                match f.app {
                    App::Sip | App::SipTls => m.0 += 1,
                    App::Rtp => m.1 += 1,
                    _ => {}
                }
            }
        }
        let mut sip_by_tunnel: FxHashMap<usize, Vec<usize>> = FxHashMap::default();
        let carried = r.sip.dialogs.iter().map(|d| d.tunnel).chain(r.sip.registrations.iter().map(|g| g.tunnel));
        for (i, t) in carried.enumerate() {
            if let Some(t) = t {
                sip_by_tunnel.entry(t).or_default().push(i);
            }
        }
        Index {
            r,
            flows_by_iface,
            flows_by_pid,
            sockets_by_pid,
            procs,
            ike_by_pid,
            esp_per_ike,
            sip_by_iface,
            sip_domains,
            counts_packets,
            peers_by_iface,
            media_by_tunnel,
            sip_by_tunnel,
        }
    }

    fn comm(&self, pid: u32) -> &str {
        self.procs.get(&pid).and_then(|p| p.comm.as_deref()).unwrap_or("?")
    }

    /// The processes tied to a tunnel interface: holder, creator, senders and receivers of its
    /// packets, users the host found (sockets on its addresses). Holder first.
    fn pids_of(&self, i: &Interface) -> Vec<u32> {
        let mut v: Vec<u32> = Vec::new();
        let mut add = |p: u32| {
            if !v.contains(&p) && v.len() < KEEP {
                v.push(p);
            }
        };
        if let Some(o) = &i.owner {
            add(o.pid);
        }
        if let Some(c) = &i.created_by {
            add(c.pid);
        }
        if let Some(n) = i.name.as_deref() {
            for &f in self.flows_by_iface.get(n).into_iter().flatten() {
                if let Some(p) = self.r.flows[f].pid {
                    add(p);
                }
            }
        }
        for u in &i.host.users {
            if let Some(p) = u.pid {
                add(p);
            }
        }
        v
    }

    /// The subjects of the tunnel interfaces, in report order.
    pub fn interfaces(&self) -> Vec<Subject> {
        let tunnels: Vec<&Interface> =
            self.r.interfaces.iter().filter(|i| i.kind.is_tunnel() && i.name.is_some()).collect();
        let pids: Vec<Vec<u32>> = tunnels.iter().map(|i| self.pids_of(i)).collect();
        // IKE SAs no tunnel's process negotiated (no process known, or one that holds no
        // tunnel) go to the IPsec-kind tunnels that have none of their own, or to the one
        // tunnel when there is only one: the only places they can belong without guessing
        // between several.
        let tunnel_pids: FxHashSet<u32> = pids.iter().flatten().copied().collect();
        let unclaimed: Vec<usize> = self
            .r
            .ike_sas
            .iter()
            .enumerate()
            .filter(|(_, s)| s.pid.is_none_or(|p| !tunnel_pids.contains(&p)))
            .map(|(n, _)| n)
            .collect();
        // Their ESP totals, summed once: every IPsec tunnel without SAs of its own shares them,
        // and summing them per tunnel made thousands of tunnels cost tunnels x SAs.
        let unclaimed_esp = self.esp_totals(&unclaimed);
        let one_tunnel = tunnels.len() == 1;
        tunnels
            .iter()
            .zip(&pids)
            .map(|(i, pids)| {
                let mut ike: Vec<usize> = Vec::new();
                for p in pids {
                    ike.extend(self.ike_by_pid.get(p).into_iter().flatten());
                }
                ike.sort_unstable();
                ike.dedup();
                let ipsec_kind = matches!(i.kind, InterfaceKind::Ipsec | InterfaceKind::Xfrm | InterfaceKind::Vti);
                if ike.is_empty() && (ipsec_kind || one_tunnel) {
                    self.interface(i, pids, &unclaimed, unclaimed_esp)
                } else {
                    let esp = self.esp_totals(&ike);
                    self.interface(i, pids, &ike, esp)
                }
            })
            .collect()
    }

    /// ESP SAs and their packets under the IKE SAs `ike`.
    fn esp_totals(&self, ike: &[usize]) -> (usize, u64) {
        ike.iter().fold((0, 0), |(c, p), &n| {
            let (c1, p1) = self.esp_per_ike[n];
            (c + c1, p + p1)
        })
    }

    fn interface(&self, i: &Interface, pids: &[u32], ike: &[usize], esp: (usize, u64)) -> Subject {
        let name = i.name.clone().unwrap_or_default();
        let mut s = Subject::new(On::Interface, name.clone());
        s.push(Fact::new("iface", name.as_str(), None));
        s.push(Fact::new("iface_kind", i.kind.as_str(), Some(format!("kind {}", i.kind))));
        if let Some(k) = &i.host.link_kind {
            s.push(Fact::new("link_kind", k.as_str(), Some(format!("kernel link kind {k}"))));
        }
        if let Some(t) = &i.host.tun {
            if let Some(m) = &t.mode {
                let what = if m == "tap" { "TAP device (Ethernet frames)" } else { "TUN device (IP packets)" };
                let persist = if t.persist == Some(true) { ", persistent" } else { "" };
                s.push(Fact::new("tun_mode", m.as_str(), Some(format!("{what}{persist}"))));
            }
        }
        if let Some(m) = i.mtu {
            s.push(Fact::new("mtu", m.to_string(), Some(format!("MTU {m}"))));
        }
        for a in &i.addresses {
            s.push(Fact::new("address", a.as_str(), Some(format!("address {a}"))));
        }
        if let Some(o) = &i.owner {
            let comm = o.comm.as_deref().unwrap_or("?");
            let line = format!("held by {comm} (pid {})", o.pid);
            s.push(Fact::new("holder", comm, Some(line.clone())));
            s.push(Fact::new("process", comm, Some(line)));
        }
        if let Some(c) = &i.created_by {
            let comm = c.comm.as_deref().unwrap_or("?");
            let line = format!("created by {comm} (pid {})", c.pid);
            s.push(Fact::new("creator", comm, Some(line.clone())));
            s.push(Fact::new("process", comm, Some(line)));
        }
        // The holder is said above; other users by what they do with it.
        for u in i.host.users.iter().filter(|u| !u.what.starts_with("holds the TUN device")) {
            if let (Some(p), Some(c)) = (u.pid, u.comm.as_deref()) {
                s.push(Fact::new("process", c, Some(format!("{c} (pid {p}): {}", u.what))));
            }
        }
        let flows: &[usize] = self.flows_by_iface.get(name.as_str()).map_or(&[], Vec::as_slice);
        let (mut sip, mut rtp) = (0usize, 0usize);
        for &f in flows {
            let f = &self.r.flows[f];
            match f.app {
                App::Sip | App::SipTls => sip += 1,
                App::Rtp => rtp += 1,
                _ => {}
            }
            if let Some(p) = f.pid {
                let c = f.comm.as_deref().unwrap_or_else(|| self.comm(p));
                s.push(Fact::new("process", c, Some(format!("packets of {c} (pid {p}) on it"))));
            }
        }
        let own: Vec<u32> = i.owner.iter().map(|o| o.pid).chain(i.created_by.iter().map(|c| c.pid)).collect();
        for &p in pids {
            let Some(proc) = self.procs.get(&p) else { continue };
            if let Some(exe) = &proc.exe {
                s.push(Fact::new("exe", exe.as_str(), Some(format!("{} (pid {p}) runs {exe}", self.comm(p)))));
            }
            // Ports say how the tunnel itself is carried: those of its holder and creator only
            // (not of the applications whose traffic it carries).
            if own.contains(&p) {
                self.ports(&mut s, p, &name);
            }
        }
        self.ike(&mut s, ike, esp);
        if sip > 0 {
            let calls = self.sip_calls(&name);
            let (regs, invites) = calls.iter().fold((0, 0), |(r, c), &k| match k {
                Call::Registration => (r + 1, c),
                Call::Invite => (r, c + 1),
                Call::Other => (r, c),
            });
            s.push(Fact::new(
                "sip",
                sip.to_string(),
                Some(format!(
                    "{} inside the tunnel ({}, {})",
                    plural(sip, "SIP flow", "SIP flows"),
                    plural(regs, "registration", "registrations"),
                    plural(invites, "call", "calls")
                )),
            ));
            self.sip_facts(&mut s, &name);
        }
        if rtp > 0 {
            s.push(Fact::new("rtp", rtp.to_string(), Some(plural(rtp, "RTP media flow", "RTP media flows"))));
        }
        if self.counts_packets {
            if i.packets > 0 {
                s.push(Fact::new("traffic", i.packets.to_string(), Some(format!("{} packets seen on it", i.packets))));
            } else {
                s.push(Fact::new("idle", "0", Some("no packets seen on it".into())));
            }
        }
        for r in &i.host.routes {
            let via = r.gateway.as_ref().map(|g| format!(" via {g}")).unwrap_or_default();
            s.push(Fact::new(
                "route",
                r.dst.as_str(),
                Some(format!("route {}{via} into it (table {})", r.dst, r.table)),
            ));
        }
        for p in &i.host.rules {
            let prio = p.priority.map(|p| format!("{p}: ")).unwrap_or_default();
            let line = format!("policy rule {prio}{} lookup {}", p.selector, p.table);
            s.push(Fact::new("policy_rule", p.table.to_string(), Some(line)));
        }
        for c in &i.host.carriers {
            s.push(Fact::new("carrier", c.iface.as_str(), Some(format!("carried over {} ({})", c.iface, c.how))));
        }
        for &k in self.peers_by_iface.get(name.as_str()).into_iter().flatten() {
            let p = &self.r.host.peers[k];
            let asn = match (p.asn, &p.org) {
                (Some(a), Some(o)) => format!(" (AS{a} {o})"),
                (Some(a), None) => format!(" (AS{a})"),
                _ => String::new(),
            };
            let roles = if p.roles.is_empty() { String::new() } else { format!(": {}", p.roles.join(", ")) };
            s.push(Fact::new("peer", p.address.as_str(), Some(format!("peer {}{asn}{roles}", p.address))));
            if let Some(a) = p.asn {
                s.push(Fact::new("peer_asn", a.to_string(), Some(format!("peer {} is in AS{a}", p.address))));
            }
            if let Some(o) = &p.org {
                s.push(Fact::new("peer_org", o.as_str(), Some(format!("peer {} belongs to {o}", p.address))));
            }
        }
        s.finish();
        s
    }

    /// Ports of process `pid`'s sockets and of its flows on other interfaces than `iface`
    /// (a tunnel's outer side: IKE on 500/4500, WireGuard's listening port…).
    fn ports(&self, s: &mut Subject, pid: u32, iface: &str) {
        let comm = self.comm(pid);
        for &k in self.sockets_by_pid.get(&pid).into_iter().flatten().take(2 * KEEP) {
            let x = &self.r.sockets[k];
            let proto = x.proto.as_str().to_ascii_uppercase();
            if let Some(p) = x.local_port.filter(|p| *p != 0) {
                let at = endpoint(x.local.as_deref().unwrap_or("*"), Some(p));
                s.push(Fact::new(
                    "port",
                    p.to_string(),
                    Some(format!("{comm} (pid {pid}) has a {proto} socket on {at}")),
                ));
            }
            if let (Some(r), Some(p)) = (&x.remote, x.remote_port.filter(|p| *p != 0)) {
                let to = endpoint(r, Some(p));
                s.push(Fact::new(
                    "port",
                    p.to_string(),
                    Some(format!("{comm} (pid {pid}) has a {proto} socket to {to}")),
                ));
            }
        }
        let outer = self.flows_by_pid.get(&pid).into_iter().flatten().map(|&f| &self.r.flows[f]);
        for f in outer.filter(|f| f.iface.as_deref() != Some(iface)).take(2 * KEEP) {
            let line = flow_line(f, comm, pid);
            for p in [f.sport, f.dport].into_iter().flatten() {
                s.push(Fact::new("port", p.to_string(), Some(line.clone())));
            }
        }
    }

    /// The facts of IKE SAs `ike`, whose ESP SAs and packets come to `esp`.
    fn ike(&self, s: &mut Subject, ike: &[usize], (esp_sas, esp_packets): (usize, u64)) {
        let sas = &self.r.ike_sas;
        if let Some(&last) = ike.last() {
            s.push(Fact::new("ike_peer", sas[last].responder.as_str(), None));
        }
        for &n in ike.iter().take(KEEP) {
            let sa = &sas[n];
            s.push(Fact::new("ike", sa.responder.as_str(), Some(ike_sa_line(sa))));
            s.push(Fact::new("ike_version", sa.version.to_string(), None));
            s.push(Fact::new("ike_state", sa.state.as_str(), None));
            if sa.nat_t {
                s.push(Fact::new("nat_t", "yes", None));
            }
            for v in &sa.vendor_ids {
                s.push(Fact::new("ike_vendor", v.as_str(), Some(format!("IKE vendor ID {v}"))));
            }
            if let Some(p) = sa.pid {
                let c = sa.comm.as_deref().unwrap_or_else(|| self.comm(p));
                s.push(Fact::new("process", c, Some(format!("IKE negotiated by {c} (pid {p})"))));
            }
        }
        s.elide("ike", ike.len().saturating_sub(KEEP));
        if esp_sas > 0 {
            s.push(Fact::new("esp", esp_sas.to_string(), Some(esp_line(esp_sas, esp_packets))));
        }
    }

    fn sip_calls(&self, iface: &str) -> Vec<Call> {
        let d = &self.r.sip.dialogs;
        self.sip_by_iface
            .get(iface)
            .into_iter()
            .flatten()
            .map(|&k| match d.get(k) {
                Some(x) if x.method == "INVITE" => Call::Invite,
                Some(_) => Call::Other,
                None => Call::Registration,
            })
            .collect()
    }

    /// SIP domains and the first hop of SIP requests, of the calls on interface `iface`.
    fn sip_facts(&self, s: &mut Subject, iface: &str) {
        let (d, g) = (&self.r.sip.dialogs, &self.r.sip.registrations);
        for &k in self.sip_by_iface.get(iface).into_iter().flatten() {
            let (uris, first) = match d.get(k) {
                Some(x) => ([x.from.as_deref(), x.to.as_deref()], x.messages.iter().find(|m| m.method.is_some())),
                None => {
                    let x = &g[k - d.len()];
                    ([x.aor.as_deref(), x.registrar.as_deref()], x.messages.iter().find(|m| m.method.is_some()))
                }
            };
            for h in uris.into_iter().flatten().filter_map(sip_host) {
                let line = format!("SIP domain {h}");
                s.push(Fact::new("sip_domain", h, Some(line)));
            }
            if let Some(m) = first {
                let to = endpoint(&m.dst, Some(m.dport));
                s.push(Fact::new("sip_peer", to.as_str(), Some(format!("SIP requests to {to}"))));
            }
        }
    }

    /// The subjects of IKE SAs seen from outside, in report order.
    pub fn ike_sas(&self) -> Vec<Subject> {
        let sas = &self.r.ike_sas;
        sas.iter()
            .enumerate()
            .map(|(n, sa)| {
                let mut s = Subject::new(On::IkeSa, format!("IKE SA {}", sa.initiator_spi));
                s.push(Fact::new("ike_version", sa.version.to_string(), None));
                s.push(Fact::new("initiator", sa.initiator.as_str(), None));
                s.push(Fact::new("responder", sa.responder.as_str(), None));
                s.push(Fact::new("peer", sa.responder.as_str(), None));
                s.push(Fact::new("ike_state", sa.state.as_str(), None));
                if sa.nat_t {
                    s.push(Fact::new("nat_t", "yes", None));
                }
                s.push(Fact::new("exchanges", exchange_total(sa).to_string(), Some(exchanges_line(sa))));
                if !sa.vendor_ids.is_empty() {
                    let line = format!("vendor IDs: {}", sa.vendor_ids.join(", "));
                    s.push(Fact::new("ike_vendors", sa.vendor_ids.len().to_string(), Some(line)));
                }
                for v in &sa.vendor_ids {
                    s.push(Fact::new("ike_vendor", v.as_str(), Some(format!("IKE vendor ID {v}"))));
                }
                let (esp_sas, esp_packets) = self.esp_per_ike[n];
                if esp_sas > 0 {
                    s.push(Fact::new("esp", esp_sas.to_string(), Some(esp_line(esp_sas, esp_packets))));
                }
                if let Some(p) = sa.pid {
                    let c = sa.comm.as_deref().unwrap_or_else(|| self.comm(p));
                    s.push(Fact::new("process", c, Some(format!("negotiated by {c} (pid {p})"))));
                }
                self.global_sip(&mut s);
                s.finish();
                s
            })
            .collect()
    }

    fn global_sip(&self, s: &mut Subject) {
        for h in self.sip_domains.iter().take(KEEP) {
            s.push(Fact::new("sip_domain", h.as_str(), Some(format!("SIP domain {h}"))));
        }
        s.elide("sip_domain", self.sip_domains.len().saturating_sub(KEEP));
    }

    /// ESP with no IKE in view: one subject per pair of hosts, in the order of the pairs'
    /// (src, dst) spelling, a pair named once whichever way round it was seen first.
    pub fn esp_pairs(&self) -> Vec<Subject> {
        let mut by_pair: FxHashMap<(&str, &str), Vec<&EspSa>> = FxHashMap::default();
        let mut spelled: BTreeSet<(&str, &str)> = BTreeSet::new();
        for e in &self.r.esp_sas {
            let (a, b) = (e.src.as_str(), e.dst.as_str());
            spelled.insert((a, b));
            by_pair.entry(if a <= b { (a, b) } else { (b, a) }).or_default().push(e);
        }
        let mut named: FxHashSet<(&str, &str)> = FxHashSet::default();
        let mut out = Vec::new();
        for (a, b) in spelled {
            if named.contains(&(b, a)) {
                continue;
            }
            named.insert((a, b));
            let list = &by_pair[&if a <= b { (a, b) } else { (b, a) }];
            let mut s = Subject::new(On::Esp, format!("{a} <-> {b}"));
            s.push(Fact::new("peer", b, None));
            for e in list.iter().take(4 * KEEP) {
                let udp = match e.encap {
                    Encap::Udp => ", in UDP 4500",
                    Encap::Tcp => ", in TCP",
                    Encap::None => "",
                };
                let null = if e.null_encryption { ", NULL cipher (contents readable)" } else { "" };
                let line = format!("SPI {} {} -> {}, {} packets{udp}{null}", e.spi, e.src, e.dst, e.packets);
                // The SPI is the value, so two SAs are two facts.
                s.facts.push(Fact::new("esp", e.spi.as_str(), Some(line)));
            }
            s.elide("esp", list.len().saturating_sub(4 * KEEP));
            s.finish();
            out.push(s);
        }
        out
    }

    /// The report's SIP, as one subject.
    pub fn sip(&self) -> Subject {
        let r = self.r;
        let calls = r.sip.dialogs.iter().filter(|d| d.method == "INVITE").count();
        let regs = r.sip.registrations.len();
        let mut s = Subject::new(On::Sip, "SIP".into());
        let line = format!("{}, {}", plural(regs, "registration", "registrations"), plural(calls, "call", "calls"));
        s.push(Fact::new("sip_counts", (regs + calls).to_string(), Some(line)));
        let failed = r.sip.dialogs.iter().filter(|d| d.state == DialogState::Failed).count();
        if failed > 0 {
            s.push(Fact::new(
                "sip_failed",
                failed.to_string(),
                Some(plural(failed, "failed dialog", "failed dialogs")),
            ));
        }
        self.global_sip(&mut s);
        s.finish();
        s
    }

    /// The subjects of the `tunnels` section: each WireGuard and OpenVPN tunnel on its own (a
    /// VPN someone runs; the first [`MAX_VPN_SUBJECTS`], the rest one subject per kind), and
    /// one subject per kind for the others (a GTP-U capture holds the paths of a whole core).
    pub fn tunnels(&self) -> Vec<Subject> {
        let r = self.r;
        let vpn = |t: &Tunnel| matches!(t.kind, TunnelKind::Wireguard | TunnelKind::Openvpn);
        let mut out = Vec::new();
        let mut rest: Vec<usize> = Vec::new();
        for (i, t) in r.tunnels.iter().enumerate().filter(|(_, t)| vpn(t)) {
            if out.len() < MAX_VPN_SUBJECTS {
                let name = format!("{} {}", vpn_name(t.kind), ends_text(t, " <-> "));
                out.push(self.tunnel_subject(name, t.kind, &[i]));
            } else {
                rest.push(i);
            }
        }
        for &kind in TunnelKind::ALL {
            let list: Vec<usize> = if vpn_kind(kind) {
                rest.iter().copied().filter(|&i| r.tunnels[i].kind == kind).collect()
            } else {
                (0..r.tunnels.len()).filter(|&i| r.tunnels[i].kind == kind).collect()
            };
            if list.is_empty() {
                continue;
            }
            let name = if vpn_kind(kind) {
                format!("{} ({} more)", vpn_name(kind), list.len())
            } else {
                kind.as_str().to_string()
            };
            out.push(self.tunnel_subject(name, kind, &list));
        }
        out
    }

    /// One subject for the tunnels `list` (indices into `tunnels`, all of `kind`, in report
    /// order): the first one's ends and details, everyone's lines and totals.
    fn tunnel_subject(&self, name: String, kind: TunnelKind, list: &[usize]) -> Subject {
        let r = self.r;
        let first = &r.tunnels[list[0]];
        let mut s = Subject::new(On::Tunnel, name);
        s.push(Fact::new("tunnel_kind", kind.as_str(), None));
        s.push(Fact::new("tunnel_count", list.len().to_string(), None));
        let transport = match first.transport.as_str() {
            "ethernet" => "Ethernet".to_string(),
            t => t.to_ascii_uppercase(),
        };
        s.push(Fact::new("tunnel_transport", transport, None));
        s.push(Fact::new("tunnel_src", endpoint(&first.src, first.sport), None));
        s.push(Fact::new("tunnel_dst", endpoint(&first.dst, first.dport), None));
        let (mut packets, mut ids, mut inner) = (0u64, 0u64, 0u64);
        let (mut sip, mut rtp) = (0usize, 0usize);
        let mut calls: Vec<usize> = Vec::new();
        for &i in list {
            let t = &r.tunnels[i];
            packets += t.packets;
            ids += t.ids.len() as u64 + t.ids_elided;
            inner += t.inner_flows;
            let (sf, rf) = self.media_by_tunnel.get(i).copied().unwrap_or_default();
            sip += sf;
            rtp += rf;
            calls.extend(self.sip_by_tunnel.get(&i).into_iter().flatten());
            s.push(Fact::new("tunnel", ends_text(t, " <-> "), Some(tunnel_line(t))));
            for p in [t.sport, t.dport].into_iter().flatten() {
                s.push(Fact::new("port", p.to_string(), None));
            }
            for id in &t.ids {
                s.push(Fact::new("tunnel_id", id.as_str(), None));
            }
            s.elide("tunnel_id", t.ids_elided as usize);
            if let Some(v) = &t.variant {
                s.push(Fact::new("tunnel_variant", v.as_str(), Some(variant_line(kind, v))));
            }
            if t.tunnel.is_some() {
                s.push(Fact::new("nested", "yes", None));
            }
            if let Some(p) = t.pid {
                let c = t.comm.as_deref().unwrap_or_else(|| self.comm(p));
                s.push(Fact::new("process", c, Some(format!("packets of {c} (pid {p})"))));
            }
        }
        // Identifiers only for tunnels that have them (IP in IP has none; a GRE without keys).
        let mut totals = plural(list.len(), tunnel_noun(kind).0, tunnel_noun(kind).1);
        if ids > 0 {
            totals.push_str(", ");
            totals.push_str(&plural(ids as usize, id_noun(kind).0, id_noun(kind).1));
        }
        totals.push_str(", ");
        totals.push_str(&plural(packets as usize, "packet", "packets"));
        s.push(Fact::new("tunnel_totals", totals, None));
        if !vpn_kind(kind) {
            // A live session counts these tunnels by their outer headers only.
            let line = if r.source.kind == SourceKind::Live && inner == 0 {
                "what it carries is not read live (its outer headers are counted)".to_string()
            } else {
                format!("{inner} inner flows decoded")
            };
            s.push(Fact::new("inner_flows", inner.to_string(), Some(line)));
        }
        if sip > 0 || !calls.is_empty() {
            let d = &r.sip.dialogs;
            let regs = calls.iter().filter(|&&k| k >= d.len()).count();
            let invites = calls.iter().filter(|&&k| d.get(k).is_some_and(|x| x.method == "INVITE")).count();
            s.push(Fact::new(
                "sip",
                sip.to_string(),
                Some(format!(
                    "{} inside ({}, {})",
                    plural(sip, "SIP flow", "SIP flows"),
                    plural(regs, "registration", "registrations"),
                    plural(invites, "call", "calls")
                )),
            ));
            for &k in &calls {
                let uris = match d.get(k) {
                    Some(x) => [x.from.as_deref(), x.to.as_deref()],
                    None => {
                        let x = &r.sip.registrations[k - d.len()];
                        [x.aor.as_deref(), x.registrar.as_deref()]
                    }
                };
                for h in uris.into_iter().flatten().filter_map(sip_host) {
                    let line = format!("SIP domain {h}");
                    s.push(Fact::new("sip_domain", h, Some(line)));
                }
            }
        }
        if rtp > 0 {
            s.push(Fact::new("rtp", rtp.to_string(), Some(plural(rtp, "RTP media flow", "RTP media flows"))));
        }
        if let Some(w) = &first.wireguard {
            let line = format!(
                "{} ({} rekeys): {} initiations, {} responses, {} cookie replies",
                plural(w.handshakes as usize, "handshake", "handshakes"),
                w.rekeys,
                w.initiations,
                w.responses,
                w.cookie_replies
            );
            s.push(Fact::new("wg_handshakes", w.handshakes.to_string(), Some(line)));
            s.push(Fact::new("wg_rekeys", w.rekeys.to_string(), None));
            if let Some(x) = w.sessions.first() {
                let line = format!("first handshake initiated by {}", x.initiator);
                s.push(Fact::new("wg_initiator", x.initiator.as_str(), Some(line)));
            }
            let mut line =
                format!("{} transport data packets (encrypted: the inner traffic is not visible)", w.transport_packets);
            if w.unpaired_transport > 0 {
                line.push_str(&format!("; {} of a session begun before the capture", w.unpaired_transport));
            }
            s.push(Fact::new("wg_transport", w.transport_packets.to_string(), Some(line)));
        }
        if let Some(o) = &first.openvpn {
            if let Some(c) = &o.client {
                s.push(Fact::new("openvpn_client", c.as_str(), None));
            }
            let all = o.control_packets + o.ack_packets + o.data_packets;
            let line = format!(
                "{} control, {} ack, {} data packets; key IDs {:?}",
                o.control_packets, o.ack_packets, o.data_packets, o.key_ids
            );
            s.push(Fact::new("openvpn_packets", all.to_string(), Some(line)));
            let n = o.client_session_ids.len() + o.server_session_ids.len();
            if n > 0 {
                let line = format!(
                    "session IDs: client {}, server {}",
                    o.client_session_ids.join(" "),
                    o.server_session_ids.join(" ")
                );
                s.push(Fact::new("openvpn_sessions", n.to_string(), Some(line)));
            }
        }
        s.finish();
        s
    }

    pub fn has_sip(&self) -> bool {
        !self.r.sip.dialogs.is_empty() || !self.r.sip.registrations.is_empty()
    }
}

/// WireGuard and OpenVPN tunnels judged one by one; past these, one subject per kind.
pub const MAX_VPN_SUBJECTS: usize = 8;

fn vpn_kind(k: TunnelKind) -> bool {
    matches!(k, TunnelKind::Wireguard | TunnelKind::Openvpn)
}

fn vpn_name(k: TunnelKind) -> &'static str {
    match k {
        TunnelKind::Wireguard => "WireGuard",
        TunnelKind::Openvpn => "OpenVPN",
        k => k.as_str(),
    }
}

/// What one tunnel of a kind is called, one and many.
fn tunnel_noun(k: TunnelKind) -> (&'static str, &'static str) {
    match k {
        TunnelKind::GtpU => ("path", "paths"),
        TunnelKind::Pppoe => ("PPPoE session", "PPPoE sessions"),
        TunnelKind::Vxlan | TunnelKind::Geneve => ("tunnel endpoint pair", "tunnel endpoint pairs"),
        _ => ("tunnel", "tunnels"),
    }
}

/// What a kind's identifiers are called, one and many.
fn id_noun(k: TunnelKind) -> (&'static str, &'static str) {
    match k {
        TunnelKind::GtpU => ("TEID", "TEIDs"),
        TunnelKind::Vxlan | TunnelKind::Geneve => ("VNI", "VNIs"),
        TunnelKind::Gre => ("key or call ID", "keys or call IDs"),
        TunnelKind::L2tp => ("tunnel or session ID", "tunnel and session IDs"),
        TunnelKind::Pppoe => ("session ID", "session IDs"),
        TunnelKind::Wireguard => ("index", "indices"),
        TunnelKind::Openvpn => ("session ID", "session IDs"),
        _ => ("identifier", "identifiers"),
    }
}

/// A tunnel's two ends, with ports where it has them.
fn ends_text(t: &Tunnel, between: &str) -> String {
    format!("{}{between}{}", endpoint(&t.src, t.sport), endpoint(&t.dst, t.dport))
}

/// One tunnel as a verdict's evidence line: `UDP a:p <-> b:q: 12 packets, ids 1 2 3 4 …`.
fn tunnel_line(t: &Tunnel) -> String {
    let transport = match t.transport.as_str() {
        "ethernet" => "Ethernet".to_string(),
        x => x.to_ascii_uppercase(),
    };
    let mut line = format!("{transport} {}: {} packets", ends_text(t, " <-> "), t.packets);
    if !t.ids.is_empty() {
        let shown: Vec<&str> = t.ids.iter().take(4).map(String::as_str).collect();
        line.push_str(&format!(", ids {}", shown.join(" ")));
        if t.ids.len() > 4 || t.ids_elided > 0 {
            line.push_str(" …");
        }
    }
    if let Some(p) = t.tunnel {
        line.push_str(&format!(", inside tunnel #{p}"));
    }
    line
}

fn variant_line(kind: TunnelKind, v: &str) -> String {
    match (kind, v) {
        (TunnelKind::Openvpn, "plain") => {
            "control channel without tls-auth: acknowledgements and packet IDs in the clear".into()
        }
        (TunnelKind::Openvpn, v) => format!("control channel protected ({v})"),
        (TunnelKind::Gre, "pptp") => "PPTP's enhanced GRE (call IDs as keys)".into(),
        (TunnelKind::Gre, "erspan") => "ERSPAN: mirrored traffic carried in GRE".into(),
        (_, v) => format!("{kind} variant {v}"),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Call {
    Registration,
    Invite,
    Other,
}

fn flow_line(f: &Flow, comm: &str, pid: u32) -> String {
    format!(
        "{} {} <-> {} of {comm} (pid {pid}){}",
        f.proto.as_str().to_ascii_uppercase(),
        endpoint(&f.src, f.sport),
        endpoint(&f.dst, f.dport),
        f.iface.as_deref().map(|i| format!(" on {i}")).unwrap_or_default()
    )
}

/// Messages an IKE SA saw: those listed plus those its list skips.
fn exchange_total(s: &IkeSa) -> u64 {
    s.exchanges.len() as u64 + s.exchanges_elided.map_or(0, |e| e.count)
}

/// Exchanges listed one by one in a verdict's line at most; an SA with more is summed up by
/// type and direction, so the evidence stays a line however long the SA lived.
const LINE_EXCHANGES: usize = 12;

/// `exchanges: IKE_SA_INIT, IKE_SA_INIT (resp), …`, or for a long SA
/// `exchanges (240): IKE_SA_INIT x1, IKE_SA_INIT (resp) x1, INFORMATIONAL x119, …`.
fn exchanges_line(s: &IkeSa) -> String {
    let mut line = String::from("exchanges: ");
    let total = exchange_total(s);
    if total as usize <= LINE_EXCHANGES || s.exchange_counts.is_empty() {
        for (n, e) in s.exchanges.iter().take(LINE_EXCHANGES).enumerate() {
            if n > 0 {
                line.push_str(", ");
            }
            line.push_str(&e.kind);
            if e.response {
                line.push_str(" (resp)");
            }
        }
        if total as usize > LINE_EXCHANGES {
            line.push_str(&format!(", … ({total} in all)"));
        }
        return line;
    }
    line = format!("exchanges ({total}): ");
    for (n, c) in s.exchange_counts.iter().enumerate() {
        if n > 0 {
            line.push_str(", ");
        }
        line.push_str(&c.kind);
        line.push_str(match (c.response, c.from_initiator) {
            (false, true) => "",
            (true, false) => " (resp)",
            // The usual roles reversed: a rekey the responder began, say.
            (false, false) => " (by responder)",
            (true, true) => " (resp by initiator)",
        });
        line.push_str(&format!(" x{}", c.count));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sip_hosts() {
        assert_eq!(
            sip_host("sip:0310@ims.mnc260.mcc310.3gppnetwork.org").as_deref(),
            Some("ims.mnc260.mcc310.3gppnetwork.org")
        );
        assert_eq!(
            sip_host("\"Alice\" <sip:alice@IMS.Example.org:5060;transport=udp>").as_deref(),
            Some("ims.example.org")
        );
        assert_eq!(sip_host("sip:registrar.example.com").as_deref(), Some("registrar.example.com"));
        assert_eq!(sip_host("<sips:[2001:db8::1]:5061>").as_deref(), Some("2001:db8::1"));
        assert_eq!(sip_host("tel:+13105550100").as_deref(), Some("+13105550100"));
        assert_eq!(sip_host("sip:").as_deref(), None);
    }

    #[test]
    fn vocabulary_names_are_unique_and_known() {
        let set: BTreeSet<&str> = NAMES.iter().copied().collect();
        assert_eq!(set.len(), NAMES.len());
        assert_eq!(known("holder"), Some("holder"));
        assert_eq!(known("holders"), None);
    }

    #[test]
    fn a_subject_keeps_a_few_of_each_and_counts_the_rest() {
        let mut s = Subject::new(On::Interface, "x".into());
        for i in 0..20 {
            s.push(Fact::new("port", i.to_string(), Some(format!("port {i}"))));
        }
        s.push(Fact::new("port", "1", Some("port 1".into())));
        s.push(Fact::new("mtu", "1400", None));
        s.finish();
        assert_eq!(s.facts_of("port").len(), KEEP);
        assert_eq!(s.elided_line("port").as_deref(), Some("and 12 more ports"));
        assert_eq!(s.value("mtu"), Some("1400"));
        assert_eq!(s.value("holder"), None);
    }
}
