"""The hot list: an advisor's own contacts who really clicked, the most engaged first.

Ranking is one SQL statement grouped by contact. The engagement of a contact is the sum
over its human clicks of  link weight / (1 + age in days):  every click counts, the
discount (weight 3) counts more than the catalog (weight 1), and yesterday's click counts
twice as much as one from three days ago. Only clicks after the contact's hot_handled_at
count, so a contact the advisor handled comes back only with a new click.

A contact who replied to a mail (replies.py) goes first, as «ответил», newest reply first: a
reply is the strongest sign of interest. It too leaves the list once the advisor handles it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import Float, Integer, Select, bindparam, cast, func, literal, or_, select
from sqlalchemy.orm import Session

from .config import Settings
from .db import UTCDateTime, utcnow
from .models import Advisor, Click, Contact, Link, Note, NoteKind, Verdict
from .replies import replied_contacts
from .sender import house_advisor

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
    last_click_at: datetime | None
    links: list[ClickedLink] = field(default_factory=list)
    last_note: Note | None = None
    replied_at: datetime | None = None  # the contact's last reply (replies.py): first on the list


def _age_days(session: Session, now):
    now_param = literal(now, UTCDateTime) if isinstance(now, datetime) else now
    if session.get_bind().dialect.name == "postgresql":
        return func.extract("epoch", now_param - Click.clicked_at) / 86400.0
    return func.julianday(now_param) - func.julianday(Click.clicked_at)


def _hot_filter(advisor_id: int, since: datetime):
    # Click.owner_id + verdict + clicked_at are one range of ix_clicks_owner_id_clicked_at_human.
    # Click.owner_id equals the contact's owner (flush_clicks, transfer_contacts); testing
    # Contact.owner_id too lets PostgreSQL check the clicked contacts with one hash of the owner's
    # live contacts (ix_contacts_owner_id_hot) instead of a probe per click (6 ms vs 9 ms a page),
    # and is a safety net. It also makes PostgreSQL expect ~6 hot clicks for ~1,300: the queries
    # below are shaped so that nested loops are right even then (no join repeats the click scan).
    return (
        Click.owner_id == advisor_id,
        Click.verdict == Verdict.HUMAN,
        Click.clicked_at >= since,
        Contact.owner_id == advisor_id,
        Contact.archived_at.is_(None),
        or_(Contact.hot_handled_at.is_(None), Click.clicked_at > Contact.hot_handled_at),
    )


def _score(session: Session, now):
    return func.sum(cast(func.coalesce(Link.weight, 1), Float) / (1.0 + _age_days(session, now)))


def _hot_clicks(select_, advisor_id, since):
    return (
        select_.select_from(Click)
        .join(Contact, Contact.id == Click.contact_id)
        .outerjoin(Link, Link.id == Click.link_id)
        .where(*_hot_filter(advisor_id, since))
    )


def ranking_query(session: Session, advisor_id: int, hot_days: int, now: datetime, limit: int = LIMIT):
    """The statement that ranks an advisor's hot contacts, one row per contact (bench/ times it alone).

    The advisor's recent human clicks are one range of a covering index (owner, click time →
    contact, link): the cost follows the hot clicks, not the size of the advisor's book.
    """
    score = _score(session, now).label("score")
    last_click = func.max(Click.clicked_at).label("last_click_at")
    ranked = (
        _hot_clicks(
            select(Click.contact_id, score, func.count().label("clicks"), last_click), advisor_id, now - timedelta(days=hot_days)
        )
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


_PAGE_QUERIES: dict[str, Select] = {}
# Columns, not the Contact entity: the page only shows them, and entities cost 1-2 ms a page.
_CONTACT_COLUMNS = (
    Contact.id,
    Contact.last_name,
    Contact.first_name,
    Contact.middle_name,
    Contact.company,
    Contact.position,
    Contact.phone,
    Contact.email,
    Contact.next_contact_on,
    Contact.unsubscribed_at,
)


def page_query(session: Session) -> Select:
    """The ranking and what each contact clicked, in one statement: a row per ranked contact and link.

    Its parameters come from page_params(). Built once per database kind: building it anew
    cost 2 ms of a page's ≈ 15.
    """
    dialect = session.get_bind().dialect.name
    if dialect not in _PAGE_QUERIES:
        _PAGE_QUERIES[dialect] = _page_query(session)
    return _PAGE_QUERIES[dialect]


def page_params(advisor_id: int, hot_days: int, now: datetime, limit: int = LIMIT) -> dict:
    return {"advisor_id": advisor_id, "now": now, "since": now - timedelta(days=hot_days), "limit": limit}


def _page_query(session: Session) -> Select:
    """The clicks are summed per contact and link once; window sums give each row its contact's
    totals, and the contact's place in the ranking keeps the top `limit` contacts."""
    now, since = bindparam("now", type_=UTCDateTime), bindparam("since", type_=UTCDateTime)
    per_link = (
        _hot_clicks(
            select(
                Click.contact_id,
                Click.link_id,
                _score(session, now).label("score"),
                func.count().label("clicks"),
                func.max(Click.clicked_at).label("last_at"),
            ),
            bindparam("advisor_id", type_=Integer),
            since,
        )
        .group_by(Click.contact_id, Click.link_id)
        .subquery("per_link")
    )
    contact = {"partition_by": per_link.c.contact_id}
    totals = select(
        per_link,
        func.sum(per_link.c.score).over(**contact).label("total"),
        func.sum(per_link.c.clicks).over(**contact).label("total_clicks"),
        func.max(per_link.c.last_at).over(**contact).label("last_click_at"),
    ).subquery("totals")
    placed = select(
        totals,
        func.dense_rank()
        .over(order_by=(totals.c.total.desc(), totals.c.last_click_at.desc(), totals.c.contact_id))
        .label("place"),
    ).subquery("placed")
    label = func.coalesce(func.nullif(Link.label, ""), Link.name)
    return (
        select(
            *_CONTACT_COLUMNS,
            placed.c.total,
            placed.c.total_clicks,
            placed.c.last_click_at,
            label.label("label"),
            placed.c.clicks,
            placed.c.last_at,
        )
        .join(placed, placed.c.contact_id == Contact.id)
        .outerjoin(Link, Link.id == placed.c.link_id)
        .where(placed.c.place <= bindparam("limit", type_=Integer))
        .order_by(placed.c.place)
    )


