// egress-server options declared as data: --help, validation and parsing all come from this one table.

/** One option: commander flags, help text, how to parse the value, and which commands take it. */
export interface OptionSpec {
  flags: string;
  description: string;
  /** Property name in the parsed options. */
  key: string;
  kind: 'boolean' | 'string' | 'list' | 'port';
  commands: readonly CommandName[];
  defaultText?: string;
}

export type CommandName = 'provision' | 'peer add' | 'peer remove' | 'peer list' | 'forward add' | 'forward remove' | 'forward list' | 'status' | 'deprovision';

const ALL: readonly CommandName[] = ['provision', 'peer add', 'peer remove', 'peer list', 'forward add', 'forward remove', 'forward list', 'status', 'deprovision'];

/** Every option of every command. */
export const OPTIONS: readonly OptionSpec[] = [
  { flags: '-p, --port <PORT>', key: 'port', kind: 'port', description: 'SSH port (default: ~/.ssh/config, then 22)', commands: ALL },
  { flags: '-i, --identity <FILE>', key: 'identity', kind: 'string', description: 'private key to authenticate with (ed25519, rsa or ecdsa; asks for a passphrase on a terminal)', commands: ALL },
  { flags: '--known-hosts <FILE>', key: 'knownHosts', kind: 'string', description: 'known_hosts file to verify the VPS host key against', defaultText: '~/.ssh/known_hosts', commands: ALL },
  { flags: '--accept-new-host-key', key: 'acceptNewHostKey', kind: 'boolean', description: 'trust and record the host key of a VPS not yet in known_hosts (a changed key is always refused)', commands: ALL },
  { flags: '--sudo', key: 'sudo', kind: 'boolean', description: 'run commands through `sudo -n` (a sudoer without a password prompt) instead of as root', commands: ALL },
  { flags: '--json', key: 'json', kind: 'boolean', description: 'print one JSON document on stdout (progress stays on stderr)', commands: ALL },
  { flags: '--name <CLIENT>', key: 'name', kind: 'string', description: 'name of the first peer (the client)', defaultText: 'client', commands: ['provision'] },
  { flags: '--subnet <CIDR>', key: 'subnet', kind: 'list', description: 'tunnel subnet, IPv4 and/or IPv6 (repeatable; default: first free of 10.77.0.0/24.., plus fd7a:77::/64 when the VPS has IPv6)', commands: ['provision'] },
  { flags: '--listen-port <N>', key: 'listenPort', kind: 'port', description: 'WireGuard UDP port on the VPS', defaultText: '51820', commands: ['provision'] },
  { flags: '--public-interface <IF>', key: 'publicInterface', kind: 'string', description: 'interface the VPS reaches the internet by (default: the one of the default route)', commands: ['provision'] },
  { flags: '--dns <IP>', key: 'dns', kind: 'list', description: 'resolver clients use through the tunnel (repeatable; default: the VPS upstream resolvers)', commands: ['provision'] },
  { flags: '--forward <SPEC>', key: 'forward', kind: 'list', description: 'public port(s) forwarded to the client (or on to a host on its LAN), PUBLIC[-END][/tcp|/udp][:[LAN_HOST:]TARGET] (repeatable; the full set for this client)', commands: ['provision'] },
  { flags: '--out <BUNDLE>', key: 'out', kind: 'string', description: 'where to write the enrollment bundle (mode 0600)', defaultText: './egress-<name>.bundle.json', commands: ['provision', 'peer add'] },
  { flags: '--force', key: 'force', kind: 'boolean', description: 'let --out replace an existing regular file you own (never a device, directory or symlink)', commands: ['provision', 'peer add'] },
  { flags: '--userspace-wireguard <system|backports>', key: 'userspaceWireguard', kind: 'string', description: "without the kernel module: the distribution's wireguard-go (system), or an offload-capable one, 0.0.20230223+ (backports: decided from apt on the VPS — its own package where that has offloads, e.g. Debian 13, no apt source added; else its backports, e.g. Debian 12 bookworm-backports pinned to wireguard-go only; refused elsewhere; deprovision undoes only what provision changed)", defaultText: 'system', commands: ['provision'] },
  { flags: '--backports-mirror <URL>', key: 'backportsMirror', kind: 'string', description: 'with --userspace-wireguard backports: the Debian archive mirror to take bookworm-backports from (http(s) URL; still checked against the Debian archive keyring)', defaultText: 'http://deb.debian.org/debian', commands: ['provision'] },
  { flags: '--dry-run', key: 'dryRun', kind: 'boolean', description: 'connect, read the VPS and print the exact plan without changing anything', commands: ['provision'] },
  { flags: '--wg-quick <FILE>', key: 'wgQuick', kind: 'string', description: 'also write a standard wg-quick config (mode 0600) for any WireGuard client, no egress needed on it', commands: ['peer add'] },
  { flags: '--qr', key: 'qr', kind: 'boolean', description: 'print the same wg-quick config as a QR code on the terminal (for a phone\'s WireGuard app)', commands: ['peer add'] },
  { flags: '--public-key <KEY>', key: 'publicKey', kind: 'string', description: "enroll a client that keeps its own private key (the bundle then carries none)", commands: ['peer add'] },
  { flags: '--peer <NAME>', key: 'peer', kind: 'string', description: 'peer the forward goes to (default: the only peer)', commands: ['forward add', 'forward remove', 'forward list'] },
  { flags: '--purge', key: 'purge', kind: 'boolean', description: 'also remove the packages provision installed', commands: ['deprovision'] },
];

/** Options that apply to one command. */
export function optionsFor(command: CommandName): OptionSpec[] {
  return OPTIONS.filter((o) => o.commands.includes(command));
}
