#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages egress's lab, demo, tests and benchmarks need (run as root).
# Idempotent: only missing packages are installed, with --no-install-recommends
# (without it apt pulls a whole kernel image along with wireguard).
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
  echo "setup: run as root (it installs apt packages)" >&2
  exit 1
fi

PACKAGES=(
  wireguard-tools wireguard-go   # wg, wg-quick; userspace WireGuard where the kernel module is missing
  nftables iproute2 iptables     # the firewall and routing egress drives; iptables for the FORWARD DROP coexistence test
  openssh-server openssh-client  # the lab's VPS runs a real sshd
  util-linux procps psmisc sudo  # nsenter/unshare/setpriv, sysctl, fuser; sudo for the --sudo provision test
  tcpdump                        # kill-switch tests count packets on uplinks
  curl                           # the proxy test drives curl --socks5-hostname and -x http://
  iputils-ping dnsutils socat    # lab diagnostics
  iperf3 proxychains4            # benchmarks: throughput, and the ssh -D + proxychains alternative
  gcc libc6-dev linux-libc-dev make   # builds the LD_PRELOAD shim, the cgroup BPF loader (linux/bpf.h) and the static test probe
  golang-go                      # builds a statically linked Go probe for cgroup selection tests
  xvfb x11-xserver-utils acl     # run-as display access test: an X server, xhost/xset, setfacl for Wayland/audio sockets
  debootstrap systemd-container  # the machines lab: Debian 12/13 root filesystems booted with systemd-nspawn
  gcc-aarch64-linux-gnu libc6-dev-arm64-cross  # npm run package: the LD_PRELOAD shim prebuilt for aarch64
  docker.io busybox-static       # select e2e: a real dockerd inside a lab namespace (never on the machine), images from busybox
  podman crun                    # netns e2e: a real container (crun runs it without cgroups on this hybrid host) from a busybox rootfs, in a lab host only
)
names=()
for entry in "${PACKAGES[@]}"; do names+=("$entry"); done

missing=()
for p in "${names[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -eq 0 ]; then
  echo "setup: all ${#names[@]} packages present"
  exit 0
fi
echo "setup: installing ${missing[*]}"
# systemd-container is pinned to the installed systemd's version, so apt never upgrades systemd itself.
sysver=$(dpkg-query -W -f='${Version}' systemd 2>/dev/null || true)
args=()
for p in "${missing[@]}"; do
  if [ "$p" = systemd-container ] && [ -n "$sysver" ]; then args+=("systemd-container=$sysver"); else args+=("$p"); fi
done
# Packages that ship services (docker.io, containerd, podman's units) must never start them on this machine: a policy-rc.d that
# refuses every start for the time of the install (removed afterwards; one already there is left alone).
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
  chmod 0755 /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get update
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${args[@]}"
