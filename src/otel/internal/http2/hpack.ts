// HPACK (RFC 7541) for the OTLP client's HTTP/2 connection. Requests are encoded without the dynamic table and
// without Huffman coding (both optional for an encoder); responses are decoded in full, because the server's encoder
// may use every feature. Malformed input throws HpackError, which the connection treats as COMPRESSION_ERROR.

export class HpackError extends Error {
  override name = 'HpackError';
}

export type HeaderList = [name: string, value: string][];

/** What we accept of one decoded header block (RFC 7541 §4.1 sizes); a gRPC answer is a few hundred bytes. */
const MAX_HEADER_LIST_BYTES = 1 << 20;

// Appendix A.
const STATIC_TABLE: readonly (readonly [string, string])[] = [
  [':authority', ''], [':method', 'GET'], [':method', 'POST'], [':path', '/'], [':path', '/index.html'],
  [':scheme', 'http'], [':scheme', 'https'], [':status', '200'], [':status', '204'], [':status', '206'],
  [':status', '304'], [':status', '400'], [':status', '404'], [':status', '500'], ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'], ['accept-language', ''], ['accept-ranges', ''], ['accept', ''],
  ['access-control-allow-origin', ''], ['age', ''], ['allow', ''], ['authorization', ''], ['cache-control', ''],
  ['content-disposition', ''], ['content-encoding', ''], ['content-language', ''], ['content-length', ''],
  ['content-location', ''], ['content-range', ''], ['content-type', ''], ['cookie', ''], ['date', ''], ['etag', ''],
  ['expect', ''], ['expires', ''], ['from', ''], ['host', ''], ['if-match', ''], ['if-modified-since', ''],
  ['if-none-match', ''], ['if-range', ''], ['if-unmodified-since', ''], ['last-modified', ''], ['link', ''],
  ['location', ''], ['max-forwards', ''], ['proxy-authenticate', ''], ['proxy-authorization', ''], ['range', ''],
  ['referer', ''], ['refresh', ''], ['retry-after', ''], ['server', ''], ['set-cookie', ''],
  ['strict-transport-security', ''], ['transfer-encoding', ''], ['user-agent', ''], ['vary', ''], ['via', ''],
  ['www-authenticate', ''],
];

// Appendix B, as code lengths per symbol (256 = EOS): the code is canonical, so lengths determine the codes.
const HUFFMAN_CODE_LENGTHS = [
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28,
  6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, 5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10,
  13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6,
  15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5, 6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28,
  20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23, 24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24,
  22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, 21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,
  26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, 19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27,
  20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23, 26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26,
  30,
];

/** Binary trie over the canonical codes: node i's children at [2i] and [2i+1]; a negative entry is ~symbol. */
const HUFFMAN_TRIE = buildHuffmanTrie();

function buildHuffmanTrie(): Int32Array {
  const symbols = HUFFMAN_CODE_LENGTHS.map((length, symbol) => ({ length, symbol })).sort(
    (a, b) => a.length - b.length || a.symbol - b.symbol,
  );
  const trie = new Int32Array(2 * 2 * symbols.length).fill(0);
  let nodes = 1;
  let code = 0;
  let previousLength = symbols[0].length;
  for (let i = 0; i < symbols.length; i++) {
    const { length, symbol } = symbols[i];
    if (i > 0) code = (code + 1) * 2 ** (length - previousLength);
    previousLength = length;
    let node = 0;
    for (let bit = length - 1; bit >= 0; bit--) {
      const slot = 2 * node + (Math.floor(code / 2 ** bit) & 1);
      if (bit === 0) {
        trie[slot] = ~symbol;
      } else {
        if (trie[slot] === 0) trie[slot] = nodes++;
        node = trie[slot];
      }
    }
  }
  return trie;
}

const EOS = 256;

export function huffmanDecode(bytes: Uint8Array): string {
  const out: number[] = [];
  let node = 0;
  let depth = 0; // bits consumed since the last symbol: padding must be < 8 bits, all ones (a prefix of EOS)
  let allOnes = true;
  for (let i = 0; i < bytes.length; i++) {
    for (let bit = 7; bit >= 0; bit--) {
      const b = (bytes[i] >> bit) & 1;
      const next = HUFFMAN_TRIE[2 * node + b];
      depth++;
      allOnes &&= b === 1;
      if (next < 0) {
        const symbol = ~next;
        if (symbol === EOS) throw new HpackError('Huffman string contains EOS');
        out.push(symbol);
        node = 0;
        depth = 0;
        allOnes = true;
      } else if (next === 0) {
        throw new HpackError('invalid Huffman code');
      } else {
        node = next;
      }
    }
  }
  if (depth > 7 || !allOnes) throw new HpackError('invalid Huffman padding');
  return Buffer.from(out).toString('latin1');
}

