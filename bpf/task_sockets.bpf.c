// SPDX-License-Identifier: MIT OR GPL-2.0-only
/*
 * portscope's in-kernel owner map: a task_file iterator that writes one row per open fd that
 * is a socket, so user space never has to readlink every fd on the host.
 *
 * Built by build.rs with `clang -target bpf -O2 -g`; loaded by src/collect/linux/bpf/loader.rs.
 * It is self-contained on purpose: no vmlinux.h and no libbpf headers, only the few kernel
 * fields it reads, declared with preserve_access_index so their offsets are relocated against
 * the running kernel's BTF (CO-RE) at load time.
 *
 * The license string must be GPL-compatible: bpf_seq_write and bpf_probe_read_kernel are
 * GPL-only helpers. This file alone is offered under MIT or GPL-2.0.
 */

typedef unsigned char __u8;
typedef unsigned short __u16;
typedef unsigned int __u32;
typedef unsigned long long __u64;

#define SEC(name) __attribute__((section(name), used))
#define CORE __attribute__((preserve_access_index))

/* BTF-defined maps, the convention libbpf and aya both read from the ".maps" section. */
#define __uint(name, val) int (*name)[val]
#define __type(name, val) __typeof__(val) *name

#define BPF_MAP_TYPE_HASH 1
#define BPF_MAP_TYPE_ARRAY 2
#define BPF_F_NO_PREALLOC 1

/* Helper ids from include/uapi/linux/bpf.h; they are stable ABI. */
static void *(*bpf_map_lookup_elem)(void *map, const void *key) = (void *)1;
static long (*bpf_probe_read_kernel)(void *dst, __u32 size, const void *src) = (void *)113;
struct seq_file;
static long (*bpf_seq_write)(struct seq_file *m, const void *data, __u32 len) = (void *)127;

#define S_IFMT 0170000
#define S_IFSOCK 0140000
/* An O_PATH fd on a bound unix socket's path has an S_IFSOCK inode too, but from the
 * filesystem it lives on; /proc shows it as a path, not as socket:[N]. Only sockfs inodes
 * are sockets. */
#define SOCKFS_MAGIC 0x534F434B
/* An fd on a namespace file (/proc/PID/ns/net, a bind mount under /run/netns) is an nsfs
 * inode whose number is the namespace's. */
#define NSFS_MAGIC 0x6e736673

/* The kernel types read, reduced to the fields used. */
struct ns_common {
	unsigned int inum;
} CORE;

struct net {
	struct ns_common ns;
} CORE;

typedef struct {
	struct net *net;
} CORE possible_net_t;

struct sock_common {
	possible_net_t skc_net;
} CORE;

struct sock {
	struct sock_common __sk_common;
} CORE;

struct socket {
	struct sock *sk;
} CORE;

struct super_block {
	unsigned long s_magic;
} CORE;

struct inode {
	unsigned short i_mode;
	struct super_block *i_sb;
	unsigned long i_ino;
} CORE;

struct file {
	struct inode *f_inode;
	void *private_data; /* the struct socket, for a socket file */
} CORE;

struct task_struct {
	int tgid;
} CORE;

struct bpf_iter_meta {
	struct seq_file *seq;
} CORE;

struct bpf_iter__task_file {
	union {
		struct bpf_iter_meta *meta;
	};
	union {
		struct task_struct *task;
	};
	__u32 fd;
	union {
		struct file *file;
	};
} CORE;

/* One row per (process, fd) holding a socket, or (READ_NSFS) a namespace file; user space
 * decodes exactly this layout. */
struct socket_row {
	__u32 tgid;
	__u32 fd;
	__u64 inode;
	__u32 netns; /* inode of the socket's network namespace; 0 if unreadable or not asked for */
	__u32 kind;  /* ROW_SOCKET or ROW_NSFS */
};

#define ROW_SOCKET 0
#define ROW_NSFS 1

/* The socket inodes user space wants; sized by the loader (set_max_entries). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__type(key, __u64);
	__type(value, __u8);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} wanted_inodes SEC(".maps");

/* What user space asks of the next walk: entry 0 holds these bits (mirrored in loader.rs). */
#define WANTED_ONLY 1 /* write only the sockets whose inode is in wanted_inodes */
#define READ_NETNS 2  /* fill in netns: three dependent reads per socket, a third of a full walk */
#define READ_NSFS 4   /* also write a row for each fd on a namespace file (any type of namespace) */

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} config SEC(".maps");

static __u32 config_flags(void)
{
	__u32 zero = 0;
	__u32 *flags = bpf_map_lookup_elem(&config, &zero);

	return flags ? *flags : 0;
}

/* private_data is a void pointer, so the verifier will not let it be dereferenced directly:
 * each hop is a probe read. Any failure gives 0 ("unknown"), never a missing row. */
static __u32 netns_of(struct file *file)
{
	struct socket *sock = file->private_data;
	struct sock *sk = 0;
	struct net *net = 0;
	unsigned int inum = 0;

	if (!sock || bpf_probe_read_kernel(&sk, sizeof(sk), &sock->sk) || !sk)
		return 0;
	if (bpf_probe_read_kernel(&net, sizeof(net), &sk->__sk_common.skc_net.net) || !net)
		return 0;
	if (bpf_probe_read_kernel(&inum, sizeof(inum), &net->ns.inum))
		return 0;
	return inum;
}

SEC("iter/task_file")
int task_sockets(struct bpf_iter__task_file *ctx)
{
	struct task_struct *task = ctx->task;
	struct file *file = ctx->file;
	struct inode *inode;
	struct socket_row row;
	__u32 flags;

	/* The last call of a walk has neither. */
	if (!task || !file)
		return 0;
	inode = file->f_inode;
	if (!inode)
		return 0;
	/* i_mode and i_sb share a cache line; i_ino is on the next one, read only for a row. */
	if ((inode->i_mode & S_IFMT) != S_IFSOCK) {
		if (!(config_flags() & READ_NSFS) || inode->i_sb->s_magic != NSFS_MAGIC)
			return 0;
		row.kind = ROW_NSFS;
		row.netns = 0;
	} else {
		if (inode->i_sb->s_magic != SOCKFS_MAGIC)
			return 0;
		row.inode = inode->i_ino;
		flags = config_flags();
		if ((flags & WANTED_ONLY) && !bpf_map_lookup_elem(&wanted_inodes, &row.inode))
			return 0;
		row.kind = ROW_SOCKET;
		row.netns = (flags & READ_NETNS) ? netns_of(file) : 0;
	}
	row.inode = inode->i_ino;
	row.tgid = task->tgid;
	row.fd = ctx->fd;
	/* When the seq buffer is full this fails and the kernel shows this file again on the next
	 * read(), so a reader that reads until 0 gets every row exactly once. */
	bpf_seq_write(ctx->meta->seq, &row, sizeof(row));
	return 0;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
