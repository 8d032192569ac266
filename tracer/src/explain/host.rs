//! The host's tables, read once at the end and added to a report: each interface's kernel
//! details, routes and policy rules into it, its users and carriers; the peers of the tunnels
//! (with their AS and the interface the route to them leaves by); the kernel's IPsec; and what
//! this user could not see.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use tuntrace_core::report::host_facts::{
    Carrier, InterfaceDetails, InterfaceUser, Peer, PolicyRule, RouteEntry, TunSettings, Visibility,
};
use tuntrace_core::report::{Interface, InterfaceKind, Report};

use super::asn::AsnDb;
use super::xfrm;
use crate::host::links::{Link, LinkFlags, TunDetails, TunMode};
use crate::host::routes::{self, Route, RouteKind, Rule};
use crate::host::{links, netns, tun, HostError};
use crate::live::seed::{self, SeededSocket};

/// Peers listed per tunnel at most.
const MAX_PEERS: usize = 16;

pub(super) fn enrich(r: &mut Report, asn: Option<&AsnDb>, warnings: &mut Vec<String>) -> Result<(), HostError> {
    let ns = netns::current()?;
    let here = links::snapshot()?;
    let all_routes = routes::routes()?;
    let all_rules = routes::rules().unwrap_or_else(|e| {
        warnings.push(format!("policy rules are not listed: {e}"));
        Vec::new()
    });
    let holders = tun::holders()?;
    let sockets = seed::snapshot().unwrap_or_else(|e| {
        warnings.push(format!("sockets are not listed: {e}"));
        Vec::new()
    });
    let x = xfrm::snapshot();
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let ours: BTreeSet<String> =
        here.links.iter().flat_map(|l| l.addresses.iter().map(|a| a.addr.to_string())).collect();
    let is_ours = |a: &str| ours.contains(a);

    let procs = &r.processes;
    for i in r.interfaces.iter_mut().filter(|i| i.removed.is_none()) {
        let Some(l) = i.name.as_deref().and_then(|n| here.by_name(n)) else { continue };
        let mut d = InterfaceDetails {
            link_kind: l.kind.as_ref().map(|k| k.as_str().to_string()),
            flags: flag_names(l.flags),
            tun: l.tun.as_ref().map(tun_settings),
            ..Default::default()
        };
        // Routes that send traffic into it: not the local table's (those receive) nor
        // link-local and multicast ones every IPv6 link has.
        let mine: Vec<&Route> = all_routes.iter().filter(|x| x.oifs.contains(&l.index) && sends_into(x)).collect();
        d.routes = mine.iter().map(|x| route_entry(x)).collect();
        let mut tables: Vec<(u32, bool)> =
            mine.iter().map(|x| (x.table, x.dst.is_some_and(|(a, _)| a.is_ipv6()))).collect();
        tables.sort_unstable();
        tables.dedup();
        d.rules = all_rules
            .iter()
            .filter(|x| x.table.is_some_and(|t| tables.binary_search(&(t, x.ipv6)).is_ok()))
            .map(policy_rule)
            .collect();
        for h in holders.holders(&l.name, ns.inode) {
            let what = format!("holds the TUN device (fd {})", h.fd);
            d.users.push(InterfaceUser { pid: Some(h.pid), comm: comm(procs, h.pid), what });
        }
        // Addresses, not `i.addresses`: the interface may have gained some since it was announced.
        i.addresses = l.addresses.iter().map(|a| a.addr.to_string()).collect();
        i.mtu = l.mtu.or(i.mtu);
        i.host = d;
    }
    users(r, &sockets, &here, root);
    let peers = peers(r, &x, &is_ours, asn, &here);
    carriers(r, &peers, &here, &all_routes);
    talkers(r, &here);
    r.host.peers = peers;
    let hidden = if root { 0 } else { sockets.iter().filter(|s| s.pids.is_empty()).count() as u32 };
    let mut notes = Vec::new();
    if !root {
        notes.push(format!(
            "not root: the open files of {} processes could not be read and the process of {hidden} socket{} \
             is hidden; run as root to see which processes hold sockets and TUN devices",
            holders.unreadable,
            if hidden == 1 { "" } else { "s" }
        ));
    }
    if let Some(e) = &x.error {
        notes.push(e.clone());
    }
    r.host.visibility =
        Some(Visibility { privileged: root, unreadable_processes: holders.unreadable, hidden_sockets: hidden, notes });
    r.host.xfrm = Some(x);
    Ok(())
}

