#!/usr/bin/env bash
# Print the newest Python 3 interpreter on this machine that the pinned tool chain supports
# (ansible-core 2.21 needs 3.12+; 3.14 is taken when present and supported by the pins).
# Looks on PATH first, then in pyenv's versions when pyenv is installed; never a fixed machine path.
set -euo pipefail
min_minor=12
max_minor=${PYTHON_MAX_MINOR:-14}
candidates=()
for minor in $(seq "$max_minor" -1 "$min_minor"); do
  candidates+=("python3.$minor")
done
works() { "$1" -c 'import sys, venv, ensurepip; sys.exit(0 if sys.version_info >= (3, '"$min_minor"') else 1)' >/dev/null 2>&1; }
for c in "${candidates[@]}"; do
  if command -v "$c" >/dev/null 2>&1 && works "$c"; then command -v "$c"; exit 0; fi
  if command -v pyenv >/dev/null 2>&1; then
    root=$(pyenv root)
    while IFS= read -r p; do
      if works "$p"; then echo "$p"; exit 0; fi
    done < <(find "$root/versions" -mindepth 3 -maxdepth 3 -path "*/bin/$c" 2>/dev/null | sort -rV)
  fi
done
if works python3; then command -v python3; exit 0; fi
echo "no Python >= 3.$min_minor found; install one (e.g. apt-get install python3.12 or pyenv install 3.13)" >&2
exit 1
