"""A private IMAP server for the tests: Debian's Dovecot with a throwaway configuration.

Started once per run in a temporary folder, on a free local port, plain-text log-in (any
user name, one password per run: a new name is a new, empty mailbox), no TLS (imap://: the
code path is imaplib's, the same as imaps:// without the wrapping). Each test gets its own
fresh account (`DovecotServer.account()`), so tests never see each other's mail.
`.ci/install-dovecot.sh` installs the package; where it is missing the IMAP tests are skipped
with the reason, and REQUIRE_IMAP=1 (CI) turns that skip into a failure.
"""

from __future__ import annotations

import getpass
import grp
import imaplib
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

DOVECOT = shutil.which("dovecot") or ("/usr/sbin/dovecot" if os.path.exists("/usr/sbin/dovecot") else None)

CONFIG = """\
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = {user}
default_internal_group = {group}
default_login_user = {user}
first_valid_uid = 1
mail_location = maildir:{root}/mail/%u
passdb {{
  driver = static
  args = password={password}
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/mail/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
service stats {{
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
"""


@dataclass(frozen=True)
class Account:
    host: str
    port: int
    user: str
    password: str

    def url(self, folder: str = "INBOX") -> str:
        return f"imap://{quote(self.user)}:{quote(self.password)}@{self.host}:{self.port}/{folder}"

    def connect(self) -> imaplib.IMAP4:
        client = imaplib.IMAP4(self.host, self.port)
        client.login(self.user, self.password)
        return client

    def deliver(self, raw: bytes, folder: str = "INBOX") -> None:
        """Put a message into the mailbox as a delivery agent would (IMAP APPEND, unseen)."""
        client = self.connect()
        try:
            typ, data = client.append(folder, None, None, raw)
            assert typ == "OK", data
        finally:
            client.logout()

    def messages(self, folder: str = "INBOX") -> list[tuple[bytes, bytes]]:
        """(flags, raw) of every message still in the folder."""
        client = self.connect()
        try:
            client.select(folder, readonly=True)
            _typ, data = client.uid("SEARCH", None, "ALL")
            out = []
            for uid in (data[0] or b"").split():
                _typ, fetched = client.uid("FETCH", uid, "(FLAGS BODY.PEEK[])")
                head, raw = next(item for item in fetched if isinstance(item, tuple))
                out.append((head, raw))
            return out
        finally:
            client.logout()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class DovecotServer:
    def __init__(self):
        # Its own folder, not the run's private one: Dovecot's auth and mail processes run as
        # another user when the tests run as root, and must reach the mail.
        self.root = Path(tempfile.mkdtemp(prefix="campaigns-dovecot-"))
        self.root.chmod(0o755)
        self.port = _free_port()
        self.host = "127.0.0.1"
        self.password = secrets.token_urlsafe(12)

    def start(self) -> None:
        root = self.root
        for name in ("run", "state", "mail"):
            (root / name).mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            # Dovecot never gives mail access to root: the mail belongs to nobody.
            entry = pwd.getpwnam("nobody")
            user, uid, gid = entry.pw_name, entry.pw_uid, entry.pw_gid
            os.chown(root / "mail", uid, gid)
            os.chown(root / "state", uid, gid)
        else:
            user, uid, gid = getpass.getuser(), os.getuid(), os.getgid()
        group = grp.getgrgid(gid).gr_name
        (root / "dovecot.conf").write_text(
            CONFIG.format(root=root, user=user, group=group, uid=uid, gid=gid, port=self.port, password=self.password)
        )
        # The master forks into the background: its output goes to a file, not a pipe held open.
        with open(root / "start.log", "w+") as out:
            result = subprocess.run(
                [DOVECOT, "-c", str(root / "dovecot.conf")],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=30,
            )
            out.seek(0)
            if result.returncode != 0:
                raise RuntimeError(f"dovecot did not start: {out.read().strip()}")
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection((self.host, self.port), timeout=1).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    log = (root / "dovecot.log").read_text() if (root / "dovecot.log").exists() else ""
                    self._stop_master()
                    raise RuntimeError(f"dovecot does not answer on port {self.port}: {log[-500:]}") from None
                time.sleep(0.05)

    def account(self) -> Account:
        """A new, empty mailbox: Dovecot creates it on the first log-in of a new name."""
        return Account(self.host, self.port, f"u{secrets.token_hex(6)}", self.password)

    def stop(self) -> None:
        try:
            self._stop_master()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def _stop_master(self) -> None:
        pid_file = self.root / "run" / "master.pid"
        if not pid_file.exists():
            return
        pid = int(pid_file.read_text().split()[0])
        try:
            os.kill(pid, 15)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)
