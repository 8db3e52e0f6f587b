// Shared ESLint flat config. Each package's eslint.config.mjs calls
// cairnConfig(); nx tags in package.json drive the import-direction rule.
import nx from '@nx/eslint-plugin';
import tseslint from 'typescript-eslint';

const depConstraints = [
  { sourceTag: 'scope:proto', onlyDependOnLibsWithTags: [] },
  { sourceTag: 'scope:core', onlyDependOnLibsWithTags: ['scope:proto'] },
  { sourceTag: 'scope:server', onlyDependOnLibsWithTags: ['scope:proto', 'scope:core', 'scope:testkit'] },
  { sourceTag: 'scope:client', onlyDependOnLibsWithTags: ['scope:proto', 'scope:testkit'] },
  { sourceTag: 'scope:checker', onlyDependOnLibsWithTags: ['scope:proto'] },
  { sourceTag: 'scope:cli', onlyDependOnLibsWithTags: ['scope:proto', 'scope:client', 'scope:checker', 'scope:testkit'] },
  { sourceTag: 'scope:testkit', onlyDependOnLibsWithTags: ['scope:proto'] },
  // Real-fault tests (packages/fault-tests) drive clerks and check histories with the linearizability checker.
  { sourceTag: 'scope:e2e', onlyDependOnLibsWithTags: ['scope:proto', 'scope:client', 'scope:checker', 'scope:testkit'] },
];

/** @param {{ deterministic?: boolean }} options */
export function cairnConfig(options = {}) {
  const configs = [
    { ignores: ['dist/**', 'src/gen/**', 'node_modules/**'] },
    ...tseslint.configs.recommended,
    // Type-aware rules read each package's tsconfig.test.json (src and test).
    {
      files: ['**/*.ts', '**/*.tsx'],
      languageOptions: { parserOptions: { project: ['./tsconfig.test.json'], tsconfigRootDir: process.cwd() } },
      rules: {
        // A switch over a union names every member (or has a default): adding a
        // member to a union (an error code, a role, an entry type) fails lint
        // where it is not handled, as assertNever does at the type level.
        '@typescript-eslint/switch-exhaustiveness-check': ['error', { considerDefaultExhaustiveForUnions: true }],
      },
    },
    {
      files: ['**/*.ts', '**/*.tsx'],
      plugins: { '@nx': nx },
      rules: {
        // Any package may start a node: the launcher is a plain file that loads none of the server.
        '@nx/enforce-module-boundaries': ['error', { depConstraints, allow: ['@cairn/kv-server/launch'] }],
        '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
        '@typescript-eslint/no-non-null-assertion': 'off',
      },
    },
  ];
  // Production code awaits or explicitly voids every promise, and never hands
  // an async function to a callback that ignores its promise: an unhandled
  // rejection there would be a crashed node or a lost error. (node:test's
  // test() and describe() return promises by design, so tests are exempt.)
  configs.push({
    files: ['src/**/*.ts', 'src/**/*.tsx'],
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
    },
  });
  // The testkit is for tests only: no package's production code may use it.
  configs.push({
    files: ['src/**/*.ts', 'src/**/*.tsx'],
    rules: { 'no-restricted-imports': ['error', { paths: [{ name: '@cairn/testkit', message: 'test helpers are for test/ only' }] }] },
  });
  if (options.deterministic) {
    // raft-core must be a pure state machine: time enters as tick(), randomness
    // through the injected Rng, I/O leaves as Ready effects.
    configs.push({
      files: ['src/**/*.ts'],
      ignores: ['src/testing/**'],
      rules: {
        'no-restricted-globals': [
          'error',
          { name: 'setTimeout', message: 'raft-core has no timers: time enters as tick().' },
          { name: 'setInterval', message: 'raft-core has no timers: time enters as tick().' },
          { name: 'setImmediate', message: 'raft-core has no timers.' },
          { name: 'process', message: 'raft-core does no I/O.' },
          { name: 'Date', message: 'raft-core has no clock: time enters as tick().' },
          { name: 'performance', message: 'raft-core has no clock.' },
        ],
        'no-restricted-properties': ['error', { object: 'Math', property: 'random', message: 'use the injected Rng.' }],
        'no-restricted-imports': [
          'error',
          { patterns: ['node:*', 'fs', 'net', 'http', 'dgram', 'child_process', 'timers', 'crypto', 'os'] },
        ],
        'no-restricted-syntax': [
          'error',
          {
            selector: 'FunctionDeclaration[async=true], ArrowFunctionExpression[async=true], FunctionExpression[async=true]',
            message: 'raft-core is synchronous.',
          },
        ],
      },
    });
  }
  return configs;
}
