"""Users, contacts, tags and notes, and the stop list."""

from __future__ import annotations

import secrets
from datetime import date, datetime, time
from typing import TYPE_CHECKING

from flask_login import UserMixin
from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Table,
    Text,
    Time,
    event,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..contact_fields import company_key
from ..db import Base, UTCDateTime, utcnow
from ..search import key_of as search_key_of
from .enums import NoteKind, Role, SuppressionReason, TagKind, stored_enum

if TYPE_CHECKING:
    from .mail import Offer  # a string to SQLAlchemy, resolved when the mappers are configured

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
    role: Mapped[Role] = mapped_column(stored_enum(Role, "role"), default=Role.ADVISOR)
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
        # Counting a filtered list (contacts.contact_list: a tag's EXISTS) merge-joins live contacts
        # by id from here, without reading the table: 100 ms → 20 ms for a tag of 100,000.
        Index(
            "ix_contacts_id_live",
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
    kind: Mapped[TagKind] = mapped_column(stored_enum(TagKind, "tag_kind"))
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
    kind: Mapped[NoteKind] = mapped_column(stored_enum(NoteKind, "note_kind"))
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


class OwnerCount(Base):
    """How many live (not archived) contacts each owner has: kept by triggers on contacts (migration
    0023), so the start page and the users page read these rows, not every contact."""

    __tablename__ = "owner_counts"

    owner_id: Mapped[int] = mapped_column(ForeignKey("advisors.id", ondelete="CASCADE"), primary_key=True)
    live_contacts: Mapped[int] = mapped_column(Integer, server_default=text("0"))


class Suppression(Base):
    """An address that must never be mailed again (unsubscribe, hard bounce, complaint)."""

    __tablename__ = "suppressions"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    reason: Mapped[SuppressionReason] = mapped_column(stored_enum(SuppressionReason, "suppression_reason"))
    detail: Mapped[str] = mapped_column(Text, default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("advisors.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
