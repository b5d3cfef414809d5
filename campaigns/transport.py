"""Sending a finished message: an SMTP relay or a Maildir folder, behind one small interface.

    with open_transport(settings.mail) as transport:
        transport.send(msg)          # raises TemporaryFailure / PermanentFailure

The caller decides what a failure means for a delivery; here a failure is only classified:

* TemporaryFailure — 4xx replies, timeouts, refused or dropped connections, and every problem
  of the relay itself (its greeting, STARTTLS, a refused login): trying again later may work,
  and a relay problem must never fail a recipient for good.
* PermanentFailure — a 5xx reply to this message or this recipient, with the basic code, the
  enhanced status code ("5.1.1") and the server's words.
* AddressNotSupported — a non-ASCII local part while the relay offers no SMTPUTF8: refused
  before anything is sent, rather than sending a mangled address.
* UnknownOutcome — the whole message, final dot included, went out, and then the connection
  dropped or the relay's answer did not come in time: the relay may well have taken it, so
  trying again could deliver it twice. Neither temporary nor permanent: a person decides.

The transport drives DATA itself (the command, the payload, the answer) instead of smtplib's
data(), whose exceptions do not say whether the payload had been sent: a failure before the
final dot has left the socket is temporary, one after it without a 4xx/5xx answer is unknown.

One SMTP connection is reused across send() calls. A relay may close an idle connection
between two messages; that shows up at MAIL FROM (a 421 or a closed socket), before any of
the message has gone, so the transport reconnects once and carries on — cheaper than a NOOP
before every message. A connection idle for longer than IDLE_SECONDS is replaced up front:
a link a firewall dropped without a word would otherwise hang until the timeout. After a
refused transaction RSET makes the connection usable again. A connection lost after MAIL
FROM and before the final dot is a TemporaryFailure: nothing half-sent is reported as sent.
"""

from __future__ import annotations

import logging
import mailbox
import re
import smtplib
import socket
import ssl
import time
from functools import cache
from pathlib import Path

from .addresses import ascii_domain
from .config import MailSettings

log = logging.getLogger(__name__)

_ENHANCED = re.compile(r"^([245]\.\d{1,3}\.\d{1,3})\b")
IDLE_SECONDS = 60.0


class TransportError(Exception):
    """The message was not handed over. code/enhanced/text: the server's reply when there was one."""

    def __init__(self, message: str, code: int = 0, enhanced: str = "", text: str = ""):
        super().__init__(message)
        self.code = code
        self.enhanced = enhanced
        self.text = text


class TemporaryFailure(TransportError):
    """Worth trying again later: 4xx, timeouts, dropped connections, relay trouble."""


class PermanentFailure(TransportError):
    """The server refused this message or recipient for good (5xx). str(e) is the server's words."""

    def __init__(self, code: int, enhanced: str, text: str):
        super().__init__(f"{code} {text}".strip(), code, enhanced, text)


class UnknownOutcome(TransportError):
    """The message went out whole, but no answer to it came: the relay may have it. Never retry by itself."""


class AddressNotSupported(PermanentFailure):
    """A non-ASCII local part, and the relay cannot carry it (no SMTPUTF8)."""

    def __init__(self, address: str, relay: str):
        super().__init__(
            553,
            "5.6.7",
            f"Адрес «{address}» содержит не латинские буквы до @, а SMTP-сервер {relay} не поддерживает SMTPUTF8: "
            f"письмо не отправлено. / The address has a non-ASCII local part and the relay offers no SMTPUTF8.",
        )


