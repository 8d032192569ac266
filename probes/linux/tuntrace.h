/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * Everything the BPF programs share with userspace: record layouts (ring buffer `events`), map keys
 * and values, and the constants both sides name. probes/src/layout.rs mirrors each struct with
 * #[repr(C)] and tests its size and offsets; change both together.
 *
 * Layout rules, so that the Rust mirrors need no guesswork: every struct is padded explicitly
 * (no compiler-inserted holes, so a key zeroed once hashes the same on both sides), u64 fields sit
 * on 8-byte offsets, addresses are 16 bytes (IPv4 in the first 4, network order), ports are in
 * host order, timestamps are bpf_ktime_get_boot_ns() (CLOCK_BOOTTIME).
 */
#ifndef TUNTRACE_H
#define TUNTRACE_H

/* Bumped whenever a layout below changes; userspace refuses records of another version. */
#define TT_ABI_VERSION 3

#define TT_COMM_LEN 16
#define TT_IFNAME_LEN 16
#define TT_PATH_LEN 256
/* Largest packet head a PKT record carries (the snaplen global is clamped to it). */
#define TT_MAX_SNAPLEN 1500

/* Record types (tt_hdr.type). */
#define TT_REC_SOCK 1
#define TT_REC_PROC 2
#define TT_REC_TUN 3
#define TT_REC_PKT 4

/* tt_sock_rec.op */
#define TT_SOCK_CREATE 1
#define TT_SOCK_BIND 2
#define TT_SOCK_CONNECT 3
#define TT_SOCK_CLOSE 4
#define TT_SOCK_TCP_STATE 5
/* A process other than the creator used the socket for the first time (inherited across fork,
 * passed over a unix socket, shared). */
#define TT_SOCK_OWNER 6
/* A socket of our netns first seen when a process sends or receives on it: an accepted TCP connection
 * (its socket is made in softirq, no process hook sees it being made) or a socket that existed before
 * the tracer and was not seeded. tgid 0: the OWNER record that follows names the process. */
#define TT_SOCK_LEARNED 7

/* tt_proc_rec.op */
#define TT_PROC_EXEC 1
#define TT_PROC_EXIT 2

/* Directions, as the interface sees the packet. */
#define TT_DIR_IN 1
#define TT_DIR_OUT 2

/* Where a PKT record was sampled. */
#define TT_HOOK_TC 1

/* tt_pkt_rec.flags: this datagram made its flow an OpenVPN candidate (see `ovpn_flows`). */
#define TT_PKT_OVPN_START 1

/* What an esp_sas entry counts (tt_esp_key.encap): ESP, raw or in UDP, and the two encrypted
 * tunnels whose messages carry an index the way ESP carries an SPI. */
#define TT_ESP_RAW 1
#define TT_ESP_UDP 2
#define TT_ESP_WG 3   /* WireGuard: spi = the message's index, msg = its type */
#define TT_ESP_OVPN 4 /* OpenVPN over UDP: spi = peer ID (P_DATA_V2) or 0, msg = opcode/key ID byte */
#define TT_ESP_GTPU 5 /* GTP-U (UDP 2152): spi = TEID, msg = message type */
#define TT_ESP_VXLAN 6 /* VXLAN (UDP 4789, 8472): spi = VNI */
#define TT_ESP_GENEVE 7 /* Geneve (UDP 6081): spi = VNI */
#define TT_ESP_GRE 8 /* GRE (IP protocol 47): spi = key or PPTP call ID, msg = TT_GRE_* bits */
#define TT_ESP_IPIP 9 /* IP in IP (protocols 4, 41): spi = 0, msg = the protocol */
#define TT_ESP_OVPN_TCP 10 /* OpenVPN over TCP 1194, per record: as TT_ESP_OVPN, bytes with the record's 2-byte length */
#define TT_GRE_KEY 1
#define TT_GRE_PPTP 2
#define TT_GRE_ERSPAN 4

