// SPDX-License-Identifier: GPL-2.0
/*
 * tuntrace's live tracer: who owns each socket, which process sends or receives each packet on
 * the traced interfaces, exact per-flow and per-ESP-SA counts, TUN device creation, and the heads
 * of IKE and SIP packets.
 *
 * The rule everything here follows (docs/PLATFORM.md): in packet context the current task is
 * whoever happens to run, so a packet is never attributed to it. tc egress only notes it as a
 * candidate: the count key (and the sample) carries the socket's cookie and the current thread.
 * `sock_send_length`, which runs in the sending thread right after each send returns, confirms
 * "thread tid of process tgid sent on socket cookie" into `senders`. The loader resolves when it
 * reads: a candidate that `senders` confirms is the sender; any other (softirq, a TCP
 * retransmission, ksoftirqd, "swapper") gives the packet to the socket's owner, which process
 * context keeps in `sockets` (last sender, else last receiver, else creator). Ingress packets are
 * counted per receiving socket (cgroup_skb, exact cookie at delivery) and go to its owner too.
 *
 * Deferring the decision is what makes the hot path cheap: tc does one per-CPU map update per
 * packet and no socket lookup, and no syscall tracepoint watches the sends (enabling any
 * syscalls:sys_enter_* / sys_exit_* puts every syscall of every task on the slow path).
 *
 * The tracer traces one network namespace (the loader's). cgroup hooks and tracepoints see every
 * namespace, so everything of other namespaces is dropped here, by netns cookie, before it costs
 * a record or a map entry: only sockets of our namespace enter `sockets`, and every later hook
 * works from that map.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "tuntrace.h"

char LICENSE[] SEC("license") = "GPL";

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define IPPROTO_ESP 50
#define IPPROTO_FRAGMENT 44
#define TUNSETIFF 0x400454ca
#define EEXIST 17
/* tcx verdict that hands the packet to the next program unchanged: we only observe. */
#define TCX_NEXT -1
#define TCP_CLOSE 7
#define PORT_IKE 500
#define PORT_NATT 4500
#define PORT_SIP 5060
#define PORT_SIPS 5061

/* Set by the loader before load (EbpfLoader::set_global). */
volatile const __u64 tt_netns_cookie = 0;
volatile const __u32 tt_snaplen = 256;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 22); /* resized by the loader */
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TT_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TT_MAX_SOCKETS);
	__type(key, __u64);
	__type(value, struct tt_sock_info);
} sockets SEC(".maps");

/* Confirmed senders, written in process context (sock_send_length) and read by the loader to
 * resolve tc's candidates. LRU: a confirmation must outlive its process (a process that lives a
 * few milliseconds), and the loader keeps what it has read; sized so that eviction needs that many
 * (socket, thread) pairs between two reads. An evicted pair's packets fall back to the socket's
 * owner, which for the common case (one process sends) is the same process. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, TT_MAX_SENDERS);
	__type(key, struct tt_sender_key);
	__type(value, struct tt_sender_val);
} senders SEC(".maps");

/* Processes named in a record (tgid -> start_boottime): only their exits are reported. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TT_MAX_PROCS);
	__type(key, __u32);
	__type(value, __u64);
} procs SEC(".maps");

/* (socket, process) pairs already announced: an OWNER record once per pair, not per packet.
 * LRU: an evicted pair only costs a repeated OWNER record. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, TT_MAX_SOCK_USERS);
	__type(key, struct tt_sock_user);
	__type(value, __u64);
} sock_users SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TT_MAX_TRACED);
	__type(key, __u32);
	__type(value, struct tt_iface_cfg);
} traced SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, TT_MAX_IFACE_FLOWS);
	__type(key, struct tt_flow_key);
	__type(value, struct tt_flow_val);
} iface_flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, TT_MAX_SOCK_FLOWS);
	__type(key, struct tt_flow_key);
	__type(value, struct tt_flow_val);
} sock_flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TT_MAX_ESP_SAS);
	__type(key, struct tt_esp_key);
	__type(value, struct tt_esp_val);
} esp_sas SEC(".maps");

/* A PKT record is built here: too large for the 512-byte stack. */
struct pkt_scratch {
	struct tt_pkt_rec rec;
	__u8 data[TT_MAX_SNAPLEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pkt_scratch);
} scratch SEC(".maps");

static __always_inline void stat_inc(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &idx);

	if (v)
		*v += 1;
}

static __always_inline void hdr_fill(struct tt_hdr *h, __u16 type, __u16 len)
{
	h->type = type;
	h->len = len;
	h->cpu = bpf_get_smp_processor_id();
	h->ts = bpf_ktime_get_boot_ns();
}

/* The start time of the current process (its group leader), to tell reused pids apart. */
static __always_inline __u64 current_start_ns(void)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();

	return BPF_CORE_READ(task, group_leader, start_boottime);
}

static __always_inline int current_in_our_netns(void)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();

	return BPF_CORE_READ(task, nsproxy, net_ns, net_cookie) == tt_netns_cookie;
}

/* Remember that a record named this process, so that its exit is reported too. */
static __always_inline void note_proc(__u32 tgid, __u64 start_ns)
{
	if (bpf_map_lookup_elem(&procs, &tgid))
		return;
	if (bpf_map_update_elem(&procs, &tgid, &start_ns, BPF_ANY))
		stat_inc(TT_STAT_PROCS_FULL);
}

static __always_inline struct tt_sock_rec *sock_rec_new(__u8 op, __u64 cookie, const struct tt_sock_info *info)
{
	struct tt_sock_rec *r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);

	if (!r) {
		stat_inc(TT_STAT_RING_FULL);
		return NULL;
	}
	__builtin_memset(r, 0, sizeof(*r));
	hdr_fill(&r->hdr, TT_REC_SOCK, sizeof(*r));
	r->op = op;
	r->cookie = cookie;
	if (info) {
		r->netns_cookie = info->netns_cookie;
		r->family = info->family;
		r->sock_type = info->sock_type;
		r->protocol = info->protocol;
	}
	return r;
}

