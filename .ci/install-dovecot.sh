#!/usr/bin/env bash
# What the IMAP tests need: Debian's Dovecot (dovecot-imapd; apt-get). The tests start their own
# private server from it (tests/dovecot.py); the product itself never needs it.
# Idempotent: installs only when missing. Never fails the build: where Dovecot cannot be
# installed it warns and exits 0, and the IMAP tests are skipped with that reason (pytest -ra).
set -uo pipefail
PACKAGES=(dovecot-imapd)

warn() { echo "warning: $*" >&2; }

if command -v dovecot >/dev/null 2>&1 || [ -x /usr/sbin/dovecot ]; then
  echo "dovecot: installed ($( (dovecot --version || /usr/sbin/dovecot --version) 2>/dev/null | head -1))"
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  warn "no apt-get to install ${PACKAGES[*]}; the IMAP tests will be skipped"
  exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
    warn "installing ${PACKAGES[*]} needs root (or password-less sudo); the IMAP tests will be skipped"
    exit 0
  fi
fi
echo "installing ${PACKAGES[*]} with apt-get" >&2
# policy-rc.d-less containers try to start the system service and say so; that is harmless: the
# tests never use it.
if ! { $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q \
       && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${PACKAGES[@]}"; \
     } >/tmp/install-dovecot-apt.log 2>&1; then
  warn "apt-get install ${PACKAGES[*]} failed (log: /tmp/install-dovecot-apt.log)"
fi
if [ -x /usr/sbin/dovecot ]; then echo "dovecot: $(/usr/sbin/dovecot --version)"; else warn "no Dovecot; the IMAP tests will be skipped"; fi
exit 0
