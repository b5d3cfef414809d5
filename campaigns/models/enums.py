"""The enumerations stored in the tables, and how each is stored."""

from __future__ import annotations

import enum

from sqlalchemy import (
    Enum,
)


def stored_enum(cls, name):
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
