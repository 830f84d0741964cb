// Issue 17, last point: the supervisor keeps egress's rules winning when another tool adds its rules later. appuser's
// interface egress (wlan0) is enrolled at 7100 with nothing foreign; the daemon runs; then Tailscale's rule layout
// appears (5210-5270, `lookup 52` with a default route into "vpn0", one end of a veth pair): the daemon moves the egress to the early
// range, appuser is seen with wlan0's address again, and tcpdump on vpn0 sees none of appuser's packets all along
// (while the rules capture, egress's own kill switch refuses them). Tailscale's rules removed and re-added: no move back.
import { withLab, type Lab, type LabProcess } from '@egress/lab';
import { describe, expect, it } from 'vitest';
import { appuserSees, waitUntil } from './client-helpers.js';

// The cgroup2 hierarchy is the machine's, shared by every lab: a unique egress name keeps ours apart.
const NAME = 'keep-win';
const VPN = 'vpn0';
const WHOAMI = 'host 203.0.113.10 or host 2001:db8:113::10';
const MOVED = /foreign rule before egress: keep-win: 5270: from all lookup 52 -> table 52 \(default dev vpn0\) \(IPv4, likely Tailscale\) would capture its selected traffic; rules moved 7100-7109 -> 1100-1109/;

async function savedPriority(lab: Lab): Promise<number> {
  return JSON.parse((await lab.readFile('client', '/etc/egress/client.json'))!).egresses[0].priority;
}

/** Tailscale's rules as it installs them (both families), or their removal. */
async function tailscaleRules(lab: Lab, op: 'add' | 'del'): Promise<void> {
  const lines: string[] = [];
  for (const fam of ['-4', '-6']) {
    lines.push(`${fam} rule ${op} priority 5210 fwmark 0x80000/0xff0000 table main`);
    lines.push(`${fam} rule ${op} priority 5230 fwmark 0x80000/0xff0000 table default`);
    lines.push(`${fam} rule ${op} priority 5250 fwmark 0x80000/0xff0000 unreachable`);
    lines.push(`${fam} rule ${op} priority 5270 table 52`);
  }
  for (const l of lines) await lab.exec('client', ['ip', ...l.split(' ')], { check: true });
}

/** A pass of the daemon has run since now: delete egress's lookup rule at `p` and wait for the daemon to put it back. */
async function passRan(lab: Lab, d: LabProcess, p: number): Promise<void> {
  const mark = d.output().length;
  await lab.exec('client', ['ip', '-4', 'rule', 'del', 'priority', String(p)], { check: true });
  await waitUntil(`the daemon to restore rule ${p}`, 30_000, async () => /repair in/.test(d.output().slice(mark)) && new RegExp(`^${p}:`, 'm').test((await lab.exec('client', ['ip', '-4', 'rule'])).stdout));
}