/* The acting process: only for hooks that run in it (process context). */
static __always_inline void sock_rec_current(struct tt_sock_rec *r)
{
	__u64 pt = bpf_get_current_pid_tgid();

	r->tgid = pt >> 32;
	r->tid = (__u32)pt;
	r->uid = (__u32)bpf_get_current_uid_gid();
	r->start_ns = current_start_ns();
	bpf_get_current_comm(r->comm, sizeof(r->comm));
	note_proc(r->tgid, r->start_ns);
}

static __always_inline void sock_rec_submit(struct tt_sock_rec *r)
{
	bpf_ringbuf_submit(r, 0);
	stat_inc(TT_STAT_RECORDS);
}

/* Addresses of a kernel socket, read through CO-RE (tracepoint paths). */
static __always_inline void sock_rec_addrs_sk(struct tt_sock_rec *r, const struct sock *sk)
{
	r->lport = BPF_CORE_READ(sk, __sk_common.skc_num);
	r->rport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	r->bound_ifindex = BPF_CORE_READ(sk, __sk_common.skc_bound_dev_if);
	if (BPF_CORE_READ(sk, __sk_common.skc_family) == AF_INET) {
		__be32 l = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
		__be32 d = BPF_CORE_READ(sk, __sk_common.skc_daddr);

		__builtin_memcpy(r->laddr, &l, 4);
		__builtin_memcpy(r->raddr, &d, 4);
	} else {
		bpf_core_read(r->laddr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
		bpf_core_read(r->raddr, 16, &sk->__sk_common.skc_v6_daddr);
	}
}

/* Addresses of a struct bpf_sock that is not a sock program's context (no attach-type limits). */
static __always_inline void sock_rec_addrs_bpf_sock(struct tt_sock_rec *r, const struct bpf_sock *s)
{
	r->lport = s->src_port;
	r->rport = bpf_ntohs(s->dst_port);
	r->bound_ifindex = s->bound_dev_if;
	if (s->family == AF_INET) {
		__u32 l = s->src_ip4, d = s->dst_ip4;

		__builtin_memcpy(r->laddr, &l, 4);
		__builtin_memcpy(r->raddr, &d, 4);
	} else {
		__u32 a[4];

		a[0] = s->src_ip6[0];
		a[1] = s->src_ip6[1];
		a[2] = s->src_ip6[2];
		a[3] = s->src_ip6[3];
		__builtin_memcpy(r->laddr, a, 16);
		a[0] = s->dst_ip6[0];
		a[1] = s->dst_ip6[1];
		a[2] = s->dst_ip6[2];
		a[3] = s->dst_ip6[3];
		__builtin_memcpy(r->raddr, a, 16);
	}
}

/*
 * Process `tgid` (current) uses the socket: announce it the first time it does, if it is not the
 * creator (OWNER, once per (socket, process), not per packet, however processes take turns).
 * `prev` is the socket's user before it.
 */
static __always_inline void note_owner(__u64 cookie, struct tt_sock_info *info, __u32 tgid, __u32 prev,
				       const struct sock *sk)
{
	if (tgid == info->creator_tgid)
		return;
	/* A socket learned from its first use has no creator: its first user stands in for one. */
	if (!info->creator_tgid)
		info->creator_tgid = tgid;

	struct tt_sock_user u = { .cookie = cookie, .tgid = tgid };
	__u64 now = bpf_ktime_get_boot_ns();

	if (bpf_map_lookup_elem(&sock_users, &u))
		return;
	bpf_map_update_elem(&sock_users, &u, &now, BPF_ANY);

	struct tt_sock_rec *r = sock_rec_new(TT_SOCK_OWNER, cookie, info);

	if (!r)
		return;
	sock_rec_current(r);
	r->prev_tgid = prev;
	if (sk)
		sock_rec_addrs_sk(r, sk);
	sock_rec_submit(r);
}

static __always_inline __u32 prev_user(const struct tt_sock_info *info)
{
	return info->last_tx_tgid ? info->last_tx_tgid : info->creator_tgid;
}

/* ---- sockets: process-context hooks ---- */

SEC("cgroup/sock_create")
int sock_create(struct bpf_sock *ctx)
{
	if (ctx->family != AF_INET && ctx->family != AF_INET6)
		return 1;
	__u64 netns = bpf_get_netns_cookie(ctx);

	if (netns != tt_netns_cookie)
		return 1;
	/* Asking for the cookie is what creates it: every later hook keys on it. */
	__u64 cookie = bpf_get_socket_cookie(ctx);
	__u64 pt = bpf_get_current_pid_tgid();
	struct tt_sock_info info = {
		.netns_cookie = netns,
		.creator_start_ns = current_start_ns(),
		.creator_tgid = pt >> 32,
		.family = ctx->family,
		.sock_type = ctx->type,
		.protocol = ctx->protocol,
	};

	if (bpf_map_update_elem(&sockets, &cookie, &info, BPF_ANY))
		stat_inc(TT_STAT_SOCKETS_FULL);

	struct tt_sock_rec *r = sock_rec_new(TT_SOCK_CREATE, cookie, &info);

	if (!r)
		return 1;
	sock_rec_current(r);
	r->bound_ifindex = ctx->bound_dev_if;
	sock_rec_submit(r);
	return 1;
}

SEC("cgroup/sock_release")
int sock_release(struct bpf_sock *ctx)
{
	__u64 cookie = bpf_get_socket_cookie(ctx);
	struct tt_sock_info *info = bpf_map_lookup_elem(&sockets, &cookie);

	if (!info)
		return 1;
	struct tt_sock_rec *r = sock_rec_new(TT_SOCK_CLOSE, cookie, info);

	if (r) {
		sock_rec_current(r);
		/* A release program may read the peer but not the local address. */
		r->bound_ifindex = ctx->bound_dev_if;
		r->rport = bpf_ntohs(ctx->dst_port);
		if (ctx->family == AF_INET) {
			__u32 d = ctx->dst_ip4;

			__builtin_memcpy(r->raddr, &d, 4);
		}
		sock_rec_submit(r);
	}
	/* A TCP socket outlives close(): the FIN exchange and an orphaned socket still send and
	 * receive for its last owner. It leaves the table when it reaches TCP_CLOSE. */
	if (ctx->protocol == IPPROTO_TCP && ctx->state != TCP_CLOSE) {
		info->released = 1;
		return 1;
	}
	bpf_map_delete_elem(&sockets, &cookie);
	return 1;
}

static __always_inline int on_post_bind(struct bpf_sock *ctx, int v6)
{
	__u64 cookie = bpf_get_socket_cookie(ctx);
	struct tt_sock_info *info = bpf_map_lookup_elem(&sockets, &cookie);

	if (!info)
		return 1;
	struct tt_sock_rec *r = sock_rec_new(TT_SOCK_BIND, cookie, info);

	if (!r)
		return 1;
	sock_rec_current(r);
	/* bound_dev_if is not readable here (only in create/release). */
	r->lport = ctx->src_port;
	if (v6) {
		__u32 a[4];

		a[0] = ctx->src_ip6[0];
		a[1] = ctx->src_ip6[1];
		a[2] = ctx->src_ip6[2];
		a[3] = ctx->src_ip6[3];
		__builtin_memcpy(r->laddr, a, 16);
	} else {
		__u32 l = ctx->src_ip4;

		__builtin_memcpy(r->laddr, &l, 4);
	}
	sock_rec_submit(r);
	return 1;
}

SEC("cgroup/post_bind4")
int post_bind4(struct bpf_sock *ctx)
{
	return on_post_bind(ctx, 0);
}

SEC("cgroup/post_bind6")
int post_bind6(struct bpf_sock *ctx)
{
	return on_post_bind(ctx, 1);
}

/* connect(): runs before the connection, in the connecting process; the remote is the user's.
 * The connecting process becomes the socket's last sender (no thread: nothing was sent). */
static __always_inline int on_connect(struct bpf_sock_addr *ctx, int v6)
{
	__u64 cookie = bpf_get_socket_cookie(ctx);
	struct tt_sock_info *info = bpf_map_lookup_elem(&sockets, &cookie);

	if (!info)
		return 1;
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u32 prev = prev_user(info);

	info->last_tx_tgid = tgid;
	info->last_tx_tid = 0;
	note_owner(cookie, info, tgid, prev, NULL);
	struct tt_sock_rec *r = sock_rec_new(TT_SOCK_CONNECT, cookie, info);

	if (!r)
		return 1;
	sock_rec_current(r);
	struct bpf_sock *sk = ctx->sk;

	if (sk)
		sock_rec_addrs_bpf_sock(r, sk);
	r->rport = bpf_ntohs((__u16)ctx->user_port);
	if (v6) {
		__u32 a[4];

		a[0] = ctx->user_ip6[0];
		a[1] = ctx->user_ip6[1];
		a[2] = ctx->user_ip6[2];
		a[3] = ctx->user_ip6[3];
		__builtin_memcpy(r->raddr, a, 16);
	} else {
		__u32 d = ctx->user_ip4;

		__builtin_memset(r->raddr, 0, 16);
		__builtin_memcpy(r->raddr, &d, 4);
	}
	sock_rec_submit(r);
	return 1;
}

SEC("cgroup/connect4")
int connect4(struct bpf_sock_addr *ctx)
{
	return on_connect(ctx, 0);
}

SEC("cgroup/connect6")
int connect6(struct bpf_sock_addr *ctx)
{
	return on_connect(ctx, 1);
}

/*
 * A socket of our netns that no hook saw being made, used by the current process: an accepted TCP
 * connection (made in softirq; its cookie was generated by the packet hook that counted its first
 * packet) or a socket from before the tracer that the seed missed. Runs only for a non-zero cookie
 * missing from `sockets`, so the netns reads happen once per socket of ours, not per send.
 */
static __always_inline struct tt_sock_info *learn_socket(const struct sock *sk, __u64 cookie, __u16 family,
							 __u16 protocol)
{
	if (BPF_CORE_READ(sk, __sk_common.skc_net.net, net_cookie) != tt_netns_cookie)
		return NULL;
	struct tt_sock_info info = {
		.netns_cookie = tt_netns_cookie,
		.family = family,
		.sock_type = BPF_CORE_READ(sk, sk_type),
		.protocol = protocol,
	};

	if (bpf_map_update_elem(&sockets, &cookie, &info, BPF_NOEXIST)) {
		/* Learned meanwhile on another CPU, or the table is full. */
		struct tt_sock_info *known = bpf_map_lookup_elem(&sockets, &cookie);

		if (!known)
			stat_inc(TT_STAT_SOCKETS_FULL);
		return known;
	}
	struct tt_sock_rec *r = sock_rec_new(TT_SOCK_LEARNED, cookie, &info);

	if (r) {
		sock_rec_addrs_sk(r, sk);
		sock_rec_submit(r);
	}
	return bpf_map_lookup_elem(&sockets, &cookie);
}

static __always_inline __u64 sk_cookie(const struct sock *sk)
{
	return BPF_CORE_READ(sk, __sk_common.skc_cookie.counter);
}

/*
 * sock_send_length: in the sending thread, right after each send on a socket returns (send,
 * sendto, sendmsg, sendmmsg, write, writev, sendfile and splice, io_uring, kernel senders alike).
 * Confirms (cookie, tgid, tid) into `senders`: tc egress counted this send's packets under that
 * candidate a moment ago. Fast path (the thread that sent last sends again): one lookup.
 */
SEC("tracepoint/sock/sock_send_length")
int sock_send_length(struct trace_event_raw_sock_msg_length *ctx)
{
	if (ctx->family != AF_INET && ctx->family != AF_INET6)
		return 0;
	const struct sock *sk = ctx->sk;
	__u64 cookie = sk_cookie(sk);

	if (!cookie)
		return 0;
	__u64 pt = bpf_get_current_pid_tgid();
	__u32 tgid = pt >> 32, tid = (__u32)pt;
	struct tt_sock_info *info = bpf_map_lookup_elem(&sockets, &cookie);

	if (info) {
		if (info->last_tx_tid == tid && info->last_tx_tgid == tgid)
			return 0;
	} else {
		info = learn_socket(sk, cookie, ctx->family, ctx->protocol);
		if (!info)
			return 0;
	}
	__u32 prev = prev_user(info);

	info->last_tx_tgid = tgid;
	info->last_tx_tid = tid;

	struct tt_sender_key k = { .cookie = cookie, .tgid = tgid, .tid = tid };

	if (!bpf_map_lookup_elem(&senders, &k)) {
		struct tt_sender_val v = { .start_ns = current_start_ns(), .first_ns = bpf_ktime_get_boot_ns() };
		long err = bpf_map_update_elem(&senders, &k, &v, BPF_NOEXIST);

		if (err && err != -EEXIST)
			stat_inc(TT_STAT_SENDERS_FULL);
	}
	note_owner(cookie, info, tgid, prev, sk);
	return 0;
}

/* sock_recv_length: in the receiving process after each receive. The last receiver owns what
 * arrives for the socket; announce a new one. Fast path (the same process again): one lookup. */
SEC("tracepoint/sock/sock_recv_length")
int sock_recv_length(struct trace_event_raw_sock_msg_length *ctx)
{
	if (ctx->family != AF_INET && ctx->family != AF_INET6)
		return 0;
	const struct sock *sk = ctx->sk;
	__u64 cookie = sk_cookie(sk);

	if (!cookie)
		return 0;
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct tt_sock_info *info = bpf_map_lookup_elem(&sockets, &cookie);

	if (info) {
		if (info->last_rx_tgid == tgid)
			return 0;
	} else {
		info = learn_socket(sk, cookie, ctx->family, ctx->protocol);
		if (!info)
			return 0;
	}
	__u32 prev = prev_user(info);

	info->last_rx_tgid = tgid;
	note_owner(cookie, info, tgid, prev, sk);
	return 0;
}

/* TCP state changes, mostly in softirq: the tgid is the socket's owner, never the current task. */
SEC("tracepoint/sock/inet_sock_set_state")
int inet_sock_set_state(struct trace_event_raw_inet_sock_set_state *ctx)
{
	if (ctx->protocol != IPPROTO_TCP)
		return 0;
	const struct sock *sk = ctx->skaddr;
	__u64 cookie = sk_cookie(sk);

	if (!cookie)
		return 0;
	struct tt_sock_info *info = bpf_map_lookup_elem(&sockets, &cookie);

	if (!info)
		return 0;
	struct tt_sock_rec *r = sock_rec_new(TT_SOCK_TCP_STATE, cookie, info);

	if (!r) {
		if (ctx->newstate == TCP_CLOSE && info->released)
			bpf_map_delete_elem(&sockets, &cookie);
		return 0;
	}
	r->tgid = prev_user(info);
	r->old_state = ctx->oldstate;
	r->new_state = ctx->newstate;
	r->lport = ctx->sport;
	r->rport = ctx->dport;
	r->bound_ifindex = BPF_CORE_READ(sk, __sk_common.skc_bound_dev_if);
	if (ctx->family == AF_INET) {
		__builtin_memcpy(r->laddr, ctx->saddr, 4);
		__builtin_memcpy(r->raddr, ctx->daddr, 4);
	} else {
		__builtin_memcpy(r->laddr, ctx->saddr_v6, 16);
		__builtin_memcpy(r->raddr, ctx->daddr_v6, 16);
	}
	sock_rec_submit(r);
	if (ctx->newstate == TCP_CLOSE && info->released)
		bpf_map_delete_elem(&sockets, &cookie);
	return 0;
}

/* ---- processes ---- */

SEC("tracepoint/sched/sched_process_exec")
int sched_process_exec(struct trace_event_raw_sched_process_exec *ctx)
{
	__u64 pt = bpf_get_current_pid_tgid();
	__u32 tgid = pt >> 32;

	/* Processes of our namespace, and those that already used one of its sockets. */
	if (!current_in_our_netns() && !bpf_map_lookup_elem(&procs, &tgid))
		return 0;
	struct tt_proc_rec *r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);

	if (!r) {
		stat_inc(TT_STAT_RING_FULL);
		return 0;
	}
	__builtin_memset(r, 0, sizeof(*r));
	hdr_fill(&r->hdr, TT_REC_PROC, sizeof(*r));
	r->op = TT_PROC_EXEC;
	r->tgid = tgid;
	r->old_tid = ctx->old_pid;
	r->uid = (__u32)bpf_get_current_uid_gid();
	r->start_ns = current_start_ns();
	bpf_get_current_comm(r->comm, sizeof(r->comm));
	bpf_probe_read_kernel_str(r->filename, sizeof(r->filename),
				  (void *)ctx + (ctx->__data_loc_filename & 0xffff));
	note_proc(tgid, r->start_ns);
	bpf_ringbuf_submit(r, 0);
	stat_inc(TT_STAT_RECORDS);
	return 0;
}

