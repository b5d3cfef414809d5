"""A year of mailings, day by day, whatever the order and timing of events (#21).

A small generated population (tags of every kind, three advisors, a house advisor or none) is
planned, paced and sent as the 07:00 and the every-10-minutes jobs do, from December 2027 to
the end of 2028 (across New Year in both directions). Hypothesis chooses when each offer is
made ready (early, on the send date, mid-day, late, never), when tags are added or removed,
when an advisor is deactivated and whether a house advisor exists, and when a cap changes.
After every day: at most one mail per contact and offer, spacing, caps, working days only,
nothing after its mailing's last day, nothing sent without a sender, every missed mailing
recorded.
"""

from __future__ import annotations

import dataclasses
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sqlalchemy import select, text

from campaigns import calendar, ownership, pacing, planner, sending
from campaigns.db import Base
from campaigns.missed import is_missed
from campaigns.models import Contact, Delivery, DeliveryStatus, Link, MissedMailing, OfferStatus, Role, TagKind
from campaigns.sender import sender_for

START, END = date(2027, 12, 1), date(2028, 12, 31)
TAGS = [  # name, kind, rule, lead
    ("Старый Новый год", TagKind.HOLIDAY, "15 jan", 40),  # sent in December of the year before
    ("23 февраля", TagKind.HOLIDAY, "23 feb", 21),
    ("8 марта", TagKind.HOLIDAY, "8 mar", 21),
    ("Март", TagKind.MONTH, "workday1 mar", 0),
    ("Строители", TagKind.INDUSTRY, "2 sun aug", 21),
    ("Август", TagKind.MONTH, "workday1 aug", 0),
    ("Декабрь", TagKind.MONTH, "workday1 dec", 0),
]
SPACING = 7
DAYS = (END - START).days


class Outbox:
    """Stands in for the relay: takes every message."""

    def send(self, message, data=None):
        return None


def _moscow(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour - 3, minute, tzinfo=UTC)


readiness = st.one_of(
    st.just(("never", 0)),
    st.tuples(st.sampled_from(["early", "on_time", "midday", "late"]), st.integers(0, 30)),
)
events = st.fixed_dictionaries(
    {
        "ready": st.lists(readiness, min_size=len(TAGS), max_size=len(TAGS)),
        "tag_changes": st.lists(
            st.tuples(st.integers(0, DAYS), st.integers(0, 11), st.integers(0, len(TAGS) - 1), st.booleans()), max_size=6
        ),
        "deactivate": st.one_of(st.none(), st.tuples(st.integers(0, DAYS), st.booleans())),
        "house": st.booleans(),
        "cap_change": st.one_of(st.none(), st.tuples(st.integers(0, DAYS), st.integers(1, 3))),
        "memberships": st.lists(st.sets(st.integers(0, len(TAGS) - 1), min_size=1, max_size=3), min_size=12, max_size=12),
    }
)


def _wipe(session):
    session.rollback()
    with session.get_bind().begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(text(f"DELETE FROM {table.name}"))


