//! The report, built from the aggregator's state by reference: the one place where report
//! values are made from what the tables keep, with its two helpers for the longer sections
//! (`ipsec_report`: IKE and ESP SAs; `sip_report`: SIP dialogs and registrations).
//! Deterministic: every list has a defined order.

use std::net::IpAddr;

use rustc_hash::FxHashMap;

use super::flows::{self, app, TableKey};
use super::{
    esp_table, iface, ike_table, ipsec_report, live, procs, sip_report, sockets, tunnel_report, tunnels, Aggregator,
    FlowKey, ProcHandle,
};
use crate::linktype;
use crate::reassembly;
use crate::report::{self, App, LimitCount, Report, TunnelKind};
use crate::time::Timestamp;

/// The IKE SAs between two hosts: the first listed, and by start time each with the newest
/// (latest listed) SA among those that began by then.
type PairSas = (usize, Vec<(Timestamp, usize)>);

pub(super) fn report(a: &Aggregator) -> Report {
    let ifname = |i: u32| a.ifaces.name(i as usize);
    let owner = |h: Option<ProcHandle>| match h {
        Some(h) => (a.procs.pid(h), a.procs.comm(h).map(str::to_owned)),
        None => (None, None),
    };
    let sas = &a.ike.sas;
    // IKE SAs by the pair of hosts (either order), in order of appearance: one lookup per
    // ESP SA instead of a scan of every IKE SA (thousands of each on a busy ePDG capture).
    let unordered = |x: IpAddr, y: IpAddr| if x <= y { (x, y) } else { (y, x) };
    let mut by_peers: FxHashMap<(IpAddr, IpAddr), Vec<usize>> = FxHashMap::default();
    for (i, sa) in sas.iter().enumerate() {
        by_peers.entry(unordered(sa.peers.0, sa.peers.1)).or_default().push(i);
    }
    // Per pair, its SAs by start time with the newest (latest listed) among each prefix: a
    // binary search per ESP SA instead of a scan of every SA between the two hosts (an ePDG
    // capture has thousands of SAs between the same two addresses).
    let by_peers: FxHashMap<(IpAddr, IpAddr), PairSas> = by_peers
        .into_iter()
        .map(|(k, list)| {
            let mut by_start: Vec<(Timestamp, usize)> = list.iter().map(|&i| (sas[i].first, i)).collect();
            by_start.sort_unstable();
            let mut newest = 0;
            for e in &mut by_start {
                newest = newest.max(e.1);
                e.1 = newest;
            }
            (k, (list[0], by_start))
        })
        .collect();
    let esp_sas = ipsec_report::esp_sas(
        &a.esp,
        |k, s| {
            let (first, by_start) = by_peers.get(&unordered(k.src(), k.dst()))?;
            // The newest IKE SA between the same two hosts that began before this ESP SA,
            // else the first one between them.
            let began = by_start.partition_point(|e| e.0 <= s.first);
            Some(if began > 0 { by_start[began - 1].1 } else { *first })
        },
        ifname,
        owner,
        |k, s| esp_owner(a, k, s),
    );
    let proc_ref_of = |h: ProcHandle| {
        let p = a.procs.get(h);
        Some(report::ProcRef {
            pid: a.procs.pid(h)?,
            comm: p.and_then(|p| p.info.comm.clone()),
            exe: p.and_then(|p| p.info.exe.clone()),
        })
    };
    let ike_sas = ipsec_report::ike_sas(&a.ike, ifname, owner, proc_ref_of);
    // A flow without packets is one only samples or attributions named, whose packets the
    // source never counted (a capture's flows all have at least the packet that made them).
    let mut flow_list: Vec<(&FlowKey, &flows::FlowState)> = a.flows.map.iter().filter(|(_, f)| f.packets > 0).collect();
    flow_list.sort_by(|x, y| x.1.first.cmp(&y.1.first).then(x.0.cmp(y.0)));
    // SCTP's port 0 is not a port: the kernel's counters (live sessions) key SCTP by its hosts.
    let port =
        |proto: u8, p: u16| (matches!(proto, flows::UDP | flows::TCP) || proto == flows::SCTP && p != 0).then_some(p);
    let flows: Vec<report::Flow> = flow_list
        .into_iter()
        .map(|(k, f)| {
            let ((s, sp), (d, dp)) = if f.a_first {
                ((k.a_addr(), k.ap()), (k.b_addr(), k.bp()))
            } else {
                ((k.b_addr(), k.bp()), (k.a_addr(), k.ap()))
            };
            let (pid, comm) = owner(f.proc);
            report::Flow {
                iface: ifname(k.iface()),
                proto: flows::proto_name(k.proto()),
                src: flows::addr_string(s),
                sport: port(k.proto(), sp),
                dst: flows::addr_string(d),
                dport: port(k.proto(), dp),
                app: match (app::label(f.apps), app::carrier(f.apps)) {
                    (App::Other, Some(c)) => {
                        TunnelKind::ALL.get(usize::from(c)).map_or(App::Other, |&k| App::carrying(k))
                    }
                    (l, _) => l,
                },
                pid,
                comm,
                packets: f.packets,
                bytes: f.bytes,
                first: f.first.into(),
                last: f.last.into(),
                tunnel: a.flows.tunnel_of.get(k).map(|&t| t as usize - 1),
            }
        })
        .collect();
    // Inner flows per tunnel, from the flows' own marks.
    let mut inner_flows = vec![0u64; a.tunnels.list.len()];
    for f in &flows {
        if let Some(n) = f.tunnel.and_then(|t| inner_flows.get_mut(t)) {
            *n += 1;
        }
    }
    let tunnels = tunnel_report::tunnels(&a.tunnels, &inner_flows, ifname, owner);
    let proc_ref = |pid: u32| {
        let info = a.procs.current(pid).and_then(|h| a.procs.get(h)).map(|p| &p.info);
        report::ProcRef { pid, comm: info.and_then(|i| i.comm.clone()), exe: info.and_then(|i| i.exe.clone()) }
    };
    let interfaces: Vec<report::Interface> = a
        .ifaces
        .list
        .iter()
        // An unnamed PKTAP carrier interface holds no packets of its own.
        .filter(|i| i.packets > 0 || i.info.name.is_some())
        .map(|i| report::Interface {
            name: i.info.name.clone(),
            kind: iface::kind_of(i.info.name.as_deref(), i.info.linktype, i.info.link_kind.as_deref()),
            mtu: i.info.mtu,
            addresses: i.info.addresses.clone(),
            owner: i.info.owner.map(proc_ref),
            created_by: i.info.created_by.map(|(pid, at)| report::CreatedBy {
                pid,
                comm: a.procs.comm_of_pid(pid).map(str::to_owned),
                at: at.map(Into::into),
            }),
            packets: i.packets,
            bytes: i.bytes,
            linktype: linktype::name(i.info.linktype).to_string(),
            netns: i.info.netns,
            ifindex: i.info.ifindex,
            removed: i.removed.map(Into::into),
            created_before_trace: i.info.created_by.is_none() && i.info.created_before_start,
            host: report::host_facts::InterfaceDetails { link_kind: i.info.link_kind.clone(), ..Default::default() },
        })
        .collect();
    let processes: Vec<report::Process> = a
        .procs
        .iter()
        .map(|(_, p)| report::Process {
            pid: p.info.pid,
            comm: p.info.comm.clone(),
            exe: p.info.exe.clone(),
            cmdline: p.info.cmdline.clone(),
            uid: p.info.uid,
            packets: p.packets,
            bytes: p.bytes,
            interfaces: process_ifaces(a, p),
            ppid: p.info.ppid,
            start: p.info.start.map(Into::into),
            exited: p.exited.map(Into::into),
        })
        .collect();
    let processes = sort_processes(processes);
    let sip = sip_report::sip(&a.sip, owner);
    let mut malformed: Vec<report::MalformedCount> =
        a.malformed.iter().map(|(r, n)| report::MalformedCount { reason: r.to_string(), packets: *n }).collect();
    if a.flow_overflow > 0 {
        malformed.push(report::MalformedCount {
            reason: "flow table full (not a packet fault)".into(),
            packets: a.flow_overflow,
        });
    }
    let unknown_linktypes = a
        .unknown_link
        .iter()
        .map(|(l, n)| report::LinktypeCount { linktype: *l, name: linktype::name(*l).to_string(), frames: *n })
        .collect();
    let mut stats = a.stats.clone();
    let (mut lo, mut hi) = (a.ts_min, a.ts_max);
    // A live session (or its recording) spans its heartbeats, packets or not.
    if let (Some(first), Some(last)) = (a.live.first_tick, a.live.last_tick) {
        hi = hi.max(last.0);
        lo = lo.min(first.0);
    }
    if stats.packets > 0 || a.live.last_tick.is_some() {
        stats.started = Some(Timestamp(lo).into());
        stats.ended = Some(Timestamp(hi).into());
    }
    // Packets a source counted at the interface that no socket count attributed.
    stats.unattributed_packets += a.live.counted.saturating_sub(a.live.attributed);
    stats.losses = a.live.losses.iter().map(|(w, n)| report::LossCount { what: w.clone(), count: *n }).collect();
    stats.limits = limits(a);
    let mut r = Report {
        schema: report::SCHEMA,
        source: report::Source { kind: a.opts.kind, backend: a.opts.backend, inputs: a.inputs.clone() },
        stats,
        interfaces,
        processes,
        flows,
        ike_sas,
        esp_sas,
        sip,
        verdicts: Vec::new(),
        sockets: sockets_report(a),
        malformed,
        unknown_linktypes,
        errors: a.errors.clone(),
        tunnels,
        host: Default::default(),
    };
    r.verdicts = crate::rules::RuleSet::builtin().verdicts(&r);
    r
}

