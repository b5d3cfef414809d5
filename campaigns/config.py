"""Settings from the environment: one place, embedded defaults, clear errors.

Every variable is documented in the README. A wrong value raises ConfigError whose
message is one line naming the variable, so start-up can print it and stop.
"""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import Flask, current_app
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_INSTANCE = ROOT / "instance"


_PASSWORD = re.compile(r"(?<=:)[^:/@]+(?=@)")


class ConfigError(Exception):
    """A setting is wrong; str(error) is one line for a person."""


@dataclass(frozen=True)
class MailSettings:
    """Where outgoing mail goes: a Maildir folder or an SMTP relay."""

    scheme: str  # "maildir", "smtp" or "smtps"
    path: Path | None = None
    host: str = ""
    port: int = 0
    username: str | None = None
    password: str | None = None
    starttls: bool = False
    timeout: float = 30.0

    @property
    def relay_key(self) -> str:
        """Identifies the relay for the shared (Redis) rate limit."""
        return f"maildir:{self.path}" if self.scheme == "maildir" else f"{self.host}:{self.port}"


@dataclass(frozen=True)
class Settings:
    instance_path: Path
    database_url: str
    redis_url: str
    redis_is_private: bool
    mail: MailSettings
    mail_url: str
    secret_key: str
    public_url: str
    timezone: ZoneInfo
    mail_domain: str
    dkim_selector: str | None = None
    dkim_private_key: str | None = None
    # Sending rhythm and lists; see the README for what each one means.
    work_start: str = "09:30"
    work_end: str = "18:00"
    daily_cap: int = 40
    relay_rate_per_minute: int = 60
    tag_spacing_days: int = 7
    hot_days: int = 14
    not_worked_days: int = 90
    # The system mailbox (INBOUND_URL, or its old name BOUNCE_URL): bounce reports, mailto
    # unsubscribes, spam complaints. A Maildir path or imaps://user:pass@host/INBOX (unset: not read).
    bounce_url: str | None = None
    # Reverse proxies in front of the web app whose X-Forwarded-For/-Proto are believed (0: none).
    trusted_proxies: int = 0
    # 38-FZ: contacts without a recorded consent are not mailed (audience.py).
    require_consent: bool = True


def settings_of(app: Flask) -> Settings:
    """The app's settings, typed: what create_app() was given (kept in app.config["SETTINGS"])."""
    settings = app.config["SETTINGS"]
    if not isinstance(settings, Settings):
        raise TypeError(f"app.config['SETTINGS'] is a {type(settings).__name__}, not Settings")
    return settings


def current_settings() -> Settings:
    """The settings of the app in the current app context (a request, a CLI command, an RQ job)."""
    return settings_of(current_app)


def _instance_path(env) -> Path:
    return Path(env.get("INSTANCE_PATH") or DEFAULT_INSTANCE).resolve()


def private_redis_socket(instance_path: Path) -> Path:
    return instance_path / "redis.sock"


def masked_url(url: str) -> str:
    """The URL with its password replaced by ***, for anything printed or logged.

    A password is what stands between "user:" and "@" (percent-encoded, so without ":", "/" or "@");
    this also covers a value that is not a well-formed URL, which is when an error shows it.
    """
    return _PASSWORD.sub("***", url)


def _private_dir(path: Path) -> None:
    """instance/ holds the secret key, the SQLite file and uploads: only its owner may enter it."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.stat().st_uid == os.getuid() and path.stat().st_mode & 0o077:
        path.chmod(0o700)  # an instance/ made before this rule, or by a looser umask


def _private_sqlite_file(database_url: str) -> None:
    """The SQLite file is created 0600 (SQLite gives its journal files the same mode), and tightened if older."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return
    path = Path(url.database)
    if not path.parent.is_dir():
        return  # the database layer will say what is wrong
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    if path.stat().st_uid == os.getuid() and path.stat().st_mode & 0o077:
        path.chmod(0o600)


def parse_database_url(value: str) -> str:
    scheme = value.split(":", 1)[0]
    if not value or "://" not in value:
        raise ConfigError(f"DATABASE_URL: '{masked_url(value)}' is not a URL (e.g. postgresql+psycopg://user@host/db)")
    if not (scheme.startswith("sqlite") or scheme.startswith("postgresql")):
        raise ConfigError(f"DATABASE_URL: unsupported scheme '{scheme}' (use sqlite:/// or postgresql+psycopg://)")
    if scheme in ("postgresql", "postgres"):
        # psycopg 3 is the driver we ship; plain postgresql:// would look for psycopg2.
        value = "postgresql+psycopg" + value[len(scheme) :]
    return value


def parse_redis_url(value: str) -> str:
    scheme = value.split(":", 1)[0]
    if scheme not in ("redis", "rediss", "unix"):
        raise ConfigError(f"REDIS_URL: unknown scheme '{scheme}' (use redis://, rediss:// or unix://)")
    return value


def parse_mail_url(value: str, instance_path: Path) -> MailSettings:
    if value.startswith("maildir:"):
        raw = value[len("maildir:") :]
        raw = raw[2:] if raw.startswith("//") else raw
        if not raw:
            raise ConfigError("MAIL_URL: maildir: needs a folder, e.g. maildir:instance/outbox")
        path = Path(raw)
        if not path.is_absolute():
            path = (instance_path.parent / path) if raw.startswith("instance/") else (ROOT / path)
        return MailSettings(scheme="maildir", path=path.resolve())
    parts = urlsplit(value)
    if parts.scheme not in ("smtp", "smtps"):
        raise ConfigError(
            f"MAIL_URL: unknown scheme '{parts.scheme or masked_url(value)}' (use maildir:PATH, smtp://host:587 or smtps://host:465)"
        )
    if not parts.hostname:
        raise ConfigError("MAIL_URL: no host in the SMTP URL")
    query = parse_qs(parts.query)
    try:
        port = parts.port or (465 if parts.scheme == "smtps" else 25)
        timeout = float(query.get("timeout", ["30"])[0])
    except ValueError as exc:
        raise ConfigError(f"MAIL_URL: {exc}") from None
    return MailSettings(
        scheme=parts.scheme,
        host=parts.hostname,
        port=port,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        starttls=query.get("starttls", ["0"])[0] in ("1", "true", "yes"),
        timeout=timeout,
    )


