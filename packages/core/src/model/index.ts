// The egress model: zod schemas and their inferred types.
export * from './primitives.js';
export * from './forward.js';
export * from './server.js';
export * from './bundle.js';
export * from './client.js';
export * from './selectors.js';
export * from './parse.js';
