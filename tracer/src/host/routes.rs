//! Routes and policy rules of our namespace: the way to a peer (`ip route get`), the routes
//! that leave through one link, and the `ip rule`s that send traffic to the tables holding them.

use std::net::IpAddr;

use netlink_packet_route::route::{RouteAddress, RouteAttribute, RouteFlags, RouteMessage};
use netlink_packet_route::rule::{RuleAction, RuleAttribute, RuleMessage};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

use super::netlink::Rtnl;
use super::HostError;

/// The kernel's answer for one destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteHop {
    /// Output interface (the loopback for one of our own addresses).
    pub ifindex: u32,
    /// Next hop, when the destination is not on a directly attached subnet.
    pub gateway: Option<IpAddr>,
    /// Source address the kernel would pick.
    pub src: Option<IpAddr>,
    /// Routing table the answer came from (policy rules may pick another than main).
    pub table: u32,
    /// The destination is one of our own addresses.
    pub local: bool,
}

/// What a route does with matching packets (RTN_*).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteKind {
    Unicast,
    Local,
    Broadcast,
    Anycast,
    Multicast,
    Blackhole,
    Unreachable,
    Prohibit,
    Throw,
    Other(u8),
}

impl RouteKind {
    fn from_rtn(v: u8) -> RouteKind {
        match v {
            1 => RouteKind::Unicast,
            2 => RouteKind::Local,
            3 => RouteKind::Broadcast,
            4 => RouteKind::Anycast,
            5 => RouteKind::Multicast,
            6 => RouteKind::Blackhole,
            7 => RouteKind::Unreachable,
            8 => RouteKind::Prohibit,
            9 => RouteKind::Throw,
            v => RouteKind::Other(v),
        }
    }
}

/// One route of the routing tables (IPv4 or IPv6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Destination network; `None` for a default route.
    pub dst: Option<(IpAddr, u8)>,
    pub gateway: Option<IpAddr>,
    /// Preferred source (`src` in `ip route`).
    pub prefsrc: Option<IpAddr>,
    /// Output interfaces: one, or several for a multipath route.
    pub oifs: Vec<u32>,
    pub table: u32,
    pub kind: RouteKind,
    pub metric: Option<u32>,
}

/// One policy rule (`ip rule`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub ipv6: bool,
    pub priority: Option<u32>,
    /// The table looked up, for a rule whose action is to look one up.
    pub table: Option<u32>,
    pub src: Option<(IpAddr, u8)>,
    pub dst: Option<(IpAddr, u8)>,
    pub iif: Option<String>,
    pub oif: Option<String>,
    pub fwmark: Option<u32>,
    pub fwmask: Option<u32>,
    /// `not` in `ip rule`.
    pub invert: bool,
}

/// The route the kernel would use to reach `dst` from this host, as `ip route get` asks
/// (RTM_GETROUTE). `None` when nothing routes there (unreachable, prohibited, no route).
pub fn route_to(dst: IpAddr) -> Result<Option<RouteHop>, HostError> {
    let mut m = RouteMessage::default();
    m.header.address_family = family(dst);
    m.header.destination_prefix_length = if dst.is_ipv4() { 32 } else { 128 };
    m.header.flags = RouteFlags::LookupTable;
    m.attributes.push(RouteAttribute::Destination(RouteAddress::from(dst)));
    let answer = match Rtnl::open()?.get("RTM_GETROUTE", RouteNetlinkMessage::GetRoute(m)) {
        Ok(a) => a,
        // How the kernel says "no way there": no route (ENETUNREACH), an `unreachable` route
        // (EHOSTUNREACH), `prohibit` (EACCES: RTM_GETROUTE itself needs no privilege),
        // `blackhole` (EINVAL) and `throw` (EAGAIN).
        Err(e)
            if matches!(
                e.os_error(),
                Some(libc::ENETUNREACH | libc::EHOSTUNREACH | libc::EACCES | libc::EINVAL | libc::EAGAIN)
            ) =>
        {
            return Ok(None)
        }
        Err(e) => return Err(e),
    };
    Ok(answer.messages.into_iter().find_map(|m| match m {
        RouteNetlinkMessage::NewRoute(r) => hop(&r),
        _ => None,
    }))
}

fn hop(r: &RouteMessage) -> Option<RouteHop> {
    let kind = RouteKind::from_rtn(r.header.kind.into());
    if !matches!(kind, RouteKind::Unicast | RouteKind::Local | RouteKind::Broadcast | RouteKind::Multicast) {
        return None;
    }
    let mut h = RouteHop { ifindex: 0, gateway: None, src: None, table: table(r), local: kind == RouteKind::Local };
    for a in &r.attributes {
        match a {
            RouteAttribute::Oif(i) => h.ifindex = *i,
            RouteAttribute::Gateway(g) => h.gateway = ip(g),
            RouteAttribute::PrefSource(s) => h.src = ip(s),
            _ => {}
        }
    }
    (h.ifindex != 0).then_some(h)
}

