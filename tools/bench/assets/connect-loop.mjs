// Times N sequential TCP connections: connect() to the first byte the server sends, each in ms.
// Usage: node connect-loop.mjs HOST PORT COUNT [TIMEOUT_MS] [WARMUP]
// WARMUP connections (default 0) are made first and not counted (JIT, ARP and conntrack warm-up).
// Prints one JSON line: {"ms":[...], "totalMs": n, "errors": n, "firstError": "..."}; exit 1 when no connection succeeded.
import net from 'node:net';

const [host, portText, countText, timeoutText = '5000', warmupText = '0'] = process.argv.slice(2);
const warmup = Number(warmupText);
const port = Number(portText);
const count = Number(countText);
const timeoutMs = Number(timeoutText);
if (!host || !Number.isInteger(port) || !Number.isInteger(count) || count < 1) {
  process.stderr.write('usage: connect-loop.mjs HOST PORT COUNT [TIMEOUT_MS]\n');
  process.exit(2);
}

function once() {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const sock = net.connect({ host, port });
    const timer = setTimeout(() => { sock.destroy(); reject(new Error(`no first byte within ${timeoutMs} ms`)); }, timeoutMs);
    sock.once('data', () => {
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      clearTimeout(timer);
      sock.destroy();
      resolve(ms);
    });
    sock.once('error', (e) => { clearTimeout(timer); reject(e); });
  });
}

for (let i = 0; i < warmup; i++) await once().catch(() => {});
const ms = [];
let errors = 0;
let firstError = '';
const start = process.hrtime.bigint();
for (let i = 0; i < count; i++) {
  try {
    ms.push(await once());
  } catch (e) {
    errors++;
    firstError ||= e.code ?? e.message;
    if (errors > 5 && ms.length === 0) break;
  }
}
const totalMs = Number(process.hrtime.bigint() - start) / 1e6;
process.stdout.write(`${JSON.stringify({ ms: ms.map((v) => Math.round(v * 1000) / 1000), totalMs, errors, firstError })}\n`);
process.exit(ms.length ? 0 : 1);
