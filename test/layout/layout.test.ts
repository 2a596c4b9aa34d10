/*
 * The source layout of DESIGN.md, "Layers", checked on the import graph: each layer imports
 * only the ones above it, the patterns only the patterns before them, no file imports one that
 * imports it back (not even for types), every file opens with a comment, and the public
 * exports are the pinned ones.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cycles, importEdges, sourceFiles } from './import-graph.js';
import { pinnedExports } from './pinned-exports.js';
import { publicExports } from './public-exports.js';

const root = resolve(import.meta.dirname, '../..');

/** DESIGN's order: a folder may import the ones before it in this list, never one after. */
const layers = [
  'core',
  'process',
  'output',
  'store',
  'run',
  'executor',
  'tasks',
  'schedules',
  'pools',
  'orchestrator',
  'catalog',
  'server',
  'web',
  'cli',
];

/** The layer of a file under src/; `src/index.ts` sits below them all. */
function layerOf(file: string): number {
  const parts = file.split('/');
  if (parts.length === 2) return layers.length;
  const index = layers.indexOf(parts[1] as string);
  if (index < 0) throw new Error(`${file} is in a folder that DESIGN.md does not list`);
  return index;
}

describe('source layout', () => {
  const edges = importEdges(root);

  it('reads the graph it checks', () => {
    expect(edges.length).toBeGreaterThan(200);
    expect(edges).toContainEqual({
      from: 'src/executor/job.ts',
      to: 'src/run/execute-task.ts',
      typeOnly: false,
    });
  });

  it('imports only from layers and patterns that come before', () => {
    const upward = edges
      .filter((edge) => layerOf(edge.to) > layerOf(edge.from))
      .map((edge) => `${edge.from} → ${edge.to}`);
    expect(upward).toEqual([]);
  });

  it('has no import cycles, type imports included', () => {
    expect(cycles(edges)).toEqual([]);
  });

  it('imports only files that exist', () => {
    const files = new Set(sourceFiles(root));
    const missing = edges.filter((edge) => !files.has(edge.to)).map((edge) => edge.to);
    expect(missing).toEqual([]);
  });

  it('opens every file with a comment', () => {
    const bare = sourceFiles(root).filter((file) => {
      const text = readFileSync(join(root, file), 'utf8').replace(/^#!.*\n/, '');
      return !/^(\/\*|\/\/)/.test(text);
    });
    expect(bare).toEqual([]);
  });

  it('keeps the public exports', () => {
    expect(publicExports(root)).toEqual([...pinnedExports]);
  });
});
