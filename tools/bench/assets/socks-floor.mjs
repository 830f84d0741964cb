// The least a SOCKS5 relay can do (the bench's floor for `egress-client proxy`): no-auth, CONNECT to an IPv4 address
// only, the outbound socket bound to the tunnel address, the two sockets piped. No checks, no accounting, no errors
// beyond a close. Whatever egress-client proxy measures above this is its own cost; what this measures above run-as
// is the cost of any user-space SOCKS hop (two more loopback round trips and process wake-ups per connection).
// Usage: node socks-floor.mjs PORT BIND_ADDRESS   (prints READY on stderr once listening on 127.0.0.1:PORT)
import net from 'node:net';

const [portText, bind] = process.argv.slice(2);
const port = Number(portText);
if (!Number.isInteger(port) || net.isIP(bind ?? '') !== 4) {
  process.stderr.write('usage: socks-floor.mjs PORT BIND_ADDRESS\n');
  process.exit(2);
}
const REPLY = Buffer.from([5, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
net
  .createServer({ noDelay: true }, (c) => {
    c.on('error', () => {});
    let buf = Buffer.alloc(0);
    let greeted = false;
    const onData = (d) => {
      buf = Buffer.concat([buf, d]);
      if (!greeted) {
        if (buf.length < 2 || buf.length < 2 + buf[1]) return;
        buf = buf.subarray(2 + buf[1]);
        greeted = true;
        c.write(Buffer.from([5, 0]));
      }
      if (buf.length < 10) return;
      if (buf[1] !== 1 || buf[3] !== 1) return void c.destroy();
      c.removeListener('data', onData);
      c.pause();
      const rest = buf.subarray(10);
      const o = net.connect({ host: `${buf[4]}.${buf[5]}.${buf[6]}.${buf[7]}`, port: buf.readUInt16BE(8), localAddress: bind, noDelay: true }, () => {
        c.write(REPLY);
        if (rest.length) o.write(rest);
        c.pipe(o);
        o.pipe(c);
        c.resume();
      });
      o.on('error', () => c.destroy());
      o.on('close', () => c.destroy());
      c.on('close', () => o.destroy());
    };
    c.on('data', onData);
  })
  .listen({ port, host: '127.0.0.1' }, () => process.stderr.write('READY\n'));
process.on('SIGTERM', () => process.exit(0));
