// Every attribute key a detection can carry: semantic-convention keys (from @opentelemetry/semantic-conventions,
// incubating where the key is not yet stable) and ours under kubesentry.*. Dashboards and exporters use this list;
// detectors and the engine use the constants so that a key exists in one place only.

import {
  ATTR_CONTAINER_ID,
  ATTR_CONTAINER_IMAGE_NAME,
  ATTR_K8S_NAMESPACE_NAME,
  ATTR_K8S_POD_NAME,
  ATTR_K8S_POD_UID,
  ATTR_NETWORK_TRANSPORT,
  ATTR_NETWORK_TYPE,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
} from '@opentelemetry/semantic-conventions';
import {
  ATTR_CONTAINER_RUNTIME_NAME,
  ATTR_DNS_QUESTION_NAME,
  ATTR_FILE_PATH,
  ATTR_PROCESS_COMMAND_LINE,
  ATTR_PROCESS_EXECUTABLE_NAME,
  ATTR_PROCESS_EXECUTABLE_PATH,
  ATTR_PROCESS_PARENT_PID,
  ATTR_PROCESS_PID,
  ATTR_PROCESS_USER_ID,
  ATTR_SECURITY_RULE_CATEGORY,
  ATTR_SECURITY_RULE_NAME,
  ATTR_SECURITY_RULE_REFERENCE,
  ATTR_SECURITY_RULE_RULESET_NAME,
  ATTR_SECURITY_RULE_UUID,
  ATTR_SECURITY_RULE_VERSION,
} from '@opentelemetry/semantic-conventions/incubating';

