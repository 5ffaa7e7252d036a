// The OTLP client's own HTTP/2 connection against node:http2's server (nghttp2: Huffman-coded, dynamically indexed
// headers, its own flow-control and PING behaviour). The real Collector (Go's HTTP/2) is exercised by every export,
// TLS and delivery test.
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import { after, before, describe, test } from 'node:test';
import { encodeHeaders, HpackDecoder, HpackError, huffmanDecode } from '../src/otel/internal/http2/hpack.ts';
import { Http2Connection } from '../src/otel/internal/http2/Http2Connection.ts';
import { OtlpGrpcClient } from '../src/otel/internal/OtlpGrpcClient.ts';
import { SpoolKind } from '../src/otel/internal/Spool.ts';
import { resolveTelemetryConfig } from '../src/otel/TelemetryConfig.ts';

describe('HPACK', () => {
  test('decodes the Huffman example of RFC 7541 C.4.1', () => {
    assert.equal(huffmanDecode(Buffer.from('f1e3c2e5f23a6ba0ab90f4ff', 'hex')), 'www.example.com');
  });

  test('rejects Huffman padding that is not a prefix of EOS, and indexes outside the tables', () => {
    assert.throws(() => huffmanDecode(Buffer.from('f1e3c2e5f23a6ba0ab90f400', 'hex')), HpackError);
    assert.throws(() => new HpackDecoder().decode(Buffer.from([0xbe])), /outside the tables/);
  });

  test('a block whose indexed fields expand past the header list limit is refused', () => {
    // One 4 KiB literal added to the dynamic table, then indexed 300 times: ~1.2 MiB decoded from ~4.4 KiB.
    const value = 'v'.repeat(4000);
    // Literal with incremental indexing, new name "x", value length 4000 (7-bit prefix 127, then 3873 as a varint).
    const literal = Buffer.concat([Buffer.from([0x40, 0x01, 0x78, 0x7f, 0xa1, 0x1e]), Buffer.from(value)]);
    const block = Buffer.concat([literal, Buffer.alloc(300, 0xbe)]);
    assert.throws(() => new HpackDecoder().decode(block), /header list larger than/);
  });

  test('what the encoder writes, the decoder reads back', () => {
    const headers: [string, string][] = [
      [':method', 'POST'],
      [':path', '/opentelemetry.proto.collector.logs.v1.LogsService/Export'],
      ['content-type', 'application/grpc'],
      ['x-long', 'v'.repeat(300)],
    ];
    assert.deepEqual(new HpackDecoder().decode(encodeHeaders(headers)), headers);
  });
});

