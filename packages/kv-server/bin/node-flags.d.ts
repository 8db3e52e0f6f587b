/** Node flags every Cairn server process runs with (see node-flags.js). */
export declare const SERVER_NODE_FLAGS: readonly string[];
