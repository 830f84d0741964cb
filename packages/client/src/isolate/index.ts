// `run --isolate`: a network namespace per run whose only way out is the egress (issue 7).
export * from './names.js';
export * from './address-plan.js';
export * from './render-isolate.js';
export * from './record.js';
export * from './shared-sysctl.js';
export * from './lock.js';
export * from './iptables-accept.js';
export * from './setup.js';
export * from './teardown.js';
export * from './sweep.js';
export * from './reaper.js';
export * from './run-isolated.js';
export * from './leftovers.js';
export * from './plumbing.js';