SEC("tracepoint/sched/sched_process_exit")
int sched_process_exit(struct trace_event_raw_sched_process_exit *ctx)
{
	/* A thread's exit is not the process's: only the last one (group_dead) counts. */
	if (!ctx->group_dead)
		return 0;
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u64 *start = bpf_map_lookup_elem(&procs, &tgid);

	if (!start)
		return 0;
	struct tt_proc_rec *r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);

	if (r) {
		__builtin_memset(r, 0, sizeof(*r));
		hdr_fill(&r->hdr, TT_REC_PROC, sizeof(*r));
		r->op = TT_PROC_EXIT;
		r->tgid = tgid;
		r->start_ns = *start;
		r->uid = (__u32)bpf_get_current_uid_gid();
		bpf_get_current_comm(r->comm, sizeof(r->comm));
		bpf_ringbuf_submit(r, 0);
		stat_inc(TT_STAT_RECORDS);
	} else {
		stat_inc(TT_STAT_RING_FULL);
	}
	bpf_map_delete_elem(&procs, &tgid);
	return 0;
}

/*
 * ---- TUN devices: a TUNSETIFF that succeeded, seen at its exit ----
 *
 * Only the exit is hooked: the arguments are still in the thread's saved user registers (x86-64:
 * fd in di, cmd in si, the struct ifreq pointer in dx), and the kernel has written the final name
 * ("tun%d" resolved) back by then. One syscall tracepoint instead of two: every syscall tracepoint
 * puts every syscall of every task on the slow path, and each direction costs its own dispatch.
 */
