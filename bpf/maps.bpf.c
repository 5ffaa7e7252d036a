// SPDX-License-Identifier: GPL-2.0
/*
 * The one unit that defines the shared maps and tunables (lib/maps.h) and the license; every other
 * unit declares them extern and `bpftool gen object` resolves them into one object.
 */
#define KS_DEFINE_MAPS
#include "lib/common.h"

char LICENSE[] SEC("license") = "GPL";
