"""`flask campaigns …` commands. Each prints one clear line on error."""
from __future__ import annotations

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from .db import db

group = AppGroup("campaigns", help="Campaign system commands.")


@group.command("migrate")
def migrate_command():
    """Upgrade the schema to the newest revision and seed the tag catalog."""
    from . import catalog, migrate

    migrate.upgrade(current_app.config["DATABASE_URL"])
    added = catalog.seed_tags(db.session)
    db.session.commit()
    click.echo(f"schema is up to date; {added} tags added")


@group.command("demo")
@click.option("--force", is_flag=True, help="load even when the database already has advisors")
def demo_command(force: bool):
    """Load the demo data set (advisors, ~300 contacts, offers, deliveries, clicks)."""
    from . import demo

    if not force and demo.has_data(db.session):
        click.echo("the database already has data; nothing loaded (use --force to add the demo anyway)")
        return
    summary = demo.load(db.session, current_app.config["SETTINGS"])
    db.session.commit()
    click.echo(summary)


@group.command("create-user")
@click.argument("email")
@click.argument("name")
@click.option("--role", type=click.Choice(["advisor", "marketing", "admin"]), default="advisor")
@click.password_option()
def create_user_command(email: str, name: str, role: str, password: str):
    """Create a user who can log in."""
    from email_validator import EmailNotValidError, validate_email

    from .models import Advisor, Role
    from .web.auth import hash_password

    try:
        email = validate_email(email, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise click.ClickException(f"EMAIL: {exc}") from None
    db.session.add(Advisor(email=email, name=name, role=Role(role), password_hash=hash_password(password)))
    db.session.commit()
    click.echo(f"created {role} {email}")


def register(app: Flask) -> None:
    app.cli.add_command(group)
