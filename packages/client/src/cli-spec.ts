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
  priorities 7100-7109, 7110-7119, ... (lookup at +0..+2, prohibit fallback at +7..+9); when another tool's
             rule before 7100 would capture selected traffic (Tailscale's 5270 'lookup 52'), the early range
             1100-1109, 1110-1119, ... up to 1990-1999 instead, so egress's rules win
Values used by an existing ip rule or routing table are skipped.`;

export const COMMANDS: CommandSpec[] = [
  {
    name: 'enroll',
    args: ['[bundle]'],
    summary: 'turn an enrollment bundle, a wg-quick file (or a local interface: --interface) into a running egress for a user',
    details: `Validates the bundle, allocates a mark, table and rule priorities, brings the tunnel up with wg-quick
(Table = off; wireguard-go where the kernel module is missing), applies the client state, saves it to
/etc/egress (0600) and installs a boot unit when systemd runs. Running it again with the same bundle
changes nothing.

A standard wg-quick file (a VPN provider's, a router's, wg-easy's) works in place of a bundle, told apart
by content: its PrivateKey (and PresharedKey) are copied to 0600 files, the file is never changed, and its
shell hooks (PreUp/PostUp/PreDown/PostDown) are never run: a file with any is refused. Table, FwMark,
SaveConfig and ListenPort are ignored. AllowedIPs decide what the egress carries; with a narrower set than
0.0.0.0/0, ::/0 the selected apps' traffic to other destinations is refused (--outside-allowed refuse), or
with --outside-allowed direct takes the normal route (traffic to AllowedIPs is still never sent direct).
IPv6 goes through only when both Address and AllowedIPs have it; otherwise it is refused, never direct.

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
      { flags: '--outside-allowed <what>', description: "wg-quick file with narrow AllowedIPs: the selected apps' traffic elsewhere is refused ('refuse', the default) or takes the normal route ('direct')" },
      { flags: '--replace', description: 'let a bundle of another peer (other key or endpoint) replace the egress enrolled under --name' },
      { flags: '--allow-system-user', description: 'accept a system account (uid < 1000) egress did not create as --user' },
      { flags: '--interface <if>', description: 'no bundle: leave by this local interface (egress of kind interface)' },
      { flags: '--gateway <ip>', description: "with --interface: the interface's router (default: detected)" },
      { flags: '--address <ip>', description: "with --interface: which of its IPv4 addresses to leave with (default: the first)" },
      { flags: '--userspace-wireguard <which>', description: "without the kernel module: the distribution's wireguard-go ('system', the default) or an offload-capable one (0.0.20230223+) ('backports': decided from apt on the host — its own package where that has offloads, e.g. Debian 13, no apt source added; else its backports, e.g. Debian 12 bookworm-backports pinned to wireguard-go only; refused elsewhere; uninstall undoes only what enroll changed)" },
      { flags: '--backports-mirror <url>', description: 'with --userspace-wireguard backports: the Debian archive mirror to take bookworm-backports from (http(s) URL, default http://deb.debian.org/debian; still checked against the Debian archive keyring)' },
      { flags: '--dry-run', description: 'show what would be done and change nothing' },
      JSON_OPT,
    ],
  },
  {
    name: 'up',
    args: ['[egress]'],
    summary: 'bring an enrolled egress (default: all) up from its saved state',
    options: [
      { flags: '--async', description: 'do not wait for a first handshake (the boot unit: never delays boot)' },
      { flags: '--fence-only', description: 'load only kernel state with every egress down: kill switch, rules, cgroups (the early boot unit)' },
      JSON_OPT,
    ],
  },
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
    name: 'daemon',
    args: [],
    summary: 'supervise enrolled egresses in the foreground: repair drift on nftables/rtnetlink events, follow uplinks, write health',
    details: `Logs one line per event on stderr. SIGTERM stops it and leaves the kernel state (kill switch) in place.
Health goes to /run/egress/health.json (status shows it), the pid to /run/egress/daemon.pid (doctor checks it).
An invalid state file is refused with the field named; the daemon keeps running and waits for it to be fixed.`,
    options: [
      { flags: '--debounce-ms <ms>', description: 'quiet time after an event before a repair pass (default 20)' },
      { flags: '--health-interval-ms <ms>', description: 'handshake/health check period (default 10000)' },
      { flags: '--backstop-ms <ms>', description: 'slow periodic repair pass, in case an event was missed (default 60000)' },
      { flags: '--stale-after <s>', description: 'a handshake older than this makes the daemon resolve the endpoint name again (default 180)' },
    ],
  },
  {
    name: 'exec',
    args: ['<cmd...>'],
    summary: 'run one application through an egress (LD_PRELOAD shim; no root needed)',
    details: `The shim cannot cover statically linked programs, Go programs (static or not: Go makes its own system
calls) or setuid/setgid ones: exec refuses them, also when a wrapper (env, sh -c, timeout, xargs...) starts them
later, and points to 'run' / 'run-as', which select the traffic in the kernel. --allow-uncovered starts them
anyway, and their traffic leaves by the normal route.`,
    options: [
      { flags: '--egress <name>', description: 'egress to use (default: the only one)' },
      { flags: '--allow-uncovered', description: 'start programs the shim cannot cover anyway (static, Go, setuid): their traffic LEAKS outside the egress' },
    ],
    passThrough: true,
  },
  {
    name: 'forward',
    args: ['<action>', '[spec]'],
    summary: 'add, remove or list the forwards this client passes on to hosts on its LAN (add|remove|list)',
    details: `A forward to a LAN host (egress-server forward add HOST 443/tcp:192.168.1.10:443) arrives on the
tunnel and is passed on to that host, which must route its replies back through this client (its
gateway); the host sees the real remote address and the replies leave by the tunnel. Run the same SPEC
here after egress-server forward add|remove (enroll learns the forwards of a bundle by itself).
Targets that would loop (this client, the tunnel subnet, a host not on a directly connected LAN) are refused.`,
    options: [{ flags: '--egress <name>', description: 'tunnel egress the forward arrives on (default: the only one)' }, JSON_OPT],
  },
  {
    name: 'select',
    args: ['<action>'],
    summary: 'add, remove or list what traffic an egress carries: users, cgroups, systemd units, forwarded interfaces and networks (add|remove|list|sync)',
    details: `Each selector at any time, idempotent (adding one that is there, or removing one that is not, changes nothing):
  --user U             every process of user U (what 'enroll --user' does)
  --cgroup PATH        every socket of a cgroup v2 path under /sys/fs/cgroup (e.g. app.slice/myapp.scope)
  --unit NAME.service  a systemd service's cgroup (system.slice/NAME.service), without a dedicated user
  --interface IF       traffic this host forwards from IF (docker0, br-<id>, virbr0, a LAN port)
  --source CIDR        traffic this host forwards from that IPv4 network (e.g. a LAN host using this host as gateway)
Forwarded traffic is marked before routing, SNAT'd to the egress address, its DNS (port 53 to anywhere) is sent
to the egress's resolvers, and the kill switch holds: it never leaves by another interface, also while the
egress is down. Only the interfaces it arrives on get forwarding turned on (restored on remove). Where another
firewall's FORWARD policy drops (Docker), a tagged accept goes into DOCKER-USER and goes with the selector.
A cgroup, unit or interface that does not exist yet is accepted and selected once it appears (the supervisor
reloads the rules); until then nothing of it exists to route. A selected unit also gets a drop-in
(/etc/systemd/system/NAME.service.d/50-egress-select.conf) whose ExecStartPre=+ runs 'select sync --unit NAME.service'
inside each new cgroup of the unit before its first process, so not even its first connection leaves directly
(a failing sync fails the start; with egress removed the unit starts as before).
Example: egress-client select add --interface br-1a2b3c4d5e6f`,
    options: [
      { flags: '--egress <name>', description: 'egress to change or list (default: the only one)' },
      { flags: '--user <name>', description: 'select every process of this user' },
      { flags: '--cgroup <path>', description: 'select a cgroup v2 path (relative to /sys/fs/cgroup)' },
      { flags: '--unit <name.service>', description: "select a systemd service's cgroup" },
      { flags: '--interface <if>', description: 'select traffic forwarded from this interface (a bridge, a LAN port)' },
      { flags: '--source <cidr>', description: 'select traffic forwarded from this IPv4 network' },
      { flags: '--allow-system-user', description: 'accept a system account (uid < 1000) egress did not create as --user' },
      { flags: '--dry-run', description: 'show what would be done and change nothing' },
      JSON_OPT,
    ],
  },
  {
    name: 'proxy',
    args: ['[action]', '[id]'],
    summary: 'run a local SOCKS5 and HTTP proxy whose every connection leaves through an egress (foreground)',
    details: `One port speaks SOCKS5 (CONNECT, UDP ASSOCIATE; no-auth or username/password) and HTTP (CONNECT and
http:// requests). Outgoing sockets and DNS queries (to the egress's resolvers) are bound to the tunnel
address: while the egress is down every request fails with a proxy error, never a direct connection.
A non-loopback --listen needs --allow; loopback sources are always allowed. --auth-file holds USER:PASSWORD
lines and must be mode 0600. SIGTERM/SIGINT stop it; SIGUSR1 prints its status (connections, bytes) on stderr.
--persist (root) checks the same flags, saves them in /etc/egress/proxies.json and returns: the daemon runs
the proxy and restarts it when it exits; 'proxy list' and 'status' show the saved ones (pid, active
connections, bytes), 'proxy remove ID' removes one (the daemon stops it).
Example: egress-client proxy --listen 127.0.0.1:1080 --listen [::1]:1080`,
    options: [
      { flags: '--egress <name>', description: 'egress to use (default: the only one)' },
      { flags: '--listen <addr:port...>', description: 'address to listen on, repeatable (default 127.0.0.1:1080; IPv6 as [ADDR]:PORT)' },
      { flags: '--allow <cidr...>', description: 'sources that may connect besides loopback, repeatable (required for a non-loopback --listen)' },
      { flags: '--auth-file <path>', description: 'require username/password: a 0600 file of USER:PASSWORD lines' },
      { flags: '--persist', description: 'save the proxy for the daemon to run (also after reboots) instead of running it here (root)' },
      { flags: '--status-file <path>', description: 'write its counters (active connections, bytes) to PATH about once a second while they change (the daemon sets it)' },
      JSON_OPT,
    ],
  },
  {
    name: 'allow',
    args: ['[list]'],
    summary: 'let a user or group use an egress (exec, run, attach; root and the users bound by enroll --user always may); `allow list` shows who may',
    details: `Only allowed uids may start connections from an egress's address (the path exec and any program binding the
tunnel address use): the kernel refuses other uids with the kill switch's reject. A group is expanded to its
members' uids (from /etc/group and their primary group); the daemon re-applies when /etc/group or /etc/passwd
change. An allowed user also joins the group 'egress' of the supervisor's socket (/run/egress/client.sock), so
run, run-as (their own identity) and attach work without sudo while the daemon runs (effective at their next login).
Example: sudo egress-client allow --egress main --user alice`,
    options: [
      { flags: '--egress <name>', description: 'egress to change or list (default: the only one; list: all)' },
      { flags: '--user <name>', description: 'the user to allow' },
      { flags: '--group <name>', description: 'the group whose members to allow' },
      { flags: '--dry-run', description: 'show what would change and change nothing' },
      JSON_OPT,
    ],
  },
  {
    name: 'disallow',
    args: [],
    summary: 'take back what allow gave a user or group (users bound by enroll --user stay allowed)',
    options: [
      { flags: '--egress <name>', description: 'egress to change (default: the only one)' },
      { flags: '--user <name>', description: 'the user to disallow' },
      { flags: '--group <name>', description: 'the group to disallow' },
      { flags: '--dry-run', description: 'show what would change and change nothing' },
      JSON_OPT,
    ],
  },
  {
    name: 'attach',
    args: ['<pid>'],
    summary: "move a running process (with --tree, also its descendants) into an egress's cgroup: its new connections go through it",
    details: `Root, or the process's owner when allowed on the egress (through the daemon's socket, no sudo). Connections
the process has already open stay on the path they took; they are listed. 'detach PID' moves it back.`,
    options: [
      { flags: '--egress <name>', description: 'egress to use (default: the only one)' },
      { flags: '--tree', description: 'also move every descendant of PID' },
      JSON_OPT,
    ],
  },
  {
    name: 'detach',
    args: ['<pid>'],
    summary: "move a process attached to an egress back out of its cgroup (to where it was before attach)",
    options: [{ flags: '--tree', description: 'also move every descendant of PID' }, JSON_OPT],
  },
  {
    name: 'netns',
    args: ['<action>', '[name]'],
    summary: 'add, remove or list named network namespaces whose only way out is an egress (add|remove|list)',
    details: `'netns add NAME' creates /run/netns/NAME with a veth pair into a tunnel egress as its only way out
(the kill switch drops anything else, also while the tunnel is down) and /etc/netns/NAME/resolv.conf naming
the egress's resolvers. Anything that joins a namespace can use it: ip netns exec NAME CMD, nsenter
--net=/run/netns/NAME, podman run --network ns:/run/netns/NAME, systemd NetworkNamespacePath=. It is saved
in the client state: it outlives the tunnel going down and up and the daemon restarting (processes inside keep
it; their next connection works), is rebuilt at boot, and goes with 'netns remove NAME' or 'uninstall'.`,
    options: [
      { flags: '--egress <name>', description: 'with add: the tunnel egress it leaves by (default: the only one)' },
      { flags: '--dry-run', description: 'show what would be done and change nothing' },
      JSON_OPT,
    ],
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
localhost servers) are out of reach; plain 'run' (cgroup) keeps them.

--direct [--interface IF] runs the application by the host's normal route (or IF) while a full-tunnel VPN
(wg-quick 0.0.0.0/0, Tailscale exit node, ...) holds everything else: a shorthand for an interface egress
(the one leaving by IF, or a cgroup-only egress direct-IF enrolled on first use; remove it with
'egress-client uninstall direct-IF'). When IF goes down the application fails; it never enters the tunnel.`,
    options: [
      { flags: '--egress <name>', description: 'egress to use (default: the only one)' },
      { flags: '--user <name>', description: 'run the application as this user' },
      { flags: '--isolate', description: 'run it in its own network namespace whose only way out is the egress' },
      { flags: '--direct', description: "run it by the host's normal route (the main table's default route's interface), outside a full-tunnel VPN: uses the interface egress leaving by it, or enrolls a cgroup-only one named direct-IF" },
      { flags: '--interface <if>', description: 'with --direct: leave by this interface instead' },
    ],
    passThrough: true,
  },
];