describe('daemon: egress keeps winning beside a VPN that adds its rules later (issue 17)', () => {
  it("Tailscale's 5270 lookup 52 appears after enroll: moved to the early range, 0 of appuser's packets on vpn0, no flapping", async () => {
    await withLab({ name: 'daemon-coexist' }, async (lab) => {
      const cli = lab.egressClientArgv;
      // The other tool's interface and table 52 (a veth whose peer answers nothing: what is routed into it is seen by tcpdump).
      for (const argv of [['link', 'add', VPN, 'type', 'veth', 'peer', 'name', 'vpn0p'], ['link', 'set', 'vpn0p', 'up'], ['link', 'set', VPN, 'up'], ['address', 'add', '10.66.0.2/32', 'dev', VPN], ['-4', 'route', 'add', 'default', 'dev', VPN, 'table', '52']]) {
        await lab.exec('client', ['ip', ...argv], { check: true });
      }
      await lab.exec('client', ['ip', '-6', 'route', 'add', 'default', 'dev', VPN, 'table', '52'], { check: true });
      const enroll = await lab.exec('client', [...cli, 'enroll', '--interface', 'wlan0', '--user', 'appuser', '--name', NAME, '--dns', lab.addr.dnsV4]);
      expect(enroll.exitCode, enroll.stderr).toBe(0);
      expect(enroll.stdout).toMatch(/rule priorities 7100-7109 \(default range 7100-7999\)/);
      expect(await appuserSees(lab)).toBe(lab.addr.clientWlanV4);

      let daemon: LabProcess | undefined;
      let sender: LabProcess | undefined;
      try {
        daemon = lab.spawn('client', [...cli, 'daemon', '--debounce-ms', '10']);
        const d = daemon;
        await waitUntil('the daemon to start', 30_000, () => /watching nftables/.test(d.output()));
        // appuser sends all along (v4 and v6, TCP); tcpdump on vpn0 watches for any of it.
        const onVpn = await lab.capture('client', VPN, WHOAMI);
        const probe = (v6: boolean): string => lab.probeArgv({ v6 }).map((a) => `'${a}'`).join(' ');
        sender = lab.spawn('client', ['sh', '-c', `while :; do ${probe(false)} 1500 || echo fail; ${probe(true)} 1500 || echo fail; sleep 0.1; done`], { user: 'appuser' });
        const s = sender;
        await waitUntil("appuser's sender to answer", 30_000, () => s.output().includes(lab.addr.clientWlanV4));

        // Tailscale comes up: its rules before 7100. The daemon moves the egress to 1100-1109.
        let mark = d.output().length;
        await tailscaleRules(lab, 'add');
        await waitUntil('the move logged', 30_000, () => MOVED.test(d.output().slice(mark)));
        const lines = d.output().slice(mark).split('\n');
        const at = lines.findIndex((l) => MOVED.test(l));
        console.log(`[daemon-coexist] ${lines[at]}\n[daemon-coexist] ${lines.slice(at + 1).find((l) => /repair in/.test(l))}`);
        // The engine adds the new range (fence first) before it deletes the old one: no gap in which nothing holds.
        const steps = lines.slice(at + 1).find((l) => /repair in/.test(l)) ?? '';
        const parts = steps.split('; ');
        const lastAdd = parts.map((x) => /add (IPv6 )?rule 11\d\d:/.test(x)).lastIndexOf(true);
        const firstDelete = parts.findIndex((x) => /delete (IPv6 )?rule 71\d\d:/.test(x));
        expect(lastAdd, steps).toBeGreaterThan(-1);
        expect(firstDelete, steps).toBeGreaterThan(lastAdd);
        expect(parts.filter((x) => /rule (5\d\d\d|32\d\d\d):/.test(x)), 'no step touches the other tool\'s rules').toEqual([]);
        expect(await savedPriority(lab)).toBe(1100);
        const rules = (await lab.exec('client', ['ip', '-4', 'rule'])).stdout;
        expect(rules).not.toMatch(/^710\d:/m);
        expect(rules).toMatch(/^1100:/m);
        // Tailscale's rules untouched.
        for (const p of [5210, 5230, 5250, 5270]) expect(rules).toMatch(new RegExp(`^${p}:`, 'm'));
        await waitUntil('appuser back through wlan0', 30_000, async () => (await appuserSees(lab)) === lab.addr.clientWlanV4);
        expect(await lab.probe('client', { user: 'appuser', v6: true })).toBe(lab.addr.clientWlanV6);
        const doc = await lab.exec('client', [...cli, 'doctor', NAME]);
        expect(doc.stdout).toMatch(/ok {3}foreign rules: no other tool's rule before 1100/);

        // Tailscale removed, then re-added (it re-installs its rules on every change): the egress stays at 1100.
        mark = d.output().length;
        await tailscaleRules(lab, 'del');
        await passRan(lab, d, 1100);
        expect(await savedPriority(lab)).toBe(1100);
        await tailscaleRules(lab, 'add');
        await passRan(lab, d, 1100);
        expect(await savedPriority(lab)).toBe(1100);
        expect(d.output().slice(mark)).not.toMatch(/foreign rule/);
        expect(d.output().match(/foreign rule before egress/g)).toHaveLength(1);
        expect(await appuserSees(lab)).toBe(lab.addr.clientWlanV4);

        sender.kill('SIGTERM');
        await sender.exited;
        sender = undefined;
        const seen = await onVpn.stop();
        const answers = s.output().split('\n').filter((l) => l.trim());
        console.log(`[daemon-coexist] appuser's sender: ${answers.filter((l) => l === lab.addr.clientWlanV4 || l === lab.addr.clientWlanV6).length} answers by wlan0, ${answers.filter((l) => l === 'fail').length} refused; vpn0 saw ${seen.length} packets`);
        // Every address whoami reported for appuser is wlan0's (never the VPN's 10.66.0.2 or eth0's).
        expect(answers.filter((l) => /^[\d.]+$|^[\da-f:]+:[\da-f:]*$/.test(l.trim()) && l !== lab.addr.clientWlanV4 && l !== lab.addr.clientWlanV6)).toEqual([]);
        expect(seen).toEqual([]);
        // While Tailscale's rule captured (before the move), appuser was refused by egress's kill switch, never sent.
        // The kill switch answers TCP with `reject with tcp reset`: a new connection sees ECONNREFUSED, and one that was
        // already open when the rule appeared (its next segment rerouted into vpn0) sees ECONNRESET — seen once in CI,
        // with vpn0 silent. One probe timing out on a loaded CI machine (seen once: 'no answer within 1500 ms', with
        // vpn0 silent) is not a leak either — vpn0's capture above is the leak proof; any other failure is.
        const odd = answers.filter((l) => l.startsWith('probe:') && !/ECONNREFUSED|ECONNRESET|EPIPE|EPERM|EACCES|ENETUNREACH|EHOSTUNREACH/.test(l));
        expect(odd.filter((l) => !/no answer within/.test(l))).toEqual([]);
        expect(odd.length).toBeLessThanOrEqual(1);
        // The capture is real: root (not egress's user) follows lookup 52 into vpn0, where tcpdump sees it.
        const control = await lab.capture('client', VPN, WHOAMI);
        expect((await lab.exec('client', [...lab.probeArgv(), '1500'])).exitCode).not.toBe(0);
        expect((await control.stop()).length).toBeGreaterThan(0);
      } catch (err) {
        console.log(`[daemon-coexist] daemon log:\n${daemon?.output()}\nsender: ${sender?.output().slice(-2000)}`);
        throw err;
      } finally {
        sender?.kill('SIGTERM');
        await sender?.exited;
        daemon?.kill('SIGTERM');
        await daemon?.exited;
        const u = await lab.exec('client', [...cli, 'uninstall', NAME]);
        expect(u.exitCode, u.stderr).toBe(0);
      }
      // Uninstall leaves the other tool's rules as they are.
      const after = (await lab.exec('client', ['ip', '-6', 'rule'])).stdout;
      for (const p of [5210, 5230, 5250, 5270]) expect(after).toMatch(new RegExp(`^${p}:`, 'm'));
      expect(after).not.toMatch(/^1100:/m);
    });
  });
});
