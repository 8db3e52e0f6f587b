/**
 * `@cairn/clerk/testing`: fakes for tests of code that uses a Clerk, and the
 * chaos-testing types. Not for production code.
 *
 * ### Usage
 * ```ts
 * import { Clerk } from '@cairn/clerk';
 * import { FakeClock, reply, ScriptedTransport, seededRandom } from '@cairn/clerk/testing';
 *
 * const clock = new FakeClock();
 * const transport = new ScriptedTransport({ steps: [{ reply: reply.ok({ version: 1 }) }], clock });
 * const clerk = Clerk.lazy({ endpoints: ['a:1'] }, { transport, clock, random: seededRandom(7) });
 * ```
 */
export { reply, ScriptedTransport } from './scripted-transport.js';
export type { ScriptedCall, ScriptedReply, ScriptedTransportOptions, ScriptStep } from './scripted-transport.js';
export { FakeClock, seededRandom } from './clock.js';
/** What `Clerk.injectFault` asks of a node started with `--chaos`. */
export type { FaultSpec } from './types.js';
