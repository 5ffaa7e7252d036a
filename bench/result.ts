// The one line format benches use for their headline numbers, so bench/run.ts can collect them into a summary:
//
//   RESULT <name> <value> <unit> [goal <= <number>|goal >= <number>]
//
// name and unit contain no spaces. A goal is printed beside the number for the reader; nothing fails on it.

export type GoalOp = '<=' | '>=';

export interface Goal {
  op: GoalOp;
  value: number;
}

export interface Result {
  name: string;
  value: number;
  unit: string;
  goal?: Goal;
}

const PREFIX = 'RESULT ';

export function formatResult(r: Result): string {
  for (const [what, text] of [['name', r.name], ['unit', r.unit]] as const) {
    if (text === '' || /\s/.test(text)) throw new Error(`bench result ${what} must be one word, got "${text}"`);
  }
  // Six significant digits: enough for any bench's resolution, short enough to read.
  const value = String(Number(r.value.toPrecision(6)));
  return `${PREFIX}${r.name} ${value} ${r.unit}${r.goal ? ` goal ${r.goal.op} ${r.goal.value}` : ''}`;
}

/** Prints a headline number in the RESULT format. */
export function reportResult(name: string, value: number, unit: string, goal?: Goal): void {
  console.log(formatResult({ name, value, unit, goal }));
}

/** The Result on a RESULT line; undefined for any other line (including a malformed RESULT line). */
export function parseResult(line: string): Result | undefined {
  if (!line.startsWith(PREFIX)) return undefined;
  const m = /^RESULT (\S+) (\S+) (\S+)(?: goal (<=|>=) (\S+))?\s*$/.exec(line);
  if (!m) return undefined;
  const value = Number(m[2]);
  if (!Number.isFinite(value) && !Number.isNaN(value)) return undefined;
  return { name: m[1], value, unit: m[3], ...(m[4] ? { goal: { op: m[4] as GoalOp, value: Number(m[5]) } } : {}) };
}

export function meetsGoal(r: Result): boolean | undefined {
  if (!r.goal || Number.isNaN(r.value)) return undefined;
  return r.goal.op === '<=' ? r.value <= r.goal.value : r.value >= r.goal.value;
}
