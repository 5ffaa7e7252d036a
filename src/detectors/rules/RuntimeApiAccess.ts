// KS-ESC-008: talking to the container runtime's API socket or the kubelet API from a container: either lets the
// caller start a privileged container on the node.

import { EventType } from '../../receiver/events.ts';
import { Attr } from '../attributeKeys.ts';
import { NO_FINDINGS, type DetectionContext, type Detector, type DetectorEvent, type Finding, type RuleMetadata } from '../Detector.ts';
import { basename } from '../internal/util.ts';

const AF_UNIX = 1;
const AF_INET = 2;
const AF_INET6 = 10;

export class RuntimeApiAccess implements Detector {
  readonly meta: RuleMetadata = {
    id: 'KS-ESC-008',
    version: '1.0.0',
    title: 'Container runtime or kubelet API accessed from a container',
    category: 'container_escape',
    severity: 'high',
    mitre: { technique: 'T1611', name: 'Escape to Host' },
    events: [EventType.Connect, EventType.Open],
    description:
      'A container process connects to (or opens) a container-runtime API socket (docker.sock, containerd.sock, ' +
      'crio.sock, podman.sock, ... wherever it is mounted: matched by socket file name), or connects to a kubelet ' +
      'API port (10250, 10255). Opens are only seen for absolute paths under /run and /var/run.',
    falsePositives: [
      'CI runners using the node\'s Docker socket (docker-out-of-docker).',
      'Monitoring agents scraping the kubelet on port 10250 (metrics-server, Prometheus node exporters).',
    ],
    tuning: 'Exception by image or namespace; settings.runtimeSockets and settings.kubeletPorts change what matches.',
    uuid: '758f4c71-7b71-496c-960f-49193976ddf9',
    openPathPatterns: ['/run/*.sock', '/var/run/*.sock'],
  };

  onEvent(event: DetectorEvent, ctx: DetectionContext): readonly Finding[] {
    if (event.type === EventType.Connect) {
      if (event.family === AF_UNIX) {
        if (!ctx.settings.runtimeSockets.has(basename(event.unixPath))) return NO_FINDINGS;
        if (ctx.container(event) === null) return NO_FINDINGS;
        return [
          {
            summary: `${event.comm} connected to runtime socket ${event.unixPath} from inside a container`,
            attributes: { [Attr.unixSocketPath]: event.unixPath, [Attr.networkTransport]: 'unix' },
          },
        ];
      }
      if (event.family !== AF_INET && event.family !== AF_INET6) return NO_FINDINGS;
      if (!ctx.settings.kubeletPorts.has(event.port) || ctx.container(event) === null) return NO_FINDINGS;
      return [
        {
          summary: `${event.comm} connected to the kubelet API at ${event.address}:${event.port} from inside a container`,
          attributes: {
            [Attr.serverAddress]: event.address,
            [Attr.serverPort]: event.port,
            [Attr.networkTransport]: 'tcp',
            [Attr.networkType]: event.family === AF_INET ? 'ipv4' : 'ipv6',
          },
        },
      ];
    }
    if (event.type === EventType.Open) {
      if (!ctx.settings.runtimeSockets.has(basename(event.path)) || ctx.container(event) === null) return NO_FINDINGS;
      return [
        {
          summary: `${event.comm} opened runtime socket ${event.path} from inside a container`,
          attributes: { [Attr.filePath]: event.path },
        },
      ];
    }
    return NO_FINDINGS;
  }
}
