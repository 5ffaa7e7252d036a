// Reading an HTTP body with a ceiling, for every peer the agent only reads from (API server, container runtime
// socket): a peer that announces or sends more is cut off, and the caller gets one error that says so.

import type { IncomingMessage } from 'node:http';

export class ResponseTooLargeError extends Error {
  readonly limitBytes: number;
  constructor(message: string, limitBytes: number) {
    super(message);
    this.name = 'ResponseTooLargeError';
    this.limitBytes = limitBytes;
  }
}

/** The whole body, or a ResponseTooLargeError (and the response destroyed) once it passes maxBytes. */
export function readBounded(response: IncomingMessage, maxBytes: number, what: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const tooLarge = () => {
      response.destroy();
      reject(new ResponseTooLargeError(`${what}: response larger than ${maxBytes} bytes, refused`, maxBytes));
    };
    const announced = Number(response.headers['content-length']);
    if (Number.isFinite(announced) && announced > maxBytes) {
      tooLarge();
      return;
    }
    const chunks: Buffer[] = [];
    let bytes = 0;
    response.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > maxBytes) tooLarge();
      else chunks.push(chunk);
    });
    response.on('error', reject);
    response.on('end', () => resolve(Buffer.concat(chunks)));
  });
}
