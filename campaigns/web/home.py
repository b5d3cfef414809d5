"""The start page: each role lands where its work is.

An advisor's morning, in the order it is worked: the hot list (who clicked in our mails),
then the contacts due for a call today, then the contacts nobody has worked for a while.
Each section shows the first few and links to the full list.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import Blueprint, current_app, render_template, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from .. import calendar, contacts, duplicates, hotlist, ownership
from ..board import occurrence_year
from ..config import current_settings
from ..db import db, utcnow
from ..models import Offer, OfferStatus, Role, Tag

bp = Blueprint("home", __name__)
NAV = [("home.index", "Главная", ("advisor", "marketing", "admin"), 0)]

SHOWN = 10  # per section; the full lists are one click away


@bp.get("/")
@login_required
def index():
    advisor = current_user.id if current_user.role == Role.ADVISOR else None
    context = {"contact_count": ownership.live_total(db.session, advisor)}
    if current_user.role == Role.ADVISOR:
        context.update(_advisor_day())
    else:
        context.update(_mailings_ahead())
    return render_template("home/index.html", **context)


def _advisor_day() -> dict:
    settings = current_settings()
    now = utcnow()
    today = datetime.now(settings.timezone).date()
    hot = hotlist.hot_list(db.session, current_user.id, settings, now=now)
    due = contacts.contact_list(db.session, current_user, call_today=True, today=today, now=now, per_page=SHOWN)
    idle = contacts.contact_list(
        db.session, current_user, not_worked_days=settings.not_worked_days, today=today, now=now, per_page=SHOWN
    )
    return {
        "hot": hot[:SHOWN],
        "hot_total": len(hot),
        "hot_url": _url_if_exists("hot.index"),
        # Colleagues tried to add the advisor's contacts (duplicates.record_attempt): the last week.
        "attempts": duplicates.attempts_since(db.session, current_user, now - timedelta(days=7))[:SHOWN],
        "due": due,
        "idle": idle,
        "today": today,
        "not_worked_days": settings.not_worked_days,
    }


def _mailings_ahead() -> dict:
    """Marketing and admin: the mailings of the next 30 days and whether their offers are ready."""
    today = datetime.now(current_settings().timezone).date()
    ahead = calendar.upcoming(db.session.scalars(select(Tag)).all(), today, days=30)[:SHOWN]
    # A long lead can put a January holiday's mailing in December: the offer is the occurrence year's.
    rows = [(tag, when, occurrence_year(tag, when)) for tag, when in ahead]
    years = {year for _tag, _when, year in rows} or {today.year}
    offers = {(o.tag_id, o.year): o for o in db.session.scalars(select(Offer).where(Offer.year.in_(years)))}
    return {
        "today": today,
        "ahead": [(tag, when, offers.get((tag.id, year))) for tag, when, year in rows],
        "ready_status": OfferStatus.READY,
    }


def _url_if_exists(endpoint: str) -> str | None:
    # The hot-list page is another blueprint; the home page must not break while it is absent.
    return url_for(endpoint) if endpoint in current_app.view_functions else None
