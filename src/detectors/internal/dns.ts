// The question name of a DNS query message (RFC 1035 §4.1), from the first bytes the kernel captured.

const HEADER_BYTES = 12;
const MAX_NAME_BYTES = 255;

/** The first question's name, lower-case without the trailing dot; undefined when the bytes are not a query. */
export function dnsQuestionName(message: Uint8Array): string | undefined {
  if (message.length < HEADER_BYTES + 1) return undefined;
  const isResponse = (message[2] & 0x80) !== 0;
  const questions = (message[4] << 8) | message[5];
  if (isResponse || questions === 0) return undefined;
  const labels: string[] = [];
  let offset = HEADER_BYTES;
  let total = 0;
  for (;;) {
    if (offset >= message.length) return labels.length > 0 ? labels.join('.') : undefined; // cut by the capture bound
    const len = message[offset];
    if (len === 0) break;
    if (len > 63) return undefined; // compression pointers never appear in a query's first name
    total += len + 1;
    if (total > MAX_NAME_BYTES) return undefined;
    const end = Math.min(offset + 1 + len, message.length);
    let label = '';
    for (let i = offset + 1; i < end; i++) label += String.fromCharCode(message[i]);
    labels.push(label.toLowerCase());
    offset += 1 + len;
  }
  return labels.length > 0 ? labels.join('.') : undefined;
}

/** name equals a suffix or ends with '.' + suffix. */
export function matchesDomainSuffix(name: string, suffixes: readonly string[]): string | undefined {
  for (const suffix of suffixes) {
    if (name === suffix || (name.length > suffix.length && name.endsWith(suffix) && name[name.length - suffix.length - 1] === '.')) {
      return suffix;
    }
  }
  return undefined;
}
