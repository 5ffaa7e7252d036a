// UUID version 7 (RFC 9562): 48-bit Unix milliseconds, then random bits. Time-ordered, so detection ids sort by time.
import { fillRandom, hexOf } from '../../randomIds.ts';

export function uuidV7(unixMs: number): string {
  const b = new Uint8Array(16);
  fillRandom(b);
  let ms = Math.max(0, Math.floor(unixMs));
  for (let i = 5; i >= 0; i--) {
    b[i] = ms % 256;
    ms = Math.floor(ms / 256);
  }
  b[6] = 0x70 | (b[6] & 0x0f);
  b[8] = 0x80 | (b[8] & 0x3f);
  const hex = hexOf(b);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
