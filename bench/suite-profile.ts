/**
 * Where the test workers' CPU goes: sums the V8 CPU profiles that `SUITE_CPU_PROF=<dir>` makes vitest write (one per
 * test file, test/setup/cpu-profile.ts) and prints the busy time by package (self time: node_modules/<package>,
 * src/<folder>, node's own modules, native code such as socket writes, the garbage collector) and the functions with
 * the most self time. Postgres, Redis and Chromium are other processes: bench/suite-cpu.sh counts them.
 *
 *   SUITE_CPU_PROF=/tmp/suite-prof npx vitest run test/e2e/year.test.ts test/e2e/cancel-ahead.test.ts
 *   npx tsx bench/suite-profile.ts /tmp/suite-prof [--top 40]
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { top: { type: 'string', default: '40' } },
});
const dir = positionals[0];
if (!dir) throw new Error('usage: npx tsx bench/suite-profile.ts <dir of .cpuprofile files> [--top 40]');
const top = Number(values.top);

/** What a frame's self time is charged to: a package, a folder of ours, a node module, or native code. */
function owner({ functionName, url }: CallFrame): string {
  const modules = url.lastIndexOf('node_modules/');
  if (modules !== -1) {
    const [scope, name] = url.slice(modules + 'node_modules/'.length).split('/');
    return scope?.startsWith('@') ? `${scope}/${name}` : (scope ?? url);
  }
  for (const root of ['/src/', '/test/', '/bench/']) {
    const at = url.lastIndexOf(root);
    if (at !== -1) return `${root.slice(1)}${url.slice(at + root.length).split('/')[0]}`;
  }
  if (url.startsWith('node:')) return url;
  if (functionName.startsWith('(')) return functionName;
  return `native ${functionName}`;
}

const byOwner = new Map<string, number>();
const byFunction = new Map<string, number>();
let busy = 0;
const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
for (const file of files) {
  const profile = JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as CpuProfile;
  const frames = new Map(profile.nodes.map((n) => [n.id, n.callFrame]));
  profile.samples.forEach((id, i) => {
    const frame = frames.get(id);
    const us = profile.timeDeltas[i] ?? 0;
    if (!frame || frame.functionName === '(idle)' || frame.functionName === '(program)') return;
    busy += us;
    const by = owner(frame);
    byOwner.set(by, (byOwner.get(by) ?? 0) + us);
    const where = `${frame.url.split('/').slice(-2).join('/')}:${frame.lineNumber}`;
    const name = `${frame.functionName || '(anonymous)'} ${where}`;
    byFunction.set(name, (byFunction.get(name) ?? 0) + us);
  });
}

const table = (counts: Map<string, number>) =>
  [...counts]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(
      ([name, us]) => `${(us / 1e6).toFixed(2).padStart(8)} s ${((100 * us) / busy).toFixed(1).padStart(5)} %  ${name}`,
    )
    .join('\n');
console.log(`${files.length} profiles, ${(busy / 1e6).toFixed(1)} s busy`);
console.log(`\nself time by owner\n${table(byOwner)}`);
console.log(`\nself time by function\n${table(byFunction)}`);
