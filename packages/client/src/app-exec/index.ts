// exec (LD_PRELOAD shim) and run (cgroup v2): start one application through an egress. Light: no SSH, no engine.
export { runExec, requireShim, inspectCommand, shimWarnings, type ExecOptions } from './exec.js';
export { runInCgroup, assertCgroupMarked, cgroupMatch, dropArgv, usableCgroup2Root, NFT_CGROUP_ROOT, type RunOptions } from './run.js';
export { inspectExecutable, type ExecutableInfo } from './inspect-executable.js';
export { readPublicFacts, listEgresses } from './public-facts.js';
export { assertEgressUp, currentInterfaces, type InterfaceAddresses } from './egress-up.js';
export { findCgroup2Mount, parseCgroup2Mounts, type Cgroup2Mount } from './cgroup-mount.js';
export { createRunGroup, removeRunGroup, removeStaleRunGroups, cgroupPopulated, cgroupPids, killGroup } from './run-cgroup.js';
export { invokingUser, lookupUser, envForUser, type RunUser } from './invoking-user.js';
export { resolveCommand } from './resolve-command.js';
export { runChild, exitCodeOf, type ChildOptions } from './child-run.js';
export { locateShim } from '@egress/shim';
