#!/usr/bin/env bash
# What the browser tests need: Debian's Chromium and fonts (apt-get) and Playwright for Python
# (pip, requirements-browser.txt) in .venv. Idempotent: installs only what is missing.
# Never fails the build: where the browser cannot be installed it warns and exits 0, and the
# browser tests are skipped with that reason (shown by pytest -ra).
# Never runs `playwright install` (it downloads browsers from outside the package registries).
set -uo pipefail
cd "$(dirname "$0")/.."
CHROMIUM="${CHROMIUM_PATH:-/usr/bin/chromium}"
# chromium-l10n: Russian date inputs (дд.мм.гггг); fonts-liberation, fonts-dejavu-core: Cyrillic text;
# fonts-noto-color-emoji: emoji people type into names and notes (the app's own icons are inline SVG).
PACKAGES=(chromium chromium-l10n fonts-liberation fonts-dejavu-core fonts-noto-color-emoji)

warn() { echo "warning: $*" >&2; }

missing=()
if command -v dpkg-query >/dev/null 2>&1; then
  for pkg in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
  done
elif [ ! -x "$CHROMIUM" ]; then
  missing=(chromium)
fi

if [ ${#missing[@]} -eq 0 ]; then
  echo "chromium: installed ($("$CHROMIUM" --version 2>/dev/null | head -1))"
elif ! command -v apt-get >/dev/null 2>&1; then
  warn "no apt-get to install ${missing[*]}"
else
  SUDO=""
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; else SUDO="none"; fi
  fi
  if [ "$SUDO" = none ]; then
    warn "installing ${missing[*]} needs root (or password-less sudo)"
  else
    echo "installing ${missing[*]} with apt-get" >&2
    if ! { $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q \
           && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"; \
         } >/tmp/install-browser-apt.log 2>&1; then
      warn "apt-get install ${missing[*]} failed (log: /tmp/install-browser-apt.log)"
    fi
  fi
fi
[ -x "$CHROMIUM" ] || warn "no Chromium at $CHROMIUM; the browser tests will be skipped"

# Playwright for Python, into the same .venv that ./test uses.
source .ci/bootstrap.sh requirements-dev.txt || { warn "could not prepare .venv; the browser tests will be skipped"; exit 0; }
if ! .venv/bin/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements-browser.txt; then
  warn "pip install -r requirements-browser.txt failed; the browser tests will be skipped"
  exit 0
fi
echo "playwright: $(.venv/bin/python -c 'import importlib.metadata as m; print(m.version("playwright"))')"
if [ -x "$CHROMIUM" ]; then echo "browser tests: ready"; fi
exit 0
