"""Results for marketing: counts per offer, tag and advisor; charts on the page."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from campaigns import reports
from campaigns.models import Click, Delivery, DeliveryStatus, Link, Note, NoteKind, Role, Verdict

SENT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def build(session, factory):
    anna, igor = factory.advisor(name="Анна"), factory.advisor(name="Игорь")
    builders, medics = factory.tag("Строители"), factory.tag("Медики")
    offer_b, offer_m = factory.offer(tag=builders, year=2026), factory.offer(tag=medics, year=2026)
    old = factory.offer(tag=builders, year=2025)
    link = Link(offer=offer_b, name="discount", url="https://g.example.com/d", label="Скидка", weight=3)
    session.add(link)

    def delivery(offer, owner, status=DeliveryStatus.SENT, sender=True):
        d = Delivery(
            offer=offer,
            contact=factory.contact(owner=owner),
            send_on=date(offer.year, 3, 2),
            status=status,
            advisor=owner if sender and status == DeliveryStatus.SENT else None,
            sent_at=SENT if status == DeliveryStatus.SENT else None,
        )
        session.add(d)
        session.flush()
        return d

    def click(d, verdict, minutes):
        session.add(
            Click(
                delivery=d,
                link=link,
                contact_id=d.contact_id,
                clicked_at=SENT + timedelta(minutes=minutes),
                verdict=verdict,
                reason="test",
            )
        )

    b1, b2, b3 = delivery(offer_b, anna), delivery(offer_b, anna), delivery(offer_b, igor)
    delivery(offer_b, igor, DeliveryStatus.FAILED)
    delivery(offer_b, anna, DeliveryStatus.PLANNED)
    click(b1, Verdict.HUMAN, 60)
    click(b1, Verdict.HUMAN, 90)
    click(b1, Verdict.BOT, 0)
    click(b2, Verdict.BOT, 0)
    click(b3, Verdict.HUMAN, 120)
    session.add(Note(contact_id=b2.contact_id, kind=NoteKind.UNSUBSCRIBE, body="Отписался", delivery_id=b2.id))
    delivery(offer_m, igor)
    delivery(old, anna)
    session.commit()
    return anna, igor


def as_tuples(rows):
    return {r.label: (r.planned, r.sent, r.failed, r.human_clicks, r.bot_clicks, r.clickers, r.unsubscribes) for r in rows}


def test_it_counts_per_offer(session, factory):
    build(session, factory)
    rows = reports.by_offer(session, 2026)
    assert as_tuples(rows) == {
        "Медики 2026": (1, 1, 0, 0, 0, 0, 0),
        "Строители 2026": (5, 3, 1, 3, 2, 2, 1),
    }
    builders = next(r for r in rows if r.label == "Строители 2026")
    assert round(builders.click_rate, 3) == round(2 / 3, 3)


def test_it_counts_per_tag_over_all_years(session, factory):
    build(session, factory)
    assert as_tuples(reports.by_tag(session))["Строители"] == (6, 4, 1, 3, 2, 2, 1)


def test_it_counts_per_advisor(session, factory):
    build(session, factory)
    assert as_tuples(reports.by_advisor(session, 2026)) == {
        "Анна": (3, 2, 0, 2, 2, 1, 1),
        "Игорь": (3, 2, 1, 1, 0, 1, 0),
    }


def test_the_page_shows_tables_and_charts_to_marketing_only(client, session, factory):
    anna, _ = build(session, factory)
    marketing = factory.advisor(role=Role.MARKETING)
    session.commit()
    client.login(marketing)
    page = client.get("/results/?year=2026").get_data(as_text=True)
    assert "Строители 2026" in page and "<svg" in page and "66,7 %" in page
    assert "Сканеры отброшены" in page
    client.post_form("/logout")
    client.login(anna)
    assert client.get("/results/").status_code == 403
