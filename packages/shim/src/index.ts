// @egress/shim: locates the LD_PRELOAD library and builds the environment that loads it.
export { locateShim, shimBuildPath, ShimMissingError, SHIM_FILE } from './locate-shim.js';
export { shimEnv, SHIM_ENV_KEYS, type ShimTarget } from './shim-env.js';
