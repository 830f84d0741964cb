// Temp files of atomic writes left by a killed egress-client (`.NAME.egress-<pid>-<hex>.tmp` next to the target).
import type { Host } from '@egress/core/host/host';
import { tempWriterPid } from '@egress/core/host/local-host';
import { CLIENT_PATHS, EGRESS_DIR } from '@egress/core/render/client-paths';

/** Directories egress-client writes files into. */
const DIRS = [EGRESS_DIR, CLIENT_PATHS.publicDir, '/etc/wireguard', '/etc/systemd/system'];

/** Temp files whose writer is gone (its pid no longer runs). */
export async function staleTemps(host: Host): Promise<string[]> {
  const r = await host.run(['find', ...DIRS, '-maxdepth', '1', '-type', 'f', '-name', '.*.egress-*.tmp']);
  const out: string[] = [];
  for (const path of r.stdout.split('\n').filter(Boolean)) {
    const pid = tempWriterPid(path);
    if (pid === undefined || pid === process.pid) continue;
    if ((await host.run(['test', '-d', `/proc/${pid}`])).exitCode !== 0) out.push(path);
  }
  return out;
}

/** Removes the temp files of killed runs (echoed); returns them. */
export async function removeStaleTemps(host: Host): Promise<string[]> {
  const stale = await staleTemps(host);
  for (const p of stale) await host.run(['rm', '-f', '--', p], { change: true, check: true });
  return stale;
}
