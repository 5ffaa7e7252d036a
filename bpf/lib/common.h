/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What every kernel program includes: kernel types from the running kernel's BTF (build/vmlinux.h),
 * libbpf's helpers, the event ABI and the maps shared by all programs of the linked object.
 */
#ifndef KS_LIB_COMMON_H
#define KS_LIB_COMMON_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>

#include "events.h"
#include "lib/kernel_defs.h"
#include "lib/maps.h"
#include "lib/emit.h"
#include "lib/enforce.h"

#endif /* KS_LIB_COMMON_H */
