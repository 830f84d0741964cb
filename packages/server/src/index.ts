// @egress/server: egress-server's commands, SSH host and planning, importable for tests and tools.
export { parseCli, type ParsedCli, type CliOptions } from './cli/parse-cli.js';
export { runCli } from './cli/run-cli.js';
export { OPTIONS } from './cli/options.js';
export type { Session, SessionOpener } from './session.js';
export { quoteArgv, quoteWord } from './ssh/shell-quote.js';
export { parseKnownHosts, verifyHostKey, fingerprintOf } from './ssh/known-hosts.js';
export { makeBundle, defaultBundlePath } from './bundle.js';
