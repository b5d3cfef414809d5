"""Configuration: embedded defaults, and one clear line naming a wrong variable."""

from __future__ import annotations

import pytest

from campaigns.config import ConfigError, load_settings


def _env(tmp_path, **extra):
    return {"INSTANCE_PATH": str(tmp_path / "instance"), **extra}


def test_it_runs_on_embedded_defaults(tmp_path):
    settings = load_settings(_env(tmp_path))
    assert settings.database_url == f"sqlite:///{tmp_path / 'instance' / 'campaigns.db'}"
    assert settings.redis_url == f"unix://{tmp_path / 'instance' / 'redis.sock'}"
    assert settings.redis_is_private
    assert settings.mail.scheme == "maildir"
    assert settings.timezone.key == "Europe/Moscow"


def test_it_generates_the_secret_key_once(tmp_path):
    first = load_settings(_env(tmp_path)).secret_key
    second = load_settings(_env(tmp_path)).secret_key
    assert first == second and len(first) >= 32
    assert (tmp_path / "instance" / "secret_key").stat().st_mode & 0o077 == 0


def test_it_reads_an_smtp_relay_url(tmp_path):
    mail = load_settings(_env(tmp_path, MAIL_URL="smtp://user%40x:p%3Ass@relay.example.com:587?starttls=1")).mail
    assert (mail.scheme, mail.host, mail.port, mail.username, mail.password, mail.starttls) == (
        "smtp",
        "relay.example.com",
        587,
        "user@x",
        "p:ss",
        True,
    )
    assert load_settings(_env(tmp_path, MAIL_URL="smtps://relay.example.com")).mail.port == 465


def test_it_upgrades_a_plain_postgresql_url_to_psycopg3(tmp_path):
    url = load_settings(_env(tmp_path, DATABASE_URL="postgresql://u@db/campaigns")).database_url
    assert url == "postgresql+psycopg://u@db/campaigns"


@pytest.mark.parametrize(
    "name, value",
    [
        ("DATABASE_URL", "mysql://root@localhost/x"),
        ("DATABASE_URL", "campaigns.db"),
        ("REDIS_URL", "memcached://localhost"),
        ("MAIL_URL", "sendmail:/usr/sbin/sendmail"),
        ("MAIL_URL", "smtp://"),
        ("PUBLIC_URL", "ftp://example.com"),
        ("TIMEZONE", "Mars/Olympus"),
        ("DAILY_CAP", "many"),
        ("WORK_HOURS", "18:00-09:30"),
        ("DKIM_PRIVATE_KEY", "/nonexistent/key.pem"),
    ],
)
def test_it_names_the_wrong_variable_in_one_line(tmp_path, name, value):
    with pytest.raises(ConfigError) as error:
        load_settings(_env(tmp_path, **{name: value}))
    message = str(error.value)
    assert message.startswith(f"{name}:") and "\n" not in message


def test_an_unreachable_redis_stops_start_up_naming_the_variable():
    from campaigns.runtime import connect_redis

    with pytest.raises(ConfigError, match=r"^REDIS_URL: cannot reach Redis"):
        connect_redis("redis://127.0.0.1:1/0", timeout=1)
