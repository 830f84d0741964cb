// @egress/core: model, address planning, keys, renderers, the Host seam and the reconcile engine.
export * from './errors.js';
export * from './model/index.js';
export * from './keys.js';
export * from './host/host.js';
export * from './engine/types.js';
export * from './output.js';
export * from './render/index.js';
export * from './host/local-host.js';
export * from './engine/index.js';
export * from './address.js';
export * from './nft-check.js';
export * from './fs/user-file.js';
export * from './lock/flock.js';
