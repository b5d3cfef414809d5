"""`flask campaigns calendar YEAR` and the calendar page."""

from __future__ import annotations

from campaigns import catalog
from campaigns.models import Role


def _run(app, *args):
    return app.test_cli_runner().invoke(args=["campaigns", "calendar", *args])


def test_it_prints_every_seeded_tag_with_its_2027_send_date(app, session):
    catalog.seed_tags(session)
    session.commit()
    result = _run(app, "2027")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) == len(catalog.TAGS)
    by_tag = {line.split()[2]: line for line in lines}
    assert by_tag["Моряки"].startswith("2027-06-11 пт")  # 13 Jun -> Sat 12 Jun (Russia Day) -> Fri 11 Jun
    assert "day 2027-07-04 вс" in by_tag["Моряки"]
    assert by_tag["Автотранспорт"].startswith("2027-10-08 пт")
    assert by_tag["Май"].startswith("2027-05-04 вт")  # 1 May is Saturday, its day off moves to Mon 3 May
    assert by_tag["Айти"].startswith("2027-08-23 пн")
    assert [line[:10] for line in lines] == sorted(line[:10] for line in lines)


def test_it_says_what_to_do_when_there_are_no_tags(app, session):
    result = _run(app, "2027")
    assert result.exit_code != 0
    assert "flask campaigns migrate" in result.output


def test_it_refuses_a_year_out_of_range(app, session):
    assert _run(app, "99").exit_code != 0


def test_the_calendar_page_shows_weekday_and_days_to_go(client, factory, session):
    catalog.seed_tags(session)
    user = factory.advisor(role=Role.MARKETING)
    session.commit()
    client.login(user)
    page = client.get("/calendar?year=2027").get_data(as_text=True)
    assert "11 июня 2027 г.</td>" in page or "11 июня 2027</td>" in page
    assert "пт" in page and "дней" in page
