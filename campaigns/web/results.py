"""Results for marketing: what each offer, tag and advisor's mails brought."""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, render_template
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from .. import mailings, replies, reports
from ..config import current_settings
from ..db import db
from ..models import Offer, Role
from ..offers import offer_send_date
from . import params
from .auth import roles_required

bp = Blueprint("results", __name__, url_prefix="/results")
NAV = [("results.index", "Результаты", ("marketing", "admin"), 60)]


def _by_send_date(rows):
    """The offers in the order their mails go out (not by name)."""

    found = db.session.scalars(select(Offer).options(selectinload(Offer.tag)).where(Offer.id.in_([r.key for r in rows])))
    when = {}
    for offer in found:
        try:
            when[offer.id] = offer_send_date(offer)
        except ValueError:
            continue
    return sorted(rows, key=lambda r: (when.get(r.key) is None, when.get(r.key) or 0, r.label))


@bp.get("/")
@roles_required(Role.MARKETING, Role.ADMIN)
def index():
    this_year = datetime.now(current_settings().timezone).year
    years = reports.years(db.session) or [this_year]
    year = params.year() or (this_year if this_year in years else years[0])
    offers = _by_send_date(reports.by_offer(db.session, year))
    return render_template(
        "results/index.html",
        year=year,
        years=years,
        offers=offers,
        links=reports.by_link(db.session, [r.key for r in offers]),
        tags=reports.by_tag(db.session, None),
        advisors=reports.by_advisor(db.session, year),
        missed=reports.missed_mailings(db.session, [year]),
        state_labels=mailings.STATE_LABELS,
        replies={
            "offer": replies.reply_counts(db.session, "offer", year),
            "advisor": replies.reply_counts(db.session, "advisor", year),
            "tag": replies.reply_counts(db.session, "tag", None),
        },
    )
