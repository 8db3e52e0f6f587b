// Node flags every Cairn server process runs with; each launcher that spawns
// one (bin/cairn-server.js, npm start, the demo, the benchmark, kvctl cluster
// up) adds them. The list is node-flags.json, so that kvctl can read it
// without importing server code.
//
// --max-semi-space-size=2: a 2 MiB young generation instead of V8's 16 MiB.
// A node's scavenges copy what is in flight at that instant, so a smaller
// space means more of them but each far shorter; on the 1-client benchmark
// the pauses fell from ~1.6-3 ms to ~0.45 ms and put p99 from 3.1-3.3 ms to
// 2.7-3.0 ms, with no throughput lost at 16-256 clients.
import { readFileSync } from 'node:fs';

export const SERVER_NODE_FLAGS = Object.freeze(JSON.parse(readFileSync(new URL('./node-flags.json', import.meta.url), 'utf8')));