fn comm(procs: &[tuntrace_core::report::Process], pid: u32) -> Option<String> {
    procs.iter().rev().find(|p| p.pid == pid).and_then(|p| p.comm.clone())
}

/// Whether a route sends packets out through its interface (rather than delivering them
/// here, or being one every IPv6 link has).
fn sends_into(x: &Route) -> bool {
    let everywhere = match x.dst {
        Some((IpAddr::V6(a), p)) => {
            (a.segments()[0] & 0xffc0 == 0xfe80 && p >= 10) || a.segments()[0] & 0xff00 == 0xff00
        }
        _ => false,
    };
    x.table != 255
        && matches!(x.kind, RouteKind::Unicast | RouteKind::Blackhole | RouteKind::Unreachable | RouteKind::Prohibit)
        && !everywhere
}

fn flag_names(f: LinkFlags) -> Vec<String> {
    let mut v = Vec::new();
    for (on, name) in [
        (f.up(), "UP"),
        (f.running(), "RUNNING"),
        (f.lower_up(), "LOWER_UP"),
        (f.point_to_point(), "POINTOPOINT"),
        (f.noarp(), "NOARP"),
        (f.loopback(), "LOOPBACK"),
    ] {
        if on {
            v.push(name.to_string());
        }
    }
    v
}

fn tun_settings(t: &TunDetails) -> TunSettings {
    TunSettings {
        mode: t.mode.map(|m| if m == TunMode::Tap { "tap" } else { "tun" }.to_string()),
        pi: t.pi,
        vnet_hdr: t.vnet_hdr,
        persist: t.persist,
        multi_queue: t.multi_queue,
        num_queues: t.num_queues,
        owner_uid: t.owner,
        group: t.group,
    }
}

fn route_entry(x: &Route) -> RouteEntry {
    RouteEntry {
        dst: x.dst.map_or_else(|| "default".to_string(), |(a, p)| format!("{a}/{p}")),
        gateway: x.gateway.map(|g| g.to_string()),
        src: x.prefsrc.map(|s| s.to_string()),
        table: x.table,
        metric: x.metric,
        kind: match x.kind {
            RouteKind::Unicast => "unicast".into(),
            RouteKind::Local => "local".into(),
            RouteKind::Broadcast => "broadcast".into(),
            RouteKind::Anycast => "anycast".into(),
            RouteKind::Multicast => "multicast".into(),
            RouteKind::Blackhole => "blackhole".into(),
            RouteKind::Unreachable => "unreachable".into(),
            RouteKind::Prohibit => "prohibit".into(),
            RouteKind::Throw => "throw".into(),
            RouteKind::Other(n) => format!("type {n}"),
        },
    }
}

fn policy_rule(x: &Rule) -> PolicyRule {
    let mut sel = String::new();
    if x.invert {
        sel.push_str("not ");
    }
    match x.src {
        Some((a, p)) => sel.push_str(&format!("from {a}/{p}")),
        None => sel.push_str("from all"),
    }
    if let Some((a, p)) = x.dst {
        sel.push_str(&format!(" to {a}/{p}"));
    }
    if let Some(m) = x.fwmark {
        sel.push_str(&format!(" fwmark {m:#x}"));
        if let Some(mask) = x.fwmask.filter(|m| *m != u32::MAX) {
            sel.push_str(&format!("/{mask:#x}"));
        }
    }
    if let Some(n) = &x.iif {
        sel.push_str(&format!(" iif {n}"));
    }
    if let Some(n) = &x.oif {
        sel.push_str(&format!(" oif {n}"));
    }
    PolicyRule { priority: x.priority, selector: sel, table: x.table.unwrap_or(0), ipv6: x.ipv6 }
}

fn endpoint(a: &str, p: u16) -> String {
    if a.contains(':') {
        format!("[{a}]:{p}")
    } else {
        format!("{a}:{p}")
    }
}

