// A TCP service that sends one line and closes each connection (the port-forward target in the bench).
// Usage: node byte-server.mjs PORT   (prints READY on stderr once listening)
import net from 'node:net';

const port = Number(process.argv[2]);
if (!Number.isInteger(port)) {
  process.stderr.write('usage: byte-server.mjs PORT\n');
  process.exit(2);
}
const server = net.createServer((sock) => {
  sock.on('error', () => {});
  sock.end('x\n');
});
server.listen({ port, host: '0.0.0.0' }, () => process.stderr.write('READY\n'));
