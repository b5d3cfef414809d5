"""The readiness board: audience, «Здравствуйте!!» count, offer state, per-advisor load."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import event

from campaigns.board import readiness_board
from campaigns.db import db
from campaigns.models import OfferStatus, Role, Suppression, SuppressionReason

# Строители: 2nd Sunday of August 2027 = 8 Aug, minus 21 days = Sun 18 Jul -> Fri 16 Jul.
TODAY = date(2027, 7, 1)
NOW = datetime(2027, 6, 1, tzinfo=UTC)


def _scene(factory):
    builders = factory.tag("Строители", rule="2 sun aug", lead_days=21)
    medics = factory.tag("Медики", rule="3 sun jun", lead_days=21)  # 28 May 2027: already past
    sailors = factory.tag("Моряки", rule="1 sun jul", lead_days=21)  # 11 Jun 2027: past
    march = factory.tag("Август", rule="workday1 aug", lead_days=0)  # 2 Aug 2027, no contacts
    anna = factory.advisor(name="Анна", daily_cap=2)
    boris = factory.advisor(name="Борис")
    gone = factory.advisor(name="Уволенный", active=False)
    house = factory.house_advisor()
    c = factory.contact
    c(owner=anna, tags=[builders], first_name="Олег")
    c(owner=anna, tags=[builders], first_name="!")  # «Здравствуйте!!»
    c(owner=anna, tags=[builders, medics], first_name="Кондрашов Василий Иванович")
    c(owner=boris, tags=[builders], first_name="Анна")
    c(owner=gone, tags=[builders], first_name="Ирина")  # goes out from the house advisor
    c(owner=boris, tags=[builders], first_name="Олег", unsubscribed_at=NOW)
    c(owner=boris, tags=[builders], first_name="Олег", archived_at=NOW)
    c(owner=boris, tags=[builders], first_name="Олег", email=None)
    suppressed = c(owner=boris, tags=[builders], first_name="Олег", email="bounced@client.example.com")
    factory.session.add(Suppression(email=suppressed.email, reason=SuppressionReason.BOUNCE))
    c(owner=boris, tags=[sailors], first_name="Олег")
    factory.offer(tag=builders, year=2027, status=OfferStatus.DRAFT)
    factory.session.flush()
    return {"builders": builders, "march": march, "anna": anna, "boris": boris, "house": house}


def test_it_counts_the_audience_fallbacks_and_advisor_load(factory, session, settings):
    s = _scene(factory)
    rows = readiness_board(session, settings, TODAY)
    by_tag = {row.tag.name: row for row in rows}
    # Closed and far mailings are not on the board; «Моряки» (due 11 Jun, occasion 4 Jul) still waits for its offer.
    assert set(by_tag) == {"Строители", "Август", "Моряки"}
    assert (by_tag["Моряки"].state, by_tag["Моряки"].audience, by_tag["Моряки"].days_to_go) == ("waiting", 1, -20)
    assert [row.state for row in rows].index("waiting") == 0  # the most urgent first

    builders = by_tag["Строители"]
    assert builders.send_on == date(2027, 7, 16) and builders.days_to_go == 15
    assert builders.audience == 5  # unsubscribed, archived, address-less and suppressed are left out
    assert builders.fallback == 1
    assert builders.status == "draft"
    loads = {load.name: (load.mails, load.per_day, load.working_days) for load in builders.advisors}
    assert loads == {
        "Анна": (3, 2, 2),  # her cap is 2 a day: 3 mails spread over 2 working days
        "Борис": (1, 1, 1),
        s["house"].name: (1, 1, 1),
    }

    august = by_tag["Август"]
    assert (august.audience, august.fallback, august.status, august.advisors) == (0, 0, "missing", [])


def test_it_runs_one_contact_query_however_large_the_audience(factory, session, settings):
    tag = factory.tag("Строители", rule="2 sun aug", lead_days=21)
    owner = factory.advisor()

    def statements() -> int:
        seen = []
        listener = lambda *args: seen.append(args[2])  # noqa: E731
        event.listen(db.engine, "before_cursor_execute", listener)
        try:
            rows = readiness_board(session, settings, TODAY)
        finally:
            event.remove(db.engine, "before_cursor_execute", listener)
        return len(seen), rows[0].audience

    for _ in range(3):
        factory.contact(owner=owner, tags=[tag])
    few = statements()
    for n in range(40):
        factory.contact(owner=owner, tags=[tag], first_name=f"Имя{n}")
    many = statements()
    assert (few[1], many[1]) == (3, 43)
    assert few[0] == many[0]


def test_the_board_page_shows_the_numbers(client, factory, session):
    _scene(factory)
    user = factory.advisor(role=Role.MARKETING)
    session.commit()
    client.login(user)
    page = client.get("/board?from=2027-07-01").get_data(as_text=True)
    row = page.split('data-tag="Строители"')[1].split("</tr>")[0]
    assert '<td class="audience">5</td>' in row and '<td class="fallback">1</td>' in row
    assert "черновик" in row
    assert "Анна: 3 письма" in row and "по 2 в день, 2 рабочих дня" in row
