/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The event ABI between the kernel programs (bpf/) and user space (native/, src/receiver/).
 *
 * Rules that keep the two sides from drifting:
 *  - fixed-width types only and no includes: the includer provides __u8..__u64 (vmlinux.h in BPF,
 *    <linux/types.h> in user space);
 *  - every record starts with struct ks_header and is a fixed size; hdr.size is that size (one exception, struct
 *    ks_open, says so: its size varies with its strings);
 *  - every pad byte is named (_padN) and zeroed by the producer;
 *  - event type and op numbers are explicit and never reused: a retired one moves to the retired
 *    list in a comment and its number stays taken;
 *  - src/receiver/layout.ts mirrors these structs, and test/layout.test.ts compares it with the
 *    BTF of the compiled object, so a field that moves here without the decoder following fails CI.
 */
#ifndef KUBESENTRY_EVENTS_H
#define KUBESENTRY_EVENTS_H

/* 2: hdr.start_boottime_ns (ks_exec/ks_exit lost their own copy); 3: ks_open's strings packed, its size varies */
#define KS_ABI_VERSION 3

#define KS_COMM_LEN 16
#define KS_PATH_LEN 256
#define KS_ARGS_LEN 512
#define KS_FSTYPE_LEN 32
#define KS_NAME_LEN 64
#define KS_PAYLOAD_LEN 128
#define KS_UNIX_PATH_LEN 108
/* A fresh TCP connection's writes are reported until the process has passed this many bytes or made this many
 * non-empty writes (each iovec counts as one), whichever comes first. */
#define KS_STREAM_CAPTURE_BYTES 256
#define KS_STREAM_CAPTURE_WRITES 8

/* Record types. Numbers are ABI: never renumber, never reuse. */
enum ks_event_type {
	KS_EVENT_EXEC = 1,        /* struct ks_exec: execve/execveat, and snapshots of existing processes */
	KS_EVENT_FORK = 2,        /* struct ks_fork: a new thread group (process) */
	KS_EVENT_EXIT = 3,        /* struct ks_exit: a thread group leader exits */
	KS_EVENT_NAMESPACE = 4,   /* struct ks_namespace: unshare, clone, clone3 carrying CLONE_NEW* flags */
	KS_EVENT_SETNS = 5,       /* struct ks_setns */
	KS_EVENT_MOUNT = 6,       /* struct ks_mount: mount, umount2, fsopen, fsmount, move_mount */
	KS_EVENT_ROOT_CHANGE = 7, /* struct ks_root_change: chroot, pivot_root */
	KS_EVENT_OPEN = 8,        /* struct ks_open: opens of sensitive paths (filtered in kernel), open_by_handle_at */
	KS_EVENT_CONNECT = 9,     /* struct ks_connect */
	KS_EVENT_PAYLOAD = 10,    /* struct ks_payload: the first writes of a fresh TCP connection; DNS queries and answers over UDP */
	KS_EVENT_MODULE = 11,     /* struct ks_module: init_module, finit_module, delete_module */
	KS_EVENT_PTRACE = 12,     /* struct ks_ptrace: ptrace, process_vm_writev */
	KS_EVENT_BPF = 13,        /* struct ks_bpf: bpf(), perf_event_open */
	KS_EVENT_FD_CREATE = 14,  /* struct ks_fd_create: memfd_create, userfaultfd */
	KS_EVENT_CREDS = 15,      /* struct ks_creds: setuid family, capset */
	KS_EVENT_CGROUP = 16,     /* struct ks_cgroup: cgroup mkdir, rmdir */
	KS_EVENT_HOST_FS = 17,    /* struct ks_host_fs: a container reaches a host filesystem (chroot, exec, write-open) */
	KS_EVENT_IO_URING = 18,   /* struct ks_io_uring: io_uring_setup; OPENAT/OPENAT2/CONNECT requests submitted */
	KS_EVENT_LISTEN = 19,     /* struct ks_listen: an IPv4/IPv6 socket put in the listening state (listen succeeded) */
	KS_EVENT_COMPAT_SYSCALL = 20, /* struct ks_compat_syscall: a container process made an ia32 (int 0x80) syscall */
	KS_EVENT_TYPE_MAX = 21,   /* one past the highest type; sizes the per-type counter maps */
};

