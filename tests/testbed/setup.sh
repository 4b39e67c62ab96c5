#!/usr/bin/env bash
# Prepare this machine as a test bed for postmaster.tls, as root on Debian 12:
#   1. the Debian packages the tests and the demo use (Docker engine, debootstrap, outside TLS clients),
#   2. a running Docker engine (started here when none answers; no bridge, no iptables: tests never
#      need traffic to leave this machine),
#   3. two local images built with debootstrap + `docker import` (no registry is reachable):
#        postmaster-testbed:debian12  bookworm  Postfix 3.7  Dovecot 2.3
#        postmaster-testbed:debian13  trixie    Postfix 3.10 Dovecot 2.4
#      An image is rebuilt only when its recipe (suite + package list + this script) changed.
# Idempotent: a second run takes seconds.
set -euo pipefail

state_dir=${TESTBED_STATE_DIR:-/var/lib/postmaster-testbed}
dockerd_log=${state_dir}/dockerd.log
mkdir -p "$state_dir"

say() { printf '[testbed] %s\n' "$*"; }

# swaks needs libnet-ssleay-perl for STARTTLS; testssl.sh, dig (bind9-dnsutils) and curl are outside
# witnesses of what the containers serve (run through nsenter into a container's network namespace).
host_packages=(docker.io debootstrap sslscan swaks libnet-ssleay-perl testssl.sh bind9-dnsutils curl openssl
               ca-certificates rsync git shellcheck util-linux)
# Inside the images: what the modules need (python3 + cryptography), the mail servers, and netbase
# (Postfix's master.cf names services such as "smtp", which resolve through /etc/services).
# The same image also plays the other hosts of a test: BIND 9 (authoritative primary, secondary,
# validating resolver), nginx (MTA-STS, autoconfig), sshd and sudo (SSH/become tests), dig and curl.
# Installed is not running: a test starts what it needs. debootstrap does not resolve virtual
# packages: perl-openssl-defaults provides the perl-openssl-abi-3 that libnet-ssleay-perl (swaks TLS) needs.
image_packages=(python3 python3-cffi-backend python3-cryptography python3-dnspython postfix dovecot-imapd dovecot-pop3d
                openssl ca-certificates ssl-cert procps netbase iproute2 pebble bind9 bind9-dnsutils nginx
                openssh-server sudo curl swaks libnet-ssleay-perl perl-openssl-defaults)

install_host_packages() {
  local missing=()
  for p in "${host_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if ((${#missing[@]})); then
    say "installing Debian packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    say "Debian packages present"
  fi
}

docker_cmd() {
  # The engine's own client from docker.io matches its API; fall back to whatever is on PATH.
  if [ -x /usr/bin/docker ]; then /usr/bin/docker "$@"; else docker "$@"; fi
}

start_docker() {
  if docker_cmd info >/dev/null 2>&1; then
    say "Docker engine answers"
    return
  fi
  say "starting the Docker engine (log: $dockerd_log)"
  # No bridge and no iptables: containers get loopback only, or an --internal network a test creates.
  nohup dockerd --bridge=none --iptables=false --ip-masq=false >"$dockerd_log" 2>&1 &
  for _ in $(seq 1 60); do
    docker_cmd info >/dev/null 2>&1 && { say "Docker engine up"; return; }
    sleep 1
  done
  say "the Docker engine did not answer within 60 s; its log follows"
  tail -n 40 "$dockerd_log" >&2
  exit 1
}

recipe_hash() {
  local suite=$1
  { echo "$suite"; printf '%s\n' "${image_packages[@]}"; cat "${BASH_SOURCE[0]}"; } | sha256sum | cut -c1-16
}

build_image() {
  local tag=$1 suite=$2 want have rootfs
  want=$(recipe_hash "$suite")
  have=$(docker_cmd image inspect -f '{{ index .Config.Labels "postmaster.testbed.recipe" }}' "$tag" 2>/dev/null || true)
  if [ "$have" = "$want" ]; then
    say "image $tag is current (recipe $want)"
    return
  fi
  say "building $tag from Debian $suite (recipe $want; about 2 minutes)"
  rootfs=$(mktemp -d "${state_dir}/rootfs-${suite}.XXXXXX")
  local include
  include=$(IFS=,; echo "${image_packages[*]}")
  if ! debootstrap --variant=minbase --include="$include" "$suite" "$rootfs" >"${state_dir}/debootstrap-${suite}.log" 2>&1; then
    say "debootstrap $suite failed; the end of its log follows"
    tail -n 30 "${state_dir}/debootstrap-${suite}.log" >&2
    rm -rf "$rootfs"
    exit 1
  fi
  # Keep the image small and free of this machine's identity.
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  : >"$rootfs/etc/machine-id"
  tar -C "$rootfs" -c . | docker_cmd import \
    --change 'CMD ["sleep", "infinity"]' \
    --change "LABEL postmaster.testbed.recipe=$want" \
    --change "LABEL postmaster.testbed.suite=$suite" \
    - "$tag" >/dev/null
  rm -rf "$rootfs"
  say "built $tag"
}

main() {
  if [ "$(id -u)" != 0 ]; then
    echo "tests/testbed/setup.sh must run as root (it installs packages and starts the Docker engine)" >&2
    exit 1
  fi
  install_host_packages
  start_docker
  build_image postmaster-testbed:debian12 bookworm &
  local p12=$!
  build_image postmaster-testbed:debian13 trixie &
  local p13=$!
  local rc=0
  wait "$p12" || rc=1
  wait "$p13" || rc=1
  # Earlier builds of the same tags are left untagged by a rebuild; drop them.
  docker_cmd image prune -f --filter "label=postmaster.testbed.recipe" >/dev/null 2>&1 || true
  return $rc
}

main "$@"
