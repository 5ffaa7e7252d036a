/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Syscall tracepoints (syscalls/sys_enter_X, sys_exit_X): the arguments as the caller passed them,
 * user pointers included, and the return value on exit.
 */
#ifndef KS_LIB_SYSCALL_H
#define KS_LIB_SYSCALL_H

#define KS_ARG(ctx, n) (((struct trace_event_raw_sys_enter *)(ctx))->args[n])
#define KS_ARG_PTR(ctx, n) ((const void *)KS_ARG(ctx, n))
#define KS_RET(ctx) (((struct trace_event_raw_sys_exit *)(ctx))->ret)

#endif /* KS_LIB_SYSCALL_H */
