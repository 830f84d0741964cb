// egress-server forward add|remove|list: edit the server's forwards and apply the difference in one nft -f.
import { NotFoundError, formatForwardSpec, parseForwardSpec, type Output, type PortForward, type ServerConfig } from '@egress/core';
import type { CliOptions } from '../cli/parse-cli.js';
import { checkForwardClashes, checkForwardLoops, parseForwards, requirePeer } from '../plan/server-config.js';
import { converge, requireState, withVps } from '../server-ops.js';
import type { SessionOpener } from '../session.js';

export interface ForwardReport {
  host: string;
  action: 'add' | 'remove' | 'list';
  changed: number;
  forwards: Array<{ spec: string; peer: string }>;
  roundTrips: number;
}

function choosePeer(config: ServerConfig, requested: string | undefined): string {
  if (requested) return requirePeer(config, requested).name;
  if (config.peers.length === 1) return config.peers[0]!.name;
  throw new NotFoundError(`--peer: expected the peer the forward goes to (peers: ${config.peers.map((p) => p.name).join(', ') || 'none'})`);
}

/**
 * A forward to a LAN host needs the client too (it forwards on to the host), and this machine cannot reach the
 * client: say exactly what to run there. A forward to the client itself needs nothing on the client.
 */
export function clientStep(action: 'add' | 'remove', f: PortForward): string {
  if (!f.targetHost) return '';
  return `\nthe client forwards it on to ${f.targetHost}: on the client (peer '${f.peer}') run\n  sudo egress-client forward ${action} ${formatForwardSpec(f)}`;
}

/** Runs `forward add|remove|list`. */
export async function forwardCommand(action: 'add' | 'remove' | 'list', targetText: string, spec: string | undefined, options: CliOptions, output: Output, open: SessionOpener): Promise<ForwardReport> {
  if (action !== 'list') parseForwardSpec(spec ?? '', 'check', 'SPEC');
  return withVps(targetText, options, output, open, async ({ session, host, facts }) => {
    const config = requireState(facts, host.name);
    let next = config;
    let changed = 0;
    if (action === 'add') {
      const peer = choosePeer(config, options.peer);
      const [f] = parseForwards([spec!], peer, { sshPort: session.target.port, listenPort: config.listenPort }, 'SPEC');
      checkForwardLoops([f!], { subnets: [config.subnet4, config.subnet6], vpsAddresses: facts.addresses.map((a) => a.address) }, 'SPEC');
      checkForwardClashes(config, [f!], 'SPEC', true);
      next = { ...config, forwards: [...config.forwards, f!] };
      changed = (await converge(host, facts, next, config, output)).changed;
      output.result(`forwarding ${formatForwardSpec(f!)} to ${peer}${clientStep('add', f!)}`);
    } else if (action === 'remove') {
      const wanted = parseForwardSpec(spec!, options.peer ?? 'any', 'SPEC');
      const explicitTarget = /:\d+$/.test(spec!.trim());
      const match = config.forwards.find(
        (f) => f.proto === wanted.proto && f.publicPort === wanted.publicPort && f.publicPortEnd === wanted.publicPortEnd && (!options.peer || f.peer === options.peer) && (!explicitTarget || f.targetPort === wanted.targetPort),
      );
      if (!match) throw new NotFoundError(`SPEC: no forward ${spec} on ${host.name} (forwards: ${config.forwards.map(formatForwardSpec).join(', ') || 'none'}); nothing was changed`);
      next = { ...config, forwards: config.forwards.filter((f) => f !== match) };
      changed = (await converge(host, facts, next, config, output)).changed;
      output.result(`removed forward ${formatForwardSpec(match)} (was to ${match.peer})${clientStep('remove', match)}`);
    }
    const forwards = next.forwards.filter((f) => action !== 'list' || !options.peer || f.peer === options.peer).map((f) => ({ spec: formatForwardSpec(f), peer: f.peer }));
    if (action === 'list') output.result(forwards.length ? forwards.map((f) => `${f.spec.padEnd(24)} -> ${f.peer}`).join('\n') : 'no forwards');
    return { host: host.name, action, changed, forwards, roundTrips: host.roundTrips ?? 0 };
  });
}
