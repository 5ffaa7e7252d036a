/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Kernel constants that are preprocessor macros in the uapi headers, so BTF (and vmlinux.h) lacks them.
 * Values are uapi and never change.
 */
#ifndef KS_LIB_KERNEL_DEFS_H
#define KS_LIB_KERNEL_DEFS_H

#define KS_CLONE_VM 0x00000100ULL
#define KS_CLONE_FS 0x00000200ULL
#define KS_CLONE_FILES 0x00000400ULL
#define KS_CLONE_SIGHAND 0x00000800ULL
#define KS_CLONE_PTRACE 0x00002000ULL
#define KS_CLONE_VFORK 0x00004000ULL
#define KS_CLONE_PARENT 0x00008000ULL
#define KS_CLONE_THREAD 0x00010000ULL
#define KS_CLONE_NEWNS 0x00020000ULL
#define KS_CLONE_NEWCGROUP 0x02000000ULL
#define KS_CLONE_NEWUTS 0x04000000ULL
#define KS_CLONE_NEWIPC 0x08000000ULL
#define KS_CLONE_NEWUSER 0x10000000ULL
#define KS_CLONE_NEWPID 0x20000000ULL
#define KS_CLONE_NEWNET 0x40000000ULL
#define KS_CLONE_NEWTIME 0x00000080ULL

/*
 * clone() carries the exit signal in its low byte, where unshare() and clone3() put CLONE_NEWTIME,
 * so the two masks differ.
 */
#define KS_CLONE_NEW_MASK_CLONE                                                                    \
	(KS_CLONE_NEWNS | KS_CLONE_NEWCGROUP | KS_CLONE_NEWUTS | KS_CLONE_NEWIPC | KS_CLONE_NEWUSER |  \
	 KS_CLONE_NEWPID | KS_CLONE_NEWNET)
#define KS_CLONE_NEW_MASK (KS_CLONE_NEW_MASK_CLONE | KS_CLONE_NEWTIME)

#define KS_AF_UNIX 1
#define KS_AF_INET 2
#define KS_AF_INET6 10
#define KS_SOCK_STREAM 1
#define KS_SOCK_DGRAM 2
#define KS_DNS_PORT 53

#define KS_S_IFMT 00170000
#define KS_S_IFCHR 0020000
#define KS_S_IFBLK 0060000
#define KS_S_IFSOCK 0140000
#define KS_NSFS_MAGIC 0x6e736673
#define KS_PIDFS_MAGIC 0x50494446 /* pidfd files since 6.9 */
#define KS_CGROUP_SUPER_MAGIC 0x27e0eb
#define KS_CGROUP2_SUPER_MAGIC 0x63677270
#define KS_PROC_SUPER_MAGIC 0x9fa0
#define KS_SYSFS_MAGIC 0x62656572
#define KS_OVERLAYFS_SUPER_MAGIC 0x794c7630
#define KS_TMPFS_MAGIC 0x01021994     /* shmem: tmpfs, and the internal mount behind memfd_create() */
#define KS_HUGETLBFS_MAGIC 0x958458f6 /* memfd_create(MFD_HUGETLB) */
#define KS_FMODE_WRITE 0x2u           /* file->f_mode: opened for writing */
#define KS_FMODE_PATH 0x4000u         /* file->f_mode: an O_PATH fd (no read or write; also how a socket is opened) */

#define KS_O_ACCMODE 00000003 /* O_WRONLY or O_RDWR: opened for writing */
#define KS_O_WRONLY 00000001
#define KS_O_CREAT 00000100
#define KS_O_TRUNC 00001000

#define KS_PTRACE_TRACEME 0
#define KS_PTRACE_ATTACH 16
#define KS_PTRACE_SEIZE 0x4206

#define KS_LINUX_CAPABILITY_VERSION_1 0x19980330

#define KS_EINPROGRESS 115

/* pid namespaces nest at most this deep (MAX_PID_NS_LEVEL) */
#define KS_MAX_PID_NS_LEVEL 32

/* thread_info.status: the current syscall came in through a 32-bit entry (in_ia32_syscall(), x86-64) */
#define KS_TS_COMPAT 0x0002

#define KS_SIGKILL 9
#define KS_BPF_PROG_LOAD 5

#endif /* KS_LIB_KERNEL_DEFS_H */
