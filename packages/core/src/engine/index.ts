// The reconcile engine: read current state, plan, apply with rollback, teardown.
export * from './types.js';
export * from './step.js';
export * from './journal.js';
export * from './ip-format.js';
export * from './read-state.js';
export * from './plan.js';
export * from './fingerprint.js';
export * from './apply.js';
export * from './rollback.js';
