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
    args: ['<bundle>'],
    summary: 'turn an enrollment bundle into a running egress for a user',
    details: `Validates the bundle, allocates a mark, table and rule priorities, brings the tunnel up with wg-quick
(Table = off; wireguard-go where the kernel module is missing), applies the client state, saves it to
/etc/egress (0600) and installs a boot unit when systemd runs. Running it again with the same bundle
changes nothing.

${ALLOCATION_HELP}`,
    options: [
      { flags: '--user <name>', description: 'user whose every process goes through this egress (required)' },
      { flags: '--create-user', description: 'create the user as a system user without a login shell when missing' },
      { flags: '--name <egress>', description: "egress name (default: the bundle's peer name)" },
      { flags: '--dns <ip>', description: "resolver the user's DNS is sent to through the tunnel (default: the bundle's)" },
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
    summary: "run one application in the egress's cgroup (root)",
    options: [
      { flags: '--egress <name>', description: 'egress to use (default: the only one)' },
      { flags: '--user <name>', description: 'run the application as this user' },
    ],
    passThrough: true,
  },
];
