#!/usr/bin/env bash
# Real DNS for the dane scenario, from the test image's Debian packages, on the scenario's internal
# Docker network (${PM_PREFIX}-dane, made by Molecule's create step with internal: true):
#   ${PM_PREFIX}-dane-ns1       BIND 9 primary of example.test: DNSSEC inline signing, update-policy for a TSIG key
#   ${PM_PREFIX}-dane-ns2       BIND 9 secondary (NOTIFY + IXFR from ns1)
#   ${PM_PREFIX}-dane-resolver  BIND 9 validating resolver with example.test's trust anchor (static-stub to ns1, ns2)
#   ${PM_PREFIX}-dane-sender    Postfix as a DANE sender (smtp_tls_security_level = dane)
#
# Usage: dnsbed.sh up NAME=CONTAINER... start and configure everything (the MX containers get the zone's
#                                      NAME A/MX records and the resolver); print the facts as JSON
#        dnsbed.sh facts                print the facts again (addresses, TSIG secret, serial)
#        dnsbed.sh hold-notify          ns1 stops sending NOTIFY to ns2 (ns2 lags behind updates)
#        dnsbed.sh release-notify       ns1 notifies again and ns2 catches up
#        dnsbed.sh down                 remove the extra containers (the network is Molecule's)
set -euo pipefail

P=${PM_PREFIX:-pm}
NET=$P-dane
IMAGE=${DNSBED_IMAGE:-postmaster-testbed:debian12}
ZONE=example.test
TTL=5
KEY=pmdns-update
STATE=${MOLECULE_EPHEMERAL_DIRECTORY:-/tmp/$P-dane}/dnsbed
mkdir -p "$STATE"

ip_of() { docker inspect -f "{{ (index .NetworkSettings.Networks \"$NET\").IPAddress }}" "$1"; }
ex() { docker exec "$@"; }

start() {
  local name=$1
  if ! docker inspect "$name" >/dev/null 2>&1; then
    docker run -d --init --name "$name" --hostname "${name#"$P-dane-"}.$ZONE" --network "$NET" "$IMAGE" sleep infinity >/dev/null
  fi
}

named_conf() {  # role, notify (yes|no)
  local role=$1 notify=${2:-yes}
  cat <<CONF
key "$KEY" { algorithm hmac-sha256; secret "$(cat "$STATE/secret")"; };
options {
  directory "/var/cache/bind";
  listen-on { any; };
  listen-on-v6 { none; };
  pid-file "/run/named/named.pid";
  max-journal-size 1M;
CONF
  if [ "$role" = resolver ]; then
    cat <<CONF
  recursion yes;
  allow-query { any; };
  allow-recursion { any; };
  dnssec-validation yes;
  max-cache-ttl 5;
  max-ncache-ttl 5;
};
trust-anchors { $ZONE. static-key $(cat "$STATE/ksk"); };
zone "$ZONE" { type static-stub; server-addresses { $(ip_of "$P-dane-ns1"); $(ip_of "$P-dane-ns2"); }; };
CONF
  else
    cat <<CONF
  recursion no;
  allow-query { any; };
  notify-delay 0;
};
CONF
  fi
  if [ "$role" = primary ]; then
    cat <<CONF
zone "$ZONE" {
  type primary;
  file "/var/lib/bind/$ZONE.db";
  dnssec-policy pmdns;
  inline-signing yes;
  update-policy { grant $KEY zonesub ANY; };
  allow-transfer { $(ip_of "$P-dane-ns2"); };
  notify $notify;
};
dnssec-policy pmdns {
  keys { csk lifetime unlimited algorithm ecdsap256sha256; };
  dnskey-ttl $TTL;
  max-zone-ttl 3600;
  zone-propagation-delay 1;
  retire-safety 1;
  publish-safety 1;
  signatures-refresh 5d;
  signatures-validity 14d;
  signatures-validity-dnskey 14d;
};
CONF
  elif [ "$role" = secondary ]; then
    cat <<CONF
