"""compose.py: the offer mail as the recipient's mail program and a spam filter see it."""
from __future__ import annotations

import re
from datetime import UTC, datetime
from email import message_from_bytes, message_from_string
from email import policy as email_policy

import pytest
from sqlalchemy import select

from campaigns import compose, demo, tracking
from campaigns.greeting import FALLBACK
from campaigns.models import Delivery, DeliveryStatus, Link, Note, NoteKind
from campaigns.sender import sender_for
from campaigns.template_sandbox import OfferTemplateError
from campaigns.transport import open_transport

NOW = datetime(2026, 8, 3, 7, 15, tzinfo=UTC)
GREETING_SHAPE = re.compile(r"Здравствуйте, [А-ЯЁA-Z][а-яёa-z]+(?:-[А-ЯЁA-Z][а-яёa-z]+)?(?: [А-ЯЁ][а-яё]+)?!")


def parse(msg):
    return message_from_bytes(msg.as_bytes(), policy=email_policy.default)


def body(message, kind: str) -> str:
    # Text travels in its canonical CRLF form; compare it as a person reads it.
    return message.get_body((kind,)).get_content().replace("\r\n", "\n")


@pytest.fixture
def advisor(factory):
    return factory.advisor(name="Анна Соколова", email="anna@studio.example.com", phone="+7 916 123-45-01",
                           signature="С уважением,\nАнна Соколова\nСтудия корпоративных подарков")


@pytest.fixture
def offer(factory):
    offer = factory.offer(
        subject="Подарки к {{ tag.name }}",
        body="{{ greeting }}\n\nВаш каталог: {{ links.catalog }}\nСкидка для {{ company }}: {{ links.discount }}.\n\n"
             "{{ advisor.signature }}",
        tag=factory.tag("Строители"),
    )
    offer.links = [Link(name="catalog", url="https://gifts.example.com/catalog", label="Каталог"),
                   Link(name="discount", url="https://gifts.example.com/скидка", label="Скидка", weight=3)]
    factory.session.flush()
    return offer


def build(offer, contact, advisor, settings, delivery_id=41):
    return compose.build_offer_message(offer=offer, contact=contact, advisor=advisor, settings=settings,
                                       delivery_id=delivery_id, now=NOW)


def test_it_sends_as_the_advisor_with_an_encoded_cyrillic_name(session, factory, settings, advisor, offer):
    contact = factory.contact(owner=advisor, first_name="Олег", last_name="Петров")
    msg = build(offer, contact, advisor, settings)

    raw = msg.as_bytes()
    assert b"=?utf-8?b?" in raw.split(b"\r\n\r\n")[0] and "Анна".encode() not in raw.split(b"\r\n\r\n")[0]
    back = parse(msg)
    assert (back["From"].addresses[0].display_name, back["From"].addresses[0].addr_spec) == (
        "Анна Соколова", "anna@studio.example.com")
    assert str(back["Reply-To"]) == "Анна Соколова <anna@studio.example.com>"
    assert str(back["To"]) == f"Олег Петров <{contact.email}>"
    assert back["Subject"] == "Подарки к Строители"


def test_it_sends_from_the_house_advisor_when_the_owner_has_left(session, factory, settings, offer):
    house = factory.house_advisor(email="tupin@studio.example.com")
    owner = factory.advisor(active=False)
    contact = factory.contact(owner=owner)
    delivery = Delivery(offer=offer, contact=contact, send_on=NOW.date())
    session.add(delivery)
    session.flush()

    assert sender_for(session, contact) == house
    back = parse(compose.compose_delivery(session, delivery, settings, now=NOW))
    assert back["From"].addresses[0].addr_spec == "tupin@studio.example.com"
    assert back["From"].addresses[0].display_name == "Василий Тупин"


def test_it_says_who_must_act_when_nobody_can_send(session, factory):
    contact = factory.contact(owner=factory.advisor(active=False))
    with pytest.raises(LookupError, match="Назначьте контакту советника"):
        sender_for(session, contact)


@pytest.mark.parametrize("first, middle, last, to_name", [
    ("ОЛЕГ", "", "ПЕТРОВ", "Олег Петров"),
    ("Василий", "Иванович", "Кондрашов", "Василий Кондрашов"),
    ("Кондрашов Василий Иванович", "", "", "Василий"),
    ("!", "", "Иванова", ""),
    ("Бухгалтерия", "", "", ""),
    ("Олег", "", "ООО «Ромашка»", "Олег"),
])
def test_it_addresses_the_contact_by_name_never_by_the_junk_in_the_field(
        session, factory, settings, advisor, offer, first, middle, last, to_name):
    contact = factory.contact(owner=advisor, first_name=first, middle_name=middle, last_name=last)
    to = parse(build(offer, contact, advisor, settings))["To"].addresses[0]

    assert (to.display_name, to.addr_spec) == (to_name, contact.email)


