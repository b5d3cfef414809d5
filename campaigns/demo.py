"""The demo data set: every page shows something real on a first run.

Deterministic (a fixed seed): 3 advisors, the house advisor, marketing and admin users,
~300 contacts with realistic Russian names (including the awkward ones real files have:
«!», a surname or a whole ФИО typed into the first-name field), offers for this year,
and past deliveries with their notes and clicks.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, time, timedelta

from sqlalchemy import func, select

from . import accounts, audience, calls, catalog, consent, mails, tag_groups
from .calendar import MONTHS, send_date
from .config import Settings
from .models import (
    Advisor,
    Click,
    Contact,
    Delivery,
    DeliveryStatus,
    Link,
    Note,
    NoteKind,
    Offer,
    OfferStatus,
    Role,
    Tag,
    TagKind,
    Verdict,
)

SEED = 20261122
DEMO_PASSWORD = "demo"

USERS = [
    ("anna@demo.example", "Анна Соколова", Role.ADVISOR, "+79161234501", False),
    ("igor@demo.example", "Игорь Беляев", Role.ADVISOR, "+79161234502", False),
    ("olga@demo.example", "Ольга Крылова", Role.ADVISOR, "+79161234503", False),
    ("tupin@demo.example", "Василий Тупин", Role.ADVISOR, "+79161234500", True),
    ("marketing@demo.example", "Мария Лебедева", Role.MARKETING, None, False),
    ("admin@demo.example", "Сергей Орлов", Role.ADMIN, None, False),
]

MALE = [
    "Олег",
    "Василий",
    "Сергей",
    "Андрей",
    "Дмитрий",
    "Алексей",
    "Игорь",
    "Михаил",
    "Николай",
    "Павел",
    "Евгений",
    "Артём",
    "Роман",
    "Владимир",
    "Юрий",
    "Константин",
    "Лев",
    "Фёдор",
]
FEMALE = [
    "Анна",
    "Елена",
    "Ольга",
    "Татьяна",
    "Наталья",
    "Ирина",
    "Светлана",
    "Марина",
    "Юлия",
    "Алёна",
    "Екатерина",
    "Вера",
    "Любовь",
    "Ксения",
    "Дарья",
    "Анна-Мария",
]
SURNAMES = [
    "Иванов",
    "Кондрашов",
    "Смирнов",
    "Кузнецов",
    "Попов",
    "Соколов",
    "Лебедев",
    "Козлов",
    "Новиков",
    "Морозов",
    "Петров",
    "Волков",
    "Соловьёв",
    "Васильев",
    "Зайцев",
    "Павлов",
    "Семёнов",
    "Голубев",
]
FATHERS = ["Иван", "Пётр", "Сергей", "Николай", "Александр", "Михаил", "Владимир", "Юрий"]
PATRONYMIC_M = {
    "Иван": "Иванович",
    "Пётр": "Петрович",
    "Сергей": "Сергеевич",
    "Николай": "Николаевич",
    "Александр": "Александрович",
    "Михаил": "Михайлович",
    "Владимир": "Владимирович",
    "Юрий": "Юрьевич",
}
PATRONYMIC_F = {k: v[:-2] + "на" if v.endswith("ич") else v for k, v in PATRONYMIC_M.items()}

# (company, alias, domain slug, industry tag)
COMPANIES = [
    ("Тойота", "Toyota", "toyota-center", "Автотранспорт"),
    ("ГК Рики", "Смешарики", "riki", "Айти"),
    ("Силовые машины ПАО", "", "power-m", "Промышленность"),
    ("Фаубеха", "", "faubeha", "Торговля"),
    ("СтройМонтаж", "", "stroymontazh", "Строители"),
    ("ГорМедЦентр", "", "gormed", "Медики"),
    ("РЖД-Логистика", "", "rzdlog", "Железнодорожники"),
    ("Совкомфлот", "", "scf-demo", "Моряки"),
    ("НефтеГазСервис", "", "ngs", "Нефтяники"),
    ("Энергосбыт Плюс", "", "esplus", "Энергетики"),
    ("Банк Восход", "", "voshod-bank", "Финансы"),
    ("Лизинг-Трейд", "", "leasing-trade", "Финансы"),
    ("Северсталь-Метиз", "", "sev-metiz", "Промышленность"),
    ("ПИК-Девелопмент", "", "pik-dev", "Строители"),
    ("Клиника Здоровье", "", "zdorovie", "Медики"),
    ("Яндекс.Такси Партнёр", "Yandex Taxi", "taxi-park", "Автотранспорт"),
    ("Лента", "Lenta", "lenta-demo", "Торговля"),
    ("Ростелеком-ИТ", "", "rt-it", "Айти"),
    ("Дорстрой", "", "dorstroy", "Строители"),
    ("Полиграф-Сервис", "", "poligraf", "Промышленность"),
    ("Морской порт Азов", "", "azov-port", "Моряки"),
    ("ТрансНефть-Сервис", "", "tn-service", "Нефтяники"),
    ("МОЭСК-Инжиниринг", "", "moesk-eng", "Энергетики"),
    ("Альфа-Страхование", "AlfaStrakhovanie", "alfastrah", "Финансы"),
    ("Вкусвилл-Опт", "VkusVill", "vv-opt", "Торговля"),
    ("Медси", "Medsi", "medsi-demo", "Медики"),
    ("Циан", "Cian", "cian-demo", "Строители"),
    ("Касперский", "Kaspersky", "kasp-demo", "Айти"),
    ("Уралхим", "Uralchem", "uralchem-demo", "Промышленность"),
    ("ПЭК", "PEK", "pek-demo", "Автотранспорт"),
]


def has_data(session) -> bool:
    return bool(session.scalar(select(func.count(Advisor.id))))


def _person(rng: random.Random) -> tuple[str, str, str]:
    if rng.random() < 0.55:
        first, patronymic, last = rng.choice(MALE), PATRONYMIC_M[rng.choice(FATHERS)], rng.choice(SURNAMES)
    else:
        last = rng.choice(SURNAMES)
        last = last[:-1] + "ва" if last.endswith("ёв") else last + "а"
        first, patronymic = rng.choice(FEMALE), PATRONYMIC_F[rng.choice(FATHERS)]
    roll = rng.random()
    if roll < 0.05:  # how a name nobody knows is often typed
        return "!", "", last
    if roll < 0.08:  # the surname typed into the first-name field
        return last, "", ""
    if roll < 0.10:  # the whole ФИО typed into the first-name field
        return f"{last} {first} {patronymic}", "", ""
    if roll < 0.13:
        return first.upper(), patronymic, last
    if roll < 0.40:
        return first, "", last
    return first, patronymic, last


_SUBJECTS = {
    TagKind.INDUSTRY: "Подарки к профессиональному празднику — {tag}",
    TagKind.HOLIDAY: "Подарки к {tag}",
    TagKind.MONTH: "Новогодние подарки: каталог {year}",
}

DEMO_BODY = """{{ greeting }}