/* Which syscall (or kernel path) produced a record, for records that several produce. Never reused. */
enum ks_op {
	KS_OP_NONE = 0,
	KS_OP_UNSHARE = 1,
	KS_OP_CLONE = 2,
	KS_OP_CLONE3 = 3,
	KS_OP_MOUNT = 10,
	KS_OP_UMOUNT = 11,
	KS_OP_FSOPEN = 12,
	KS_OP_FSMOUNT = 13,
	KS_OP_MOVE_MOUNT = 14,
	KS_OP_FSCONFIG = 15,
	KS_OP_CHROOT = 20,
	KS_OP_PIVOT_ROOT = 21,
	KS_OP_OPEN = 30,
	KS_OP_OPENAT = 31,
	KS_OP_OPENAT2 = 32,
	KS_OP_CREAT = 33,
	KS_OP_OPEN_BY_HANDLE_AT = 34,
	KS_OP_CONNECT = 40,
	KS_OP_WRITE = 41,
	KS_OP_SENDTO = 42,
	KS_OP_SENDMSG = 43,
	KS_OP_WRITEV = 44,
	KS_OP_LISTEN = 45,
	KS_OP_RECVFROM = 46,
	KS_OP_RECVMSG = 47,
	KS_OP_INIT_MODULE = 50,
	KS_OP_FINIT_MODULE = 51,
	KS_OP_DELETE_MODULE = 52,
	KS_OP_PTRACE = 60,
	KS_OP_PROCESS_VM_WRITEV = 61,
	KS_OP_BPF = 70,
	KS_OP_PERF_EVENT_OPEN = 71,
	KS_OP_MEMFD_CREATE = 80,
	KS_OP_USERFAULTFD = 81,
	KS_OP_SETUID = 90,
	KS_OP_SETGID = 91,
	KS_OP_SETREUID = 92,
	KS_OP_SETREGID = 93,
	KS_OP_SETRESUID = 94,
	KS_OP_SETRESGID = 95,
	KS_OP_SETFSUID = 96,
	KS_OP_SETFSGID = 97,
	KS_OP_CAPSET = 98,
	KS_OP_CGROUP_MKDIR = 100,
	KS_OP_CGROUP_RMDIR = 101,
	KS_OP_IO_URING_SETUP = 110,
	KS_OP_IO_URING_SUBMIT = 111,
	KS_OP_EXEC = 112,         /* ks_host_fs: an exec (the other host_fs ops reuse the syscall's op) */
};

/* hdr.flags */
#define KS_HDR_FLAG_TRUNCATED (1u << 0) /* a string or argv in this record was cut at its bound */
#define KS_HDR_FLAG_KILLED (1u << 1)    /* enforcement: SIGKILL was sent to the calling process for this record */
#define KS_HDR_FLAG_WOULD_KILL (1u << 2) /* enforcement in dry-run: the process would have been killed */
#define KS_HDR_FLAG_KILL_FAILED (1u << 3) /* enforcement on, but bpf_send_signal() refused: the process lives */
/* With one of the three flags above: the enum ks_enforce_rule that decided, in bits 8..15. */
#define KS_HDR_ENFORCE_RULE_SHIFT 8
#define KS_HDR_ENFORCE_RULE_MASK 0xffu

/*
 * The in-kernel enforcement checks (bpf/lib/enforce.h), each the bit number of its rule in enforce_cgroups'
 * masks. ABI like the ops: never renumber, never reuse. User space maps them to rule ids (src/receiver/enforcement.ts).
 */