describe('HTTP/2 connection', () => {
  let server: http2.Http2Server;
  let port = 0;
  const received: number[] = [];
  const connection = (): Http2Connection => new Http2Connection({ host: '127.0.0.1', port });
  const request = (path: string) =>
    encodeHeaders([[':method', 'POST'], [':scheme', 'http'], [':path', path], [':authority', `127.0.0.1:${port}`]]);

  before(async () => {
    server = http2.createServer();
    server.on('stream', (stream, headers) => {
      stream.on('error', () => {}); // the streams the tests reset or cancel
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const body = Buffer.concat(chunks);
        received.push(body.length);
        switch (headers['x-route'] ?? headers[':path']) {
          case '/echo-headers':
            stream.respond({ ':status': 200, 'x-message': 'stand-in refusal: %20 ünïcode-free', 'x-bin-bin': Buffer.from([0, 1, 254, 255]).toString('base64') }, { waitForTrailers: true });
            stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '8', 'grpc-message': 'memory limit reached' }));
            stream.end(body.subarray(0, 16));
            return;
          case '/reset':
            stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
            return;
          case '/never':
            return;
          default:
            stream.respond({ ':status': 200 });
            stream.end(String(body.length));
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  test('headers, body and trailers arrive intact, the same over several requests on one connection', async () => {
    const c = connection();
    try {
      for (let i = 0; i < 3; i++) {
        const r = await c.request(request('/echo-headers'), Buffer.from(`request ${i}`)).response;
        assert.equal(r.headers[':status'], '200');
        assert.equal(r.headers['x-message'], 'stand-in refusal: %20 ünïcode-free');
        assert.deepEqual(Buffer.from(r.headers['x-bin-bin'], 'base64'), Buffer.from([0, 1, 254, 255]));
        assert.deepEqual(r.trailers, { 'grpc-status': '8', 'grpc-message': 'memory limit reached' });
        assert.equal(r.body.toString(), `request ${i}`);
      }
    } finally {
      c.close();
    }
  });

  test('a body far beyond the initial flow-control windows is sent whole', async () => {
    const c = connection();
    try {
      const body = Buffer.alloc(3 * 1024 * 1024 + 17, 7);
      const r = await c.request(request('/size'), body).response;
      assert.equal(r.body.toString(), String(body.length));
    } finally {
      c.close();
    }
  });

  test('a reset stream rejects only its request; the connection stays usable', async () => {
    const c = connection();
    try {
      await assert.rejects(c.request(request('/reset'), Buffer.from('x')).response, /stream reset by the server: REFUSED_STREAM/);
      assert.ok(c.usable);
      assert.equal((await c.request(request('/size'), Buffer.from('abc')).response).body.toString(), '3');
    } finally {
      c.close();
    }
  });

  test('cancel ends a request the server never answers', async () => {
    const c = connection();
    try {
      const { response, cancel } = c.request(request('/never'), Buffer.from('x'));
      cancel();
      await assert.rejects(response, { name: 'StreamCancelledError' });
      assert.equal((await c.request(request('/size'), Buffer.from('ab')).response).body.toString(), '2');
    } finally {
      c.close();
    }
  });

  test('GOAWAY: requests the server did not take fail, and the connection takes no new ones', async () => {
    const c = connection();
    const sessions = new Set<http2.ServerHttp2Session>();
    const onSession = (s: http2.ServerHttp2Session) => sessions.add(s);
    server.on('session', onSession);
    try {
      await c.request(request('/size'), Buffer.from('x')).response;
      for (const s of sessions) s.goaway(http2.constants.NGHTTP2_NO_ERROR, 0);
      const deadline = Date.now() + 5_000;
      while (c.usable && Date.now() < deadline) await new Promise((resolve) => setImmediate(resolve));
      assert.equal(c.usable, false);
      await assert.rejects(c.request(request('/size'), Buffer.from('x')).response, /went away|going away|closed/);
    } finally {
      server.off('session', onSession);
      c.close();
    }
  });

  test('a refused connection rejects with the socket error', async () => {
    const closed = http2.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const closedPort = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const c = new Http2Connection({ host: '127.0.0.1', port: closedPort });
    await assert.rejects(c.request(request('/size'), Buffer.from('x')).response, /ECONNREFUSED/);
    assert.equal(c.usable, false);
  });

  test('the server pinging the client gets its answer', async () => {
    const c = connection();
    const sessions: http2.ServerHttp2Session[] = [];
    const onSession = (s: http2.ServerHttp2Session) => sessions.push(s);
    server.on('session', onSession);
    try {
      await c.request(request('/size'), Buffer.from('x')).response;
      const session = sessions.at(-1)!;
      const payload = Buffer.from('12345678');
      const echoed = await new Promise<Buffer>((resolve, reject) =>
        session.ping(payload, (error, _duration, answer) => (error ? reject(error) : resolve(answer))),
      );
      assert.deepEqual(echoed, payload);
    } finally {
      server.off('session', onSession);
      c.close();
    }
  });

  test('an export the server never answers ends at the export timeout as a retryable DEADLINE_EXCEEDED, on a new connection next time', async () => {
    const config = resolveTelemetryConfig(
      { endpoint: `http://127.0.0.1:${port}`, headers: { 'x-route': '/never' }, stateDir: os.tmpdir(), export: { timeoutMs: 300 }, env: {} },
      'test',
    );
    const client = new OtlpGrpcClient(config);
    let sessions = 0;
    const onSession = () => sessions++;
    server.on('session', onSession);
    try {
      const result = await client.send(SpoolKind.Logs, [Buffer.from('x')]);
      assert.deepEqual(result, { outcome: 'retry', code: 'DEADLINE_EXCEEDED', message: 'no answer within 300 ms' });
      await client.send(SpoolKind.Logs, [Buffer.from('x')]);
      assert.equal(sessions, 2, 'the retry after a deadline opens a new connection');
    } finally {
      server.off('session', onSession);
      client.close();
    }
  });
});
