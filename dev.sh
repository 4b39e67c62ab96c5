#!/usr/bin/env bash
# postmaster.tls developer entry point. Run as root on Debian 12 (it installs packages, starts the
# Docker engine and builds the test images the first time; later runs reuse them).
#
#   ./dev.sh demo              deploy and verify mail TLS on a throwaway local container
#   ./dev.sh test              the whole suite: sanity, units, lint, Molecule on Debian 12 and 13
#   ./dev.sh setup             only prepare the machine (packages, Docker, images, venv)
#   ./dev.sh sanity|units|lint one stage of the suite
#   ./dev.sh molecule [NAME..] Molecule scenarios (all when none is named; MOLECULE_LANES=2 in parallel)
#   ./dev.sh bench [NAME..]    benchmarks (not part of the suite); see bench/README.md
#   ./dev.sh build             the collection tarball in build/
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
VENV=${POSTMASTER_VENV:-$ROOT/.venv}
BUILD=$ROOT/build
COLL_ROOT=$BUILD/collections
COLL=$COLL_ROOT/ansible_collections/postmaster/tls

log() { printf '\n=== %s\n' "$*"; }

# ---------------------------------------------------------------------------------------------
# Machine and environment
# ---------------------------------------------------------------------------------------------
setup_host() {
  bash "$ROOT/tests/testbed/setup.sh"
}

# ensure_venv TAG DIR REQUIREMENTS PROGRAM [MAX_MINOR]: a venv at DIR with the pinned REQUIREMENTS, made
# again only when that file changed (its hash is kept in DIR/.requirements) or DIR/bin/PROGRAM is missing.
# The Python is probed (tests/testbed/find-python.sh), never a fixed path; MAX_MINOR caps its version.
ensure_venv() {
  local tag=$1 dir=$2 reqs=$3 program=$4 max_minor=${5:-} want have py
  want=$(sha256sum "$reqs" | cut -c1-16)
  have=$(cat "$dir/.requirements" 2>/dev/null || true)
  if [ "$want" = "$have" ] && [ -x "$dir/bin/$program" ]; then
    echo "[$tag] $dir is current"
    return 0
  fi
  py=$(PYTHON_MAX_MINOR=${max_minor:-${PYTHON_MAX_MINOR:-14}} bash "$ROOT/tests/testbed/find-python.sh")
  echo "[$tag] creating $dir with $py ($("$py" --version))"
  rm -rf "$dir"
  "$py" -m venv "$dir"
  "$dir/bin/python" -m pip install -q --upgrade pip
  "$dir/bin/python" -m pip install -q -r "$reqs" 2>&1 | { grep -v "^WARNING: Location" || true; }
  echo "$want" >"$dir/.requirements"
}

setup_venv() {
  ensure_venv venv "$VENV" "$ROOT/requirements-dev.txt" ansible-playbook
  export PATH="$VENV/bin:$PATH"
  export ANSIBLE_COLLECTIONS_PATH="$COLL_ROOT"
  # Nothing here may reach Ansible Galaxy: collections come from the venv's `ansible` package.
  export ANSIBLE_GALAXY_DISABLE_GPG_VERIFY=1
  export ANSIBLE_FORCE_COLOR=${ANSIBLE_FORCE_COLOR:-0}
  export PY_COLORS=0
}

# The oracle venv for the grade scenario: sslyze (PyPI) next to the module's grading. A venv of its
# own because sslyze pins an older cryptography than requirements-dev.txt. Made on demand, kept
# while tests/oracle/requirements.txt is unchanged; its Python is probed like the main venv's, at most
# 3.13: nassl 5.4.0 has wheels for cp310 to cp313 only.
ORACLE_VENV=${POSTMASTER_ORACLE_VENV:-$ROOT/.venv-oracle}
setup_oracle_venv() {
  ensure_venv oracle "$ORACLE_VENV" "$ROOT/tests/oracle/requirements.txt" sslyze 13
  export POSTMASTER_ORACLE_PYTHON="$ORACLE_VENV/bin/python"
}

# The collection as Ansible sees it: the tracked (and new, not ignored) files copied under an
# ansible_collections/postmaster/tls tree. ansible-test requires that layout.
sync_collection() {
  mkdir -p "$COLL"
  # Two dev.sh commands started together (two Molecule chains) must not sync at the same time: one
  # would prune while the other writes its file list. The lock goes with the subshell.
  (
    flock 9
    sync_collection_locked
  ) 9>"$BUILD/.sync.lock"
}