/// Processes by pid, then start: the order the report has always had, with a reused pid's
/// processes side by side, oldest first.
fn sort_processes(mut v: Vec<report::Process>) -> Vec<report::Process> {
    v.sort_by(|x, y| x.pid.cmp(&y.pid).then(x.start.cmp(&y.start)));
    v
}

/// A process's interfaces by name, sorted (names are looked up here, never copied per packet).
fn process_ifaces(a: &Aggregator, p: &procs::ProcState) -> Vec<String> {
    let mut names: Vec<String> = p.ifaces.iter().filter_map(|&i| a.ifaces.name(i as usize)).collect();
    names.sort_unstable();
    names.dedup();
    names
}

/// The process of an ESP SA a source counted itself: its own, else the owner of the UDP flow
/// that carried it.
fn esp_owner(a: &Aggregator, k: &esp_table::EspKey, s: &esp_table::EspState) -> Option<ProcHandle> {
    if s.proc.is_some() || !k.udp() || s.ports == (0, 0) {
        return s.proc;
    }
    let (key, _) = FlowKey::new(s.iface?, flows::UDP, k.src(), s.ports.0, k.dst(), s.ports.1);
    match a.flows.map.find_hashed(&key, key.table_hash()) {
        flows::Slot::Found(e) => a.flows.map.entry(e).proc,
        flows::Slot::Vacant(_) => None,
    }
}

