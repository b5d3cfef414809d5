"""The links of a test send (and of the preview): they work, and they count for nobody.

A test mail is built for delivery TEST_DELIVERY_ID, which no real delivery has. Its /c/ links are
signed like any other, so nobody can forge one; the redirect sends the tester where the offer's
link leads (marked `X-Campaigns-Click: test`) and records nothing: no click, no hot list, no note.
Its /u/ link opens a page saying that a test mail unsubscribes nobody.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from .models import Link
from .tracking import TEST_DELIVERY_ID, TRAP_LINK_ID

__all__ = ["TEST_DELIVERY_ID", "TEST_HEADER", "is_test", "target"]

TEST_HEADER = ("X-Campaigns-Click", "test")


def is_test(delivery_id: int) -> bool:
    return delivery_id == TEST_DELIVERY_ID


def target(session: Session, link_id: int) -> str | None:
    """Where a test mail's link leads: the link's stored URL, or None (unknown, or a trap for scanners)."""
    if link_id == TRAP_LINK_ID:
        return None
    row = session.execute(select(Link.url, Link.is_trap).where(Link.id == link_id)).first()
    if row is None or row.is_trap:
        return None
    return row.url