def test_it_greets_safely_in_the_letter(session, factory, settings, advisor, offer):
    named = factory.contact(owner=advisor, first_name="Кондрашов Василий Иванович")
    unknown = factory.contact(owner=advisor, first_name="!")

    assert body(parse(build(offer, named, advisor, settings)), "plain").startswith(
        "Здравствуйте, Василий Иванович!\n")
    assert body(parse(build(offer, unknown, advisor, settings)), "plain").startswith(FALLBACK)


def test_it_dates_the_mail_in_the_local_zone_with_an_id_on_the_sending_domain(session, factory, settings, advisor, offer):
    back = parse(build(offer, factory.contact(owner=advisor), advisor, settings))

    assert back["Date"] == "Mon, 03 Aug 2026 10:15:00 +0300"
    assert back["Message-ID"].endswith("@campaigns.example.com>")
    assert "Precedence" not in back


def test_it_has_a_plain_text_and_a_light_html_part(session, factory, settings, advisor, offer):
    back = parse(build(offer, factory.contact(owner=advisor, company="Тойота"), advisor, settings))

    assert back.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in back.iter_parts()] == ["text/plain", "text/html"]
    html = body(back, "html")
    assert "<p>Здравствуйте, Олег!</p>" in html
    assert "<p>С уважением,<br>\nАнна Соколова<br>\nСтудия корпоративных подарков</p>" in html
    assert "<img" not in html and "<table" not in html


def test_it_tracks_every_link_of_the_offer_in_both_parts(session, factory, settings, advisor, offer):
    back = parse(build(offer, factory.contact(owner=advisor), advisor, settings, delivery_id=41))
    text, html = body(back, "plain"), body(back, "html")

    for link in offer.links:
        url = tracking.click_url(settings.public_url, 41, link.id, settings.secret_key)
        assert url in text
        assert f'<a href="{url}">{url}</a>' in html
        assert link.url not in text and link.url not in html
    token = re.search(r"/c/([^\s<\".]+\.[\w-]+)", text).group(1)
    assert tracking.parse_click_token(token, settings.secret_key) == (41, offer.links[0].id)


def test_it_hides_the_trap_link_from_people(session, factory, settings, advisor, offer):
    back = parse(build(offer, factory.contact(owner=advisor), advisor, settings, delivery_id=41))
    trap = tracking.click_url(settings.public_url, 41, tracking.TRAP_LINK_ID, settings.secret_key)
    html = body(back, "html")

    assert trap not in body(back, "plain")
    assert f'<a href="{trap}" aria-hidden="true" tabindex="-1" style="display:none"></a>' in html


def test_it_escapes_what_people_typed_into_the_html(session, factory, settings, advisor, offer):
    contact = factory.contact(owner=advisor, company='<script>alert(1)</script> & "Ко"')
    offer.subject = "Подарки & <скидки> для {{ company }}"
    back = parse(build(offer, contact, advisor, settings))

    assert back["Subject"] == 'Подарки & <скидки> для <script>alert(1)</script> & "Ко"'  # a subject is text

    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &#34;Ко&#34;" in body(back, "html")
    assert '<script>alert(1)</script> & "Ко"' in body(back, "plain")


