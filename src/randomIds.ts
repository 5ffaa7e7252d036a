// Random identifiers on the detection path (detection UUIDs, trace and span ids). Each one used to be its own call
// into the CSPRNG, which at a few hundred detections a second was a visible share of the agent's CPU; drawing them
// from a pooled buffer costs one call per few hundred ids and keeps the same randomness.
import { randomFillSync } from 'node:crypto';

const POOL_BYTES = 4096;
const pool = Buffer.alloc(POOL_BYTES);
let used = POOL_BYTES;

const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** Fills `target` with random bytes. */
export function fillRandom(target: Uint8Array): void {
  if (used + target.length > POOL_BYTES) {
    randomFillSync(pool);
    used = 0;
  }
  target.set(pool.subarray(used, used + target.length));
  used += target.length;
}

/** Lowercase hex of the bytes. */
export function hexOf(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; i++) out += HEX[bytes[i]];
  return out;
}

/** `bytes` random bytes as lowercase hex, never all zeros (OTLP rejects all-zero trace and span ids). */
export function randomHexId(bytes: 8 | 16): string {
  const id = new Uint8Array(bytes);
  fillRandom(id);
  if (id.every((b) => b === 0)) id[bytes - 1] = 1;
  return hexOf(id);
}
