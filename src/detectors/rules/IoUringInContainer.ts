// KS-ESC-020: io_uring in a container. Requests submitted through a ring never enter the openat/connect syscalls, so
// the rules built on those hooks cannot see them, and the default container seccomp profiles forbid io_uring_setup:
// a ring in a container means a pod running unconfined, and most often an exploit or an attempt to go unseen.

import { EventType, IoUringOpcode, Op } from '../../receiver/events.ts';
import { Attr } from '../attributeKeys.ts';
import { BoundedMap } from '../internal/BoundedMap.ts';
import { NO_FINDINGS, type DetectionContext, type Detector, type DetectorEvent, type Finding, type RuleMetadata } from '../Detector.ts';

const REPORTED = 8192;
const OPERATION_NAMES: Readonly<Record<number, string>> = {
  [IoUringOpcode.Openat]: 'openat',
  [IoUringOpcode.Openat2]: 'openat2',
  [IoUringOpcode.Connect]: 'connect',
};

export class IoUringInContainer implements Detector {
  readonly meta: RuleMetadata = {
    id: 'KS-ESC-020',
    version: '1.0.0',
    title: 'io_uring in a container',
    category: 'container_escape',
    severity: 'medium',
    mitre: { technique: 'T1562.001', name: 'Impair Defenses: Disable or Modify Tools' },
    events: [EventType.IoUring],
    description:
      'A container process creates an io_uring (io_uring_setup, seen at syscall entry as an attempt), or submits an ' +
      'OPENAT, OPENAT2 or CONNECT request through one (the io_uring_submit_req tracepoint: the path as passed, or the ' +
      'inet peer). Such requests bypass the open and connect syscalls, so the in-kernel open filter and every rule on ' +
      'opens and connections never see them; the default container seccomp profiles (RuntimeDefault in containerd ' +
      '>= 1.7 and CRI-O, Docker/Podman default) refuse io_uring_setup, so only an unconfined pod can get here. ' +
      'Reported once per container for the setup and once per container and operation. Not seen through a ring: ' +
      'reads and writes (so payload checks such as KS-MIN-001 stratum), sends, SOCKET, ACCEPT, RENAMEAT, UNLINKAT ' +
      'and every other opcode; a ring created before the agent started is seen only by the requests above.',
    falsePositives: [
      'Databases, proxies and storage engines built on io_uring (liburing), in pods that run with seccomp ' +
        'Unconfined or a profile allowing io_uring.',
    ],
    tuning: 'Exception by image for io_uring-based servers that run unconfined on purpose.',
    uuid: '732d7a05-0980-48f7-9910-075a31050f69',
  };

  readonly #reported = new BoundedMap<string, true>(REPORTED);

  stateEvictions(): number {
    return this.#reported.evictions;
  }

  onEvent(event: DetectorEvent, ctx: DetectionContext): readonly Finding[] {
    if (event.type !== EventType.IoUring) return NO_FINDINGS;
    const container = ctx.container(event);
    if (container === null) return NO_FINDINGS;
    const operation = event.op === Op.IoUringSetup ? 'setup' : OPERATION_NAMES[event.opcode];
    if (operation === undefined) return NO_FINDINGS;
    const key = `${container.id}/${operation}`;
    if (this.#reported.get(key)) return NO_FINDINGS;
    this.#reported.set(key, true);
    const attributes: Finding['attributes'] = { [Attr.ioUringOperation]: operation };
    let what: string;
    if (operation === 'setup') {
      attributes[Attr.syscall] = 'io_uring_setup';
      what = 'created an io_uring';
    } else if (operation === 'connect') {
      if (event.address !== '') {
        attributes[Attr.serverAddress] = event.address;
        attributes[Attr.serverPort] = event.port;
      }
      what = `connected through io_uring${event.address !== '' ? ` to ${event.address}:${event.port}` : ''}`;
    } else {
      attributes[Attr.filePath] = event.path;
      what = `opened ${JSON.stringify(event.path)} through io_uring (${operation})`;
    }
    return [{ summary: `${event.comm} ${what} in container ${container.id.slice(0, 12)}`, attributes }];
  }
}
