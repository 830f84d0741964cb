// `egress-server peer add NAME --wg-quick FILE` hands out a standard WireGuard config: a plain `wg-quick up` on a lab
// host without egress reaches the whoami service via the VPS; `--qr` prints a code that decodes back to the same text.
import { randomBytes } from 'node:crypto';
import jsqr from 'jsqr';
import { startLab, type Lab } from '@egress/lab';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { provision } from './client-helpers.js';

let lab: Lab;
// jsqr is CommonJS with `exports.default`: under NodeNext its default import is the module object.
const jsQR = jsqr.default;
const STUB = `/tmp/wgq-peer-stub-${randomBytes(3).toString('hex')}`;

beforeAll(async () => {
  lab = await startLab({ name: 'wg-quick-peer' });
  await provision(lab, []);
}, 240_000);

afterAll(async () => {
  if (lab) {
    await lab.exec('client', ['wg-quick', 'down', '/root/phone.conf']).catch(() => undefined);
    await lab.exec('client', ['rm', '-rf', STUB]).catch(() => undefined);
  }
  await lab?.down();
});

function peerAdd(name: string, extra: string[]) {
  return lab.exec('client', [...lab.egressServerArgv, 'peer', 'add', lab.ssh.target, name, '-i', lab.ssh.identity, '--out', `/root/${name}.bundle.json`, ...extra], { timeoutMs: 120_000 });
}

/**
 * Reads back what qrcode's small terminal renderer printed: each character is two modules (upper, lower) drawn in
 * the current foreground colour (30 black = dark, 37 white or reset = light) on a white background.
 */
function terminalQrToBitmap(text: string): { data: Uint8ClampedArray; width: number; height: number } {
  const rows: boolean[][] = [];
  for (const line of text.split('\n')) {
    if (!line.includes('\x1b[')) continue;
    const top: boolean[] = [];
    const bottom: boolean[] = [];
    let fgDark = false;
    // eslint-disable-next-line no-control-regex -- the renderer's ANSI colour escapes are what is parsed here
    for (const m of line.matchAll(/\x1b\[(\d+)m|([^\x1b])/g)) {
      if (m[1] !== undefined) {
        const code = Number(m[1]);
        if (code === 30) fgDark = true;
        else if (code === 37 || code === 0) fgDark = false;
        continue;
      }
      const ch = m[2]!;
      const upper = fgDark && (ch === '▀' || ch === '█');
      const lower = fgDark && (ch === '▄' || ch === '█');
      top.push(upper);
      bottom.push(lower);
    }
    if (top.length) rows.push(top, bottom);
  }
  const scale = 6;
  const quiet = 4;
  const cols = Math.max(...rows.map((r) => r.length));
  const width = (cols + 2 * quiet) * scale;
  const height = (rows.length + 2 * quiet) * scale;
  const data = new Uint8ClampedArray(width * height * 4).fill(255);
  rows.forEach((row, y) =>
    row.forEach((dark, x) => {
      if (!dark) return;
      for (let dy = 0; dy < scale; dy++) {
        for (let dx = 0; dx < scale; dx++) {
          const i = (((y + quiet) * scale + dy) * width + (x + quiet) * scale + dx) * 4;
          data[i] = data[i + 1] = data[i + 2] = 0;
        }
      }
    }),
  );
  return { data, width, height };
}

describe('peer add --wg-quick / --qr (lab)', () => {
  it('writes a 0600 wg-quick config that a plain wg-quick up uses to reach whoami via the VPS', async () => {
    const r = await peerAdd('phone', ['--wg-quick', '/root/phone.conf']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toContain('wg-quick config /root/phone.conf (mode 0600');
    const text = (await lab.readFile('client', '/root/phone.conf'))!;
    expect(r.stdout + r.stderr).not.toContain(/PrivateKey = (\S+)/.exec(text)![1]);
    expect((await lab.exec('client', ['stat', '-c', '%a', '/root/phone.conf'], { check: true })).stdout.trim()).toBe('600');
    expect(text).toMatch(/^\[Interface\]$/m);
    expect(text).toContain(`Endpoint = ${lab.addr.vpsV4}:51820`);
    expect(text).not.toMatch(/PostUp|PreUp|Table/);
    // The device has no egress: plain wg-quick (a stub resolvconf takes the DNS line, as the WireGuard apps do).
    await lab.writeFile('client', `${STUB}/resolvconf`, '#!/bin/sh\ncat >/dev/null\n', '0755');
    const up = await lab.exec('client', ['wg-quick', 'up', '/root/phone.conf'], { env: { PATH: `${STUB}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin` }, timeoutMs: 60_000 });
    expect(up.exitCode, up.stderr).toBe(0);
    try {
      let seen = '';
      for (let i = 0; i < 10 && seen !== lab.addr.vpsV4; i++) seen = await lab.probe('client', {}).catch(() => '');
      expect(seen).toBe(lab.addr.vpsV4);
      expect(await lab.probe('client', { v6: true })).toBe(lab.addr.vpsV6);
    } finally {
      const down = await lab.exec('client', ['wg-quick', 'down', '/root/phone.conf'], { env: { PATH: `${STUB}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin` }, timeoutMs: 60_000 });
      expect(down.exitCode, down.stderr).toBe(0);
    }
    expect(await lab.probe('client', {})).toBe(lab.addr.clientV4);
  });

  it('--qr prints a QR code that decodes back to exactly the config written with it', async () => {
    const r = await peerAdd('tablet', ['--wg-quick', '/root/tablet.conf', '--qr']);
    expect(r.exitCode, r.stderr).toBe(0);
    const text = (await lab.readFile('client', '/root/tablet.conf'))!;
    const bmp = terminalQrToBitmap(r.stdout);
    const decoded = jsQR(bmp.data, bmp.width, bmp.height);
    expect(decoded, 'no QR code found in the output').not.toBeNull();
    expect(decoded!.data).toBe(text);
  });

  it('refuses --wg-quick with --public-key (the config would need the private key the client keeps), changing nothing', async () => {
    const r = await peerAdd('laptop2', ['--wg-quick', '/root/laptop2.conf', '--public-key', 'zrWgoz+XWrmY13w7SqNsDGYYWM83XZOaM9I/WgRY8xo=']);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain('--wg-quick/--qr: a wg-quick config holds the private key');
    expect(await lab.readFile('client', '/root/laptop2.conf')).toBeUndefined();
  });
});