enum ks_enforce_rule {
	KS_ENFORCE_USER_NAMESPACE = 0,  /* unshare/clone/clone3 with CLONE_NEWUSER (KS-ESC-001) */
	KS_ENFORCE_SETNS_HOST = 1,      /* setns to one of the host's namespaces (KS-ESC-002) */
	KS_ENFORCE_CGROUP_MOUNT = 2,    /* mount/fsopen of cgroup or cgroup2 (KS-ESC-004) */
	KS_ENFORCE_SENSITIVE_MOUNT = 3, /* mount/fsopen of proc, sysfs, ...; mount of a /dev/ source (KS-ESC-006) */
	KS_ENFORCE_MODULE_LOAD = 4,     /* init_module, finit_module (KS-ESC-007) */
	KS_ENFORCE_PTRACE_ATTACH = 5,   /* ptrace PTRACE_ATTACH / PTRACE_SEIZE (KS-ESC-009) */
	KS_ENFORCE_BPF_PROG_LOAD = 6,   /* bpf(BPF_PROG_LOAD) (KS-ESC-010) */
	KS_ENFORCE_OPEN_BY_HANDLE = 7,  /* open_by_handle_at (KS-ESC-011) */
	KS_ENFORCE_MEMFD_EXEC = 8,      /* exec of a memfd (KS-ESC-017) */
	KS_ENFORCE_RELEASE_AGENT_WRITE = 9, /* release_agent/notify_on_release write-open; release_agent mount option or fsconfig key (KS-ESC-004) */
	KS_ENFORCE_TUNABLE_WRITE = 10,  /* write-open of core_pattern, modprobe, uevent_helper, sysrq-trigger (KS-ESC-005) */
	KS_ENFORCE_RULE_MAX = 11,
};

/* What enforcement did, the second index of enforce_actions (rule * KS_ENFORCE_OUTCOMES + outcome). */
enum ks_enforce_outcome {
	KS_ENFORCE_KILLED = 0,
	KS_ENFORCE_WOULD_KILL = 1,
	KS_ENFORCE_KILL_FAILED = 2,
	KS_ENFORCE_OUTCOMES = 3,
};

/*
 * The slots of enforce_levels, each a mask with bit n set for cgroup level n. Two writers never share a slot: the
 * agent rewrites its slots whole, the kernel only ORs bits into its own.
 */
enum ks_enforce_levels_slot {
	KS_ENFORCE_LEVELS_ARMED_BY_AGENT = 0,  /* levels of the containers the agent armed */
	KS_ENFORCE_LEVELS_ARMED_BY_KERNEL = 1, /* levels of the containers the exec hook armed */
	KS_ENFORCE_LEVELS_PENDING = 2,         /* levels of the enforce_pending entries */
	KS_ENFORCE_LEVELS_SLOTS = 3,
};

/* enforce_mode[0] */
enum ks_enforce_mode {
	KS_ENFORCE_OFF = 0,
	KS_ENFORCE_DRY_RUN = 1,
	KS_ENFORCE_ON = 2,
};

/* ks_exec.exe_flags */
#define KS_EXEC_FLAG_SNAPSHOT (1u << 0) /* not an exec: a process that existed when the agent started */
#define KS_EXEC_FLAG_MEMFD (1u << 1)    /* the executable is a memfd (fileless execution) */
#define KS_EXEC_FLAG_UNLINKED (1u << 2) /* the executable has no links left (deleted after open) */

/* ks_host_fs.flags: facts about the mount through which the process reached the file */
#define KS_HOST_FS_FLAG_WHOLE_FS (1u << 0) /* the mount's root is the filesystem's root: all of it is visible */
#define KS_HOST_FS_FLAG_READONLY (1u << 1) /* the mount or its superblock is read-only */
#define KS_HOST_FS_FLAG_FS_PATH_TRUNCATED (1u << 2) /* fs_path lost components on the root side: no prefix */
/* ks_open.path_source */
#define KS_OPEN_PATH_CALLER 1   /* the string the caller passed (a failed open, or one whose file no leaf names) */
#define KS_OPEN_PATH_RESOLVED 2 /* the opened file's path from its dentries and mounts, up to the opener's root */
/* ks_namespace.flags of a clone3 whose clone_args the program could not read (no clone flag is this high) */
#define KS_CLONE_FLAGS_UNREAD (1ULL << 63)
/* ks_open.pattern_id of records no pattern produced: open_by_handle_at, a file emitted for its facts alone */
#define KS_OPEN_NO_PATTERN 0xffffffffu
/*
 * ks_open.file_facts: read from the new fd's struct file, never from the caller's arguments (which another thread
 * can rewrite, or leave in a page the program cannot read). Without KNOWN there was no file to read (a failed
 * open, open_by_handle_at) and the other bits are 0.
 */
