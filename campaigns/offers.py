"""Offers: marketing's yearly letter per tag — draft → ready, the late-offer notice, the catalog PDF.

The templates themselves are compiled, checked and rendered in template_sandbox; what stops an
offer from becoming ready is offer_lint.
"""

from __future__ import annotations

import os
import secrets
from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from . import calendar, mails, transport
from .config import Settings
from .models import Advisor, Link, Offer, OfferStatus, Role, Tag
from .offer_lint import lint_offer

# ------------------------------------------------------------------------ states


def mark_ready(offer, now: datetime | None = None) -> list[str]:
    """draft → ready, only when the lint is clean. Returns the lint problems (empty = done)."""
    problems = lint_offer(offer)
    if not problems and offer.status != OfferStatus.READY:
        offer.status = OfferStatus.READY
        offer.ready_at = now or datetime.now(UTC)
    return problems


def mark_draft(offer) -> None:
    """ready → draft: its mails are held until it is ready again."""
    offer.status = OfferStatus.DRAFT
    offer.ready_at = None


def offer_for(session, tag: Tag, year: int) -> Offer:
    """The tag's offer for ``year``; a missing one is created as a draft that starts from the tag's latest
    earlier offer (its subject, text and links: marketing edits last year's letter rather than a blank page)."""
    offer = session.scalar(select(Offer).where(Offer.tag_id == tag.id, Offer.year == year))
    if offer is None:
        earlier = session.scalar(
            select(Offer)
            .options(selectinload(Offer.links))
            .where(Offer.tag_id == tag.id, Offer.year < year)
            .order_by(Offer.year.desc())
            .limit(1)
        )
        offer = Offer(
            tag=tag,
            year=year,
            subject=earlier.subject if earlier else "",
            body=earlier.body if earlier else "",
            status=OfferStatus.DRAFT,
        )
        if earlier:  # the trap link is the composer's own, added to every mail
            offer.links = [
                Link(name=link.name, url=link.url, label=link.label, weight=link.weight)
                for link in earlier.links
                if not link.is_trap
            ]
        session.add(offer)
        session.flush()
    return offer


def offer_send_date(offer) -> date:
    return calendar.send_date(offer.tag.rule, offer.tag.lead_days, offer.year)


def offers_not_ready_on(session, day: date) -> list[Offer]:
    """Offers that should be going out on ``day`` but are not ready: their mails are held.

    "Should be going out" is the mailing's window (calendar.mailing_window).
    Sorted by send date, oldest first.
    """
    drafts = session.scalars(
        select(Offer)
        .options(selectinload(Offer.tag), selectinload(Offer.links))
        .where(Offer.status != OfferStatus.READY, Offer.year.between(day.year - 1, day.year + 1))
    ).all()
    late = []
    for offer in drafts:
        try:
            start, until = calendar.mailing_window(offer.tag.rule, offer.tag.lead_days, offer.year)
        except ValueError:
            continue
        if start <= day <= until:
            late.append((start, offer.id, offer))
    late.sort(key=lambda item: item[:2])
    return [offer for _, _, offer in late]


# ------------------------------------------------------------------ late notice


def notify_offer_late(session, offer, settings: Settings, now: datetime | None = None) -> int:
    """Mail every active marketing user (admins when there are none) that ``offer`` holds mails.

    At most once per offer per day (mails.send_once: recorded in the caller's transaction,
    removed when the send fails so the next call tries again). Returns how many mails were
    sent (0 when already told today).
    """
    now = now or datetime.now(UTC)
    today = now.astimezone(settings.timezone).date()
    recipients = (
        session.scalars(
            select(Advisor).where(Advisor.active.is_(True), Advisor.role == Role.MARKETING).order_by(Advisor.id)
        ).all()
        or session.scalars(select(Advisor).where(Advisor.active.is_(True), Advisor.role == Role.ADMIN).order_by(Advisor.id)).all()
    )
    send_on, problems = offer_send_date(offer), lint_offer(offer)

    def send():
        with transport.open_transport(settings.mail) as conn:
            for user in recipients:
                conn.send(mails.offer_late_message(user=user, offer=offer, send_on=send_on, problems=problems, settings=settings))

    return len(recipients) if mails.send_once(session, "offer_late", offer.id, today, send) else 0


# ---------------------------------------------------------------------- catalog

CATALOG_MAX_BYTES = 50 * 1024 * 1024
CATALOG_LINK = "catalog"
_PDF_MAGIC = b"%PDF-"


class CatalogError(ValueError):
    """An upload is refused; ``str(error)`` is Russian, shown beside the file field."""


def catalog_dir(settings: Settings) -> Path:
    return Path(settings.instance_path) / "uploads" / "catalogs"


def catalog_url(settings: Settings, offer) -> str | None:
    """The system's own URL of the offer's catalog; the mail links to it through /c/<token>."""
    if not offer.catalog_path:
        return None
    return f"{settings.public_url}/files/catalog/{offer.id}/{Path(offer.catalog_path).name}"


def save_catalog(offer, stream, original_name: str, settings: Settings) -> None:
    """Store an uploaded PDF under a random name and point the offer's "catalog" link at it.

    Streams to disk so a 50 MB file never sits in memory; refuses anything that is not a
    PDF (magic bytes, not the name) or is larger than CATALOG_MAX_BYTES. The previous file
    is kept: nothing a user may want back is deleted.
    """
    folder = catalog_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    stored = f"{secrets.token_urlsafe(24)}.pdf"
    partial = folder / f".{stored}.part"
    size = 0
    try:
        with open(partial, "wb") as out:
            head = stream.read(len(_PDF_MAGIC))
            if head != _PDF_MAGIC:
                raise CatalogError("Это не PDF-файл: загрузите каталог в формате PDF.")
            out.write(head)
            size = len(head)
            while chunk := stream.read(1024 * 1024):
                size += len(chunk)
                if size > CATALOG_MAX_BYTES:
                    raise CatalogError(f"Файл больше {CATALOG_MAX_BYTES // (1024 * 1024)} МБ: уменьшите каталог.")
                out.write(chunk)
        os.replace(partial, folder / stored)
    finally:
        partial.unlink(missing_ok=True)
    offer.catalog_path = f"uploads/catalogs/{stored}"
    offer.catalog_filename = (Path(original_name or "catalog.pdf").name or "catalog.pdf")[:255]
    url = catalog_url(settings, offer)
    link = next((link for link in offer.links if link.name == CATALOG_LINK), None)
    if link is None:
        offer.links.append(Link(name=CATALOG_LINK, url=url, label="Каталог", weight=1))
    else:
        link.url = url


def catalog_file(settings: Settings, offer, filename: str) -> Path | None:
    """The stored file behind /files/catalog/<offer>/<filename>, or None (never another file)."""
    if offer is None or not offer.catalog_path or Path(offer.catalog_path).name != filename:
        return None
    path = catalog_dir(settings) / filename
    return path if path.is_file() else None