sync_collection_locked() {
  if git -C "$ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    (cd "$ROOT" && git ls-files -co --exclude-standard -z) |
      rsync -a --delete --from0 --files-from=- "$ROOT/" "$COLL/"
    # rsync --files-from does not delete files that vanished from the list; prune them.
    (cd "$ROOT" && git ls-files -co --exclude-standard) | LC_ALL=C sort >"$BUILD/.files"
    (cd "$COLL" && find . -type f ! -path './tests/output/*' ! -path './.git/*' | sed 's|^\./||' | LC_ALL=C sort) |
      LC_ALL=C comm -13 "$BUILD/.files" - | (cd "$COLL" && xargs -r rm -f)
  else
    rsync -a --delete --exclude .venv --exclude build --exclude .git "$ROOT/" "$COLL/"
  fi
  # ansible-test lists files through git when it finds a repository; give it one of its own.
  if [ ! -d "$COLL/.git" ]; then
    git -C "$COLL" init -q
  fi
  git -C "$COLL" add -A >/dev/null 2>&1 || true
}

python_version() { "$VENV/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])'; }

# ---------------------------------------------------------------------------------------------
# Test stages
# ---------------------------------------------------------------------------------------------
# ansible-test bootstraps pip in its venvs with a script from a host these machines cannot reach;
# give it the offline stand-in under the name it looks for in its cache.
install_get_pip_shim() {
  local version
  version=$("$VENV/bin/python" -c 'import re, ansible_test._internal.python_requirements as r, inspect; print(re.search(r"pip=.([0-9.]+)", inspect.getsource(r.get_venv_packages)).group(1))')
  mkdir -p "$HOME/.ansible/test/cache"
  install -m 0644 "$ROOT/tests/testbed/get_pip_offline.py" "$HOME/.ansible/test/cache/get_pip_${version//./_}.py"
}

run_sanity() {
  sync_collection
  install_get_pip_shim
  (cd "$COLL" && ansible-test sanity --venv --requirements --python "$(python_version)" --color no \
     --exclude extensions/ --exclude bench/ --exclude dev.sh)
}

run_units() {
  sync_collection
  (cd "$COLL" && PYTHONPATH="$COLL_ROOT" python -m pytest -p no:cacheprovider -q tests/unit)
}

run_lint() {
  sync_collection
  (cd "$ROOT" && ansible-lint --profile production --offline -q)
}

scenarios() {
  local s
  for s in "$ROOT"/extensions/molecule/*/molecule.yml; do
    basename "$(dirname "$s")"
  done
}

# Rough seconds per scenario on a 2-core machine, to balance the lanes (unknown scenarios: 300).
scenario_weight() {
  case $1 in
    keys | badinput | dane) echo 420 ;;
    certificates | revoke | discovery | ssh | grade) echo 300 ;;
    acme | default | external | resilience) echo 250 ;;
    dovecot | dual | postfix | renew) echo 220 ;;
    sasl | verify) echo 130 ;;
    testbed) echo 40 ;;
    *) echo 300 ;;
  esac
}

# One scenario, its output to stdout; prints a [timing] line and returns its status.
run_scenario() {
  local s=$1 start=$SECONDS
  log "molecule scenario $s (PM_PREFIX=${PM_PREFIX:-pm})"
  if (cd "$ROOT" && molecule test -s "$s"); then
    echo "[timing] molecule $s: $((SECONDS - start))s ok"
  else
    echo "[timing] molecule $s: $((SECONDS - start))s FAILED"
    return 1
  fi
}

# Scenarios in MOLECULE_LANES parallel lanes (default 2): most of a scenario's time is spent waiting
# for containers, services and handshakes, so two lanes use a 2-core machine better than one. Each
# lane names its containers and networks with its own PM_PREFIX (pm1-, pm2-, ...) and writes its
# output to build/molecule-lane-N.log, printed when the lane ends. The longest scenarios start first.
run_molecule() {
  sync_collection
  # The grade scenario's sslyze oracle (a separate venv); only when that scenario runs.
  if (($# == 0)) || [[ " $* " == *" grade "* ]]; then
    setup_oracle_venv
  fi
  local names=("$@") lanes=${MOLECULE_LANES:-2} failed=() s i pids=() order=()
  ((${#names[@]})) || mapfile -t names < <(scenarios)
  ((lanes < 1)) && lanes=1
  ((lanes > ${#names[@]})) && lanes=${#names[@]}
  rm -f "$BUILD"/molecule-lane-*.log
  if ((lanes == 1)); then
    for s in "${names[@]}"; do run_scenario "$s" || failed+=("$s"); done
  else
    # Longest first (the weights are rough minutes on an idle 2-core machine), dealt to the lane with
    # the least work so far, so the lanes end at about the same time.
    mapfile -t order < <(for s in "${names[@]}"; do echo "$(scenario_weight "$s") $s"; done | sort -rn | cut -d' ' -f2)
    local -a load work
    for ((i = 0; i < lanes; i++)); do load[i]=0; work[i]=""; done
    for s in "${order[@]}"; do
      local best=0
      for ((i = 1; i < lanes; i++)); do ((load[i] < load[best])) && best=$i; done
      load[best]=$((load[best] + $(scenario_weight "$s")))
      work[best]+="$s "
    done
    for ((i = 0; i < lanes; i++)); do
      (
        export PM_PREFIX="${PM_PREFIX:-pm}$((i + 1))"
        rc=0
        for s in ${work[i]}; do run_scenario "$s" || rc=1; done
        exit $rc
      ) >"$BUILD/molecule-lane-$((i + 1)).log" 2>&1 &
      pids[i]=$!
      echo "[molecule] lane $((i + 1)) (PM_PREFIX=${PM_PREFIX:-pm}$((i + 1))): ${work[i]}"
    done
    for ((i = 0; i < lanes; i++)); do
      wait "${pids[i]}" || true
      log "molecule lane $((i + 1)) output"
      cat "$BUILD/molecule-lane-$((i + 1)).log"
    done
    mapfile -t failed < <(grep -h '^\[timing\] molecule .* FAILED$' "$BUILD"/molecule-lane-*.log | awk '{print $3}' | tr -d ':')
    grep -h '^\[timing\] molecule ' "$BUILD"/molecule-lane-*.log
  fi
  if ((${#failed[@]})); then
    echo "Molecule scenarios failed: ${failed[*]}"
    return 1
  fi
  echo "Molecule: ${#names[@]} scenario(s) passed on Debian 12 and Debian 13"
}

run_build() {
  sync_collection
  (cd "$COLL" && ansible-galaxy collection build --force --output-path "$BUILD")
}

# Run one stage, print a timing line, remember failures and keep going so one run shows everything.
FAILED_STAGES=()
stage() {
  local name=$1 start rc
  shift
  start=$(date +%s)
  log "stage $name"
  set +e
  "$@"
  rc=$?
  set -e
  if ((rc == 0)); then
    echo "[timing] stage $name: $(($(date +%s) - start))s ok"
  else
    echo "[timing] stage $name: $(($(date +%s) - start))s FAILED (exit $rc)"
    FAILED_STAGES+=("$name")
  fi
}

cmd_test() {
  local start=$SECONDS
  stage setup setup_host
  if ((${#FAILED_STAGES[@]})); then
    echo "The test bed could not be prepared; nothing else can run."
    exit 1
  fi
  stage venv setup_venv
  ((${#FAILED_STAGES[@]})) && exit 1
  stage units run_units
  stage sanity run_sanity
  stage lint run_lint
  stage build run_build
  stage molecule run_molecule
  echo
  echo "[timing] total: $((SECONDS - start))s"
  if ((${#FAILED_STAGES[@]})); then
    echo "FAILED stages: ${FAILED_STAGES[*]}"
    exit 1
  fi
  echo "All stages passed: units, sanity, lint, build, molecule."
}

main() {
  local cmd=${1:-help}
  shift || true
  case "$cmd" in
    setup) setup_host && setup_venv ;;
    test) cmd_test ;;
    demo) setup_host && setup_venv && sync_collection && bash "$ROOT/tests/testbed/demo.sh" "$@" ;;
    sanity) setup_venv && run_sanity ;;
    units) setup_venv && run_units ;;
    lint) setup_venv && run_lint ;;
    molecule) setup_venv && run_molecule "$@" ;;
    build) setup_venv && run_build ;;
    bench) setup_host && setup_venv && sync_collection && bash "$ROOT/bench/run.sh" "$@" ;;
    *) sed -n '2,13p' "$0"; [ "$cmd" = help ] ;;
  esac
}

main "$@"
