// Starts the long-lived process that holds one lab host's network, mount and UTS namespaces.
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { HOST_REPO_DIR, REPO_DIR } from './paths.js';
import { nsOf } from './procs.js';

/** Identity of a running host: the holder's PID and the namespaces it keeps alive. */
export interface HostIdentity {
  pid: number;
  net: string;
  mnt: string;
  uts: string;
}

// Runs inside fresh net+mount+uts namespaces: private views of every path egress (or a test) writes, then sleeps.
// $1 = base dir (gets a private tmpfs holding the overlay upper dirs), $2 = hostname, $3 = the repository (bound at
// HOST_REPO_DIR before /tmp, /home and /run are hidden), $4… = sysctl assignments (net.* only).
const HOLDER_SCRIPT = String.raw`
set -eu
base=$1; name=$2; repo=$3; hostrepo=${HOST_REPO_DIR}; shift 3
for kv in "$@"; do k=$(echo "$kv" | cut -d= -f1); v=$(echo "$kv" | cut -d= -f2-); echo "$v" > "/proc/sys/$(echo "$k" | tr . /)"; done
ip link set lo up
mount -t tmpfs -o mode=0700 "lab-$name" "$base"
for d in etc root var usr opt srv; do
  [ -d "/$d" ] || continue
  u=$(echo "$d" | tr / _)
  mkdir -p "$base/$u.upper" "$base/$u.work"
  mount -t overlay "lab-$name-$u" -o "lowerdir=/$d,upperdir=$base/$u.upper,workdir=$base/$u.work" "/$d"
done
mkdir -p "$hostrepo" && mount --bind "$repo" "$hostrepo"
mount -t tmpfs -o mode=0755 "lab-$name-run" /run
mkdir -p /run/wireguard /run/egress /run/sshd /run/lock /run/user
chmod 1777 /run/lock
mount -t tmpfs -o mode=0755 "lab-$name-home" /home
mount -t tmpfs -o mode=1777 "lab-$name-tmp" /tmp
mkdir -p /root/.ssh /etc/egress /etc/wireguard /var/lib/egress /etc/sysctl.d /etc/systemd/system
mount -t tmpfs -o mode=0700 "lab-$name-ssh" /root/.ssh
mount -t sysfs -o ro,nosuid,nodev,noexec "lab-$name-sys" /sys
mount -t cgroup2 "lab-$name-cgroup2" /sys/fs/cgroup
mount --bind /proc/sys /proc/sys
mount -o remount,bind,ro /proc/sys
mount --bind /proc/sys/net /proc/sys/net
mount -o remount,bind,rw /proc/sys/net
hostname "$name"
echo READY
exec sleep infinity
`;

/** Starts a holder for `hostname` with its base dir under `dir`; resolves once its private mounts are in place. */
export function startHolder(dir: string, hostname: string, sysctls: readonly string[]): Promise<HostIdentity> {
  const base = `${dir}/${hostname}`;
  mkdirSync(base, { recursive: true, mode: 0o700 });
  return new Promise((resolve, reject) => {
    const child = spawn(
      'unshare',
      ['--net', '--mount', '--uts', '--propagation', 'private', '--', 'sh', '-c', HOLDER_SCRIPT, 'holder', base, hostname, REPO_DIR, ...sysctls],
      { cwd: '/', detached: true, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    let err = '';
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`lab: host ${hostname} did not start within 10 s: ${err.trim()}`)); }, 10_000);
    child.on('error', (e) => { clearTimeout(timer); reject(new Error(`lab: cannot start host ${hostname}: ${e.message}`)); });
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`lab: host ${hostname} setup failed (exit ${code}): ${err.trim()}`)); });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { err += d; });
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      if (!out.includes('READY')) return;
      clearTimeout(timer);
      child.removeAllListeners('exit');
      child.stdout.destroy();
      child.stderr.destroy();
      child.unref();
      const pid = child.pid!;
      const net = nsOf(pid, 'net');
      const mnt = nsOf(pid, 'mnt');
      const uts = nsOf(pid, 'uts');
      if (!net || !mnt || !uts) return reject(new Error(`lab: host ${hostname} holder ${pid} vanished`));
      resolve({ pid, net, mnt, uts });
    });
  });
}
