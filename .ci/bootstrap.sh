# Sourced by ./run and ./test: a virtualenv in .venv with the locked requirements.
# The requirements*.txt files are locks (`make lock`): every package, transitive ones included,
# pinned with its hashes; pip installs nothing that is not in the lock or whose hash differs.
# Reinstalls only when the requirements files change.
req="$1"
PY="${PYTHON:-}"
if [ -z "$PY" ]; then
  for candidate in python3.11 python3.12 python3.13 python3; do
    if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
      PY="$candidate"; break
    fi
  done
fi
[ -n "$PY" ] || { echo "error: Python 3.11 or newer is needed (set PYTHON=/path/to/python3.11)" >&2; exit 2; }
if [ ! -x .venv/bin/python ]; then
  echo "creating .venv with $PY" >&2
  "$PY" -m venv .venv
fi
stamp=".venv/.installed-$(cat requirements*.txt | sha256sum | cut -c1-16)-$(basename "$req")"
if [ ! -f "$stamp" ]; then
  echo "installing $req into .venv (first run only)" >&2
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --require-hashes -r "$req"
  rm -f .venv/.installed-*-"$(basename "$req")"
  touch "$stamp"
fi
