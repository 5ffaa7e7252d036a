// Canonical forms of what a workload does, so one behaviour is one learned item: pids, container ids, the
// service-account token's dated directory and fd numbers vary between runs of the same code. Everything here is
// attacker-chosen text (paths, names), so it is bounded and never interpreted beyond string shape.

import { posix } from 'node:path';

/** Longest item kept; longer ones are cut (and marked) so one event cannot make a profile large. */
export const MAX_ITEM_LENGTH = 512;

export function bounded(text: string): string {
  return text.length <= MAX_ITEM_LENGTH ? text : `${text.slice(0, MAX_ITEM_LENGTH)}…`;
}

/** A path with its run-to-run variable parts replaced: /proc/<pid>, <container-id>, ..<timestamp>, /dev/fd/<n>. */
export function canonicalPath(path: string): string {
  // normalize() folds '//', '/./' and '/../', which an attacker could use to spell a known path as a new item.
  let p = path.startsWith('/') ? posix.normalize(path) : path;
  p = p.replace(/^\/proc\/\d+(?=\/|$)/, '/proc/<pid>');
  p = p.replace(/^\/dev\/fd\/\d+/, '/dev/fd/<n>');
  // The kubelet's atomic writer puts projected volumes (the service-account token) in ..YYYY_MM_DD_hh_mm_ss.<n>.
  p = p.replace(/\/\.\.\d{4}_\d{2}_\d{2}_\d{2}_\d{2}_\d{2}\.\d+(?=\/|$)/g, '/..<timestamp>');
  p = p.replace(/[0-9a-f]{64}/g, '<container-id>');
  return bounded(p);
}

/**
 * A DNS question as the workload meant it: lower-case, no trailing dot, and without the cluster resolver's search
 * suffixes (<ns>.svc.<domain>, svc.<domain>, <domain>), which the resolver appends to every name it tries.
 */
export function canonicalDnsName(name: string, clusterDomain: string): string {
  let n = name.toLowerCase().replace(/\.+$/, '');
  const svc = `.svc.${clusterDomain}`;
  const svcAt = n.lastIndexOf(svc);
  if (svcAt >= 0 && svcAt + svc.length === n.length) {
    const head = n.slice(0, svcAt);
    const dot = head.lastIndexOf('.');
    n = dot < 0 ? head : head.slice(0, dot); // drops the namespace label too
  } else if (n.endsWith(`.${clusterDomain}`)) {
    n = n.slice(0, -(clusterDomain.length + 1));
  }
  return bounded(n);
}

/**
 * The shape siblings share: runs of hex (8+) and of digits replaced. Items of one shape collapse into it when a
 * class has learned many of them (collapseAt), so /app/worker-1 … /app/worker-40 are one learned pattern.
 */
export function itemShape(item: string): string {
  return item.replace(/[0-9a-f]{8,}/g, '<hex>').replace(/\d+/g, '<n>');
}
