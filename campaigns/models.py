"""Tables, constraints and indexes.

The database is the single source of truth: every rule that must hold for all
writers (one house advisor, one offer per tag and year, one delivery per contact
and offer, one suppression per address) is a constraint here, not only Python.
"""

from __future__ import annotations

import enum
import secrets
from datetime import date, datetime, time

from flask_login import UserMixin
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    Enum,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Table,
    Text,
    Time,
    UniqueConstraint,
    event,
    select,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .contact_fields import company_key
from .db import Base, UTCDateTime, utcnow
from .search import key_of as search_key_of


def _enum(cls, name):
    # Stored as VARCHAR + CHECK on every backend: portable, and Alembic diffs stay quiet.
    return Enum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=20,
        values_callable=lambda e: [m.value for m in e],
        validate_strings=True,
    )


class Role(enum.StrEnum):
    ADVISOR = "advisor"
    MARKETING = "marketing"
    ADMIN = "admin"


class TagKind(enum.StrEnum):
    INDUSTRY = "industry"
    HOLIDAY = "holiday"
    MONTH = "month"


class NoteKind(enum.StrEnum):
    MANUAL = "manual"
    CALL = "call"
    MAIL = "mail"  # a mail the system sent on the advisor's behalf
    CLICK = "click"
    UNSUBSCRIBE = "unsubscribe"
    OWNER = "owner"  # owner changed
    SYSTEM = "system"


class OfferStatus(enum.StrEnum):
    DRAFT = "draft"
    READY = "ready"


class DeliveryStatus(enum.StrEnum):
    PLANNED = "planned"  # waiting for its send time
    HELD = "held"  # its offer was not ready on the send date
    QUEUED = "queued"  # handed to RQ
    SENDING = "sending"  # claimed by a worker
    RETRYING = "retrying"  # temporary failure, next_attempt_at set
    SENT = "sent"
    FAILED = "failed"  # permanent failure, reason in last_error
    UNKNOWN = "unknown"  # a crash between the relay's answer and our commit: review
    CANCELLED = "cancelled"  # unsubscribed / suppressed before sending, or missed (planner.MISSED_REASON)


class Verdict(enum.StrEnum):
    HUMAN = "human"
    BOT = "bot"


class SuppressionReason(enum.StrEnum):
    UNSUBSCRIBE = "unsubscribe"
    BOUNCE = "bounce"  # unknown mailbox (5.1.1)
    COMPLAINT = "complaint"
    MANUAL = "manual"


contact_tags = Table(
    "contact_tags",
    Base.metadata,
    Column("contact_id", ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True),
    Column("tag_id", ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True),
    # Planning selects all contacts of one tag.
    Index("ix_contact_tags_tag_id_contact_id", "tag_id", "contact_id"),
)


