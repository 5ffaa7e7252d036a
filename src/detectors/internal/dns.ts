// The question name of a DNS query message (RFC 1035 §4.1), and the addresses a response gives for it, from the
// first bytes the kernel captured. Everything here is the network's (or the container's resolver's) text: bounded,
// and a message cut by the capture bound yields what was complete.

import { formatIPv4, formatIPv6 } from '../../receiver/decoder.ts';

const HEADER_BYTES = 12;
const MAX_NAME_BYTES = 255;

/** The first question's name, lower-case without the trailing dot; undefined when the bytes are not a query. */
export function dnsQuestionName(message: Uint8Array): string | undefined {
  if (message.length < HEADER_BYTES + 1) return undefined;
  const isResponse = (message[2] & 0x80) !== 0;
  const questions = (message[4] << 8) | message[5];
  if (isResponse || questions === 0) return undefined;
  return firstQuestionName(message);
}

/** The name of a message's first question, lower-case; what fits in the captured bytes. */
function firstQuestionName(message: Uint8Array): string | undefined {
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

/** Most addresses taken from one response. */
const MAX_ANSWER_ADDRESSES = 16;
const TYPE_A = 1;
const TYPE_AAAA = 28;

/**
 * The question of a DNS response and the A/AAAA addresses its answer section gives (for the question's name or
 * the CNAMEs it leads to: the workload asked for the question). undefined when the bytes are not a response.
 */
export function dnsAnswerAddresses(message: Uint8Array): { name: string; addresses: string[] } | undefined {
  if (message.length < HEADER_BYTES + 1 || (message[2] & 0x80) === 0) return undefined;
  const questions = (message[4] << 8) | message[5];
  const answers = (message[6] << 8) | message[7];
  if (questions !== 1) return undefined;
  const question = firstQuestionName(message);
  if (question === undefined) return undefined;
  let offset = skipName(message, HEADER_BYTES);
  if (offset === undefined) return undefined;
  offset += 4; // QTYPE, QCLASS
  const addresses: string[] = [];
  for (let i = 0; i < answers && addresses.length < MAX_ANSWER_ADDRESSES; i++) {
    const at = skipName(message, offset);
    if (at === undefined || at + 10 > message.length) break;
    const type = (message[at] << 8) | message[at + 1];
    const length = (message[at + 8] << 8) | message[at + 9];
    const data = at + 10;
    if (data + length > message.length) break;
    if (type === TYPE_A && length === 4) addresses.push(formatIPv4(message, data));
    else if (type === TYPE_AAAA && length === 16) addresses.push(formatIPv6(message, data));
    offset = data + length;
  }
  return { name: question, addresses };
}

/** The offset after the name at `offset` (labels, ending in a zero or a compression pointer); undefined if cut. */
function skipName(message: Uint8Array, offset: number): number | undefined {
  for (let labels = 0; labels < 128; labels++) {
    if (offset >= message.length) return undefined;
    const len = message[offset];
    if (len === 0) return offset + 1;
    if ((len & 0xc0) === 0xc0) return offset + 2 <= message.length ? offset + 2 : undefined;
    if (len > 63) return undefined;
    offset += 1 + len;
  }
  return undefined;
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
