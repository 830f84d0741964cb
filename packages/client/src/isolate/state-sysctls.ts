// Which shared sysctls the saved egress state itself turns on: a `run --isolate` that ends must leave those alone.
import type { Host } from '@egress/core/host/host';
import { renderClient } from '@egress/core/render/client';
import { currentlyDown } from '../commands/up-down.js';
import { loadClientState } from '../state/store.js';
import { procPath } from './shared-sysctl.js';

/** The /proc/sys path of a rendered key: the engine writes interface names as they are (a VLAN's '.' included). */
function renderedPath(key: string): string {
  const m = /^net\.(ipv[46])\.conf\.(.+)\.([a-z_]+)$/.exec(key);
  return m ? `/proc/sys/net/${m[1]}/conf/${m[2]}/${m[3]}` : procPath(key);
}

/**
 * The /proc/sys paths the saved state sets to 1 right now (a named namespace's or a selected interface's forwarding
 * on the tunnel, LAN forwards'). An isolated run that claimed one of them saved the value it found (often 0); restoring
 * that when the run ends would cut the namespace's replies off until the supervisor's next pass. An unreadable state
 * yields none: the run's original is restored, as before.
 */
export async function sysctlsTheStateSets(host: Host): Promise<Set<string>> {
  try {
    const state = await loadClientState(host);
    if (state.egresses.length === 0) return new Set();
    const desired = renderClient(state, { down: await currentlyDown(host, state) });
    return new Set(desired.sysctls.filter((s) => s.value === '1').map((s) => renderedPath(s.key)));
  } catch {
    return new Set();
  }
}
