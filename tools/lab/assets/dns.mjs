// The lab's DNS server: answers the test zone over UDP and TCP and logs who asked (one JSON line per query on stdout).
// Usage: node dns.mjs ZONE_JSON ADDR [ADDR…]   ZONE_JSON = {"zone":"egress.test","records":{"whoami.egress.test":{"A":["203.0.113.10"]}}}
import net from 'node:net';
import dgram from 'node:dgram';

const [zoneJson, ...addrs] = process.argv.slice(2);
const { zone, records } = JSON.parse(zoneJson ?? '{}');
if (!zone || !records || addrs.length === 0) {
  process.stderr.write('usage: dns.mjs ZONE_JSON ADDR [ADDR…]\n');
  process.exit(2);
}

const TYPES = { 1: 'A', 28: 'AAAA', 16: 'TXT', 6: 'SOA', 2: 'NS', 255: 'ANY' };
const CODES = Object.fromEntries(Object.entries(TYPES).map(([k, v]) => [v, Number(k)]));
const plain = (a) => (a.startsWith('::ffff:') ? a.slice(7) : a);

// Reads a (possibly compressed) domain name at `off`; returns [name, offset after the name].
function readName(buf, off) {
  const labels = [];
  let end = -1;
  for (let hops = 0; hops < 64; hops++) {
    const len = buf[off];
    if (len === undefined) throw new Error('truncated name');
    if (len === 0) { off += 1; break; }
    if ((len & 0xc0) === 0xc0) {
      if (end < 0) end = off + 2;
      off = ((len & 0x3f) << 8) | buf[off + 1];
      continue;
    }
    labels.push(buf.subarray(off + 1, off + 1 + len).toString('latin1'));
    off += 1 + len;
  }
  return [labels.join('.').toLowerCase(), end < 0 ? off : end];
}

function encodeName(name) {
  const parts = name.split('.').filter(Boolean).map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, 'latin1')]));
  return Buffer.concat([...parts, Buffer.from([0])]);
}

function rdata(type, value) {
  if (type === 'A') return Buffer.from(value.split('.').map(Number));
  if (type === 'AAAA') {
    const [head, tail = ''] = value.split('::');
    const h = head ? head.split(':') : [];
    const t = tail ? tail.split(':') : [];
    const groups = value.includes('::') ? [...h, ...Array(8 - h.length - t.length).fill('0'), ...t] : h;
    const b = Buffer.alloc(16);
    groups.forEach((g, i) => b.writeUInt16BE(parseInt(g, 16), i * 2));
    return b;
  }
  if (type === 'TXT') { const s = Buffer.from(value, 'utf8'); return Buffer.concat([Buffer.from([s.length]), s]); }
  throw new Error(`cannot encode ${type}`);
}

// Builds the answer to one query packet; logs the asker.
function answer(query, from, proto) {
  const id = query.readUInt16BE(0);
  const flags = query.readUInt16BE(2);
  const [name, after] = readName(query, 12);
  const qtype = query.readUInt16BE(after);
  const question = query.subarray(12, after + 4);
  const typeName = TYPES[qtype] ?? String(qtype);
  process.stdout.write(`${JSON.stringify({ from, name, type: typeName, proto, at: new Date().toISOString() })}\n`);

  const inZone = name === zone || name.endsWith(`.${zone}`);
  const known = records[name];
  let rcode = 0;
  const answers = [];
  if (!inZone) rcode = 5; // REFUSED: this server is authoritative for the test zone only
  else if (name === `asker.${zone}` && (typeName === 'TXT' || typeName === 'ANY')) answers.push(['TXT', from]);
  else if (!known && name !== `asker.${zone}` && name !== zone) rcode = 3; // NXDOMAIN
  else if (known) for (const t of typeName === 'ANY' ? Object.keys(known) : [typeName]) for (const v of known[t] ?? []) answers.push([t, v]);

  const header = Buffer.alloc(12);
  header.writeUInt16BE(id, 0);
  header.writeUInt16BE(0x8000 | (flags & 0x7900) | 0x0400 | rcode, 2); // QR, opcode+RD copied, AA
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(answers.length, 6);
  const rrs = answers.map(([t, v]) => {
    const data = rdata(t, v);
    const fixed = Buffer.alloc(10);
    fixed.writeUInt16BE(CODES[t], 0);
    fixed.writeUInt16BE(1, 2);
    fixed.writeUInt32BE(60, 4);
    fixed.writeUInt16BE(data.length, 8);
    return Buffer.concat([encodeName(name), fixed, data]);
  });
  return Buffer.concat([header, question, ...rrs]);
}

let pending = addrs.length * 2;
const ready = () => { if (--pending === 0) process.stderr.write('READY\n'); };

for (const addr of addrs) {
  const v6 = addr.includes(':');
  const udp = dgram.createSocket({ type: v6 ? 'udp6' : 'udp4', ipv6Only: v6 });
  udp.on('message', (msg, rinfo) => {
    try { udp.send(answer(msg, plain(rinfo.address), 'udp'), rinfo.port, rinfo.address); } catch (e) { process.stderr.write(`dns: bad query: ${e.message}\n`); }
  });
  udp.bind({ address: addr, port: 53 }, ready);

  const tcp = net.createServer((sock) => {
    let buf = Buffer.alloc(0);
    sock.on('error', () => {});
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const len = buf.readUInt16BE(0);
        const msg = buf.subarray(2, 2 + len);
        buf = buf.subarray(2 + len);
        try {
          const out = answer(msg, plain(sock.remoteAddress ?? ''), 'tcp');
          const lenBuf = Buffer.alloc(2);
          lenBuf.writeUInt16BE(out.length);
          sock.write(Buffer.concat([lenBuf, out]));
        } catch (e) { process.stderr.write(`dns: bad query: ${e.message}\n`); sock.destroy(); }
      }
    });
  });
  tcp.listen({ host: addr, port: 53, ipv6Only: v6 }, ready);
}
