// Goal: the dashboard page at `/` works in a real browser: on a live 3-node
// cluster the leader's page, after its own refresh, lists the three members
// with the leader marked and the state "live", and renders to a non-trivial
// screenshot; when /status fails the page says "unreachable"; the page needs
// no external assets. The key browser at `/keyvalue` lists a prefix and
// then applies live events from its SSE watch while a writer runs.
// Method: a real-process TestCluster and Debian's chromium in headless mode
// (--dump-dom / --screenshot with a virtual-time budget so the page's timers
// and fetches run). Skipped, with the reason, only when /usr/bin/chromium is
// missing (CI installs it).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TestCluster, unaryCall, waitFor, type NodeProcess } from '@cairn/testkit';
import { renderDashboard } from '../src/api/dashboard.js';
import { renderKeyBrowser } from '../src/watch/key-browser.js';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_RUN_LIMIT_MS = 60_000;
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const skip = existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed (apt-get install -y chromium)`;

/** Runs headless chromium on `url` with one action flag; resolves with stdout. */
function chromium(url: string, action: string[]): Promise<string> {
  const profile = mkdtempSync(join(tmpdir(), 'cairn-chromium-'));
  const args = [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    `--user-data-dir=${profile}`,
    '--window-size=1200,900',
    '--virtual-time-budget=3000',
    ...action,
    url,
  ];
  return new Promise((resolve, reject) => {
    execFile(CHROMIUM, args, { timeout: CHROMIUM_RUN_LIMIT_MS, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      rmSync(profile, { recursive: true, force: true });
      if (error) reject(new Error(`chromium failed: ${error.message}\n${stderr.slice(-1000)}`));
      else resolve(stdout);
    });
  });
}

/** The member rows the page rendered (the script's own source also contains the attribute name, so match digits). */
function memberRows(dom: string): string[] {
  return dom.match(/<tr data-member="\d+"[^>]*>/g) ?? [];
}

/** Serves the dashboard page with a /status that always fails (the connection is dropped). */
async function startBrokenStatusServer(html: string): Promise<Server> {
  const server = createServer((request, response) => {
    if (request.url === '/') {
      response.setHeader('content-type', 'text/html; charset=utf-8');
      response.end(html);
    } else response.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

describe('dashboard in headless chromium', { skip }, () => {
  let cluster: TestCluster;
  let leader: NodeProcess;
  let brokenServer: Server | undefined;
  const scratch = mkdtempSync(join(tmpdir(), 'cairn-dashboard-'));
  const screenshotFile = join(scratch, 'leader.png');
  // Browser runs are started together (they mostly wait on virtual time and
  // fetches) and each test awaits and checks its own result.
  let unreachableDom: Promise<string>;
  let leaderDom: Promise<string>;
  let leaderScreenshot: Promise<string>;
  let keyBrowserDom: Promise<string>;
  let writing = true;
  let liveWriter: Promise<void> | undefined;

  before(async () => {
    brokenServer = await startBrokenStatusServer(renderDashboard());
    unreachableDom = chromium(`http://127.0.0.1:${(brokenServer.address() as { port: number }).port}/`, ['--dump-dom']);
    unreachableDom.catch(() => undefined);
    cluster = await TestCluster.start({ size: 3 });
    leader = await cluster.waitForLeader();
    // The leader tracks every follower's progress once both have answered it.
    await waitFor(async () => (await cluster.status(leader)).progress.filter((p) => p.id !== leader.id && p.matchIndex > 0).length === 2, {
      what: 'leader progress for both followers',
    });
    leaderDom = chromium(`http://${leader.httpAddress}/`, ['--dump-dom']);
    leaderScreenshot = chromium(`http://${leader.httpAddress}/`, [`--screenshot=${screenshotFile}`]);
    leaderDom.catch(() => undefined);
    leaderScreenshot.catch(() => undefined);
    // The key browser lists kb/ and then follows it live: a writer keeps changing kb/live meanwhile.
    const put = (key: string, value: string): Promise<unknown> =>
      unaryCall((cb) => leader.kv.put({ key: Buffer.from(key), value: Buffer.from(value), prevKv: false, lease: 0 }, cb));
    await put('kb/listed', 'hello');
    keyBrowserDom = chromium(`http://${leader.httpAddress}/keyvalue?prefix=kb%2F&events_max=3`, ['--dump-dom']);
    keyBrowserDom.catch(() => undefined);
    liveWriter = (async () => {
      for (let n = 0; writing; n++) await put('kb/live', `n${n}`);
    })();
  });
  after(async () => {
    // Let the browsers finish before their pages' servers go away.
    await Promise.allSettled([unreachableDom, leaderDom, leaderScreenshot, keyBrowserDom]);
    writing = false;
    await liveWriter?.catch(() => undefined);
    await cluster?.stop();
    if (brokenServer !== undefined) await new Promise((resolve) => brokenServer!.close(resolve));
    rmSync(scratch, { recursive: true, force: true });
  });

  test('the leader page lists 3 members, marks the leader, shows progress and is live', async () => {
    const dom = await leaderDom;
    const rows = memberRows(dom);
    assert.equal(rows.length, 3, `member rows: ${rows.join(' ')}`);
    const leaderRows = rows.filter((row) => row.includes('data-leader="true"'));
    assert.deepEqual(
      leaderRows.map((row) => row.match(/data-member="(\d+)"/)![1]),
      [String(leader.id)],
    );
    assert.match(dom, /id="state" data-state="live"/);
    assert.match(dom, /<div class="bar[^"]*"[^>]*><span style="width:/, 'a follower progress bar');
    assert.match(dom, /<span class="kind">leader-changed<\/span>/, 'recent events list the election');
  });

  test('a screenshot of the leader page is a non-trivial 1200x900 PNG', async () => {
    await leaderScreenshot;
    assert.ok(existsSync(screenshotFile), 'screenshot written');
    const png = readFileSync(screenshotFile);
    assert.deepEqual(png.subarray(0, 8), PNG_SIGNATURE);
    assert.equal(png.readUInt32BE(16), 1200, 'width');
    assert.equal(png.readUInt32BE(20), 900, 'height');
    // A blank page compresses to a few kB; the rendered tables and bars do not.
    assert.ok(png.length > 20_000, `PNG is ${png.length} bytes`);
  });

  test('the key browser at /keyvalue lists the prefix and updates live from the SSE watch', async () => {
    const dom = await keyBrowserDom;
    assert.match(dom, /<tr data-key="kb\/listed" data-mod-revision="\d+">/);
    assert.match(dom, /<td class="v">hello<\/td>/);
    const live = Number(/id="kv-live" data-events="(\d+)"/.exec(dom)?.[1]);
    assert.equal(live, 3, 'events applied from the watch (the page stops after events_max=3)');
    assert.match(dom, /id="kv-state" data-state="paused"/);
    assert.match(dom, /<tr data-key="kb\/live"/);
  });

  test('the page is self-contained and says "unreachable" when /status fails', async () => {
    assert.doesNotMatch(renderDashboard(), /<script[^>]+src=|<link[^>]+stylesheet|@import|url\(http/i, 'no external assets');
    assert.doesNotMatch(renderKeyBrowser(), /<script[^>]+src=|<link[^>]+stylesheet|@import|url\(http/i, 'no external assets');
    const dom = await unreachableDom;
    assert.match(dom, /id="state" data-state="unreachable"/);
    assert.match(dom, /Node unreachable:/);
  });
});
