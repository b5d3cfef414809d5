"""Schema upgrades through Alembic, callable from code (the run command, the CLI, tests)."""

from __future__ import annotations

from alembic import command
from alembic.config import Config

from .config import ROOT


def alembic_config(database_url: str) -> Config:
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return cfg


def upgrade(database_url: str, revision: str = "heads", *, secret_key: str | None = None) -> None:
    """`secret_key`: the app's SECRET_KEY, for revisions that match the stop list's keyed hashes (0025)."""
    cfg = alembic_config(database_url)
    cfg.attributes["secret_key"] = secret_key
    command.upgrade(cfg, revision)
