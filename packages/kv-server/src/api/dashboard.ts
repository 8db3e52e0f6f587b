/**
 * The live dashboard: one self-contained HTML page that polls /status every
 * second and shows members, roles, term, commit/applied index, follower
 * progress and recent events.
 */
export function renderDashboard(): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Cairn node</title>
<style>
body{font:14px system-ui,sans-serif;margin:24px;color:#222;background:#fafafa}
h1{font-size:20px;margin:0 0 4px} .sub{color:#666;margin-bottom:16px}
table{border-collapse:collapse;margin:8px 0 20px;background:#fff}
th,td{border:1px solid #ddd;padding:4px 10px;text-align:left} th{background:#f0f0f0}
.leader{font-weight:bold;color:#0a6} .err{color:#b00} #events li{font-family:monospace}
</style></head>
<body>
<h1>Cairn node <span id="id">…</span></h1>
<div class="sub" id="summary">loading…</div>
<h2>Members</h2><table id="members"><thead><tr><th>id</th><th>peer address</th><th>client address</th><th>http</th><th>kind</th></tr></thead><tbody></tbody></table>
<h2>Follower progress</h2><table id="progress"><thead><tr><th>id</th><th>match</th><th>next</th><th>state</th><th>active</th></tr></thead><tbody></tbody></table>
<h2>Recent events</h2><ul id="events"></ul>
<script>
const esc = (s) => String(s).replace(/[&<>]/g, (c) => ({'&':'&amp;','<':'&lt;','>':'&gt;'}[c]));
async function refresh() {
  try {
    const s = await (await fetch('/status')).json();
    document.getElementById('id').textContent = s.id;
    document.getElementById('summary').innerHTML = 'role <b class="' + (s.role === 'leader' ? 'leader' : '') + '">' + esc(s.role) + '</b> · term ' + s.term + ' · leader ' + s.leaderId + ' · commit ' + s.commitIndex + ' · applied ' + s.appliedIndex + ' · last ' + s.lastIndex + ' · snapshot ' + s.snapshotIndex + ' · keys ' + s.keys + ' · cluster ' + esc(s.clusterId);
    document.querySelector('#members tbody').innerHTML = (s.members || []).map((m) => '<tr><td class="' + (m.id === s.leaderId ? 'leader' : '') + '">' + m.id + (m.id === s.leaderId ? ' ★' : '') + '</td><td>' + esc(m.peerAddress) + '</td><td>' + esc(m.clientAddress) + '</td><td>' + esc(m.httpAddress) + '</td><td>' + (m.learner ? 'learner' : 'voter') + '</td></tr>').join('');
    document.querySelector('#progress tbody').innerHTML = (s.progress || []).map((p) => '<tr><td>' + p.id + '</td><td>' + p.matchIndex + '</td><td>' + p.nextIndex + '</td><td>' + esc(p.state) + '</td><td>' + p.recentActive + '</td></tr>').join('') || '<tr><td colspan="5">(only the leader tracks progress)</td></tr>';
    document.getElementById('events').innerHTML = (s.events || []).slice().reverse().map((e) => '<li>' + esc(e.time) + ' ' + esc(e.kind) + ' ' + esc(JSON.stringify(e.fields)) + '</li>').join('');
  } catch (e) {
    document.getElementById('summary').innerHTML = '<span class="err">node unreachable: ' + esc(e.message) + '</span>';
  }
}
refresh(); setInterval(refresh, 1000);
</script>
</body></html>`;
}
