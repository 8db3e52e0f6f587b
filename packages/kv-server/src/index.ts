/** Placeholder public surface; replaced as the package is built. */
export const PACKAGE_READY = false;