/// Who uses each interface besides its holder: sockets on its addresses or bound to it (as the
/// report has them, with their process, and those whose process is hidden from this user), and
/// processes whose packets crossed it.
fn users(r: &mut Report, raw: &[SeededSocket], here: &links::Links, root: bool) {
    let procs = r.processes.clone();
    let sockets = r.sockets.clone();
    for i in r.interfaces.iter_mut().filter(|i| i.removed.is_none()) {
        let Some(name) = i.name.clone() else { continue };
        let addrs: BTreeSet<&str> = i.addresses.iter().map(String::as_str).collect();
        let mut seen: BTreeSet<(Option<u32>, String)> = i.host.users.iter().map(|u| (u.pid, u.what.clone())).collect();
        let mut push = |u: InterfaceUser, v: &mut Vec<InterfaceUser>| {
            if seen.insert((u.pid, u.what.clone())) {
                v.push(u);
            }
        };
        let mut list = std::mem::take(&mut i.host.users);
        for s in sockets.iter().filter(|s| s.closed.is_none()) {
            let on_addr = s.local.as_deref().is_some_and(|a| addrs.contains(a));
            let bound = s.bound_iface.as_deref() == Some(name.as_str());
            if !(on_addr || bound) {
                continue;
            }
            let local = endpoint(s.local.as_deref().unwrap_or("*"), s.local_port.unwrap_or(0));
            let what = format!(
                "{} socket {local}{}{}",
                s.proto.as_str().to_uppercase(),
                s.remote
                    .as_deref()
                    .map(|a| format!(" -> {}", endpoint(a, s.remote_port.unwrap_or(0))))
                    .unwrap_or_default(),
                if bound { format!(" (bound to {name})") } else { String::new() }
            );
            push(InterfaceUser { pid: s.pid, comm: s.comm.clone(), what }, &mut list);
        }
        if !root {
            let index = here.by_name(&name).map(|l| l.index);
            for s in raw.iter().filter(|s| s.pids.is_empty()) {
                let on_addr = addrs.contains(s.local.ip().to_string().as_str());
                if !(on_addr || (s.bound_ifindex != 0 && Some(s.bound_ifindex) == index)) {
                    continue;
                }
                let proto = if s.protocol == libc::IPPROTO_TCP as u8 { "TCP" } else { "UDP" };
                let what = format!("{proto} socket {} of uid {} (its process is hidden: run as root)", s.local, s.uid);
                push(InterfaceUser { pid: None, comm: None, what }, &mut list);
            }
        }
        // Every process the source saw sending or receiving on it, from the processes' own counts:
        // a flow names one process, but several can share it (SIPp's REGISTER and its calls).
        for p in procs.iter().filter(|p| p.packets > 0 && p.interfaces.contains(&name)) {
            let what = if p.interfaces.len() == 1 {
                format!("{} packets on it", p.packets)
            } else {
                format!(
                    "{} packets on it and on {}",
                    p.packets,
                    p.interfaces.iter().filter(|i| **i != name).cloned().collect::<Vec<_>>().join(", ")
                )
            };
            push(InterfaceUser { pid: Some(p.pid), comm: p.comm.clone(), what }, &mut list);
        }
        i.host.users = list;
    }
}

/// Ports of the protocols that set up and carry tunnels and calls: IKE, NAT-T, SIP.
const SIGNALLING: [(u16, &str); 4] = [(500, "IKE"), (4500, "IKE/ESP NAT-T"), (5060, "SIP"), (5061, "SIP over TLS")];

/// Processes talking IKE, ESP or SIP over a tunnel's carrier: sockets on those ports bound to the
/// carrier's addresses or to every address (as `ss -p` finds them), the holder's included.
fn talkers(r: &mut Report, here: &links::Links) {
    let sockets = r.sockets.clone();
    for i in r.interfaces.iter_mut().filter(|i| is_tunnel(i)) {
        let carrier_addrs: BTreeSet<String> = i
            .host
            .carriers
            .iter()
            .filter_map(|c| here.by_name(&c.iface))
            .flat_map(|l| l.addresses.iter().map(|a| a.addr.to_string()))
            .collect();
        if carrier_addrs.is_empty() {
            continue;
        }
        for s in sockets.iter().filter(|s| s.closed.is_none()) {
            let local = s.local.as_deref().unwrap_or("0.0.0.0");
            let anywhere = local.parse::<IpAddr>().is_ok_and(|a| a.is_unspecified());
            if !(anywhere || carrier_addrs.contains(local)) {
                continue;
            }
            let proto = SIGNALLING.iter().find(|(p, _)| s.local_port == Some(*p) || s.remote_port == Some(*p));
            let Some((_, name)) = proto else { continue };
            let what = format!(
                "{name} socket {}{} on the carrier",
                endpoint(local, s.local_port.unwrap_or(0)),
                s.remote
                    .as_deref()
                    .map(|a| format!(" -> {}", endpoint(a, s.remote_port.unwrap_or(0))))
                    .unwrap_or_default()
            );
            if !i.host.users.iter().any(|u| u.pid == s.pid && u.what == what) {
                i.host.users.push(InterfaceUser { pid: s.pid, comm: s.comm.clone(), what });
            }
        }
    }
}