SEC("tracepoint/syscalls/sys_exit_ioctl")
int sys_exit_ioctl(struct trace_event_raw_sys_exit *ctx)
{
	if (ctx->ret != 0)
		return 0;
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());

	if ((__u32)regs->si != TUNSETIFF)
		return 0;
	if (!current_in_our_netns())
		return 0;
	__u64 arg = regs->dx;
	__u64 pt = bpf_get_current_pid_tgid();
	struct tt_tun_rec *r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);

	if (!r) {
		stat_inc(TT_STAT_RING_FULL);
		return 0;
	}
	__builtin_memset(r, 0, sizeof(*r));
	hdr_fill(&r->hdr, TT_REC_TUN, sizeof(*r));
	r->tgid = pt >> 32;
	r->tid = (__u32)pt;
	r->uid = (__u32)bpf_get_current_uid_gid();
	r->start_ns = current_start_ns();
	bpf_get_current_comm(r->comm, sizeof(r->comm));
	/* struct ifreq: the name, then ifr_flags (a short) at offset 16. */
	bpf_probe_read_user(r->ifname, sizeof(r->ifname), (void *)arg);
	bpf_probe_read_user(&r->flags, sizeof(r->flags), (void *)(arg + 16));
	note_proc(r->tgid, r->start_ns);
	bpf_ringbuf_submit(r, 0);
	stat_inc(TT_STAT_RECORDS);
	return 0;
}

