import { cairnConfig } from '../../tools/eslint-config.mjs';

export default cairnConfig();