def hot_list(
    session: Session, advisor_id: int, settings: Settings, now: datetime | None = None, limit: int = LIMIT
) -> list[HotEntry]:
    now = now or utcnow()
    entries: dict[int, HotEntry] = {}
    links: dict[int, dict[str, ClickedLink]] = defaultdict(dict)
    for row in session.execute(page_query(session), page_params(advisor_id, settings.hot_days, now, limit)):
        c = row  # the contact's columns by name
        score, count, last, label, link_count, link_last = row[-6:]
        if c.id not in entries:
            entries[c.id] = _entry(c, float(score), int(count), last)
        if label is None:
            continue
        # Two links of one mail may share a label: the advisor sees one line for them.
        seen = links[c.id].get(label)
        if seen is None:
            links[c.id][label] = ClickedLink(label, int(link_count), link_last)
        else:
            seen.count += int(link_count)
            seen.last_at = max(seen.last_at, link_last)
    for contact_id, by_label in links.items():
        entries[contact_id].links = sorted(by_label.values(), key=lambda link: link.last_at, reverse=True)
    entries = _replied_first(session, advisor_id, entries, now - timedelta(days=settings.hot_days))
    if entries:
        _add_last_notes(session, entries)
    return list(entries.values())


def _entry(c, score: float, clicks: int, last_click_at: datetime | None) -> HotEntry:
    """A hot-list line from a row of the contact's columns (_CONTACT_COLUMNS) and its click figures."""
    return HotEntry(
        contact_id=c.id,
        name=Contact.full_name.fget(c),  # type: ignore[attr-defined]  # the model's own rule, on the row
        company=c.company,
        position=c.position,
        phone=c.phone,
        email=c.email,
        next_contact_on=c.next_contact_on,
        unsubscribed=c.unsubscribed_at is not None,
        score=score,
        clicks=clicks,
        last_click_at=last_click_at,
    )


def _replied_first(session: Session, advisor_id: int, entries: dict[int, HotEntry], since: datetime) -> dict[int, HotEntry]:

    replied = replied_contacts(session, advisor_id, since)
    if not replied:
        return entries
    missing = [cid for cid, _at in replied if cid not in entries]
    for c in session.execute(select(*_CONTACT_COLUMNS).where(Contact.id.in_(missing))) if missing else ():
        entries[c.id] = _entry(c, 0.0, 0, None)
    ordered: dict[int, HotEntry] = {}
    for contact_id, replied_at in replied:
        if contact_id in entries:
            entries[contact_id].replied_at = replied_at
            ordered[contact_id] = entries[contact_id]
    ordered.update((cid, entry) for cid, entry in entries.items() if cid not in ordered)
    return ordered


def _add_last_notes(session: Session, by_id: dict[int, HotEntry]) -> None:
    """Each listed contact's last note (not a click note): one set-based read for the whole page."""
    last_ids = select(func.max(Note.id)).where(Note.contact_id.in_(by_id), Note.kind != NoteKind.CLICK).group_by(Note.contact_id)
    for note in session.scalars(select(Note).where(Note.id.in_(last_ids))):
        by_id[note.contact_id].last_note = note


def house_hot_list(
    session: Session, user: Advisor, settings: Settings, now: datetime | None = None, limit: int = LIMIT
) -> tuple[Advisor | None, list[HotEntry]]:
    """The house advisor's hot contacts for a user admin named to get them (Advisor.watches_house):
    nobody reads the house advisor's own list. (None, []) for everybody else."""
    if not user.watches_house:
        return None, []
    house = house_advisor(session)
    if house is None or house.id == user.id:
        return None, []
    return house, hot_list(session, house.id, settings, now=now, limit=limit)


# ------------------------------------------------------------------ actions from the list


def own_contact(session: Session, advisor: Advisor, contact_id: int) -> Contact | None:
    """A live contact the advisor works from the hot list: their own, or the house advisor's for a watcher."""
    contact = session.get(Contact, contact_id)
    if contact is None or contact.archived_at is not None:
        return None
    if contact.owner_id == advisor.id or (advisor.watches_house and contact.owner.is_house):
        return contact
    return None


def not_interested(session: Session, contact: Contact, advisor: Advisor, now: datetime | None = None) -> Note:
    now = now or utcnow()
    note = Note(
        contact_id=contact.id,
        kind=NoteKind.CALL,
        author_id=advisor.id,
        interest=False,
        body="Не интересно (отмечено в горячем списке).",
        created_at=now,
    )
    session.add(note)
    contact.hot_handled_at = now
    session.flush()
    return note


def dismiss(session: Session, contact: Contact, advisor: Advisor, now: datetime | None = None) -> Note:
    now = now or utcnow()
    note = Note(
        contact_id=contact.id,
        kind=NoteKind.SYSTEM,
        author_id=advisor.id,
        body="Убран из горячего списка до следующего перехода по ссылке.",
        created_at=now,
    )
    session.add(note)
    contact.hot_handled_at = now
    session.flush()
    return note