#define KS_OPEN_FACT_KNOWN (1u << 0)
#define KS_OPEN_FACT_WRITE (1u << 1)          /* f_mode has FMODE_WRITE: the fd can write */
#define KS_OPEN_FACT_CGROUP_CONTROL (1u << 2) /* release_agent or notify_on_release on a cgroup filesystem */
#define KS_OPEN_FACT_KERNEL_TUNABLE (1u << 3) /* proc's sys/kernel/{core_pattern,modprobe,hotplug}, sysrq-trigger; sysfs's kernel/uevent_helper */
#define KS_OPEN_FACT_OWN_PROCESS (1u << 4)    /* a /proc/<pid>/ file of the opener itself (its proc inode's pid), however named */
/* ks_open.ret of records emitted at syscall entry (open_by_handle_at) */
#define KS_OPEN_RET_UNKNOWN (-0x7fffffff - 1)

/* ks_payload.kind */
#define KS_PAYLOAD_TCP_FIRST_BYTES 1 /* one record per write (per iovec) until KS_STREAM_CAPTURE_* is reached */
#define KS_PAYLOAD_DNS_QUERY 2
#define KS_PAYLOAD_DNS_ANSWER 3 /* received on a UDP socket the process sent a DNS query on (recvfrom, recvmsg) */

struct ks_header {
	__u16 type;        /* enum ks_event_type */
	__u16 size;        /* bytes of the whole record, header included */
	__u32 flags;       /* KS_HDR_FLAG_* */
	__u64 ktime_ns;    /* bpf_ktime_get_boot_ns(): CLOCK_BOOTTIME */
	__u64 cgroup_id;   /* cgroup v2 id of the task (bpf_get_current_cgroup_id) */
	__u32 tgid;        /* host process id */
	__u32 pid;         /* host thread id */
	__u32 uid;         /* real uid, as seen from the initial user namespace */
	__u32 gid;
	char comm[KS_COMM_LEN];
	/* The thread group leader's start (task->group_leader->start_boottime): with tgid, the identity of the process
	 * across pid reuse, so user space never judges a record by a dead process's entry whose exit it missed. */
	__u64 start_boottime_ns;
};

struct ks_exec {
	struct ks_header hdr;
	__u64 exe_ino;
	__u64 exe_mtime_ns;      /* lets user space tell binaries written after a container started */
	__u32 ppid;              /* real parent's tgid */
	__u32 euid;
	__u32 egid;
	__u32 exe_flags;         /* KS_EXEC_FLAG_* */
	__u32 exe_nlink;
	__u32 mnt_ns;            /* namespace inode numbers of the task after exec */
	__u32 pid_ns;
	__u32 net_ns;
	__u32 user_ns;
	__u32 uts_ns;
	__u32 ipc_ns;
	__u32 cgroup_ns;
	__u64 cap_effective;
	__u16 path_len;          /* bytes used in path, without the NUL */
	__u16 args_len;          /* bytes used in args: NUL-separated argv */
	__u32 argc;              /* the real argc, which may exceed what fit in args */
	char path[KS_PATH_LEN];
	char args[KS_ARGS_LEN];
	__u32 exe_dev;           /* the executable's st_dev, kernel encoding (major << 20 | minor): with exe_ino its identity */
	__u16 exe_path_len;      /* bytes used in exe_path, without the NUL */
	__u16 _pad0;
	char exe_path[KS_PATH_LEN]; /* the executed file (mm->exe_file = bprm->file) resolved up to the task's root */
};

struct ks_fork {
	struct ks_header hdr;    /* hdr.tgid and hdr.start_boottime_ns are the parent's */
	__u64 child_start_boottime_ns;
	__u32 child_tgid;
	__u32 child_pid;
	__u64 clone_flags;
};

struct ks_exit {
	struct ks_header hdr;
	__s32 exit_code;         /* as wait(2) reports it: status << 8 | signal */
	__u32 _pad0;
};

struct ks_namespace {
	struct ks_header hdr;
	__u64 flags;             /* unshare/clone flags; only records with CLONE_NEW* bits are emitted */
	__u32 op;                /* KS_OP_UNSHARE, KS_OP_CLONE, KS_OP_CLONE3 */
	__u32 _pad0;
};

