// One line for a failed API call: the HTTP status, or the socket error code (ECONNREFUSED, ...) under fetch's
// generic "fetch failed", never the multi-line dump the generated client puts in its message.

export function describeError(error: unknown): string {
  if (error && typeof error === 'object') {
    const { code, cause, message } = error as { code?: unknown; cause?: { code?: unknown; message?: unknown }; message?: unknown };
    if (typeof code === 'number') return `HTTP ${code}`;
    if (typeof code === 'string') return code;
    if (cause && typeof cause.code === 'string') return cause.code;
    if (cause && typeof cause.message === 'string') return cause.message;
    if (typeof message === 'string') return message.split('\n', 1)[0];
  }
  return String(error);
}
