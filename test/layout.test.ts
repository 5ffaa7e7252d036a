// layout.ts must agree with what the compiler makes of bpf/events.h. Checked three ways: against the agent's real
// BPF object, against a scratch object compiled from the pristine header, and against headers with a field moved,
// which must be reported (the acceptance criterion: a field that moves without the decoder following fails).

import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, describe, it } from 'node:test';
import { assertObjectLayout, checkObjectLayout, parseBtfStructs } from '../src/receiver/btfLayout.ts';
import { LAYOUT, RECORD_ALIGN, type StructLayout } from '../src/receiver/layout.ts';

const ROOT = resolve(import.meta.dirname, '..');
const EVENTS_H = join(ROOT, 'bpf/events.h');
const OBJECT = join(ROOT, 'build/kubesentry.bpf.o');
const pristineHeader = readFileSync(EVENTS_H, 'utf8');
const structsInHeader = [...pristineHeader.matchAll(/^struct (ks_\w+) \{/gm)].map((m) => m[1]);

const workDir = mkdtempSync(join(tmpdir(), 'ks-layout-'));
after(() => rmSync(workDir, { recursive: true, force: true }));

/** A BTF-carrying object compiled from `header`, with a global of every struct the header defines so each is in BTF. */
function compileScratchObject(name: string, header: string): string {
  const dir = join(workDir, name);
  execFileSync('mkdir', ['-p', dir]);
  writeFileSync(join(dir, 'events.h'), header);
  const anchors = [...header.matchAll(/^struct (ks_\w+) \{/gm)].map((m) => `struct ${m[1]} anchor_${m[1]};`).join('\n');
  writeFileSync(
    join(dir, 'anchor.bpf.c'),
    `typedef unsigned char __u8; typedef unsigned short __u16; typedef unsigned int __u32;
typedef unsigned long long __u64; typedef int __s32; typedef long long __s64;
#include "events.h"
${anchors}
`,
  );
  const object = join(dir, 'anchor.bpf.o');
  execFileSync('clang', ['-g', '-O2', '-target', 'bpf', '-c', join(dir, 'anchor.bpf.c'), '-o', object], { stdio: 'pipe' });
  return object;
}

/** The header with the member declaration lines `a` and `b` of `struct` swapped. */
function swapMembers(header: string, struct: string, a: string, b: string): string {
  const start = header.indexOf(`struct ${struct} {`);
  const end = header.indexOf('};', start);
  const body = header.slice(start, end);
  const lines = body.split('\n');
  const ia = lines.findIndex((l) => new RegExp(`\\b${a}(\\[|;)`).test(l));
  const ib = lines.findIndex((l) => new RegExp(`\\b${b}(\\[|;)`).test(l));
  assert.ok(ia > 0 && ib > 0, `members ${a} and ${b} not found in struct ${struct}`);
  [lines[ia], lines[ib]] = [lines[ib], lines[ia]];
  return header.slice(0, start) + lines.join('\n') + header.slice(end);
}

describe('event layout', () => {
  it('has a layout.ts entry for every struct events.h defines', () => {
    assert.deepEqual(structsInHeader.toSorted(), Object.keys(LAYOUT).toSorted());
  });

  it('keeps ks_connect at 200 bytes: its socket type and protocol took the place of its tail padding', () => {
    const { size, fields } = LAYOUT.ks_connect;
    assert.deepEqual([size, fields.protocol.offset, fields.sock_type.offset, '_pad0' in fields], [200, 196, 198, false]);
  });

  it('gives every record type a size that is a multiple of 8', () => {
    for (const [name, layout] of Object.entries(LAYOUT)) {
      if ('eventType' in layout) assert.equal(layout.size % RECORD_ALIGN, 0, name);
    }
  });

  it('gives a record whose size varies a smallest size that is a multiple of 8, holds a header and is below its struct', () => {
    for (const [name, layout] of Object.entries(LAYOUT) as [string, StructLayout][]) {
      if (layout.minSize === undefined) continue;
      assert.ok(layout.eventType !== undefined, `${name}: only a record's size can vary`);
      assert.equal(layout.minSize % RECORD_ALIGN, 0, name);
      assert.ok(layout.minSize >= LAYOUT.ks_header.size && layout.minSize < layout.size, name);
    }
  });

  // BTF has the struct but not the #define, and the decoder's smallest open record is built on it.
  it("starts ks_open's strings at KS_OPEN_FIXED_SIZE, and its smallest record holds the fixed part and a NUL", () => {
    const fixed = Number(/^#define KS_OPEN_FIXED_SIZE (\d+)/m.exec(pristineHeader)?.[1]);
    assert.equal(LAYOUT.ks_open.fields.strings.offset, fixed);
    assert.equal(LAYOUT.ks_open.minSize, Math.ceil((fixed + 1) / RECORD_ALIGN) * RECORD_ALIGN);
  });

  it('matches the BTF of an object compiled from the pristine events.h', async () => {
    assert.deepEqual(await checkObjectLayout(compileScratchObject('pristine', pristineHeader)), []);
  });

  it('reads BTF the same way bpftool does', () => {
    const object = compileScratchObject('bpftool', pristineHeader);
    const dump = JSON.parse(execFileSync('bpftool', ['-j', 'btf', 'dump', 'file', object], { encoding: 'utf8' })) as {
      types: { kind: string; name: string; size: number; members?: { name: string; bits_offset: number }[] }[];
    };
    const ours = parseBtfStructs(readFileSync(object));
    for (const t of dump.types.filter((t) => t.kind === 'STRUCT')) {
      const s = ours.get(t.name);
      assert.ok(s, t.name);
      assert.equal(s.size, t.size, t.name);
      assert.deepEqual(
        s.members.map((m) => [m.name, m.offset]),
        t.members!.map((m) => [m.name, m.bits_offset / 8]),
        t.name,
      );
    }
  });

  const mutations: { name: string; mutate: (h: string) => string; expect: RegExp[] }[] = [
    {
      name: 'two same-sized fields of ks_fork swap places',
      mutate: (h) => swapMembers(h, 'ks_fork', 'child_tgid', 'child_pid'),
      expect: [/ks_fork\.child_tgid is at offset 76 in BTF, layout\.ts says 72/, /ks_fork\.child_pid is at offset 72 in BTF, layout\.ts says 76/],
    },
    {
      name: 'a 64-bit and a 32-bit field of ks_exec swap places',
      mutate: (h) => swapMembers(h, 'ks_exec', 'exe_ino', 'ppid'),
      expect: [/ks_exec\.exe_ino is at offset/, /ks_exec\.ppid is at offset 64 in BTF/],
    },
    {
      name: 'an array bound changes',
      mutate: (h) => h.replace('#define KS_FSTYPE_LEN 32', '#define KS_FSTYPE_LEN 40'),
      expect: [/ks_mount\.fstype is char\[40\] in BTF, layout\.ts says char\[32\]/, /struct ks_mount is 632 bytes in BTF, layout\.ts says 624/],
    },
    {
      name: 'a field changes type in place',
      mutate: (h) => h.replace('__s32 exit_code;', '__u32 exit_code;'),
      expect: [/ks_exit\.exit_code is u32 in BTF, layout\.ts says s32/],
    },
    {
      name: 'a field is added that the decoder does not know',
      mutate: (h) => h.replace('\t__u32 _pad0;\n};\n\nstruct ks_namespace', '\t__u32 _pad0;\n\t__u64 added_later;\n};\n\nstruct ks_namespace'),
      expect: [/ks_exit\.added_later \(offset 72\) is in BTF but not in layout\.ts/, /struct ks_exit is 80 bytes in BTF/],
    },
    {
      name: "ks_connect's protocol and sock_type swap places",
      mutate: (h) => swapMembers(h, 'ks_connect', 'protocol', 'sock_type'),
      expect: [/ks_connect\.protocol is at offset 198 in BTF, layout\.ts says 196/, /ks_connect\.sock_type is at offset 196 in BTF, layout\.ts says 198/],
    },
  ];
  for (const m of mutations) {
    it(`reports the mismatch when ${m.name}`, async () => {
      const mutated = m.mutate(pristineHeader);
      assert.notEqual(mutated, pristineHeader, 'the mutation did not apply');
      const messages = (await checkObjectLayout(compileScratchObject(m.name.replace(/\W+/g, '-'), mutated))).map((x) => x.message);
      for (const pattern of m.expect) assert.ok(messages.some((msg) => pattern.test(msg)), `no message matching ${pattern} in:\n${messages.join('\n')}`);
    });
  }

  it('makes the start-up self-check refuse a mismatching object with one line', async () => {
    const object = compileScratchObject('self-check', swapMembers(pristineHeader, 'ks_fork', 'child_tgid', 'child_pid'));
    await assert.rejects(assertObjectLayout(object), (error: Error) => {
      assert.match(error.message, /does not match the decoder's layout .*ks_fork\.child_tgid is at offset 76/);
      assert.doesNotMatch(error.message, /\n/);
      return true;
    });
    await assertObjectLayout(compileScratchObject('self-check-pristine', pristineHeader));
  });

  it('matches the BTF of the agent object build/kubesentry.bpf.o', async (t) => {
    const make = spawnSync('make', ['-s', '-C', ROOT, 'bpf'], { encoding: 'utf8' });
    if (!existsSync(OBJECT)) {
      const why = `build/kubesentry.bpf.o was not built by 'make bpf' (exit ${make.status}): ${make.stderr.trim().split('\n').slice(-3).join(' | ')}`;
      if (process.env.CI === 'true') assert.fail(why);
      t.skip(why);
      return;
    }
    assert.equal(make.status, 0, `make bpf failed: ${make.stderr}`);
    const mismatches = await checkObjectLayout(OBJECT);
    assert.deepEqual(mismatches.map((x) => x.message), []);
  });
});
