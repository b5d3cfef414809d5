"""Marketing's yearly view: the readiness board, the calendar, the offers of a year and starting one."""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, abort, flash, redirect, render_template, request, send_file, url_for
from flask_login import login_required
from flask_wtf import FlaskForm
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from ... import calendar, mailings, offer_start, offers, reports
from ...board import readiness_board, without_sender
from ...config import current_settings
from ...db import db
from ...models import Offer, Role, Tag
from .. import params
from ..auth import roles_required
from ..tags import KIND_LABELS

bp = Blueprint("offers", __name__)
NAV = [
    ("offers.board", "Готовность", ("marketing", "admin"), 20),
    ("offers.index", "Предложения", ("marketing", "admin"), 21),
    ("offers.calendar_page", "Календарь", ("advisor", "marketing", "admin"), 22),
]
WEEKDAYS = ("пн", "вт", "ср", "чт", "пт", "сб", "вс")
LATE_WARNING = "Предложение не готово — письма задержаны"
marketing_only = roles_required(Role.MARKETING, Role.ADMIN)


def _settings():
    return current_settings()


def _today():
    return datetime.now(_settings().timezone).date()


@bp.app_template_global()
def late_offers():
    """Offers holding their mails today (for the board and marketing's home page)."""
    return [(offer, offers.offer_send_date(offer)) for offer in offers.offers_not_ready_on(db.session, _today())]


@bp.app_context_processor
def _labels():
    return {
        "weekday_ru": lambda d: WEEKDAYS[d.weekday()],
        "kind_ru": lambda k: KIND_LABELS.get(k, str(k)),
        "late_warning": LATE_WARNING,
    }


# ------------------------------------------------------------------ board, calendar


@bp.get("/board")
@marketing_only
def board():
    today = _today()
    start = params.day("from") or today  # marketing may look further ahead: ?from=2027-07-01
    rows = readiness_board(db.session, _settings(), today, start=start)
    return render_template(
        "offers/board.html",
        rows=rows,
        today=today,
        start=start,
        late=late_offers(),
        missed=reports.missed_mailings(db.session, [today.year - 1, today.year]),
        state_labels=mailings.STATE_LABELS,
        no_sender=without_sender(rows),
        require_consent=_settings().require_consent,
    )


@bp.get("/calendar")
@login_required
def calendar_page():
    today = _today()
    tags = db.session.scalars(select(Tag).order_by(Tag.name)).all()
    year = params.year() or _current_or_coming_year(tags, today)
    rows = [(tag, occurrence, send_on, (send_on - today).days) for tag, occurrence, send_on in calendar.year_calendar(tags, year)]
    # This year's and next year's state of each tag's mailing (ready, draft, missing, waiting, sent, missed).
    years = [today.year, today.year + 1]
    states = {(m.tag.id, m.year): m for m in mailings.mailings(db.session, today, years, tags)}
    return render_template("offers/calendar.html", rows=rows, year=year, today=today, tags=tags, years=years, states=states)


# -------------------------------------------------------------------------- offers


def _current_or_coming_year(tags, today) -> int:
    """The year a page opens on: this one while some mailing of it is still to go out, else the next one
    (in December every row of the year is past: the work is next year's)."""
    try:
        coming = any(send_on >= today for _tag, _occurrence, send_on in calendar.year_calendar(tags, today.year))
    except ValueError:
        coming = True
    return today.year if coming or not tags else today.year + 1


@bp.get("/offers")
@marketing_only
def index():
    tags = db.session.scalars(select(Tag).order_by(Tag.name)).all()
    year = params.year() or _current_or_coming_year(tags, _today())
    by_tag = {o.tag_id: o for o in db.session.scalars(select(Offer).where(Offer.year == year))}
    rows = [(tag, occurrence, send_on, by_tag.get(tag.id)) for tag, occurrence, send_on in calendar.year_calendar(tags, year)]
    return render_template("offers/index.html", rows=rows, year=year, earlier=offer_start.earlier_years(db.session, year))


@bp.post("/offers/create")
@marketing_only
def create():
    tag = db.session.get(Tag, params.record_id("tag_id", request.form) or 0)
    year = params.year("year", request.form)
    if tag is None or year is None:
        abort(400, description="Выберите тег и год предложения.")
    existed = db.session.scalar(select(Offer.id).where(Offer.tag_id == tag.id, Offer.year == year))
    earlier = offer_start.earlier_offer(db.session, tag.id, year) if existed is None else None
    offer = offers.offer_for(db.session, tag, year)
    db.session.commit()
    if earlier is not None:
        flash(f"Черновик начат с предложения {earlier.year} года: тема, текст и ссылки скопированы — обновите их.", "success")
    return redirect(url_for("offers.edit", offer_id=offer.id))


@bp.post("/offers/<int:offer_id>/from-earlier")
@marketing_only
def from_earlier(offer_id: int):
    """«Начать с прошлогоднего» for a blank draft."""
    offer = offer_or_404(offer_id)
    if FlaskForm().validate_on_submit():
        earlier = offer_start.start_from_earlier(db.session, offer)
        if earlier is None:
            flash("Копировать нечего: черновик уже не пуст или прошлых предложений по этому тегу нет.", "error")
        else:
            db.session.commit()
            flash(f"Черновик начат с предложения {earlier.year} года: тема, текст и ссылки скопированы — обновите их.", "success")
    return redirect(url_for("offers.edit", offer_id=offer.id))


def offer_or_404(offer_id: int) -> Offer:
    offer = db.session.scalar(
        select(Offer).options(selectinload(Offer.links), selectinload(Offer.tag)).where(Offer.id == offer_id)
    )
    if offer is None:
        abort(404)
    return offer


# ------------------------------------------------------------- the catalog file


@bp.get("/files/catalog/<int:offer_id>/<filename>")
def catalog_file(offer_id: int, filename: str):
    """Public: recipients reach it through their tracked link; the random name is the key."""
    offer = db.session.get(Offer, offer_id)
    path = offers.catalog_file(_settings(), offer, filename)
    if path is None or offer is None:
        abort(404)
    return send_file(
        path, mimetype="application/pdf", download_name=offer.catalog_filename or "catalog.pdf", as_attachment=False, max_age=3600
    )