/* ---- packets ---- */

/* A parsed packet: its flow key (addresses, protocol, ports; the rest filled by the caller) and
 * where its transport header starts. */
struct pkt {
	struct tt_flow_key k;
	__u32 l4_off;
	__u8 has_ports; /* a first (or only) fragment of TCP/UDP */
};

/* The IP header at `off` and the ports behind it, through bpf_skb_load_bytes: for headers that
 * are not all in the skb's linear part (see parse_ip). Returns 0 for IPv4/IPv6. */
static __noinline int parse_ip_copy(struct __sk_buff *skb, __u32 off, struct pkt *p)
{
	__u8 vb;

	if (bpf_skb_load_bytes(skb, off, &vb, 1))
		return -1;
	if ((vb >> 4) == 4) {
		struct iphdr ip;

		if (bpf_skb_load_bytes(skb, off, &ip, sizeof(ip)))
			return -1;
		p->k.family = 4;
		p->k.protocol = ip.protocol;
		__builtin_memcpy(p->k.src, &ip.saddr, 4);
		__builtin_memcpy(p->k.dst, &ip.daddr, 4);
		p->l4_off = off + ip.ihl * 4;
		p->has_ports = (bpf_ntohs(ip.frag_off) & 0x1fff) == 0;
	} else if ((vb >> 4) == 6) {
		struct ipv6hdr ip6;

		if (bpf_skb_load_bytes(skb, off, &ip6, sizeof(ip6)))
			return -1;
		p->k.family = 6;
		p->k.protocol = ip6.nexthdr;
		__builtin_memcpy(p->k.src, &ip6.saddr, 16);
		__builtin_memcpy(p->k.dst, &ip6.daddr, 16);
		p->l4_off = off + sizeof(ip6);
		p->has_ports = 1;
		if (p->k.protocol == IPPROTO_FRAGMENT) {
			__u8 fh[4];

			if (bpf_skb_load_bytes(skb, p->l4_off, fh, sizeof(fh)))
				return -1;
			p->k.protocol = fh[0];
			p->has_ports = ((fh[2] << 8 | fh[3]) & 0xfff8) == 0;
			p->l4_off += 8;
		}
	} else {
		return -1;
	}
	if (p->has_ports && (p->k.protocol == IPPROTO_TCP || p->k.protocol == IPPROTO_UDP)) {
		__be16 ports[2];

		if (bpf_skb_load_bytes(skb, p->l4_off, ports, sizeof(ports)))
			return -1;
		p->k.sport = bpf_ntohs(ports[0]);
		p->k.dport = bpf_ntohs(ports[1]);
	} else {
		p->has_ports = 0;
	}
	return 0;
}

/*
 * parse_ip: the IP header at `off` (past the link header) and the ports behind it, into p->k
 * (which the caller zeroed); the version nibble decides, no link-type guessing. Headers are nearly
 * always in the linear part, read in place; parse_ip_copy handles the rest. Returns 0 for
 * IPv4/IPv6.
 */
