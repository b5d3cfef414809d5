"""`flask campaigns …` commands. Each prints one clear line on error."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError, ProgrammingError

from . import accounts, calendar, catalog, deliveries, demo, dispatch, dns_records, migrate, pacing, planner, privacy, reconcile
from .config import ConfigError, current_settings, masked_url
from .db import db, utcnow
from .models import Advisor, Role, Tag
from .sender import house_advisor


class _BadUsage(click.ClickException):
    exit_code = 2  # what click gives a usage error


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return masked_url(text.splitlines()[0] if text else type(exc).__name__)


class _OneLineErrors(AppGroup):
    """Every error of a command is one line on stderr and a non-zero exit, never a traceback:
    a wrong argument (exit 2), a database without the schema, a database or Redis out of reach."""

    def invoke(self, ctx: click.Context):

        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            raise _BadUsage(exc.format_message()) from None
        except (OperationalError, ProgrammingError) as exc:
            message = _first_line(exc)
            if "no such table" in message or ("relation" in message and "does not exist" in message):
                raise click.ClickException(f"the database has no schema yet ({message}): run `flask campaigns migrate`") from None
            raise click.ClickException(f"DATABASE_URL: cannot reach the database ({message})") from None
        except (RedisConnectionError, RedisTimeoutError) as exc:
            raise click.ClickException(f"REDIS_URL: cannot reach Redis ({_first_line(exc)})") from None
        except ConfigError as exc:
            raise click.ClickException(str(exc)) from None


group = _OneLineErrors("campaigns", help="Campaign system commands.")


@group.command("migrate")
def migrate_command():
    """Upgrade the schema to the newest revision and seed the tag catalog."""

    settings = current_settings()
    migrate.upgrade(settings.database_url, secret_key=settings.secret_key)
    added = catalog.seed_tags(db.session)
    db.session.commit()
    click.echo(f"schema is up to date; {added} tags added")

    if house_advisor(db.session) is None:
        click.echo(
            "no house advisor yet: mail to contacts of a deactivated advisor has no sender. Set one up:\n"
            '  flask --app wsgi campaigns create-user tupin@studio.ru "Василий Тупин" --house\n'
            "or make an existing advisor the house advisor:\n"
            "  flask --app wsgi campaigns house EMAIL\n"
            "and name who gets his hot contacts (e.g. the head of sales):\n"
            "  flask --app wsgi campaigns house-hot EMAIL"
        )


@group.command("demo")
@click.option("--force", is_flag=True, help="load even when the database already has advisors")
def demo_command(force: bool):
    """Load the demo data set (advisors, ~300 contacts, offers, deliveries, clicks)."""

    if not force and demo.has_data(db.session):
        click.echo("the database already has data; nothing loaded (use --force to add the demo anyway)")
        return
    summary = demo.load(db.session, current_settings())
    db.session.commit()
    click.echo(summary)


@group.command("create-user")
@click.argument("email")
@click.argument("name")
@click.option("--role", type=click.Choice(["advisor", "marketing", "admin"]), default="advisor")
@click.option("--signature", default=None, help='how their mails end (default: "С уважением,\\nNAME"); \\n for a new line')
@click.option("--phone", default=None)
@click.option("--house", is_flag=True, help="make this advisor the house advisor (replaces the current one)")
@click.password_option()
def create_user_command(email: str, name: str, role: str, signature: str | None, phone: str | None, house: bool, password: str):
    """Create a user who can log in (the same checks as the admin's form)."""

    if house and role != "advisor":
        raise click.ClickException("--house: the house advisor must have the role advisor")
    try:
        user = accounts.create_user(
            db.session,
            email=email,
            name=name,
            role=role,
            password=password,
            phone=phone,
            signature=signature.replace("\\n", "\n") if signature else None,
        )
        if house:
            accounts.make_house(db.session, user)
    except accounts.AccountError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from None
    db.session.commit()
    click.echo(f"created {role} {user.email}" + (" (the house advisor)" if house else ""))


@group.command("house")
@click.argument("email")
def house_command(email: str):
    """Make an active advisor the house advisor (the sender and default heir for deactivated advisors' contacts)."""

    user = accounts.find_by_email(db.session, email)
    if user is None:
        raise click.ClickException(f"EMAIL: no user {email}")
    try:
        previous = accounts.make_house(db.session, user)
    except accounts.AccountError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from None
    db.session.commit()
    click.echo(f"{user.email} is the house advisor" + (f"; {previous.email} is an ordinary advisor again" if previous else ""))


@group.command("house-hot")
@click.argument("email")
@click.option("--off", is_flag=True, help="stop sending them the house advisor's hot contacts")
def house_hot_command(email: str, off: bool):
    """Send the house advisor's hot contacts (clicks, replies) to this user: hot list and digest."""

    user = accounts.find_by_email(db.session, email)
    if user is None:
        raise click.ClickException(f"EMAIL: no user {email}")
    if user.is_house:
        raise click.ClickException("EMAIL: that is the house advisor himself")
    user.watches_house = not off
    db.session.commit()
    click.echo(f"{user.email} {'no longer gets' if off else 'gets'} the house advisor's hot contacts")


@group.command("set-password")
@click.argument("email")
@click.password_option()
def set_password_command(email: str, password: str):
    """Give a user a new password; every session of theirs ends (all devices, "remember me" too)."""

    user = accounts.find_by_email(db.session, email)
    if user is None:
        raise click.ClickException(f"EMAIL: no user {email}")
    try:
        accounts.set_password(db.session, user, password)
    except accounts.AccountError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from None
    db.session.commit()
    click.echo(f"password changed for {user.email}; their sessions have ended")


@group.command("erase")
@click.argument("email")
@click.option("--by", "admin_email", default=None, help="the admin recorded as having erased (default: the server's console)")
@click.option("--yes", is_flag=True, help="do not ask for confirmation")
def erase_command(email: str, admin_email: str | None, yes: bool):
    """Erase a person's data on their request (152-FZ), as admin's «Удалить данные» does: personal fields
    of every contact at EMAIL, and any import still holding them; the address stays on the stop list as a hash."""

    admin = None
    if admin_email is not None:
        admin = accounts.find_by_email(db.session, admin_email)
        if admin is None or admin.role != Role.ADMIN or not admin.active:
            raise click.ClickException(f"--by: no active admin {admin_email}")
    people = [c for c in privacy.contacts_at(db.session, email) if c.erased_at is None]
    if not people:
        raise click.ClickException(f"EMAIL: no contact at {email} (or already erased)")
    if not yes:
        click.confirm(f"erase {len(people)} contact(s) at {email}? this cannot be undone", abort=True)
    for contact in people:
        privacy.erase(db.session, admin, contact)
    db.session.commit()
    click.echo(f"erased {len(people)} contact(s) at {email}; the address stays on the stop list only as a hash")


@group.command("dns")
@click.option("--timeout", type=float, default=3.0, show_default=True, help="seconds per DNS question")
def dns_command(timeout: float):
    """The DNS records to publish (DKIM, SPF, DMARC; MX for INBOUND_URL) and whether they are published."""

    settings = current_settings()
    domains = sorted(
        {
            d
            for d in db.session.scalars(select(func.lower(Advisor.email)).where(Advisor.active.is_(True)))
            if d and "@" in d
            for d in [d.rsplit("@", 1)[1]]
        }
    )
    records = dns_records.records(settings, domains)
    if not (settings.dkim_private_key and settings.dkim_selector):
        click.echo(
            "DKIM: no DKIM_SELECTOR / DKIM_PRIVATE_KEY: mail goes out unsigned; make a key:\n"
            "  openssl genrsa -out dkim.pem 2048, then DKIM_SELECTOR=mail2026 DKIM_PRIVATE_KEY=dkim.pem"
        )
    click.echo(f"Publish (advisors' domains: {', '.join(domains) or 'none yet'}; MAIL_DOMAIN: {settings.mail_domain}):")
    for check in dns_records.check(records, timeout=timeout):
        record = check.record
        status = check.status + (f": {check.found}" if check.status in ("differs", "could not check") and check.found else "")
        click.echo(f'  {record.name} {record.type} "{record.value}"  [{status}]')
        click.echo(f"      {record.why}")
    advice = dns_records.public_url_advice(settings, domains)
    if advice:
        click.echo(advice)
    for warning in dns_records.startup_warnings(settings):
        click.echo(f"warning: {warning}")


def register(app: Flask) -> None:
    app.cli.add_command(group)


@group.command("calendar")
@click.argument("year", type=click.IntRange(2000, 2100))
def calendar_command(year: int):
    """Print every tag's occurrence and send date for YEAR, by send date."""

    tags = db.session.scalars(select(Tag).order_by(Tag.name)).all()
    if not tags:
        raise click.ClickException("no tags in the database; run `flask campaigns migrate` to seed the catalog")
    weekdays = ("пн", "вт", "ср", "чт", "пт", "сб", "вс")
    width = max(len(tag.name) for tag in tags)
    for tag, occurrence, send_on in calendar.year_calendar(tags, year):
        click.echo(
            f"{send_on.isoformat()} {weekdays[send_on.weekday()]}  {tag.name:<{width}}  "
            f'day {occurrence.isoformat()} {weekdays[occurrence.weekday()]}  rule "{tag.rule}", lead {tag.lead_days} d'
        )


# --- the delivery pipeline: plan, queue ----------------------------------------------


def _local_today():

    return utcnow().astimezone(current_settings().timezone).date()


@group.command("plan")
@click.option("--date", "day", type=click.DateTime(formats=["%Y-%m-%d"]), help="the day to plan (default: today)")
@click.option("--dry-run", is_flag=True, help="print what would go out that day, per advisor, without writing")
def plan_command(day, dry_run: bool):
    """Plan the mailings due on a day (running it twice plans once)."""

    settings = current_settings()
    day = day.date() if day else _local_today()
    result = planner.plan_day(db.session, day, settings, dry_run=dry_run)
    if dry_run:
        db.session.rollback()
        click.echo(f"{day.isoformat()} (dry run): what would go out, per advisor")
        if not result.advisors:
            click.echo("  nothing")
        for row in result.advisors:
            click.echo(
                f"  {row.name:<30} {row.going:>4} out (cap {row.cap}), {row.rolled:>4} rolled to the next "
                f"working day, {row.held:>4} held (offer not ready)"
            )
        return
    paced = pacing.pace_day(db.session, day, settings)
    db.session.commit()
    click.echo(f"{result.summary()}; paced {paced.paced}, rolled over {paced.rolled}")


@group.command("queue")
@click.option("--retry", "retry_id", type=int, help="send this failed (or unknown) delivery again")
@click.option("--mark-sent", "mark_sent_id", type=int, help="take this unknown delivery as sent")
@click.option("--limit", default=20, show_default=True, help="rows per list")
def queue_command(retry_id: int | None, mark_sent_id: int | None, limit: int):
    """Show the delivery queue: counts, then planned, held, queued, retrying, sent today, failed, unknown."""

    settings = current_settings()
    if retry_id or mark_sent_id:
        action, delivery_id = (deliveries.retry, retry_id) if retry_id else (deliveries.mark_sent, mark_sent_id or 0)
        if not action(db.session, delivery_id, None):
            raise click.ClickException(f"delivery {delivery_id} is not failed/unknown (see `flask campaigns queue`)")
        click.echo(f"delivery {delivery_id}: {'queued again' if retry_id else 'taken as sent'}")
        return
    view = deliveries.queue_view(db.session, settings, limit=limit)
    click.echo("  ".join(f"{name} {count}" for name, count in view.counts.items()))
    tz = settings.timezone

    def when(moment):
        return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M") if moment else "-"

    def line(d, extra=""):
        return f"  #{d.id:<7} {d.contact.email or '-':<35} {d.offer.tag.name} {d.offer.year:<6} {extra}"

    sections = [
        ("planned", lambda d: f"on {d.send_on} at {when(d.send_at)}"),
        ("queued", lambda d: f"{d.status.value} since {when(d.updated_at)}"),
        ("retrying", lambda d: f"attempt {d.attempts}, next {when(d.next_attempt_at)}: {d.last_error}"),
        ("sent_today", lambda d: f"at {when(d.sent_at)} from {d.advisor.name if d.advisor else '-'}"),
        ("failed", lambda d: f"{d.last_error}"),
        ("unknown", lambda d: f"claimed {when(d.claimed_at)}: {d.last_error} (review: --retry ID or --mark-sent ID)"),
    ]
    for name, describe in sections:
        rows = view.lists[name]
        if rows:
            click.echo(f"{name}:")
            for d in rows:
                click.echo(line(d, describe(d)))
    if view.held_offers:
        click.echo("held (offer not ready):")
        for offer, tag_name, count in view.held_offers:
            click.echo(f"  offer #{offer.id} {tag_name} {offer.year}: {count} waiting")


@group.command("dispatch")
def dispatch_command():
    """Queue the deliveries that are due now (the scheduler does this every 30 s)."""

    click.echo(f"queued {dispatch.dispatch(db.session, current_settings())}")


@group.command("reconcile")
def reconcile_command():
    """Repair after a Redis flush or a dead worker (the scheduler does this every 5 min)."""

    result = reconcile.reconcile(db.session, current_settings())
    click.echo(f"unknown {result.unknown}, requeued {result.requeued}, dispatched {result.dispatched}")