/// Every route, of every table, whose output interface is `ifindex` (a multipath route
/// counts when one of its next hops leaves there).
pub fn routes_via(ifindex: u32) -> Result<Vec<Route>, HostError> {
    Ok(routes()?.into_iter().filter(|r| r.oifs.contains(&ifindex)).collect())
}

/// Every IPv4 and IPv6 route of every table.
pub fn routes() -> Result<Vec<Route>, HostError> {
    let answer = Rtnl::open()?.dump("RTM_GETROUTE", RouteNetlinkMessage::GetRoute(RouteMessage::default()))?;
    Ok(answer
        .messages
        .iter()
        .filter_map(|m| match m {
            RouteNetlinkMessage::NewRoute(r) => route(r),
            _ => None,
        })
        .collect())
}

fn route(r: &RouteMessage) -> Option<Route> {
    if !matches!(r.header.address_family, AddressFamily::Inet | AddressFamily::Inet6) {
        return None;
    }
    let mut out = Route {
        dst: None,
        gateway: None,
        prefsrc: None,
        oifs: Vec::new(),
        table: table(r),
        kind: RouteKind::from_rtn(r.header.kind.into()),
        metric: None,
    };
    for a in &r.attributes {
        match a {
            RouteAttribute::Destination(d) => out.dst = ip(d).map(|d| (d, r.header.destination_prefix_length)),
            RouteAttribute::Gateway(g) => out.gateway = ip(g),
            RouteAttribute::PrefSource(s) => out.prefsrc = ip(s),
            RouteAttribute::Oif(i) => out.oifs.push(*i),
            RouteAttribute::Priority(p) => out.metric = Some(*p),
            RouteAttribute::MultiPath(hops) => out.oifs.extend(hops.iter().map(|h| h.interface_index)),
            _ => {}
        }
    }
    if out.dst.is_none() && r.header.destination_prefix_length != 0 {
        return None; // a prefix without its address: not a route we can state
    }
    Some(out)
}

/// Every policy rule, IPv4 and IPv6, in the kernel's order.
pub fn rules() -> Result<Vec<Rule>, HostError> {
    let answer = Rtnl::open()?.dump("RTM_GETRULE", RouteNetlinkMessage::GetRule(RuleMessage::default()))?;
    Ok(answer
        .messages
        .iter()
        .filter_map(|m| match m {
            RouteNetlinkMessage::NewRule(r) => rule(r),
            _ => None,
        })
        .collect())
}

fn rule(r: &RuleMessage) -> Option<Rule> {
    let ipv6 = match r.header.family {
        AddressFamily::Inet => false,
        AddressFamily::Inet6 => true,
        _ => return None,
    };
    let mut out = Rule {
        ipv6,
        priority: None,
        table: (r.header.action == RuleAction::ToTable && r.header.table != 0).then_some(r.header.table as u32),
        src: None,
        dst: None,
        iif: None,
        oif: None,
        fwmark: None,
        fwmask: None,
        invert: r.header.flags.bits() & 0x2 != 0, // FIB_RULE_INVERT
    };
    for a in &r.attributes {
        match a {
            RuleAttribute::Priority(p) => out.priority = Some(*p),
            RuleAttribute::Table(t) if r.header.action == RuleAction::ToTable => out.table = Some(*t),
            RuleAttribute::Source(s) => out.src = Some((*s, r.header.src_len)),
            RuleAttribute::Destination(d) => out.dst = Some((*d, r.header.dst_len)),
            RuleAttribute::Iifname(n) => out.iif = Some(n.clone()),
            RuleAttribute::Oifname(n) => out.oif = Some(n.clone()),
            RuleAttribute::FwMark(m) => out.fwmark = Some(*m),
            RuleAttribute::FwMask(m) => out.fwmask = Some(*m),
            _ => {}
        }
    }
    Some(out)
}

/// The policy rules that look up a table holding a route out of `ifindex`: how traffic gets
/// steered to it (strongSwan's table 220, a VPN's fwmark rule). The main table counts too, so
/// the catch-all `from all lookup main` rule is among them when main routes there.
pub fn rules_via(ifindex: u32) -> Result<Vec<Rule>, HostError> {
    let mut tables: Vec<u32> = routes_via(ifindex)?.iter().map(|r| r.table).collect();
    tables.sort_unstable();
    tables.dedup();
    Ok(rules()?.into_iter().filter(|r| r.table.is_some_and(|t| tables.binary_search(&t).is_ok())).collect())
}

fn family(a: IpAddr) -> AddressFamily {
    if a.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    }
}

fn ip(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(v4) => Some(IpAddr::V4(*v4)),
        RouteAddress::Inet6(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    }
}

/// RTA_TABLE when present (tables above 255 exist only there), else the header's byte.
fn table(r: &RouteMessage) -> u32 {
    r.attributes
        .iter()
        .find_map(|a| match a {
            RouteAttribute::Table(t) => Some(*t),
            _ => None,
        })
        .unwrap_or(r.header.table as u32)
}
