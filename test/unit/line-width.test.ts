import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The house's line width is 120 (biome.json). Biome breaks code but not strings, templates or
 * comments; this keeps those within it too, on every TypeScript file of the project.
 */
const ROOTS = ['src', 'test', 'bench', 'chaos', 'migrations', 'packages/producer/src'];

const tsFiles = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'artifacts' || entry.name === 'results' ? [] : tsFiles(full);
    return entry.name.endsWith('.ts') ? [full] : [];
  });

describe('line width', () => {
  it('no line of the project’s TypeScript is longer than 120 characters', () => {
    const files = [...ROOTS.flatMap(tsFiles), 'knexfile.ts', 'vitest.config.ts'];
    const long = files.flatMap((file) =>
      readFileSync(file, 'utf8')
        .split('\n')
        .flatMap((line, index) => (line.length > 120 ? [`${file}:${index + 1} (${line.length})`] : [])),
    );
    expect(long).toEqual([]);
  });
});
