/**
 * The live dashboard served at `/` on every node: one self-contained HTML
 * page (inline CSS and JS, no external assets) that polls `/status` every
 * second and shows this node's role, term and indexes, the members (leader
 * marked, links to each member's own dashboard), the leader's view of each
 * follower's replication progress as a bar (match index against the
 * leader's last index), and the node's recent events. When a poll fails the
 * page says the node is unreachable and keeps the last data greyed out.
 *
 * Stable hooks for tests and scripts: `#state` has `data-state="live|unreachable"`,
 * each member row is `tr[data-member=ID]` with `data-leader="true"` on the leader.
 */
export const DASHBOARD_REFRESH_MS = 1000;
/** A poll slower than this counts as unreachable. */
export const DASHBOARD_FETCH_TIMEOUT_MS = 2000;

const STYLE = `
:root{--fg:#1d2330;--muted:#6b7280;--line:#e5e7eb;--bg:#f6f7f9;--card:#fff;--ok:#0f9d58;--warn:#d97706;--bad:#c62828;--accent:#2563eb}
*{box-sizing:border-box}
body{font:14px/1.4 system-ui,-apple-system,Segoe UI,sans-serif;margin:0;color:var(--fg);background:var(--bg)}
header{display:flex;align-items:center;gap:14px;padding:14px 24px;background:#111827;color:#fff}
header h1{font-size:18px;margin:0;font-weight:600}
header .cluster{color:#9ca3af}
#state{margin-left:auto;font-size:13px;padding:3px 10px;border-radius:999px;background:#374151}
#state[data-state=live]{background:#065f46}
#state[data-state=unreachable]{background:var(--bad)}
main{padding:18px 24px;max-width:1200px}
main.stale{opacity:.45;filter:grayscale(1)}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(105px,1fr));gap:10px;margin-bottom:18px}
.card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:8px 12px}
.card .label{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.04em}
.card .value{font-size:20px;font-weight:600;font-variant-numeric:tabular-nums}
h2{font-size:15px;margin:18px 0 8px}
table{border-collapse:collapse;width:100%;background:var(--card);border:1px solid var(--line);border-radius:8px;overflow:hidden}
th,td{padding:6px 10px;text-align:left;border-bottom:1px solid var(--line);font-variant-numeric:tabular-nums}
th{background:#f3f4f6;font-weight:600;font-size:12px;color:var(--muted);text-transform:uppercase;letter-spacing:.04em}
tr.leader td{background:#ecfdf5}
.badge{display:inline-block;padding:1px 8px;border-radius:999px;font-size:12px;font-weight:600;background:#e5e7eb}
.badge.leader{background:var(--ok);color:#fff}
.badge.follower{background:#dbeafe;color:#1e40af}
.badge.learner{background:#fef3c7;color:#92400e}
.badge.candidate,.badge.pre-candidate{background:#fde68a;color:#92400e}
.you{color:var(--muted);font-size:12px}
.bar{position:relative;height:14px;min-width:160px;background:#e5e7eb;border-radius:7px;overflow:hidden}
.bar>span{position:absolute;left:0;top:0;bottom:0;background:var(--ok)}
.bar.behind>span{background:var(--warn)}
.bar.inactive>span{background:var(--bad)}
.progress-text{color:var(--muted);font-size:12px}
.note{color:var(--muted);margin:6px 0}
#events{list-style:none;margin:0;padding:0;background:var(--card);border:1px solid var(--line);border-radius:8px;max-height:320px;overflow:auto}
#events li{padding:4px 10px;border-bottom:1px solid var(--line);font:12px/1.5 ui-monospace,Menlo,Consolas,monospace}
#events .time{color:var(--muted)} #events .kind{font-weight:600;color:var(--accent)}
#error{color:var(--bad);font-weight:600;margin:0 0 12px}
a{color:var(--accent)}
`;

