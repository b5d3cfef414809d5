"""Pacing that looks like a person: per-advisor windows and caps, and the relay's rate.

pace_day() gives each planned delivery of a day its moment (Delivery.send_at): an
advisor's mails are spread over the advisor's own working hours, in the advisor's own time zone
(Advisor.work_hours, Advisor.timezone; else WORK_HOURS, TIMEZONE), with a jitter, at most the
advisor's daily cap per working day; the rest roll to the next working day. Only rows
without a moment are touched, and the jitter is derived from the delivery id, so
running it again changes nothing already paced.

RelayLimit is the global per-relay rate, kept in Redis so it holds across any number
of worker processes (the `limits` library's moving window: atomic Lua on the server).
"""

from __future__ import annotations

import hashlib
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime

from limits import RateLimitItemPerMinute
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, aliased

from . import accounts, calendar, missed
from .config import Settings
from .db import utcnow
from .extensions import limiter_storage_uri
from .models import Advisor, Contact, Delivery, DeliveryStatus
from .sender import NO_SENDER, sender_of

JITTER = 0.4  # of one slot, either way: neighbours never swap order


@dataclass
class PaceResult:
    day: date
    paced: int = 0
    rolled: int = 0
    missed: int = 0  # past their mailing's last day (missed.py)
    held: int = 0  # nobody may send them (sender.NO_SENDER)


def window(day: date, settings: Settings, advisor: Advisor | None = None) -> tuple[datetime, datetime]:
    """The working hours of `day` as aware UTC datetimes: the advisor's own hours in the advisor's
    own time zone (accounts.work_hours), else the global WORK_HOURS and TIMEZONE."""
    start, end, tz = accounts.work_hours(advisor, settings)
    return (datetime.combine(day, start, tz).astimezone(UTC), datetime.combine(day, end, tz).astimezone(UTC))


def jitter(delivery_id: int) -> float:
    """A stable number in [-JITTER, JITTER) for this delivery."""
    digest = hashlib.blake2b(str(delivery_id).encode(), digest_size=8).digest()
    return (int.from_bytes(digest, "big") / 2**64 * 2 - 1) * JITTER


def slots(ids: list[int], start: datetime, end: datetime) -> list[datetime]:
    """Moments for `ids` spread evenly over [start, end), each shaken within its own slot."""
    if not ids:
        return []
    step = (end - start) / len(ids)
    return [(start + step * (i + 0.5 + jitter(delivery_id))).replace(microsecond=0) for i, delivery_id in enumerate(ids)]


def daily_cap(advisor: Advisor | None, settings: Settings) -> int:
    return advisor.daily_cap if advisor is not None and advisor.daily_cap else settings.daily_cap


