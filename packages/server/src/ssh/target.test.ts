// Target resolution: [user@]host, -p/-i, and ~/.ssh/config aliases.
import { describe, expect, it } from 'vitest';
import { resolveTarget, splitTarget } from './target.js';

const config = `Host vps
  HostName 198.51.100.2
  User admin
  Port 2222
  IdentityFile ~/.ssh/vps_key

Host only
  HostName 203.0.113.7
  IdentitiesOnly yes
  IdentityFile ~/.ssh/only
`;

describe('resolveTarget', () => {
  it('follows a Host alias: HostName, User, Port, IdentityFile then the default keys', () => {
    expect(resolveTarget('vps', { configText: config, home: '/home/u', localUser: 'u' })).toEqual({
      alias: 'vps',
      host: '198.51.100.2',
      port: 2222,
      user: 'admin',
      identityFiles: ['/home/u/.ssh/vps_key', '/home/u/.ssh/id_ed25519', '/home/u/.ssh/id_ecdsa', '/home/u/.ssh/id_rsa'],
      identitiesOnly: false,
    });
  });

  it('lets user@ and -p and -i override the config', () => {
    const t = resolveTarget('root@vps', { configText: config, home: '/home/u', port: 22, identity: '~/.ssh/mine' });
    expect(t).toMatchObject({ host: '198.51.100.2', port: 22, user: 'root', identityFiles: ['/home/u/.ssh/mine', '/home/u/.ssh/vps_key'], identitiesOnly: true });
  });

  it('uses IdentitiesOnly and the local user for a plain address', () => {
    expect(resolveTarget('only', { configText: config, home: '/h', localUser: 'me' })).toMatchObject({ host: '203.0.113.7', user: 'me', port: 22, identityFiles: ['/h/.ssh/only'] });
    expect(resolveTarget('root@[2001:db8::1]', { configText: '', home: '/h' })).toMatchObject({ host: '2001:db8::1', user: 'root' });
  });

  it('refuses targets that are not [user@]host', () => {
    for (const bad of ['', 'a@b@c', 'root@', '-oProxyCommand=x', 'has space']) expect(() => splitTarget(bad)).toThrow(/expected \[user@\]host/);
    expect(() => resolveTarget('vps', { configText: config, port: 70000 })).toThrow(/--port: expected a port 1-65535/);
  });
});