def test_it_offers_one_click_unsubscribe(session, factory, settings, advisor, offer):
    back = parse(build(offer, factory.contact(owner=advisor), advisor, settings, delivery_id=41))
    https = tracking.unsubscribe_url(settings.public_url, 41, settings.secret_key)
    mailto = tracking.unsubscribe_mailto("campaigns.example.com", 41, settings.secret_key)

    assert str(back["List-Unsubscribe"]) == f"<{https}>, <{mailto}>"
    assert back["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert f"Если вы не хотите получать такие письма, нажмите здесь: {https}" in body(back, "plain")
    assert ("Если вы не хотите получать такие письма, нажмите здесь: "
            f'<a href="{https}">отписаться</a>') in body(back, "html")


def test_it_shows_one_unsubscribe_line_when_the_offer_has_its_own(session, factory, settings, advisor, offer):
    offer.body += "\n\nНе хотите получать мои письма? Отпишитесь: {{ unsubscribe_url }}"
    back = parse(build(offer, factory.contact(owner=advisor), advisor, settings, delivery_id=41))
    https = tracking.unsubscribe_url(settings.public_url, 41, settings.secret_key)

    assert body(back, "plain").count(https) == 1
    assert "Не хотите получать мои письма? Отпишитесь: " + https in body(back, "plain")
    assert "Если вы не хотите получать такие письма" not in body(back, "plain")
    assert body(back, "html").count(f'href="{https}"') == 1


def test_it_signs_the_letter_once(session, factory, settings, advisor, offer):
    contact = factory.contact(owner=advisor)
    with_signature = body(parse(build(offer, contact, advisor, settings)), "plain")
    offer.body = "{{ greeting }}\n\nКаталог: {{ links.catalog }}"
    without = body(parse(build(offer, contact, advisor, settings)), "plain")

    assert with_signature.count("С уважением,") == 1
    assert without.count("С уважением,") == 1
    assert without.index("С уважением,") < without.index("Если вы не хотите")


def test_it_previews_with_a_placeholder_delivery(session, factory, settings, advisor, offer):
    back = parse(build(offer, factory.contact(owner=advisor), advisor, settings, delivery_id=None))

    assert tracking.click_url(settings.public_url, compose.PREVIEW_DELIVERY_ID, offer.links[0].id,
                              settings.secret_key) in body(back, "plain")


def test_it_writes_idn_domains_as_a_labels(session, factory, settings, offer):
    advisor = factory.advisor(name="Анна", email="anna@подарки.рф")
    contact = factory.contact(owner=advisor, email="oleg@пример.рф")
    back = parse(build(offer, contact, advisor, settings))

    assert back["From"].addresses[0].addr_spec == "anna@" + "подарки.рф".encode("idna").decode()
    assert back["To"].addresses[0].addr_spec == "oleg@xn--e1afmkfd.xn--p1ai"


def test_it_keeps_a_non_ascii_mailbox_as_utf8_never_mangled(session, factory, settings, advisor, offer):
    contact = factory.contact(owner=advisor, email="олег@пример.рф")
    msg = build(offer, contact, advisor, settings)

    assert "олег@xn--e1afmkfd.xn--p1ai".encode() in msg.as_bytes()
    back = message_from_string(msg.as_string(), policy=email_policy.default)
    assert back["To"].addresses[0].addr_spec == "олег@xn--e1afmkfd.xn--p1ai"


def test_it_passes_a_broken_offer_template_on_with_its_russian_message(session, factory, settings, advisor, offer):
    offer.body = "{{ greeting }} {{ nonsense }}"
    with pytest.raises(OfferTemplateError, match="nonsense"):
        build(offer, factory.contact(owner=advisor), advisor, settings)


def test_it_builds_the_other_kinds_of_mail_from_plain_values(settings):
    msg = compose.make_message(settings=settings, from_name="Рассылки", from_addr="noreply@campaigns.example.com",
                               to_name="Анна Соколова", to_addr="anna@studio.example.com", subject="Горячие контакты",
                               text="Сегодня позвонить:\n— Олег Петров\n", html="<p>Сегодня позвонить</p>")
    back = parse(msg)

    assert back["Subject"] == "Горячие контакты"
    assert body(back, "plain") == "Сегодня позвонить:\n— Олег Петров\n"
    assert "Reply-To" not in back and "List-Unsubscribe" not in back


def test_the_demo_mails_parse_back_greet_safely_and_arrive_intact(session, settings, smtp_server):
    # demo.load composes every sent delivery's mail (build_offer_message) into its note.
    demo.load(session, settings)
    notes = session.scalars(select(Note).where(Note.kind == NoteKind.MAIL).order_by(Note.id)).all()
    assert len(notes) > 100 and all(note.raw_message for note in notes)

    for note in notes:
        back = message_from_string(note.raw_message, policy=email_policy.default)
        contact = note.contact
        assert back["From"].addresses[0].addr_spec == contact.owner.email
        assert back["From"].addresses[0].display_name == contact.owner.name
        assert back["To"].addresses[0].addr_spec == contact.email
        assert back["Subject"] == note.subject
        assert back["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert [p.get_content_type() for p in back.iter_parts()] == ["text/plain", "text/html"]
        text = body(back, "plain")
        first_line = text.split("\n", 1)[0]
        assert first_line == FALLBACK or GREETING_SHAPE.fullmatch(first_line), first_line
        assert not contact.last_name or contact.last_name not in first_line
        assert "None" not in text and "Если вы не хотите получать такие письма" in text
        assert body(back, "html").count("<a href=") == 4  # catalog, discount, unsubscribe, the hidden trap

    deliveries = session.scalars(select(Delivery).where(Delivery.status == DeliveryStatus.SENT)
                                 .order_by(Delivery.id).limit(30)).all()
    # The cost per message is measured in bench/, not asserted here.
    messages = [compose.compose_delivery(session, d, settings, now=NOW) for d in deliveries]

    with open_transport(type(settings.mail)(scheme="smtp", host=smtp_server.host, port=smtp_server.port)) as conn:
        for msg in messages:
            conn.send(msg)
    assert len(smtp_server.messages) == len(messages)
    for envelope, msg in zip(smtp_server.messages, messages, strict=True):
        received = message_from_bytes(envelope.content, policy=email_policy.default)
        assert received["Message-ID"] == msg["Message-ID"]
        assert str(received["To"]) == str(msg["To"])
        assert body(received, "plain") == body(parse(msg), "plain")
        assert body(received, "html") == body(parse(msg), "html")
