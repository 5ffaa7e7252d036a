// Worker body for test/decoder-fuzz.test.ts: runs one fuzz campaign off the test's thread, so that a decoder stuck
// in a loop can be stopped and reported by case seed instead of hanging the suite. Before each case it stores the
// case's seed and a count in `progress` (a SharedArrayBuffer the test reads while this thread is busy).
import { parentPort, workerData } from 'node:worker_threads';
import { runCampaign, type CampaignOptions } from './decoderFuzz.ts';

const { progress, ...options } = workerData as Omit<CampaignOptions, 'onCase'> & { progress: SharedArrayBuffer };
const counters = new Int32Array(progress);
const totals = runCampaign({
  ...options,
  onCase: (caseSeed) => {
    Atomics.store(counters, 1, caseSeed | 0);
    Atomics.add(counters, 0, 1);
  },
});
parentPort!.postMessage(totals);