struct ks_setns {
	struct ks_header hdr;
	__s32 fd;
	__s32 nstype;            /* CLONE_NEW* or 0 */
	__u32 target_ns_ino;     /* inode of the namespace the fd names; 0 when the fd is a pidfd or unresolvable */
	__u32 target_ns_type;    /* CLONE_NEW* of that namespace, from the nsfs file's operations; 0 if unknown */
};

/* ks_mount.facts: what the program could not read, or found, in the caller's arguments */
#define KS_MOUNT_FACT_TYPE_UNREADABLE (1u << 0) /* mount/fsopen: the fstype pointer is set but could not be read */
#define KS_MOUNT_FACT_DATA_UNREADABLE (1u << 1) /* mount: the data (options) pointer is set but could not be read */
#define KS_MOUNT_FACT_RELEASE_AGENT (1u << 2)   /* a release_agent option: mount data key, or the fsconfig key */
#define KS_MOUNT_FACT_KEY_UNREADABLE (1u << 3)  /* fsconfig: the key pointer is set but could not be read */
#define KS_MOUNT_FACT_KERNEL_TYPE (1u << 4)     /* at exit: fstype is the kernel's (the new mount, the fs_context) */

/*
 * fsconfig: flags is the command (FSCONFIG_*), source the key, target a string value (FSCONFIG_SET_STRING), fstype
 * the filesystem type of the fs_context the fd names, read from the kernel (not the caller's memory).
 */
struct ks_mount {
	struct ks_header hdr;
	__u64 flags;             /* mount: mountflags; umount2: flags; fsmount/move_mount: their flags; fsconfig: cmd */
	__u32 op;                /* KS_OP_MOUNT .. KS_OP_FSCONFIG */
	__u32 facts;             /* KS_MOUNT_FACT_* */
	char source[KS_PATH_LEN];
	char target[KS_PATH_LEN];
	char fstype[KS_FSTYPE_LEN];
};

struct ks_root_change {
	struct ks_header hdr;
	__u32 op;                /* KS_OP_CHROOT, KS_OP_PIVOT_ROOT */
	__u32 _pad0;
	char new_root[KS_PATH_LEN];
	char put_old[KS_PATH_LEN];
};

/*
 * The one record whose size varies: the two strings are packed into strings[] and only the bytes used are emitted
 * (hdr.size = KS_OPEN_FIXED_SIZE + those bytes rounded up to 8). At 608 fixed bytes the record was ten cache lines
 * of ring memory written per sensitive open, most of them zeros, and a large part of what the open cost.
 */
struct ks_open {
	struct ks_header hdr;
	__u32 op;                /* KS_OP_OPEN .. KS_OP_OPEN_BY_HANDLE_AT */
	__s32 dirfd;             /* AT_FDCWD (-100) for absolute and cwd-relative opens; mount_fd for open_by_handle_at */
	__u32 flags;             /* O_* */
	__u32 mode;
	__u32 pattern_id;        /* index of the sensitive-path pattern that matched; KS_OPEN_NO_PATTERN: none */
	__u32 file_facts;        /* KS_OPEN_FACT_*: what the opened file is, read from the kernel's struct file */
	__s32 ret;               /* the new fd or -errno; KS_OPEN_RET_UNKNOWN when reported at syscall entry */
	__u32 path_source;       /* KS_OPEN_PATH_*: which string `path` is */
	__u16 path_len;          /* path: strings[0 .. path_len), then a NUL; 0 for open_by_handle_at */
	__u16 caller_path_len;   /* with KS_OPEN_PATH_RESOLVED, the caller's string when it was read: strings[path_len + 1 ..
	                          * path_len + 1 + caller_path_len), then a NUL; 0: not read */
	__u32 _pad0;
	char strings[2 * KS_PATH_LEN]; /* path NUL [caller_path NUL]; each at most KS_PATH_LEN - 1 bytes */
};
#define KS_OPEN_FIXED_SIZE 104 /* offsetof(struct ks_open, strings): the smallest record is this + 8 */

struct ks_connect {
	struct ks_header hdr;
	__s32 fd;
	__u16 family;            /* AF_INET, AF_INET6, AF_UNIX */
	__u16 port;              /* host byte order */
	__u8 addr[16];           /* IPv4 in the first 4 bytes, IPv6 whole */
	char unix_path[KS_UNIX_PATH_LEN]; /* AF_UNIX; an abstract socket starts with a NUL */
	__u16 protocol;          /* the socket's protocol (IPPROTO_TCP, IPPROTO_UDP, ...); 0 for AF_UNIX */
	__u16 sock_type;         /* SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET, SOCK_RAW; 0: the fd was no socket */
};

