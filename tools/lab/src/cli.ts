#!/usr/bin/env node
// egress-lab: start, use and remove the network lab from a shell (`npm run lab -- up`).
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { Command, CommanderError } from 'commander';
import { LAB_ADDR, LAB_HOSTS, type LabHostName } from './addresses.js';
import type { Lab } from './lab.js';
import { LABS_ROOT } from './paths.js';
import { isAlive } from './procs.js';
import { attachLab, downStaleLab, startLab } from './start.js';

const DEFAULT_NAME = 'lab';

/** Builds the CLI; `exit` receives the process exit code (tests pass their own). */
export function buildCli(exit: (code: number) => void = (c) => { process.exitCode = c; }): Command {
  const program = new Command('egress-lab')
    .description('A network-namespace lab: hosts internet, vps and client on one Linux machine (see tools/lab/README.md).')
    .exitOverride()
    .showHelpAfterError();

  program
    .command('up')
    .description('start a lab and leave it running (remove it with `down`)')
    .option('-n, --name <name>', 'lab name', DEFAULT_NAME)
    .action(async (o: { name: string }) => {
      const lab = await startLab({ name: o.name, keep: true, log: (l) => process.stderr.write(`lab: ${l}\n`) });
      process.stdout.write(summary(lab));
      exit(0);
    });

  program
    .command('down')
    .description('remove a lab: every process inside it, its namespaces and its files')
    .option('-n, --name <name>', 'lab name', DEFAULT_NAME)
    .action(async (o: { name: string }) => {
      if (!existsSync(`${LABS_ROOT}/${o.name}`)) {
        process.stderr.write(`lab: no lab named ${o.name} is running\n`);
        return exit(0);
      }
      await downStaleLab(o.name);
      process.stderr.write(`lab: ${o.name} removed\n`);
      exit(0);
    });

  program
    .command('exec')
    .description('run a command inside a host (network + mount namespaces), as root or --user')
    .argument('<host>', `one of ${LAB_HOSTS.join(', ')}`)
    .argument('<command...>', 'the command (put it after --)')
    .option('-n, --name <name>', 'lab name', DEFAULT_NAME)
    .option('-u, --user <user>', 'run as this user of the host (e.g. appuser in client)')
    .action(async (host: string, command: string[], o: { name: string; user?: string }) => {
      const lab = mustAttach(o.name);
      const { argv, env } = lab.prepare(hostName(host), command, { user: o.user });
      exit(await runAttached(argv, env));
    });

  program
    .command('probe')
    .description('print the source address the whoami service saw from a host')
    .argument('<host>', `one of ${LAB_HOSTS.join(', ')}`)
    .option('-n, --name <name>', 'lab name', DEFAULT_NAME)
    .option('-u, --user <user>', 'probe as this user')
    .option('--v6', 'use IPv6')
    .option('--udp', 'use UDP instead of TCP')
    .action(async (host: string, o: { name: string; user?: string; v6?: boolean; udp?: boolean }) => {
      const lab = mustAttach(o.name);
      process.stdout.write(`${await lab.probe(hostName(host), { user: o.user, v6: o.v6, udp: o.udp })}\n`);
      exit(0);
    });

  program
    .command('dns')
    .description('list the queries the lab DNS server answered, with the address that asked')
    .option('-n, --name <name>', 'lab name', DEFAULT_NAME)
    .action(async (o: { name: string }) => {
      for (const q of await mustAttach(o.name).dnsQueries()) process.stdout.write(`${q.from}\t${q.proto}\t${q.type}\t${q.name}\n`);
      exit(0);
    });

  program
    .command('list')
    .description('list running labs')
    .action(() => {
      const names = existsSync(LABS_ROOT) ? readdirSync(LABS_ROOT) : [];
      for (const n of names) {
        const lab = attachLab(n);
        const owner = !lab ? 'starting' : lab.owner ? `owned by process ${lab.owner.pid}${isAlive(lab.owner) ? '' : ' (gone: removed at the next start)'}` : 'kept (lab up)';
        process.stdout.write(`${n}\t${owner}\n`);
      }
      exit(0);
    });

  return program;
}

function mustAttach(name: string): Lab {
  const lab = attachLab(name);
  if (!lab) throw new Error(`no lab named ${name} is running (start one with: npm run lab -- up --name ${name})`);
  return lab;
}

function hostName(host: string): LabHostName {
  if ((LAB_HOSTS as readonly string[]).includes(host)) return host as LabHostName;
  throw new Error(`host '${host}' is not a lab host: use one of ${LAB_HOSTS.join(', ')}`);
}

function summary(lab: Lab): string {
  const a = LAB_ADDR;
  return [
    `lab ${lab.name} is up`,
    `  internet  router; whoami ${a.whoamiV4}:${a.whoamiPort} [${a.whoamiV6}]:${a.whoamiPort} (tcp+udp); dns ${a.dnsV4} ${a.dnsV6} (zone egress.test)`,
    `  vps       eth0 ${a.vpsV4}/24 ${a.vpsV6}/64; sshd on 22 (root, key only)`,
    `  client    eth0 ${a.clientV4}/25 ${a.clientV6}/64; wlan0 ${a.clientWlanV4}/25 ${a.clientWlanV6}/64; users appuser, otheruser`,
    `try: npm run lab -- probe client --name ${lab.name}`,
    `     npm run lab -- exec client --name ${lab.name} --user appuser -- id`,
    `     npm run lab -- exec client --name ${lab.name} -- ssh ${lab.ssh.target} hostname`,
    `remove it: npm run lab -- down --name ${lab.name}`,
    '',
  ].join('\n');
}

function runAttached(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve) => {
    const [cmd, ...args] = argv;
    const child = spawn(cmd!, args, { stdio: 'inherit', env, cwd: '/' });
    child.on('error', (e) => { process.stderr.write(`lab: ${e.message}\n`); resolve(127); });
    child.on('close', (code, signal) => resolve(code ?? (signal ? 128 + 15 : 1)));
  });
}

/** Runs the CLI with `argv` (without node and script); only this function's caller sets the exit code. */
export async function main(argv: string[]): Promise<number> {
  let code = 0;
  try {
    await buildCli((c) => { code = c; }).parseAsync(argv, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode;
    process.stderr.write(`lab: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
  return code;
}

if (process.argv[1] && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href) {
  process.exitCode = await main(process.argv.slice(2));
}
