// Entry point for '@egress/core/testing' (the package's "./*" export maps it to dist/testing.js).
export * from './testing/index.js';
