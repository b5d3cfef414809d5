"""What meets the outside world: API keys, webhooks, the mailboxes read and their messages."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import Base, UTCDateTime, utcnow
from .contacts import Advisor


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
