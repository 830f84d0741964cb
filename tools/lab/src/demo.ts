#!/usr/bin/env node
// `npm run demo`: the whole egress story on one machine, in the lab, with the real CLIs and real addresses.
import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { LAB_ADDR } from './addresses.js';
import { classifyStep, LineSplitter, type StepOutcome } from './demo-steps.js';
import type { Lab, LabProcess } from './lab.js';
import { preflightProblems } from './preflight.js';
import { startLab } from './start.js';

const BUNDLE = '/root/egress-bundle.json';
const FORWARD_PORT = 8080;

const tty = process.stdout.isTTY && !process.env.NO_COLOR && !process.env.CI;
const paint = (code: string) => (s: string) => (tty ? `\x1b[${code}m${s}\x1b[0m` : s);
const bold = paint('1');
const dim = paint('2');
const green = paint('32');
const red = paint('31');
const yellow = paint('33');

const say = (line = ''): void => { process.stdout.write(`${line}\n`); };
const heading = (n: number, title: string): void => { say(); say(bold(`── step ${n}: ${title}`)); };

/** Set once SIGINT/SIGTERM arrived: the lab is being torn down under the running step. */
let stopping = false;

/** What happened at each step, for the closing summary. */
interface StepRecord { n: number; title: string; outcome: StepOutcome | 'skipped'; note?: string }