/* Per-CPU loss and health counters, indexes of the `stats` PERCPU_ARRAY. */
#define TT_STAT_RING_FULL 0       /* a record or sample the ring buffer had no room for */
#define TT_STAT_SOCKETS_FULL 1    /* `sockets` insert failed: that socket is not attributed */
#define TT_STAT_IFACE_FLOWS_FULL 2
#define TT_STAT_SOCK_FLOWS_FULL 3
#define TT_STAT_ESP_FULL 4
#define TT_STAT_SENDERS_FULL 5    /* a confirmation `senders` could not store: its packets fall back */
#define TT_STAT_PROCS_FULL 6      /* a process whose exit will not be reported */
/* 7: unused (was the TUNSETIFF table, gone with sys_enter_ioctl) */
#define TT_STAT_SAMPLED 8         /* PKT records written (not a loss: the denominator) */
#define TT_STAT_RECORDS 9         /* other records written */
#define TT_STAT_MAX 16

/* Map sizes. The loader may change them before load; these are the defaults. */
#define TT_MAX_SOCKETS 65536
#define TT_MAX_PROCS 16384
#define TT_MAX_SOCK_USERS 65536
#define TT_MAX_SENDERS 65536
#define TT_MAX_FOREIGN 16384
#define TT_MAX_TRACED 256
/* Interfaces with a smaller ifindex are looked up in an array (`traced_fast`). */
#define TT_FAST_IFINDEX 4096
#define TT_MAX_IFACE_FLOWS 65536
#define TT_MAX_SOCK_FLOWS 65536
/* Slots of `iface_slots` and `sock_slots` (per CPU each). */
#define TT_FLOW_SLOTS 256
#define TT_MAX_ESP_SAS 16384

/* The start of every ring-buffer record. */
struct tt_hdr {
	__u16 type; /* TT_REC_* */
	__u16 len;  /* bytes of the whole record, this header included */
	__u32 cpu;
	__u64 ts;   /* bpf_ktime_get_boot_ns() */
};

/* A socket event, learned in the process that acted (except TCP_STATE and LEARNED, which happen in
 * softirq: their tgid is the socket's owner as far as the kernel knows, and tid is 0). */
struct tt_sock_rec {
	struct tt_hdr hdr;
	__u64 cookie;
	__u64 netns_cookie;
	__u64 start_ns;     /* process start (boot-time ns) of tgid: tells reused pids apart; 0 if unknown */
	__u32 tgid;
	__u32 tid;
	__u32 uid;
	__u8 op;            /* TT_SOCK_* */
	__u8 family;        /* AF_INET, AF_INET6 */
	__u8 protocol;      /* IPPROTO_* */
	__u8 sock_type;     /* SOCK_STREAM, SOCK_DGRAM, ... */
	__u8 old_state;     /* TCP_STATE only */
	__u8 new_state;
	__u16 lport;
	__u16 rport;
	__u16 _pad0;
	__u32 bound_ifindex;
	__u32 prev_tgid;    /* OWNER: the socket's user before this one */
	__u8 laddr[16];
	__u8 raddr[16];
	char comm[TT_COMM_LEN];
};

struct tt_proc_rec {
	struct tt_hdr hdr;
	__u64 start_ns;
	__u32 tgid;
	__u32 old_tid;      /* EXEC: the thread that called execve (it takes over the tgid) */
	__u32 uid;
	__u8 op;            /* TT_PROC_* */
	__u8 _pad0[3];
	char comm[TT_COMM_LEN];
	char filename[TT_PATH_LEN]; /* EXEC: the path given to execve */
};

/* A TUNSETIFF that succeeded: a TUN/TAP device created or attached to. */
struct tt_tun_rec {
	struct tt_hdr hdr;
	__u64 start_ns;
	__u32 tgid;
	__u32 tid;
	__u32 uid;
	__u16 flags;        /* ifr_flags: IFF_TUN 0x1, IFF_TAP 0x2, IFF_NO_PI 0x1000, IFF_MULTI_QUEUE 0x100 */
	__u16 _pad0;
	char ifname[TT_IFNAME_LEN]; /* as the kernel wrote it back (the final name, "tun%d" resolved) */
	char comm[TT_COMM_LEN];
};

