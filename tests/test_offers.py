"""Offers: sandboxed templates, the lint, draft → ready, the editor, preview, test send, the catalog."""

from __future__ import annotations

import dataclasses
import io
import re
from datetime import UTC, date, datetime, timedelta
from email import message_from_bytes
from email import policy as email_policy
from html import unescape

import pytest
from sqlalchemy import select

from campaigns import offer_lint, offers, template_sandbox
from campaigns.config import parse_mail_url
from campaigns.models import Link, Offer, OfferStatus, Tag, TagKind
from tests.scenes import GOOD_BODY, marketing_user, offer_with_links

# ----------------------------------------------------------------- sandbox


@pytest.mark.parametrize(
    "body",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ greeting._secret }}",
        "{{ greeting['__class__'] }}",
        "{{ greeting|attr('__class__') }}",
        "{{ self.__init__ }}",
        "{% include 'base.html' %}",
    ],
)
def test_it_refuses_a_template_that_reaches_for_python_internals(body):
    offer = Offer(subject="Тема", body=body, year=2027)
    with pytest.raises(template_sandbox.OfferTemplateError) as caught:
        template_sandbox.render_offer(offer, {"greeting": "Здравствуйте!!"})
    assert re.search("внутренностям Python|подключать другие шаблоны", str(caught.value))
    assert template_sandbox.check_template(body)


def test_it_refuses_a_memory_bomb():
    offer = Offer(subject="Тема", body="{{ 'x' * 1000000000 }}", year=2027)
    with pytest.raises(template_sandbox.OfferTemplateError, match="повторение"):
        template_sandbox.render_offer(offer, {})


def test_it_renders_a_plain_letter_with_the_documented_variables():
    offer = Offer(
        subject="Подарки  для\n{{ company }}", body="{{ greeting }}\n{{ advisor.name }}, {{ tag.name }} {{ year }}", year=2027
    )
    subject, body = template_sandbox.render_offer(offer, template_sandbox.sample_variables(offer))
    assert subject == "Подарки для Тойота"
    assert body == "Здравствуйте, Василий Иванович!\nАнна Смирнова, Строители 2027"


def test_it_reports_an_unknown_variable_by_name():
    offer = Offer(subject="Тема", body="{{ greeting }} {{ client_name }}", year=2027)
    with pytest.raises(template_sandbox.OfferTemplateError, match="«client_name»"):
        template_sandbox.render_offer(offer, {"greeting": "Здравствуйте!!"})


def test_the_variables_are_documented_in_russian():
    documented = set(template_sandbox.VARIABLES)
    assert {"greeting", "company", "advisor.phone", "advisor.signature", "catalog", "unsubscribe_url"} <= documented
    assert all(re.search("[а-я]", text) for text in template_sandbox.VARIABLES.values())


# -------------------------------------------------------------------- lint


def test_a_good_offer_has_no_lint_problems(factory):
    assert offer_lint.lint_offer(offer_with_links(factory)) == []


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"body": "   "}, "не будет текстовой части"),
        ({"body": GOOD_BODY + "{{ links.gift }}"}, "«links.gift»"),
        ({"body": GOOD_BODY + "{{ contact.age }}"}, "«contact.age»"),
        ({"body": GOOD_BODY + "{{ client }}"}, "«client»"),
        ({"body": GOOD_BODY + "Подробнее: https://gifts.example.com/promo"}, "не отслеживаются"),
        ({"body": GOOD_BODY + "{% if %}"}, "Ошибка в шаблоне"),
        ({"body": GOOD_BODY + "{{ ''.__class__ }}"}, "внутренностям Python"),
        ({"subject": ""}, "Тема письма пуста"),
        ({"subject": "Новогодние подарки для {{ company }}: каталог, скидки и подарки с логотипом вашей компании"}, "длиннее 78"),
        ({"links": [("catalog", "https://gifts.example.com/c", 1), ("discount", "htp:/broken", 3)]}, "Ссылка «discount»"),
        (
            {"links": [("catalog", "https://gifts .example.com/c", 1), ("discount", "https://x.example.com", 3)]},
            "Ссылка «catalog»",
        ),
        ({"body": GOOD_BODY + "{{ catalog }}"}, "каталога не загружен"),
    ],
)
def test_the_lint_finds_each_problem(factory, changes, expected):
    offer = offer_with_links(factory, **changes)
    problems = offer_lint.lint_offer(offer)
    assert any(expected in problem for problem in problems), problems


