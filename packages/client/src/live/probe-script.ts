// The probe doctor runs as the bound user (plain node, no imports of ours): source address picked by the kernel
// for v4/v6 (UDP connect sends nothing) and whether DNS servers answer, all as one JSON line.

/** Input of the probe. */
export interface ProbeInput {
  v4: string;
  v6: string;
  dns: string[];
  timeoutMs: number;
}

/** Output of the probe: the source address per family (or the errno), and each DNS server's answer (or none). */
export interface ProbeOutput {
  source4: { address?: string; error?: string };
  source6: { address?: string; error?: string };
  dns: Array<{ server: string; answered: boolean; rcode?: number; error?: string }>;
}

/** JavaScript source of the probe (`node -e SCRIPT JSON`). */
export const PROBE_SCRIPT = String.raw`
const dgram = require('node:dgram');
const input = JSON.parse(process.argv[1]);
function source(type, addr) {
  return new Promise((res) => {
    const s = dgram.createSocket(type);
    s.on('error', (e) => { res({ error: e.code || String(e) }); try { s.close(); } catch {} });
    s.connect(9, addr, (err) => { let out; if (err) out = { error: err.code || String(err) }; else { try { out = { address: s.address().address }; } catch (e) { out = { error: e.code }; } } s.close(); res(out); });
  });
}
function dns(server) {
  return new Promise((res) => {
    const s = dgram.createSocket(server.includes(':') ? 'udp6' : 'udp4');
    const id = Math.floor(Math.random() * 65535);
    const q = Buffer.from([id >> 8, id & 255, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 1]);
    const t = setTimeout(() => { try { s.close(); } catch {} res({ server, answered: false, error: 'timeout' }); }, input.timeoutMs);
    s.on('error', (e) => { clearTimeout(t); try { s.close(); } catch {} res({ server, answered: false, error: e.code || String(e) }); });
    s.on('message', (m) => { if (m.length >= 4 && m.readUInt16BE(0) === id) { clearTimeout(t); s.close(); res({ server, answered: true, rcode: m[3] & 15 }); } });
    s.send(q, 53, server);
  });
}
(async () => {
  const [source4, source6, ...answers] = await Promise.all([source('udp4', input.v4), source('udp6', input.v6), ...input.dns.map(dns)]);
  process.stdout.write(JSON.stringify({ source4, source6, dns: answers }) + '\n');
})();
`;
