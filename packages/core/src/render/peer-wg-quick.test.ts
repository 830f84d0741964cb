// The wg-quick config `peer add --wg-quick` writes: exact text, and the client's own parser reads it back.
import { describe, expect, it } from 'vitest';
import { generateKeyPair } from '../keys.js';
import { ServerConfig } from '../model/server.js';
import { parseWgQuick } from '../model/wg-quick.js';
import { renderPeerWgQuick } from './peer-wg-quick.js';

const SERVER_PUB = 'nKj0Z3mEjnij6kBZCfavXks08pg8B8p0q5thDKtcSAU=';
const phone = generateKeyPair();
const config = ServerConfig.parse({
  version: 1,
  publicInterface: 'eth0',
  endpointHost: '198.51.100.2',
  subnet4: '10.77.0.0/24',
  address4: '10.77.0.1',
  subnet6: 'fd7a:77::/64',
  address6: 'fd7a:77::1',
  dns: ['203.0.113.53', '2001:db8:113::53'],
  publicKey: SERVER_PUB,
  peers: [{ name: 'phone', publicKey: phone.publicKey, address4: '10.77.0.3', address6: 'fd7a:77::3' }],
});

describe('renderPeerWgQuick', () => {
  it('renders a standard config: the peer addresses, the server resolvers, everything through the tunnel', () => {
    expect(renderPeerWgQuick(config, config.peers[0]!, phone.privateKey)).toBe(`# egress peer 'phone': a standard WireGuard config (wg-quick or any WireGuard app); keep it private.
[Interface]
PrivateKey = ${phone.privateKey}
Address = 10.77.0.3/32, fd7a:77::3/128
DNS = 203.0.113.53, 2001:db8:113::53
MTU = 1420

[Peer]
PublicKey = ${SERVER_PUB}
Endpoint = 198.51.100.2:51820
AllowedIPs = 0.0.0.0/0, ::/0
PersistentKeepalive = 25
`);
  });

  it('is read back by the wg-quick parser egress-client uses, with no hooks', () => {
    const c = parseWgQuick(renderPeerWgQuick(config, config.peers[0]!, phone.privateKey), 'phone.conf');
    expect(c.privateKey.value).toBe(phone.privateKey);
    expect(c.hooks).toEqual([]);
    expect(c.peers[0]!.endpoint?.value).toBe('198.51.100.2:51820');
  });
});