/* The head of a packet; data (cap_len bytes) follows and starts at the IP header (LINKTYPE_RAW). */
struct tt_pkt_rec {
	struct tt_hdr hdr;
	__u64 cookie;       /* the local socket that sent or will receive it; 0 if none (forwarded) */
	__u32 ifindex;
	__u32 tgid;         /* egress: the task current when tc ran, a candidate the loader resolves
			     * (see `senders`); ingress: 0. The loader hands out the attributed process. */
	__u32 orig_len;     /* from the IP header on */
	__u32 cap_len;
	__u8 direction;     /* TT_DIR_* */
	__u8 hook;          /* TT_HOOK_* */
	__u8 flags;         /* TT_PKT_* */
	__u8 _pad0;
	__u32 tid;          /* egress: the candidate thread; ingress: 0 */
};

/* `traced`: interfaces whose packets are counted and sampled (ifindex -> this). */
struct tt_iface_cfg {
	__u32 l2_len;       /* bytes before the IP header in tc: 0 for TUN (ARPHRD_NONE), 14 for Ethernet */
	__u32 _pad0;
};

/* Key of `iface_flows` (tc, both directions) and of `sock_flows` (cgroup_skb ingress).
 * iface_flows: egress keys carry the cookie of the skb's local socket (0 if forwarded) and the task
 * that was current when tc ran (tgid, tid): a candidate sender, confirmed or not by `senders`;
 * ingress keys have cookie, tgid and tid 0. sock_flows: the receiving socket's cookie, tgid and tid
 * 0 (the current task in softirq says nothing about the receiver). The loader resolves tgid. */
struct tt_flow_key {
	__u64 cookie;
	__u32 ifindex;
	__u32 tgid;
	__u32 tid;
	__u8 direction;
	__u8 protocol;
	__u8 family;        /* 4 or 6 (the IP version, not AF_*) */
	__u8 _pad0;
	__u16 sport;
	__u16 dport;
	__u8 src[16];
	__u8 dst[16];
	__u32 _pad1;
};

/* first_ns, last_ns: CLOCK_MONOTONIC_COARSE (bpf_ktime_get_coarse_ns, the tick's resolution),
 * here and in tt_esp_val; the loader reports them as boot time. */
struct tt_flow_val {
	__u64 packets;
	__u64 bytes;        /* skb->len: from the link header in tc, from the IP header in cgroup_skb */
	__u64 first_ns;
	__u64 last_ns;
};

/* `iface_slots`, `sock_slots`: a per-CPU array in front of `iface_flows` and `sock_flows`. A flow
 * whose key hashes (flow_slot_index) to a slot that is still free takes the slot for good (keys
 * are never freed or moved, so totals stay exact and only grow); every later packet of it on this
 * CPU is counted there, without the hash map's key hashing and bucket walk. A flow whose slot is
 * held by another goes to the hash map as before. A flow's total is its slots' plus its hash
 * entry's, summed over CPUs. `val.packets` is written last: a slot with packets 0 is free. */
struct tt_flow_slot {
	struct tt_flow_key key;
	struct tt_flow_val val;
};

/* `esp_sas`: one ESP SA seen on a traced interface in one direction. */
struct tt_esp_key {
	__u32 ifindex;
	__u32 spi;          /* host order */
	__u8 direction;
	__u8 encap;         /* TT_ESP_* */
	__u8 family;        /* 4 or 6 */
	__u8 msg;           /* 0 for ESP; TT_ESP_WG, TT_ESP_OVPN: see there */
	__u16 sport;        /* UDP ports, 0 for raw ESP */
	__u16 dport;
	__u8 src[16];
	__u8 dst[16];
};