struct ks_listen {
	struct ks_header hdr;
	__u32 op;                /* KS_OP_LISTEN */
	__s32 fd;
	__u16 family;            /* AF_INET, AF_INET6 */
	__u16 port;              /* local port, host byte order: the bound one, or the one listen() picked */
	__u16 protocol;          /* the socket's protocol (IPPROTO_TCP, IPPROTO_SCTP, IPPROTO_MPTCP) */
	__u16 sock_type;         /* SOCK_STREAM, SOCK_SEQPACKET */
	__u8 addr[16];           /* local address, IPv4 in the first 4 bytes; all zero: every address */
	__s32 backlog;           /* as the caller passed it */
	__u32 _pad0;
};

/*
 * A 32-bit (ia32 compat) system call by a container process: int 0x80, sysenter or a 32-bit syscall, which the
 * syscalls/sys_enter_* tracepoints never see on x86-64. One record per container, syscall number and
 * compat_repeat_window_ns, and per process too for a call an enforcement check looks at (unshare or clone with
 * CLONE_NEWUSER, setns, mount, ...: bpf/compat.bpf.c); the calls it stood for in between are counted in the next
 * such record's `repeats`. A call that enforcement acted on is always recorded.
 */
struct ks_compat_syscall {
	struct ks_header hdr;
	__u32 nr;                /* the i386 syscall number (arch/x86/entry/syscalls/syscall_32.tbl) */
	__u32 repeats;           /* calls with this record's key not recorded since the previous record of it */
	__u32 args[6];           /* the i386 argument registers as passed: ebx, ecx, edx, esi, edi, ebp */
};

struct ks_payload {
	struct ks_header hdr;
	__u32 op;                /* KS_OP_WRITE, KS_OP_SENDTO, KS_OP_SENDMSG */
	__u32 kind;              /* KS_PAYLOAD_* */
	__s32 fd;
	__u16 family;
	__u16 port;              /* remote port, host byte order */
	__u8 addr[16];           /* remote address */
	__u32 total_len;         /* bytes the caller passed */
	__u32 data_len;          /* bytes captured in data */
	__u8 data[KS_PAYLOAD_LEN];
	__u32 stream_offset;     /* TCP: bytes the process passed on this connection before this write (or iovec) */
	__u32 _pad1;
};

struct ks_module {
	struct ks_header hdr;
	__u32 op;                /* KS_OP_INIT_MODULE, KS_OP_FINIT_MODULE, KS_OP_DELETE_MODULE */
	__s32 fd;                /* finit_module */
	__u32 flags;
	__u32 _pad0;
	char name[KS_NAME_LEN];  /* delete_module: the module; finit_module: the file's name when resolvable */
};

struct ks_ptrace {
	struct ks_header hdr;
	__u32 op;                /* KS_OP_PTRACE, KS_OP_PROCESS_VM_WRITEV */
	__u32 target_tgid;       /* host id of the traced / written process, when it could be resolved */
	__s64 request;           /* PTRACE_* (ptrace only) */
	__u64 addr;
	__u32 target_pid_arg;    /* the pid argument as the caller gave it (its own pid namespace) */
	__u32 _pad0;
};

struct ks_bpf {
	struct ks_header hdr;
	__u32 op;                /* KS_OP_BPF, KS_OP_PERF_EVENT_OPEN */
	__u32 cmd;               /* bpf(): the command; perf_event_open: attr.type */
	__u32 prog_type;         /* bpf(BPF_PROG_LOAD): the program type */
	__s32 target_pid;        /* perf_event_open: pid argument */
	__u64 config;            /* perf_event_open: attr.config */
};

struct ks_fd_create {
	struct ks_header hdr;
	__u32 op;                /* KS_OP_MEMFD_CREATE, KS_OP_USERFAULTFD */
	__u32 flags;
	char name[KS_NAME_LEN];  /* memfd_create name */
};

