"""Every kind of mail the system writes, one function each, all built one way: a subject /
text / HTML template trio in templates/emails/ (compose.render_kind) wrapped by
compose.make_message (headers, alternatives, DKIM).

- `offer_message`      — marketing's offer to a contact, from its advisor (emails/offer.*)
- `test_message`       — the same letter, to the person testing it instead of the client
- `digest_message`     — an advisor's morning hot list (emails/digest.*)
- `offer_late_message` — marketing is told an offer still in draft holds its mails (emails/offer_late.*)
- `mailing_reminder_message` — 21/7/1 days before a send date, the offer is missing or a draft
- `mailing_waiting_message`  — a due mailing waits for its offer («ждёт предложения»)
- `mailing_missed_message`   — a mailing's window closed before it reached everyone («пропущено»)
- `password_reset_message`   — a one-time link to set a new password (accounts.reset_token)
  (the contexts of the last three: reminders.py)
- `webhook_paused_message`   — admin is told a webhook endpoint failed for a day and is paused (webhooks.py)

The digest and the notices go at most once a day: `send_once` records them in `sent_notices`
(the database, not Redis, so a Redis flush does not send them again).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from email.message import EmailMessage

from sqlalchemy import delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from . import compose
from .addresses import make_address
from .config import Settings
from .db import utcnow
from .models import Advisor, SentNotice

SYSTEM_NAME = "Рассылки"


def _system_message(kind: str, context: dict, *, to: Advisor, settings: Settings) -> EmailMessage:
    """A mail from the system itself (noreply) to one of its users. Auto-Submitted (RFC 3834):
    no vacation auto-reply comes back to it, and filters know it is a notice, not a letter."""
    subject, text, html = compose.render_kind(kind, context, settings.timezone)
    return compose.make_message(
        settings=settings,
        from_name=SYSTEM_NAME,
        from_addr=f"noreply@{settings.mail_domain}",
        to_name=to.name,
        to_addr=to.email,
        subject=subject,
        text=text,
        html=html,
        extra_headers={"Auto-Submitted": "auto-generated"},
    )


def offer_message(*, offer, contact, advisor, settings: Settings, delivery_id: int | None, now=None) -> EmailMessage:
    """The offer mail for one contact, sent as `advisor` (delivery_id None: a preview)."""
    return compose.build_offer_message(
        offer=offer, contact=contact, advisor=advisor, settings=settings, delivery_id=delivery_id, now=now
    )


TEST_MARK = "[ТЕСТ]"


def test_message(*, offer, contact, advisor, tester: Advisor, settings: Settings) -> EmailMessage:
    """The letter `contact` would get, addressed to `tester` — never to the client — and marked
    «[ТЕСТ]» in the subject. Its links work and count for nobody (testlinks.py)."""
    message = offer_message(offer=offer, contact=contact, advisor=advisor, settings=settings, delivery_id=None)
    del message["DKIM-Signature"]
    del message["To"]
    message["To"] = make_address(tester.name, tester.email)
    subject = str(message["Subject"])
    del message["Subject"]
    message["Subject"] = f"{TEST_MARK} {subject}"
    if settings.dkim_private_key and settings.dkim_selector:
        message = compose.dkim_sign(message, settings)  # To is signed: sign the changed letter again
    return message


def digest_message(
    *,
    advisor: Advisor,
    entries,
    settings: Settings,
    today: date,
    house: Advisor | None = None,
    house_entries=(),
    calls=(),
    attempts=(),
    handed=(),
) -> EmailMessage:
    context = {
        "advisor": advisor,
        "entries": entries,
        "today": today,
        "hot_url": f"{settings.public_url}/hot/",
        "hot_days": settings.hot_days,
        "house": house,
        "house_entries": list(house_entries),
        "calls": list(calls),
        "attempts": list(attempts),
        "handed": list(handed),
        "handover_url": f"{settings.public_url}/handover/",
        "public_url": settings.public_url,
    }
    return _system_message("digest", context, to=advisor, settings=settings)


def offer_late_message(*, user: Advisor, offer, send_on: date, problems: list[str], settings: Settings) -> EmailMessage:
    context = {
        "offer": offer,
        "tag": offer.tag,
        "send_on": send_on,
        "problems": problems,
        "edit_url": f"{settings.public_url}/offers/{offer.id}",
    }
    return _system_message("offer_late", context, to=user, settings=settings)


def mailing_reminder_message(*, user: Advisor, context: dict, settings: Settings) -> EmailMessage:
    return _system_message("mailing_reminder", context, to=user, settings=settings)


def mailing_waiting_message(*, user: Advisor, context: dict, settings: Settings) -> EmailMessage:
    return _system_message("mailing_waiting", context, to=user, settings=settings)


def mailing_missed_message(*, user: Advisor, context: dict, settings: Settings) -> EmailMessage:
    return _system_message("mailing_missed", context, to=user, settings=settings)


def password_reset_message(*, user: Advisor, token: str, settings: Settings, hours: int) -> EmailMessage:
    context = {"user": user, "reset_url": f"{settings.public_url}/reset/{token}", "hours": hours}
    return _system_message("password_reset", context, to=user, settings=settings)


def webhook_paused_message(*, user: Advisor, endpoint, error: str, settings: Settings) -> EmailMessage:
    context = {"endpoint": endpoint, "error": error, "page_url": f"{settings.public_url}/admin/webhooks/{endpoint.id}"}
    return _system_message("webhook_paused", context, to=user, settings=settings)


def send_once(session: Session, kind: str, ref_id: int, day: date, send: Callable[[], object]) -> bool:
    """Call `send` unless a `kind` mail about `ref_id` is already recorded for `day`; True if sent.

    The record is written in the caller's transaction before sending and removed again when
    `send` fails, so a later run retries; it is kept when the caller commits. Two runs at once
    cannot both send: the second waits on the unique key, then finds it taken."""
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    claimed = session.execute(
        insert(SentNotice)
        .values(kind=kind, ref_id=ref_id, day=day, created_at=utcnow())
        .on_conflict_do_nothing(index_elements=["kind", "ref_id", "day"])
        .returning(SentNotice.id)
    ).first()
    if claimed is None:
        return False
    try:
        send()
    except BaseException:
        session.execute(delete(SentNotice).where(SentNotice.id == claimed[0]))
        raise
    return True
