// Opens the one SSH connection of a run as a Host (ssh2 is loaded here, lazily, never at CLI start).
import type { Host, Output } from '@egress/core';
import type { CliOptions } from './cli/parse-cli.js';
import type { SshTarget } from './ssh/target.js';
import { span } from './timing.js';

/** A connected VPS: the Host to drive it and the resolved target. */
export interface Session {
  host: Host & { roundTrips?: number };
  target: SshTarget;
  sudo: boolean;
}

/** Connects to `[user@]host` with the CLI's SSH options; tests inject their own opener. */
export type SessionOpener = (target: string, options: CliOptions, output: Output) => Promise<Session>;

/** The real opener: ~/.ssh/config, known_hosts, agent and keys, one ssh2 connection. */
export const openSshSession: SessionOpener = async (targetText, options, output) => {
  const endLoad = span('load-ssh');
  const { resolveTarget } = await import('./ssh/target.js');
  const { connectSsh } = await import('./ssh/connect.js');
  const { SshHost } = await import('./ssh/ssh-host.js');
  endLoad();
  const target = resolveTarget(targetText, { ...(options.port ? { port: options.port } : {}), ...(options.identity ? { identity: options.identity } : {}) });
  output.step(`Connecting to ${target.user}@${target.host}:${target.port}`);
  const client = await connectSsh(target, {
    ...(options.knownHosts ? { knownHostsFile: options.knownHosts } : {}),
    acceptNewHostKey: !!options.acceptNewHostKey,
    ...(target.identitiesOnly && options.identity ? { explicitIdentity: target.identityFiles[0]! } : {}),
    onNewHostKey: (line, fp) => output.warn(`recorded new host key ${fp} for ${line.split(' ')[0]} in ${options.knownHosts ?? '~/.ssh/known_hosts'}`),
  });
  const host = new SshHost(client, { name: `${target.user}@${target.alias}`, sudo: !!options.sudo, output });
  return { host, target, sudo: !!options.sudo };
};
