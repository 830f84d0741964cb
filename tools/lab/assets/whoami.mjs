// The lab's "whoami" service: answers every TCP connection and UDP datagram with the source address it saw.
// Usage: node whoami.mjs PORT ADDR [ADDR…]   (runs inside the lab's `internet` host)
import net from 'node:net';
import dgram from 'node:dgram';

const [portText, ...addrs] = process.argv.slice(2);
const port = Number(portText);
if (!Number.isInteger(port) || addrs.length === 0) {
  process.stderr.write('usage: whoami.mjs PORT ADDR [ADDR…]\n');
  process.exit(2);
}

// Strips the v4-mapped prefix so a v4 client is reported as plain dotted quad.
const plain = (a) => (a.startsWith('::ffff:') ? a.slice(7) : a);
const log = (proto, from) => process.stdout.write(`${JSON.stringify({ proto, from, at: new Date().toISOString() })}\n`);

let pending = addrs.length * 2;
const ready = () => { if (--pending === 0) process.stderr.write('READY\n'); };

for (const addr of addrs) {
  const server = net.createServer((sock) => {
    const from = plain(sock.remoteAddress ?? '');
    log('tcp', from);
    sock.on('error', () => {});
    sock.end(`${from}\n`);
  });
  server.listen({ host: addr, port, ipv6Only: addr.includes(':') }, ready);
  const udp = dgram.createSocket({ type: addr.includes(':') ? 'udp6' : 'udp4', ipv6Only: addr.includes(':') });
  udp.on('message', (_msg, rinfo) => {
    const from = plain(rinfo.address);
    log('udp', from);
    udp.send(`${from}\n`, rinfo.port, rinfo.address);
  });
  udp.bind({ address: addr, port }, ready);
}