fn is_tunnel(i: &Interface) -> bool {
    i.kind.is_tunnel() && i.name.is_some() && i.removed.is_none()
}

/// The processes of a tunnel: its holder and creator.
fn tunnel_pids(i: &Interface) -> Vec<u32> {
    let mut v: Vec<u32> = i.owner.iter().map(|o| o.pid).chain(i.created_by.iter().map(|c| c.pid)).collect();
    v.dedup();
    v
}

/// The remote ends of the tunnels: IKE peers of their processes (or, for an IPsec-kind tunnel,
/// of IKE no process claims), the far ends of their processes' sockets and outer flows, and the
/// kernel's SAs. Each with its AS (when a database is given) and the way to it.
fn peers(
    r: &Report,
    x: &tuntrace_core::report::host_facts::Xfrm,
    ours: &dyn Fn(&str) -> bool,
    asn: Option<&AsnDb>,
    here: &links::Links,
) -> Vec<Peer> {
    let mut by_addr: BTreeMap<String, Peer> = BTreeMap::new();
    let mut add = |addr: &str, role: String, iface: Option<&str>| {
        if ours(addr) || addr.parse::<IpAddr>().map_or(true, |a| a.is_unspecified() || a.is_loopback()) {
            return;
        }
        let p =
            by_addr.entry(addr.to_string()).or_insert_with(|| Peer { address: addr.to_string(), ..Default::default() });
        if !p.roles.contains(&role) && p.roles.len() < MAX_PEERS {
            p.roles.push(role);
        }
        if let Some(n) = iface {
            if !p.interfaces.iter().any(|x| x == n) {
                p.interfaces.push(n.to_string());
            }
        }
    };
    let tunnel_pids_all: BTreeSet<u32> = r.interfaces.iter().filter(|i| is_tunnel(i)).flat_map(tunnel_pids).collect();
    for i in r.interfaces.iter().filter(|i| is_tunnel(i)) {
        let name = i.name.as_deref();
        let pids = tunnel_pids(i);
        let ipsec_kind = matches!(i.kind, InterfaceKind::Ipsec | InterfaceKind::Xfrm | InterfaceKind::Vti);
        for sa in r.ike_sas.iter().filter(|sa| match sa.pid {
            Some(p) => pids.contains(&p) || (ipsec_kind && !tunnel_pids_all.contains(&p)),
            None => ipsec_kind,
        }) {
            let nat = if sa.nat_t { " (NAT-T)" } else { "" };
            if ours(&sa.initiator) {
                add(&sa.responder, format!("IKEv{} responder{nat}", sa.version), name);
            } else {
                add(&sa.initiator, format!("IKEv{} initiator{nat}", sa.version), name);
            }
        }
        for e in r.esp_sas.iter().filter(|e| e.pid.is_some_and(|p| pids.contains(&p))) {
            let far = if ours(&e.src) { &e.dst } else { &e.src };
            add(far, "ESP".into(), name);
        }
        for s in r.sockets.iter().filter(|s| s.pid.is_some_and(|p| pids.contains(&p)) && s.closed.is_none()) {
            if let Some(a) = &s.remote {
                let who = format!("{} (pid {})", s.comm.as_deref().unwrap_or("?"), s.pid.unwrap_or(0));
                add(a, format!("{} socket of {who}", s.proto.as_str().to_uppercase()), name);
            }
        }
        for f in r.flows.iter().filter(|f| f.pid.is_some_and(|p| pids.contains(&p)) && f.iface.as_deref() != name) {
            let far = if ours(&f.src) { &f.dst } else { &f.src };
            let who = format!("{} (pid {})", f.comm.as_deref().unwrap_or("?"), f.pid.unwrap_or(0));
            add(far, format!("outer {} flow of {who}", f.proto.as_str().to_uppercase()), name);
        }
    }
    for (peer, role) in xfrm::state_peers(x, ours) {
        add(&peer, role, None);
    }
    let mut out: Vec<Peer> = by_addr.into_values().collect();
    for p in &mut out {
        let Ok(ip) = p.address.parse::<IpAddr>() else { continue };
        if let Some(a) = asn.and_then(|db| db.lookup(ip)) {
            p.asn = a.asn;
            p.org = a.org;
            p.network = Some(a.network);
        }
        if let Ok(Some(hop)) = routes::route_to(ip) {
            p.via = here.by_index(hop.ifindex).map(|l| l.name.clone());
            p.gateway = hop.gateway.map(|g| g.to_string());
        }
    }
    out
}

