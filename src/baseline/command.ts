// `kubesentry baseline list | show KEY | export KEY [--file PATH] | import FILE | accept KEY CLASS ITEM | delete KEY`:
// the operator's view of the profiles under <stateDir>/baseline. Export and import are YAML, so a profile learned in
// CI can be reviewed and shipped. A running agent takes over imports, accepts and deletes at its next flush
// (baseline.persistIntervalMs). Profile keys and items are workload-chosen text: printed escaped.

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import type { AgentConfig } from '../config.ts';
import { ConfigError } from '../config.ts';
import { escapeForTerminal } from '../output/escape.ts';
import { BASELINE_CLASSES, type BaselineClass } from './classes.ts';
import { Profile, type ProfileSnapshot } from './Profile.ts';
import { ProfileStore, parseProfileSnapshot } from './ProfileStore.ts';

const USAGE = 'usage: kubesentry baseline list | show KEY | export KEY [--file PATH] | import FILE | accept KEY CLASS ITEM | delete KEY';

export function runBaseline(config: AgentConfig, args: string[], out: (text: string) => void = (t) => process.stdout.write(t)): number {
  const [verb, ...rest] = args;
  const warnings: string[] = [];
  const store = new ProfileStore(join(config.stateDir, 'baseline'), (m) => warnings.push(m));
  const flush = () => {
    for (const w of warnings.splice(0)) process.stderr.write(`kubesentry: ${escapeForTerminal(w)}\n`);
  };
  const need = (n: number) => {
    if (rest.length !== n) throw new ConfigError(`baseline ${verb ?? ''}: expected ${n} argument(s); ${USAGE}`);
  };
  const profile = (key: string): ProfileSnapshot => {
    const found = store.get(key);
    if (found === undefined) throw new ConfigError(`baseline: no profile '${escapeForTerminal(key)}' in ${store.dir} (kubesentry baseline list)`);
    return found;
  };
  try {
    switch (verb) {
      case 'list': {
        need(0);
        const all = store.all().sort((a, b) => a.key.localeCompare(b.key));
        out('KEY\tSTATE\tREPLICAS\tLAST SEEN\t' + BASELINE_CLASSES.join('\t') + '\n');
        for (const s of all) {
          const p = Profile.restore(s);
          const classes = BASELINE_CLASSES.map((c) => `${s.classes[c].state}:${s.classes[c].items.length + s.classes[c].patterns.length}`);
          out(`${escapeForTerminal(s.key)}\t${p.state}\t${p.replicasSeen}\t${new Date(s.lastSeenMs).toISOString()}\t${classes.join('\t')}\n`);
        }
        return 0;
      }
      case 'show':
      case 'export': {
        const [key, flag, file] = rest;
        if (verb === 'show' || flag === undefined) need(1);
        else if (flag !== '--file' || file === undefined) throw new ConfigError(`baseline export: expected KEY [--file PATH]; ${USAGE}`);
        const yaml = stringifyYaml(profile(key));
        if (file !== undefined) writeFileSync(file, yaml, { mode: 0o600 });
        // show is for reading on a terminal: each line escaped. export is data (raw YAML, to a file or a pipe).
        else out(verb === 'show' ? yaml.split('\n').map(escapeForTerminal).join('\n') : yaml);
        return 0;
      }
      case 'import': {
        need(1);
        let text: string;
        try {
          text = readFileSync(rest[0], 'utf8');
        } catch (e) {
          throw new ConfigError(`baseline import: cannot read ${rest[0]}: ${(e as Error).message.split('\n')[0]}`);
        }
        let snapshot: ProfileSnapshot;
        try {
          snapshot = parseProfileSnapshot(parseYaml(text));
        } catch (e) {
          throw new ConfigError(`baseline import: ${rest[0]} is not a profile: ${(e as Error).message.split('\n')[0]}`);
        }
        if (!store.save(snapshot)) return 1;
        out(`imported ${escapeForTerminal(snapshot.key)} (${Profile.restore(snapshot).state})\n`);
        return 0;
      }
      case 'accept': {
        need(3);
        const [key, cls, item] = rest;
        if (!(BASELINE_CLASSES as readonly string[]).includes(cls)) {
          throw new ConfigError(`baseline accept: unknown class '${escapeForTerminal(cls)}' (one of ${BASELINE_CLASSES.join(', ')})`);
        }
        const p = Profile.restore(profile(key));
        p.accept(cls as BaselineClass, item, Date.now(), config.baseline.collapseAt);
        if (!store.save(p.snapshot())) return 1;
        out(`accepted ${cls} '${escapeForTerminal(item)}' for ${escapeForTerminal(key)}\n`);
        return 0;
      }
      case 'delete': {
        need(1);
        profile(rest[0]);
        store.delete(rest[0]);
        out(`deleted ${escapeForTerminal(rest[0])}\n`);
        return 0;
      }
      default:
        throw new ConfigError(verb === undefined ? USAGE : `baseline: unknown subcommand '${escapeForTerminal(verb)}'; ${USAGE}`);
    }
  } finally {
    flush();
  }
}