struct ks_creds {
	struct ks_header hdr;
	__u32 op;                /* KS_OP_SETUID .. KS_OP_CAPSET */
	__u32 arg0;              /* the ids as passed, (__u32)-1 where "unchanged" */
	__u32 arg1;
	__u32 arg2;
	__u64 cap_effective_before;
	__u64 cap_permitted_before;
	__u64 cap_effective_new; /* capset only: what was asked for */
	__u64 cap_permitted_new;
	__u32 euid_before;
	__u32 _pad0;
};

struct ks_cgroup {
	struct ks_header hdr;
	__u64 id;                /* the cgroup's id, equal to hdr.cgroup_id of tasks inside it */
	__u32 op;                /* KS_OP_CGROUP_MKDIR, KS_OP_CGROUP_RMDIR */
	__u32 level;
	char path[KS_PATH_LEN];  /* relative to the cgroup2 root, starting with '/' */
};

struct ks_io_uring {
	struct ks_header hdr;
	__u32 op;                /* KS_OP_IO_URING_SETUP, KS_OP_IO_URING_SUBMIT */
	__u32 opcode;            /* submit: IORING_OP_* of the request */
	__u32 flags;             /* setup: io_uring_params.flags (IORING_SETUP_*); submit: the request's IOSQE_* flags */
	__s32 fd;                /* submit: OPENAT/OPENAT2 dirfd, CONNECT socket fd (or fixed-file index) */
	__u16 family;            /* CONNECT: AF_INET, AF_INET6, 0 when unreadable or another family */
	__u16 port;              /* CONNECT: host byte order */
	__u8 addr[16];           /* CONNECT: IPv4 in the first 4 bytes, IPv6 whole */
	__u32 _pad0;
	char path[KS_PATH_LEN];  /* OPENAT/OPENAT2: the path as the caller passed it, unresolved */
};

struct ks_host_fs {
	struct ks_header hdr;
	__u32 op;                /* KS_OP_CHROOT, KS_OP_PIVOT_ROOT, KS_OP_EXEC, KS_OP_OPEN .. KS_OP_CREAT */
	__u32 flags;             /* KS_HOST_FS_FLAG_* */
	__u32 dev;               /* s_dev of the file's superblock, kernel encoding: major << 20 | minor */
	__u32 open_flags;        /* write-opens: the file's f_flags (O_*, without the O_CREAT/O_EXCL/O_TRUNC open clears); else 0 */
	__u64 ino;               /* the file's (chroot: the new root's) inode */
	__u16 fs_path_len;
	__u16 path_len;
	__u32 nlink;             /* the inode's link count: above 1, another name (a hard link) may be elsewhere */
	char fs_path[KS_PATH_LEN]; /* from the filesystem's root (its superblock's root dentry), not the mount's */
	char path[KS_PATH_LEN];  /* as the process's mount namespace shows it */
};

/*
 * Configuration written by user space before the programs run (not events).
 * The sensitive-path filter: opens whose path matches none of these never leave the kernel.
 */
#define KS_MAX_PATH_PATTERNS 64
/* host_filesystems: s_dev of each of the host's filesystems (bpf/hostfs.bpf.c) */
#define KS_MAX_HOST_FILESYSTEMS 1024
/* enforce_cgroups: containers whose processes some rule may kill */
#define KS_MAX_ENFORCED_CGROUPS 16384
/* enforce_pending: cgroups below which the exec hook arms a container (kubepods roots, containers not yet running) */
#define KS_MAX_PENDING_CGROUPS 4096
#define KS_PATTERN_LEN 64

enum ks_pattern_kind {
	KS_PATTERN_UNUSED = 0,
	KS_PATTERN_EXACT = 1,        /* path == prefix */
	KS_PATTERN_PREFIX = 2,       /* path starts with prefix ("prefix*") */
	KS_PATTERN_PREFIX_SUFFIX = 3, /* starts with prefix, ends with second ("prefix*second") */
	KS_PATTERN_PREFIX_INFIX = 4, /* starts with prefix, contains second after it ("prefix*second*") */
};

struct ks_path_pattern {
	__u32 kind;                  /* enum ks_pattern_kind */
	__u16 prefix_len;
	__u16 second_len;
	char prefix[KS_PATTERN_LEN];
	char second[KS_PATTERN_LEN];
};

#endif /* KUBESENTRY_EVENTS_H */
