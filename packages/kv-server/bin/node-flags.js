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
//
// --heap-growing-percent=200: the old generation may grow to three times what
// survived the last full GC before the next one (Go's GOGC=100 allows twice).
// V8 otherwise keeps the leader's heap ~5 MB above its ~21 MB live set and
// runs a mark-compact every ~1.6 s at 1 client, each with incremental
// marking steps of up to 7 ms on the main thread. Now it runs one every
// ~6-10 s: put p99 (after warm-up) ~2.1 -> ~1.6 ms, p999 ~10 -> ~5.5 ms. The
// leader's RSS after 30 s of 1-client puts rose ~20 MB; the RSS benchmark
// (10k-1M keys under 256-client load) did not rise.
import { readFileSync } from 'node:fs';

export const SERVER_NODE_FLAGS = Object.freeze(JSON.parse(readFileSync(new URL('./node-flags.json', import.meta.url), 'utf8')));
