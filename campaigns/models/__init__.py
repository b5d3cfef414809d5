"""Tables, constraints and indexes; `from campaigns.models import X` for any of them.

The database is the single source of truth: every rule that must hold for all
writers (one house advisor, one offer per tag and year, one delivery per contact
and offer, one suppression per address) is a constraint here, not only Python.

- `enums.py` — the stored enumerations (VARCHAR + CHECK on every backend);
- `contacts.py` — users, contacts, tags, notes, the stop list, each owner's contact count;
- `mail.py` — offers, links, deliveries, clicks, missed mailings, result and board counts, notices sent once;
- `integrations.py` — API keys, webhooks, the mailboxes read and their messages.

A new table goes into the module of its concept and is named below.
"""

from __future__ import annotations

from .contacts import Advisor, Contact, Note, OwnerCount, Suppression, Tag, contact_tags
from .enums import DeliveryStatus, NoteKind, OfferStatus, Role, SuppressionReason, TagKind, Verdict
from .integrations import AdvisorMailbox, ApiKey, InboundMessage, WebhookAttempt, WebhookEndpoint
from .mail import BoardCount, Click, Delivery, Link, MissedMailing, Offer, ResultCount, SentNotice, SpacingQueue

__all__ = [
    "Advisor",
    "BoardCount",
    "AdvisorMailbox",
    "ApiKey",
    "Click",
    "Contact",
    "Delivery",
    "DeliveryStatus",
    "InboundMessage",
    "Link",
    "MissedMailing",
    "Note",
    "NoteKind",
    "Offer",
    "OfferStatus",
    "OwnerCount",
    "ResultCount",
    "Role",
    "SentNotice",
    "SpacingQueue",
    "Suppression",
    "SuppressionReason",
    "Tag",
    "TagKind",
    "Verdict",
    "WebhookAttempt",
    "WebhookEndpoint",
    "contact_tags",
]
