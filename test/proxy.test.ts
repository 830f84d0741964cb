// `egress-client proxy` end to end: curl over SOCKS5 (socks5h) and HTTP (plain and CONNECT) and a UDP ASSOCIATE client
// are seen with the VPS's address and their names are resolved from the VPS; with the egress down every request gets a
// proxy error and nothing reaches an uplink; --allow, credentials and malformed requests are handled in the lab too.
import { randomBytes } from 'node:crypto';
import { startLab, type Lab, type LabProcess } from '@egress/lab';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allowUser, client, enroll, provision, tearDownClientLab, waitUntil } from './client-helpers.js';

const NAME = `proxy-${randomBytes(3).toString('hex')}`;
const WEB_PORT = 8080;
let lab: Lab;
let proxy: LabProcess;

/** A tiny HTTP server on the whoami addresses (internet host) answering with the source address it sees. */
const WEB = `const http=require('http');let n=0;for(const a of process.argv.slice(1)){http.createServer((q,r)=>r.end((q.socket.remoteAddress||'').replace(/^::ffff:/,'')+'\\n')).listen({host:a,port:${WEB_PORT},ipv6Only:a.includes(':')},()=>{if(++n===process.argv.length-1)console.log('READY')})}`;

/** A SOCKS5 UDP ASSOCIATE client: sends "ping" to HOST:PORT (name or IP) through the proxy, prints the reply's data. */
const UDP_CLIENT = `
const net=require('net'),dgram=require('dgram');const [ph,pp,dh,dp]=process.argv.slice(1);
const s=net.connect(+pp,ph);let st=0,buf=Buffer.alloc(0);
setTimeout(()=>{console.log('timeout');process.exit(4)},8000);
s.on('error',e=>{console.log('error '+e.code);process.exit(5)});
s.on('close',()=>{if(st<2){console.log('closed');process.exit(6)}});
s.on('connect',()=>s.write(Buffer.from([5,1,0])));
const dst=()=>{const p=Buffer.from([+dp>>8,+dp&255]);if(net.isIPv4(dh))return Buffer.concat([Buffer.from([1,...dh.split('.').map(Number)]),p]);const n=Buffer.from(dh);return Buffer.concat([Buffer.from([3,n.length]),n,p])};
s.on('data',c=>{buf=Buffer.concat([buf,c]);
 if(st===0&&buf.length>=2){if(buf[1]!==0){console.log('method '+buf[1]);process.exit(3)}buf=buf.subarray(2);st=1;s.write(Buffer.from([5,3,0,1,0,0,0,0,0,0]))}
 if(st===1&&buf.length>=4){if(buf[1]!==0){console.log('rep '+buf[1]);process.exit(3)}
  if(buf[3]!==1&&buf[3]!==4){console.log('atyp '+buf[3]);process.exit(3)}
  const v6=buf[3]===4;if(buf.length<(v6?22:10))return;
  const host=v6?[...Array(8)].map((_,i)=>buf.readUInt16BE(4+2*i).toString(16)).join(':'):[...buf.subarray(4,8)].join('.');const port=buf.readUInt16BE(v6?20:8);st=2;
  const u=dgram.createSocket(v6?'udp6':'udp4');
  u.on('message',m=>{const hl=m[3]===1?10:m[3]===4?22:7+m[4];console.log(m.subarray(hl).toString().trim());process.exit(0)});
  const send=()=>u.send(Buffer.concat([Buffer.from([0,0,0]),dst(),Buffer.from('ping')]),port,host);send();setInterval(send,1000)}});
`;

/** Sends malformed requests one by one to the proxy and prints how each ended (closed, with the first reply bytes). */
const FUZZ_CLIENT = `
const net=require('net');const [ph,pp]=process.argv.slice(1);
const msgs=[[5,0],[5,1,0,5,9,0,1,1,2,3,4,0,80],[5,1,0,5,1,0,7,1,2],[4,1,0,80,1,2,3,4,0],[5,1,0,5,1,0,3,0,0,80],
 Buffer.from('GARBAGE\\r\\n\\r\\n'),Buffer.from('CONNECT nope HTTP/1.1\\r\\n\\r\\n'),Buffer.from('GET / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n'),Buffer.from('GET http://x/ HTTP/1.1\\r\\nBad Header\\r\\n\\r\\n'),[0,0,0,0]];
(async()=>{for(const m of msgs){await new Promise(res=>{const s=net.connect(+pp,ph,()=>s.write(Buffer.from(m)));let r=Buffer.alloc(0);
 const t=setTimeout(()=>{console.log('open');s.destroy();res()},5000);s.on('data',c=>r=Buffer.concat([r,c]));s.on('error',()=>{});
 s.on('close',()=>{clearTimeout(t);const txt=r.toString('latin1');console.log('closed '+(txt.startsWith('HTTP/')?txt.split('\\r\\n')[0]:r.toString('hex')));res()})})}})();
`;

