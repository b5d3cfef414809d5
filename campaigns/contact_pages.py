"""The contact list a page at a time: the page, keyset cursors over (updated_at, id), the count
that stops at COUNT_LIMIT. contacts.contact_list fills it."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from .models import Contact

PER_PAGE = 50
# Counting stops here: a count of a million rows would cost more than the page it heads.
COUNT_LIMIT = 10_000


@dataclass
class Page:
    items: list[Contact]
    total: int  # at most COUNT_LIMIT; total_more says there are more
    page: int  # the page's number, for the reader (the cursors below find its rows)
    per_page: int = PER_PAGE
    total_more: bool = False
    has_next: bool = False
    has_prev: bool = False
    next_after: str | None = None  # cursor of the next page (?after=…), None on the last one
    prev_before: str | None = None  # cursor of the previous page (?before=…), None on the first one

    @property
    def pages(self) -> int:
        """The number of pages, counted up to COUNT_LIMIT contacts."""
        return max(1, math.ceil(self.total / self.per_page))


def cursor(contact: Contact) -> str:
    """A position in the list (updated_at, id) for ?after= / ?before=: keyset pagination, not OFFSET."""
    moment = contact.updated_at if contact.updated_at.tzinfo else contact.updated_at.replace(tzinfo=UTC)
    return f"{round(moment.timestamp() * 1_000_000)}.{contact.id}"


def parse_cursor(value: str | None) -> tuple[datetime, int] | None:
    """(updated_at, id) from cursor(); None when absent or malformed."""
    match = re.fullmatch(r"(-?\d{1,17})\.(\d{1,12})", (value or "").strip())
    if not match:
        return None
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(match.group(1)))
    return moment, int(match.group(2))
