/* SPDX-License-Identifier: Apache-2.0 */
/* KS-ESC-007: init_module with bytes that are not a module (EPERM without CAP_SYS_MODULE, else ENOEXEC). */
#include "sim.h"
#include <sys/syscall.h>
#include <unistd.h>

int main(void)
{
	static const char not_a_module[64] = "kubesentry simulator: not an ELF module";
	ks_report("init_module", "init_module", syscall(SYS_init_module, not_a_module, sizeof(not_a_module), ""));
	return 0;
}
