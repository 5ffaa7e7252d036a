// KS-ESC-001: a container process creates a user namespace; raised to critical when it (or a child) then
// writes an id map, the step that turns the new namespace into full capabilities over it.

import { EventType, type KernelEvent, type NamespaceEvent, type OpenEvent } from '../../receiver/events.ts';
import { Attr } from '../attributeKeys.ts';
import { NO_FINDINGS, type DetectionContext, type Detector, type DetectorEvent, type Finding, type RuleMetadata } from '../Detector.ts';
import { BoundedMap } from '../internal/BoundedMap.ts';
import { hex, isRuntimeSetup, isWriteOpen, splitProcPath } from '../internal/util.ts';
import { KernelEnforceCheck } from '../../receiver/enforcement.ts';

export const CLONE_NEWUSER = 0x10000000n;
/** KS_CLONE_FLAGS_UNREAD: clone3 whose clone_args the kernel program could not read (an untouched page). */
export const CLONE_FLAGS_UNREAD = 1n << 63n;
const ID_MAP_FILES = new Set(['uid_map', 'gid_map', 'setgroups']);
const TRACKED_PROCESSES = 4096;

interface Incident {
  createdNs: bigint;
  escalated: boolean;
}

interface Tracked {
  /**
   * Start time of the tracked process, from the kernel (its records' header, a fork's child start): never from the
   * process table, whose entry for the pid can change under the same process (a /proc tick refined by an exec, a dead
   * holder whose exit was lost replaced at the next exec), which made a later record of the same process look like
   * another's. 0n: the producer had none to give.
   */
  startNs: bigint;
  incident: Incident;
}

export class UserNamespaceCreation implements Detector {
  readonly meta: RuleMetadata = {
    id: 'KS-ESC-001',
    version: '1.2.0',
    title: 'User namespace created in a container',
    category: 'container_escape',
    severity: 'high',
    mitre: { technique: 'T1611', name: 'Escape to Host' },
    events: [EventType.Namespace, EventType.Fork, EventType.Exit, EventType.Open],
    description:
      'A process in a container called unshare/clone/clone3 with CLONE_NEWUSER, or clone3 with clone_args the kernel ' +
      'program could not read (a page not yet faulted in: reported as evasion). A new user namespace gives full ' +
      'capabilities inside it and opens kernel attack surface (most container-escape exploits start here). ' +
      'Raised to critical when the same process or a child then opens /proc/<pid>/uid_map, gid_map or setgroups ' +
      'for writing within the follow-up window. The id-map files are matched on the opened file\'s resolved path as well as the caller\'s string (relative paths, dirfd opens and symlinks are seen). The ' +
      'runtime creating a pod\'s user namespace (runc init, hostUsers: false) is not reported; it is recognised by ' +
      'the device and inode of the host\'s runtime binary it executed in the host\'s mount namespace, not by name.',
    falsePositives: [
      'Rootless container builders (buildah, kaniko in rootless mode) and sandboxing browsers running in a pod.',
      'Tools that use unshare(1) for isolation in CI jobs.',
    ],
    tuning: 'Add an exception for the builder image or executable; settings.userNamespaceFollowUpSeconds sets the window.',
    uuid: '72345771-7586-48f9-aa46-2c9652a69b71',
    enforcement: {
      checks: [KernelEnforceCheck.UserNamespace],
      description:
        'unshare, clone or clone3 with CLONE_NEWUSER, and clone3 whose clone_args cannot be read at syscall entry ' +
        '(fails closed); a child found in a new user namespace at fork (parent and child): the process dies before ' +
        'it can write an id map (a clone creates no child). ' +
        'Through the 32-bit entry (int 0x80, KS-ESC-021) on the same flags, and a clone3 whose flags cannot be read as well; ' +
        'a 32-bit setns too, where KS-ESC-002 does not kill (its fd is not looked at).',
    },
    openPathPatterns: ['/proc/*/uid_map', '/proc/*/gid_map', '/proc/*/setgroups'],
  };

  /** tgid → the incident it belongs to (a child shares its parent's); the start time guards against pid reuse. */
  readonly #tracked = new BoundedMap<number, Tracked>(TRACKED_PROCESSES);

  stateEvictions(): number {
    return this.#tracked.evictions;
  }

  onEvent(event: DetectorEvent, ctx: DetectionContext): readonly Finding[] {
    switch (event.type) {
      case EventType.Namespace:
        return this.#onNamespace(event, ctx);
      case EventType.Fork: {
        const incident = this.#lookup(event);
        if (incident) this.#tracked.set(event.childTgid, { startNs: event.childStartBoottimeNs, incident });
        return NO_FINDINGS;
      }
      case EventType.Exit: {
        const tracked = this.#tracked.peek(event.tgid);
        if (tracked && sameStart(tracked.startNs, event.startBoottimeNs)) this.#tracked.delete(event.tgid);
        return NO_FINDINGS;
      }
      case EventType.Open:
        return this.#onOpen(event, ctx);
      default:
        return NO_FINDINGS;
    }
  }

  #lookup(event: KernelEvent): Incident | undefined {
    const tracked = this.#tracked.get(event.tgid);
    return tracked && sameStart(tracked.startNs, event.startBoottimeNs) ? tracked.incident : undefined;
  }

  #onNamespace(event: NamespaceEvent, ctx: DetectionContext): readonly Finding[] {
    const unread = (event.cloneFlags & CLONE_FLAGS_UNREAD) !== 0n;
    if ((event.cloneFlags & CLONE_NEWUSER) === 0n && !unread) return NO_FINDINGS;
    if (ctx.container(event) === null || isRuntimeSetup(event, ctx)) return NO_FINDINGS;
    if (unread) {
      // Arguments placed where the kernel program cannot read them: evasion, whatever the flags were.
      return [{
        summary: `${event.comm} called clone3 with clone_args the kernel program could not read inside a container (taken as CLONE_NEWUSER)`,
        attributes: { [Attr.syscall]: syscallName(event.op), [Attr.namespaceFlags]: hex(event.cloneFlags) },
      }];
    }
    this.#tracked.set(event.tgid, { startNs: event.startBoottimeNs, incident: { createdNs: event.ktimeNs, escalated: false } });
    return [
      {
        summary: `${event.comm} created a user namespace inside a container`,
        attributes: { [Attr.syscall]: syscallName(event.op), [Attr.namespaceFlags]: hex(event.cloneFlags) },
      },
    ];
  }

  #onOpen(event: OpenEvent, ctx: DetectionContext): readonly Finding[] {
    if (!isWriteOpen(event.openFlags)) return NO_FINDINGS;
    const proc = splitProcPath(event.path);
    if (!proc || !ID_MAP_FILES.has(proc.rest)) return NO_FINDINGS;
    const incident = this.#lookup(event);
    if (!incident || incident.escalated) return NO_FINDINGS;
    if (event.ktimeNs - incident.createdNs > ctx.settings.userNamespaceFollowUpNs) return NO_FINDINGS;
    incident.escalated = true;
    return [
      {
        severity: 'critical',
        summary: `${event.comm} wrote ${event.path} after creating a user namespace inside a container`,
        attributes: { [Attr.filePath]: event.path, [Attr.openFlags]: hex(event.openFlags) },
      },
    ];
  }
}

/** Equal start times, or one side unknown (0n: a record whose producer had no start time to give). */
function sameStart(a: bigint, b: bigint): boolean {
  return a === 0n || b === 0n || a === b;
}

function syscallName(op: number): string {
  return op === 1 ? 'unshare' : op === 3 ? 'clone3' : 'clone';
}