{% if tag.kind == "month" %}Вы говорили, что новогодние подарки у вас закупают в этом месяце, поэтому присылаю наш новый каталог:
{% else %}Скоро праздник, и мы подготовили подборку подарков для {{ company or "ваших коллег" }}:
{% endif %}{{ links.catalog }}

Для вас действует специальная скидка — подробности здесь: {{ links.discount }}

Если будут вопросы, звоните: {{ advisor.phone }}.

{{ advisor.signature }}

Если вы не хотите получать такие письма, нажмите здесь: {{ unsubscribe_url }}
"""


def load(session, settings: Settings) -> str:
    rng = random.Random(SEED)
    catalog.seed_tags(session)
    tags = {t.name: t for t in session.scalars(select(Tag))}
    advisors = []
    # The demo's documented password is short on purpose; it is hashed once and given as a hash.
    demo_hash = accounts.hash_password(DEMO_PASSWORD)
    for email, name, role, phone, is_house in USERS:
        user = accounts.create_user(
            session,
            email=email,
            name=name,
            role=role,
            phone=phone,
            is_house=is_house,
            password_hash=demo_hash,
            signature=f"С уважением,\n{name}\nСтудия корпоративных подарков\n{phone or ''}".strip(),
        )
        if role == Role.ADVISOR:
            advisors.append(user)
        # The head of sales (here the admin) gets the house advisor's hot contacts.
        user.watches_house = role == Role.ADMIN
    session.flush()

    today = datetime.now(settings.timezone).date()
    offers: dict[int, Offer] = {}
    for i, tag in enumerate(sorted(tags.values(), key=lambda t: t.name)):
        offer = Offer(
            tag=tag,
            year=today.year,
            subject=_SUBJECTS[tag.kind].format(tag=tag.name, year=today.year + 1),
            body=DEMO_BODY,
            status=OfferStatus.DRAFT if i % 7 == 3 else OfferStatus.READY,
        )
        offer.links = [
            Link(
                name="catalog",
                url=f"https://gifts.example.com/catalog/{today.year}/{tag.id}?utm_source=mail",
                label="Каталог",
                weight=1,
            ),
            Link(name="discount", url="https://gifts.example.com/скидка?code=DEMO#условия", label="Скидка", weight=3),
        ]
        session.add(offer)
        offers[tag.id] = offer
    session.flush()

    now = datetime.now(UTC)
    month_tags = [t for t in tags.values() if t.kind == TagKind.MONTH]
    holiday_tags = [t for t in tags.values() if t.kind == TagKind.HOLIDAY]
    contacts = []
    for n in range(300):
        company, alias, slug, industry = COMPANIES[n % len(COMPANIES)]
        first, middle, last = _person(rng)
        owner = advisors[n % len(advisors)]
        contact = Contact(
            owner=owner,
            first_name=first,
            middle_name=middle,
            last_name=last,
            company=company,
            company_alias=alias,
            position=rng.choice(["Директор по персоналу", "Офис-менеджер", "Маркетолог", "Секретарь", "PR-менеджер"]),
            email=f"contact{n:03d}@{slug}.example.com",
            phone=f"+7495{rng.randrange(10**6, 10**7):07d}",
            consent_source=rng.choice(["визитка на выставке", "звонок клиента", "форма на сайте"]),
            consent_at=now - timedelta(days=rng.randrange(30, 900)),
            created_at=now - timedelta(days=rng.randrange(30, 900)),
            updated_at=now - timedelta(days=rng.randrange(0, 200), hours=rng.randrange(24)),
        )
        contact.tags = [tags[industry], rng.choice(month_tags)] + ([rng.choice(holiday_tags)] if rng.random() < 0.5 else [])
        if n % 9 == 0:
            contact.next_contact_on = today + timedelta(days=rng.randrange(-3, 10))
        session.add(contact)
        contacts.append(contact)
    session.flush()
    consent.stop_erased(session, [c.email for c in contacts])  # `demo --force` on a database with erasures

    deliveries = []
    for contact in contacts:
        if rng.random() < 0.3:
            interest = rng.random() < 0.5
            later = today + timedelta(days=rng.randrange(5, 60))
            called_at = now - timedelta(days=rng.randrange(1, 120))
            next_on = contact.next_contact_on or later  # a call planned in the list above keeps its date
            # Logged as an advisor logs a call (calls.py): the card then shows the date the call set.
            called_at = min(called_at, datetime.combine(next_on, time(10), UTC))
            calls.log_call(
                session,
                contact.owner,
                contact,
                result="Прислать предложение ближе к празднику",
                interest=interest,
                next_contact_on=next_on,
                today=called_at.date(),
                now=called_at,
            )
        for tag in contact.tags:
            offer = offers[tag.id]
            day = send_date(tag.rule, tag.lead_days, today.year)
            if day >= today or offer.status != OfferStatus.READY:
                continue
            sent_at = datetime.combine(day, time(9, 30), settings.timezone).astimezone(UTC) + timedelta(
                minutes=rng.randrange(0, 480)
            )
            deliveries.append(
                Delivery(
                    offer=offer,
                    contact=contact,
                    advisor_id=contact.owner_id,
                    status=DeliveryStatus.SENT,
                    send_on=day,
                    send_at=sent_at,
                    sent_at=sent_at,
                    attempts=1,
                )
            )
    session.add_all(deliveries)
    session.flush()  # one round of ids: the tracked links in the mails need them

    clicks = 0
    for delivery in deliveries:
        contact, offer = delivery.contact, delivery.offer
        # The mail as it would have gone out, so the note opens a real letter.
        mail = mails.offer_message(
            offer=offer, contact=contact, advisor=contact.owner, settings=settings, delivery_id=delivery.id, now=delivery.sent_at
        )
        delivery.message_id = mail["Message-ID"]
        session.add(
            Note(
                contact=contact,
                kind=NoteKind.MAIL,
                author_id=contact.owner_id,
                delivery_id=delivery.id,
                subject=str(mail["Subject"]),
                body=f"Отправлено письмо «{mail['Subject']}»",
                created_at=delivery.sent_at,
                raw_message=mail.as_string(),
            )
        )
        clicks += _demo_clicks(session, rng, contact, delivery, offer, now)
    sent = len(deliveries)
    return (
        f"demo data loaded: {len(advisors)} advisors, {len(contacts)} contacts, {len(offers)} offers, "
        f"{sent} sent mails, {clicks} clicks"
    )


def _demo_clicks(session, rng, contact, delivery, offer, now) -> int:
    roll = rng.random()
    if roll > 0.35:
        return 0
    catalog_link, discount_link = offer.links[0], offer.links[1]
    count = 0
    if roll < 0.08:  # a mail security gateway opens every link at once, seconds after delivery
        for link in offer.links:
            session.add(
                Click(
                    delivery=delivery,
                    link=link,
                    contact=contact,
                    clicked_at=delivery.sent_at + timedelta(seconds=3),
                    method="GET",
                    ip="40.94.1.1",
                    user_agent="Mozilla/5.0 (compatible; SafeLinks)",
                    verdict=Verdict.BOT,
                    reason="all links within 1 s of delivery",
                )
            )
            count += 1
        return count
    # A person: recent clicks feed the hot list.
    at = max(delivery.sent_at + timedelta(hours=rng.randrange(1, 72)), now - timedelta(days=rng.randrange(0, 20), hours=2))
    at = min(at, now - timedelta(minutes=30))
    if at <= delivery.sent_at:
        return 0
    session.add(
        Click(
            delivery=delivery,
            link=catalog_link,
            contact=contact,
            clicked_at=at,
            method="GET",
            ip="95.31.1.1",
            user_agent="Mozilla/5.0 (Windows NT 10.0) Chrome/130",
            verdict=Verdict.HUMAN,
        )
    )
    count += 1
    if rng.random() < 0.5:
        session.add(
            Click(
                delivery=delivery,
                link=discount_link,
                contact=contact,
                clicked_at=at + timedelta(minutes=4),
                method="GET",
                ip="95.31.1.1",
                user_agent="Mozilla/5.0 (Windows NT 10.0) Chrome/130",
                verdict=Verdict.HUMAN,
            )
        )
        count += 1
    session.add(Note(contact=contact, kind=NoteKind.CLICK, body=f"Переход по ссылке «{catalog_link.label}»", created_at=at))
    return count


# ------------------------------------------------------------------ the first five minutes

FIRST_MAILS_TAG = tag_groups.DEMO_PREFIX + "первые письма"  # its own group in tag choices, not a holiday
FIRST_MAILS = 5  # mails that go out at once when `./run` starts on an empty database
FIRST_MAILS_OWNER = "anna@demo.example"  # whose hot list the README's walk-through opens


def first_mails_rule(day) -> str:
    """A rule (calendar.py's grammar) whose occasion is `day`: its mailing is due that very day."""

    if (day.month, day.day) == (2, 29):
        return "day 60"  # «29 feb» is refused (not every year has it); in a leap year day 60 is 29 Feb
    return f"{day.day} {MONTHS[day.month - 1]}"


def prepare_first_mails(session, settings: Settings, now: datetime | None = None) -> list[Delivery]:
    """A mailing due now, whatever the hour or the day: a few mails a newcomer sees go out at once.

    The demo only (`./run` calls it right after loading the demo into an empty database): a tag
    whose occasion is today, its ready offer, and FIRST_MAILS planned deliveries to Anna's
    contacts, each already given its moment — now. Pacing (working hours, working days, the
    daily cap) gives moments only to deliveries that have none, so it leaves these alone and
    is not changed for anyone else; the dispatcher sends them on its next tick (every 30 s),
    through the same claim, checks and relay limit as every mail. The contacts chosen had no
    mail within TAG_SPACING_DAYS, so spacing lets them go too.
    """
    now = now or datetime.now(UTC)
    today = now.astimezone(settings.timezone).date()
    tag = session.scalar(select(Tag).where(Tag.name == FIRST_MAILS_TAG))
    if tag is None:
        tag = Tag(
            name=FIRST_MAILS_TAG,
            kind=TagKind.HOLIDAY,
            rule=first_mails_rule(today),
            lead_days=0,
            description="демо-рассылка: её письма уходят сразу после первого запуска ./run",
        )
        session.add(tag)
        session.flush()
    offer = session.scalar(select(Offer).where(Offer.tag_id == tag.id, Offer.year == today.year))
    if offer is None:
        offer = Offer(
            tag=tag, year=today.year, subject="Подарки для ваших коллег: новый каталог", body=DEMO_BODY, status=OfferStatus.READY
        )
        offer.links = [
            Link(
                name="catalog", url=f"https://gifts.example.com/catalog/{today.year}?utm_source=mail", label="Каталог", weight=1
            ),
            Link(name="discount", url="https://gifts.example.com/скидка?code=DEMO#условия", label="Скидка", weight=3),
        ]
        session.add(offer)
        session.flush()
    owner = session.scalar(select(Advisor).where(Advisor.email == FIRST_MAILS_OWNER))
    recent = select(Delivery.contact_id).where(Delivery.send_on > today - timedelta(days=settings.tag_spacing_days))
    already = select(Delivery.contact_id).where(Delivery.offer_id == offer.id)
    contacts = session.scalars(
        select(Contact)
        .where(Contact.owner_id == owner.id, audience.may_be_mailed(), Contact.id.not_in(recent), Contact.id.not_in(already))
        .order_by(Contact.id)
        .limit(FIRST_MAILS)
    ).all()
    deliveries = []
    for contact in contacts:
        if tag not in contact.tags:
            contact.tags.append(tag)
        deliveries.append(
            Delivery(
                offer=offer,
                contact=contact,
                advisor_id=owner.id,
                status=DeliveryStatus.PLANNED,
                send_on=today,
                send_at=now.replace(microsecond=0),
            )
        )
    session.add_all(deliveries)
    session.flush()
    return deliveries
