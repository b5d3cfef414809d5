"""Whose name a mail goes out in: the one rule behind compose, the planner, pacing, the board
and the queue page.

The contact's owner while the owner is active; otherwise the house advisor («Василий Тупин»),
if there is an active one; otherwise nobody, and such a mail must not be planned or sent
(it is held with NO_SENDER as its reason). The SQL form (`sender_of`) and the Python form
(`sender_for`) are the same rule; tests run every path over the same contacts.
"""

from __future__ import annotations

from sqlalchemy import case, select
from sqlalchemy.orm import Session, aliased

from .models import Advisor, Contact

__all__ = ["NO_SENDER", "NO_SENDER_LABEL", "NoSender", "house_advisor", "sender_for", "sender_ids", "sender_of"]

NO_SENDER = "нет отправителя: владелец контакта неактивен, а дежурного советника нет. Назначьте контакту советника"

NO_SENDER_LABEL = "без отправителя (нет дежурного советника)"  # where a list of senders shows it


class NoSender(LookupError):
    """Nobody may send this mail; ``str(error)`` is Russian, for the queue and the notes."""


def _house():
    return select(Advisor.id).where(Advisor.is_house.is_(True), Advisor.active.is_(True)).limit(1).scalar_subquery()


def sender_of(owner):
    """SQL: the id of the advisor a mail goes out from; ``owner`` is Advisor joined on Contact.owner_id.

    NULL when the owner is inactive and there is no active house advisor."""
    return case((owner.active.is_(True), owner.id), else_=_house())


def house_advisor(session: Session) -> Advisor | None:
    return session.scalar(select(Advisor).where(Advisor.id == _house()))


def sender_for(session: Session, contact: Contact) -> Advisor:
    """The advisor a mail to ``contact`` goes out from now; NoSender when there is none."""
    owner = contact.owner
    if owner is not None and owner.active:
        return owner
    house = house_advisor(session)
    if house is None:
        raise NoSender(f"Контакт {contact.id}: {NO_SENDER}.")
    return house


def sender_ids(session: Session, contact_ids) -> dict[int, int | None]:
    """contact id → id of whoever sends for it now (None: nobody), in one query."""
    ids = list(set(contact_ids))
    if not ids:
        return {}
    owner = aliased(Advisor)
    return dict(
        session.execute(
            select(Contact.id, sender_of(owner)).join(owner, owner.id == Contact.owner_id).where(Contact.id.in_(ids))
        ).all()
    )