class Advisor(UserMixin, Base):
    """A user: advisor, marketing or admin. Mail goes out in an advisor's name."""

    __tablename__ = "advisors"
    __table_args__ = (
        # Exactly one house advisor ("Vasily Tupin") may exist.
        Index(
            "uq_advisors_one_house",
            "is_house",
            unique=True,
            sqlite_where=text("is_house"),
            postgresql_where=text("is_house"),
        ),
        CheckConstraint("daily_cap IS NULL OR daily_cap > 0", name="daily_cap_positive"),
        # One account per address whatever its case (accounts.create_user stores it lower-cased).
        Index("uq_advisors_email_lower", text("lower(email)"), unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[Role] = mapped_column(_enum(Role, "role"), default=Role.ADVISOR)
    is_house: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    phone: Mapped[str | None] = mapped_column(String(32))
    signature: Mapped[str | None] = mapped_column(Text)
    daily_cap: Mapped[int | None] = mapped_column(Integer)  # None: the global DAILY_CAP
    # Own working hours ("09:30-18:00") and time zone ("Asia/Yekaterinburg"); None: the global ones.
    work_hours: Mapped[str | None] = mapped_column(String(11))
    timezone: Mapped[str | None] = mapped_column(String(64))
    # Gets the house advisor's hot contacts (clicks, replies) in the hot list and the digest.
    watches_house: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Carried by every session and remember-me cookie of this user (get_id); a new value ends them all
    # (log-out, a password change, deactivation: signin.end_sessions).
    session_key: Mapped[str | None] = mapped_column(String(64), default=lambda: secrets.token_urlsafe(24))

    contacts: Mapped[list[Contact]] = relationship(back_populates="owner", foreign_keys="Contact.owner_id")

    @property
    def is_active(self) -> bool:  # Flask-Login: a deactivated user cannot log in
        return bool(self.active)

    def get_id(self) -> str:  # Flask-Login stores this in the session and the remember cookie
        return f"{self.id}:{self.session_key}"

    def __repr__(self) -> str:
        return f"<Advisor {self.id} {self.email}>"


class Contact(Base):
    __tablename__ = "contacts"
    __table_args__ = (
        # The morning routine: own contacts by last update, oldest first.
        Index("ix_contacts_owner_id_updated_at", "owner_id", "updated_at"),
        # The hot list: an owner's live contacts with everything the ranking needs (index-only scan).
        Index(
            "ix_contacts_owner_id_hot",
            "owner_id",
            "id",
            "hot_handled_at",
            sqlite_where=text("archived_at IS NULL"),
            postgresql_where=text("archived_at IS NULL"),
        ),
        # The list of marketing and admin: live contacts from a cursor (contacts.contact_list).
        Index(
            "ix_contacts_updated_at_id_live",
            "updated_at",
            "id",
            sqlite_where=text("archived_at IS NULL"),
            postgresql_where=text("archived_at IS NULL"),
        ),
        Index("ix_contacts_email", "email"),
        Index("ix_contacts_phone", "phone"),
        Index("ix_contacts_company_key", "company_key"),
        # Search (search.py): one LIKE '%word%' per word on the normalised key, served by pg_trgm.
        Index("ix_contacts_search_key_trgm", "search_key", postgresql_using="gin", postgresql_ops={"search_key": "gin_trgm_ops"}),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("advisors.id", ondelete="RESTRICT"))
    first_name: Mapped[str] = mapped_column(String(100), default="")
    middle_name: Mapped[str] = mapped_column(String(100), default="")
    last_name: Mapped[str] = mapped_column(String(100), default="")
    company: Mapped[str] = mapped_column(String(300), default="")
    company_alias: Mapped[str] = mapped_column(String(300), default="")
    # Normalised company names (both spellings, transliterated) for duplicate search.
    company_key: Mapped[str] = mapped_column(String(300), default="")
    # Names, company, position, e-mail and phone as search.py compares them (search.contact_key).
    search_key: Mapped[str] = mapped_column(Text, default="", server_default=text("''"))
    position: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str | None] = mapped_column(String(254))  # normalised by email-validator
    phone: Mapped[str | None] = mapped_column(String(32))  # E.164
    next_contact_on: Mapped[date | None] = mapped_column(Date)
    next_contact_time: Mapped[time | None] = mapped_column(Time)  # optional: «позвонить в 11:00»
    next_contact_topic: Mapped[str] = mapped_column(String(300), default="", server_default="")
    consent_source: Mapped[str] = mapped_column(String(300), default="")
    consent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    unsubscribed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Personal data erased (152-FZ, privacy.erase): only anonymous counts remain.
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The advisor handled the hot-list entry; it returns only with a newer click.
    hot_handled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    owner: Mapped[Advisor] = relationship(back_populates="contacts", foreign_keys=[owner_id])
    tags: Mapped[list[Tag]] = relationship(secondary=contact_tags, back_populates="contacts", order_by="Tag.name")
    notes: Mapped[list[Note]] = relationship(
        back_populates="contact", order_by="desc(Note.created_at), desc(Note.id)", cascade="all, delete-orphan"
    )

    @property
    def full_name(self) -> str:
        return " ".join(p for p in (self.last_name, self.first_name, self.middle_name) if p and p != "!")

    def __repr__(self) -> str:
        return f"<Contact {self.id} {self.email}>"


class Tag(Base):
    __tablename__ = "tags"
    __table_args__ = (CheckConstraint("lead_days >= 0 AND lead_days <= 120", name="lead_days_range"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    kind: Mapped[TagKind] = mapped_column(_enum(TagKind, "tag_kind"))
    # The yearly rule, e.g. "2 sun aug", "22 dec", "day 256", "workday1 mar" (see calendar.py).
    rule: Mapped[str] = mapped_column(String(50))
    lead_days: Mapped[int] = mapped_column(SmallInteger, default=21)
    description: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Contacts carrying the tag, archived ones too: kept by triggers on contact_tags (migration 0020).
    contacts_count: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))

    contacts: Mapped[list[Contact]] = relationship(secondary=contact_tags, back_populates="tags")
    offers: Mapped[list[Offer]] = relationship(back_populates="tag")

    def __repr__(self) -> str:
        return f"<Tag {self.name}>"


@event.listens_for(Contact, "before_insert")
@event.listens_for(Contact, "before_update")
def _derive_company_key(_mapper, _connection, contact: Contact) -> None:
    # The key has one author (contact_fields.company_key); every ORM write of a contact goes
    # through here, so no caller can store a key of its own making. Bulk imports call the same
    # function; a change to it comes with a migration that recomputes the stored keys.
    contact.company_key = company_key(contact.company, contact.company_alias)
    contact.search_key = search_key_of(contact)


class Note(Base):
    """One entry of a contact's timeline."""

    __tablename__ = "notes"
    __table_args__ = (Index("ix_notes_contact_id_created_at", "contact_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    kind: Mapped[NoteKind] = mapped_column(_enum(NoteKind, "note_kind"))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("advisors.id", ondelete="SET NULL"))
    body: Mapped[str] = mapped_column(Text, default="")
    # Call results (calls.py: objection, interest yes/no, result, next date).
    interest: Mapped[bool | None] = mapped_column(Boolean)
    objection: Mapped[str | None] = mapped_column(Text)
    result: Mapped[str | None] = mapped_column(Text)
    next_contact_on: Mapped[date | None] = mapped_column(Date)
    # A sent mail: the delivery and the full message as it went out (RFC 5322 text).
    delivery_id: Mapped[int | None] = mapped_column(ForeignKey("deliveries.id", ondelete="SET NULL"), index=True)
    subject: Mapped[str | None] = mapped_column(String(300))
    raw_message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    contact: Mapped[Contact] = relationship(back_populates="notes")
    author: Mapped[Advisor | None] = relationship()


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
    status: Mapped[OfferStatus] = mapped_column(_enum(OfferStatus, "offer_status"), default=OfferStatus.DRAFT)
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
        Index("ix_deliveries_advisor_id_send_on", "advisor_id", "send_on"),
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
    status: Mapped[DeliveryStatus] = mapped_column(_enum(DeliveryStatus, "delivery_status"), default=DeliveryStatus.PLANNED)
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


class OwnerCount(Base):
    """How many live (not archived) contacts each owner has: kept by triggers on contacts (migration
    0023), so the start page and the users page read these rows, not every contact (#15)."""

    __tablename__ = "owner_counts"

    owner_id: Mapped[int] = mapped_column(ForeignKey("advisors.id", ondelete="CASCADE"), primary_key=True)
    live_contacts: Mapped[int] = mapped_column(Integer, server_default=text("0"))


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
    verdict: Mapped[Verdict] = mapped_column(_enum(Verdict, "verdict"))
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


class Suppression(Base):
    """An address that must never be mailed again (unsubscribe, hard bounce, complaint)."""

    __tablename__ = "suppressions"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    reason: Mapped[SuppressionReason] = mapped_column(_enum(SuppressionReason, "suppression_reason"))
    detail: Mapped[str] = mapped_column(Text, default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("advisors.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


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


class ApiKey(Base):
    """A user's key for the JSON API (`Authorization: Bearer …`). Only the SHA-256 of the token is
    kept; the token itself is shown once, when the key is made (apikeys.create_key)."""

    __tablename__ = "api_keys"
    __table_args__ = (Index("ix_api_keys_user_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("advisors.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16))  # the token's first characters, to tell keys apart
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[Advisor] = relationship()


class WebhookEndpoint(Base):
    """Where admin wants events POSTed (webhooks.py); `events` is a comma-separated list."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    events: Mapped[str] = mapped_column(String(300), default="")
    secret: Mapped[str] = mapped_column(String(100))
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    paused_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # failing for a day: paused until admin resumes
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime)  # the first failure since the last success
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("advisors.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WebhookAttempt(Base):
    """One POST of one event to one endpoint: its answer and how long it took."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (Index("ix_webhook_attempts_endpoint_id_id", "endpoint_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    event: Mapped[str] = mapped_column(String(40))
    event_id: Mapped[str] = mapped_column(String(40))
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class InboundMessage(Base):
    """A message read from the system mailbox or an advisor's mailbox (inbound.py, replies.py).

    The unique (mailbox, message_key) is what makes each message handled once: the row is written
    in the same transaction as what the message did, so a second scheduler, a restart or a crash
    before the mailbox was marked finds it and leaves it alone. Messages nobody understood
    (kind "unknown") stay in the mailbox and are listed for the admin."""

    __tablename__ = "inbound_messages"
    __table_args__ = (
        UniqueConstraint("mailbox", "message_key"),
        Index("ix_inbound_messages_kind_received_at", "kind", "received_at"),
        Index("ix_inbound_messages_contact_id", "contact_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    mailbox: Mapped[str] = mapped_column(String(40))  # "system" or "advisor:<id>"
    message_key: Mapped[str] = mapped_column(String(300))  # the Message-ID, else a digest of the message
    uid: Mapped[str | None] = mapped_column(String(100))  # the IMAP UID or Maildir key, to find it again
    # bounce, unsubscribe, complaint, reply, autoreply, unknown, ignored
    kind: Mapped[str] = mapped_column(String(20))
    sender: Mapped[str] = mapped_column(String(300), default="")
    subject: Mapped[str] = mapped_column(String(300), default="")
    detail: Mapped[str] = mapped_column(Text, default="")
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    delivery_id: Mapped[int | None] = mapped_column(ForeignKey("deliveries.id", ondelete="SET NULL"))
    advisor_id: Mapped[int | None] = mapped_column(ForeignKey("advisors.id", ondelete="SET NULL"))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AdvisorMailbox(Base):
    """An advisor's own mailbox, read for the clients' replies (replies.py). The app password is
    stored encrypted (Fernet, key derived from SECRET_KEY), never in the clear."""

    __tablename__ = "advisor_mailboxes"

    id: Mapped[int] = mapped_column(primary_key=True)
    advisor_id: Mapped[int] = mapped_column(ForeignKey("advisors.id", ondelete="CASCADE"), unique=True)
    host: Mapped[str] = mapped_column(String(255))
    port: Mapped[int] = mapped_column(Integer, default=993)
    tls: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    username: Mapped[str] = mapped_column(String(254))
    password_encrypted: Mapped[str] = mapped_column(Text)
    folder: Mapped[str] = mapped_column(String(200), default="INBOX")
    # Where the last poll stopped: UIDs above last_uid are new while uidvalidity holds.
    uidvalidity: Mapped[int | None] = mapped_column(BigInteger)  # IMAP numbers are unsigned 32-bit
    last_uid: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))
    connected_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)

    advisor: Mapped[Advisor] = relationship()
