// A ring reader thread that dies must not leave a blind agent that looks healthy. The real agent runs under
// fail-epoll-wait (native/test/fail_epoll_wait.c), a seccomp filter that makes the reader's epoll_wait fail with
// EIO, so the thread stops for real, with no fault-injection code in the agent. The agent then stays alive
// (/healthz 200) and says it is blind in each place an operator looks: /readyz 503 with the reason, one log line,
// and kubesentry_kernel_reader_up 0.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { constants } from 'node:os';
import { startAgent } from '../helpers/agent.ts';
import { kernelFixtures } from '../helpers/kernelFixtures.ts';
import { waitFor } from '../helpers/wait.ts';
import { freeLoopbackPort } from '../otelcol/collector.ts';

/** The native reader's epoll_wait asks for this many events; libuv's loop asks for more, so it keeps running. */
const READER_MAXEVENTS = 2;
const REASON = /kernel ring reader stopped: epoll_wait failed \(EIO\)/;

async function get(url: string): Promise<{ status: number; body: string }> {
  const response = await fetch(url);
  return { status: response.status, body: await response.text() };
}

test('a failed ring reader turns /readyz 503 with the reason, logs it once and exports kubesentry.kernel.reader.up 0, while /healthz stays 200', async () => {
  const { failEpollWait } = kernelFixtures();
  const healthPort = await freeLoopbackPort();
  const metricsPort = await freeLoopbackPort();
  const agent = await startAgent({
    wrapper: [failEpollWait, String(READER_MAXEVENTS), String(constants.errno.EIO)],
    args: ['--health.listen', `127.0.0.1:${healthPort}`, '--prometheus.listen', `127.0.0.1:${metricsPort}`],
  });
  try {
    const health = `http://127.0.0.1:${healthPort}`;
    const readyz = await waitFor(async () => {
      const r = await get(`${health}/readyz`);
      return r.status === 503 ? r : undefined;
    }, { what: '/readyz to answer 503', timeoutMs: 30_000, intervalMs: 100 });
    assert.match(readyz.body, REASON);

    const logged = await waitFor(() => {
      const lines = agent.process.lines.filter((l) => REASON.test(l));
      return lines.length > 0 ? lines : undefined;
    }, { what: "the reader failure in the agent's log" });
    assert.match(logged[0]!, /no kernel events are read/);

    const readerUp = await waitFor(async () => {
      const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      return /^kubesentry_kernel_reader_up(?:\{[^}]*\})? (\S+)$/m.exec(text)?.[1];
    }, { what: 'kubesentry_kernel_reader_up on the scrape endpoint', timeoutMs: 30_000, intervalMs: 250 });
    assert.equal(readerUp, '0');

    assert.equal((await get(`${health}/healthz`)).status, 200);
    assert.equal(agent.process.exitStatus, null, 'the agent must stay alive');
    const failureLines = agent.process.lines.filter((l) => REASON.test(l));
    assert.equal(failureLines.length, 1, failureLines.join('\n'));
  } finally {
    await agent.stop();
  }
});