def _reply_text(reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    return " ".join(text.split())


def failure_for(code: int, reply: bytes | str) -> TransportError:
    """The exception for an SMTP reply: 5xx → PermanentFailure, anything else → TemporaryFailure."""
    text = _reply_text(reply)
    match = _ENHANCED.match(text)
    enhanced = match.group(1) if match else ""
    if 500 <= code < 600:
        return PermanentFailure(code, enhanced, text)
    return TemporaryFailure(f"{code} {text}".strip(), code, enhanced, text)


def envelope(msg) -> tuple[str, list[str], bool]:
    """(sender, recipients, needs SMTPUTF8) from the From / To / Cc headers; domains as A-labels."""

    def spec(address) -> str:
        return f"{address.username}@{ascii_domain(address.domain)}" if address.domain else address.username

    sender = spec(msg["From"].addresses[0])
    recipients = [spec(a) for name in ("To", "Cc") for header in msg.get_all(name, []) for a in header.addresses]
    if not recipients:
        raise PermanentFailure(554, "5.5.1", "В письме нет получателя (To). / The message has no recipient.")
    international = not all(address.isascii() for address in [sender, *recipients])
    return sender, recipients, international


def wire_bytes(msg) -> bytes:
    """The message exactly as send() hands it to the relay: serialise once, send these bytes and
    keep the same bytes (decoded) in the contact's notes."""
    return _as_bytes(msg, envelope(msg)[2])


def _as_bytes(msg, international: bool, linesep: str | None = None) -> bytes:
    policy = msg.policy
    if international and not policy.utf8:
        policy = policy.clone(utf8=True)
    if linesep and policy.linesep != linesep:
        policy = policy.clone(linesep=linesep)
    return msg.as_bytes(policy=policy)


class Transport:
    """send(msg) many times, then close() (or use it as a context manager)."""

    def send(self, msg, data: bytes | None = None) -> None:
        """Hand over ``msg``; ``data`` is its wire_bytes() when the caller has them already."""
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class MaildirTransport(Transport):
    """Each message one file in <path>/new, ready for any mail program (mutt -f, Thunderbird)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._box: mailbox.Maildir | None = None

    def send(self, msg, data: bytes | None = None) -> None:
        _, _, international = envelope(msg)
        try:
            if self._box is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._box = mailbox.Maildir(self.path, create=True)
            self._box.add(data.replace(b"\r\n", b"\n") if data is not None else _as_bytes(msg, international, linesep="\n"))
        except OSError as exc:
            raise TemporaryFailure(f"Не удалось записать письмо в папку {self.path}: {exc}") from exc


@cache
def _local_hostname() -> str:
    # smtplib asks for it on every connection; a slow reverse DNS would stall each one.
    return socket.getfqdn()


class SMTPTransport(Transport):
    def __init__(self, settings: MailSettings):
        self.settings = settings
        self.relay = f"{settings.host}:{settings.port}"
        self._conn: smtplib.SMTP | None = None
        self._used_at = 0.0
        self.connections = 0  # how many times it connected; reuse keeps this at 1

    # -- the connection

    def _open(self) -> smtplib.SMTP:
        s = self.settings
        conn: smtplib.SMTP | None = None
        try:
            if s.scheme == "smtps":
                conn = smtplib.SMTP_SSL(
                    s.host, s.port, local_hostname=_local_hostname(), timeout=s.timeout, context=ssl.create_default_context()
                )
            else:
                conn = smtplib.SMTP(s.host, s.port, local_hostname=_local_hostname(), timeout=s.timeout)
            conn.ehlo()
            if s.starttls:
                conn.starttls(context=ssl.create_default_context())
                conn.ehlo()
            if s.username:
                conn.login(s.username, s.password or "")
        except smtplib.SMTPAuthenticationError as exc:
            self._discard(conn)
            raise TemporaryFailure(
                f"SMTP-сервер {self.relay} не принял логин и пароль из MAIL_URL: {exc.smtp_code} {_reply_text(exc.smtp_error)}",
                exc.smtp_code,
                "",
                _reply_text(exc.smtp_error),
            ) from exc
        except smtplib.SMTPNotSupportedError as exc:
            self._discard(conn)
            raise TemporaryFailure(f"SMTP-сервер {self.relay} не поддерживает то, что требует MAIL_URL: {exc}") from exc
        except (smtplib.SMTPException, OSError) as exc:
            self._discard(conn)
            raise TemporaryFailure(f"Не удалось соединиться с SMTP-сервером {self.relay}: {_describe(exc)}") from exc
        self.connections += 1
        self._conn = conn
        self._used_at = time.monotonic()
        return conn

    @staticmethod
    def _discard(conn) -> None:
        if conn is not None:
            try:
                conn.close()
            except OSError:
                pass

    def _drop(self) -> None:
        self._discard(self._conn)
        self._conn = None

    def _reset(self) -> None:
        """After a refused transaction: RSET keeps the connection usable, or it is dropped."""
        try:
            if self._conn is not None and self._conn.rset()[0] == 250:
                self._used_at = time.monotonic()
                return
        except (smtplib.SMTPException, OSError):
            pass
        self._drop()

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.quit()
            except (smtplib.SMTPException, OSError):
                pass
            self._drop()

    # -- one message

    def _mail_from(self, sender: str, international: bool, address: str) -> smtplib.SMTP:
        """MAIL FROM on a live connection; a connection the relay closed while idle is replaced once."""
        if self._conn is not None and time.monotonic() - self._used_at > IDLE_SECONDS:
            self._drop()
        for _ in range(2):
            reused = self._conn is not None
            conn = self._conn or self._open()
            if international and not conn.has_extn("smtputf8"):
                raise AddressNotSupported(address, self.relay)
            options = ["SMTPUTF8"] + (["BODY=8BITMIME"] if conn.has_extn("8bitmime") else []) if international else []
            try:
                code, reply = conn.mail(sender, options)
            except (smtplib.SMTPServerDisconnected, OSError) as exc:
                self._drop()
                if reused:
                    continue
                raise TemporaryFailure(f"Связь с SMTP-сервером {self.relay} прервалась: {_describe(exc)}") from exc
            if code == 421 and reused:
                self._drop()
                continue
            if code != 250:
                self._refused(code, reply)
            return conn
        raise TemporaryFailure(f"SMTP-сервер {self.relay} закрывает соединение сразу после открытия")

    def send(self, msg, data: bytes | None = None) -> None:
        sender, recipients, international = envelope(msg)
        if data is None:
            data = _as_bytes(msg, international)
        address = next((a for a in [sender, *recipients] if not a.isascii()), "")
        conn = self._mail_from(sender, international, address)
        try:
            refused = []
            for recipient in recipients:
                code, reply = conn.rcpt(recipient)
                if code not in (250, 251):
                    refused.append(failure_for(code, reply))
            if refused:
                # All or nothing: a letter reaches its recipients together or not at all.
                self._reset()
                raise next((f for f in refused if isinstance(f, TemporaryFailure)), refused[0])
            code, reply = conn.docmd("DATA")
            if code != 354:
                self._refused(code, reply)
            conn.send(_dot_stuffed(data))  # smtplib raises SMTPServerDisconnected when it could not all be sent
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            self._drop()
            raise TemporaryFailure(
                f"Связь с SMTP-сервером {self.relay} прервалась до отправки письма целиком: {_describe(exc)}"
            ) from exc
        # The final dot has left: from here only the relay's answer can say the mail was not taken.
        try:
            code, reply = conn.getreply()
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            self._drop()
            raise UnknownOutcome(
                f"письмо передано SMTP-серверу {self.relay} целиком, но его ответа нет ({_describe(exc)}): "
                f"сервер мог принять письмо"
            ) from exc
        if code == 250:
            self._used_at = time.monotonic()
            return
        if 400 <= code < 600:
            self._refused(code, reply)
        self._drop()
        raise UnknownOutcome(
            f"SMTP-сервер {self.relay} ответил на письмо непонятно: {code} {_reply_text(reply)}", code, "", _reply_text(reply)
        )

    def _refused(self, code: int, reply) -> None:
        """A 4xx/5xx answer: the transaction is over, the connection reset (or dropped after a 421)."""
        self._reset() if code != 421 else self._drop()
        raise failure_for(code, reply)


def _dot_stuffed(data: bytes) -> bytes:
    """The DATA payload (RFC 5321, 4.5.2): a leading dot doubled, then CRLF . CRLF — as smtplib.data() does."""
    data = re.sub(rb"(?m)^\.", b"..", data)
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    return data + b".\r\n"


def _describe(exc: BaseException) -> str:
    # smtplib turns a timeout into SMTPServerDisconnected; the cause says what really happened.
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, TimeoutError | socket.timeout):
            return "сервер не ответил вовремя (timeout)"
        if isinstance(cause, ConnectionRefusedError):
            return "соединение отклонено (connection refused)"
        cause = cause.__cause__ or cause.__context__
    return str(exc) or type(exc).__name__


def open_transport(mail_settings) -> Transport:
    """The transport MAIL_URL names (config.MailSettings)."""
    if mail_settings.scheme == "maildir":
        return MaildirTransport(mail_settings.path)
    return SMTPTransport(mail_settings)


# ------------------------------------------------------------------ kept open between jobs


_transports: dict = {}


def transport_for(mail_settings):
    """One open transport per worker process and relay, kept between jobs (SMTP connection reuse)."""
    transport = _transports.get(mail_settings)
    if transport is None:
        transport = open_transport(mail_settings)
        transport.__enter__()
        _transports[mail_settings] = transport
    return transport


def drop_transport(mail_settings) -> None:
    transport = _transports.pop(mail_settings, None)
    if transport is not None:
        try:
            transport.__exit__(None, None, None)
        except Exception:  # closing a broken connection may fail; it is gone either way
            log.debug("closing the transport failed", exc_info=True)


def close_transports() -> None:
    for key in list(_transports):
        drop_transport(key)
