#!/usr/bin/env bash
# The main job, end to end on a throwaway container: start a Debian 12 mail server container
# (loopback only), run playbooks/site.yml with a local CA kept on this controller, print the
# verification summary and the audit table, and remove the container again.
# Called by `./dev.sh demo` after the test bed, the venv and the collection copy are ready.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
IMAGE=${DEMO_IMAGE:-postmaster-testbed:debian12}
NAME=${DEMO_CONTAINER:-${PM_PREFIX:-pm}-demo}
WORK=$(mktemp -d /tmp/postmaster-demo.XXXXXX)

step() { printf '\n\033[1m>>> %s\033[0m\n' "$*"; }

cleanup() {
  step "removing the demo container $NAME"
  docker rm -f "$NAME" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

step "starting $NAME from $IMAGE (no network but loopback)"
docker rm -f "$NAME" >/dev/null 2>&1 || true
docker run -d --name "$NAME" --hostname mail.example.test --network none "$IMAGE" sleep infinity >/dev/null

cat >"$WORK/inventory.yml" <<INV
---
mailservers:
  hosts:
    ${NAME}:
      ansible_connection: community.docker.docker
      ansible_python_interpreter: /usr/bin/python3
INV

cat >"$WORK/vars.yml" <<VARS
---
certificate_names: [mail.example.test]
certificate_provider: ownca
certificate_ca_dir: ${WORK}/ca
postmaster_audit_output_dir: ${WORK}/audit
dns_records_output_dir: ${WORK}/dns
VARS

export ANSIBLE_STDOUT_CALLBACK=ansible.builtin.default
export ANSIBLE_CALLBACK_RESULT_FORMAT=yaml
export ANSIBLE_DISPLAY_SKIPPED_HOSTS=false
export ANSIBLE_NOCOLOR=1

step "preparing the stock mail server (Postfix and Dovecot as Debian ships them)"
ansible-playbook -i "$WORK/inventory.yml" "$ROOT/extensions/molecule/utils/prepare_mailserver.yml"
ansible-playbook -i "$WORK/inventory.yml" "$ROOT/extensions/molecule/utils/prepare_sasl.yml"

step "deploying TLS with playbooks/site.yml (key, CSR, local CA certificate, install, Postfix, Dovecot, verify)"
ansible-playbook -i "$WORK/inventory.yml" -e "@$WORK/vars.yml" "$ROOT/playbooks/site.yml"

step "running it again: nothing should change"
ansible-playbook -i "$WORK/inventory.yml" -e "@$WORK/vars.yml" "$ROOT/playbooks/site.yml" >"$WORK/second.log" 2>&1 || { cat "$WORK/second.log"; exit 1; }
grep -A3 '^PLAY RECAP' "$WORK/second.log" | tail -n 3

step "fleet audit (table for people, JSON for pipelines)"
audit_rc=0
ansible-playbook -i "$WORK/inventory.yml" -e "@$WORK/vars.yml" "$ROOT/playbooks/audit.yml" || audit_rc=$?
echo "JSON written to $WORK/audit/audit.json:"
head -c 1500 "$WORK/audit/audit.json"; echo

step "an outside witness: openssl s_client in the container's network namespace"
pid=$(docker inspect -f '{{.State.Pid}}' "$NAME")
witness_rc=0
for spec in 25:smtp 587:smtp 465:- 143:imap 993:- 110:pop3 995:-; do
  port=${spec%%:*} proto=${spec#*:}
  if [ "$proto" = - ]; then starttls=(); else starttls=(-starttls "$proto"); fi
  # -a: the POP3 dialogue on 110 leaves bytes that make grep call the whole stream binary and print nothing.
  summary=$(nsenter -t "$pid" -n timeout 15 openssl s_client -connect "127.0.0.1:$port" -servername mail.example.test \
    -CAfile "$WORK/ca/ca.pem" -verify_return_error -brief "${starttls[@]}" </dev/null 2>&1 |
    grep -a -E '^(Protocol version|Ciphersuite|Verification|Verify return code)' | tr '\n' ' ' || true)
  printf '  port %-4s %s\n' "$port" "${summary:-NO TLS HANDSHAKE}"
  case "$summary" in *"Verification: OK"*) ;; *) witness_rc=1 ;; esac
done

step "a real mail client: swaks, STARTTLS and AUTH on 587, the certificate checked against the local CA"
swaks_rc=0
nsenter -t "$pid" -n swaks --server 127.0.0.1 --port 587 --tls --tls-verify --tls-ca-path "$WORK/ca/ca.pem" \
  --tls-sni mail.example.test --ehlo client.example.test --auth PLAIN --auth-user mailtest \
  --auth-password Secret-Test-Pass-1 --from mailtest@mail.example.test --to mailtest@mail.example.test \
  --quit-after AUTH >"$WORK/swaks.log" 2>&1 || swaks_rc=$?
grep -a -E 'Ready to start TLS|TLS started|TLS peer|^<~  *235' "$WORK/swaks.log" | sed 's/^/  /' || true
if [ "$swaks_rc" != 0 ] || ! grep -q '^<~  *235 ' "$WORK/swaks.log"; then
  echo "swaks could not send over STARTTLS with AUTH (exit $swaks_rc); its log follows" >&2
  cat "$WORK/swaks.log" >&2
  exit 1
fi

if [ "$witness_rc" != 0 ]; then
  echo "openssl could not verify every port; see above" >&2
  exit 1
fi
if [ "$audit_rc" != 0 ]; then
  echo "the audit found problems; see above" >&2
  exit 1
fi
if grep -q 'changed=[1-9]' "$WORK/second.log"; then
  echo "the second run changed something; see above" >&2
  exit 1
fi
step "done: TLS deployed and verified on every mail port"
