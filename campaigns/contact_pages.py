"""The contact list a page at a time: the page, keyset cursors over (updated_at, id), the count
that stops at COUNT_LIMIT, and how deep a page may be opened by its number. contacts.contact_list
fills it."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from .models import Contact

PER_PAGE = 50
# Counting stops here: a count of a million rows would cost more than the page it heads.
COUNT_LIMIT = 10_000
# A page opened by its number alone (?page=, no cursor) skips the rows before it with OFFSET, which
# reads every row it skips: page 10,000 of a million took seconds. So numbers go as deep as the
# count does; further on, «дальше» (a cursor) leads, and page 20,000 costs what page 2 does.
LAST_NUMBERED_PAGE = COUNT_LIMIT // PER_PAGE


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
    # A list paged by number only (today's calls) stops at LAST_NUMBERED_PAGE with more rows left.
    numbers_end: bool = False

    @property
    def pages(self) -> int:
        """The number of pages, counted up to COUNT_LIMIT contacts."""
        return max(1, math.ceil(self.total / self.per_page))


def cursor(contact: Contact) -> str:
    """A position in the list (updated_at, id) for ?after= / ?before=: keyset pagination, not OFFSET."""
    moment = contact.updated_at if contact.updated_at.tzinfo else contact.updated_at.replace(tzinfo=UTC)
    return f"{round(moment.timestamp() * 1_000_000)}.{contact.id}"


def cursor_keys(after: str | None, before: str | None, *, call_today: bool = False):
    """The (after, before) keys that apply: none for today's calls, which go by their time first
    (a short list, paged by number); none for a malformed cursor (the page's number decides)."""
    if call_today:
        return None, None
    return parse_cursor(after), parse_cursor(before)


def by_number(after: str | None, before: str | None, *, call_today: bool = False) -> bool:
    """True when the page is found by its number (OFFSET), not by a cursor: see LAST_NUMBERED_PAGE."""
    return not any(cursor_keys(after, before, call_today=call_today))


def parse_cursor(value: str | None) -> tuple[datetime, int] | None:
    """(updated_at, id) from cursor(); None when absent or malformed."""
    match = re.fullmatch(r"(-?\d{1,17})\.(\d{1,12})", (value or "").strip())
    if not match:
        return None
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(match.group(1)))
    return moment, int(match.group(2))
