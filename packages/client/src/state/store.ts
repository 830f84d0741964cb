// Reads the saved client state and picks egresses from it by name, with messages that say what to run.
import { NotFoundError, ValidationError } from '@egress/core/errors';
import type { Host } from '@egress/core/host/host';
import { ClientState, type Egress } from '@egress/core/model/client';
import { parseJsonWith } from '@egress/core/model/parse';
import { CLIENT_PATHS } from '@egress/core/render/client-paths';
import { resolveAllowedGroups } from '../policy/group-members.js';

/** The saved client state, or an empty one when nothing is enrolled. */
export async function loadClientState(host: Host): Promise<ClientState> {
  const text = await host.readFile(CLIENT_PATHS.state);
  if (text === undefined) return { version: 1, egresses: [] };
  return resolveAllowedGroups(host, parseJsonWith(ClientState, text, CLIENT_PATHS.state));
}

/** The egresses a command acts on: the named one, or all of them when no name is given. */
export function selectEgresses(state: ClientState, name: string | undefined, command: string): Egress[] {
  if (state.egresses.length === 0) throw new NotFoundError('no egress is enrolled on this machine', { hint: 'egress-client enroll BUNDLE --user USER' });
  if (name === undefined) return state.egresses;
  const e = state.egresses.find((x) => x.name === name);
  if (!e) {
    throw new NotFoundError(`${command}: no egress named '${name}' (enrolled: ${state.egresses.map((x) => x.name).join(', ')})`, {
      hint: `egress-client ${command} ${state.egresses[0]!.name}`,
    });
  }
  return [e];
}

/** Validates a state built in memory (allocation results, edits) before anything is applied. */
export function checkState(state: unknown): ClientState {
  const r = ClientState.safeParse(state);
  if (!r.success) throw new ValidationError(`client state would be invalid: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return r.data;
}
