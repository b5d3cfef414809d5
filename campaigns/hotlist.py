"""The hot list: an advisor's own contacts who really clicked, the most engaged first.

Ranking is one SQL statement grouped by contact. The engagement of a contact is the sum
over its human clicks of  link weight / (1 + age in days):  every click counts, the
discount (weight 3) counts more than the catalog (weight 1), and yesterday's click counts
twice as much as one from three days ago. Only clicks after the contact's hot_handled_at
count, so a contact the advisor handled comes back only with a new click.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import Float, cast, func, literal, or_, select
from sqlalchemy.orm import Session

from .db import UTCDateTime, utcnow
from .models import Advisor, Click, Contact, Link, Note, NoteKind, Verdict

LIMIT = 100


@dataclass
class ClickedLink:
    label: str
    count: int
    last_at: datetime


@dataclass
class HotEntry:
    contact_id: int
    name: str
    company: str
    position: str
    phone: str | None
    email: str | None
    next_contact_on: date | None
    unsubscribed: bool
    score: float
    clicks: int
    last_click_at: datetime
    links: list[ClickedLink] = field(default_factory=list)
    last_note: Note | None = None


def _age_days(session: Session, now: datetime):
    now_param = literal(now, UTCDateTime)
    if session.get_bind().dialect.name == "postgresql":
        return func.extract("epoch", now_param - Click.clicked_at) / 86400.0
    return func.julianday(now_param) - func.julianday(Click.clicked_at)


def _hot_filter(advisor_id: int, since: datetime):
    return (
        Contact.owner_id == advisor_id,
        Contact.archived_at.is_(None),
        Click.verdict == Verdict.HUMAN,
        Click.clicked_at >= since,
        or_(Contact.hot_handled_at.is_(None), Click.clicked_at > Contact.hot_handled_at),
    )


def ranking_query(session: Session, advisor_id: int, hot_days: int, now: datetime, limit: int = LIMIT):
    """The one statement that ranks an advisor's hot contacts (also used by bench/).

    The inner part touches only two covering indexes (owner → own live contacts, contact →
    its human clicks with their links); the contact rows are read for the top `limit` only.
    """
    since = now - timedelta(days=hot_days)
    score = func.sum(cast(func.coalesce(Link.weight, 1), Float) / (1.0 + _age_days(session, now))).label("score")
    last_click = func.max(Click.clicked_at).label("last_click_at")
    ranked = (
        select(Click.contact_id, score, func.count().label("clicks"), last_click)
        .select_from(Contact)
        .join(Click, Click.contact_id == Contact.id)
        .outerjoin(Link, Link.id == Click.link_id)
        .where(*_hot_filter(advisor_id, since))
        .group_by(Click.contact_id)
        .order_by(score.desc(), last_click.desc(), Click.contact_id)
        .limit(limit)
        .subquery("ranked")
    )
    return (
        select(Contact, ranked.c.score, ranked.c.clicks, ranked.c.last_click_at)
        .join(ranked, ranked.c.contact_id == Contact.id)
        .order_by(ranked.c.score.desc(), ranked.c.last_click_at.desc(), Contact.id)
    )


def hot_list(session: Session, advisor_id: int, settings, now: datetime | None = None, limit: int = LIMIT) -> list[HotEntry]:
    now = now or utcnow()
    rows = session.execute(ranking_query(session, advisor_id, settings.hot_days, now, limit)).all()
    entries = [
        HotEntry(
            contact_id=c.id, name=c.full_name, company=c.company, position=c.position, phone=c.phone, email=c.email,
            next_contact_on=c.next_contact_on, unsubscribed=c.unsubscribed_at is not None,
            score=float(score), clicks=int(count), last_click_at=last,
        )
        for c, score, count, last in rows
    ]
    if entries:
        _add_details(session, entries, advisor_id, now - timedelta(days=settings.hot_days))
    return entries


def _add_details(session: Session, entries: list[HotEntry], advisor_id: int, since: datetime) -> None:
    """What each contact clicked, and its last note: two set-based reads for the whole page."""
    by_id = {e.contact_id: e for e in entries}
    label = func.coalesce(func.nullif(Link.label, ""), Link.name)
    clicked = session.execute(
        select(Click.contact_id, label.label("label"), func.count(Click.id), func.max(Click.clicked_at))
        .join(Contact, Contact.id == Click.contact_id)
        .join(Link, Link.id == Click.link_id)
        .where(Click.contact_id.in_(by_id), *_hot_filter(advisor_id, since))
        .group_by(Click.contact_id, label)
    ).all()
    grouped: dict[int, list[ClickedLink]] = defaultdict(list)
    for contact_id, link_label, count, last_at in clicked:
        grouped[contact_id].append(ClickedLink(link_label, int(count), last_at))
    for contact_id, links in grouped.items():
        by_id[contact_id].links = sorted(links, key=lambda link: link.last_at, reverse=True)
    last_ids = (
        select(func.max(Note.id))
        .where(Note.contact_id.in_(by_id), Note.kind != NoteKind.CLICK)
        .group_by(Note.contact_id)
    )
    for note in session.scalars(select(Note).where(Note.id.in_(last_ids))):
        by_id[note.contact_id].last_note = note


# ------------------------------------------------------------------ actions from the list

def own_contact(session: Session, advisor: Advisor, contact_id: int) -> Contact | None:
    contact = session.get(Contact, contact_id)
    if contact is None or contact.owner_id != advisor.id or contact.archived_at is not None:
        return None
    return contact


def log_call(session: Session, contact: Contact, advisor: Advisor, *, result: str, interest: bool | None,
             next_contact_on: date, objection: str = "", now: datetime | None = None) -> Note:
    """The advisor called: the result is a note, the next date is planned, the entry is handled."""
    now = now or utcnow()
    interest_text = {True: "интерес есть", False: "интереса нет", None: "интерес не ясен"}[interest]
    body = f"Звонок по горячему списку: {result.strip()} ({interest_text}). Следующий контакт — {next_contact_on:%d.%m.%Y}."
    note = Note(contact_id=contact.id, kind=NoteKind.CALL, author_id=advisor.id, body=body, result=result.strip(),
                interest=interest, objection=objection.strip() or None, next_contact_on=next_contact_on, created_at=now)
    session.add(note)
    contact.next_contact_on = next_contact_on
    contact.hot_handled_at = now
    session.flush()
    return note


def not_interested(session: Session, contact: Contact, advisor: Advisor, now: datetime | None = None) -> Note:
    now = now or utcnow()
    note = Note(contact_id=contact.id, kind=NoteKind.CALL, author_id=advisor.id, interest=False,
                body="Не интересно (отмечено в горячем списке).", created_at=now)
    session.add(note)
    contact.hot_handled_at = now
    session.flush()
    return note


def dismiss(session: Session, contact: Contact, advisor: Advisor, now: datetime | None = None) -> Note:
    now = now or utcnow()
    note = Note(contact_id=contact.id, kind=NoteKind.SYSTEM, author_id=advisor.id,
                body="Убран из горячего списка до следующего перехода по ссылке.", created_at=now)
    session.add(note)
    contact.hot_handled_at = now
    session.flush()
    return note
