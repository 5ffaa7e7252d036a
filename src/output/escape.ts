// Text an attacker chose (argv, paths, comm, pod names, error messages about them) printed for humans. A terminal
// acts on control characters: a "\n" or "\r" forges a line, ESC [ recolours or rewrites the screen, C1 controls
// (U+0080-U+009F; U+009B is a one-character CSI) do the same on terminals that honour them, and bidi overrides
// (U+202E) show text in an order other than the bytes'. So every such character is printed as an escape.

/**
 * Characters rendered as escapes: C0 controls, DEL, C1 controls, the backslash (so an escape in the output is
 * always ours and `\n` printed by a process cannot pass for an escaped newline), bidi marks, embeddings, overrides
 * and isolates, and the line and paragraph separators.
 */
const UNSAFE_FOR_TERMINAL = /[\x00-\x1f\x7f-\x9f\\\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/g;

const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t', '\\': '\\\\' };

function escapeOne(c: string): string {
  const named = NAMED[c];
  if (named !== undefined) return named;
  const code = c.charCodeAt(0);
  // \xHH only for ASCII, so that it never reads as a byte of a UTF-8 sequence.
  return code < 0x80 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
}

/** The text with every character a terminal could act on written as a visible escape (\n, \x1b, \u202e, \\). */
export function escapeForTerminal(text: string): string {
  return text.replace(UNSAFE_FOR_TERMINAL, escapeOne);
}

/**
 * What JSON.stringify leaves raw but a terminal showing the file (`tail -f`, `less`) would act on: C1 controls,
 * bidi controls, U+2028/U+2029. JSON already escapes C0 controls. Outside strings a JSON text is ASCII, so these can
 * only be inside strings, where `\uXXXX` decodes to the very same character: the record is unchanged.
 */
const UNSAFE_IN_JSON = /[\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/g;

/** JSON.stringify(value, replacer) that is also safe to show on a terminal, decoding to the same value. */
export function stringifyForTerminal(value: unknown, replacer?: (this: unknown, key: string, value: unknown) => unknown): string {
  return JSON.stringify(value, replacer).replace(UNSAFE_IN_JSON, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
