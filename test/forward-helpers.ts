// Helpers for the port-forward end-to-end tests: a service that answers with the remote address it saw, and an
// asker on the internet host that retries while the tunnel settles.
import type { Lab } from '@egress/lab';
import { expect } from 'vitest';

/** `node -e SERVICE PROTO HOST PORT TAG`: answers `TAG <remote address>`; UDP replies by an unconnected socket (sendto), after REPLY_DELAY_MS. */
export const SERVICE = `
const [proto, host, port, tag] = process.argv.slice(1);
const seen = (a) => a.replace(/^::ffff:/, '');
if (proto === 'udp') {
  const s = require('dgram').createSocket({ type: host.includes(':') ? 'udp6' : 'udp4', ipv6Only: false });
  const delay = Number(process.env.REPLY_DELAY_MS || 0);
  s.on('message', (m, r) => {
    console.log('got');
    setTimeout(() => s.send(tag + ' ' + seen(r.address), r.port, r.address, (err) => console.log('sent ' + (err ? err.code : 'ok'))), delay);
  });
  s.bind(Number(port), host, () => console.log('ready'));
} else {
  require('net').createServer({}, (c) => c.end(tag + ' ' + seen(c.remoteAddress))).listen({ port: Number(port), host, ipv6Only: false }, () => console.log('ready'));
}`;

/** `node -e ASK PROTO ADDR PORT`: prints the first answer (40 tries of 0.5 s while the handshake settles) or nothing. */
const ASK = `
const [proto, addr, port] = process.argv.slice(1);
const once = () => new Promise((res) => {
  let done = (v) => { done = () => {}; res(v); };
  setTimeout(() => done(''), 500);
  if (proto === 'udp') {
    const s = require('dgram').createSocket(addr.includes(':') ? 'udp6' : 'udp4');
    s.on('message', (m) => { s.close(); done(m.toString()); });
    s.send('hello', Number(port), addr);
    setTimeout(() => { try { s.close(); } catch {} }, 600);
  } else {
    let got = '';
    const c = require('net').connect(Number(port), addr);
    c.on('data', (d) => { got += d; });
    c.on('end', () => done(got));
    c.on('error', () => done(''));
    setTimeout(() => c.destroy(), 600);
  }
});
const tries = Number(process.env.TRIES || 40);
(async () => { for (let i = 0; i < tries; i++) { const v = await once(); if (v) { console.log(v); return; } } })();`;

/** Asks ADDR:PORT from the internet host; returns the answer ('' when none came). */
export async function askFromInternet(lab: Lab, proto: string, addr: string, port: number, tries = 40): Promise<string> {
  const r = await lab.exec('internet', [process.execPath, '-e', ASK, proto, addr, String(port)], { timeoutMs: 60_000, env: { TRIES: String(tries) } });
  expect(r.exitCode, r.stderr).toBe(0);
  return r.stdout.trim();
}

/** Starts SERVICE in the client (behind `prefix`, e.g. nsenter into a LAN namespace) and waits until it listens. */
export async function serveOnClient(lab: Lab, s: { proto: string; host: string; port: number; tag: string; user?: string; prefix?: string[]; replyDelayMs?: number }) {
  const env = s.replyDelayMs ? { REPLY_DELAY_MS: String(s.replyDelayMs) } : undefined;
  const p = lab.spawn('client', [...(s.prefix ?? []), process.execPath, '-e', SERVICE, s.proto, s.host, String(s.port), s.tag], { ...(s.user ? { user: s.user } : {}), ...(env ? { env } : {}) });
  for (let i = 0; i < 200 && !p.output().includes('ready'); i++) await new Promise((r) => setTimeout(r, 25));
  expect(p.output(), s.tag).toContain('ready');
  return p;
}
