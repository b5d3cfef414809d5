"""Every `flask campaigns …` command: what it does, and a wrong input or a missing service
answered with one line and a non-zero exit, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from datetime import date

import pytest
from redis import Redis
from sqlalchemy import func, select

from campaigns import cli
from campaigns.config import ROOT
from campaigns.db import keyed_address_hash
from campaigns.models import Advisor, Contact, Delivery, DeliveryStatus, Role, Suppression, Tag
from tests.scenes import YEAR, due_delivery, due_tag
from tests.support import PASSWORD, process_env

COMMANDS = {
    "migrate",
    "demo",
    "create-user",
    "house",
    "house-hot",
    "set-password",
    "erase",
    "dns",
    "calendar",
    "plan",
    "queue",
    "dispatch",
    "reconcile",
}


def run(app, *args: str, input: str | None = None):
    return app.test_cli_runner().invoke(args=["campaigns", *args], input=input)


def assert_one_line_error(result, *fragments: str, exit_code: int | None = None) -> str:
    assert result.exit_code != 0, result.output
    if exit_code is not None:
        assert result.exit_code == exit_code, result.output
    assert isinstance(result.exception, SystemExit), result.exception  # an error said, not an exception raised
    assert "Traceback" not in result.output
    [line] = [line for line in result.output.splitlines() if line.strip()]
    for fragment in fragments:
        assert fragment in line, line
    return line


def flask(env: dict, *args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    """The real command line, as an operator types it."""
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "campaigns", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_this_file_covers_every_command():
    assert set(cli.group.commands) == COMMANDS


# --- what each command does ---------------------------------------------------------------


def test_migrate_seeds_the_tag_catalog_once(app, session):
    first, second = run(app, "migrate"), run(app, "migrate")

    assert first.exit_code == 0, first.output
    count = session.scalar(select(func.count(Tag.id)))
    assert count > 0 and first.output.splitlines()[0] == f"schema is up to date; {count} tags added"
    assert second.output.splitlines()[0] == "schema is up to date; 0 tags added"


@pytest.mark.slow
def test_demo_loads_the_demo_once(app, session):
    first = run(app, "demo")
    users = session.scalar(select(func.count(Advisor.id)))
    second = run(app, "demo")

    assert first.exit_code == 0, first.output
    assert first.output.startswith("demo data loaded: 4 advisors, 300 contacts")
    assert second.exit_code == 0 and "nothing loaded" in second.output
    assert session.scalar(select(func.count(Advisor.id))) == users > 4  # advisors, marketing and admin, once


def test_create_user_creates_one_who_can_log_in(app, session, client):
    result = run(
        app, "create-user", "Olga@Studio.example.com", "Ольга Крылова", "--role", "marketing", input=f"{PASSWORD}\n{PASSWORD}\n"
    )

    assert result.exit_code == 0, result.output
    assert result.output.strip().endswith("created marketing olga@studio.example.com")
    user = session.scalar(select(Advisor).where(Advisor.email == "olga@studio.example.com"))
    assert user.role == Role.MARKETING
    client.login(user)


def test_house_makes_an_advisor_the_house_advisor_and_house_hot_sends_them_to_a_user(app, session, factory):
    advisor, admin = factory.advisor(), factory.advisor(role=Role.ADMIN)
    session.commit()
    advisor_id, admin_id = advisor.id, admin.id

    house, hot = run(app, "house", advisor.email), run(app, "house-hot", admin.email)

    assert (house.exit_code, house.output.strip()) == (0, f"{advisor.email} is the house advisor")
    assert (hot.exit_code, hot.output.strip()) == (0, f"{admin.email} gets the house advisor's hot contacts")
    assert session.get(Advisor, advisor_id, populate_existing=True).is_house
    assert session.get(Advisor, admin_id, populate_existing=True).watches_house


def test_house_and_house_hot_refuse_in_one_line(app, session, factory):
    house, marketing = factory.house_advisor(), factory.advisor(role=Role.MARKETING)
    session.commit()

    assert_one_line_error(run(app, "house", "nobody@studio.example.com"), "no user nobody@studio.example.com", exit_code=1)
    assert_one_line_error(run(app, "house", marketing.email), exit_code=1)
    assert_one_line_error(run(app, "house-hot", house.email), "the house advisor himself", exit_code=1)
    assert_one_line_error(run(app, "house-hot"), "Missing argument 'EMAIL'", exit_code=2)


def test_set_password_gives_a_new_password(app, session, factory, client):
    user = factory.advisor()
    session.commit()

    result = run(app, "set-password", user.email, input="новый пароль 2026\nновый пароль 2026\n")

    assert result.exit_code == 0, result.output
    assert result.output.strip().endswith(f"password changed for {user.email}; their sessions have ended")
    client.login(user, password="новый пароль 2026")


def test_erase_erases_the_person_as_the_page_does(app, session, factory, settings):
    contact = factory.contact(email="ivanov@client.example.com", last_name="Иванов", phone="+79161234567")
    session.commit()
    contact_id = contact.id

    result = run(app, "erase", "Ivanov@Client.example.com", "--yes")

    assert result.exit_code == 0, result.output
    assert result.output.strip() == (
        "erased 1 contact(s) at Ivanov@Client.example.com; the address stays on the stop list only as a hash"
    )
    session.expire_all()
    erased = session.get(Contact, contact_id)
    assert erased.erased_at and erased.email is None and erased.phone is None and erased.last_name == ""
    emails = set(session.scalars(select(Suppression.email)))
    assert emails == {keyed_address_hash("ivanov@client.example.com", settings.secret_key)}
    [note] = [n for n in erased.notes if "152-ФЗ" in n.body]
    assert "с консоли сервера" in note.body and note.author_id is None


def test_erase_names_the_admin_given_and_asks_first(app, session, factory):
    admin = factory.advisor(role=Role.ADMIN, name="Ирина Админова")
    contact = factory.contact(email="ivanov@client.example.com")
    session.commit()

    declined = run(app, "erase", contact.email, "--by", admin.email, input="n\n")
    assert declined.exit_code != 0 and session.get(Contact, contact.id).erased_at is None
    result = run(app, "erase", contact.email, "--by", admin.email, input="y\n")

    assert result.exit_code == 0, result.output
    session.expire_all()
    [note] = [n for n in session.get(Contact, contact.id).notes if "152-ФЗ" in n.body]
    assert "Ирина Админова" in note.body and note.author_id == admin.id


def test_dns_lists_the_records_to_publish(app, session, factory):
    factory.advisor(email="anna@studio.example.com")
    session.commit()

    result = run(app, "dns", "--timeout", "0.2")

    assert result.exit_code == 0, result.output
    assert "Publish (advisors' domains: studio.example.com;" in result.output


def test_calendar_prints_the_send_dates_of_a_year(app, session):
    run(app, "migrate")

    result = run(app, "calendar", "2027")

    assert result.exit_code == 0, result.output
    assert any(line.startswith("2027-") and "rule " in line for line in result.output.splitlines())


def test_plan_plans_and_paces_the_mails_of_a_day(app, session, factory):
    tag, day = due_tag(factory)
    factory.offer(tag=tag, year=YEAR)
    factory.contact(tags=[tag])
    session.commit()

    result = run(app, "plan", "--date", day.isoformat())

    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"{day.isoformat()}: planned 1,")
    assert session.scalar(select(func.count(Delivery.id))) == 1


def test_queue_shows_the_counts_and_the_rows(app, session, factory):
    delivery = due_delivery(factory, session)

    result = run(app, "queue")

    assert result.exit_code == 0, result.output
    assert "planned 1" in result.output.splitlines()[0]
    assert f"#{delivery.id}" in result.output


def test_dispatch_and_reconcile_queue_what_is_due(app, session, factory):
    delivery = due_delivery(factory, session)
    delivery_id = delivery.id

    dispatched, reconciled = run(app, "dispatch"), run(app, "reconcile")

    assert (dispatched.exit_code, dispatched.output.strip()) == (0, "queued 1")
    assert (reconciled.exit_code, reconciled.output.strip()) == (0, "unknown 0, requeued 0, dispatched 0")
    assert session.get(Delivery, delivery_id, populate_existing=True).status == DeliveryStatus.QUEUED


# --- wrong input: one line, non-zero --------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "fragments", "exit_code"),
    [
        (["migrate", "--force"], ["No such option '--force'"], 2),
        (["demo", "--forse"], ["No such option '--forse'"], 2),
        (["create-user", "not-an-address", "Анна", "--password", "длинный пароль 1"], ["@"], 1),
        (
            ["create-user", "anna@studio.example.com", "Анна", "--role", "boss", "--password", "длинный пароль 1"],
            ["'--role'", "boss"],
            2,
        ),
        (["create-user", "anna@studio.example.com", "Анна", "--password", "abc"], ["ароль"], 1),
        (["create-user"], ["Missing argument 'EMAIL'"], 2),
        (
            ["set-password", "nobody@studio.example.com", "--password", "длинный пароль 1"],
            ["no user nobody@studio.example.com"],
            1,
        ),
        (["dns", "--timeout", "soon"], ["'--timeout'", "soon"], 2),
        (["calendar", "1999"], ["'YEAR'", "1999"], 2),
        (["calendar", "2027"], ["flask campaigns migrate"], 1),  # no tags yet
        (["plan", "--date", "2026-13-45"], ["'--date'", "2026-13-45"], 2),
        (["queue", "--retry", "999"], ["delivery 999 is not failed/unknown"], 1),
        (["queue", "--limit", "many"], ["'--limit'", "many"], 2),
        (["dispatch", "now"], ["unexpected extra argument (now)"], 2),
        (["reconcile", "--all"], ["No such option '--all'"], 2),
    ],
)
def test_a_wrong_input_is_one_line_and_a_non_zero_exit(app, session, args, fragments, exit_code):
    assert_one_line_error(run(app, *args), *fragments, exit_code=exit_code)


def test_set_password_refuses_a_short_password_in_one_line(app, session, factory):
    user = factory.advisor()
    session.commit()

    assert_one_line_error(run(app, "set-password", user.email, "--password", "abc"), "ароль", exit_code=1)


def test_erase_refuses_an_unknown_address_and_a_non_admin_in_one_line(app, session, factory):
    advisor = factory.advisor()
    contact = factory.contact(email="ivanov@client.example.com")
    session.commit()

    assert_one_line_error(run(app, "erase", "nobody@client.example.com", "--yes"), "EMAIL", exit_code=1)
    assert_one_line_error(run(app, "erase", contact.email, "--by", advisor.email, "--yes"), "--by", exit_code=1)
    session.expire_all()
    assert session.get(Contact, contact.id).erased_at is None


def test_create_user_refuses_an_address_taken_in_another_case(app, session, factory):
    factory.advisor(email="anna@studio.example.com")
    session.commit()

    result = run(app, "create-user", "Anna@Studio.example.com", "Анна", "--password", "длинный пароль 1")

    assert_one_line_error(result, exit_code=1)
    assert session.scalar(select(func.count(Advisor.id))) == 1


@pytest.mark.parametrize("command", ["dispatch", "reconcile"])
def test_redis_out_of_reach_is_one_line(app, session, factory, monkeypatch, tmp_path, command):
    due_delivery(factory, session)
    monkeypatch.setitem(
        app.extensions, "campaigns_redis", Redis.from_url(f"unix://{tmp_path / 'no-redis.sock'}", socket_timeout=1)
    )

    assert_one_line_error(run(app, command), "REDIS_URL: cannot reach Redis", exit_code=1)


# --- the real command line: a database without the schema, or out of reach, a wrong setting ----


@pytest.mark.slow
def test_from_the_command_line_a_missing_schema_or_database_or_a_wrong_setting_is_one_line(settings, tmp_path):
    empty = process_env(settings, DATABASE_URL=f"sqlite:///{tmp_path / 'empty.db'}")
    gone = process_env(settings, DATABASE_URL=f"sqlite:///{tmp_path / 'no-such-folder' / 'x.db'}")
    wrong = process_env(settings, WORK_HOURS="all day")

    for env, args, expected in [
        (empty, ["queue"], "Error: the database has no schema yet (no such table: deliveries): run `flask campaigns migrate`"),
        (empty, ["demo"], "run `flask campaigns migrate`"),
        (gone, ["migrate"], "Error: DATABASE_URL: cannot reach the database (unable to open database file)"),
        (wrong, ["queue"], "error: WORK_HOURS: 'all day' must look like 09:30-18:00"),
        (empty, ["calendar", str(date.today().year + 200)], "Error: Invalid value for 'YEAR'"),
    ]:
        done = flask(env, *args)
        assert done.returncode != 0, (args, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr, done.stderr
        assert done.stderr.strip().splitlines() == [done.stderr.strip().splitlines()[0]], done.stderr
        assert expected in done.stderr, done.stderr
