// The bare cost peer add is compared with, in the lab client: egress-server's own SSH connect (same known_hosts check,
// keys, algorithms), then over that one connection `true`, `wg set IF peer KEY allowed-ips IP/32` and `wg set IF peer KEY
// remove` (each one exec), then close. Prints one JSON line of ms figures (`boot`: Node start-up to this script's first line).
// argv: TARGET IFACE PUBLIC_KEY ALLOWED_IP
const boot = performance.now();
const [target, iface, key, allowed] = process.argv.slice(2);
await import('ssh2');
const { resolveTarget } = await import('../../../packages/server/dist/ssh/target.js');
const { connectSsh } = await import('../../../packages/server/dist/ssh/connect.js');
const loaded = performance.now();
const client = await connectSsh(resolveTarget(target, {}), {});
const connected = performance.now();

/** One exec on the connection; rejects on a nonzero exit. */
function exec(command) {
  return new Promise((resolve, reject) => {
    client.exec(command, (err, ch) => {
      if (err) return reject(err);
      let stderr = '';
      ch.on('data', () => undefined);
      ch.stderr.on('data', (d) => (stderr += d));
      ch.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${command}: exit ${code}: ${stderr.trim()}`))));
      ch.end();
    });
  });
}

async function timedExec(command) {
  const t = performance.now();
  await exec(command);
  return performance.now() - t;
}

const out = { boot, load: loaded - boot, connect: connected - loaded };
try {
  out.true = await timedExec('true');
  out.wgSet = await timedExec(`wg set ${iface} peer ${key} allowed-ips ${allowed}`);
  out.wgRemove = await timedExec(`wg set ${iface} peer ${key} remove`);
} finally {
  const t = performance.now();
  client.end();
  out.close = performance.now() - t;
}
out.total = performance.now();
console.log(JSON.stringify(Object.fromEntries(Object.entries(out).map(([k, v]) => [k, Math.round(v * 10) / 10]))));
process.exit(0);