/** Runs the demo; resolves with the process exit code (0 when no built step failed). */
export async function runDemo(name = 'demo'): Promise<number> {
  const problems = preflightProblems();
  if (problems.length > 0) {
    for (const p of problems) process.stderr.write(`demo: ${p}\n`);
    return 1;
  }
  const steps: StepRecord[] = [];
  const record = (r: StepRecord): void => { steps.push(r); };
  let lab: Lab | undefined;
  let starting: Promise<Lab> | undefined;

  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    say();
    say(yellow(`${signal}: tearing the lab down…`));
    void (async () => {
      const l = lab ?? (await starting?.catch(() => undefined));
      await l?.down();
      say('lab removed.');
      process.exit(130);
    })();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  say(bold('egress demo'));
  say('One Linux machine plays three hosts (network + mount namespaces): an "internet" router with a whoami');
  say('service, a fresh "vps" with sshd, and a "client" where the user "appuser" should leave through the VPS.');
  say(`Every address below is what the whoami service at ${LAB_ADDR.whoamiV4}:${LAB_ADDR.whoamiPort} really saw.`);
  say(dim('Lines starting with [#] are the changes egress makes, echoed by the egress CLIs themselves.'));

  try {
    heading(1, 'start the lab');
    starting = startLab({ name, log: (l) => say(dim(`  lab: ${l}`)) });
    lab = await starting;
    say(`  internet  router, whoami ${LAB_ADDR.whoamiV4}, DNS ${LAB_ADDR.dnsV4} (zone egress.test)`);
    say(`  vps       ${LAB_ADDR.vpsV4} / ${LAB_ADDR.vpsV6}, sshd on port 22, nothing of egress installed`);
    say(`  client    ${LAB_ADDR.clientV4} / ${LAB_ADDR.clientV6} (eth0), ${LAB_ADDR.clientWlanV4} (wlan0), users appuser and otheruser`);
    record({ n: 1, title: 'start the lab', outcome: 'ok' });
    if (stopping) return 130;

    heading(2, `provision the VPS over SSH: egress-server provision ${lab.ssh.target}`);
    say('  From the client host, egress-server drives the VPS over real SSH: WireGuard, forwarding, NAT and a');
    say(`  port forward of ${FORWARD_PORT}/tcp to the client; it writes an enrollment bundle for the client.`);
    const provision = await runCli(lab, 'server', [
      'provision', lab.ssh.target, '-i', lab.ssh.identity, '--forward', `${FORWARD_PORT}/tcp`, '--out', BUNDLE,
    ]);
    let provisioned = provision === 'ok';
    if (provisioned && (await lab.readFile('client', BUNDLE)) === undefined) {
      say(red(`  provision exited 0 but wrote no bundle at ${BUNDLE}`));
      provisioned = false;
      record({ n: 2, title: 'provision the VPS', outcome: 'failed', note: 'no bundle written' });
    } else record({ n: 2, title: 'provision the VPS', outcome: provision });
    if (stopping) return 130;

    heading(3, 'enroll the client: egress-client enroll … --user appuser');
    say('  The client takes the bundle and sends every connection of appuser through the tunnel (kill switch on).');
    let enrolled = false;
    if (!provisioned) {
      const clientBuilt = await builtInHost(lab, lab.egressClientArgv);
      say(yellow(`  skipped: it needs the bundle from step 2${clientBuilt ? '' : ', and egress-client is not built yet either'}.`));
      record({ n: 3, title: 'enroll the client', outcome: clientBuilt ? 'skipped' : 'not-built', note: 'needs step 2' });
    } else {
      const enroll = await runCli(lab, 'client', ['enroll', BUNDLE, '--user', 'appuser']);
      enrolled = enroll === 'ok';
      record({ n: 3, title: 'enroll the client', outcome: enroll });
    }
    if (stopping) return 130;

    heading(4, 'who does the internet see?');
    const rootSeen = await lab.probe('client').catch((e: Error) => `error: ${e.message}`);
    say(`  root on the client     → seen as ${bold(rootSeen)} ${verdict(rootSeen, LAB_ADDR.clientV4, "the client's own address")}`);
    const rootSeen6 = await lab.probe('client', { v6: true }).catch((e: Error) => `error: ${e.message}`);
    say(`  root on the client, v6 → seen as ${bold(rootSeen6)} ${verdict(rootSeen6, LAB_ADDR.clientV6, "the client's own address")}`);
    let probeOk = rootSeen === LAB_ADDR.clientV4 && rootSeen6 === LAB_ADDR.clientV6;
    if (!enrolled) {
      say(yellow('  appuser through egress: skipped, it needs steps 2 and 3.'));
    } else {
      const r = await lab.exec('client', [...lab.egressClientArgv, 'run-as', 'appuser', '--', ...lab.probeArgv()], { timeoutMs: 30_000 });
      const seen = r.exitCode === 0 ? lastLine(r.stdout) : `error (exit ${r.exitCode}): ${r.stderr.trim()}`;
      say(`  appuser via run-as     → seen as ${bold(seen)} ${verdict(seen, LAB_ADDR.vpsV4, "the VPS's address")}`);
      probeOk &&= seen === LAB_ADDR.vpsV4;
      const r6 = await lab.exec('client', [...lab.egressClientArgv, 'run-as', 'appuser', '--', ...lab.probeArgv({ v6: true })], { timeoutMs: 30_000 });
      const seen6 = r6.exitCode === 0 ? lastLine(r6.stdout) : `error (exit ${r6.exitCode}): ${r6.stderr.trim()}`;
      say(`  appuser via run-as, v6 → seen as ${bold(seen6)} ${verdict(seen6, LAB_ADDR.vpsV6, "the VPS's address")}`);
      probeOk &&= seen6 === LAB_ADDR.vpsV6;
      const dns = await lab.exec('client', [...lab.egressClientArgv, 'run-as', 'appuser', '--', 'dig', '+short', '+time=3', '+tries=2', 'asker.egress.test', 'TXT'], { timeoutMs: 30_000 });
      const asker = dns.exitCode === 0 ? lastLine(dns.stdout).replace(/"/g, '') : `error (exit ${dns.exitCode}): ${dns.stderr.trim() || dns.stdout.trim()}`;
      say(`  appuser's DNS query    → the DNS server saw ${bold(asker)} ${verdict(asker, LAB_ADDR.vpsV4, 'the VPS, not the local network')}`);
    }
    record({ n: 4, title: 'probe as root and as appuser', outcome: probeOk ? 'ok' : 'failed', note: enrolled ? undefined : 'appuser part needs steps 2 and 3' });
    if (stopping) return 130;

    heading(5, `port forward: internet → ${LAB_ADDR.vpsV4}:${FORWARD_PORT} → a service on the client`);
    if (!enrolled) {
      say(yellow('  skipped: it needs steps 2 and 3.'));
      record({ n: 5, title: 'port forward', outcome: 'skipped', note: 'needs steps 2 and 3' });
    } else {
      const ok = await portForward(lab);
      record({ n: 5, title: 'port forward', outcome: ok ? 'ok' : 'failed' });
    }
  } catch (e) {
    say(red(`demo stopped: ${e instanceof Error ? e.message : String(e)}`));
    record({ n: steps.length + 1, title: 'unexpected error', outcome: 'failed' });
  } finally {
    if (!stopping) {
      heading(6, 'tear everything down');
      if (lab) await lab.down();
      say('  every process, namespace, mount and temp file of the lab is gone; the machine is as before.');
    }
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }

  say();
  say(bold('summary'));
  for (const s of steps) say(`  ${s.n}. ${s.title.padEnd(30)} ${label(s.outcome)}${s.note ? dim(` (${s.note})`) : ''}`);
  const notBuilt = steps.filter((s) => s.outcome === 'not-built');
  if (notBuilt.length > 0) say(yellow(`  not built yet: ${notBuilt.map((s) => `step ${s.n}`).join(', ')} — the demo runs them as soon as the CLIs have them.`));
  return steps.some((s) => s.outcome === 'failed') ? 1 : 0;
}

/** Whether a CLI's entry point exists as the client host sees it (hosts see the repository at HOST_REPO_DIR). */
async function builtInHost(lab: Lab, argv: readonly string[]): Promise<boolean> {
  return (await lab.exec('client', ['test', '-f', argv[1]!])).exitCode === 0;
}

/** Runs an egress CLI inside the client host, streaming its output (its [#] lines) indented; classifies the result. */
async function runCli(lab: Lab, which: 'server' | 'client', args: string[]): Promise<StepOutcome> {
  const argv = which === 'server' ? lab.egressServerArgv : lab.egressClientArgv;
  const cli = which === 'server' ? 'egress-server' : 'egress-client';
  const built = await builtInHost(lab, argv);
  say(dim(`  $ ${cli} ${args.join(' ')}`));
  if (!built) {
    say(yellow(`  not built yet: ${argv[1]} does not exist (the ${cli} issue has not landed).`));
    return 'not-built';
  }
  const out = new LineSplitter((l) => say(`  │ ${l.startsWith('[#') ? l : dim(l)}`));
  const err = new LineSplitter((l) => say(`  │ ${l.startsWith('[#') ? l : dim(l)}`));
  const r = await lab.exec('client', [...argv, ...args], {
    timeoutMs: 180_000,
    env: { NO_COLOR: '1' },
    onStdout: (c) => out.push(c),
    onStderr: (c) => err.push(c),
  });
  out.flush();
  err.flush();
  const outcome = classifyStep({ cliBuilt: true, exitCode: r.exitCode, output: r.stdout + r.stderr });
  if (stopping) say(yellow('  interrupted'));
  else if (outcome === 'ok') say(green(`  done (exit 0)`));
  else if (outcome === 'not-built') say(yellow(`  not built yet: ${cli} has no working '${args[0]}' command yet (exit ${r.exitCode}).`));
  else say(red(`  failed (exit ${r.exitCode})`));
  return outcome;
}

/** Starts a service as appuser on the client and connects to the VPS's public port from the internet host. */
async function portForward(lab: Lab): Promise<boolean> {
  const service = `require('net').createServer((s) => s.end('hello from the client host, uid ' + process.getuid() + '; you came from ' + s.remoteAddress.replace('::ffff:', '') + '\\n')).listen(${FORWARD_PORT}, () => console.log('listening'))`;
  const server: LabProcess = lab.spawn('client', [process.execPath, '-e', service], { user: 'appuser' });
  for (let i = 0; i < 250 && !server.output().includes('listening'); i++) await new Promise((r) => setTimeout(r, 20));
  say(`  appuser runs a small TCP service on the client, port ${FORWARD_PORT}.`);
  say(`  The internet host (${LAB_ADDR.vpsGwV4}) connects to ${LAB_ADDR.vpsV4}:${FORWARD_PORT} …`);
  const client = `const s = require('net').connect(${FORWARD_PORT}, '${LAB_ADDR.vpsV4}'); let d = ''; s.on('data', (c) => d += c); s.on('end', () => { process.stdout.write(d); }); s.on('error', (e) => { console.error(e.code); process.exit(1); }); setTimeout(() => { console.error('no answer within 10 s'); process.exit(1); }, 10000).unref();`;
  const r = await lab.exec('internet', [process.execPath, '-e', client], { timeoutMs: 15_000 });
  server.kill();
  if (r.exitCode === 0 && r.stdout.trim()) {
    say(`  answer: ${bold(r.stdout.trim())}`);
    say(green('  the VPS forwarded the connection through the tunnel to the client, and the reply came back.'));
    return true;
  }
  say(red(`  no answer through the forward: ${r.stderr.trim() || `exit ${r.exitCode}`}`));
  return false;
}

function verdict(seen: string, expected: string, what: string): string {
  return seen === expected ? green(`✓ ${what}`) : red(`✗ expected ${expected} (${what})`);
}

function label(o: StepRecord['outcome']): string {
  if (o === 'ok') return green('done');
  if (o === 'not-built') return yellow('not built yet');
  if (o === 'skipped') return yellow('skipped');
  return red('failed');
}

function lastLine(text: string): string {
  const lines = text.split('\n').map((l) => l.trim()).filter(Boolean);
  return lines[lines.length - 1] ?? '(no output)';
}

if (process.argv[1] && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href) {
  process.exitCode = await runDemo(process.env.EGRESS_DEMO_LAB ?? 'demo');
}
