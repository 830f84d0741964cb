// The lab's probe: asks the whoami service which source address it saw and prints it.
// Usage: node probe.mjs HOST PORT tcp|udp [TIMEOUT_MS]   (exit 0 and one line on stdout, or exit 1 and a reason on stderr)
import net from 'node:net';
import dgram from 'node:dgram';

const [host, portText, proto = 'tcp', timeoutText = '5000'] = process.argv.slice(2);
const port = Number(portText);
const timeoutMs = Number(timeoutText);
if (!host || !Number.isInteger(port) || (proto !== 'tcp' && proto !== 'udp')) {
  process.stderr.write('usage: probe.mjs HOST PORT tcp|udp [TIMEOUT_MS]\n');
  process.exit(2);
}

const fail = (why) => {
  process.stderr.write(`probe: ${proto} ${host} port ${port}: ${why}\n`);
  process.exit(1);
};
const timer = setTimeout(() => fail(`no answer within ${timeoutMs} ms`), timeoutMs);
const done = (text) => {
  clearTimeout(timer);
  const seen = text.trim();
  if (!seen) fail('empty answer');
  process.stdout.write(`${seen}\n`);
  process.exit(0);
};

if (proto === 'tcp') {
  let data = '';
  const sock = net.connect({ host, port });
  sock.setEncoding('utf8');
  sock.on('data', (d) => { data += d; });
  sock.on('end', () => done(data));
  sock.on('error', (e) => fail(e.code ?? e.message));
} else {
  const sock = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
  sock.on('message', (msg) => done(msg.toString('utf8')));
  sock.on('error', (e) => fail(e.code ?? e.message));
  const send = () => sock.send('whoami\n', port, host, (e) => { if (e) fail(e.code ?? e.message); });
  send();
  // UDP may lose the first datagram (e.g. while a tunnel handshakes): resend until answered.
  setInterval(send, 500).unref();
}
