"""compose.py: the offer mail as the recipient's mail program and a spam filter see it.

No database, no Flask app, no Redis: compose takes everything it needs as arguments, so these
tests build the offer, the contact and the advisor as plain (unsaved) objects.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email import message_from_bytes, message_from_string
from email import policy as email_policy
from itertools import count

import pytest

from campaigns import compose, tracking
from campaigns.config import load_settings
from campaigns.greeting import FALLBACK
from campaigns.models import Advisor, Contact, Link, Offer, Tag, TagKind
from campaigns.template_sandbox import OfferTemplateError

NOW = datetime(2026, 8, 3, 7, 15, tzinfo=UTC)
_numbers = count(1)


def parse(msg):
    return message_from_bytes(msg.as_bytes(), policy=email_policy.default)


def body(message, kind: str) -> str:
    # Text travels in its canonical CRLF form; compare it as a person reads it.
    return message.get_body((kind,)).get_content().replace("\r\n", "\n")


@pytest.fixture(scope="module")
def settings(tmp_path_factory):
    """The settings compose reads; the database and Redis URLs are never opened."""
    instance = tmp_path_factory.mktemp("instance")
    return load_settings(
        {
            "INSTANCE_PATH": str(instance),
            "DATABASE_URL": f"sqlite:///{instance / 'never-opened.db'}",
            "REDIS_URL": "redis://127.0.0.1:1/0",
            "MAIL_URL": f"maildir:{instance / 'outbox'}",
            "SECRET_KEY": "test-secret",
            "PUBLIC_URL": "https://campaigns.example.com",
            "TIMEZONE": "Europe/Moscow",
        }
    )


def make_advisor(**kw) -> Advisor:
    n = next(_numbers)
    kw.setdefault("name", f"Советник {n}")
    kw.setdefault("email", f"advisor{n}@studio.example.com")
    kw.setdefault("phone", "+79160000000")
    kw.setdefault("signature", f"С уважением,\n{kw['name']}")
    return Advisor(**kw)


def make_contact(**kw) -> Contact:
    n = next(_numbers)
    kw.setdefault("first_name", "Олег")
    kw.setdefault("last_name", "Петров")
    kw.setdefault("company", f"Компания {n}")
    kw.setdefault("email", f"client{n}@client.example.com")
    return Contact(**kw)


@pytest.fixture
def advisor():
    return make_advisor(
        name="Анна Соколова",
        email="anna@studio.example.com",
        phone="+7 916 123-45-01",
        signature="С уважением,\nАнна Соколова\nСтудия корпоративных подарков",
    )


@pytest.fixture
def offer():
    return Offer(
        subject="Подарки к {{ tag.name }}",
        body="{{ greeting }}\n\nВаш каталог: {{ links.catalog }}\nСкидка для {{ company }}: {{ links.discount }}.\n\n"
        "{{ advisor.signature }}",
        tag=Tag(name="Строители", kind=TagKind.INDUSTRY, rule="2 sun aug", lead_days=21),
        year=2026,
        links=[
            Link(id=7, name="catalog", url="https://gifts.example.com/catalog", label="Каталог"),
            Link(id=8, name="discount", url="https://gifts.example.com/скидка", label="Скидка", weight=3),
        ],
    )


def build(offer, contact, advisor, settings, delivery_id=41):
    return compose.build_offer_message(
        offer=offer, contact=contact, advisor=advisor, settings=settings, delivery_id=delivery_id, now=NOW
    )


def test_it_sends_as_the_advisor_with_an_encoded_cyrillic_name(settings, advisor, offer):
    contact = make_contact(first_name="Олег", last_name="Петров")
    msg = build(offer, contact, advisor, settings)

    raw = msg.as_bytes()
    assert b"=?utf-8?b?" in raw.split(b"\r\n\r\n")[0] and "Анна".encode() not in raw.split(b"\r\n\r\n")[0]
    back = parse(msg)
    assert (back["From"].addresses[0].display_name, back["From"].addresses[0].addr_spec) == (
        "Анна Соколова",
        "anna@studio.example.com",
    )
    assert str(back["Reply-To"]) == "Анна Соколова <anna@studio.example.com>"
    assert str(back["To"]) == f"Олег Петров <{contact.email}>"
    assert back["Subject"] == "Подарки к Строители"


@pytest.mark.parametrize(
    "first, middle, last, to_name",
    [
        ("ОЛЕГ", "", "ПЕТРОВ", "Олег Петров"),
        ("Василий", "Иванович", "Кондрашов", "Василий Кондрашов"),
        ("Кондрашов Василий Иванович", "", "", "Василий"),
        ("!", "", "Иванова", ""),
        ("Бухгалтерия", "", "", ""),
        ("Олег", "", "ООО «Ромашка»", "Олег"),
    ],
)
def test_it_addresses_the_contact_by_name_never_by_the_junk_in_the_field(settings, advisor, offer, first, middle, last, to_name):
    contact = make_contact(first_name=first, middle_name=middle, last_name=last)
    to = parse(build(offer, contact, advisor, settings))["To"].addresses[0]

    assert (to.display_name, to.addr_spec) == (to_name, contact.email)


def test_it_greets_safely_in_the_letter(settings, advisor, offer):
    named = make_contact(first_name="Кондрашов Василий Иванович")
    unknown = make_contact(first_name="!")

    assert body(parse(build(offer, named, advisor, settings)), "plain").startswith("Здравствуйте, Василий Иванович!\n")
    assert body(parse(build(offer, unknown, advisor, settings)), "plain").startswith(FALLBACK)


def test_it_dates_the_mail_in_the_local_zone_with_an_id_on_the_sending_domain(settings, advisor, offer):
    back = parse(build(offer, make_contact(), advisor, settings))

    assert back["Date"] == "Mon, 03 Aug 2026 10:15:00 +0300"
    assert back["Message-ID"].endswith("@campaigns.example.com>")
    assert "Precedence" not in back


def test_it_has_a_plain_text_and_a_light_html_part(settings, advisor, offer):
    back = parse(build(offer, make_contact(company="Тойота"), advisor, settings))

    assert back.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in back.iter_parts()] == ["text/plain", "text/html"]
    html = body(back, "html")
    assert "<p>Здравствуйте, Олег!</p>" in html
    assert "<p>С уважением,<br>\nАнна Соколова<br>\nСтудия корпоративных подарков</p>" in html
    assert "<img" not in html and "<table" not in html


def test_it_tracks_every_link_of_the_offer_in_both_parts(settings, advisor, offer):
    back = parse(build(offer, make_contact(), advisor, settings, delivery_id=41))
    text, html = body(back, "plain"), body(back, "html")

    for link in offer.links:
        url = tracking.click_url(settings.public_url, 41, link.id, settings.secret_key)
        assert url in text
        assert f'<a href="{url}">{url}</a>' in html
        assert link.url not in text and link.url not in html
    token = re.search(r"/c/([^\s<\".]+\.[\w-]+)", text).group(1)
    assert tracking.parse_click_token(token, settings.secret_key) == (41, offer.links[0].id)


def test_it_hides_the_trap_link_from_people(settings, advisor, offer):
    back = parse(build(offer, make_contact(), advisor, settings, delivery_id=41))
    trap = tracking.click_url(settings.public_url, 41, tracking.TRAP_LINK_ID, settings.secret_key)
    html = body(back, "html")

    assert trap not in body(back, "plain")
    assert f'<a href="{trap}" aria-hidden="true" tabindex="-1" style="display:none"></a>' in html


def test_it_escapes_what_people_typed_into_the_html(settings, advisor, offer):
    contact = make_contact(company='<script>alert(1)</script> & "Ко"')
    offer.subject = "Подарки & <скидки> для {{ company }}"
    back = parse(build(offer, contact, advisor, settings))

    assert back["Subject"] == 'Подарки & <скидки> для <script>alert(1)</script> & "Ко"'  # a subject is text

    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &#34;Ко&#34;" in body(back, "html")
    assert '<script>alert(1)</script> & "Ко"' in body(back, "plain")


def test_it_offers_one_click_unsubscribe(settings, advisor, offer):
    back = parse(build(offer, make_contact(), advisor, settings, delivery_id=41))
    https = tracking.unsubscribe_url(settings.public_url, 41, settings.secret_key)
    mailto = tracking.unsubscribe_mailto("campaigns.example.com", 41, settings.secret_key)

    assert str(back["List-Unsubscribe"]) == f"<{https}>, <{mailto}>"
    assert back["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert f"Если вы не хотите получать такие письма, нажмите здесь: {https}" in body(back, "plain")
    assert (f'Если вы не хотите получать такие письма, нажмите здесь: <a href="{https}">отписаться</a>') in body(back, "html")


def test_it_shows_one_unsubscribe_line_when_the_offer_has_its_own(settings, advisor, offer):
    offer.body += "\n\nНе хотите получать мои письма? Отпишитесь: {{ unsubscribe_url }}"
    back = parse(build(offer, make_contact(), advisor, settings, delivery_id=41))
    https = tracking.unsubscribe_url(settings.public_url, 41, settings.secret_key)

    assert body(back, "plain").count(https) == 1
    assert "Не хотите получать мои письма? Отпишитесь: " + https in body(back, "plain")
    assert "Если вы не хотите получать такие письма" not in body(back, "plain")
    assert body(back, "html").count(f'href="{https}"') == 1


def test_it_signs_the_letter_once(settings, advisor, offer):
    contact = make_contact()
    with_signature = body(parse(build(offer, contact, advisor, settings)), "plain")
    offer.body = "{{ greeting }}\n\nКаталог: {{ links.catalog }}"
    without = body(parse(build(offer, contact, advisor, settings)), "plain")

    assert with_signature.count("С уважением,") == 1
    assert without.count("С уважением,") == 1
    assert without.index("С уважением,") < without.index("Если вы не хотите")


def test_it_previews_with_a_placeholder_delivery(settings, advisor, offer):
    back = parse(build(offer, make_contact(), advisor, settings, delivery_id=None))

    assert tracking.click_url(settings.public_url, compose.PREVIEW_DELIVERY_ID, offer.links[0].id, settings.secret_key) in body(
        back, "plain"
    )


def test_it_writes_idn_domains_as_a_labels(settings, offer):
    advisor = make_advisor(name="Анна", email="anna@подарки.рф")
    contact = make_contact(email="oleg@пример.рф")
    back = parse(build(offer, contact, advisor, settings))

    assert back["From"].addresses[0].addr_spec == "anna@" + "подарки.рф".encode("idna").decode()
    assert back["To"].addresses[0].addr_spec == "oleg@xn--e1afmkfd.xn--p1ai"


def test_it_keeps_a_non_ascii_mailbox_as_utf8_never_mangled(settings, advisor, offer):
    contact = make_contact(email="олег@пример.рф")
    msg = build(offer, contact, advisor, settings)

    assert "олег@xn--e1afmkfd.xn--p1ai".encode() in msg.as_bytes()
    back = message_from_string(msg.as_string(), policy=email_policy.default)
    assert back["To"].addresses[0].addr_spec == "олег@xn--e1afmkfd.xn--p1ai"


def test_it_passes_a_broken_offer_template_on_with_its_russian_message(settings, advisor, offer):
    offer.body = "{{ greeting }} {{ nonsense }}"
    with pytest.raises(OfferTemplateError, match="nonsense"):
        build(offer, make_contact(), advisor, settings)


def test_it_builds_the_other_kinds_of_mail_from_plain_values(settings):
    msg = compose.make_message(
        settings=settings,
        from_name="Рассылки",
        from_addr="noreply@campaigns.example.com",
        to_name="Анна Соколова",
        to_addr="anna@studio.example.com",
        subject="Горячие контакты",
        text="Сегодня позвонить:\n— Олег Петров\n",
        html="<p>Сегодня позвонить</p>",
    )
    back = parse(msg)

    assert back["Subject"] == "Горячие контакты"
    assert body(back, "plain") == "Сегодня позвонить:\n— Олег Петров\n"
    assert "Reply-To" not in back and "List-Unsubscribe" not in back


def test_a_system_mail_shows_its_moments_in_the_local_zone_without_an_app(settings):
    from types import SimpleNamespace

    entry = SimpleNamespace(
        company="Тойота",
        name="Олег Петров",
        phone="",
        links=[SimpleNamespace(label="Каталог", count=2)],
        last_click_at=datetime(2026, 8, 2, 21, 30, tzinfo=UTC),
        last_note=None,
        next_contact_on=None,
    )
    context = {
        "advisor": make_advisor(name="Анна"),
        "entries": [entry],
        "today": NOW.date(),
        "hot_url": "https://x/hot/",
        "hot_days": 14,
    }
    subject, text, html = compose.render_kind("digest", context, settings.timezone)

    assert subject == "Горячий список на 3 августа: 1 клиент"
    assert "Каталог ×2; последний раз 3 августа 2026, 00:30" in text  # 21:30 UTC is past midnight in Moscow
    assert "14 дней" in text and "<p>" in html
