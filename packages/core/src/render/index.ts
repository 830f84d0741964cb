// Renderers: pure functions from the model to the desired state of one host.
export * from './server-paths.js';
export * from './server-wg.js';
export * from './server-nft.js';
export * from './server-boot.js';
export * from './server-guard.js';
export * from './server.js';
export * from './client.js';
export * from './peer-wg-quick.js';