def _secret_key(env, instance_path: Path) -> str:
    if env.get("SECRET_KEY"):
        return env["SECRET_KEY"]
    key_file = instance_path / "secret_key"
    if key_file.exists():
        return key_file.read_text().strip()
    instance_path.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    # O_EXCL: when several processes start at once, exactly one writes the key.
    try:
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return key_file.read_text().strip()
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key


def load_settings(env=None) -> Settings:
    env = os.environ if env is None else env
    instance_path = _instance_path(env)
    _private_dir(instance_path)

    database_url = parse_database_url(env.get("DATABASE_URL") or f"sqlite:///{instance_path / 'campaigns.db'}")
    _private_sqlite_file(database_url)
    redis_private = not env.get("REDIS_URL")
    redis_url = parse_redis_url(env.get("REDIS_URL") or f"unix://{private_redis_socket(instance_path)}")
    mail_url = env.get("MAIL_URL") or "maildir:instance/outbox"
    mail = parse_mail_url(mail_url, instance_path)

    public_url = (env.get("PUBLIC_URL") or "http://127.0.0.1:5000").rstrip("/")
    if urlsplit(public_url).scheme not in ("http", "https") or not urlsplit(public_url).hostname:
        raise ConfigError(f"PUBLIC_URL: '{public_url}' must be an http(s) URL, e.g. https://mail.example.ru")
    try:
        tz = ZoneInfo(env.get("TIMEZONE") or "Europe/Moscow")
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"TIMEZONE: unknown time zone '{env.get('TIMEZONE')}' (e.g. Europe/Moscow)") from None

    mail_domain = env.get("MAIL_DOMAIN") or urlsplit(public_url).hostname or "localhost"
    dkim_key = env.get("DKIM_PRIVATE_KEY")
    if dkim_key and not dkim_key.lstrip().startswith("-----"):
        key_path = Path(dkim_key)
        if not key_path.exists():
            raise ConfigError(f"DKIM_PRIVATE_KEY: no such file '{dkim_key}' (give a PEM file or the PEM text)")
        dkim_key = key_path.read_text()
    if dkim_key and not env.get("DKIM_SELECTOR"):
        raise ConfigError("DKIM_SELECTOR: required when DKIM_PRIVATE_KEY is set")

    work_start, work_end = _work_hours(env.get("WORK_HOURS") or "09:30-18:00")

    return Settings(
        instance_path=instance_path,
        database_url=database_url,
        redis_url=redis_url,
        redis_is_private=redis_private,
        mail=mail,
        mail_url=mail_url,
        secret_key=_secret_key(env, instance_path),
        public_url=public_url,
        timezone=tz,
        mail_domain=mail_domain,
        dkim_selector=env.get("DKIM_SELECTOR") or None,
        dkim_private_key=dkim_key or None,
        work_start=work_start,
        work_end=work_end,
        daily_cap=_positive_int(env, "DAILY_CAP", 40),
        relay_rate_per_minute=_positive_int(env, "RELAY_RATE_PER_MINUTE", 60),
        tag_spacing_days=_positive_int(env, "TAG_SPACING_DAYS", 7, allow_zero=True),
        hot_days=_positive_int(env, "HOT_DAYS", 14),
        not_worked_days=_positive_int(env, "NOT_WORKED_DAYS", 90),
        bounce_url=_bounce_url(env.get("INBOUND_URL") or None, "INBOUND_URL")
        or _bounce_url(env.get("BOUNCE_URL") or None, "BOUNCE_URL"),
        trusted_proxies=_positive_int(env, "TRUSTED_PROXIES", 0, allow_zero=True),
        require_consent=_flag(env, "REQUIRE_CONSENT", True),
    )


def _flag(env, name: str, default: bool) -> bool:
    raw = (env.get(name) or "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name}: '{raw}' must be 1 or 0 (on or off)")


def _positive_int(env, name: str, default: int, allow_zero: bool = False) -> int:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0 or (value == 0 and not allow_zero):
        raise ConfigError(f"{name}: '{raw}' must be a {'non-negative' if allow_zero else 'positive'} whole number")
    return value


def _work_hours(raw: str) -> tuple[str, str]:
    try:
        start, end = (part.strip() for part in raw.split("-"))
        sh, sm = (int(x) for x in start.split(":"))
        eh, em = (int(x) for x in end.split(":"))
        if not (0 <= sh * 60 + sm < eh * 60 + em <= 24 * 60):
            raise ValueError
    except ValueError:
        raise ConfigError(f"WORK_HOURS: '{raw}' must look like 09:30-18:00") from None
    return f"{sh:02d}:{sm:02d}", f"{eh:02d}:{em:02d}"


def _bounce_url(value: str | None, name: str) -> str | None:
    if value and not (value.startswith(("maildir:", "imaps://", "imap://"))):
        raise ConfigError(f"{name}: '{masked_url(value)}' must be maildir:PATH or imaps://user:password@host/INBOX")
    return value
