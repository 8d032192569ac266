// SPDX-License-Identifier: GPL-2.0
/*
 * tuntrace's live tracer: who owns each socket, which process sends or receives each packet on
 * the traced interfaces, exact per-flow and per-ESP-SA counts, TUN device creation, and the heads
 * of IKE and SIP packets.
 *
 * The rule everything here follows (docs/PLATFORM.md): in packet context the current task is
 * whoever happens to run, so a packet is never attributed to it, except when the current thread
 * is, verifiably, inside a send syscall on the very socket the packet belongs to (`inflight`).
 * Ownership is learned in process context (cgroup sock hooks, syscall and sock tracepoints) and
 * keyed by socket cookie; packet hooks look the cookie up.
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
#define S_IFMT 00170000
#define S_IFSOCK 0140000
#define TUNSETIFF 0x400454ca
/* tcx verdict that hands the packet to the next program unchanged: we only observe. */
#define TCX_NEXT -1
#define TCP_ESTABLISHED 1
#define TCP_SYN_SENT 2
#define TCP_SYN_RECV 3
#define TCP_CLOSE 7
#define TCP_CLOSE_WAIT 8
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

/* Per thread: the cookie of the socket it is sending on right now (sys_enter .. sys_exit), 0
 * otherwise. Task storage rather than a hash keyed by tid: no hashing and no lock on every
 * send and every write(), and the entry goes away with the thread. */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, __u64);
} inflight SEC(".maps");

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

/* Thread id -> user address of the ifreq of a TUNSETIFF in progress. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TT_MAX_TUN_PENDING);
	__type(key, __u32);
	__type(value, __u64);
} tun_pending SEC(".maps");

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
 * The current process used the socket in direction `dir`. Keeps the last sender/receiver for
 * packets that leave or arrive outside any syscall, and announces a process other than the creator
 * the first time it uses the socket (OWNER): once per (socket, process), not per packet, even when
 * several processes take turns.
 */