static __always_inline int parse_ip(struct __sk_buff *skb, __u32 off, struct pkt *p)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	__u8 *ip;
	__u8 *l4;

	off &= 0x7f;
	ip = data + off;
	if ((void *)(ip + 1) > end)
		return parse_ip_copy(skb, off, p);
	if ((ip[0] >> 4) == 4) {
		struct iphdr *h = (void *)ip;

		if ((void *)(h + 1) > end)
			return parse_ip_copy(skb, off, p);
		p->k.family = 4;
		p->k.protocol = h->protocol;
		__builtin_memcpy(p->k.src, &h->saddr, 4);
		__builtin_memcpy(p->k.dst, &h->daddr, 4);
		p->l4_off = off + h->ihl * 4;
		p->has_ports = (bpf_ntohs(h->frag_off) & 0x1fff) == 0;
		l4 = ip + h->ihl * 4;
	} else if ((ip[0] >> 4) == 6) {
		struct ipv6hdr *h = (void *)ip;

		if ((void *)(h + 1) > end || h->nexthdr == IPPROTO_FRAGMENT)
			return parse_ip_copy(skb, off, p);
		p->k.family = 6;
		p->k.protocol = h->nexthdr;
		__builtin_memcpy(p->k.src, &h->saddr, 16);
		__builtin_memcpy(p->k.dst, &h->daddr, 16);
		p->l4_off = off + sizeof(*h);
		p->has_ports = 1;
		l4 = (__u8 *)(h + 1);
	} else {
		return -1;
	}
	if (!p->has_ports || (p->k.protocol != IPPROTO_TCP && p->k.protocol != IPPROTO_UDP)) {
		p->has_ports = 0;
		return 0;
	}
	if ((void *)(l4 + 4) > end)
		return parse_ip_copy(skb, off, p);
	p->k.sport = (__u16)l4[0] << 8 | l4[1];
	p->k.dport = (__u16)l4[2] << 8 | l4[3];
	return 0;
}

/* One per-CPU lookup and in-place update per packet; an insert only for a flow's first packet
 * on this CPU. */
static __always_inline void flow_count(void *map, const struct tt_flow_key *k, __u32 len, __u64 now, __u32 full_stat)
{
	struct tt_flow_val *v = bpf_map_lookup_elem(map, k);

	if (!v) {
		struct tt_flow_val nv = { .packets = 1, .bytes = len, .first_ns = now, .last_ns = now };

		if (!bpf_map_update_elem(map, k, &nv, BPF_NOEXIST))
			return;
		/* Another CPU inserted the flow between our lookup and insert: count into this
		 * CPU's (zeroed) copy of its value. */
		v = bpf_map_lookup_elem(map, k);
		if (!v) {
			stat_inc(full_stat);
			return;
		}
	}
	/* Per-CPU values: no other CPU writes this copy. */
	if (!v->first_ns)
		v->first_ns = now;
	v->packets += 1;
	v->bytes += len;
	v->last_ns = now;
}

static __always_inline void esp_count(const struct pkt *p, __u32 ifindex, __u8 dir, __u8 encap, __u32 spi, __u32 seq,
				      __u32 len, __u64 now)
{
	struct tt_esp_key k;

	__builtin_memset(&k, 0, sizeof(k));
	k.ifindex = ifindex;
	k.spi = spi;
	k.direction = dir;
	k.encap = encap;
	k.family = p->k.family;
	if (encap == TT_ESP_UDP) {
		k.sport = p->k.sport;
		k.dport = p->k.dport;
	}
	__builtin_memcpy(k.src, p->k.src, 16);
	__builtin_memcpy(k.dst, p->k.dst, 16);

	struct tt_esp_val *v = bpf_map_lookup_elem(&esp_sas, &k);

	if (!v) {
		struct tt_esp_val nv;

		__builtin_memset(&nv, 0, sizeof(nv));
		nv.first_seq = seq;
		nv.last_seq = seq;
		nv.packets = 1;
		nv.bytes = len;
		nv.first_ns = now;
		nv.last_ns = now;
		if (!bpf_map_update_elem(&esp_sas, &k, &nv, BPF_NOEXIST))
			return;
		/* Another CPU inserted it first: count into that entry. */
		v = bpf_map_lookup_elem(&esp_sas, &k);
		if (!v) {
			stat_inc(TT_STAT_ESP_FULL);
			return;
		}
	}
	bpf_spin_lock(&v->lock);
	v->packets += 1;
	v->bytes += len;
	v->last_ns = now;
	if (seq > v->last_seq) {
		v->gaps += seq - v->last_seq - 1;
		v->last_seq = seq;
	} else {
		v->repeats += 1;
	}
	bpf_spin_unlock(&v->lock);
}

/* Does a TCP/UDP payload start like a SIP message? (a status line or a request method) */
static __always_inline int looks_like_sip(const __u8 *b)
{
#define P4(a, b_, c, d) ((__u32)(a) | (__u32)(b_) << 8 | (__u32)(c) << 16 | (__u32)(d) << 24)
	__u32 w0 = P4(b[0], b[1], b[2], b[3]);
	__u32 w1 = P4(b[4], b[5], b[6], b[7]);

	if (w0 == P4('S', 'I', 'P', '/') && w1 == P4('2', '.', '0', ' '))
		return 1;
	if (w0 == P4('I', 'N', 'V', 'I') && (w1 & 0xffffff) == P4('T', 'E', ' ', 0))
		return 1;
	if (w0 == P4('A', 'C', 'K', ' ') || w0 == P4('B', 'Y', 'E', ' '))
		return 1;
	if (w0 == P4('C', 'A', 'N', 'C') && (w1 & 0xffff) == P4('E', 'L', 0, 0))
		return 1;
	if (w0 == P4('R', 'E', 'G', 'I') && w1 == P4('S', 'T', 'E', 'R'))
		return 1;
	if (w0 == P4('O', 'P', 'T', 'I') && (w1 & 0xffffff) == P4('O', 'N', 'S', 0))
		return 1;
	if (w0 == P4('P', 'R', 'A', 'C') && (w1 & 0xffff) == P4('K', ' ', 0, 0))
		return 1;
	if (w0 == P4('S', 'U', 'B', 'S') && w1 == P4('C', 'R', 'I', 'B'))
		return 1;
	if (w0 == P4('N', 'O', 'T', 'I') && (w1 & 0xffffff) == P4('F', 'Y', ' ', 0))
		return 1;
	if (w0 == P4('P', 'U', 'B', 'L') && (w1 & 0xffffff) == P4('I', 'S', 'H', 0))
		return 1;
	if (w0 == P4('I', 'N', 'F', 'O') && (w1 & 0xff) == ' ')
		return 1;
	if (w0 == P4('R', 'E', 'F', 'E') && (w1 & 0xffff) == P4('R', ' ', 0, 0))
		return 1;
	if (w0 == P4('M', 'E', 'S', 'S') && (w1 & 0xffffff) == P4('A', 'G', 'E', 0))
		return 1;
	if (w0 == P4('U', 'P', 'D', 'A') && (w1 & 0xffff) == P4('T', 'E', 0, 0))
		return 1;
	return 0;
#undef P4
}

