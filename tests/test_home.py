"""The start page without a browser (tests/browser/test_e2e_home.py drives it in Chromium)."""

from __future__ import annotations

from datetime import date, timedelta

from campaigns.models import OfferStatus, Role, TagKind


def test_it_shows_an_advisor_only_their_own_calls_due_and_idle_contacts(client, session, factory):
    anna = factory.advisor(name="Анна Соколова")
    factory.contact(owner=anna, last_name="Смирнова", first_name="Елена", next_contact_on=date.today() - timedelta(days=2))
    factory.contact(owner=anna, last_name="Иванов", first_name="Пётр")
    factory.contact(last_name="Чужой", first_name="Клиент", next_contact_on=date.today())
    session.commit()
    client.login(anna)

    page = client.get("/").get_data(as_text=True)
    assert page.index("Горячий список") < page.index("Позвонить сегодня") < page.index("Не в работе")
    assert "Смирнова Елена" in page and "Иванов Пётр" in page
    assert "Чужой" not in page
    assert "2 контакта" in page
    assert "Пока никто не переходил по ссылкам" in page


def test_it_shows_marketing_the_mailings_of_the_next_30_days(client, session, factory):
    soon, later = date.today() + timedelta(days=12), date.today() + timedelta(days=200)
    tag = factory.tag("День химика", kind=TagKind.HOLIDAY, rule=_rule(soon), lead_days=0)
    factory.offer(tag=tag, year=soon.year, status=OfferStatus.READY)
    factory.tag("Далёкий праздник", kind=TagKind.HOLIDAY, rule=_rule(later), lead_days=0)
    maria = factory.advisor(role=Role.MARKETING)
    session.commit()
    client.login(maria)

    page = client.get("/").get_data(as_text=True)
    assert "Рассылки на ближайшие 30 дней" in page
    assert "День химика" in page and "готово" in page
    assert "Далёкий праздник" not in page


def _rule(day: date) -> str:
    """A fixed-date rule near `day` (never 29–31: not every month and year has them)."""
    months = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
    return f"{min(day.day, 28)} {months[day.month - 1]}"
