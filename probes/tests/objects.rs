//! Habit 2: every embedded object parses the way aya will parse it at load time, with the programs
//! (and their section kinds) and maps the loader expects, and map key/value sizes equal to the
//! Rust mirrors'. No root needed.

use std::collections::BTreeMap;
use std::mem::size_of;

use aya_obj::programs::{CgroupSockAddrAttachType, CgroupSockAttachType};
use aya_obj::{Object, ProgramSection};
use tuntrace_probes::layout::*;
use tuntrace_probes::TRACER_OBJ;

fn section_kind(s: &ProgramSection) -> String {
    match s {
        ProgramSection::SchedClassifier => "classifier".into(),
        ProgramSection::TracePoint => "tracepoint".into(),
        ProgramSection::RawTracePoint => "raw_tracepoint".into(),
        ProgramSection::CgroupSkb { attach_type } => format!("cgroup_skb {attach_type:?}"),
        ProgramSection::CgroupSock { attach_type } => format!("cgroup_sock {}", sock_attach(attach_type)),
        ProgramSection::CgroupSockAddr { attach_type } => format!("cgroup_sock_addr {}", addr_attach(attach_type)),
        other => format!("unexpected {other:?}"),
    }
}

fn sock_attach(a: &CgroupSockAttachType) -> &'static str {
    match a {
        CgroupSockAttachType::SockCreate => "sock_create",
        CgroupSockAttachType::SockRelease => "sock_release",
        CgroupSockAttachType::PostBind4 => "post_bind4",
        CgroupSockAttachType::PostBind6 => "post_bind6",
    }
}

fn addr_attach(a: &CgroupSockAddrAttachType) -> String {
    format!("{a:?}").to_lowercase()
}

#[test]
fn tracer_object_has_the_expected_programs() {
    let obj = Object::parse(TRACER_OBJ).expect("tracer.bpf.o parses as aya will parse it");
    let programs: BTreeMap<&str, String> =
        obj.programs.iter().map(|(name, p)| (name.as_str(), section_kind(&p.section))).collect();
    let tp = "tracepoint".to_string();
    let expected: BTreeMap<&str, String> = [
        ("tc_ingress", "classifier".to_string()),
        ("tc_egress", "classifier".to_string()),
        ("cgroup_skb_ingress", "cgroup_skb Some(Ingress)".to_string()),
        ("sock_create", "cgroup_sock sock_create".to_string()),
        ("sock_release", "cgroup_sock sock_release".to_string()),
        ("post_bind4", "cgroup_sock post_bind4".to_string()),
        ("post_bind6", "cgroup_sock post_bind6".to_string()),
        ("connect4", "cgroup_sock_addr connect4".to_string()),
        ("connect6", "cgroup_sock_addr connect6".to_string()),
        ("sock_send_length", "raw_tracepoint".to_string()),
        ("sock_recv_length", "raw_tracepoint".to_string()),
        ("inet_sock_set_state", tp.clone()),
        ("sys_exit_ioctl", tp.clone()),
        ("sched_process_exec", tp.clone()),
        ("sched_process_exit", tp),
    ]
    .into_iter()
    .collect();
    assert_eq!(programs, expected);
    assert_eq!(obj.license.to_str().unwrap(), "GPL", "helpers like bpf_probe_read_kernel need a GPL license");
}

#[test]
fn tracer_object_has_the_expected_maps() {
    let obj = Object::parse(TRACER_OBJ).expect("tracer.bpf.o parses");
    // (name, BPF_MAP_TYPE_*, key size, value size)
    let u32s = size_of::<u32>() as u32;
    let u64s = size_of::<u64>() as u32;
    let sz = |n: usize| n as u32;
    let expected: BTreeMap<&str, (u32, u32, u32)> = [
        (MAP_EVENTS, (27, 0, 0)),
        (MAP_STATS, (6, u32s, u64s)),
        (MAP_SOCKETS, (1, u64s, sz(size_of::<SockInfo>()))),
        (MAP_SENDERS, (9, sz(size_of::<SenderKey>()), sz(size_of::<SenderVal>()))),
        (MAP_FOREIGN, (9, u64s, 1)),
        (MAP_MSG_SEEN, (6, u32s, 24)),
        (MAP_PROCS, (1, u32s, u64s)),
        (MAP_SOCK_USERS, (9, sz(size_of::<SockUser>()), u64s)),
        (MAP_TRACED, (1, u32s, sz(size_of::<IfaceCfg>()))),
        (MAP_TRACED_FAST, (2, u32s, u32s)),
        (MAP_IFACE_FLOWS, (5, sz(size_of::<FlowKey>()), sz(size_of::<FlowVal>()))),
        (MAP_SOCK_FLOWS, (5, sz(size_of::<FlowKey>()), sz(size_of::<FlowVal>()))),
        (MAP_IFACE_SLOTS, (6, u32s, sz(size_of::<FlowSlot>()))),
        (MAP_SOCK_SLOTS, (6, u32s, sz(size_of::<FlowSlot>()))),
        (MAP_ESP_SAS, (1, sz(size_of::<EspKey>()), sz(size_of::<EspVal>()))),
        (MAP_OVPN_FLOWS, (9, sz(size_of::<OvpnKey>()), u32s)),
        (MAP_OVPN_PORTS, (2, u32s, OVPN_PORTS_BYTES)),
        (MAP_OVPN_TCP, (9, sz(size_of::<OvpnKey>()), OVPN_STREAM_BYTES)),
        // Per-CPU room for a new esp_sas entry and an OpenVPN stream key, off the stack.
        ("esp_new", (6, u32s, sz(size_of::<EspVal>()))),
        ("ovpn_key_new", (6, u32s, sz(size_of::<OvpnKey>()))),
        // The record and its data, rounded up to the record's 8-byte alignment.
        (MAP_SCRATCH, (6, u32s, (sz(size_of::<PktRec>()) + MAX_SNAPLEN).next_multiple_of(8))),
    ]
    .into_iter()
    .collect();
    let maps: BTreeMap<&str, (u32, u32, u32)> = obj
        .maps
        .iter()
        .filter(|(name, _)| !name.starts_with('.'))
        .map(|(name, m)| (name.as_str(), (m.map_type(), m.key_size(), m.value_size())))
        .collect();
    assert_eq!(maps, expected);
    let fast = obj.maps.get(MAP_TRACED_FAST).expect("traced_fast");
    assert_eq!(fast.max_entries(), FAST_IFINDEX, "the loader writes every ifindex below FAST_IFINDEX there");
    for name in [MAP_IFACE_SLOTS, MAP_SOCK_SLOTS] {
        assert_eq!(
            obj.maps.get(name).expect("slots").max_entries(),
            FLOW_SLOTS,
            "the loader reads FLOW_SLOTS of {name}"
        );
    }
    assert_eq!(obj.maps.get(MAP_OVPN_FLOWS).expect("ovpn_flows").max_entries(), MAX_OVPN_FLOWS);
    // The globals the loader sets live in .rodata.
    assert!(obj.maps.keys().any(|k| k.starts_with(".rodata")), "no .rodata: {:?}", obj.maps.keys());
}