/* Up to 8 bytes of the skb at `off` into `head`, in place when they are in the linear part (no
 * helper call: the common case), else copied. `avail` bytes exist from `off` to the end. */
static __always_inline void load_head(struct __sk_buff *skb, __u32 off, __u32 avail, __u8 head[8])
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	__u8 *q;

	off &= 0x1ff;
	q = data + off;
	if (avail >= 8 && (void *)(q + 8) <= end) {
		__builtin_memcpy(head, q, 8);
		return;
	}
	if (avail >= 8)
		bpf_skb_load_bytes(skb, off, head, 8);
	else if (avail >= 1)
		bpf_skb_load_bytes(skb, off, head, 1);
}

static __always_inline void sample(struct __sk_buff *skb, __u32 off, const struct tt_flow_key *k)
{
	__u32 zero = 0;
	struct pkt_scratch *s = bpf_map_lookup_elem(&scratch, &zero);

	if (!s || skb->len <= off)
		return;
	__u32 orig = skb->len - off;
	__u32 cap = orig;

	if (cap > tt_snaplen)
		cap = tt_snaplen;
	if (cap > TT_MAX_SNAPLEN)
		cap = TT_MAX_SNAPLEN;
	if (cap == 0)
		return;
	if (bpf_skb_load_bytes(skb, off, s->data, cap))
		return;
	__builtin_memset(&s->rec, 0, sizeof(s->rec));
	hdr_fill(&s->rec.hdr, TT_REC_PKT, sizeof(s->rec) + cap);
	s->rec.cookie = k->cookie;
	s->rec.ifindex = k->ifindex;
	s->rec.tgid = k->tgid;
	s->rec.tid = k->tid;
	s->rec.orig_len = orig;
	s->rec.cap_len = cap;
	s->rec.direction = k->direction;
	s->rec.hook = TT_HOOK_TC;
	if (bpf_ringbuf_output(&events, s, sizeof(s->rec) + cap, 0))
		stat_inc(TT_STAT_RING_FULL);
	else
		stat_inc(TT_STAT_SAMPLED);
}

/*
 * The cookie of the local socket that will receive an incoming packet (0 if none: forwarded, or
 * no listener). Only for samples (counts use cgroup_skb's exact cookie at delivery).
 * bpf_sk_lookup_* gives a struct bpf_sock, which has no cookie field and allows no pointer
 * arithmetic, so the cookie is read from the struct sock behind it through a copy of the
 * pointer's value (root programs may turn pointers into numbers).
 */
static __always_inline __u64 ingress_cookie(struct __sk_buff *skb, const struct pkt *p)
{
	struct bpf_sock_tuple t;
	struct bpf_sock *sk;
	__u32 tlen;

	if (!p->has_ports)
		return 0;
	__builtin_memset(&t, 0, sizeof(t));
	if (p->k.family == 4) {
		__builtin_memcpy(&t.ipv4.saddr, p->k.src, 4);
		__builtin_memcpy(&t.ipv4.daddr, p->k.dst, 4);
		t.ipv4.sport = bpf_htons(p->k.sport);
		t.ipv4.dport = bpf_htons(p->k.dport);
		tlen = sizeof(t.ipv4);
	} else {
		__builtin_memcpy(t.ipv6.saddr, p->k.src, 16);
		__builtin_memcpy(t.ipv6.daddr, p->k.dst, 16);
		t.ipv6.sport = bpf_htons(p->k.sport);
		t.ipv6.dport = bpf_htons(p->k.dport);
		tlen = sizeof(t.ipv6);
	}
	if (p->k.protocol == IPPROTO_UDP)
		sk = bpf_sk_lookup_udp(skb, &t, tlen, BPF_F_CURRENT_NETNS, 0);
	else
		sk = bpf_skc_lookup_tcp(skb, &t, tlen, BPF_F_CURRENT_NETNS, 0);
	if (!sk)
		return 0;
	struct bpf_sock *held = sk;
	__u64 addr = 0, cookie = 0;

	bpf_probe_read_kernel(&addr, sizeof(addr), &held);
	bpf_probe_read_kernel(&cookie, sizeof(cookie),
			      (void *)(addr + bpf_core_field_offset(struct sock_common, skc_cookie)));
	bpf_sk_release(sk);
	return cookie;
}

/*
 * tcx on a traced interface: exact per-flow counts (egress: with the socket and the candidate
 * sender), ESP per SA, and the one sample of each IKE or SIP packet. Sampling only here is what
 * makes "each packet once" exact: a packet crosses one interface's tcx hook once per direction,
 * whether it is local or forwarded.
 *
 * Per packet: the interface's config, the headers read in place, one per-CPU flow update, one
 * clock read; the payload's first 8 bytes (for SIP on any port) in place. Everything else only
 * for ESP and for the packets that are sampled.
 */
