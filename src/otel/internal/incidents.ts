// Incident traces: a container's detections (host processes: the host's) form one trace until the quiet window
// passes without a detection. Each detection becomes a span under the spans of its process ancestry; an ancestry
// span is emitted once per incident, and the incident remembers its id by (pid, start boot time) so every later
// detection of the same process finds the same parent.
import { randomHexId } from '../../randomIds.ts';
import type { AncestryEntry, Detection } from '../../detection.ts';

export interface IncidentSpanPlan {
  traceId: string;
  detectionSpanId: string;
  /** Parent of the detection span: the span of ancestry[0], or none when the detection has no ancestry. */
  detectionParentSpanId?: string;
  /** Ancestry spans not yet emitted in this incident, with their parents (undefined = trace root). */
  newAncestry: { entry: AncestryEntry; spanId: string; parentSpanId?: string }[];
}

interface Incident {
  traceId: string;
  lastDetectionMs: number;
  /** "pid:start_boottime_ns" → span id of the ancestry spans already emitted in this incident. */
  emittedSpans: Map<string, string>;
}

// Bounds memory if a node churns through many containers: the least recently active incidents are forgotten
// (a later detection there starts a new trace, which is the right outcome for something quiet that long).
const MAX_INCIDENTS = 10_000;

export class IncidentTracker {
  readonly #quietWindowMs: number;
  readonly #incidents = new Map<string, Incident>();

  constructor(quietWindowMs: number) {
    this.#quietWindowMs = quietWindowMs;
  }

  plan(d: Detection, hostName: string): IncidentSpanPlan {
    const key = incidentKey(d, hostName);
    const nowMs = Number(d.timeUnixNs / 1_000_000n);
    let incident = this.#incidents.get(key);
    if (!incident || nowMs - incident.lastDetectionMs > this.#quietWindowMs) {
      incident = { traceId: randomHexId(16), lastDetectionMs: nowMs, emittedSpans: new Map() };
    }
    incident.lastDetectionMs = Math.max(incident.lastDetectionMs, nowMs);
    // Re-insert to keep the map in least-recently-used order for eviction.
    this.#incidents.delete(key);
    this.#incidents.set(key, incident);
    if (this.#incidents.size > MAX_INCIDENTS) this.#incidents.delete(this.#incidents.keys().next().value!);

    const ids: string[] = [];
    const fresh: boolean[] = [];
    for (const entry of d.ancestry) {
      const key = `${entry.pid}:${entry.start_boottime_ns}`;
      let id = incident.emittedSpans.get(key);
      fresh.push(id === undefined);
      if (id === undefined) {
        id = randomHexId(8);
        incident.emittedSpans.set(key, id);
      }
      ids.push(id);
    }
    const newAncestry: IncidentSpanPlan['newAncestry'] = [];
    d.ancestry.forEach((entry, i) => {
      if (fresh[i]) newAncestry.push({ entry, spanId: ids[i], parentSpanId: ids[i + 1] });
    });
    return {
      traceId: incident.traceId,
      detectionSpanId: randomHexId(8),
      detectionParentSpanId: ids[0],
      newAncestry,
    };
  }
}

function incidentKey(d: Detection, hostName: string): string {
  const container = d.attributes['container.id'];
  return typeof container === 'string' && container !== '' ? `container:${container}` : `host:${hostName}`;
}
