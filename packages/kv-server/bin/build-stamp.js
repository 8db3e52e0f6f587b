// Run by this package's `build` script after tsc: records in dist/ the digest
// of the sources the build was made from, so a launcher can tell a build made
// from other sources (launch.js, chooseServerFrom).
import { writeBuildStamp } from './launch.js';

writeBuildStamp();