static __always_inline void note_user(__u64 cookie, struct tt_sock_info *info, __u8 dir, const struct sock *sk)
{
	__u64 pt = bpf_get_current_pid_tgid();
	__u32 tgid = pt >> 32;
	__u32 prev = info->last_tx_tgid ? info->last_tx_tgid : info->creator_tgid;

	if (dir == TT_DIR_OUT) {
		if (info->last_tx_tgid == tgid)
			return;
		info->last_tx_tgid = tgid;
	} else {
		if (info->last_rx_tgid == tgid)
			return;
		info->last_rx_tgid = tgid;
	}
	if (tgid == info->creator_tgid)
		return;
	/* A socket learned from a packet has no creator: its first user stands in for one. */
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

/* connect(): runs before the connection, in the connecting process; the remote is the user's. */
static __always_inline int on_connect(struct bpf_sock_addr *ctx, int v6)
{
	__u64 cookie = bpf_get_socket_cookie(ctx);
	struct tt_sock_info *info = bpf_map_lookup_elem(&sockets, &cookie);

	if (!info)
		return 1;
	note_user(cookie, info, TT_DIR_OUT, NULL);
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

/* Unconnected UDP sendmsg/recvmsg with an address: the process is a user; no record per packet. */
static __always_inline int on_msg(struct bpf_sock_addr *ctx, __u8 dir)
{
	__u64 cookie = bpf_get_socket_cookie(ctx);
	struct tt_sock_info *info = bpf_map_lookup_elem(&sockets, &cookie);

	if (info)
		note_user(cookie, info, dir, NULL);
	return 1;
}

SEC("cgroup/sendmsg4")
int sendmsg4(struct bpf_sock_addr *ctx)
{
	return on_msg(ctx, TT_DIR_OUT);
}

SEC("cgroup/sendmsg6")
int sendmsg6(struct bpf_sock_addr *ctx)
{
	return on_msg(ctx, TT_DIR_OUT);
}

SEC("cgroup/recvmsg4")
int recvmsg4(struct bpf_sock_addr *ctx)
{
	return on_msg(ctx, TT_DIR_IN);
}

SEC("cgroup/recvmsg6")
int recvmsg6(struct bpf_sock_addr *ctx)
{
	return on_msg(ctx, TT_DIR_IN);
}

/* sock_send_length / sock_recv_length: after each send/recv, in the process, connected sockets
 * included (the cgroup msg hooks only see unconnected UDP with an address). */
static __always_inline int on_msg_length(struct trace_event_raw_sock_msg_length *ctx, __u8 dir)
{
	if (ctx->family != AF_INET && ctx->family != AF_INET6)
		return 0;
	const struct sock *sk = ctx->sk;
	__u64 cookie = BPF_CORE_READ(sk, __sk_common.skc_cookie.counter);

	if (!cookie)
		return 0;
	if (dir == TT_DIR_OUT) {
		/* A send syscall already noted this sender on entry: nothing left to learn. */
		__u64 *sending = bpf_task_storage_get(&inflight, bpf_get_current_task_btf(), 0, 0);

		if (sending && *sending == cookie)
			return 0;
	}
	struct tt_sock_info *info = bpf_map_lookup_elem(&sockets, &cookie);

	if (info)
		note_user(cookie, info, dir, sk);
	return 0;
}

SEC("tracepoint/sock/sock_send_length")
int sock_send_length(struct trace_event_raw_sock_msg_length *ctx)
{
	return on_msg_length(ctx, TT_DIR_OUT);
}

SEC("tracepoint/sock/sock_recv_length")
int sock_recv_length(struct trace_event_raw_sock_msg_length *ctx)
{
	return on_msg_length(ctx, TT_DIR_IN);
}

/* TCP state changes, mostly in softirq: the tgid is the socket's owner, never the current task. */
SEC("tracepoint/sock/inet_sock_set_state")
int inet_sock_set_state(struct trace_event_raw_inet_sock_set_state *ctx)
{
	if (ctx->protocol != IPPROTO_TCP)
		return 0;
	const struct sock *sk = ctx->skaddr;
	__u64 cookie = BPF_CORE_READ(sk, __sk_common.skc_cookie.counter);

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
	r->tgid = info->last_tx_tgid ? info->last_tx_tgid : info->creator_tgid;
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

/* ---- exact egress attribution: which socket is this thread sending on ---- */

/*
 * fd -> struct file -> socket -> sock -> cookie of the current task, or 0 when the fd is not a
 * socket. This runs on every write(), so it is kept short: the task's fd table is reached through
 * BTF-typed loads (no helper call), the inode mode is checked before anything socket-specific so a
 * write() to a file or a pipe stops there, and the address family is not read: only inet sockets
 * of our netns are in `sockets`, and cookies are unique across all socket types.
 */
static __always_inline __u64 fd_cookie(struct task_struct *task, __u64 fd, const struct sock **skp)
{
	struct fdtable *fdt = task->files->fdt;
	struct file *f = NULL;

	if (fd >= fdt->max_fds)
		return 0;
	bpf_probe_read_kernel(&f, sizeof(f), &fdt->fd[fd]);
	if (!f)
		return 0;
	if ((BPF_CORE_READ(f, f_inode, i_mode) & S_IFMT) != S_IFSOCK)
		return 0;
	struct socket *sock = BPF_CORE_READ(f, private_data);
	const struct sock *sk = BPF_CORE_READ(sock, sk);

	*skp = sk;
	return BPF_CORE_READ(sk, __sk_common.skc_cookie.counter);
}

static __always_inline int on_send_enter(__u64 fd)
{
	struct task_struct *task = bpf_get_current_task_btf();
	const struct sock *sk = NULL;
	__u64 cookie = fd_cookie(task, fd, &sk);

	if (!cookie)
		return 0;
	struct tt_sock_info *info = bpf_map_lookup_elem(&sockets, &cookie);

	if (!info)
		return 0;
	__u64 *sending = bpf_task_storage_get(&inflight, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);

	if (sending)
		*sending = cookie;
	else
		stat_inc(TT_STAT_INFLIGHT_FULL);
	note_user(cookie, info, TT_DIR_OUT, sk);
	return 0;
}

static __always_inline int on_send_exit(void)
{
	/* Without F_CREATE: a thread that never sent on a socket gets no storage. */
	__u64 *sending = bpf_task_storage_get(&inflight, bpf_get_current_task_btf(), 0, 0);

	if (sending)
		*sending = 0;
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_sendto")
int sys_enter_sendto(struct trace_event_raw_sys_enter *ctx)
{
	return on_send_enter(ctx->args[0]);
}

SEC("tracepoint/syscalls/sys_enter_sendmsg")
int sys_enter_sendmsg(struct trace_event_raw_sys_enter *ctx)
{
	return on_send_enter(ctx->args[0]);
}

SEC("tracepoint/syscalls/sys_enter_sendmmsg")
int sys_enter_sendmmsg(struct trace_event_raw_sys_enter *ctx)
{
	return on_send_enter(ctx->args[0]);
}

SEC("tracepoint/syscalls/sys_enter_write")
int sys_enter_write(struct trace_event_raw_sys_enter *ctx)
{
	return on_send_enter(ctx->args[0]);
}

SEC("tracepoint/syscalls/sys_enter_writev")
int sys_enter_writev(struct trace_event_raw_sys_enter *ctx)
{
	return on_send_enter(ctx->args[0]);
}

SEC("tracepoint/syscalls/sys_exit_sendto")
int sys_exit_sendto(struct trace_event_raw_sys_exit *ctx)
{
	return on_send_exit();
}

SEC("tracepoint/syscalls/sys_exit_sendmsg")
int sys_exit_sendmsg(struct trace_event_raw_sys_exit *ctx)
{
	return on_send_exit();
}

SEC("tracepoint/syscalls/sys_exit_sendmmsg")
int sys_exit_sendmmsg(struct trace_event_raw_sys_exit *ctx)
{
	return on_send_exit();
}

SEC("tracepoint/syscalls/sys_exit_write")
int sys_exit_write(struct trace_event_raw_sys_exit *ctx)
{
	return on_send_exit();
}

SEC("tracepoint/syscalls/sys_exit_writev")
int sys_exit_writev(struct trace_event_raw_sys_exit *ctx)
{
	return on_send_exit();
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

/* ---- TUN devices: TUNSETIFF, read back at exit (the kernel writes the final name) ---- */

SEC("tracepoint/syscalls/sys_enter_ioctl")
int sys_enter_ioctl(struct trace_event_raw_sys_enter *ctx)
{
	if ((__u32)ctx->args[1] != TUNSETIFF)
		return 0;
	if (!current_in_our_netns())
		return 0;
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	__u64 arg = ctx->args[2];

	if (bpf_map_update_elem(&tun_pending, &tid, &arg, BPF_ANY))
		stat_inc(TT_STAT_TUN_PENDING_FULL);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_ioctl")
int sys_exit_ioctl(struct trace_event_raw_sys_exit *ctx)
{
	__u64 pt = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)pt;
	__u64 *argp = bpf_map_lookup_elem(&tun_pending, &tid);

	if (!argp)
		return 0;
	__u64 arg = *argp;

	bpf_map_delete_elem(&tun_pending, &tid);
	if (ctx->ret != 0)
		return 0;
	struct tt_tun_rec *r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);

	if (!r) {
		stat_inc(TT_STAT_RING_FULL);
		return 0;
	}
	__builtin_memset(r, 0, sizeof(*r));
	hdr_fill(&r->hdr, TT_REC_TUN, sizeof(*r));
	r->tgid = pt >> 32;
	r->tid = tid;
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

struct pkt {
	__u32 l4_off;
	__u8 family;
	__u8 protocol;
	__u8 has_ports; /* a first (or only) fragment of TCP/UDP */
	__u8 _pad;
	__u16 sport;
	__u16 dport;
	__u8 src[16];
	__u8 dst[16];
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
		p->family = 4;
		p->protocol = ip.protocol;
		__builtin_memcpy(p->src, &ip.saddr, 4);
		__builtin_memcpy(p->dst, &ip.daddr, 4);
		p->l4_off = off + ip.ihl * 4;
		p->has_ports = (bpf_ntohs(ip.frag_off) & 0x1fff) == 0;
	} else if ((vb >> 4) == 6) {
		struct ipv6hdr ip6;

		if (bpf_skb_load_bytes(skb, off, &ip6, sizeof(ip6)))
			return -1;
		p->family = 6;
		p->protocol = ip6.nexthdr;
		__builtin_memcpy(p->src, &ip6.saddr, 16);
		__builtin_memcpy(p->dst, &ip6.daddr, 16);
		p->l4_off = off + sizeof(ip6);
		p->has_ports = 1;
		if (p->protocol == IPPROTO_FRAGMENT) {
			__u8 fh[4];

			if (bpf_skb_load_bytes(skb, p->l4_off, fh, sizeof(fh)))
				return -1;
			p->protocol = fh[0];
			p->has_ports = ((fh[2] << 8 | fh[3]) & 0xfff8) == 0;
			p->l4_off += 8;
		}
	} else {
		return -1;
	}
	if (p->has_ports && (p->protocol == IPPROTO_TCP || p->protocol == IPPROTO_UDP)) {
		__be16 ports[2];

		if (bpf_skb_load_bytes(skb, p->l4_off, ports, sizeof(ports)))
			return -1;
		p->sport = bpf_ntohs(ports[0]);
		p->dport = bpf_ntohs(ports[1]);
	} else {
		p->has_ports = 0;
	}
	return 0;
}

/*
 * parse_ip: the IP header at `off` (past the link header) and the ports behind it; the version
 * nibble decides, no link-type guessing. Headers are nearly always in the linear part, read in
 * place; parse_ip_copy handles the rest. Returns 0 for IPv4/IPv6.
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
		p->family = 4;
		p->protocol = h->protocol;
		__builtin_memcpy(p->src, &h->saddr, 4);
		__builtin_memcpy(p->dst, &h->daddr, 4);
		p->l4_off = off + h->ihl * 4;
		p->has_ports = (bpf_ntohs(h->frag_off) & 0x1fff) == 0;
		l4 = ip + h->ihl * 4;
	} else if ((ip[0] >> 4) == 6) {
		struct ipv6hdr *h = (void *)ip;

		if ((void *)(h + 1) > end || h->nexthdr == IPPROTO_FRAGMENT)
			return parse_ip_copy(skb, off, p);
		p->family = 6;
		p->protocol = h->nexthdr;
		__builtin_memcpy(p->src, &h->saddr, 16);
		__builtin_memcpy(p->dst, &h->daddr, 16);
		p->l4_off = off + sizeof(*h);
		p->has_ports = 1;
		l4 = (__u8 *)(h + 1);
	} else {
		return -1;
	}
	if (!p->has_ports || (p->protocol != IPPROTO_TCP && p->protocol != IPPROTO_UDP)) {
		p->has_ports = 0;
		return 0;
	}
	if ((void *)(l4 + 4) > end)
		return parse_ip_copy(skb, off, p);
	p->sport = (__u16)l4[0] << 8 | l4[1];
	p->dport = (__u16)l4[2] << 8 | l4[3];
	return 0;
}

static __always_inline void flow_count(void *map, const struct tt_flow_key *k, __u32 len, __u32 full_stat)
{
	__u64 now = bpf_ktime_get_boot_ns();
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

static __always_inline void flow_key_fill(struct tt_flow_key *k, const struct pkt *p, __u64 cookie, __u32 ifindex,
					  __u32 tgid, __u8 dir)
{
	__builtin_memset(k, 0, sizeof(*k));
	k->cookie = cookie;
	k->ifindex = ifindex;
	k->tgid = tgid;
	k->direction = dir;
	k->protocol = p->protocol;
	k->family = p->family;
	k->sport = p->sport;
	k->dport = p->dport;
	__builtin_memcpy(k->src, p->src, 16);
	__builtin_memcpy(k->dst, p->dst, 16);
}

/* The process of a packet of a known socket; see the rule at the top of this file. */
static __always_inline __u32 packet_owner(const struct tt_sock_info *info, __u64 cookie, __u8 dir)
{
	if (dir == TT_DIR_OUT) {
		__u64 *sending = bpf_task_storage_get(&inflight, bpf_get_current_task_btf(), 0, 0);

		if (sending && *sending == cookie)
			return bpf_get_current_pid_tgid() >> 32;
		/* Not in a send: e.g. a TCP ACK or retransmission from softirq. A process that only
		 * receives on the socket still owns what the kernel sends for it. */
		if (info->last_tx_tgid)
			return info->last_tx_tgid;
		return info->last_rx_tgid ? info->last_rx_tgid : info->creator_tgid;
	}
	if (info->last_rx_tgid)
		return info->last_rx_tgid;
	return info->last_tx_tgid ? info->last_tx_tgid : info->creator_tgid;
}

static __always_inline void esp_count(const struct pkt *p, __u32 ifindex, __u8 dir, __u8 encap, __u32 spi, __u32 seq,
				      __u32 len)
{
	struct tt_esp_key k;
	__u64 now = bpf_ktime_get_boot_ns();

	__builtin_memset(&k, 0, sizeof(k));
	k.ifindex = ifindex;
	k.spi = spi;
	k.direction = dir;
	k.encap = encap;
	k.family = p->family;
	if (encap == TT_ESP_UDP) {
		k.sport = p->sport;
		k.dport = p->dport;
	}
	__builtin_memcpy(k.src, p->src, 16);
	__builtin_memcpy(k.dst, p->dst, 16);

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

static __always_inline void sample(struct __sk_buff *skb, __u32 off, __u32 ifindex, __u8 dir, __u64 cookie,
				   __u32 tgid)
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
	s->rec.cookie = cookie;
	s->rec.ifindex = ifindex;
	s->rec.tgid = tgid;
	s->rec.orig_len = orig;
	s->rec.cap_len = cap;
	s->rec.direction = dir;
	s->rec.hook = TT_HOOK_TC;
	if (bpf_ringbuf_output(&events, s, sizeof(s->rec) + cap, 0))
		stat_inc(TT_STAT_RING_FULL);
	else
		stat_inc(TT_STAT_SAMPLED);
}

/*
 * The cookie of the local socket that will receive an incoming packet (0 if none: forwarded, or
 * no listener). bpf_sk_lookup_* gives a struct bpf_sock, which has no cookie field and allows no
 * pointer arithmetic, so the cookie is read from the struct sock behind it through a copy of the
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
	if (p->family == 4) {
		__builtin_memcpy(&t.ipv4.saddr, p->src, 4);
		__builtin_memcpy(&t.ipv4.daddr, p->dst, 4);
		t.ipv4.sport = bpf_htons(p->sport);
		t.ipv4.dport = bpf_htons(p->dport);
		tlen = sizeof(t.ipv4);
	} else {
		__builtin_memcpy(t.ipv6.saddr, p->src, 16);
		__builtin_memcpy(t.ipv6.daddr, p->dst, 16);
		t.ipv6.sport = bpf_htons(p->sport);
		t.ipv6.dport = bpf_htons(p->dport);
		tlen = sizeof(t.ipv6);
	}
	if (p->protocol == IPPROTO_UDP)
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
 * tcx on a traced interface: exact per-flow counts, ESP per SA, and the one sample of each IKE or
 * SIP packet. Sampling only here (not also in cgroup_skb) is what makes "each packet once" exact:
 * a packet crosses one interface's tcx hook once per direction, whether it is local or forwarded.
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
	/* Egress skbs of local sockets carry them; asking creates the cookie if nothing had. */
	__u64 cookie = dir == TT_DIR_OUT ? bpf_get_socket_cookie(skb) : 0;
	struct tt_flow_key k;

	flow_key_fill(&k, &p, cookie, ifindex, 0, dir);
	flow_count(&iface_flows, &k, skb->len, TT_STAT_IFACE_FLOWS_FULL);

	int want_sample = 0;

	if (p.protocol == IPPROTO_ESP) {
		__be32 w[2];

		if (!bpf_skb_load_bytes(skb, p.l4_off, w, sizeof(w)))
			esp_count(&p, ifindex, dir, TT_ESP_RAW, bpf_ntohl(w[0]), bpf_ntohl(w[1]), skb->len);
		return TCX_NEXT;
	}
	if (!p.has_ports)
		return TCX_NEXT;
	__u32 payload = p.l4_off + 8;

	if (p.protocol == IPPROTO_TCP) {
		__u8 doff;

		if (bpf_skb_load_bytes(skb, p.l4_off + 12, &doff, 1))
			return TCX_NEXT;
		payload = p.l4_off + (doff >> 4) * 4;
		if (skb->len <= payload)
			return TCX_NEXT; /* no payload: nothing a decoder wants */
	}
	__u8 head[8] = {};
	__u32 plen = skb->len > payload ? skb->len - payload : 0;

	if (plen >= 8)
		bpf_skb_load_bytes(skb, payload, head, 8);
	else if (plen >= 1)
		bpf_skb_load_bytes(skb, payload, head, 1);

	if (p.protocol == IPPROTO_UDP && (p.sport == PORT_NATT || p.dport == PORT_NATT)) {
		__u32 w0 = (__u32)head[0] << 24 | (__u32)head[1] << 16 | (__u32)head[2] << 8 | head[3];
		__u32 w1 = (__u32)head[4] << 24 | (__u32)head[5] << 16 | (__u32)head[6] << 8 | head[7];

		if (plen == 1 && head[0] == 0xff)
			return TCX_NEXT; /* NAT-T keepalive */
		if (plen >= 8 && w0 != 0) {
			esp_count(&p, ifindex, dir, TT_ESP_UDP, w0, w1, skb->len);
			return TCX_NEXT;
		}
		want_sample = plen >= 4; /* non-ESP marker: IKE on 4500 */
	} else if (p.protocol == IPPROTO_UDP && (p.sport == PORT_IKE || p.dport == PORT_IKE)) {
		want_sample = 1;
	} else if (p.sport == PORT_SIP || p.dport == PORT_SIP || p.sport == PORT_SIPS || p.dport == PORT_SIPS) {
		want_sample = 1;
	} else if (plen >= 8) {
		want_sample = looks_like_sip(head);
	}
	if (!want_sample)
		return TCX_NEXT;

	__u32 tgid = 0;

	if (dir == TT_DIR_IN)
		cookie = ingress_cookie(skb, &p);
	if (cookie) {
		struct tt_sock_info *info = bpf_map_lookup_elem(&sockets, &cookie);

		if (info)
			tgid = packet_owner(info, cookie, dir);
	}
	sample(skb, off, ifindex, dir, cookie, tgid);
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
 * A socket first seen in a packet (accepted TCP connections, unseeded old sockets): enter it if it
 * belongs to our netns, with no owner yet; the first process hook that sees a process use it
 * announces that process (OWNER).
 */
static __always_inline struct tt_sock_info *learn_socket(struct __sk_buff *skb, __u64 cookie, const struct pkt *p,
							 __u8 dir)
{
	__u64 netns = tt_netns_cookie; /* cg_handle checked it */

	if (p->protocol == IPPROTO_TCP) {
		/* Only a connection being opened or in use: a socket already released and gone
		 * from the table must not come back as a new one from its last packets. */
		struct bpf_sock *sk = skb->sk;

		if (!sk)
			return NULL;
		sk = bpf_sk_fullsock(sk);
		if (!sk)
			return NULL;
		__u32 st = sk->state;

		if (st != TCP_ESTABLISHED && st != TCP_SYN_SENT && st != TCP_SYN_RECV && st != TCP_CLOSE_WAIT)
			return NULL;
	}
	struct tt_sock_info info = {
		.netns_cookie = netns,
		.family = p->family == 4 ? AF_INET : AF_INET6,
		.protocol = p->protocol,
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
		r->bound_ifindex = skb->ifindex;
		r->lport = dir == TT_DIR_OUT ? p->sport : p->dport;
		r->rport = dir == TT_DIR_OUT ? p->dport : p->sport;
		__builtin_memcpy(r->laddr, dir == TT_DIR_OUT ? p->src : p->dst, 16);
		__builtin_memcpy(r->raddr, dir == TT_DIR_OUT ? p->dst : p->src, 16);
		sock_rec_submit(r);
	}
	return bpf_map_lookup_elem(&sockets, &cookie);
}

/* cgroup_skb: per-socket, per-process exact counts of packets on traced interfaces. Never drops. */
static __always_inline int cg_handle(struct __sk_buff *skb, __u8 dir)
{
	__u32 ifindex = skb->ifindex;

	/* Every packet of every namespace comes here: the cheapest test that rejects other
	 * namespaces' goes first (and an ifindex only means something within its netns). */
	if (bpf_get_netns_cookie(skb) != tt_netns_cookie)
		return 1;
	if (!bpf_map_lookup_elem(&traced, &ifindex))
		return 1;
	__u64 cookie = bpf_get_socket_cookie(skb);

	if (!cookie)
		return 1;
	struct pkt p;

	__builtin_memset(&p, 0, sizeof(p));
	if (parse_ip(skb, 0, &p))
		return 1;
	struct tt_sock_info *info = bpf_map_lookup_elem(&sockets, &cookie);

	if (!info)
		info = learn_socket(skb, cookie, &p, dir);
	if (!info)
		return 1;
	struct tt_flow_key k;

	flow_key_fill(&k, &p, cookie, ifindex, packet_owner(info, cookie, dir), dir);
	flow_count(&sock_flows, &k, skb->len, TT_STAT_SOCK_FLOWS_FULL);
	return 1;
}

SEC("cgroup_skb/ingress")
int cgroup_skb_ingress(struct __sk_buff *skb)
{
	return cg_handle(skb, TT_DIR_IN);
}

SEC("cgroup_skb/egress")
int cgroup_skb_egress(struct __sk_buff *skb)
{
	return cg_handle(skb, TT_DIR_OUT);
}
