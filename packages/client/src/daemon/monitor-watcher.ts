// Watches a kernel event stream (`nft monitor`, `ip monitor`) as a child process: each output line is one event.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

export interface MonitorWatcher {
  stop(): void;
}

/** Spawns `argv` and calls `onEvent` per line; restarts it (after 1 s) if it dies while the daemon runs. */
export function watchMonitor(argv: readonly string[], onEvent: (line: string) => void, log: (line: string) => void): MonitorWatcher {
  let child: ChildProcess | undefined;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const start = (): void => {
    child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'ignore'] });
    createInterface({ input: child.stdout! }).on('line', (l) => {
      if (l.trim()) onEvent(l);
    });
    child.on('error', (err) => log(`watcher ${argv.join(' ')}: ${err.message}`));
    child.on('exit', (code) => {
      if (stopped) return;
      log(`watcher ${argv.join(' ')} exited (${code}); restarting in 1 s`);
      timer = setTimeout(start, 1000);
    });
  };
  start();
  return {
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      if (child?.pid !== undefined && child.exitCode === null) child.kill('SIGTERM');
    },
  };
}

/** The nftables event stream: any table/chain/rule added or deleted, and ruleset flushes. */
export function watchNft(onEvent: (line: string) => void, log: (line: string) => void): MonitorWatcher {
  return watchMonitor(['nft', 'monitor'], onEvent, log);
}

/** The rtnetlink event stream of links, addresses, routes and policy rules (both families). */
export function watchRtnetlink(onEvent: (line: string) => void, log: (line: string) => void): MonitorWatcher {
  return watchMonitor(['ip', 'monitor', 'link', 'address', 'route', 'rule'], onEvent, log);
}