/** Starts `egress-client proxy ARGS` as otheruser (no root needed) and waits for its "listening" line. */
async function startProxy(args: string[]): Promise<LabProcess> {
  const p = lab.spawn('client', [...lab.egressClientArgv, 'proxy', '--egress', NAME, ...args], { user: 'otheruser' });
  await Promise.race([
    waitUntil('the proxy to listen', 30_000, () => /proxy: SOCKS5 and HTTP on/.test(p.output())),
    p.exited.then((e) => {
      throw new Error(`proxy exited (${JSON.stringify(e)}): ${p.output()}`);
    }),
  ]);
  return p;
}

function curl(args: string[]) {
  return lab.exec('client', ['curl', '-sS', '--max-time', '10', ...args], { user: 'otheruser', timeoutMs: 30_000 });
}

const whoamiUrl = `http://whoami.egress.test:${WEB_PORT}/`;

beforeAll(async () => {
  lab = await startLab({ name: 'proxy' });
  await provision(lab, []);
  await enroll(lab, ['--name', NAME]);
  // The proxy runs as otheruser: since issue 18 only allowed users may send from the egress address.
  await allowUser(lab, 'otheruser', NAME);
  const web = lab.spawn('internet', [process.execPath, '-e', WEB, lab.addr.whoamiV4, lab.addr.whoamiV6]);
  await waitUntil('the web server', 20_000, () => web.output().includes('READY'));
  proxy = await startProxy(['--listen', '127.0.0.1:1080', '--listen', '[::1]:1080']);
}, 300_000);

afterAll(() => tearDownClientLab(lab, { stop: [proxy], egress: NAME }));

