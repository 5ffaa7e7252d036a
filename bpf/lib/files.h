/* SPDX-License-Identifier: GPL-2.0 */
/*
 * From a file descriptor of the current task to its struct file, inode and socket.
 * Lock-free reads of the fd table, as /proc does with RCU: a racing close yields a stale or NULL
 * pointer, which only ever makes a best-effort field read 0.
 */
#ifndef KS_LIB_FILES_H
#define KS_LIB_FILES_H

static __always_inline struct file *ks_fd_file(int fd)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct file **slots;
	struct file *file = NULL;

	if (fd < 0 || !fdt || (unsigned int)fd >= BPF_CORE_READ(fdt, max_fds))
		return NULL;
	slots = BPF_CORE_READ(fdt, fd);
	bpf_core_read(&file, sizeof(file), &slots[fd]);
	return file;
}

static __always_inline struct inode *ks_file_inode(struct file *file)
{
	return file ? BPF_CORE_READ(file, f_inode) : NULL;
}

/* The socket behind a file, or NULL when the file is not a socket. */
static __always_inline struct socket *ks_file_socket(struct file *file)
{
	struct inode *inode = ks_file_inode(file);

	if (!inode || (BPF_CORE_READ(inode, i_mode) & KS_S_IFMT) != KS_S_IFSOCK)
		return NULL;
	/* sock_alloc_file() stores the socket in private_data for every socket file */
	return BPF_CORE_READ(file, private_data);
}

/*
 * A file with no name on any filesystem, held in memory only: no links, on shmem (tmpfs and the internal mount
 * behind memfd_create()) or hugetlbfs (MFD_HUGETLB). A memfd, or a tmpfs file deleted or made with O_TMPFILE; a file
 * on disk, whatever it is called (memfd:x), is not.
 */
static __always_inline bool ks_file_is_fileless(struct file *file)
{
	struct inode *inode = ks_file_inode(file);
	unsigned long magic;

	if (!inode || BPF_CORE_READ(inode, __i_nlink) != 0)
		return false;
	magic = BPF_CORE_READ(inode, i_sb, s_magic);
	return magic == KS_TMPFS_MAGIC || magic == KS_HUGETLBFS_MAGIC;
}

/* memfd_create()'s file: fileless, and its dentry a pseudo one with no directory (its own parent). */
static __always_inline bool ks_file_is_memfd(struct file *file)
{
	struct dentry *dentry = file ? BPF_CORE_READ(file, f_path.dentry) : NULL;

	return dentry && ks_file_is_fileless(file) && BPF_CORE_READ(dentry, d_parent) == dentry;
}

#endif /* KS_LIB_FILES_H */
