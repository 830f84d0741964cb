// Every egress-client command and option, declared as data: --help, the README and validation come from here.

export interface OptionSpec {
  /** Commander flags, e.g. `--user <name>`. */
  flags: string;
  description: string;
}

export interface CommandSpec {
  name: string;
  /** Commander argument syntax, e.g. `<bundle>`, `[egress]`, `<cmd...>`. */
  args: string[];
  summary: string;
  /** Extra help text shown after the options. */
  details?: string;
  options: OptionSpec[];
  /** Everything after the arguments (or `--`) is the app's argv, not ours. */
  passThrough?: boolean;
}

const JSON_OPT: OptionSpec = { flags: '--json', description: 'print one JSON document on stdout (progress stays on stderr)' };

export const ALLOCATION_HELP = `Allocation (each the first value free on this host and among enrolled egresses):
  interface  egress0, egress1, ...
  mark       0x01000000, 0x02000000, ... 0x80000000 (one bit; mask = that bit; other bits are kept)
  table      7100, 7101, ...
  priorities 7100-7109, 7110-7119, ... (lookup at +0..+2, prohibit fallback at +7..+9)
Values used by an existing ip rule or routing table are skipped.`;

export const COMMANDS: CommandSpec[] = [
  {
    name: 'enroll',
    args: ['[bundle]'],
    summary: 'turn an enrollment bundle (or a local interface: --interface) into a running egress for a user',
    details: `Validates the bundle, allocates a mark, table and rule priorities, brings the tunnel up with wg-quick
(Table = off; wireguard-go where the kernel module is missing), applies the client state, saves it to
/etc/egress (0600) and installs a boot unit when systemd runs. Running it again with the same bundle
changes nothing.

Without a VPS: --interface IF makes an egress that leaves by IF (e.g. wlan0) with IF's address, via IF's
gateway (from the main table, a DHCP lease, or --gateway IP; comma-separate an IPv4 and an IPv6 one) and
IF's resolvers (the DHCP lease's, or --dns). IPv6 goes by IF when IF has a global address and a default
route, and is refused otherwise. When IF goes down or loses its address, the user's traffic fails; it never
leaves by another interface (run 'egress-client up' once IF is back). Example:
  egress-client enroll --interface wlan0 --user appuser --name wifi

${ALLOCATION_HELP}`,
    options: [
      { flags: '--user <name>', description: 'user whose every process goes through this egress (required)' },
      { flags: '--create-user', description: 'create the user as a system user without a login shell when missing' },
      { flags: '--name <egress>', description: "egress name (default: the bundle's peer name)" },
      { flags: '--dns <ip>', description: "resolver the user's DNS is sent to through the tunnel (default: the bundle's)" },
      { flags: '--replace', description: 'let a bundle of another peer (other key or endpoint) replace the egress enrolled under --name' },
      { flags: '--allow-system-user', description: 'accept a system account (uid < 1000) egress did not create as --user' },
      { flags: '--interface <if>', description: 'no bundle: leave by this local interface (egress of kind interface)' },
      { flags: '--gateway <ip>', description: "with --interface: the interface's router (default: detected)" },
      { flags: '--address <ip>', description: "with --interface: which of its IPv4 addresses to leave with (default: the first)" },
      { flags: '--dry-run', description: 'show what would be done and change nothing' },
      JSON_OPT,
    ],
  },
  { name: 'up', args: ['[egress]'], summary: 'bring an enrolled egress (default: all) up from its saved state', options: [JSON_OPT] },
  {
    name: 'down',
    args: ['[egress]'],
    summary: "take an egress's tunnel down; its kill switch stays (selected traffic is refused, never sent directly)",
    options: [JSON_OPT],
  },
  {
    name: 'status',
    args: ['[egress]'],
    summary: 'interface, handshake, transfer, users, mark/table/priorities, kill switch and DNS of each egress',
    options: [JSON_OPT],
  },
  {
    name: 'run-as',
    args: ['<user>', '<cmd...>'],
    summary: 'run CMD as USER (bound to an egress that is up), with stdio, signals and exit status passed through',
    details: 'Example: egress-client run-as appuser -- curl https://example.org',
    options: [],
    passThrough: true,
  },
  {
    name: 'doctor',
    args: ['[egress]'],
    summary: 'check the live state against the desired one and test source address, DNS and IPv6 as the bound user',
    options: [JSON_OPT],
  },
  {
    name: 'uninstall',
    args: ['[egress]'],
    summary: 'remove everything of an egress (default: all) and nothing else',
    options: [JSON_OPT],
  },
  {
    name: 'exec',
    args: ['<cmd...>'],
    summary: 'run one application through an egress (LD_PRELOAD shim; no root needed)',
    options: [{ flags: '--egress <name>', description: 'egress to use (default: the only one)' }],
    passThrough: true,
  },
  {
    name: 'run',
    args: ['<cmd...>'],
    summary: "run one application in the egress's cgroup (root), or alone in a network namespace (--isolate)",
    details: `--isolate runs the application in a fresh network namespace whose only way out is a veth pair into
the egress (tunnel or interface), with a resolv.conf naming the egress's resolvers: it sees only lo and
that veth, so it cannot use another interface even by binding or with raw sockets. The namespace, veth,
rules and nft table go when it exits (also when it or egress-client is killed; leftovers of a crash are
removed at the next start). Trade-off: strongest isolation, but services of the desktop session reached
over the network namespace (D-Bus on an abstract socket, X11/audio over TCP or abstract sockets,
localhost servers) are out of reach; plain 'run' (cgroup) keeps them.`,
    options: [
      { flags: '--egress <name>', description: 'egress to use (default: the only one)' },
      { flags: '--user <name>', description: 'run the application as this user' },
      { flags: '--isolate', description: 'run it in its own network namespace whose only way out is the egress' },
    ],
    passThrough: true,
  },
];