def pace_day(session: Session, day: date, settings: Settings, now: datetime | None = None) -> PaceResult:
    """Give planned deliveries due by `day` their moment on `day`, or roll them to the next working day.

    A mail is never paced or rolled past its mailing's last day (it is missed instead), and a
    mail nobody may send (sender.NO_SENDER) is held with that reason instead of being paced."""
    now = now or utcnow()
    result = PaceResult(day=day)
    owner = aliased(Advisor)
    sender = sender_of(owner)
    waiting = session.execute(
        select(Delivery.id, Delivery.offer_id, sender)
        .join(Contact, Contact.id == Delivery.contact_id)
        .join(owner, owner.id == Contact.owner_id)
        .where(Delivery.status == DeliveryStatus.PLANNED, Delivery.send_at.is_(None), Delivery.send_on <= day)
        .order_by(Delivery.send_on, Delivery.id)
    ).all()
    if not waiting:
        return result
    last_days = missed.last_days(session, {offer_id for _id, offer_id, _sender in waiting})
    next_day = calendar.add_working_days(day, 1)
    late: dict[int, list[int]] = defaultdict(list)
    nobody: list[int] = []
    per_sender: dict[int, list[int]] = defaultdict(list)
    for delivery_id, offer_id, sender_id in waiting:
        if offer_id in last_days and last_days[offer_id] < day:
            late[offer_id].append(delivery_id)
        elif sender_id is None:
            nobody.append(delivery_id)
        else:
            per_sender[sender_id].append(delivery_id)
    for offer_id, ids in late.items():
        result.missed += missed.mark_missed(session, offer_id, ids)
    if nobody:
        session.execute(
            update(Delivery)
            .where(Delivery.id.in_(nobody), Delivery.status == DeliveryStatus.PLANNED)
            .values(status=DeliveryStatus.HELD, last_error=NO_SENDER, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        result.held += len(nobody)
    offer_of = {delivery_id: offer_id for delivery_id, offer_id, _sender in waiting}

    # Already given a moment (or sent) that day: they use up the cap.
    used = dict(
        session.execute(
            select(Delivery.advisor_id, func.count())
            .where(
                Delivery.send_on == day,
                Delivery.send_at.is_not(None),
                Delivery.status.not_in((DeliveryStatus.CANCELLED, DeliveryStatus.HELD)),
            )
            .group_by(Delivery.advisor_id)
        ).all()
    )
    advisors = {a.id: a for a in session.scalars(select(Advisor).where(Advisor.id.in_(list(per_sender))))}
    changes = []
    stamp = utcnow()
    past_window: dict[int, list[int]] = defaultdict(list)
    for sender_id, ids in per_sender.items():
        start, end = window(day, settings, advisors.get(sender_id))
        start = max(start, now.replace(microsecond=0))
        open_today = calendar.is_working_day(day) and (end - start).total_seconds() >= 60
        free = max(daily_cap(advisors.get(sender_id), settings) - used.get(sender_id, 0), 0) if open_today else 0
        take, rest = ids[:free], ids[free:]
        for delivery_id, moment in zip(take, slots(take, start, end), strict=True):
            changes.append({"id": delivery_id, "send_on": day, "send_at": moment, "advisor_id": sender_id, "updated_at": stamp})
        for delivery_id in rest:
            offer_id = offer_of[delivery_id]
            if offer_id in last_days and next_day > last_days[offer_id]:
                past_window[offer_id].append(delivery_id)  # the roll-over stops at the window's end
                continue
            changes.append(
                {"id": delivery_id, "send_on": next_day, "send_at": None, "advisor_id": sender_id, "updated_at": stamp}
            )
            result.rolled += 1
        result.paced += len(take)
    if changes:
        session.execute(update(Delivery), changes)
    for offer_id, ids in past_window.items():
        result.missed += missed.mark_missed(session, offer_id, ids)
    session.flush()
    return result


class RelayLimit:
    """At most settings.relay_rate_per_minute messages per minute through one relay, for all workers."""

    def __init__(self, settings: Settings):

        self.item = RateLimitItemPerMinute(settings.relay_rate_per_minute)
        self.limiter = MovingWindowRateLimiter(storage_from_string(limiter_storage_uri(settings.redis_url)))
        self.key = settings.mail.relay_key

    def acquire(self) -> float:
        """0 when this message may go now; otherwise the seconds to wait before trying again."""
        if self.limiter.hit(self.item, "campaigns-relay", self.key):
            return 0.0
        stats = self.limiter.get_window_stats(self.item, "campaigns-relay", self.key)
        return max(1.0, stats.reset_time - time.time())

    def acquire_all(self, count: int) -> bool:
        """Room for `count` messages now, taken at once (all or none, atomically in Redis): True;
        False takes nothing, and the caller goes on one message at a time (acquire)."""
        return count > 0 and self.limiter.hit(self.item, "campaigns-relay", self.key, cost=count)


_limits: dict[tuple, RelayLimit] = {}


def relay_limit(settings: Settings) -> RelayLimit:
    """One limiter (and Redis pool) per process and relay."""
    key = (settings.redis_url, settings.mail.relay_key, settings.relay_rate_per_minute)
    if key not in _limits:
        _limits[key] = RelayLimit(settings)
    return _limits[key]