/** Header field representation: literal without indexing, name from the static table where it has one. */
export function encodeHeaders(headers: HeaderList): Buffer {
  const parts: number[] = [];
  for (const [name, value] of headers) {
    const full = STATIC_TABLE.findIndex(([n, v]) => n === name && v === value);
    if (full !== -1) {
      writeInteger(parts, 0x80, 7, full + 1);
      continue;
    }
    const nameIndex = STATIC_TABLE.findIndex(([n]) => n === name);
    writeInteger(parts, 0x00, 4, nameIndex + 1);
    if (nameIndex === -1) writeString(parts, name);
    writeString(parts, value);
  }
  return Buffer.from(parts);
}

function writeInteger(out: number[], firstByteBits: number, prefixBits: number, value: number): void {
  const max = (1 << prefixBits) - 1;
  if (value < max) {
    out.push(firstByteBits | value);
    return;
  }
  out.push(firstByteBits | max);
  value -= max;
  while (value >= 128) {
    out.push((value % 128) + 128);
    value = Math.floor(value / 128);
  }
  out.push(value);
}

function writeString(out: number[], text: string): void {
  const bytes = Buffer.from(text, 'latin1');
  writeInteger(out, 0x00, 7, bytes.length);
  for (const b of bytes) out.push(b);
}

export class HpackDecoder {
  /** Newest first (index 62 is dynamic[0]). */
  readonly #dynamic: (readonly [string, string])[] = [];
  #size = 0;
  #maxSize: number;
  /** The SETTINGS_HEADER_TABLE_SIZE we advertised: the encoder may not exceed it. */
  readonly #limit: number;

  constructor(maxTableSize = 4096) {
    this.#maxSize = maxTableSize;
    this.#limit = maxTableSize;
  }

  decode(block: Uint8Array): HeaderList {
    const headers: HeaderList = [];
    let pos = 0;
    const integer = (prefixBits: number): number => {
      const max = (1 << prefixBits) - 1;
      let value = block[pos++] & max;
      if (value < max) return value;
      let shift = 1;
      for (;;) {
        if (pos >= block.length) throw new HpackError('truncated integer');
        const b = block[pos++];
        value += (b & 0x7f) * shift;
        if ((b & 0x80) === 0) return value;
        shift *= 128;
        if (shift > 2 ** 28) throw new HpackError('integer too large');
      }
    };
    const string = (): string => {
      if (pos >= block.length) throw new HpackError('truncated string');
      const huffman = (block[pos] & 0x80) !== 0;
      const length = integer(7);
      if (pos + length > block.length) throw new HpackError('truncated string');
      const raw = block.subarray(pos, pos + length);
      pos += length;
      return huffman ? huffmanDecode(raw) : Buffer.from(raw).toString('latin1');
    };
    let fieldSeen = false;
    // Indexed fields expand: a few bytes can name a 4 KiB table entry, so the decoded size is bounded on its own.
    let listSize = 0;
    const add = (field: readonly [string, string]): void => {
      listSize += entrySize(field);
      if (listSize > MAX_HEADER_LIST_BYTES) throw new HpackError(`header list larger than ${MAX_HEADER_LIST_BYTES} bytes`);
      headers.push([field[0], field[1]]);
    };
    while (pos < block.length) {
      const first = block[pos];
      if (first & 0x80) {
        add(this.#entry(integer(7)));
        fieldSeen = true;
      } else if ((first & 0xc0) === 0x40) {
        const index = integer(6);
        const name = index === 0 ? string() : this.#entry(index)[0];
        const entry = [name, string()] as const;
        add(entry);
        this.#insert(entry);
        fieldSeen = true;
      } else if ((first & 0xe0) === 0x20) {
        if (fieldSeen) throw new HpackError('table size update after a header field');
        const size = integer(5);
        if (size > this.#limit) throw new HpackError(`table size ${size} above the advertised ${this.#limit}`);
        this.#maxSize = size;
        this.#evict(0);
      } else {
        // Literal without indexing (0000) or never indexed (0001).
        const index = integer(4);
        const name = index === 0 ? string() : this.#entry(index)[0];
        add([name, string()]);
        fieldSeen = true;
      }
    }
    return headers;
  }

  #entry(index: number): readonly [string, string] {
    if (index === 0) throw new HpackError('index 0');
    if (index <= STATIC_TABLE.length) return STATIC_TABLE[index - 1];
    const entry = this.#dynamic[index - STATIC_TABLE.length - 1];
    if (!entry) throw new HpackError(`index ${index} outside the tables`);
    return entry;
  }

  #insert(entry: readonly [string, string]): void {
    const size = entrySize(entry);
    this.#evict(size);
    // An entry larger than the whole table empties it and is not added.
    if (size <= this.#maxSize) {
      this.#dynamic.unshift(entry);
      this.#size += size;
    }
  }

  #evict(incoming: number): void {
    while (this.#dynamic.length > 0 && this.#size + incoming > this.#maxSize) {
      this.#size -= entrySize(this.#dynamic.pop()!);
    }
  }
}

function entrySize([name, value]: readonly [string, string]): number {
  return Buffer.byteLength(name, 'latin1') + Buffer.byteLength(value, 'latin1') + 32;
}
