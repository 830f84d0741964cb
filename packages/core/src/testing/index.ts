// Test helpers for egress packages: the in-memory FakeHost and its machine model (import from '@egress/core/testing').
export * from '../host/fake-host.js';
export * from '../host/fake/state.js';
export { parseWgConfig, stripWgConfig } from '../host/fake/tools.js';
export { listTable, parseNftScript } from '../host/fake/nft.js';
export { interfaceEgress } from './interface-egress.js';