def test_an_offer_becomes_ready_only_when_the_lint_is_clean(factory):
    offer = offer_with_links(factory, body="{{ greeting }} {{ nope }}")  # an unknown variable: not ready
    assert offers.mark_ready(offer)
    assert offer.status == OfferStatus.DRAFT
    offer.body = GOOD_BODY
    assert offers.mark_ready(offer) == []
    assert offer.status == OfferStatus.READY and offer.ready_at is not None
    offers.mark_draft(offer)
    assert offer.status == OfferStatus.DRAFT and offer.ready_at is None


# ------------------------------------------------------------------- editor


def test_marketing_saves_an_offer_with_its_links(client, factory, session):
    user = marketing_user(factory)
    offer = offer_with_links(factory, links=[])
    session.commit()
    client.login(user)
    response = client.post_form(
        f"/offers/{offer.id}",
        {
            "subject": "Каталог {{ year }}",
            "body": GOOD_BODY.replace("{{ links.catalog }}", "{{ links.shop }}"),
            "links-0-name": "shop",
            "links-0-url": "https://gifts.example.com/shop",
            "links-0-label": "Магазин",
            "links-0-weight": "1",
            "links-1-name": "discount",
            "links-1-url": "https://gifts.example.com/sale",
            "links-1-label": "Скидка",
            "links-1-weight": "3",
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    session.expire_all()
    saved = session.get(Offer, offer.id)
    assert saved.subject == "Каталог {{ year }}"
    assert {(link.name, link.weight) for link in saved.links} == {("shop", 1), ("discount", 3)}


def test_the_editor_refuses_a_sandbox_escape_beside_the_field(client, factory, session):
    user = marketing_user(factory)
    offer = offer_with_links(factory)
    session.commit()
    client.login(user)
    response = client.post_form(f"/offers/{offer.id}", {"subject": "Тема", "body": "{{ cycler.__init__.__globals__ }}"})
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "внутренностям Python" in page
    session.expire_all()
    assert session.get(Offer, offer.id).body == GOOD_BODY


def test_the_editor_shows_the_variables_and_the_lint(client, factory, session):
    user = marketing_user(factory)
    offer = offer_with_links(factory, body="{{ greeting }} {{ nope }}")
    session.commit()
    client.login(user)
    page = unescape(client.get(f"/offers/{offer.id}").get_data(as_text=True))
    assert "{{ advisor.signature }}" in page and "Подпись советника" in page
    assert "«nope»" in page and "отписк" not in page.split('class="card lint"')[1].split("</section>")[0]


def test_ready_through_the_editor_needs_a_clean_lint(client, factory, session):
    user = marketing_user(factory)
    broken = offer_with_links(factory, body="{{ greeting }} {{ nope }}")  # an unknown variable
    good = offer_with_links(factory, tag=factory.tag("Медики"))
    session.commit()
    client.login(user)
    assert client.post_form(f"/offers/{broken.id}/ready").status_code == 422
    assert client.post_form(f"/offers/{good.id}/ready").status_code == 302
    session.expire_all()
    assert session.get(Offer, broken.id).status == OfferStatus.DRAFT
    assert session.get(Offer, good.id).status == OfferStatus.READY
    client.post_form(f"/offers/{good.id}/draft")
    session.expire_all()
    assert session.get(Offer, good.id).status == OfferStatus.DRAFT


def test_an_edit_that_breaks_a_ready_offer_returns_it_to_draft(client, factory, session):
    user = marketing_user(factory)
    offer = offer_with_links(factory, status=OfferStatus.READY)
    session.commit()
    client.login(user)
    client.post_form(
        f"/offers/{offer.id}",
        {
            "subject": "Тема",
            "body": "{{ greeting }} {{ nope }}",  # an unknown variable
            "links-0-id": str(offer.links[0].id),
            "links-0-name": "catalog",
            "links-0-url": offer.links[0].url,
            "links-0-weight": "1",
        },
    )
    session.expire_all()
    assert session.get(Offer, offer.id).status == OfferStatus.DRAFT


def test_advisors_cannot_edit_offers(client, factory, session):
    advisor = factory.advisor()
    offer = offer_with_links(factory)
    session.commit()
    client.login(advisor)
    assert client.get(f"/offers/{offer.id}").status_code == 403
    assert client.post_form(f"/offers/{offer.id}", {"subject": "x", "body": "y"}).status_code == 403
    assert client.post_form(f"/offers/{offer.id}/ready").status_code == 403
    assert client.get("/board").status_code == 403
    assert client.get("/tags/new").status_code == 403
    assert client.get("/calendar?year=2027").status_code == 200


# ------------------------------------------------------------------ tags


def test_marketing_edits_a_tag_rule_and_sees_a_russian_error_for_a_bad_one(client, factory, session):
    user = marketing_user(factory)
    tag = factory.tag("Строители", rule="2 sun aug", lead_days=21)
    session.commit()
    client.login(user)
    bad = client.post_form(f"/tags/{tag.id}", {"name": "Строители", "kind": "industry", "rule": "2 sun augst", "lead_days": "14"})
    assert bad.status_code == 200 and "Неизвестный месяц" in unescape(bad.get_data(as_text=True))
    good = client.post_form(f"/tags/{tag.id}", {"name": "Строители", "kind": "industry", "rule": "2  SUN aug", "lead_days": "14"})
    assert good.status_code == 302
    session.refresh(tag)
    assert (tag.rule, tag.lead_days) == ("2 sun aug", 14)


def test_marketing_adds_a_tag(client, factory, session):
    user = marketing_user(factory)
    session.commit()
    client.login(user)
    response = client.post_form("/tags/new", {"name": "Учителя", "kind": "industry", "rule": "5 oct", "lead_days": "21"})
    assert response.status_code == 302
    assert "Учителя" in client.get("/tags").get_data(as_text=True)
    page = client.get("/calendar?year=2027").get_data(as_text=True)
    assert "Учителя" in page and "14 сентября 2027" in page  # 5 Oct − 21 = Tue 14 Sep


# ----------------------------------------------------- preview and test send


def _audience(factory, tag):
    owner = factory.advisor(name="Анна Смирнова", email="anna@studio.example.com", signature="С уважением,\nАнна")
    return factory.contact(
        owner=owner, tags=[tag], first_name="Олег", last_name="Петров", company="Тойота", email="oleg@toyota.example.com"
    )


def test_the_preview_shows_the_headers_and_both_parts(client, factory, session):
    user = marketing_user(factory)
    offer = offer_with_links(factory)
    contact = _audience(factory, offer.tag)
    session.commit()
    client.login(user)
    response = client.get(f"/offers/{offer.id}/preview?contact_id={contact.id}")
    page = unescape(response.get_data(as_text=True))
    assert response.status_code == 200
    for header in ("From", "To", "Subject", "Reply-To", "List-Unsubscribe", "Message-ID"):
        assert f"<th>{header}</th>" in page
    # The technical headers are folded away; the ones a person reads are not.
    readable, technical = page.split('<details class="technical-headers">')
    assert "<th>From</th>" in readable and "<th>Subject</th>" in readable and "<th>Message-ID</th>" not in readable
    assert "<th>List-Unsubscribe</th>" in technical.split("</details>")[0]
    assert "oleg@toyota.example.com" in page and "Подарки для Тойота" in page
    text = page.split('<pre class="mail text-part">')[1].split("</pre>")[0]
    # Links by their labels, not tracking URLs; where each leads is listed beside.
    assert text.startswith("Здравствуйте, Олег!") and "[catalog]" in text and "/c/" not in text
    assert "https://gifts.example.com/catalog" in page.split('<table class="preview-links">')[1]
    assert '<iframe class="mail-html" sandbox=""' in page
    srcdoc = page.split('srcdoc="')[1].split('"></iframe>')[0]
    assert "<a href=" in srcdoc and "Здравствуйте, Олег!" in srcdoc


def test_a_test_send_reaches_the_smtp_server_addressed_to_the_tester(
    client, factory, session, app, settings, smtp_server, monkeypatch
):
    monkeypatch.setitem(
        app.config, "SETTINGS", dataclasses.replace(settings, mail=parse_mail_url(smtp_server.url, settings.instance_path))
    )
    user = marketing_user(factory)
    offer = offer_with_links(factory)
    contact = _audience(factory, offer.tag)
    session.commit()
    client.login(user)
    response = client.post_form(f"/offers/{offer.id}/test-send", {"contact_id": str(contact.id)})
    assert response.status_code == 302
    assert len(smtp_server.messages) == 1
    envelope = smtp_server.messages[0]
    assert envelope.rcpt_tos == ["maria@studio.example.com"]
    msg = message_from_bytes(envelope.content, policy=email_policy.default)
    assert msg["To"].addresses[0].addr_spec == "maria@studio.example.com"
    assert "anna@studio.example.com" in str(msg["From"])
    assert str(msg["Subject"]) == "[ТЕСТ] Подарки для Тойота"
    text = msg.get_body(preferencelist=("plain",)).get_content()
    html = msg.get_body(preferencelist=("html",)).get_content()
    assert text.startswith("Здравствуйте, Олег!") and "Здравствуйте, Олег!" in html
    assert "oleg@toyota.example.com" not in envelope.content.decode("utf-8", "replace")


# ------------------------------------------------------------------ catalog


def _pdf(size: int = 2000) -> bytes:
    return b"%PDF-1.7\n" + b"0" * size + b"\n%%EOF\n"


def test_a_non_pdf_upload_is_refused(client, factory, session):
    user = marketing_user(factory)
    offer = offer_with_links(factory)
    session.commit()
    client.login(user)
    response = client.post_form(
        f"/offers/{offer.id}/catalog",
        {"catalog": (io.BytesIO(b"MZ\x90\x00 not a pdf"), "catalog.pdf")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 422
    assert "Это не PDF-файл" in response.get_data(as_text=True)
    session.expire_all()
    assert session.get(Offer, offer.id).catalog_path is None


def test_an_uploaded_catalog_is_served_behind_the_catalog_link(client, factory, session, settings):
    user = marketing_user(factory)
    offer = offer_with_links(
        factory,
        links=[("discount", "https://gifts.example.com/sale", 3)],
        body=GOOD_BODY.replace("{{ links.catalog }}", "{{ catalog }}"),
    )
    session.commit()
    client.login(user)
    content = _pdf()
    response = client.post_form(
        f"/offers/{offer.id}/catalog", {"catalog": (io.BytesIO(content), "Каталог 2027.pdf")}, content_type="multipart/form-data"
    )
    assert response.status_code == 302
    session.expire_all()
    offer = session.get(Offer, offer.id)
    link = next(link for link in offer.links if link.name == "catalog")
    assert link.url.startswith(f"{settings.public_url}/files/catalog/{offer.id}/")
    assert offer.catalog_filename == "Каталог 2027.pdf"
    assert offer_lint.lint_offer(offer) == []
    client.post("/logout", data={"csrf_token": client.csrf_token("/")})
    served = client.get(link.url.removeprefix(settings.public_url))  # recipients are not logged in
    assert served.status_code == 200
    assert served.data == content and served.mimetype == "application/pdf"
    assert client.get(f"/files/catalog/{offer.id}/secret_key").status_code == 404


def test_a_catalog_over_50_mb_is_refused(factory, settings):
    offer = offer_with_links(factory)
    with pytest.raises(offers.CatalogError, match="больше 50 МБ"):
        offers.save_catalog(offer, io.BytesIO(_pdf(offers.CATALOG_MAX_BYTES)), "big.pdf", settings)
    assert offer.catalog_path is None


# --------------------------------------------------------- late offers


def test_a_draft_past_its_send_date_is_late_and_marketing_is_told_once_a_day(
    client, factory, session, app, settings, smtp_server, monkeypatch
):
    smtp_settings = dataclasses.replace(settings, mail=parse_mail_url(smtp_server.url, settings.instance_path))
    monkeypatch.setitem(app.config, "SETTINGS", smtp_settings)
    user = marketing_user(factory)
    late = offer_with_links(factory, tag=factory.tag("Медики", rule="3 sun jun", lead_days=21), year=2027)  # sends 28 May 2027
    offer_with_links(factory, tag=factory.tag("Строители", rule="2 sun aug", lead_days=21), year=2027)  # 16 Jul 2027
    ready = offer_with_links(
        factory, tag=factory.tag("Моряки", rule="1 sun jul", lead_days=21), year=2027, status=OfferStatus.READY
    )  # 11 Jun 2027
    session.commit()

    assert offers.offers_not_ready_on(session, date(2027, 5, 27)) == []
    assert offers.offers_not_ready_on(session, date(2027, 5, 28)) == [late]
    assert ready not in offers.offers_not_ready_on(session, date(2027, 6, 15))
    assert offers.offers_not_ready_on(session, date(2027, 6, 20)) == [late]  # Medics' Day itself
    assert offers.offers_not_ready_on(session, date(2027, 6, 21)) == []  # after the day: no longer due

    now = datetime(2027, 5, 28, 9, 0, tzinfo=UTC)
    assert offers.notify_offer_late(session, late, smtp_settings, now=now) == 1
    assert offers.notify_offer_late(session, late, smtp_settings, now=now) == 0
    assert len(smtp_server.messages) == 1
    msg = message_from_bytes(smtp_server.messages[0].content, policy=email_policy.default)
    assert msg["To"].addresses[0].addr_spec == user.email
    assert "не готово" in str(msg["Subject"])
    assert "28.05.2027" in msg.get_body(preferencelist=("plain",)).get_content()


def test_the_board_and_home_page_warn_about_held_mails(client, factory, session):
    user = marketing_user(factory)
    today = date.today()
    # A mailing whose send date is today or a few days back (a day off moves it earlier): due, still a draft.
    rule = f"{today.day} {('jan feb mar apr may jun jul aug sep oct nov dec').split()[today.month - 1]}"
    if (today.month, today.day) == (2, 29):
        rule = "28 feb"
    tag = factory.tag("Праздник", kind=TagKind.HOLIDAY, rule=rule, lead_days=0)
    offer = offer_with_links(factory, tag=tag, year=today.year)
    session.commit()
    client.login(user)
    assert offers.offers_not_ready_on(session, today) == [offer]
    for path in ("/board", "/"):
        assert "Предложение не готово — письма задержаны" in client.get(path).get_data(as_text=True)


def test_the_live_preview_shows_the_unsaved_text(client, factory, session):
    user = marketing_user(factory)
    offer = offer_with_links(factory)
    contact = _audience(factory, offer.tag)
    session.commit()
    client.login(user)
    assert 'id="live-preview"' in client.get(f"/offers/{offer.id}").get_data(as_text=True)
    response = client.post_form(
        f"/offers/{offer.id}/live-preview",
        {
            "contact_id": str(contact.id),
            "subject": "Новая тема для {{ company }}",
            "body": "{{ greeting }}\nНовый текст: {{ links.sale }}\n{{ unsubscribe_url }}",
            "links-0-name": "sale",
            "links-0-url": "https://gifts.example.com/sale",
        },
    )
    page = unescape(response.get_data(as_text=True))
    assert "Новая тема для Тойота" in page and "Новый текст: [sale]" in page  # the link by its label
    broken = client.post_form(
        f"/offers/{offer.id}/live-preview", {"contact_id": str(contact.id), "subject": "x", "body": "{{ ''.__class__ }}"}
    )
    assert "внутренностям Python" in broken.get_data(as_text=True)
    session.expire_all()
    assert session.get(Offer, offer.id).body == GOOD_BODY


def test_the_marketing_pages_open(client, factory, session):
    user = marketing_user(factory)
    tag = factory.tag("Медики", rule="3 sun jun")
    session.commit()
    client.login(user)
    for path in ("/board", "/offers", "/offers?year=2027", "/tags", "/tags/new", f"/tags/{tag.id}", "/calendar", "/"):
        assert client.get(path).status_code == 200, path
    created = client.post_form("/offers/create", {"tag_id": str(tag.id), "year": "2027"})
    assert created.status_code == 302
    editor = client.get(created.headers["Location"])
    assert editor.status_code == 200 and "черновик" in editor.get_data(as_text=True)


def test_the_editor_shows_each_link_once_and_saves_them_unchanged(client, factory, session):
    user = marketing_user(factory)
    offer = offer_with_links(factory)
    session.commit()
    client.login(user)

    html = client.get(f"/offers/{offer.id}").get_data(as_text=True)
    assert html.count('value="https://gifts.example.com/catalog"') == 1
    assert html.count('value="https://gifts.example.com/скидка?code=A"') == 1

    form = dict(re.findall(r'name="(links-\d+-[a-z]+)"[^>]*value="([^"]*)"', html))
    response = client.post_form(f"/offers/{offer.id}", {"subject": offer.subject, "body": offer.body, **form})
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    session.expire_all()
    assert sorted(link.name for link in session.get(Offer, offer.id).links) == ["catalog", "discount"]


def test_a_new_offer_starts_from_the_tags_last_offer(client, factory, session):
    # The reminder mail sends marketing to create the missing offer "starting from last year's".
    user = marketing_user(factory)
    tag = factory.tag("Медики", rule="3 sun jun")
    last = factory.offer(tag=tag, year=2026, subject="Ко Дню медика — подарки")
    last.links.append(Link(name="catalog", url="https://example.ru/medics-2026.pdf", label="Каталог", weight=1))
    session.commit()
    client.login(user)
    created = client.post_form("/offers/create", {"tag_id": str(tag.id), "year": "2027"})
    assert created.status_code == 302
    session.expire_all()
    new = session.scalar(select(Offer).where(Offer.tag_id == tag.id, Offer.year == 2027))
    assert new.status == OfferStatus.DRAFT
    assert (new.subject, new.body) == ("Ко Дню медика — подарки", last.body)
    assert [(link.name, link.url, link.label) for link in new.links] == [
        ("catalog", "https://example.ru/medics-2026.pdf", "Каталог")
    ]
    assert session.get(Offer, last.id).status == OfferStatus.READY  # last year's stays as it was


def test_a_test_sends_links_lead_where_the_offer_says_and_count_for_nobody(
    client, factory, session, app, settings, smtp_server, monkeypatch
):
    from sqlalchemy import func

    from campaigns import clicks
    from campaigns.extensions import redis_client
    from campaigns.models import Click, Contact, Note

    monkeypatch.setitem(
        app.config, "SETTINGS", dataclasses.replace(settings, mail=parse_mail_url(smtp_server.url, settings.instance_path))
    )
    user = marketing_user(factory)
    offer = offer_with_links(factory)
    contact = _audience(factory, offer.tag)
    session.commit()
    client.login(user)
    client.post_form(f"/offers/{offer.id}/test-send", {"contact_id": str(contact.id)})
    text = message_from_bytes(smtp_server.messages[0].content, policy=email_policy.default).get_body(("plain",)).get_content()
    tracked = re.findall(r"https://campaigns\.example\.com(/[cu]/\S+)", text)
    assert len(tracked) == 3  # two links and the unsubscribe line
    anonymous = app.test_client()
    answers = [anonymous.get(path) for path in tracked]
    assert [a.status_code for a in answers] == [302, 302, 200]
    assert answers[0].headers["Location"] == "https://gifts.example.com/catalog"
    assert answers[0].headers["X-Campaigns-Click"] == "test"
    assert "никто не отписывается" in answers[2].get_data(as_text=True)
    assert anonymous.post(tracked[2], data={"List-Unsubscribe": "One-Click"}).status_code == 200
    clicks.flush_clicks(session, redis_client(), now=datetime.now(UTC) + timedelta(days=1))
    assert session.scalar(select(func.count()).select_from(Click)) == 0
    assert session.scalar(select(func.count()).select_from(Note)) == 0
    assert session.scalar(select(Contact.unsubscribed_at).where(Contact.id == contact.id)) is None


def test_a_tag_rule_is_typed_and_shown_in_russian(client, factory, session):
    user = marketing_user(factory)
    tag = factory.tag("Медики", rule="3 sun jun", lead_days=21)
    session.commit()
    client.login(user)
    assert 'value="3-е воскресенье июня"' in client.get(f"/tags/{tag.id}").get_data(as_text=True)
    listed = client.get("/tags").get_data(as_text=True)
    assert "3-е воскресенье июня" in listed and "за 21 день, а если это выходной — на предыдущий рабочий день" in listed
    response = client.post_form(
        "/tags/new", {"name": "Учителя", "kind": "industry", "rule": "5 октября, за 14 дней", "lead_days": "21"}
    )
    assert response.status_code == 302
    added = session.scalar(select(Tag).where(Tag.name == "Учителя"))
    assert (added.rule, added.lead_days) == ("5 oct", 14)
    refused = client.post_form("/tags/new", {"name": "Другие", "kind": "industry", "rule": "31 февраля", "lead_days": "21"})
    assert "нет такого числа" in unescape(refused.get_data(as_text=True))


def test_an_offer_without_an_unsubscribe_line_is_fine_and_its_mail_gets_the_footer(factory, settings):
    from campaigns import mails

    offer = offer_with_links(factory, body="{{ greeting }}\n\nКаталог: {{ links.catalog }}")
    assert offer_lint.lint_offer(offer) == []
    contact = factory.contact(first_name="Олег", email="oleg@client.example.com")
    mail = mails.offer_message(offer=offer, contact=contact, advisor=contact.owner, settings=settings, delivery_id=7)
    assert (
        "Если вы не хотите получать такие письма, нажмите здесь: https://campaigns.example.com/u/"
        in mail.get_body(("plain",)).get_content()
    )


def test_in_december_the_offers_and_the_calendar_open_on_the_coming_year(client, factory, session, monkeypatch):
    from campaigns.web.offers import pages as offer_views

    user = marketing_user(factory)
    factory.tag("Энергетики", rule="22 dec", lead_days=21)
    factory.tag("Медики", rule="3 sun jun", lead_days=21)
    session.commit()
    client.login(user)
    monkeypatch.setattr(offer_views, "_today", lambda: date(2026, 12, 2))  # every send date of 2026 is past
    assert "<h1>Предложения 2027</h1>" in client.get("/offers").get_data(as_text=True)
    assert "2027" in client.get("/calendar").get_data(as_text=True).split("<h1>")[1].split("</h1>")[0]
    monkeypatch.setattr(offer_views, "_today", lambda: date(2026, 11, 20))  # Энергетики still to come
    assert "<h1>Предложения 2026</h1>" in client.get("/offers").get_data(as_text=True)
