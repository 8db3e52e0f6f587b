// Goal: `kvctl check <history.jsonl>` reads a clerk history, prints the verdict
// (plain: verdict line, smallest failing window as a table, summary; json: one
// document) and exits 0 linearizable, 1 violation, 2 unreadable or malformed,
// 6 undecided; the checker (@cairn/linearizability) reads what the clerk writes.
// Method: main() in-process on the hand-made files in testdata/histories
// (no cluster), the file checker with a tiny search bound, and the Ink view
// rendered with ink-testing-library.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { stripVTControlCharacters } from 'node:util';
import { Readable, Writable } from 'node:stream';
import { render } from 'ink-testing-library';
import { createElement } from 'react';
import { main } from '../src/cli.js';
import type { HistoryRecord as ClerkHistoryRecord } from '@cairn/clerk';
import { checkHistory, parseHistory, type HistoryRecord } from '@cairn/linearizability';
import { exitCodeForCheckReport, fileHistoryChecker } from '../src/index.js';
import { CheckView } from '../src/ui/check-view.js';

const historyPath = (name: string): string => fileURLToPath(new URL(`../testdata/histories/${name}`, import.meta.url));

class Collector extends Writable {
  text = '';
  override _write(chunk: Buffer, _encoding: BufferEncoding, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

async function kvctl(argv: string[]): Promise<{ exitCode: number; stdout: string; stderr: string; connects: number }> {
  const stdout = new Collector();
  const stderr = new Collector();
  let connects = 0;
  const exitCode = await main(argv, {
    stdout,
    stderr,
    stdin: Readable.from([]),
    env: {},
    connect: async () => {
      connects++;
      throw new Error('check must not connect to a cluster');
    },
  });
  return { exitCode, stdout: stdout.text, stderr: stderr.text, connects };
}

/** Table rows of the window: "process#id op" from the plain output's lines under the header. */
function windowRows(stdout: string): string[] {
  const lines = stdout.split('\n');
  const header = lines.findIndex((line) => line.startsWith('PROCESS'));
  assert.ok(header >= 0, stdout);
  const rows: string[] = [];
  for (const line of lines.slice(header + 1)) {
    const [process, op] = line.split(/\s+/);
    if (process === undefined || !/#\d+$/.test(process)) break;
    rows.push(`${process} ${op}`);
  }
  return rows;
}

describe('kvctl check', () => {
  test('a linearizable history exits 0 with a one-line verdict and a summary', async () => {
    const run = await kvctl(['check', historyPath('linearizable-mixed.jsonl')]);
    assert.equal(run.exitCode, 0, run.stderr);
    assert.match(run.stdout, /^linearizable: 20 operations on 3 keys\n/);
    assert.match(run.stdout, /checked 20 operations \(3 with unknown outcome; 1 failed, not checked\) on 3 keys\n$/);
    assert.equal(run.connects, 0);
  });

  const anomalies = [
    ['stale-read.jsonl', ['c1#1 put', 'c1#2 put', 'c2#2 get']],
    ['lost-write.jsonl', ['c1#2 put', 'c2#3 get']],
    ['double-append.jsonl', ['c1#1 append', 'c1#2 append', 'c2#2 get']],
    ['cas-anomaly.jsonl', ['c1#1 put', 'c2#1 cas', 'c3#1 cas']],
  ] as const;
  for (const [file, culprits] of anomalies) {
    test(`${file}: exit 1 and the window table lists exactly the culprits`, async () => {
      const run = await kvctl(['check', historyPath(file)]);
      assert.equal(run.exitCode, 1, run.stderr);
      assert.match(run.stdout, /^NOT linearizable: key "k": /);
      assert.deepEqual(windowRows(run.stdout), culprits);
    });
  }

  test('the plain window shows args, results and times relative to the window', async () => {
    const run = await kvctl(['check', historyPath('stale-read.jsonl')]);
    const table = run.stdout
      .split('\n')
      .filter((line) => /^(PROCESS|c\d#)/.test(line))
      .map((line) => line.split(/\s{2,}/));
    assert.deepEqual(table, [
      ['PROCESS', 'OP', 'ARGS', 'RESULT', 'INVOKE', 'RETURN'],
      ['c1#1', 'put', '"a"', 'version 1', '0.000', '1.000'],
      ['c1#2', 'put', '"b"', 'version 2', '2.000', '3.000'],
      ['c2#2', 'get', '-', '"a"', '4.000', '5.000'],
    ]);
  });

  test('--output json prints one document with the verdict, the window and per-key stats', async () => {
    const run = await kvctl(['check', historyPath('cas-anomaly.jsonl'), '--output', 'json']);
    assert.equal(run.exitCode, 1);
    const document = JSON.parse(run.stdout);
    assert.equal(document.verdict, 'not-linearizable');
    assert.equal(document.failure.key, 'k');
    assert.equal(document.failure.minimal, true);
    assert.deepEqual(
      document.failure.window.map((operation: { process: string; op: string; args: string }) => [
        operation.process,
        operation.op,
        operation.args,
      ]),
      [
        ['c1', 'put', '"a"'],
        ['c2', 'cas', '"a" -> "b"'],
        ['c3', 'cas', '"a" -> "c"'],
      ],
    );
    assert.deepEqual(
      document.keys.map((key: { key: string; verdict: string }) => [key.key, key.verdict]),
      [
        ['k', 'not-linearizable'],
        ['other', 'linearizable'],
      ],
    );
  });

  test('--verbose adds the per-key table', async () => {
    const run = await kvctl(['check', historyPath('linearizable-mixed.jsonl'), '--verbose']);
    assert.match(run.stdout, /^KEY +OPS +INFO +STATES +VERDICT$/m);
    assert.match(run.stdout, /^log +6 +1 +\d+ +linearizable$/m);
  });

  test('a missing or malformed file is a usage error (exit 2) with the line at fault', async () => {
    const malformed = await kvctl(['check', historyPath('malformed.jsonl')]);
    assert.equal(malformed.exitCode, 2);
    assert.match(malformed.stderr, /^error: USAGE: .*malformed\.jsonl is not a clerk history: line 2: not a JSON object$/m);
    const missing = await kvctl(['check', historyPath('absent.jsonl'), '--output', 'json']);
    assert.equal(missing.exitCode, 2);
    assert.equal(JSON.parse(missing.stderr).error.code, 'USAGE');
  });

  test('a search bound that is too small gives `unknown` and exit 6, not a verdict', async () => {
    const report = await fileHistoryChecker({ maxStatesPerKey: 3 }).check(historyPath('linearizable-mixed.jsonl'));
    assert.equal(report.linearizable, false);
    assert.equal(report.result?.verdict, 'unknown');
    assert.match(report.detail ?? '', /search bound of 3 states per key/);
    assert.equal(exitCodeForCheckReport(report), 6);
  });

  test('the clerk records exactly the history the checker reads', () => {
    // Two definitions of one format (the clerk may not import the checker, nor it the clerk): each must be assignable to the other.
    const written = {
      type: 'ok',
      process: 'c1',
      op: 'cas',
      id: 1,
      time: 5,
      key: 'k',
      value: 'v',
      expectedVersion: 0,
      result: true,
    } satisfies ClerkHistoryRecord;
    const read: HistoryRecord = written;
    const back: ClerkHistoryRecord = read;
    assert.equal(checkHistory([{ ...back, type: 'invoke', time: 1 }, read]).verdict, 'linearizable');
  });

  test('the linearizability package checks a history in-process', async () => {
    const result = checkHistory(parseHistory(await readFile(historyPath('lost-write.jsonl'), 'utf8')));
    assert.equal(result.verdict, 'not-linearizable');
    assert.deepEqual(
      result.failure?.window.map((operation) => operation.result),
      ['version 1', 'absent'],
    );
  });

  test('the terminal view shows the verdict and the window', async () => {
    const result = checkHistory(parseHistory(await readFile(historyPath('double-append.jsonl'), 'utf8')));
    const view = render(createElement(CheckView, { result, verbose: false }));
    try {
      const frame = stripVTControlCharacters(view.lastFrame() ?? '');
      assert.match(frame, /^NOT linearizable: key "k"/);
      assert.match(frame, /c2#2 +get +- +"axx"/);
    } finally {
      view.unmount();
    }
  });
});