zone "$ZONE" { type secondary; file "/var/lib/bind/$ZONE.sec"; primaries { $(ip_of "$P-dane-ns1"); }; allow-notify { $(ip_of "$P-dane-ns1"); }; };
CONF
  fi
}

facts() {
  local serial
  serial=$(ex "$P-dane-ns1" dig +short @127.0.0.1 "$ZONE" SOA | awk '{print $3}')
  printf '{"zone": "%s", "ttl": %s, "tsig_key_name": "%s", "tsig_secret": "%s", "ns1": "%s", "ns2": "%s", "resolver": "%s", "sender": "%s", "serial": %s}\n' \
    "$ZONE" "$TTL" "$KEY" "$(cat "$STATE/secret")" "$(ip_of "$P-dane-ns1")" "$(ip_of "$P-dane-ns2")" \
    "$(ip_of "$P-dane-resolver")" "$(ip_of "$P-dane-sender")" "${serial:-0}"
}

# Wait until a command succeeds, at most $1 tries half a second apart.
retry() {
  local tries=$1
  shift
  until "$@" >/dev/null 2>&1; do
    tries=$((tries - 1))
    ((tries > 0)) || { echo "gave up waiting for: $*" >&2; return 1; }
    sleep 0.5
  done
}

reload_named() {  # container
  ex "$1" rndc reconfig >/dev/null
}

