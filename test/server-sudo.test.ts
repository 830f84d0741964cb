// egress-server as a sudoer (--sudo, sudo -n): works with NOPASSWD, refuses clearly without root or when sudo wants a password.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLab, type Lab } from '@egress/lab';
import { server, sh, vpsSnapshot } from './server-helpers.js';

let lab: Lab;
let pristine: Record<string, string>;
const ssh = ['-p', '2222', '--known-hosts', '/root/kh-2222'];

beforeAll(async () => {
  lab = await startLab({ name: 'srv-sudo' });
  // Users exist only in the vps's own /etc; a second sshd on 2222 reads their keys from /etc/ssh/authorized_keys/%u.
  await sh(
    lab,
    'vps',
    [
      'useradd -M -s /bin/sh -d /nonexistent -p "*" deploy',
      'useradd -M -s /bin/sh -d /nonexistent -p "*" nopass',
      'echo "deploy ALL=(ALL) NOPASSWD:ALL" > /etc/sudoers.d/deploy',
      'echo "nopass ALL=(ALL) ALL" > /etc/sudoers.d/nopass',
      'chmod 0440 /etc/sudoers.d/deploy /etc/sudoers.d/nopass',
      'mkdir -p /etc/ssh/authorized_keys',
      'for u in deploy nopass; do cp /root/.ssh/authorized_keys /etc/ssh/authorized_keys/$u; done',
      'chmod 755 /etc/ssh/authorized_keys && chmod 644 /etc/ssh/authorized_keys/*',
      'sed -e "s/^Port 22/Port 2222/; s#^AuthorizedKeysFile .*#AuthorizedKeysFile /etc/ssh/authorized_keys/%u#; s#^PidFile .*#PidFile /run/sshd-2222.pid#" /etc/ssh/sshd_config > /etc/ssh/sshd_config_2222',
    ].join(' && '),
  );
  lab.spawn('vps', ['/usr/sbin/sshd', '-D', '-e', '-f', '/etc/ssh/sshd_config_2222']);
  await sh(lab, 'vps', 'for i in $(seq 50); do ss -lnt | grep -q ":2222 " && exit 0; sleep 0.1; done; exit 1');
  await sh(lab, 'client', ': > /root/kh-2222');
  pristine = await vpsSnapshot(lab);
}, 120_000);

afterAll(async () => {
  await lab?.down();
});

describe('egress-server --sudo', () => {
  it('refuses a non-root user without --sudo, and a sudoer who would need a password, changing nothing', async () => {
    const plain = await server(lab, ['provision', 'deploy@198.51.100.2', ...ssh, '--accept-new-host-key']);
    expect(plain.exitCode).toBe(1);
    expect(plain.stderr).toContain('deploy@198.51.100.2: egress-server needs root on the VPS (connected as uid 1001); nothing was changed');
    expect(plain.stderr).toContain('pass --sudo');
    expect(await sh(lab, 'client', 'cat /root/kh-2222')).toMatch(/^\[198\.51\.100\.2\]:2222 ssh-ed25519 AAAA/);
    const pw = await server(lab, ['provision', 'nopass@198.51.100.2', ...ssh, '--sudo']);
    expect(pw.exitCode).toBe(1);
    expect(pw.stderr).toContain('sudo on nopass@198.51.100.2 needs a password; egress runs sudo non-interactively (sudo -n)');
    expect(await vpsSnapshot(lab)).toEqual(pristine);
  });

  it('provisions, reports status and deprovisions through sudo -n', async () => {
    const r = await server(lab, ['provision', 'deploy@198.51.100.2', ...ssh, '--sudo', '--forward', '8080', '--json']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ dryRun: false, peer: { name: 'client', address4: '10.77.0.2' } });
    expect(await sh(lab, 'vps', 'stat -c "%U %a" /etc/egress/server.key /etc/egress/server.json')).toBe('root 600\nroot 600\n');
    expect(await sh(lab, 'vps', 'nft list map inet egress fwd4_tcp')).toContain('8080 : 10.77.0.2 . 8080');
    const st = await server(lab, ['status', 'deploy@198.51.100.2', ...ssh, '--sudo', '--json']);
    expect(st.exitCode, st.stderr).toBe(0);
    expect(JSON.parse(st.stdout)).toMatchObject({ up: true, nft: { present: true, matchesRendered: true }, ipForward: true });
    const again = await server(lab, ['provision', 'deploy@198.51.100.2', ...ssh, '--sudo', '--forward', '8080', '--json']);
    expect(JSON.parse(again.stdout).changed).toBe(0);
    const d = await server(lab, ['deprovision', 'deploy@198.51.100.2', ...ssh, '--sudo']);
    expect(d.exitCode, d.stderr).toBe(0);
    expect(await vpsSnapshot(lab)).toEqual(pristine);
  });
});