# No shrinking: a failing year is reported as generated, within the suite's time.
@hsettings(
    max_examples=3,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(plan=events)
def test_a_year_of_mailings_keeps_every_timing_rule(session, factory, settings, plan):
    if session.get_bind().dialect.name != "sqlite":
        pytest.skip("the year runs on SQLite: seconds, and the rules are the same SQL")
    _wipe(session)
    settings = dataclasses.replace(settings, daily_cap=2, tag_spacing_days=SPACING)
    admin = factory.advisor(role=Role.ADMIN)
    advisors = [factory.advisor(name=f"Советник {i}", daily_cap=2) for i in range(3)]
    house = factory.house_advisor() if plan["house"] else None
    tags = [factory.tag(name, kind=kind, rule=rule, lead_days=lead) for name, kind, rule, lead in TAGS]
    people = [
        factory.contact(owner=advisors[i % 3], tags=[tags[t] for t in sorted(member)])
        for i, member in enumerate(plan["memberships"])
    ]

    # When each offer becomes ready: (day, hour) or None.
    ready_at: dict[tuple[int, int], tuple[date, int]] = {}
    offers = {}
    for (_name, _kind, rule, lead), tag, (how, shift) in zip(TAGS, tags, plan["ready"], strict=True):
        for year in (2028, 2029):
            send_on, last_day = calendar.mailing_window(rule, lead, year)
            if send_on > END:
                continue
            offer = factory.offer(tag=tag, year=year, status=OfferStatus.DRAFT)
            offer.links.append(Link(name="catalog", url="https://studio.example.com/catalog.pdf"))
            offers[(tag.id, year)] = offer
            if how == "early":
                ready_at[(tag.id, year)] = (START, 6)
            elif how == "on_time":
                ready_at[(tag.id, year)] = (send_on, 6)
            elif how == "midday":
                ready_at[(tag.id, year)] = (send_on + timedelta(days=shift % 5), 14)
            elif how == "late":
                ready_at[(tag.id, year)] = (send_on + timedelta(days=shift), 14)
    session.commit()

    caps = {a.id: 2 for a in advisors}
    cap_log: dict[tuple[int, date], int] = {}
    changes = defaultdict(list)
    for offset, who, t, add in plan["tag_changes"]:
        changes[START + timedelta(days=offset)].append((people[who], tags[t], add))

    def make_ready(day: date, hour: int):
        for key, (when, at) in ready_at.items():
            if when == day and at == hour:
                offers[key].status = OfferStatus.READY

    def send_due(until: datetime):
        due = session.execute(
            select(Delivery.id, Delivery.send_at)
            .where(Delivery.status == DeliveryStatus.PLANNED, Delivery.send_at <= until)
            .order_by(Delivery.send_at)
        ).all()
        for delivery_id, moment in due:
            sending.send_delivery(session, delivery_id, settings, now=moment, transport=Outbox(), rate_limit=False)

    def run(day: date, hour: int, minute: int):
        now = _moscow(day, hour, minute)
        planner.plan_day(session, day, settings)
        pacing.pace_day(session, day, settings, now=now)
        session.commit()

    # Days when nothing is due and nothing happens change nothing: the jobs run on the others.
    active = {day for when, _hour in ready_at.values() for day in (when,)} | set(changes)
    for offset in (plan["deactivate"] or (None,))[:1] + (plan["cap_change"] or (None,))[:1]:
        if offset is not None:
            active.add(START + timedelta(days=offset))
    for tag in tags:
        for year in (2027, 2028, 2029):
            send_on, last_day = calendar.mailing_window(tag.rule, tag.lead_days, year)
            active |= {send_on + timedelta(days=i) for i in range(-1, (last_day - send_on).days + 2)}
    day = START
    while day <= END:
        if day not in active:
            day += timedelta(days=1)
            continue
        for contact, tag, add in changes.get(day, []):
            current = set(contact.tags)
            contact.tags = sorted(current | {tag} if add else current - {tag}, key=lambda t: t.id)
        if plan["deactivate"] and plan["deactivate"][0] == (day - START).days:
            leaving = advisors[0]
            if plan["deactivate"][1]:
                ownership.deactivate_advisor(session, admin, leaving, advisors[1])
            else:
                leaving.active = False
        if plan["cap_change"] and plan["cap_change"][0] == (day - START).days:
            for advisor in advisors:
                advisor.daily_cap = caps[advisor.id] = plan["cap_change"][1]
        make_ready(day, 6)
        session.commit()
        for advisor in advisors:
            cap_log[(advisor.id, day)] = caps[advisor.id]
        run(day, 7, 0)
        send_due(_moscow(day, 14))
        make_ready(day, 14)
        session.commit()
        run(day, 14, 10)
        send_due(_moscow(day, 23, 59))
        _check(session, settings, day, cap_log, house, offers)
        day += timedelta(days=1)


def _check(session, settings, day, cap_log, house, offers):
    sent = session.execute(
        # send_at: the simulated moment it went (sent_at is the machine's clock).
        select(Delivery.contact_id, Delivery.offer_id, Delivery.send_at, Delivery.advisor_id).where(
            Delivery.status == DeliveryStatus.SENT
        )
    ).all()
    per_pair = Counter((contact_id, offer_id) for contact_id, offer_id, _at, _adv in sent)
    assert max(per_pair.values(), default=0) <= 1
    last_days = {}
    for (_tag_id, year), offer in offers.items():
        last_days[offer.id] = calendar.mailing_window(offer.tag.rule, offer.tag.lead_days, year)[1]
    by_contact = defaultdict(list)
    per_advisor_day = Counter()
    for contact_id, offer_id, sent_at, advisor_id in sent:
        sent_day = sent_at.astimezone(settings.timezone).date()
        assert calendar.is_working_day(sent_day), sent_day
        assert sent_day <= last_days[offer_id], (offer_id, sent_day, last_days[offer_id])
        assert advisor_id is not None
        by_contact[contact_id].append(sent_day)
        per_advisor_day[(advisor_id, sent_day)] += 1
    for days in by_contact.values():
        days.sort()
        assert all((b - a).days >= SPACING for a, b in zip(days, days[1:], strict=False)), days
    for (advisor_id, sent_day), count in per_advisor_day.items():
        cap = cap_log.get((advisor_id, sent_day), settings.daily_cap)
        assert count <= cap, (advisor_id, sent_day, count, cap)
    # Every mailing that closed without reaching its audience is recorded.
    recorded = set(session.execute(select(MissedMailing.tag_id, MissedMailing.year)).all())
    for (tag_id, year), offer in offers.items():
        closed = last_days[offer.id] < day
        if closed and offer.status != OfferStatus.READY:
            assert (tag_id, year) in recorded, (offer.tag.name, year)
    missed_rows = session.execute(select(Delivery.offer_id).where(is_missed()).distinct()).scalars().all()
    for offer_id in missed_rows:
        offer = next(o for o in offers.values() if o.id == offer_id)
        assert (offer.tag_id, offer.year) in recorded
    # Nothing paced for a contact nobody may send from.
    paced = session.scalars(
        select(Contact)
        .join(Delivery, Delivery.contact_id == Contact.id)
        .where(Delivery.status == DeliveryStatus.PLANNED, Delivery.send_at.is_not(None))
    ).all()
    for contact in paced:
        sender_for(session, contact)  # raises NoSender