up() {
  local mx name
  for name in ns1 ns2 resolver sender; do start "$P-dane-$name"; done
  if [ ! -s "$STATE/secret" ]; then
    ex "$P-dane-ns1" tsig-keygen -a hmac-sha256 "$KEY" | sed -n 's/.*secret "\(.*\)";/\1/p' >"$STATE/secret"
  fi
  local ns1 ns2 res sender
  ns1=$(ip_of "$P-dane-ns1"); ns2=$(ip_of "$P-dane-ns2"); res=$(ip_of "$P-dane-resolver"); sender=$(ip_of "$P-dane-sender")

  # The unsigned zone: apex, the two name servers, the MX hosts and the sender. SOA minimum = TTL keeps
  # negative answers short; refresh is long, so ns2 follows ns1 through NOTIFY, not by polling.
  {
    echo "\$TTL $TTL"
    echo "@ IN SOA ns1.$ZONE. hostmaster.$ZONE. 1 3600 600 86400 $TTL"
    echo "@ IN NS ns1.$ZONE."
    echo "@ IN NS ns2.$ZONE."
    echo "ns1 IN A $ns1"
    echo "ns2 IN A $ns2"
    echo "resolver IN A $res"
    echo "sender IN A $sender"
    for mx in "$@"; do
      echo "${mx%%=*} IN A $(ip_of "${mx#*=}")"
      echo "${mx%%=*} IN MX 10 ${mx%%=*}.$ZONE."
    done
  } >"$STATE/zone.db"
  docker cp "$STATE/zone.db" "$P-dane-ns1:/var/lib/bind/$ZONE.db"
  ex "$P-dane-ns1" sh -c "chown bind:bind /var/lib/bind/$ZONE.db; mkdir -p /run/named; chown bind /run/named"
  named_conf primary yes | ex -i "$P-dane-ns1" sh -c 'cat > /etc/bind/named.conf'
  ex "$P-dane-ns1" sh -c 'named-checkconf /etc/bind/named.conf && (pgrep -x named >/dev/null || named -u bind -c /etc/bind/named.conf)'
  # The zone is signed when its DNSKEY is served; the KSK (CSK, flags 257) becomes the resolver's trust anchor.
  retry 120 sh -c "docker exec $P-dane-ns1 dig +short +norec @127.0.0.1 $ZONE DNSKEY | grep -q '^257 '"
  retry 120 sh -c "docker exec $P-dane-ns1 dig +dnssec +norec @127.0.0.1 $ZONE SOA | grep -q RRSIG"
  ex "$P-dane-ns1" dig +short +norec @127.0.0.1 "$ZONE" DNSKEY | awk '$1 == 257 {printf "%s %s %s \"", $1, $2, $3; for (i = 4; i <= NF; i++) printf "%s", $i; print "\""}' >"$STATE/ksk"

  ex "$P-dane-ns2" sh -c 'mkdir -p /run/named; chown bind /run/named'
  named_conf secondary | ex -i "$P-dane-ns2" sh -c 'cat > /etc/bind/named.conf'
  ex "$P-dane-ns2" sh -c 'named-checkconf /etc/bind/named.conf && (pgrep -x named >/dev/null || named -u bind -c /etc/bind/named.conf)'
  retry 120 sh -c "docker exec $P-dane-ns2 dig +dnssec +norec @127.0.0.1 $ZONE SOA | grep -q RRSIG"

  ex "$P-dane-resolver" sh -c 'mkdir -p /run/named; chown bind /run/named'
  named_conf resolver | ex -i "$P-dane-resolver" sh -c 'cat > /etc/bind/named.conf'
  ex "$P-dane-resolver" sh -c 'named-checkconf /etc/bind/named.conf && (pgrep -x named >/dev/null || named -u bind -c /etc/bind/named.conf)'
  retry 120 sh -c "docker exec $P-dane-resolver dig +dnssec @127.0.0.1 ns1.$ZONE A | grep -q 'flags:.* ad'"

  for name in "$P-dane-ns1" "$P-dane-ns2" "$P-dane-resolver" "$P-dane-sender" "${@#*=}"; do
    printf "nameserver %s\noptions trust-ad\n" "$res" | ex -i "$name" sh -c 'cat > /etc/resolv.conf'
  done
  sender_up
  facts >"$STATE/facts.json"
  cat "$STATE/facts.json"
}

sender_up() {
  local c=$P-dane-sender
  ex "$c" postconf -e "myhostname=sender.$ZONE" "mydomain=$ZONE" "inet_interfaces=loopback-only" "inet_protocols=ipv4" \
    "mydestination=" "relayhost=" "maillog_file=/var/log/postfix.log" \
    "smtp_dns_support_level=dnssec" "smtp_tls_security_level=dane" "smtp_tls_loglevel=1" \
    "smtp_host_lookup=dns" "disable_dns_lookups=no" "smtp_address_preference=ipv4" \
    "smtp_connection_cache_on_demand=no" "maximal_queue_lifetime=1h" "minimal_backoff_time=5s" "maximal_backoff_time=10s" "queue_run_delay=5s"
  # Not chrooted: the smtp client must read the resolv.conf written above (postfix start copies nothing).
  ex "$c" postconf -F "smtp/unix/chroot=n"
  # One delivery per smtp process: a process keeps the TLSA records it looked up for their TTL, and each
  # test message must be judged against what DNS serves when it is sent.
  ex "$c" postconf -P "smtp/unix/max_use=1"
  ex "$c" sh -c 'pgrep -x master >/dev/null || postfix start' >/dev/null 2>&1
}

notify() {  # yes|no
  named_conf primary "$1" | ex -i "$P-dane-ns1" sh -c 'cat > /etc/bind/named.conf'
  reload_named "$P-dane-ns1"
  if [ "$1" = yes ]; then
    ex "$P-dane-ns1" rndc notify "$ZONE" >/dev/null
  fi
}

down() {
  local name
  for name in ns1 ns2 resolver sender; do
    docker rm -f "$P-dane-$name" >/dev/null 2>&1 || true
  done
  rm -rf "$STATE"
}

cmd=${1:-}
shift || true
case "$cmd" in
  up) up "$@" ;;
  facts) facts ;;
  hold-notify) notify no ;;
  release-notify) notify yes ;;
  down) down ;;
  *) sed -n '2,16p' "$0"; exit 2 ;;
esac
