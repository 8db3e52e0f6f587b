#!/usr/bin/env node
// Generates packages/proto/src/gen from proto/ with buf (from npm) and the
// local ts-proto plugin. `--check` generates into a temp dir and fails if the
// committed output differs (run by the proto package's `verify` target).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const protoDir = join(root, 'proto');
const buf = join(root, 'node_modules', '.bin', 'buf');
const committed = join(root, 'packages', 'proto', 'src', 'gen');
const check = process.argv.includes('--check');

function run(args) {
  try {
    execFileSync(buf, args, { cwd: protoDir, stdio: 'inherit' });
  } catch {
    console.error(`buf ${args[0]} failed (see above)`);
    process.exit(1);
  }
}

function listFiles(dir, root = dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...listFiles(path, root));
    else out.push(relative(root, path));
  }
  return out.sort();
}

/**
 * ts-proto gives every empty bytes field a fresh `Buffer.alloc(0)`, several
 * per decoded message; a node decodes a few messages per write, and a heap
 * profile showed these among its garbage. One shared empty Buffer serves as
 * the default instead (a zero-length Buffer has no content to change).
 */
const EMPTY_BYTES_DECLARATION = `
/** The default of every empty bytes field: one shared Buffer (tools/gen-proto.mjs). */
const EMPTY_BYTES: Buffer = Buffer.alloc(0);
`;

function postProcess(dir) {
  for (const file of listFiles(dir)) {
    if (!file.endsWith('.ts')) continue;
    const path = join(dir, file);
    const source = readFileSync(path, 'utf8');
    if (!source.includes('Buffer.alloc(0)')) continue;
    const body = source.replaceAll('Buffer.alloc(0)', 'EMPTY_BYTES');
    // After the import block: the first blank line following the last import.
    const lastImport = body.lastIndexOf('\nimport ');
    const insertAt = body.indexOf('\n\n', lastImport) + 1;
    writeFileSync(path, body.slice(0, insertAt) + EMPTY_BYTES_DECLARATION + body.slice(insertAt));
  }
}

run(['lint']);
if (!check) {
  run(['generate']);
  postProcess(committed);
  console.log(`generated ${relative(root, committed)}`);
} else {
  // buf resolves each plugin's `out` against --output, so the copy lands at
  // <temp>/x/../packages/proto/src/gen.
  const temp = mkdtempSync(join(tmpdir(), 'cairn-proto-'));
  try {
    run(['generate', '--output', join(temp, 'x')]);
    const fresh = join(temp, 'packages', 'proto', 'src', 'gen');
    postProcess(fresh);
    const a = listFiles(committed);
    const b = listFiles(fresh);
    const stale = [];
    for (const f of new Set([...a, ...b])) {
      const x = a.includes(f) ? readFileSync(join(committed, f), 'utf8') : undefined;
      const y = b.includes(f) ? readFileSync(join(fresh, f), 'utf8') : undefined;
      if (x !== y) stale.push(f);
    }
    if (stale.length > 0) {
      console.error(`generated code is stale: ${stale.join(', ')}\nrun: npm run gen:proto`);
      process.exit(1);
    }
    console.log(`generated code is up to date (${a.length} files)`);
  } finally {
    rmSync(temp, { recursive: true, force: true });
  }
}
