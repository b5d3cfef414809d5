"""Secrets stay out of what is printed and logged; instance/ and the SQLite file are the owner's alone."""

from __future__ import annotations

import logging
import os
import stat
import threading
import urllib.error
import urllib.request
from datetime import timedelta
from types import SimpleNamespace

import pytest
from gunicorn.config import Config

from campaigns import launcher
from campaigns.accesslog import GunicornLogger
from campaigns.config import ConfigError, load_settings, masked_url
from campaigns.runtime import connect_redis


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("smtp://mailer:s3cr3t@relay.example.com:587?starttls=1", "smtp://mailer:***@relay.example.com:587?starttls=1"),
        ("postgresql+psycopg://app:s3cr3t@db.example.com/campaigns", "postgresql+psycopg://app:***@db.example.com/campaigns"),
        ("redis://:s3cr3t@redis.example.com:6379/0", "redis://:***@redis.example.com:6379/0"),
        ("imaps://bounces:s3cr3t@imap.example.com/INBOX", "imaps://bounces:***@imap.example.com/INBOX"),
        ("maildir:instance/outbox", "maildir:instance/outbox"),
        ("smtps://relay.example.com:465", "smtps://relay.example.com:465"),
    ],
)
def test_a_url_is_shown_without_its_password(url, shown):
    assert masked_url(url) == shown


def test_the_run_command_announces_the_relay_without_its_password(tmp_path, capsys):
    settings = load_settings(
        {
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "SECRET_KEY": "x",
            "MAIL_URL": "smtp://mailer:s3cr3t@relay.example.com:587?starttls=1",
        }
    )
    launcher._announce(settings, "127.0.0.1:5000")
    output = capsys.readouterr().out
    assert "smtp://mailer:***@relay.example.com:587" in output and "s3cr3t" not in output


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DATABASE_URL", "app:s3cr3t@db.example.com/campaigns"),
        ("MAIL_URL", "mailer:s3cr3t@relay.example.com"),
        ("BOUNCE_URL", "pop3://bounces:s3cr3t@pop.example.com/"),
    ],
)
def test_a_wrong_url_is_named_without_its_password(tmp_path, name, value):
    with pytest.raises(ConfigError) as error:
        load_settings({"INSTANCE_PATH": str(tmp_path), "SECRET_KEY": "x", name: value})
    assert str(error.value).startswith(name) and "s3cr3t" not in str(error.value)


def test_an_unreachable_redis_is_named_without_its_password():
    with pytest.raises(ConfigError) as error:
        connect_redis("redis://:s3cr3t@127.0.0.1:1/0", timeout=0.5)
    assert "redis://:***@127.0.0.1:1/0" in str(error.value) and "s3cr3t" not in str(error.value)


def test_instance_and_the_sqlite_file_are_private_from_the_start(tmp_path):
    instance = tmp_path / "instance"
    load_settings({"INSTANCE_PATH": str(instance)})
    assert _mode(instance) == 0o700
    assert _mode(instance / "campaigns.db") == 0o600
    assert _mode(instance / "secret_key") == 0o600


def test_an_older_open_instance_is_tightened(tmp_path):
    instance = tmp_path / "instance"
    instance.mkdir(mode=0o755)
    os.chmod(instance, 0o755)
    (instance / "campaigns.db").write_bytes(b"")
    os.chmod(instance / "campaigns.db", 0o644)
    load_settings({"INSTANCE_PATH": str(instance), "SECRET_KEY": "x"})
    assert _mode(instance) == 0o700 and _mode(instance / "campaigns.db") == 0o600


def test_gunicorns_access_log_shows_no_tokens(tmp_path):
    log_file = tmp_path / "access.log"
    config = Config()
    config.set("accesslog", str(log_file))
    logger = GunicornLogger(config)
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": "/c/2n9c-7.6qItklAi9QdAVzFT",
        "PATH_INFO": "/c/2n9c-7.6qItklAi9QdAVzFT",
        "QUERY_STRING": "",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "203.0.113.5",
        "HTTP_REFERER": "https://campaigns.example.com/u/3k.QSecretUnsub",
        "HTTP_USER_AGENT": "Mozilla/5.0",
    }
    response = SimpleNamespace(status="302 Found", sent=0, headers=[])
    logger.access(response, SimpleNamespace(headers=[]), environ, timedelta(milliseconds=3))
    line = log_file.read_text()
    assert '"GET /c/*** HTTP/1.1" 302' in line and "https://campaigns.example.com/u/***" in line
    assert "6qItklAi9QdAVzFT" not in line and "Secret" not in line


def test_werkzeugs_access_log_shows_no_tokens(app, caplog):
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with caplog.at_level(logging.INFO, logger="werkzeug"):
            for path in ("/c/2n9c-7.6qItklAi9QdAVzFT", "/u/3k.QSecretUnsub"):
                with pytest.raises(urllib.error.HTTPError):
                    urllib.request.urlopen(f"http://127.0.0.1:{server.server_port}{path}", timeout=5)
    finally:
        server.shutdown()
        thread.join(5)
    lines = [record.getMessage() for record in caplog.records if record.name == "werkzeug"]
    assert any("GET /c/*** HTTP" in line for line in lines) and any("GET /u/*** HTTP" in line for line in lines)
    assert not any("6qItklAi9QdAVzFT" in line or "Secret" in line for line in lines)
