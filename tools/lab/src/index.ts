// @egress/lab: a network-namespace lab (internet, vps, client) for end-to-end tests and the demo.
export { LAB_ADDR, LAB_HOSTS, LAB_LINKS, LAB_USERS, LAB_ZONE, LAB_ZONE_RECORDS, type LabAddresses, type LabHostName } from './addresses.js';
export { Lab, type DnsQuery, type LabExecOptions, type LabProbeArgs, type LabProcess, type LabSsh, type LabState } from './lab.js';
export { startLab, attachLab, downStaleLab, sweepStaleLabs, LAB_NAME, type StartLabOptions } from './start.js';
export { withLab } from './with-lab.js';
export { labCgroupParent } from './cgroups.js';
export { hostPath, HOST_REPO_DIR } from './paths.js';
export { preflightProblems, LAB_TOOLS } from './preflight.js';
export type { RunResult } from './run.js';
export { rootSnapshot, withoutForeignNetns, type RootSnapshot } from './root-snapshot.js';
export { cachedDebs, installDebs, installedVersion, DEB_CACHE } from './debs.js';
export { ensureImage, imageKey, imagePackages, machinesCacheDir, SUITE_RELEASE, type MachineImage, type MachineSuite } from './machines/image.js';
export { startAptMirror, type AptMirror, type MirrorSuite } from './machines/apt-mirror.js';
export { Machine, MachinesLab, withMachinesLab, downStaleMachinesLab, ROLE_ADDR, MACHINES_ROOT, type Capture, type MachineRole, type MachineSpec } from './machines/lab.js';
export { BACKPORTS_WIREGUARD_GO, HOST_SYSTEM_WIREGUARD_GO, SYSTEM_WIREGUARD_GO, useWireguardGo, wireguardGoPath, type LabWireguardGo } from './wireguard-go.js';
export { MAX_WG_SERVERS, enrollArgs, startWgServers, type WgServer } from './wg-servers.js';
