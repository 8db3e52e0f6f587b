// Lint for the demo runner (run from tools/demo: npx eslint .).
import { cairnConfig } from '../eslint-config.mjs';

export default cairnConfig();
