// Worker body for test/kernel.test.ts: opens and starts a kernel source from workerData, reports 'started', and
// never closes it, so the test can check that terminating the worker releases everything.
import { parentPort, workerData } from 'node:worker_threads';
import { openKernelSource } from '../../src/receiver/kernel.ts';

const { objectPath } = workerData as { objectPath: string };
const source = openKernelSource({ objectPath, agentTgid: process.pid, pathPatterns: [] });
source.start(() => {});
source.snapshot();
parentPort!.postMessage('started');
