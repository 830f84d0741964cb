// --backports-mirror validation, the mirror in the deb822 source, the single-source apt-get update, and the command
// that puts wireguard-go back as it was (run for real through apt in test/machines-backports.test.ts).
import { describe, expect, it } from 'vitest';
import { BACKPORTS_SOURCE_PATH, backportsPlan, parseBackportsMirror, restoreWireguardGoCommand } from './wireguard-backports.js';

const BOOKWORM = { id: 'debian', codename: 'bookworm', prettyName: 'Debian GNU/Linux 12 (bookworm)' };

describe('--backports-mirror', () => {
  it('accepts plain http(s) archive URLs (trailing slashes dropped) and puts them in the source', () => {
    expect(parseBackportsMirror(undefined)).toBeUndefined();
    expect(parseBackportsMirror('http://203.0.113.1:8080/debian/')).toBe('http://203.0.113.1:8080/debian');
    expect(parseBackportsMirror('https://mirror.example.org/debian')).toBe('https://mirror.example.org/debian');
    expect(parseBackportsMirror('http://[2001:db8::1]/debian')).toBe('http://[2001:db8::1]/debian');
    const plan = backportsPlan(BOOKWORM, 'vps', 'http://203.0.113.1:8080/debian');
    expect(plan.files[0]!.content).toContain('URIs: http://203.0.113.1:8080/debian\nSuites: bookworm-backports\n');
    expect(backportsPlan(BOOKWORM, 'vps').files[0]!.content).toContain('URIs: http://deb.debian.org/debian\n');
  });

  it('refuses anything that could add a line to the source, credentials, queries and other schemes, naming the field and value', () => {
    for (const bad of ['http://x/debian\nTypes: deb', 'ftp://x/debian', 'http://user:pw@x/debian', 'http://x/debian?a=b', 'http://x/de bian', 'file:///srv/debian', '']) {
      expect(() => parseBackportsMirror(bad)).toThrow(/^--backports-mirror: got '.*'; expected a plain http:\/\/ or https:\/\/ URL/);
    }
  });

  it('updates only the backports source, keeping the other lists', () => {
    const update = backportsPlan(BOOKWORM, 'vps').commands[0]!.argv;
    expect(update).toEqual(['apt-get', 'update', '-q', '-o', `Dir::Etc::SourceList=${BACKPORTS_SOURCE_PATH}`, '-o', 'Dir::Etc::SourceParts=-', '-o', 'APT::Get::List-Cleanup=0']);
  });
});

describe('restoreWireguardGoCommand', () => {
  it('downgrades to the version before, or purges when there was none, only while the backported one is installed', () => {
    const down = restoreWireguardGoCommand('0.0.20220316-1+b4', '0.0.20231211-1~bpo12+1');
    expect(down.argv.slice(-2)).toEqual(['0.0.20231211-1~bpo12+1', '0.0.20220316-1+b4']);
    expect(down.argv[2]).toContain('apt-get install -y -q --no-install-recommends --allow-downgrades "wireguard-go=$2"');
    expect(down.argv[2]).toContain('"install ok installed $1") ;;');
    const purge = restoreWireguardGoCommand(null, '0.0.20231211-1~bpo12+1');
    expect(purge.argv.slice(-1)).toEqual(['']);
    expect(purge.argv[2]).toContain('if [ -z "$2" ]; then exec apt-get purge -y -q wireguard-go; fi');
    expect(purge.options?.display).toBe('apt-get purge wireguard-go (none was installed before egress)');
  });
});
