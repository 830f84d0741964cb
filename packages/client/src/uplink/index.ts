// Local-interface egress: reading an uplink, its gateway and resolvers (issue 7).
export * from './ip-json.js';
export * from './read-interface.js';
export * from './dhcp-lease.js';
export * from './on-link.js';
export * from './detect-uplink.js';
