#!/usr/bin/env bash
# CI check for deploy/: parses every YAML/JSON file, renders both kustomize overlays and validates
# the result strictly against the Kubernetes JSON schemas, plus the cross-checks in check.py.
#
#   deploy/check.sh        silent on success, one line per problem and exit 1 on failure
#   deploy/check.sh -v     says what it checked
#
# Installs its tools itself, from PyPI, into deploy/.venv (gitignored), once; later runs reuse it:
#   kubernetes-validate  Kubernetes JSON schemas (1.25-1.37, strict variants) + jsonschema + PyYAML
#   pykustomize          the kustomize Go library (v5) as a Python extension; the wheel says
#                        Python >= 3.14 but its code runs on 3.9+, hence --ignore-requires-python.
#                        Linux x86_64 only: elsewhere check.py falls back to `kustomize build` or
#                        `kubectl kustomize` from PATH.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv"
python="${PYTHON:-python3}"
# Bump these (and nothing else) to upgrade; a change re-creates the tool install.
requirements="kubernetes-validate==1.37.0 PyYAML==6.0.2"
kustomize_req="pykustomize==0.1.4"
stamp="$venv/.cityserve-check-tools"
want="$requirements $kustomize_req"

die() { echo "deploy/check.sh: $*" >&2; exit 2; }

if [[ ! -x "$venv/bin/python" || "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
    command -v "$python" >/dev/null || die "needs $python (python3 with venv) to install its tools"
    rm -rf "$venv"
    log="$(mktemp)"
    trap 'rm -f "$log"' EXIT
    if ! "$python" -m venv "$venv" >"$log" 2>&1; then
        cat "$log" >&2
        die "cannot create a virtualenv in $venv (Debian/Ubuntu: apt-get install python3-venv)"
    fi
    pip=("$venv/bin/python" -m pip --disable-pip-version-check --quiet)
    # shellcheck disable=SC2086
    if ! "${pip[@]}" install $requirements >"$log" 2>&1; then
        cat "$log" >&2
        die "cannot install $requirements from PyPI"
    fi
    # Optional: without it check.py renders with a kustomize/kubectl binary from PATH.
    if ! "${pip[@]}" install --ignore-requires-python "$kustomize_req" >"$log" 2>&1; then
        echo "deploy/check.sh: note: $kustomize_req did not install; using kustomize/kubectl from PATH" >&2
    fi
    echo "$want" >"$stamp"
fi

exec "$venv/bin/python" "$here/check.py" "$@"