/* A plain hash (not per-CPU) guarded by a spin lock: sequence gaps need one ordered view. */
struct tt_esp_val {
	struct bpf_spin_lock lock; /* a __u32 in userspace's view */
	__u32 first_seq;
	__u32 last_seq;     /* highest seen */
	__u32 _pad0;
	__u64 packets;
	__u64 bytes;
	__u64 gaps;         /* sequence numbers skipped (last+1 .. seq-1); never decreases */
	__u64 repeats;      /* packets whose seq was seen before, or is 64 or more behind the highest */
	__u64 first_ns;
	__u64 last_ns;
	__u64 reordered;    /* late packets (behind the highest, not seen before): each one takes a
			     * number back out of `gaps` (one below first_seq is added to gaps first) */
	__u64 window;       /* the numbers seen among the 64 up to last_seq (bit 0: last_seq) */
};

/* `sockets`: what the kernel knows of a socket of our netns (cookie -> this). */
struct tt_sock_info {
	__u64 netns_cookie;
	__u64 creator_start_ns;
	__u32 creator_tgid; /* 0: unknown (learned from its first use) */
	__u32 last_tx_tgid; /* the process that last sent on it (or connected it), 0 if none yet */
	__u32 last_rx_tgid;
	__u32 last_tx_tid;  /* the thread of last_tx_tgid that sent, 0 after a connect() */
	__u8 family;
	__u8 sock_type;
	__u8 protocol;
	__u8 released;      /* close() seen; a TCP socket stays until TCP_CLOSE */
	__u32 _pad0;
};

/* `sock_users` key: one (socket, process) pair already announced with an OWNER record. */
struct tt_sock_user {
	__u64 cookie;
	__u32 tgid;
	__u32 _pad0;
};

/* `senders` (LRU): thread `tid` of process `tgid` sent on socket `cookie` (sock_send_length, in
 * process context). A tc egress count or sample whose candidate (cookie, tgid, tid) is here
 * belongs to tgid. */
struct tt_sender_key {
	__u64 cookie;
	__u32 tgid;
	__u32 tid;
};

struct tt_sender_val {
	__u64 start_ns;     /* process start (boot-time ns): tells a reused pid apart */
	__u64 first_ns;     /* first send seen */
};

/* `ovpn_flows` (LRU): UDP and TCP flows off port 1194 that began with what may be an OpenVPN
 * client's hard reset (key ID 0), one key per direction. The kernel inserts TT_OVPN_CANDIDATE and from
 * then on counts the flow's datagrams as OpenVPN messages (esp_sas, TT_ESP_OVPN) and samples
 * its control messages; userspace reads the reset sample with replay's test and, when it is not
 * one, writes TT_OVPN_NOT: the kernel stops, and userspace drops what was counted meanwhile. */
struct tt_ovpn_key {
	__u8 family;        /* 4 or 6 */
	__u8 proto;         /* 17 (UDP) or 6 (TCP: the reset is the stream's first record) */
	__u8 _pad0[2];
	__u16 sport;        /* host order, as the packet goes */
	__u16 dport;
	__u8 src[16];
	__u8 dst[16];
};

/* `ovpn_ports` (one element): a bit per UDP port that an OpenVPN candidate used, set by the
 * kernel. Only datagrams to or from a marked port are looked up in `ovpn_flows`, so other UDP
 * pays one bit test (a datagram whose first byte may start a reset is looked up anyway). */
struct tt_ovpn_ports {
	__u64 bits[1024];
};

/* `ovpn_tcp` (LRU, keyed by tt_ovpn_key as the segment goes): where the kernel stands in one
 * direction of an OpenVPN-over-TCP stream, whose packets are records behind a 2-byte length. */
struct tt_ovpn_stream {
	__u32 next_seq;     /* the sequence number after the last byte followed */
	__u32 body;         /* bytes of the current record still to come after its head */
	__u8 have;          /* bytes of the next record's head gathered so far (0-5) */
	__u8 lost;          /* out of step (a hole, an overlap): waiting for a segment that starts a record */
	__u8 head[6];       /* that head: the length, the opcode byte, 3 more (P_DATA_V2's peer ID) */
};

#define TT_OVPN_CANDIDATE 1
#define TT_OVPN_NOT 2
#define TT_MAX_OVPN_FLOWS 16384

#endif /* TUNTRACE_H */
