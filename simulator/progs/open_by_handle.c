/* SPDX-License-Identifier: Apache-2.0 */
/* KS-ESC-011: open_by_handle_at with a made-up handle (EPERM without CAP_DAC_READ_SEARCH, else ESTALE). */
#include "sim.h"
#include <fcntl.h>
#include <unistd.h>

int main(void)
{
	struct {
		struct file_handle fh;
		unsigned char bytes[8];
	} h;
	memset(&h, 0, sizeof(h));
	h.fh.handle_bytes = 8;
	h.fh.handle_type = 1; /* FILEID_INO32_GEN; inode 2 generation 0 is the classic shocker start */
	h.bytes[0] = 2;
	int mount_fd = open("/", O_RDONLY | O_DIRECTORY);
	if (mount_fd < 0)
		return ks_setup_failed("open_by_handle", "/");
	int fd = open_by_handle_at(mount_fd, &h.fh, O_RDONLY);
	ks_report("open_by_handle", "open_by_handle_at", fd);
	if (fd >= 0)
		close(fd);
	close(mount_fd);
	return 0;
}
