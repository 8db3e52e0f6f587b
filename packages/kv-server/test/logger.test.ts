// The node's structured log lines: one JSON object per line with level, ISO
// time, event and fields; errors and bigints readable; levels below the
// logger's never look at their fields.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLogger, isLogLevel, type LogLevel } from '../src/logger.js';

function capture(
  level: LogLevel,
  base: Record<string, unknown> = { node: 3 },
): { lines: string[]; records: () => Array<Record<string, unknown>>; logger: ReturnType<typeof createLogger> } {
  const lines: string[] = [];
  const logger = createLogger(level, base, (line) => lines.push(line));
  return { lines, records: () => lines.map((line) => JSON.parse(line) as Record<string, unknown>), logger };
}

test('one JSON line per event: level, ISO time, the node, the fields and the event kind', () => {
  const { lines, records, logger } = capture('info');
  logger.info('peer-link-up', { peer: 2, address: '127.0.0.1:7001', downMs: 40 });
  logger.warn('node-stopping');
  assert.equal(lines.length, 2);
  assert.ok(lines.every((line) => !line.includes('\n')));
  const [up, stopping] = records();
  assert.deepEqual(
    { ...up, time: undefined },
    { level: 'info', time: undefined, node: 3, peer: 2, address: '127.0.0.1:7001', downMs: 40, event: 'peer-link-up' },
  );
  assert.equal(new Date(up!['time'] as string).toISOString(), up!['time']);
  assert.deepEqual({ ...stopping, time: undefined }, { level: 'warn', time: undefined, node: 3, event: 'node-stopping' });
  // Tests and tools match on this text.
  assert.match(lines[0]!, /"event":"peer-link-up"/);
  assert.match(lines[0]!, /"peer":2,/);
});

test('errors show name, message and code wherever they sit; the stack only at debug level', () => {
  const error = Object.assign(new Error('disk full'), { code: 'ENOSPC' });
  const info = capture('info');
  info.logger.error('snapshot-write-failed', { index: 7, error, nested: { causes: [new TypeError('bad')] }, big: 12345678901234567890n });
  const [record] = info.records();
  assert.deepEqual(record!['error'], { name: 'Error', message: 'disk full', code: 'ENOSPC' });
  assert.deepEqual(record!['nested'], { causes: [{ name: 'TypeError', message: 'bad' }] });
  assert.equal(record!['big'], '12345678901234567890');

  const debug = capture('debug');
  debug.logger.error('snapshot-write-failed', { error });
  const stack = (debug.records()[0]!['error'] as { stack?: string }).stack;
  assert.ok(stack?.includes('disk full') && stack.includes('logger.test.ts'), String(stack));
});

test('a level below the logger writes nothing and never reads its fields', () => {
  const { lines, logger } = capture('warn');
  let reads = 0;
  const fields = {
    get expensive(): number {
      reads += 1;
      return 1;
    },
  };
  logger.debug('peer-stream-stalled', fields);
  logger.info('peer-link-up', fields);
  assert.equal(lines.length, 0);
  assert.equal(reads, 0);
  logger.warn('peer-link-down', fields);
  assert.equal(lines.length, 1);

  const silent = capture('silent');
  silent.logger.error('fatal', { error: new Error('x') });
  assert.equal(silent.lines.length, 0);
});

test("a child logger adds its fields to every line, after its parent's", () => {
  const { records, logger } = capture('info');
  logger.child({ peer: 2 }).child({ stream: 'raw' }).info('client-link-refused', { reason: 'full' });
  assert.deepEqual(
    { ...records()[0], time: undefined },
    { level: 'info', time: undefined, node: 3, peer: 2, stream: 'raw', reason: 'full', event: 'client-link-refused' },
  );
});

test('by default lines go to stderr, each ending in a newline', (t) => {
  const written: string[] = [];
  t.mock.method(process.stderr, 'write', (chunk: string) => written.push(chunk) > 0);
  createLogger('info', { node: 1 }).info('node-started', { grpc: '127.0.0.1:1' });
  t.mock.restoreAll();
  assert.equal(written.length, 1);
  assert.ok(written[0]!.endsWith('}\n'));
  assert.equal((JSON.parse(written[0]!) as { event: string }).event, 'node-started');
});

test('isLogLevel accepts the five levels the --log-level flag names', () => {
  for (const level of ['debug', 'info', 'warn', 'error', 'silent']) assert.ok(isLogLevel(level), level);
  for (const level of ['trace', 'fatal', 'INFO', '']) assert.ok(!isLogLevel(level), level);
});
