"""Alembic environment: the only way the schema is created or changed."""

from __future__ import annotations

from alembic import context

from campaigns import models  # noqa: F401 — registers the tables on Base.metadata
from campaigns.db import Base, make_engine

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if url:
        return url
    from campaigns.config import load_settings

    # A bare `alembic upgrade`: the app's settings give the database and the key of the stop
    # list's hashes (revision 0025); migrate.upgrade passes both itself.
    settings = load_settings()
    config.attributes.setdefault("secret_key", settings.secret_key)
    return settings.database_url


def run_migrations_offline() -> None:
    url = _url()
    context.configure(url=url, target_metadata=target_metadata, literal_binds=True, render_as_batch=url.startswith("sqlite"))
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(_url())
    with engine.connect() as connection:
        _run(connection)
    engine.dispose()


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
