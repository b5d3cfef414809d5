"""Who may be mailed: the one rule behind the board, the planner, the re-check before sending
and the results.

A contact may get the yearly mail while it is live (not archived), subscribed, has an
address, that address is not on the stop list, and — under REQUIRE_CONSENT (on by default,
38-FZ) — its consent is on record. The rule is written once, as a list of refusals;
`may_be_mailed()` is their negation (a WHERE clause over Contact) and `refusal()` says which
one applies (a CASE the sender reads in the same statement as its claim).

REQUIRE_CONSENT is read from the running app's settings (web, worker and scheduler all run in
an app context), so the board, the planner, the re-check before sending and the results apply
the same setting without each passing it along.
"""

from __future__ import annotations

from flask import current_app, has_app_context
from sqlalchemy import and_, case, exists, func, not_, or_, select

from .models import Contact, Suppression, contact_tags

__all__ = ["lacks_consent", "may_be_mailed", "reason_text", "refusal", "require_consent", "tag_audience", "tag_audience_counts"]


def require_consent() -> bool:
    """REQUIRE_CONSENT of the running app; on outside one (the safe side)."""
    if has_app_context():
        settings = current_app.config.get("SETTINGS")
        return bool(getattr(settings, "require_consent", True))
    return True


def lacks_consent():
    """SQL over Contact: no consent on record (38-FZ: the sender must prove it)."""
    return Contact.consent_at.is_(None)


def _refusals(consent: bool | None = None):
    """(condition, code) in the order they are reported: the first that holds is the reason."""
    refusals = [
        (Contact.unsubscribed_at.is_not(None), "unsubscribed"),
        (Contact.archived_at.is_not(None), "archived"),
        (or_(Contact.email.is_(None), Contact.email == ""), "no_email"),
        (suppressed(), "suppressed"),
    ]
    if require_consent() if consent is None else consent:
        refusals.append((lacks_consent(), "no_consent"))
    return refusals


def suppressed():
    """SQL over Contact: its address is on the stop list. An erased person's address stays there only
    as a hash; where an address enters the contacts, consent.stop_erased puts a match back as
    itself, so this compares plain addresses (an index lookup, no hash computed per contact)."""
    return exists().where(Suppression.email == Contact.email)


def may_be_mailed(*, consent: bool | None = None):
    """SQL condition over Contact: this contact may receive mail now. `consent`: require a recorded
    consent (default: REQUIRE_CONSENT); False leaves the consent out (the board counts who lacks it)."""
    return and_(*(not_(condition) for condition, _code in _refusals(consent)))


def refusal(*, consent: bool | None = None):
    """SQL over Contact: the code of the first refusal that applies, NULL when it may be mailed.
    `consent`: require a recorded consent (default: REQUIRE_CONSENT)."""
    return case(*_refusals(consent), else_=None)


def tag_audience(tag_id: int):
    """SELECT Contact.id of the contacts with the tag who may be mailed."""
    return (
        select(Contact.id)
        .join(contact_tags, contact_tags.c.contact_id == Contact.id)
        .where(contact_tags.c.tag_id == tag_id, may_be_mailed())
    )


def tag_audience_counts(tag_ids):
    """SELECT (tag id, the size of its tag_audience) for each of ``tag_ids`` that has one; one
    statement for many tags, each contact judged once however many of the tags it carries."""
    mailable = select(Contact.id).where(may_be_mailed()).subquery()
    return (
        select(contact_tags.c.tag_id, func.count())
        .select_from(contact_tags)
        .join(mailable, mailable.c.id == contact_tags.c.contact_id)
        .where(contact_tags.c.tag_id.in_(list(tag_ids)))
        .group_by(contact_tags.c.tag_id)
    )


_TEXTS = {
    "unsubscribed": "контакт отписался от рассылок",
    "archived": "контакт в архиве",
    "no_email": "у контакта нет адреса эл. почты",
    "suppressed": "адрес {email} в стоп-листе",
    "no_consent": "нет записанного согласия на рассылку (38-ФЗ)",
}


def reason_text(code: str | None, email: str | None = None) -> str | None:
    """The refusal in Russian, for the note on the contact; None when there is none."""
    return _TEXTS[code].format(email=email) if code else None
