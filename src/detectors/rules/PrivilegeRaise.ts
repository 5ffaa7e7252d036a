// KS-ESC-016: a non-root container process asks for uid/gid 0 or for capabilities it does not have. Legitimate
// software drops privileges; raising them from non-root means a setuid helper or a kernel exploit.

import { EventType, Op, type CredsEvent } from '../../receiver/events.ts';
import { Attr } from '../attributeKeys.ts';
import { NO_FINDINGS, type DetectionContext, type Detector, type DetectorEvent, type Finding, type RuleMetadata } from '../Detector.ts';
import { hex, isRuntimeSetup } from '../internal/util.ts';

const SYSCALLS: Record<number, string> = {
  [Op.Setuid]: 'setuid',
  [Op.Setgid]: 'setgid',
  [Op.Setreuid]: 'setreuid',
  [Op.Setregid]: 'setregid',
  [Op.Setresuid]: 'setresuid',
  [Op.Setresgid]: 'setresgid',
  [Op.Setfsuid]: 'setfsuid',
  [Op.Setfsgid]: 'setfsgid',
  [Op.Capset]: 'capset',
};
const UNCHANGED = 0xffffffff;
const ARG_COUNT: Record<number, number> = {
  [Op.Setuid]: 1, [Op.Setgid]: 1, [Op.Setfsuid]: 1, [Op.Setfsgid]: 1,
  [Op.Setreuid]: 2, [Op.Setregid]: 2, [Op.Setresuid]: 3, [Op.Setresgid]: 3,
};

export class PrivilegeRaise implements Detector {
  readonly meta: RuleMetadata = {
    id: 'KS-ESC-016',
    version: '1.1.0',
    title: 'Non-root container process raised its privileges',
    category: 'privilege_escalation',
    severity: 'high',
    mitre: { technique: 'T1548', name: 'Abuse Elevation Control Mechanism' },
    events: [EventType.Creds],
    description:
      'A container process whose effective uid was not 0 calls a setuid-family syscall with uid 0 while its real ' +
      'uid is not 0 (setgid family: gid 0 while its real gid is not 0), or capset asking for capabilities outside ' +
      'its permitted set. Root processes dropping privileges, returning to a real id, raising an effective ' +
      'capability it is permitted, and the runtime applying a container user\'s capabilities (recognised by the device and inode of the ' +
      'host\'s runtime binary, not by name) are not reported.',
    falsePositives: ['Images that use setuid-root helpers (su, sudo, ping on old images) as a non-root user.'],
    tuning: 'Exception by executable for the setuid helper, or by image.',
    uuid: '55114b28-4af9-4222-a89b-f4931eb38e83',
  };

  onEvent(event: DetectorEvent, ctx: DetectionContext): readonly Finding[] {
    if (event.type !== EventType.Creds || event.euidBefore === 0) return NO_FINDINGS;
    const finding = event.op === Op.Capset ? capsetFinding(event) : idFinding(event);
    if (finding === undefined || ctx.container(event) === null || isRuntimeSetup(event, ctx)) return NO_FINDINGS;
    return [finding];
  }
}

const GID_OPS: ReadonlySet<number> = new Set([Op.Setgid, Op.Setregid, Op.Setresgid, Op.Setfsgid]);

function idFinding(event: CredsEvent): Finding | undefined {
  const count = ARG_COUNT[event.op];
  if (count === undefined) return undefined;
  // Going back to a real id of 0 is no raise (a root daemon that lowered its effective uid, or busybox dropping
  // to its real gid 0 at start); header uid/gid are the real ids.
  if ((GID_OPS.has(event.op) ? event.gid : event.uid) === 0) return undefined;
  const args = event.args.slice(0, count);
  if (!args.some((id) => id === 0)) return undefined;
  const syscall = SYSCALLS[event.op];
  const shown = args.map((id) => (id === UNCHANGED ? '-1' : String(id)));
  return {
    summary: `${event.comm} (euid ${event.euidBefore}) called ${syscall}(${shown.join(', ')}) inside a container`,
    attributes: { [Attr.syscall]: syscall, [Attr.credsArgs]: shown },
  };
}

function capsetFinding(event: CredsEvent): Finding | undefined {
  // Raising an effective capability from the permitted set is normal (ping, file capabilities); asking for one
  // outside the permitted set is not something a correct program does.
  const added = (event.capEffectiveNew | event.capPermittedNew) & ~event.capPermittedBefore;
  if (added === 0n) return undefined;
  return {
    summary: `${event.comm} (euid ${event.euidBefore}) asked capset for capabilities ${hex(added)} outside its permitted set inside a container`,
    attributes: { [Attr.syscall]: 'capset', [Attr.capsAdded]: hex(added) },
  };
}