/// The carriers of each tunnel: where the routes to its peers leave, where its processes'
/// outer packets were seen, or (neither known) the one interface its unbound sockets can send
/// from.
fn carriers(r: &mut Report, peers: &[Peer], here: &links::Links, all_routes: &[Route]) {
    let flows = r.flows.clone();
    let sockets = r.sockets.clone();
    let candidates: Vec<&Link> = here
        .links
        .iter()
        .filter(|l| !l.is_tunnel() && l.flags.up() && !l.flags.loopback() && !l.addresses.is_empty())
        .filter(|l| all_routes.iter().any(|x| x.oifs.contains(&l.index) && x.kind == RouteKind::Unicast))
        .collect();
    let default = all_routes.iter().find(|x| x.dst.is_none() && x.table == 254 && x.kind == RouteKind::Unicast);
    for i in r.interfaces.iter_mut().filter(|i| is_tunnel(i)) {
        let name = i.name.clone().unwrap_or_default();
        let mut out: Vec<Carrier> = Vec::new();
        // One entry per carrier interface, with every way it was found.
        let add = |c: Carrier, out: &mut Vec<Carrier>| {
            if c.iface == name {
                return;
            }
            match out.iter_mut().find(|x| x.iface == c.iface) {
                Some(x) if !x.how.contains(&c.how) => {
                    x.how = format!("{}; {}", x.how, c.how);
                    x.peer = x.peer.take().or(c.peer);
                    x.gateway = x.gateway.take().or(c.gateway);
                }
                Some(_) => {}
                None => out.push(c),
            }
        };
        for p in peers.iter().filter(|p| p.interfaces.contains(&name)) {
            if let Some(v) = &p.via {
                add(
                    Carrier {
                        iface: v.clone(),
                        peer: Some(p.address.clone()),
                        gateway: p.gateway.clone(),
                        how: format!("route to {}", p.address),
                    },
                    &mut out,
                );
            }
        }
        let pids = tunnel_pids(i);
        for f in flows.iter().filter(|f| f.pid.is_some_and(|p| pids.contains(&p))) {
            let Some(n) = f.iface.as_deref().filter(|n| *n != name) else { continue };
            let who = format!("{} (pid {})", f.comm.as_deref().unwrap_or("?"), f.pid.unwrap_or(0));
            add(
                Carrier {
                    iface: n.into(),
                    peer: None,
                    gateway: None,
                    how: format!("outer packets of {who} seen on it"),
                },
                &mut out,
            );
        }
        if out.is_empty() {
            let unbound: Vec<String> = sockets
                .iter()
                .filter(|s| s.pid.is_some_and(|p| pids.contains(&p)) && s.closed.is_none() && s.remote.is_none())
                .map(|s| endpoint(s.local.as_deref().unwrap_or("*"), s.local_port.unwrap_or(0)))
                .collect();
            if !unbound.is_empty() {
                let who = i.owner.as_ref().and_then(|o| o.comm.clone()).unwrap_or_else(|| "its holder".into());
                let socks = unbound.join(", ");
                if let Some(l) = default.and_then(|d| d.oifs.first()).and_then(|x| here.by_index(*x)) {
                    add(
                        Carrier {
                            iface: l.name.clone(),
                            peer: None,
                            gateway: default.and_then(|d| d.gateway).map(|g| g.to_string()),
                            how: format!("the default route, which {who}'s sockets ({socks}) send by"),
                        },
                        &mut out,
                    );
                } else if let [only] = candidates[..] {
                    add(Carrier {
                        iface: only.name.clone(),
                        peer: None,
                        gateway: None,
                        how: format!(
                            "the only other interface with an address and a route, which {who}'s sockets ({socks}) can send from"
                        ),
                    }, &mut out);
                }
            }
        }
        i.host.carriers = out;
    }
}
