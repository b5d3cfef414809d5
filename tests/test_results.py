"""Results for marketing: counts per offer, tag and advisor; charts on the page."""

from __future__ import annotations

from campaigns import reports
from campaigns.models import Role
from tests.scenes import as_tuples, build_results


def test_it_counts_per_offer(session, factory):
    build_results(session, factory)
    rows = reports.by_offer(session, 2026)
    assert as_tuples(rows) == {
        "Медики 2026": (1, 1, 0, 0, 0, 0, 0),
        "Строители 2026": (5, 3, 1, 3, 2, 2, 1),
    }
    builders = next(r for r in rows if r.label == "Строители 2026")
    assert round(builders.click_rate, 3) == round(2 / 3, 3)


def test_it_counts_per_tag_over_all_years(session, factory):
    build_results(session, factory)
    assert as_tuples(reports.by_tag(session))["Строители"] == (6, 4, 1, 3, 2, 2, 1)


def test_it_counts_per_advisor(session, factory):
    build_results(session, factory)
    assert as_tuples(reports.by_advisor(session, 2026)) == {
        "Анна": (3, 2, 0, 2, 2, 1, 1),
        "Игорь": (3, 2, 1, 1, 0, 1, 0),
    }


def test_the_page_shows_tables_and_charts_to_marketing_only(client, session, factory):
    anna, _ = build_results(session, factory)
    marketing = factory.advisor(role=Role.MARKETING)
    session.commit()
    client.login(marketing)
    page = client.get("/results/?year=2026").get_data(as_text=True)
    assert "Строители 2026" in page and "<svg" in page and "66,7 %" in page
    assert "Сканеры отброшены" in page
    client.post_form("/logout")
    client.login(anna)
    assert client.get("/results/").status_code == 403
