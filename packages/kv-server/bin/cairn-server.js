#!/usr/bin/env node
// Runs the server in a child process with the server's Node flags and entry
// (see launch.js): the TypeScript sources through tsx, or the build with
// CAIRN_FROM_DIST=1.
import { spawn } from 'node:child_process';
import { serverCommandLine } from './launch.js';

// The launcher's own Node flags (e.g. --inspect) go to the server too, after the defaults so they win.
const { command, args } = serverCommandLine({ args: process.argv.slice(2), nodeFlags: process.execArgv });
// The IPC channel is how the server notices this launcher is gone (see main.ts).
const child = spawn(command, args, { stdio: ['inherit', 'inherit', 'inherit', 'ipc'] });
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 128 : 1)));
