// Where `peer add`'s time goes, from its EGRESS_TIMING=1 line (packages/server/src/timing.ts): Node start-up, SSH
// connect (prepare, TCP, key exchange, authentication), the VPS lock, the facts batch, the change's execs, the Node logic
// between them, closing, and what the bench saw outside the process (nsenter, exit). All in ms; they add up to the wall time.

/** The `egress-timing` document (same shape as the server's TimingReport; kept here so the bench needs no server import). */
export interface TimingDoc {
  cliStart: number;
  end: number;
  spans: Array<{ name: string; start: number; ms: number; info?: Record<string, string | number> }>;
}

/** Phase names in report order, with what each covers. */
export const PHASES = {
  startup: 'Node start-up and loading the CLI (before its first line)',
  local: 'CLI before connecting (parse, local lock, loading the SSH code)',
  sshPrepare: 'SSH prepare (known_hosts, keys, ssh2)',
  sshTcp: 'SSH TCP connect',
  sshKex: 'SSH key exchange',
  sshAuth: 'SSH authentication',
  lock: 'VPS lock (held; in the facts exec when it carries them)',
  facts: 'facts + engine read (1 exec, or the rest of the lock\'s exec)',
  changeExecs: 'change batch (exec wall: VPS work + channel)',
  changeNode: 'Node logic of the change (plan, render, parse)',
  close: 'lock release and disconnect',
  outside: 'outside the CLI (nsenter, process exit)',
  other: 'the rest (between the phases above)',
} as const;
export type PhaseId = keyof typeof PHASES;

/** Splits one run into PHASES (ms); `wallMs`: what the bench timed around the process. */
export function phasesOf(doc: TimingDoc, wallMs: number): Record<PhaseId, number> & { changeCommands: number } {
  const one = (name: string) => doc.spans.find((s) => s.name === name);
  const ms = (name: string) => one(name)?.ms ?? 0;
  const prepare = one('ssh-prepare');
  const command = one('command');
  // The lock taken inside the facts span (the facts batch rides in the lock's exec): counted once, as the lock.
  const lockSpan = one('lock');
  const factsSpan = one('facts');
  const lockInFacts = lockSpan && factsSpan && lockSpan.start >= factsSpan.start && lockSpan.start <= factsSpan.start + factsSpan.ms ? lockSpan.ms : 0;
  const inCommand = doc.spans.filter((s) => s.name.startsWith('exec ') && command && s.start >= command.start && s.start <= command.start + command.ms);
  const changeExecs = inCommand.reduce((n, s) => n + s.ms, 0);
  const changeCommands = inCommand.reduce((n, s) => n + Number(s.info?.commands ?? 0), 0);
  const parts = {
    startup: doc.cliStart,
    local: (prepare?.start ?? doc.cliStart) - doc.cliStart,
    sshPrepare: ms('ssh-prepare'),
    sshTcp: ms('ssh-tcp'),
    sshKex: ms('ssh-kex'),
    sshAuth: ms('ssh-auth'),
    lock: ms('lock'),
    facts: ms('facts') - lockInFacts,
    changeExecs,
    changeNode: Math.max(0, (command?.ms ?? 0) - changeExecs),
    close: ms('close'),
    outside: Math.max(0, wallMs - doc.end),
  };
  const other = wallMs - Object.values(parts).reduce((a, b) => a + b, 0);
  return { ...parts, other, changeCommands };
}
