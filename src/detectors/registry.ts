// Every detector, explicitly. Adding a detector: write rules/<Name>.ts implementing Detector with a new stable id
// and uuid, a table-driven test in test/detectors/, add it here, and run `node scripts/gen-detection-docs.ts`.

import type { Detector } from './Detector.ts';
import { UserNamespaceCreation } from './rules/UserNamespaceCreation.ts';
import { SetnsIntoNamespace } from './rules/SetnsIntoNamespace.ts';
import { HostNamespaceShared } from './rules/HostNamespaceShared.ts';
import { CgroupReleaseAgent } from './rules/CgroupReleaseAgent.ts';
import { KernelTunableWrite } from './rules/KernelTunableWrite.ts';
import { SensitiveMount } from './rules/SensitiveMount.ts';
import { KernelModule } from './rules/KernelModule.ts';
import { RuntimeApiAccess } from './rules/RuntimeApiAccess.ts';
import { ProcessInjection } from './rules/ProcessInjection.ts';
import { KernelProgramLoad } from './rules/KernelProgramLoad.ts';
import { OpenByHandle } from './rules/OpenByHandle.ts';
import { HostResourceAccess } from './rules/HostResourceAccess.ts';
import { RuntimeBinaryOverwrite } from './rules/RuntimeBinaryOverwrite.ts';
import { UserfaultfdNonRoot } from './rules/UserfaultfdNonRoot.ts';
import { NodeCredentialAccess } from './rules/NodeCredentialAccess.ts';
import { PrivilegeRaise } from './rules/PrivilegeRaise.ts';
import { DriftExecution } from './rules/DriftExecution.ts';
import { CryptominingIncident } from './rules/CryptominingIncident.ts';
import { IoUringInContainer } from './rules/IoUringInContainer.ts';
import { TelemetryGap } from './rules/TelemetryGap.ts';
import { HostFilesystemAccess } from './rules/HostFilesystemAccess.ts';
import { CompatSyscall } from './rules/CompatSyscall.ts';
import { BaselineDetector } from '../baseline/BaselineDetector.ts';

export interface RegistryOptions {
  /** The agent passes its own, configured and restored from disk; otherwise one with default settings. */
  baseline?: BaselineDetector;
}

/** Fresh instances of every detector (each instance holds its own state). */
export function allDetectors(options: RegistryOptions = {}): Detector[] {
  return [
    new UserNamespaceCreation(),
    new SetnsIntoNamespace(),
    new HostNamespaceShared(),
    new CgroupReleaseAgent(),
    new KernelTunableWrite(),
    new SensitiveMount(),
    new KernelModule(),
    new RuntimeApiAccess(),
    new ProcessInjection(),
    new KernelProgramLoad(),
    new OpenByHandle(),
    new HostResourceAccess(),
    new RuntimeBinaryOverwrite(),
    new UserfaultfdNonRoot(),
    new NodeCredentialAccess(),
    new PrivilegeRaise(),
    new DriftExecution(),
    new CryptominingIncident(),
    new IoUringInContainer(),
    new TelemetryGap(),
    new HostFilesystemAccess(),
    new CompatSyscall(),
    options.baseline ?? new BaselineDetector(),
  ];
}