const SCRIPT = `
const REFRESH_MS = ${DASHBOARD_REFRESH_MS};
const FETCH_TIMEOUT_MS = ${DASHBOARD_FETCH_TIMEOUT_MS};
const $ = (id) => document.getElementById(id);
const esc = (v) => String(v ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
let lastOkAt = 0;

function card(label, value) {
  return '<div class="card"><div class="label">' + esc(label) + '</div><div class="value">' + esc(value) + '</div></div>';
}

function uptime(ms) {
  const s = Math.floor(ms / 1000);
  return s < 60 ? s + ' s' : s < 3600 ? Math.floor(s / 60) + ' min' : (s / 3600).toFixed(1) + ' h';
}

function roleOf(member, s) {
  if (member.id === s.leaderId) return 'leader';
  if (member.learner) return 'learner';
  return member.id === s.id && s.role !== 'leader' ? s.role : 'follower';
}

function progressCell(member, s, progress) {
  if (member.id === s.leaderId && s.role === 'leader') return '<span class="progress-text">leader · last index ' + esc(s.lastIndex) + '</span>';
  const p = progress.get(member.id);
  if (!p) return '<span class="progress-text">—</span>';
  const pct = s.lastIndex > 0 ? Math.min(100, (100 * p.matchIndex) / s.lastIndex) : 100;
  const lag = Math.max(0, s.lastIndex - p.matchIndex);
  const cls = !p.recentActive ? 'inactive' : lag > 0 ? 'behind' : '';
  return '<div class="bar ' + cls + '" title="match ' + esc(p.matchIndex) + ' of ' + esc(s.lastIndex) + '"><span style="width:' + pct.toFixed(1) + '%"></span></div>' +
    '<div class="progress-text">match ' + esc(p.matchIndex) + ' / ' + esc(s.lastIndex) + (lag > 0 ? ' (lag ' + lag + ')' : '') + ' · ' + esc(p.state) + (p.recentActive ? '' : ' · inactive') + '</div>';
}

function memberRow(member, s, progress) {
  const role = roleOf(member, s);
  const http = member.id === s.id ? location.host : member.httpAddress;
  const link = http ? '<a href="http://' + esc(http) + '/">' + esc(http) + '</a>' : '<span class="progress-text">unknown yet</span>';
  return '<tr data-member="' + esc(member.id) + '"' + (role === 'leader' ? ' data-leader="true" class="leader"' : '') + '>' +
    '<td><b>' + esc(member.id) + '</b>' + (role === 'leader' ? ' ★' : '') + (member.id === s.id ? ' <span class="you">(this node)</span>' : '') + '</td>' +
    '<td><span class="badge ' + esc(role) + '">' + esc(role) + '</span></td>' +
    '<td>' + (member.learner ? 'learner' : 'voter') + '</td>' +
    '<td>' + esc(member.peerAddress) + '</td><td>' + link + '</td>' +
    '<td>' + progressCell(member, s, progress) + '</td></tr>';
}

function render(s) {
  document.title = 'Cairn node ' + s.id + ' · ' + s.role;
  $('node').textContent = 'node ' + s.id;
  $('cluster').textContent = 'cluster ' + s.clusterId + ' · v' + s.version;
  $('cards').innerHTML = card('role', s.role) + card('term', s.term) + card('leader', s.leaderId || 'none') +
    card('commit', s.commitIndex) + card('applied', s.appliedIndex) + card('last index', s.lastIndex) +
    card('snapshot', s.snapshotIndex) + card('keys', s.keys) + card('uptime', uptime(s.uptimeMs));
  const progress = new Map((s.progress || []).map((p) => [p.id, p]));
  const members = (s.members || []).slice().sort((a, b) => a.id - b.id);
  $('members').innerHTML = members.map((m) => memberRow(m, s, progress)).join('') || '<tr><td colspan="6">no members yet (a joining node waits to be added)</td></tr>';
  const leader = members.find((m) => m.id === s.leaderId);
  $('progress-note').innerHTML = s.role === 'leader' ? 'Replication bars: each member\\'s match index against this leader\\'s last index.'
    : 'Only the leader tracks replication progress' + (leader && leader.httpAddress ? ': <a href="http://' + esc(leader.httpAddress) + '/">open the leader\\'s dashboard</a>.' : '.');
  $('events').innerHTML = (s.events || []).slice().reverse().map((e) =>
    '<li><span class="time">' + esc(String(e.time).slice(11, 23)) + '</span> <span class="kind">' + esc(e.kind) + '</span> ' + esc(JSON.stringify(e.fields)) + '</li>').join('') || '<li>no events yet</li>';
}

function setState(live, text) {
  const state = $('state');
  state.dataset.state = live ? 'live' : 'unreachable';
  state.textContent = text;
  $('main').classList.toggle('stale', !live);
}

async function refresh() {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), FETCH_TIMEOUT_MS);
  try {
    const response = await fetch('/status', { cache: 'no-store', signal: controller.signal });
    if (!response.ok) throw new Error('HTTP ' + response.status);
    render(await response.json());
    lastOkAt = Date.now();
    $('error').textContent = '';
    setState(true, 'live · refreshed ' + new Date().toLocaleTimeString());
  } catch (e) {
    const since = lastOkAt ? ' (last data ' + Math.round((Date.now() - lastOkAt) / 1000) + ' s old)' : '';
    $('error').textContent = 'Node unreachable: ' + (e.name === 'AbortError' ? 'no answer in ' + FETCH_TIMEOUT_MS / 1000 + ' s' : e.message) + since;
    setState(false, 'UNREACHABLE');
  } finally {
    clearTimeout(timer);
    setTimeout(refresh, REFRESH_MS);
  }
}
refresh();
`;

export function renderDashboard(): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Cairn node</title><link rel="icon" href="data:,"><style>${STYLE}</style></head>
<body>
<header><h1>Cairn · <span id="node">…</span></h1><span class="cluster" id="cluster"></span><span id="state" data-state="loading">loading…</span></header>
<main id="main">
<p id="error"></p>
<div class="cards" id="cards"></div>
<h2>Members</h2>
<table><thead><tr><th>id</th><th>role</th><th>kind</th><th>peer address</th><th>dashboard</th><th>replication</th></tr></thead><tbody id="members"></tbody></table>
<p class="note" id="progress-note"></p>
<h2>Recent events</h2>
<ul id="events"></ul>
</main>
<script>${SCRIPT}</script>
</body></html>`;
}
