// The kind of a connect's peer, from its address: what the cluster's address plan says it is. The address ranges
// of pods, services and nodes are the cluster's choice (kubeadm's --pod-network-cidr, --service-cidr; a cloud's
// VPC), so they are configuration (baseline.podCidrs, serviceCidrs, nodeCidrs); the node's own addresses are
// read at start-up. Without them every private range is 'internal', as before they existed.

import { BlockList, isIP } from 'node:net';

export type PeerKind = 'loopback' | 'metadata' | 'node' | 'service' | 'pod' | 'link_local' | 'internal' | 'external';

export interface PeerRanges {
  podCidrs: readonly string[];
  serviceCidrs: readonly string[];
  nodeCidrs: readonly string[];
  /** The node's own addresses (its interfaces), which are node peers whatever the CIDRs say. */
  nodeAddresses?: readonly string[];
}

export class PeerRangeError extends Error {
  override name = 'PeerRangeError';
}

/** A CIDR list as a BlockList; PeerRangeError names the first entry that is not `address/prefix`. */
function blockList(cidrs: readonly string[], key: string): BlockList | undefined {
  if (cidrs.length === 0) return undefined;
  const list = new BlockList();
  for (const cidr of cidrs) {
    const [address, prefixText, extra] = cidr.trim().split('/');
    const family = isIP(address ?? '');
    const prefix = Number(prefixText);
    if (extra !== undefined || family === 0 || !/^\d{1,3}$/.test(prefixText ?? '') || prefix > (family === 4 ? 32 : 128)) {
      throw new PeerRangeError(`baseline.${key}: '${cidr}' is not a CIDR (address/prefix, e.g. 10.244.0.0/16)`);
    }
    list.addSubnet(address, prefix, family === 4 ? 'ipv4' : 'ipv6');
  }
  return list;
}

function familyOf(address: string): 'ipv4' | 'ipv6' | undefined {
  const f = isIP(address);
  return f === 4 ? 'ipv4' : f === 6 ? 'ipv6' : undefined;
}

export class PeerKinds {
  readonly #pods: BlockList | undefined;
  readonly #services: BlockList | undefined;
  readonly #nodes: BlockList | undefined;
  readonly #nodeAddresses: ReadonlySet<string>;

  constructor(ranges: PeerRanges = { podCidrs: [], serviceCidrs: [], nodeCidrs: [] }) {
    this.#pods = blockList(ranges.podCidrs, 'podCidrs');
    this.#services = blockList(ranges.serviceCidrs, 'serviceCidrs');
    this.#nodes = blockList(ranges.nodeCidrs, 'nodeCidrs');
    this.#nodeAddresses = new Set((ranges.nodeAddresses ?? []).map((a) => a.toLowerCase()));
  }

  /**
   * Metadata endpoint and loopback first (whatever the CIDRs), then the node's own addresses (a pod CIDR may hold
   * the node's bridge address), services, pods, other nodes; then the address's own class.
   */
  kind(address: string): PeerKind {
    const a = address.toLowerCase().replace(/^::ffff:(?=\d+\.)/, '');
    if (a === '169.254.169.254' || a === 'fd00:ec2::254') return 'metadata';
    if (a.startsWith('127.') || a === '::1') return 'loopback';
    const family = familyOf(a);
    if (family !== undefined) {
      if (this.#nodeAddresses.has(a)) return 'node';
      if (this.#services?.check(a, family)) return 'service';
      if (this.#pods?.check(a, family)) return 'pod';
      if (this.#nodes?.check(a, family)) return 'node';
    }
    if (a.startsWith('169.254.') || a.startsWith('fe80:')) return 'link_local';
    const octets = a.split('.').map(Number);
    if (octets.length === 4) {
      const [o1, o2] = octets;
      if (o1 === 10 || (o1 === 172 && o2 >= 16 && o2 <= 31) || (o1 === 192 && o2 === 168) || (o1 === 100 && o2 >= 64 && o2 <= 127)) {
        return 'internal';
      }
      return 'external';
    }
    return a.startsWith('fc') || a.startsWith('fd') ? 'internal' : 'external';
  }
}
