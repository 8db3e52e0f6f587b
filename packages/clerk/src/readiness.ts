/**
 * Whether a channel was READY at any moment of a call or stream. A request is
 * written only on a ready connection, so one that never saw READY provably
 * never reached a server. (grpc-js notifies state watchers synchronously.)
 */
import * as grpc from '@grpc/grpc-js';

export interface ReadinessWatch {
  sawReady(): boolean;
  /** Stops watching; a grpc-js watcher already armed lingers at most a second. */
  stop(): void;
}

/** Watches until READY, stop(), SHUTDOWN or `untilMs` (epoch ms; unbounded by default). */
export function watchReadiness(channel: ReturnType<grpc.Client['getChannel']>, untilMs = Infinity): ReadinessWatch {
  let ready = false;
  let stopped = false;
  const watch = (): void => {
    const state = channel.getConnectivityState(false);
    if (state === grpc.connectivityState.READY) ready = true;
    if (stopped || ready || state === grpc.connectivityState.SHUTDOWN) return;
    const now = Date.now();
    if (now >= untilMs) return;
    // Re-armed on every change and every second: grpc-js's timer for a watcher is ref'd,
    // so a stopped one must not keep the process alive for long.
    channel.watchConnectivityState(state, Math.min(untilMs, now + 1_000), watch);
  };
  watch();
  return {
    sawReady: () => ready,
    stop: () => {
      stopped = true;
    },
  };
}