static __always_inline int tc_handle(struct __sk_buff *skb, __u8 dir)
{
	__u32 ifindex = skb->ifindex;
	struct tt_iface_cfg *cfg = bpf_map_lookup_elem(&traced, &ifindex);

	if (!cfg)
		return TCX_NEXT;
	__u32 off = cfg->l2_len;
	struct pkt p;

	if (off > 64)
		return TCX_NEXT;
	__builtin_memset(&p, 0, sizeof(p));
	if (parse_ip(skb, off, &p))
		return TCX_NEXT;
	p.k.ifindex = ifindex;
	p.k.direction = dir;
	if (dir == TT_DIR_OUT) {
		/* Egress skbs of local sockets carry them; asking creates the cookie if nothing had.
		 * The current thread is only a candidate: sock_send_length confirms it (or not). */
		p.k.cookie = bpf_get_socket_cookie(skb);
		if (p.k.cookie) {
			__u64 pt = bpf_get_current_pid_tgid();

			p.k.tgid = pt >> 32;
			p.k.tid = (__u32)pt;
		}
	}
	__u64 now = bpf_ktime_get_boot_ns();

	flow_count(&iface_flows, &p.k, skb->len, now, TT_STAT_IFACE_FLOWS_FULL);

	if (p.k.protocol == IPPROTO_ESP) {
		__be32 w[2];

		if (!bpf_skb_load_bytes(skb, p.l4_off, w, sizeof(w)))
			esp_count(&p, ifindex, dir, TT_ESP_RAW, bpf_ntohl(w[0]), bpf_ntohl(w[1]), skb->len, now);
		return TCX_NEXT;
	}
	if (!p.has_ports)
		return TCX_NEXT;
	__u32 payload = p.l4_off + 8;

	if (p.k.protocol == IPPROTO_TCP) {
		__u8 th[8] = {};

		/* Bytes 12..13 of the TCP header: the data offset. */
		load_head(skb, p.l4_off + 8, skb->len > p.l4_off + 8 ? skb->len - p.l4_off - 8 : 0, th);
		payload = p.l4_off + (th[4] >> 4) * 4;
		if (skb->len <= payload)
			return TCX_NEXT; /* no payload: nothing a decoder wants */
	}
	__u32 plen = skb->len > payload ? skb->len - payload : 0;
	__u16 sport = p.k.sport, dport = p.k.dport;
	int want_sample = 0;

	if (p.k.protocol == IPPROTO_UDP && (sport == PORT_NATT || dport == PORT_NATT)) {
		__u8 head[8] = {};

		load_head(skb, payload, plen, head);
		__u32 w0 = (__u32)head[0] << 24 | (__u32)head[1] << 16 | (__u32)head[2] << 8 | head[3];
		__u32 w1 = (__u32)head[4] << 24 | (__u32)head[5] << 16 | (__u32)head[6] << 8 | head[7];

		if (plen == 1 && head[0] == 0xff)
			return TCX_NEXT; /* NAT-T keepalive */
		if (plen >= 8 && w0 != 0) {
			esp_count(&p, ifindex, dir, TT_ESP_UDP, w0, w1, skb->len, now);
			return TCX_NEXT;
		}
		want_sample = plen >= 4; /* non-ESP marker: IKE on 4500 */
	} else if (p.k.protocol == IPPROTO_UDP && (sport == PORT_IKE || dport == PORT_IKE)) {
		want_sample = 1;
	} else if (sport == PORT_SIP || dport == PORT_SIP || sport == PORT_SIPS || dport == PORT_SIPS) {
		want_sample = 1;
	} else if (plen >= 8) {
		__u8 head[8] = {};

		load_head(skb, payload, plen, head);
		want_sample = looks_like_sip(head);
	}
	if (!want_sample)
		return TCX_NEXT;
	if (dir == TT_DIR_IN)
		p.k.cookie = ingress_cookie(skb, &p);
	sample(skb, off, &p.k);
	return TCX_NEXT;
}

SEC("classifier")
int tc_ingress(struct __sk_buff *skb)
{
	return tc_handle(skb, TT_DIR_IN);
}

SEC("classifier")
int tc_egress(struct __sk_buff *skb)
{
	return tc_handle(skb, TT_DIR_OUT);
}

/*
 * cgroup_skb ingress: the exact receiving socket of each packet delivered in our netns through a
 * traced interface (it runs in the socket's receive path, after routing, so a forwarded packet or
 * one a wildcard listener would match but never gets is not counted). Counted per socket with
 * tgid 0: the receiver is decided by the loader (the socket's owner), never by the current task.
 * Asking for the cookie also creates it for an accepted TCP socket, which sock_recv_length then
 * learns. Never drops.
 */
SEC("cgroup_skb/ingress")
int cgroup_skb_ingress(struct __sk_buff *skb)
{
	/* Every packet of every namespace comes here: the cheapest test that rejects other
	 * namespaces' goes first (and an ifindex only means something within its netns). */
	if (bpf_get_netns_cookie(skb) != tt_netns_cookie)
		return 1;
	__u32 ifindex = skb->ifindex;

	if (!bpf_map_lookup_elem(&traced, &ifindex))
		return 1;
	struct pkt p;

	__builtin_memset(&p, 0, sizeof(p));
	p.k.cookie = bpf_get_socket_cookie(skb);
	if (!p.k.cookie)
		return 1;
	if (parse_ip(skb, 0, &p))
		return 1;
	p.k.ifindex = ifindex;
	p.k.direction = TT_DIR_IN;
	flow_count(&sock_flows, &p.k, skb->len, bpf_ktime_get_boot_ns(), TT_STAT_SOCK_FLOWS_FULL);
	return 1;
}
