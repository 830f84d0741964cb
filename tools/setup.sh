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
  ethtool                        # offload state of tunnel devices (tx-udp-segmentation of wireguard-go's TUN)
  curl                           # the proxy test drives curl --socks5-hostname and -x http://
  iputils-ping dnsutils socat    # lab diagnostics
  iperf3 proxychains4            # benchmarks: throughput, and the ssh -D + proxychains alternative
  gcc libc6-dev linux-libc-dev make   # builds the LD_PRELOAD shim, the cgroup BPF loader (linux/bpf.h) and the static test probe
  golang-go                      # builds a statically linked Go probe for cgroup selection tests
  xvfb x11-xserver-utils acl     # run-as display access test: an X server, xhost/xset, setfacl for Wayland/audio sockets
  debootstrap systemd-container  # the machines lab: Debian 12/13 root filesystems booted with systemd-nspawn
  dpkg-dev gpg                   # the machines lab's local apt mirror (dpkg-scanpackages, a signed InRelease)
  gcc-aarch64-linux-gnu libc6-dev-arm64-cross  # npm run package: the LD_PRELOAD shim prebuilt for aarch64
  docker.io busybox-static       # select e2e: a real dockerd inside a lab namespace (never on the machine), images from busybox
  podman crun                    # netns e2e: a real container (crun runs it without cgroups on this hybrid host) from a busybox rootfs, in a lab host only
)
names=()
for entry in "${PACKAGES[@]}"; do names+=("$entry"); done

# The offload-capable wireguard-go (TUN GSO/GRO, 0.0.20230223+) for the lab and the benchmark, from Debian's own
# bookworm-backports, WITHOUT enabling backports on this machine: a private sources list and list dir (apt still
# checks the suite's signed InRelease and the .deb's hash), then dpkg-deb -x into a cache dir. Lab hosts run it from
# there; the system's /usr/bin/wireguard-go stays installed as the baseline.
WG_GO_BPO_VERSION=0.0.20231211-1~bpo12+1
WG_GO_BPO_DIR=/var/cache/egress-lab/wireguard-go-0.0.20231211
fetch_backports_wireguard_go() {
  [ -x "$WG_GO_BPO_DIR/usr/bin/wireguard-go" ] && return 0
  # shellcheck disable=SC1091
  [ "$(. /etc/os-release && echo "${VERSION_CODENAME:-}")" = bookworm ] || { echo "setup: not Debian 12: no bookworm-backports wireguard-go (the lab uses the system one)"; return 0; }
  local tmp; tmp=$(mktemp -d /tmp/egress-bpo.XXXXXX)
  mkdir -p "$tmp/lists/partial" "$tmp/parts" "$tmp/archives/partial"
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm-backports main" >"$tmp/sources.list"
  local o=(-o "Dir::Etc::SourceList=$tmp/sources.list" -o "Dir::Etc::SourceParts=$tmp/parts" -o "Dir::State::Lists=$tmp/lists"
    -o "Dir::Cache::pkgcache=" -o "Dir::Cache::srcpkgcache=" -o "Dir::Cache::archives=$tmp/archives" -o APT::Sandbox::User=root)
  apt-get -q "${o[@]}" update >/dev/null
  (cd "$tmp" && apt-get -q "${o[@]}" download "wireguard-go=$WG_GO_BPO_VERSION" >/dev/null)
  mkdir -p "$WG_GO_BPO_DIR.tmp"
  dpkg-deb -x "$tmp"/wireguard-go_*.deb "$WG_GO_BPO_DIR.tmp"
  cp "$tmp"/wireguard-go_*.deb "$WG_GO_BPO_DIR.tmp/"
  rm -rf "$WG_GO_BPO_DIR" && mv "$WG_GO_BPO_DIR.tmp" "$WG_GO_BPO_DIR"
  rm -rf "$tmp"
  echo "setup: wireguard-go $WG_GO_BPO_VERSION (bookworm-backports) in $WG_GO_BPO_DIR"
}
fetch_backports_wireguard_go
# Debian 13's own wireguard-go as a .deb (the current one of trixie main, checked against the signed InRelease like the
# backport above): the machines lab's mirror serves it as trixie main, so a Debian 13 machine without wireguard-go
# can get the distribution's own package through --userspace-wireguard backports without the internet.
WG_GO_TRIXIE_DIR=/var/cache/egress-lab/debs-trixie
fetch_trixie_wireguard_go() {
  compgen -G "$WG_GO_TRIXIE_DIR/wireguard-go_*_amd64.deb" >/dev/null && return 0
  local tmp; tmp=$(mktemp -d /tmp/egress-d13.XXXXXX)
  mkdir -p "$tmp/lists/partial" "$tmp/parts" "$tmp/archives/partial"
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main" >"$tmp/sources.list"
  local o=(-o "Dir::Etc::SourceList=$tmp/sources.list" -o "Dir::Etc::SourceParts=$tmp/parts" -o "Dir::State::Lists=$tmp/lists"
    -o "Dir::Cache::pkgcache=" -o "Dir::Cache::srcpkgcache=" -o "Dir::Cache::archives=$tmp/archives" -o APT::Sandbox::User=root
    -o APT::Architecture=amd64)
  apt-get -q "${o[@]}" update >/dev/null
  (cd "$tmp" && apt-get -q "${o[@]}" download wireguard-go:amd64 >/dev/null)
  mkdir -p "$WG_GO_TRIXIE_DIR"
  cp "$tmp"/wireguard-go_*_amd64.deb "$WG_GO_TRIXIE_DIR/"
  rm -rf "$tmp"
  echo "setup: wireguard-go $(dpkg-deb -f "$WG_GO_TRIXIE_DIR"/wireguard-go_*_amd64.deb Version) (trixie) in $WG_GO_TRIXIE_DIR"
}
fetch_trixie_wireguard_go
# Debian 12's own wireguard-go as a .deb too: the machines lab's local mirror serves it as bookworm main, so removing
# --userspace-wireguard backports can go back to it without the internet.
WG_GO_SYS_DEB=/var/cache/egress-lab/debs/wireguard-go_0.0.20220316-1+b4_amd64.deb
# shellcheck disable=SC1091
if [ ! -f "$WG_GO_SYS_DEB" ] && [ "$(. /etc/os-release && echo "${VERSION_CODENAME:-}")" = bookworm ]; then
  mkdir -p "$(dirname "$WG_GO_SYS_DEB")"
  (cd "$(dirname "$WG_GO_SYS_DEB")" && apt-get -q -o APT::Sandbox::User=root download wireguard-go=0.0.20220316-1+b4 >/dev/null)
fi

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
