// The node's /metrics text: label values escaped per the Prometheus text
// format (they were once mangled to `_`), one registry per node, and the
// process's default metrics exactly once.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Metrics } from '../src/metrics.js';

test('label values are escaped per the text format: \\ as \\\\, " as \\", newline as \\n', async () => {
  const metrics = new Metrics();
  metrics.labelledGauge('cairn_test_labelled', 'A gauge with an awkward label value.', ['peer'], () => [
    { labels: { peer: 'a"b\\c\nd' }, value: 1 },
  ]);
  const text = await metrics.render();
  assert.ok(text.split('\n').includes('cairn_test_labelled{peer="a\\"b\\\\c\\nd"} 1'), text);
});

test('requests are counted by op and code, and timed by op', async () => {
  const metrics = new Metrics();
  metrics.requests.inc({ op: 'put', code: 'OK' });
  metrics.requests.inc({ op: 'put', code: 'OK' });
  metrics.requests.inc({ op: 'get', code: 'NOT_LEADER' });
  metrics.requestSeconds.observe({ op: 'put' }, 0.003);
  const lines = (await metrics.render()).split('\n');
  assert.ok(lines.includes('cairn_requests_total{op="put",code="OK"} 2'));
  assert.ok(lines.includes('cairn_requests_total{op="get",code="NOT_LEADER"} 1'));
  assert.ok(lines.includes('cairn_request_duration_seconds_bucket{le="0.002",op="put"} 0'));
  assert.ok(lines.includes('cairn_request_duration_seconds_bucket{le="0.005",op="put"} 1'));
  assert.ok(lines.includes('cairn_request_duration_seconds_count{op="put"} 1'));
});

test('a request meter counts by op and code and times by op, as the counters do', async () => {
  const metrics = new Metrics();
  const put = metrics.requestMeter('put');
  assert.equal(metrics.requestMeter('put'), put);
  put.record('OK', 0.003);
  put.record('NOT_LEADER', 0.0001);
  put.record('NOT_LEADER', 0.0001);
  const lines = (await metrics.render()).split('\n');
  assert.ok(lines.includes('cairn_requests_total{op="put",code="OK"} 1'));
  assert.ok(lines.includes('cairn_requests_total{op="put",code="NOT_LEADER"} 2'));
  assert.ok(lines.includes('cairn_request_duration_seconds_bucket{le="0.0005",op="put"} 2'));
  assert.ok(lines.includes('cairn_request_duration_seconds_count{op="put"} 3'));
});

test('gauges are read at each scrape; a labelled gauge shows only the series read last', async () => {
  const metrics = new Metrics();
  let term = 1;
  let peers = [
    { labels: { peer: '2' }, value: 1 },
    { labels: { peer: '3' }, value: 0 },
  ];
  metrics.gauge('cairn_raft_term', 'Current raft term.', () => term);
  metrics.labelledGauge('cairn_peer_link_up', 'Peer link up.', ['peer'], () => peers);
  assert.match(await metrics.render(), /^cairn_raft_term 1$/m);
  term = 7;
  peers = [{ labels: { peer: '2' }, value: 0 }];
  const text = await metrics.render();
  assert.match(text, /^cairn_raft_term 7$/m);
  assert.match(text, /^cairn_peer_link_up\{peer="2"\} 0$/m);
  assert.doesNotMatch(text, /peer="3"/);
});

test('nodes in one process keep their own counters and share the process metrics', async () => {
  const a = new Metrics();
  const b = new Metrics();
  a.requests.inc({ op: 'put', code: 'OK' });
  a.gauge('cairn_raft_is_leader', 'Leader.', () => 1);
  b.gauge('cairn_raft_is_leader', 'Leader.', () => 0);
  const textA = await a.render();
  const textB = await b.render();
  assert.match(textA, /^cairn_requests_total\{op="put",code="OK"\} 1$/m);
  assert.doesNotMatch(textB, /^cairn_requests_total\{/m);
  assert.match(textB, /^cairn_raft_is_leader 0$/m);
  for (const text of [textA, textB]) {
    for (const name of ['process_resident_memory_bytes', 'nodejs_heap_size_used_bytes', 'process_cpu_seconds_total']) {
      assert.equal(
        text.split('\n').filter((line) => line === `# TYPE ${name} ${name.endsWith('_total') ? 'counter' : 'gauge'}`).length,
        1,
        name,
      );
    }
  }
  assert.match(a.contentType, /^text\/plain; version=0\.0\.4/);
});
