/**
 * The key browser at `/keyvalue`: one self-contained page (inline CSS and JS)
 * that lists the keys under a prefix with value, version, create / mod
 * revision and lease (`GET /keys/<prefix>`, this node's applied state), then
 * follows them live through `/watch/<prefix>?prefix=1&rev=<listed + 1>`, so
 * nothing falls between the listing and the watch. EventSource resumes a
 * broken stream with Last-Event-ID; a cancelled watch (compacted, node
 * stopping) lists again.
 *
 * Stable hooks for tests: `#kv-state[data-state=live|listing|cancelled|error]`,
 * `#kv-revision`, rows `tr[data-key]` with `data-mod-revision`, and
 * `#kv-live[data-events]` (events applied from the watch). `?events_max=N`
 * stops following after N live events (state `paused`): a headless browser's
 * virtual time only runs once no request is open.
 */
import { Consistency } from '@cairn/proto';
import { InvalidArgumentError } from '../errors.js';
import type { KvApi } from '../api/kv-api.js';
import { kvJson } from './sse-watch.js';

/** Keys one listing shows at most by default (the page asks for this many). */
export const KEY_LIST_LIMIT_DEFAULT = 200;
const KEY_LIST_LIMIT_MAX = 1000;

/** `GET /keys/<prefix>?limit=N&start_after=K`: `{ revision, more, kvs }`, read here (serializable). */
export async function listKeys(api: KvApi, prefix: Buffer, query: URLSearchParams): Promise<unknown> {
  const limitText = query.get('limit') ?? String(KEY_LIST_LIMIT_DEFAULT);
  const limit = /^[0-9]{1,5}$/.test(limitText) ? Number(limitText) : Number.NaN;
  if (!(limit >= 1 && limit <= KEY_LIST_LIMIT_MAX)) throw new InvalidArgumentError(`limit must be 1..${KEY_LIST_LIMIT_MAX}`);
  const startAfter = Buffer.from(query.get('start_after') ?? '', 'utf8');
  const result = await api.range({ prefix, startAfter, limit, consistency: Consistency.SERIALIZABLE, keysOnly: false });
  return { revision: result.header?.revision ?? 0, more: result.more, kvs: result.kvs.map((kv) => kvJson(kv, 'utf8')) };
}

export function renderKeyBrowser(): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Cairn keys</title>
<meta name="viewport" content="width=device-width,initial-scale=1">
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
header{display:flex;gap:14px;align-items:center;padding:12px 24px;background:#111827;color:#fff}
header h1{font-size:18px;margin:0;font-weight:600} header a{color:#9ca3af}
#kv-state{margin-left:auto;font-size:13px;padding:3px 10px;border-radius:999px;background:#374151}
#kv-state[data-state=live]{background:#065f46} #kv-state[data-state=cancelled],#kv-state[data-state=error]{background:#c62828}
main{padding:16px 24px;max-width:1200px}
form{display:flex;gap:8px;margin-bottom:12px} input{flex:1;font:inherit;padding:6px 8px}
table{width:100%;border-collapse:collapse;background:#fff;border:1px solid #e5e7eb}
th,td{text-align:left;padding:5px 8px;border-bottom:1px solid #e5e7eb;vertical-align:top}
td.v{font-family:ui-monospace,monospace;white-space:pre-wrap;word-break:break-all;max-width:520px}
tr.changed{animation:flash 1.2s} @keyframes flash{from{background:#fef3c7}to{background:#fff}}
.muted{color:#6b7280}
</style></head><body>
<header><h1>Cairn keys</h1><a href="/">dashboard</a><span>revision <b id="kv-revision">-</b></span>
<span id="kv-state" data-state="listing">listing</span></header>
<main>
<form id="kv-form"><input id="kv-prefix" placeholder="key prefix (empty = every key)"><button>Browse</button></form>
<p class="muted" id="kv-live" data-events="0">0 live events</p>
<table><thead><tr><th>key</th><th>value</th><th>version</th><th>create rev</th><th>mod rev</th><th>lease</th></tr></thead>
<tbody id="kv-rows"></tbody></table>
<p class="muted" id="kv-more"></p>
</main>
<script>
(function(){
  var rows = new Map(), source = null, liveEvents = 0, generation = 0;
  var eventsMax = Number(new URLSearchParams(location.search).get('events_max')) || Infinity;
  var $ = function(id){ return document.getElementById(id); };
  function setState(state, text){ var s = $('kv-state'); s.dataset.state = state; s.textContent = text || state; }
  function path(prefix){ return encodeURIComponent(prefix); }
  function render(changed){
    var body = $('kv-rows'); body.textContent = '';
    Array.from(rows.keys()).sort().forEach(function(key){
      var kv = rows.get(key), tr = document.createElement('tr');
      tr.dataset.key = key; tr.dataset.modRevision = kv.modRevision;
      if (changed && changed.has(key)) tr.className = 'changed';
      [kv.key, kv.value, kv.version, kv.createRevision, kv.modRevision, kv.lease || ''].forEach(function(v, i){
        var td = document.createElement('td'); if (i === 1) td.className = 'v'; td.textContent = String(v); tr.appendChild(td);
      });
      body.appendChild(tr);
    });
  }
  function browse(prefix){
    var mine = ++generation;
    if (source) source.close();
    setState('listing');
    var query = new URLSearchParams(location.search); query.set('prefix', prefix);
    history.replaceState(null, '', '/keyvalue?' + query);
    fetch('/keys/' + path(prefix) + '?limit=${KEY_LIST_LIMIT_DEFAULT}').then(function(r){
      if (!r.ok) throw new Error('listing failed: ' + r.status); return r.json();
    }).then(function(list){
      if (mine !== generation) return;
      rows = new Map(); list.kvs.forEach(function(kv){ rows.set(kv.key, kv); });
      $('kv-revision').textContent = list.revision;
      $('kv-more').textContent = list.more ? 'more keys than shown; narrow the prefix' : '';
      render();
      follow(prefix, list.revision + 1, mine);
    }).catch(function(e){ if (mine === generation) setState('error', String(e.message || e)); });
  }
  function follow(prefix, rev, mine){
    source = new EventSource('/watch/' + path(prefix) + '?prefix=1&rev=' + rev);
    source.onopen = function(){ if (mine === generation) setState('live'); };
    source.onerror = function(){ if (mine === generation) setState('error', 'reconnecting'); };
    source.onmessage = function(m){
      var data = JSON.parse(m.data), changed = new Set();
      data.events.forEach(function(e){
        if (e.type === 'DELETE') rows.delete(e.key); else rows.set(e.key, e);
        changed.add(e.key); liveEvents++;
      });
      $('kv-revision').textContent = data.revision;
      $('kv-live').dataset.events = liveEvents; $('kv-live').textContent = liveEvents + ' live events';
      setState('live'); render(changed);
      if (liveEvents >= eventsMax) { source.close(); setState('paused', 'paused after ' + liveEvents + ' events'); }
    };
    source.addEventListener('cancel', function(m){
      source.close(); setState('cancelled', 'watch cancelled: ' + JSON.parse(m.data).code);
      setTimeout(function(){ if (mine === generation) browse(prefix); }, 1000);
    });
  }
  var initial = new URLSearchParams(location.search).get('prefix') || '';
  $('kv-prefix').value = initial;
  $('kv-form').onsubmit = function(e){ e.preventDefault(); browse($('kv-prefix').value); };
  browse(initial);
})();
</script></body></html>
`;
}