fn tcp_state_name(s: u8) -> &'static str {
    match s {
        1 => "established",
        2 => "syn-sent",
        3 => "syn-recv",
        4 => "fin-wait1",
        5 => "fin-wait2",
        6 => "time-wait",
        7 => "close",
        8 => "close-wait",
        9 => "last-ack",
        10 => "listen",
        11 => "closing",
        12 => "new-syn-recv",
        _ => "unknown",
    }
}

fn sockets_report(a: &Aggregator) -> Vec<report::Socket> {
    let pid = |h: ProcHandle| a.procs.pid(h);
    a.sockets
        .sorted()
        .into_iter()
        .map(|s: &sockets::SockState| report::Socket {
            cookie: crate::digits::hex_id(s.cookie, 16),
            proto: flows::proto_name(s.proto),
            local: s.local.map(|l| flows::addr_string(l.ip())),
            local_port: s.local.map(|l| l.port()),
            remote: s.remote.map(|r| flows::addr_string(r.ip())),
            remote_port: s.remote.map(|r| r.port()),
            pid: pid(s.owner),
            comm: a.procs.comm(s.owner).map(str::to_owned),
            users: s.users.iter().filter_map(|&h| pid(h)).collect(),
            created_by: s.creator.and_then(pid),
            state: s.tcp_state.filter(|_| s.proto == flows::TCP).map(|t| tcp_state_name(t).to_string()),
            bound_iface: s.bound_ifindex.and_then(|x| a.ifaces.by_ifindex(s.netns, x)).and_then(|i| a.ifaces.name(i)),
            opened: s.opened.map(Into::into),
            closed: s.closed.map(Into::into),
        })
        .collect()
}