export const Attr = {
  // process (added by the engine from the process table)
  processPid: ATTR_PROCESS_PID,
  processParentPid: ATTR_PROCESS_PARENT_PID,
  processExecutablePath: ATTR_PROCESS_EXECUTABLE_PATH,
  processExecutableName: ATTR_PROCESS_EXECUTABLE_NAME,
  processCommandLine: ATTR_PROCESS_COMMAND_LINE,
  processUserId: ATTR_PROCESS_USER_ID,
  // container / pod (added by the engine)
  containerId: ATTR_CONTAINER_ID,
  containerRuntimeName: ATTR_CONTAINER_RUNTIME_NAME,
  containerImageName: ATTR_CONTAINER_IMAGE_NAME,
  k8sPodUid: ATTR_K8S_POD_UID,
  k8sPodName: ATTR_K8S_POD_NAME,
  k8sNamespaceName: ATTR_K8S_NAMESPACE_NAME,
  // rule (added by the engine)
  securityRuleUuid: ATTR_SECURITY_RULE_UUID,
  securityRuleName: ATTR_SECURITY_RULE_NAME,
  securityRuleVersion: ATTR_SECURITY_RULE_VERSION,
  securityRuleCategory: ATTR_SECURITY_RULE_CATEGORY,
  securityRuleReference: ATTR_SECURITY_RULE_REFERENCE,
  securityRuleRulesetName: ATTR_SECURITY_RULE_RULESET_NAME,
  detectionId: 'kubesentry.detection.id',
  ruleId: 'kubesentry.rule.id',
  mitreTechniqueId: 'kubesentry.mitre.technique.id',
  mitreTechniqueName: 'kubesentry.mitre.technique.name',
  // what happened (added by detectors)
  serverAddress: ATTR_SERVER_ADDRESS,
  serverPort: ATTR_SERVER_PORT,
  networkTransport: ATTR_NETWORK_TRANSPORT,
  networkType: ATTR_NETWORK_TYPE,
  filePath: ATTR_FILE_PATH,
  dnsQuestionName: ATTR_DNS_QUESTION_NAME,
  syscall: 'kubesentry.syscall',
  namespaceFlags: 'kubesentry.namespace.flags',
  namespaceType: 'kubesentry.namespace.type',
  namespaceTargetInode: 'kubesentry.namespace.target_inode',
  namespaceShared: 'kubesentry.namespace.shared_with_host',
  openFlags: 'kubesentry.open.flags',
  /** 'resolved' (the opened file's real path) or 'caller' (the string passed, e.g. for a refused open). */
  openPathSource: 'kubesentry.open.path_source',
  /** With a resolved path: the string the caller passed (relative, through a symlink, ...). */
  openCallerPath: 'kubesentry.open.caller_path',
  mountSource: 'kubesentry.mount.source',
  mountTarget: 'kubesentry.mount.target',
  mountFsType: 'kubesentry.mount.fstype',
  mountFlags: 'kubesentry.mount.flags',
  /** fsconfig: the option set, key=value as the caller passed them. */
  mountOption: 'kubesentry.mount.option',
  rootNew: 'kubesentry.root.new',
  hostPath: 'kubesentry.host.path',
  hostFsDevice: 'kubesentry.host.fs_device',
  moduleName: 'kubesentry.module.name',
  unixSocketPath: 'kubesentry.socket.unix_path',
  targetPid: 'kubesentry.target.pid',
  targetExecutable: 'kubesentry.target.executable',
  targetContainerId: 'kubesentry.target.container_id',
  ptraceRequest: 'kubesentry.ptrace.request',
  bpfCommand: 'kubesentry.bpf.command',
  bpfProgramType: 'kubesentry.bpf.program_type',
  credsArgs: 'kubesentry.creds.args',
  capsAdded: 'kubesentry.creds.capabilities_added',
  execReasons: 'kubesentry.exec.reasons',
  miningConfidence: 'kubesentry.mining.confidence',
  miningSignals: 'kubesentry.mining.signals',
  cpuUtilization: 'kubesentry.container.cpu.utilization',
  ioUringOperation: 'kubesentry.io_uring.operation',
  /** A 32-bit (ia32 compat) syscall: its i386 number, and the calls of it the kernel folded into this record. */
  compatSyscallNumber: 'kubesentry.syscall.i386_number',
  compatSyscallRepeats: 'kubesentry.syscall.repeats',
  droppedRecords: 'kubesentry.telemetry.dropped_records',
  droppedDetail: 'kubesentry.telemetry.dropped',
  droppedWindowMs: 'kubesentry.telemetry.window_ms',
  // enforcement (docs/enforcement.md): set by the engine when the kernel acted on the event
  /** 'kill' (enforcement on; signal_sent says whether the kernel sent it); 'dry-run': the process would have been killed. */
  enforcementAction: 'kubesentry.enforcement.action',
  enforcementSignalSent: 'kubesentry.enforcement.signal_sent',
  // behavioural baseline (src/baseline/)
  baselineProfile: 'kubesentry.baseline.profile',
  baselineClass: 'kubesentry.baseline.class',
  baselineItem: 'kubesentry.baseline.item',
  /** With a new executable: its parent → child pair, when that is new too (reported in the same detection). */
  baselineExecPair: 'kubesentry.baseline.exec_pair',
  baselineState: 'kubesentry.baseline.state',
  baselineProfileAgeSeconds: 'kubesentry.baseline.profile.age_s',
  baselineReplicasSeen: 'kubesentry.baseline.replicas_seen',
  baselineSummary: 'kubesentry.baseline.rate_limited_summary',
  /**
   * The process descends from one the runtime exec'd into the container (kubectl exec, an exec probe, a hook), not
   * from the container's init.
   */
  baselineInteractive: 'kubesentry.baseline.interactive',
  /** On a new connect: the name whose DNS answer, received by this container, gave the peer's address. */
  baselinePeerDnsName: 'kubesentry.baseline.peer.dns_name',
  /** On the summary of a new image's window: its digest, how many items it brought, the first few. */
  baselineImageDigest: 'kubesentry.baseline.image.digest',
  baselineImageNewItems: 'kubesentry.baseline.image.new_items',
  baselineImageSample: 'kubesentry.baseline.image.sample',
} as const;

export type AttributeKey = (typeof Attr)[keyof typeof Attr];

/** Every key a detection can carry, sorted, without duplicates. */
export const DETECTION_ATTRIBUTE_KEYS: readonly AttributeKey[] = Object.freeze(
  [...new Set(Object.values(Attr))].sort(),
);
