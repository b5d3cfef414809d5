"""Who may be mailed: the one rule behind the board, the planner, the re-check before sending
and the results.

A contact may get the yearly mail while it is live (not archived), subscribed, has an
address, and that address is not on the stop list. The rule is written once, as a list of
refusals; `may_be_mailed()` is their negation (a WHERE clause over Contact) and `refusal()`
says which one applies (a CASE the sender reads in the same statement as its claim).
"""
from __future__ import annotations

from sqlalchemy import and_, case, exists, not_, or_, select

from .models import Contact, Suppression, contact_tags

__all__ = ["may_be_mailed", "reason_text", "refusal", "tag_audience"]


def _refusals():
    """(condition, code) in the order they are reported: the first that holds is the reason."""
    return (
        (Contact.unsubscribed_at.is_not(None), "unsubscribed"),
        (Contact.archived_at.is_not(None), "archived"),
        (or_(Contact.email.is_(None), Contact.email == ""), "no_email"),
        (exists().where(Suppression.email == Contact.email), "suppressed"),
    )


def may_be_mailed():
    """SQL condition over Contact: this contact may receive mail now."""
    return and_(*(not_(condition) for condition, _code in _refusals()))


def refusal():
    """SQL over Contact: the code of the first refusal that applies, NULL when it may be mailed."""
    return case(*_refusals(), else_=None)


def tag_audience(tag_id: int):
    """SELECT Contact.id of the contacts with the tag who may be mailed."""
    return (
        select(Contact.id)
        .join(contact_tags, contact_tags.c.contact_id == Contact.id)
        .where(contact_tags.c.tag_id == tag_id, may_be_mailed())
    )


_TEXTS = {
    "unsubscribed": "контакт отписался от рассылок",
    "archived": "контакт в архиве",
    "no_email": "у контакта нет адреса эл. почты",
    "suppressed": "адрес {email} в стоп-листе",
}


def reason_text(code: str | None, email: str | None = None) -> str | None:
    """The refusal in Russian, for the note on the contact; None when there is none."""
    return _TEXTS[code].format(email=email) if code else None