/// Every cap and expiry rule of the state, with its count.
fn limits(a: &Aggregator) -> Vec<LimitCount> {
    let lim = |what: &str, rule: String, count: u64| LimitCount { what: what.into(), rule, count };
    let at_most = |n: usize| format!("at most {n}");
    let secs = |ns: i64| format!("{} s", ns / 1_000_000_000);
    let sip = a.sip.dropped();
    let (calls, per_call, total) = a.sip.limits();
    let r = &a.reasm.stats;
    let t = &a.tcp.stats;
    let rl = reassembly::ip::ReasmLimits::default();
    let tl = reassembly::tcp::StreamLimits::default();
    let x = a.opts.expiry;
    let mut v = vec![
        lim("flows", at_most(flows::MAX_FLOWS), a.flow_overflow),
        lim("ike_sas", at_most(ike_table::MAX_IKE_SAS), a.ike.refused),
        lim(
            "ike_exchanges",
            format!("the first {0} and the latest {0} per SA listed, the rest counted", ike_table::KEEP_IKE_EXCHANGES),
            a.ike.dropped_exchanges,
        ),
        lim(
            "ike_proposals",
            format!(
                "the first {} proposals per SA kept, {} transforms of each kind",
                ike_table::KEEP_IKE_PROPOSALS,
                ike_table::KEEP_IKE_TRANSFORMS
            ),
            a.ike.proposals_cut,
        ),
        lim("esp_sas", at_most(esp_table::MAX_ESP_SAS), a.esp.overflow),
        lim("sip_calls", at_most(calls), sip.calls),
        lim(
            "sip_messages",
            format!("the first {per_call} and the latest {per_call} per call listed, at most {total} in all, the rest counted"),
            sip.messages,
        ),
        lim("sip_call_id", format!("present, at most {} bytes", crate::sip::dialog::MAX_CALL_ID_LEN), sip.no_call_id),
        lim("sip_media_endpoints", at_most(crate::sip::dialog::MAX_MEDIA_ENDPOINTS), sip.media_endpoints),
        lim("rtp_endpoints", at_most(super::MAX_MEDIA_ENDPOINTS), a.rtp_overflow),
        lim("ip_fragments", format!("at most {} datagrams, {} bytes", rl.max_datagrams, rl.max_bytes), r.evicted),
        lim("ip_fragments", format!("incomplete after {}", secs(rl.timeout_ns)), r.timed_out),
        lim("ip_fragments", "incomplete when the report was made".into(), a.reasm.in_flight() as u64),
        lim(
            "sctp_pieces",
            format!(
                "user messages joined from pieces: at most {} at once, {} bytes; a missing piece drops its message",
                reassembly::sctp::MAX_MESSAGES,
                reassembly::sctp::MAX_BYTES
            ),
            a.sctp.dropped,
        ),
        lim("tcp_streams", at_most(tl.max_streams), t.streams_refused),
        lim("tcp_streams", format!("idle for {}", secs(tl.idle_timeout_ns)), t.streams_expired),
        lim(
            "tcp_stream_bytes",
            format!("at most {} per stream, {} in all", tl.max_stream_bytes, tl.max_total_bytes),
            t.overflow_bytes,
        ),
        lim(
            "interfaces",
            format!("at most {} named (frames of others counted on the capture's own interface)", iface::MAX_IFACES),
            a.ifaces.refused,
        ),
        lim("processes", at_most(procs::DEFAULT_MAX_PROCESSES), a.procs.evicted),
        lim(
            "process_interfaces",
            format!("at most {} listed per process", procs::MAX_PROCESS_IFACES),
            a.procs.ifaces_unlisted(),
        ),
        lim("sockets", at_most(sockets::DEFAULT_MAX_SOCKETS), a.sockets.evicted),
        lim("kernel_totals", at_most(live::MAX_TOTALS), a.live.totals_refused),
        lim("tun_attachments", "waiting for their interface: at most 256".into(), a.live.tun_refused),
        lim("tunnels", at_most(tunnels::MAX_TUNNELS), a.tunnels.refused),
        lim("tunnel_depth", format!("at most {} tunnels deep", tunnels::MAX_DEPTH), a.tunnels.too_deep),
        lim(
            "tunnel_ids",
            format!("at most {} listed per tunnel, {} told apart", tunnels::MAX_IDS, tunnels::MAX_TOLD_IDS),
            a.tunnels.list.iter().map(|t| t.ids_untold).sum(),
        ),
    ];
    if a.budget.watched() {
        v.push(lim(
            "memory",
            format!(
                "state at most {} MiB of heap (with what its IKE exchange lists take in the report): past it no new flow, SA, call, tunnel, stream or listed message",
                a.budget.limit() >> 20
            ),
            a.budget.refused(a.refusals()),
        ));
    }
    if let Some(g) = x.idle_flow {
        v.push(lim("flows", format!("idle for {}", secs(g)), a.live.flows_expired));
    }
    if let Some(g) = x.idle_esp {
        v.push(lim("esp_sas", format!("idle for {}", secs(g)), a.esp.expired));
    }
    if x.ended_ike.is_some() || x.idle_flow.is_some() {
        v.push(lim("ike_sas", expiry_rule("deleted", x.ended_ike, x.idle_flow), a.ike.expired));
    }
    if x.ended_sip.is_some() || x.idle_flow.is_some() {
        v.push(lim("sip_calls", expiry_rule("terminated or failed", x.ended_sip, x.idle_flow), a.sip.expired()));
    }
    if let Some(g) = x.closed_socket {
        v.push(lim("sockets", format!("closed for {}", secs(g)), a.sockets.expired));
    }
    if let Some(g) = x.exited_process {
        v.push(lim("processes", format!("exited for {} without traffic", secs(g)), a.procs.expired));
    }
    v
}

fn expiry_rule(ended: &str, grace: Option<i64>, idle: Option<i64>) -> String {
    let secs = |ns: i64| ns / 1_000_000_000;
    match (grace, idle) {
        (Some(g), Some(i)) => format!("{ended} for {} s, or idle for {} s", secs(g), secs(i)),
        (Some(g), None) => format!("{ended} for {} s", secs(g)),
        (None, Some(i)) => format!("idle for {} s", secs(i)),
        (None, None) => "never".into(),
    }
}