describe('egress-client proxy in the lab', () => {
  it('curl over SOCKS5 (socks5h, v4 and v6 listeners) and HTTP (plain and CONNECT) is seen with the VPS address', async () => {
    const socks = await curl(['--socks5-hostname', '127.0.0.1:1080', whoamiUrl]);
    expect(socks.stderr).toBe('');
    expect(socks.stdout.trim()).toBe(lab.addr.vpsV4);
    const socks6 = await curl(['--socks5-hostname', '[::1]:1080', `http://[${lab.addr.whoamiV6}]:${WEB_PORT}/`]);
    expect(socks6.stdout.trim()).toBe(lab.addr.vpsV6);
    const plain = await curl(['-x', 'http://127.0.0.1:1080', whoamiUrl]);
    expect(plain.stdout.trim()).toBe(lab.addr.vpsV4);
    const tunnel = await curl(['-p', '-x', 'http://[::1]:1080', whoamiUrl]);
    expect(tunnel.stdout.trim()).toBe(lab.addr.vpsV4);
    // Without the proxy the same user is seen directly (an IP, so no lookup of ours reaches the DNS log).
    expect((await curl([`http://${lab.addr.whoamiV4}:${WEB_PORT}/`])).stdout.trim()).toBe(lab.addr.clientV4);
  });

  it('relays UDP ASSOCIATE datagrams (by name and by IP) from the VPS address', async () => {
    const byName = await lab.exec('client', [process.execPath, '-e', UDP_CLIENT, '127.0.0.1', '1080', 'whoami.egress.test', String(lab.addr.whoamiPort)], { user: 'otheruser' });
    expect(byName.stdout.trim(), byName.stderr).toBe(lab.addr.vpsV4);
    const byIp = await lab.exec('client', [process.execPath, '-e', UDP_CLIENT, '::1', '1080', lab.addr.whoamiV4, String(lab.addr.whoamiPort)], { user: 'otheruser' });
    expect(byIp.stdout.trim(), byIp.stderr).toBe(lab.addr.vpsV4);
  });

  it("resolved every name through the egress's DNS: the lab DNS server saw only the VPS asking", async () => {
    const from = [...new Set((await lab.dnsQueries()).filter((q) => q.name === 'whoami.egress.test').map((q) => q.from))].sort();
    expect(from.length).toBeGreaterThan(0);
    expect(from.every((f) => f === lab.addr.vpsV4 || f === lab.addr.vpsV6), from.join(' ')).toBe(true);
  });

  it('prints its status (connections, bytes) on SIGUSR1', async () => {
    const pid = /pid (\d+)/.exec(proxy.output())?.[1];
    expect(pid).toBeDefined();
    const mark = proxy.output().length;
    await lab.exec('client', ['kill', '-USR1', pid!], { check: true });
    await waitUntil('the status line', 10_000, () => proxy.output().slice(mark).includes('proxy status:'));
    const line = proxy.output().slice(mark).split('\n').find((l) => l.includes('proxy status:'))!;
    const st = JSON.parse(line.slice(line.indexOf('{'))) as { egress: string; connections: number; bytesDown: number; active: number };
    expect(st.egress).toBe(NAME);
    expect(st.connections).toBeGreaterThanOrEqual(6);
    expect(st.bytesDown).toBeGreaterThan(0);
  });

  it('answers malformed SOCKS5 and HTTP requests with an error or a close, and keeps serving', async () => {
    const r = await lab.exec('client', [process.execPath, '-e', FUZZ_CLIENT, '127.0.0.1', '1080'], { user: 'otheruser', timeoutMs: 60_000 });
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(10);
    for (const l of lines) expect(l).toMatch(/^closed( |$)/);
    expect(lines.filter((l) => /^closed HTTP\/1\.1 4\d\d /.test(l)).length).toBeGreaterThanOrEqual(4);
    expect((await curl(['--socks5-hostname', '127.0.0.1:1080', whoamiUrl])).stdout.trim()).toBe(lab.addr.vpsV4);
  });

  it("refuses destinations on the client itself (loopback, its own LAN address): they would not go through the egress", async () => {
    for (const dest of ['127.0.0.1:22', `${lab.addr.clientV4}:22`, `[${lab.addr.clientV6}]:22`]) {
      const r = await curl(['-s', '-o', '/dev/null', '-w', '%{http_code}', '-x', 'http://127.0.0.1:1080', `http://${dest}/`]);
      expect(r.stdout, dest).toBe('403');
      const s = await curl(['--socks5', '127.0.0.1:1080', `http://${dest}/`]);
      expect(s.exitCode, dest).not.toBe(0);
      // curl prints the SOCKS5 reply code: 2 = connection not allowed by ruleset.
      expect(s.stderr, dest).toMatch(/Can't complete SOCKS5 connection to .*\(2\)/);
    }
  });

  it('refuses bad credentials and a group-readable auth file; accepts the right user', async () => {
    await lab.writeFile('client', '/tmp/proxy-users', 'alice:s3cret\n', '0600');
    await lab.exec('client', ['chown', 'otheruser', '/tmp/proxy-users'], { check: true });
    const authed = await startProxy(['--listen', '127.0.0.1:1081', '--auth-file', '/tmp/proxy-users']);
    try {
      const bad = await curl(['--socks5-hostname', '127.0.0.1:1081', '--proxy-user', 'alice:wrong', whoamiUrl]);
      expect(bad.exitCode).not.toBe(0);
      expect(bad.stdout).toBe('');
      const none = await curl(['-s', '-o', '/dev/null', '-w', '%{http_code}', '-x', 'http://127.0.0.1:1081', whoamiUrl]);
      expect(none.stdout).toBe('407');
      const badHttp = await curl(['-s', '-o', '/dev/null', '-w', '%{http_code}', '-x', 'http://127.0.0.1:1081', '--proxy-user', 'alice:wrong', whoamiUrl]);
      expect(badHttp.stdout).toBe('407');
      expect((await curl(['--socks5-hostname', '127.0.0.1:1081', '--proxy-user', 'alice:s3cret', whoamiUrl])).stdout.trim()).toBe(lab.addr.vpsV4);
      expect((await curl(['-x', 'http://127.0.0.1:1081', '--proxy-user', 'alice:s3cret', whoamiUrl])).stdout.trim()).toBe(lab.addr.vpsV4);
    } finally {
      authed.kill('SIGTERM');
      await authed.exited;
    }
    await lab.exec('client', ['chmod', '0640', '/tmp/proxy-users'], { check: true });
    const loose = await client(lab, ['proxy', '--egress', NAME, '--listen', '127.0.0.1:1082', '--auth-file', '/tmp/proxy-users'], { user: 'otheruser' });
    expect(loose.exitCode).not.toBe(0);
    expect(loose.stderr).toContain('--auth-file: /tmp/proxy-users has mode 0640');
  });

  it('refuses a LAN listen without --allow, and closes a LAN source outside --allow', async () => {
    const open = await client(lab, ['proxy', '--egress', NAME, '--listen', `${lab.addr.clientV4}:1083`], { user: 'otheruser' });
    expect(open.exitCode).not.toBe(0);
    expect(open.stderr).toContain(`--listen: ${lab.addr.clientV4}:1083 is not a loopback address; give --allow CIDR`);
    const lan = await startProxy(['--listen', `${lab.addr.clientV4}:1083`, '--allow', '198.51.100.0/24']);
    try {
      // The internet/router host (192.0.2.1 on the client's eth0 link) is a LAN-side source outside --allow.
      const r = await lab.exec('internet', ['curl', '-sS', '--max-time', '10', '--socks5-hostname', `${lab.addr.clientV4}:1083`, whoamiUrl]);
      expect(r.exitCode).not.toBe(0);
      expect(r.stdout).toBe('');
      await waitUntil('the refusal in the log', 10_000, () => lan.output().includes(`refused a connection from ${lab.addr.clientGwV4}: not in --allow`));
      // The client's own LAN address is not loopback and not in --allow either: refused too.
      const local = await curl(['--socks5-hostname', `${lab.addr.clientV4}:1083`, whoamiUrl]);
      expect(local.exitCode).not.toBe(0);
    } finally {
      lan.kill('SIGTERM');
      await lan.exited;
    }
  });

  it('egress down: every proxied request fails with a proxy error and none of it reaches an uplink; up again: it serves', async () => {
    const filter = `host ${lab.addr.whoamiV4} or host ${lab.addr.whoamiV6} or port 53`;
    const caps = [await lab.capture('client', 'eth0', filter), await lab.capture('client', 'wlan0', filter)];
    const down = await client(lab, ['down', NAME]);
    expect(down.exitCode, down.stderr).toBe(0);
    const socks = await curl(['--socks5-hostname', '127.0.0.1:1080', whoamiUrl]);
    expect(socks.exitCode).not.toBe(0);
    expect(socks.stderr).toMatch(/SOCKS5|socks/i);
    const socksIp = await curl(['--socks5', '127.0.0.1:1080', `http://${lab.addr.whoamiV4}:${WEB_PORT}/`]);
    expect(socksIp.exitCode).not.toBe(0);
    const plain = await curl(['-s', '-o', '/dev/null', '-w', '%{http_code}', '-x', 'http://127.0.0.1:1080', whoamiUrl]);
    expect(plain.stdout).toBe('503');
    const tunnel = await curl(['-p', '-x', 'http://127.0.0.1:1080', `http://${lab.addr.whoamiV4}:${WEB_PORT}/`]);
    expect(tunnel.exitCode).not.toBe(0);
    expect(tunnel.stderr).toMatch(/CONNECT tunnel failed, response 503/);
    const udp = await lab.exec('client', [process.execPath, '-e', UDP_CLIENT, '127.0.0.1', '1080', lab.addr.whoamiV4, String(lab.addr.whoamiPort)], { user: 'otheruser' });
    expect(udp.stdout.trim()).toBe('timeout');
    expect(proxy.output()).toContain(`egress '${NAME}' is down`);
    expect((await Promise.all(caps.map((c) => c.stop()))).flat()).toEqual([]);

    const up = await client(lab, ['up', NAME]);
    expect(up.exitCode, up.stderr).toBe(0);
    let seen = '';
    for (let i = 0; i < 20 && seen !== lab.addr.vpsV4; i++) {
      seen = (await curl(['--socks5-hostname', '127.0.0.1:1080', whoamiUrl])).stdout.trim();
      if (seen !== lab.addr.vpsV4) await new Promise((r) => setTimeout(r, 500));
    }
    expect(seen).toBe(lab.addr.vpsV4);
  });

  it('stops cleanly on SIGTERM', async () => {
    const pid = /pid (\d+)/.exec(proxy.output())?.[1];
    await lab.exec('client', ['kill', '-TERM', pid!], { check: true });
    const e = await proxy.exited;
    expect(e.code).toBe(0);
    expect(proxy.output()).toMatch(/proxy: stopped on SIGTERM/);
  });
});
