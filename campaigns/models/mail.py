"""Offers and their links, deliveries, clicks, and what a mailing came to."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    event,
    select,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import Base, UTCDateTime, utcnow
from .contacts import Advisor, Contact, Tag
from .enums import DeliveryStatus, OfferStatus, Verdict, stored_enum


class Offer(Base):
    """Marketing's offer for one tag in one year."""

    __tablename__ = "offers"
    __table_args__ = (
        UniqueConstraint("tag_id", "year"),
        CheckConstraint("year BETWEEN 2000 AND 2100", name="year_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    tag_id: Mapped[int] = mapped_column(ForeignKey("tags.id", ondelete="RESTRICT"))
    year: Mapped[int] = mapped_column(Integer)
    subject: Mapped[str] = mapped_column(String(300), default="")
    body: Mapped[str] = mapped_column(Text, default="")  # a sandboxed Jinja2 template
    status: Mapped[OfferStatus] = mapped_column(stored_enum(OfferStatus, "offer_status"), default=OfferStatus.DRAFT)
    catalog_filename: Mapped[str | None] = mapped_column(String(255))  # original name, for the reader
    catalog_path: Mapped[str | None] = mapped_column(String(500))  # stored file under instance/
    ready_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    tag: Mapped[Tag] = relationship(back_populates="offers")
    links: Mapped[list[Link]] = relationship(back_populates="offer", order_by="Link.id", cascade="all, delete-orphan")


class Link(Base):
    """A tracked link of an offer; /c/<token> names a delivery and one of these."""

    __tablename__ = "links"
    __table_args__ = (UniqueConstraint("offer_id", "name"), CheckConstraint("weight >= 0", name="weight_positive"))

    id: Mapped[int] = mapped_column(primary_key=True)
    offer_id: Mapped[int] = mapped_column(ForeignKey("offers.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(50))  # template variable, e.g. "catalog", "discount"
    url: Mapped[str] = mapped_column(Text)
    label: Mapped[str] = mapped_column(String(200), default="")
    weight: Mapped[int] = mapped_column(SmallInteger, default=1)  # the discount counts more than the catalog
    is_trap: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    # What the link brought, kept by triggers on clicks (migration 0021; reports.by_link reads them):
    # human clicks, scanners' clicks, and the contacts with at least one human click on it.
    human_clicks: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    bot_clicks: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    clickers: Mapped[int] = mapped_column(Integer, server_default=text("0"))

    offer: Mapped[Offer] = relationship(back_populates="links")


class Delivery(Base):
    """One contact × one offer. The unique pair means nobody is planned twice."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("offer_id", "contact_id"),
        Index("ix_deliveries_status_send_at", "status", "send_at"),
        Index("ix_deliveries_contact_id_send_on", "contact_id", "send_on"),
        # The queue: «sent today», and the planned list in its order (sending.queue_view).
        Index(
            "ix_deliveries_sent_at_sent",
            "sent_at",
            sqlite_where=text("status = 'sent'"),
            postgresql_where=text("status = 'sent'"),
        ),
        Index("ix_deliveries_status_send_on_send_at_id", "status", "send_on", "send_at", "id"),
        CheckConstraint("attempts >= 0", name="attempts_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    offer_id: Mapped[int] = mapped_column(ForeignKey("offers.id", ondelete="RESTRICT"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    # The sender, fixed when the mail goes out (the owner on that day).
    advisor_id: Mapped[int | None] = mapped_column(ForeignKey("advisors.id", ondelete="SET NULL"))
    status: Mapped[DeliveryStatus] = mapped_column(stored_enum(DeliveryStatus, "delivery_status"), default=DeliveryStatus.PLANNED)
    send_on: Mapped[date] = mapped_column(Date)  # the working day it is planned for
    send_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # paced moment within the day
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    message_id: Mapped[str | None] = mapped_column(String(300))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    offer: Mapped[Offer] = relationship()
    contact: Mapped[Contact] = relationship()
    advisor: Mapped[Advisor | None] = relationship()


class MissedMailing(Base):
    """A yearly mailing (tag × year) that did not reach everyone before its window closed."""

    __tablename__ = "missed_mailings"
    __table_args__ = (UniqueConstraint("tag_id", "year"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tag_id: Mapped[int] = mapped_column(ForeignKey("tags.id", ondelete="CASCADE"))
    year: Mapped[int] = mapped_column(Integer)
    send_on: Mapped[date] = mapped_column(Date)
    last_day: Mapped[date] = mapped_column(Date)
    offer_id: Mapped[int | None] = mapped_column(ForeignKey("offers.id", ondelete="SET NULL"))
    offer_status: Mapped[str] = mapped_column(String(20), default="missing")  # missing, draft or ready
    audience: Mapped[int] = mapped_column(Integer, default=0)  # contacts who could be mailed when it closed
    mails: Mapped[int] = mapped_column(Integer, default=0)  # deliveries cancelled as missed
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    tag: Mapped[Tag] = relationship()
    offer: Mapped[Offer | None] = relationship()


class SpacingQueue(Base):
    """A contact whose mail changed in a way that may break the spacing (its day moved, it became
    movable or began to count), noted by a trigger on deliveries (migration 0027) and taken by the
    next planning run, which spaces only these contacts and the ones it has just planned."""

    __tablename__ = "spacing_queue"

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(Integer)


class ResultCount(Base):
    """What one offer's mails brought for one advisor (the sender, or the owner while unsent).

    Kept up to date by database triggers on deliveries, clicks, notes and contacts (migration
    0018), so the results page reads these few rows instead of every click; reports.py reads it,
    reports.recount() rebuilds it from the facts."""

    __tablename__ = "result_counts"

    offer_id: Mapped[int] = mapped_column(ForeignKey("offers.id", ondelete="CASCADE"), primary_key=True)
    advisor_id: Mapped[int] = mapped_column(ForeignKey("advisors.id", ondelete="CASCADE"), primary_key=True)
    planned: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    sent: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    failed: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    human_clicks: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    bot_clicks: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    clickers: Mapped[int] = mapped_column(Integer, server_default=text("0"))  # mails with a human click
    unsubscribes: Mapped[int] = mapped_column(Integer, server_default=text("0"))


class BoardCount(Base):
    """The readiness board's audience counts, for a database too big to count them per request.

    board.refresh_counts() rewrites the table from audience.py's rule (the scheduler, every 10
    minutes); the board reads it above board.LIVE_LIMIT contacts and shows when it was counted.
    kind: "sender" (n mails of tag_id from sender_id; None: nobody may send), "fallback"
    («Здравствуйте!!» greetings of tag_id), "no_consent" (left out of tag_id's audience for want
    of a consent), "counted" (one row: the moment of the count)."""

    __tablename__ = "board_counts"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(12))
    tag_id: Mapped[int | None] = mapped_column(ForeignKey("tags.id", ondelete="CASCADE"))
    sender_id: Mapped[int | None] = mapped_column(Integer)
    n: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    counted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Click(Base):
    __tablename__ = "clicks"
    __table_args__ = (
        # The hot list: one contact's human clicks, newest first, with the link for its weight
        # (index-only scan; bench/hotlist_bench.py: p95 450 → 100 ms for 5,000 contacts per advisor).
        Index("ix_clicks_contact_id_verdict_clicked_at_link_id", "contact_id", "verdict", "clicked_at", "link_id"),
        Index("ix_clicks_delivery_id", "delivery_id"),
        # The hot list: one advisor's recent human clicks are one range of this index, read
        # index-only (contact and link ride along), however big the advisor's book is.
        Index(
            "ix_clicks_owner_id_clicked_at_human",
            "owner_id",
            "clicked_at",
            "contact_id",
            "link_id",
            sqlite_where=text("verdict = 'human'"),
            postgresql_where=text("verdict = 'human'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id", ondelete="CASCADE"))
    # NULL for the hidden trap link (tracking.TRAP_LINK_ID), which has no row in links.
    link_id: Mapped[int | None] = mapped_column(ForeignKey("links.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    # Always the contact's current owner (copied at insert, moved by ownership.transfer_contacts),
    # so that the hot list finds an advisor's clicks without walking the advisor's contacts.
    owner_id: Mapped[int] = mapped_column(ForeignKey("advisors.id", ondelete="RESTRICT"))
    clicked_at: Mapped[datetime] = mapped_column(UTCDateTime)
    method: Mapped[str] = mapped_column(String(10), default="GET")
    ip: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(500))
    verdict: Mapped[Verdict] = mapped_column(stored_enum(Verdict, "verdict"))
    reason: Mapped[str] = mapped_column(String(200), default="")

    delivery: Mapped[Delivery] = relationship()
    link: Mapped[Link | None] = relationship()
    contact: Mapped[Contact] = relationship()


@event.listens_for(Click, "before_insert")
def _click_owner_from_contact(mapper, connection, click: Click) -> None:
    """A click added through the ORM (demo data, tests) takes its contact's owner unless given one.

    flush_clicks writes its batches with Core and names the owner itself."""
    if click.owner_id is None:
        contact = click.__dict__.get("contact")
        click.owner_id = (
            contact.owner_id
            if contact is not None and contact.owner_id is not None
            else connection.scalar(select(Contact.owner_id).where(Contact.id == click.contact_id))
        )


class SentNotice(Base):
    """A system mail that goes at most once per subject and day (the advisor's digest, the
    late-offer notice). The database remembers it, not Redis: a flush must not send it again."""

    __tablename__ = "sent_notices"
    __table_args__ = (UniqueConstraint("kind", "ref_id", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))  # the mail kind: "digest", "offer_late"
    ref_id: Mapped[int] = mapped_column(Integer)  # whom or what it was about: the advisor, the offer
    day: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
