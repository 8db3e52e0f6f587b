import { cairnConfig } from '../../tools/eslint-config.mjs';

// This package is test code through and through: its src (the workload and
// history helpers shared by the tests and tools/torture.ts) may use the testkit.
export default [...cairnConfig(), { files: ['src/**/*.ts'], rules: { 'no-restricted-imports': 'off' } }];
