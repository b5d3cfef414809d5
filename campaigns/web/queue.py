"""The delivery queue: what is planned, held, on its way, sent, failed or unknown; admin's decisions."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user
from flask_wtf import FlaskForm

from .. import deliveries, planner
from ..board import readiness_board
from ..config import current_settings
from ..db import db, utcnow
from ..models import Role
from . import params
from .auth import roles_required

bp = Blueprint("queue", __name__)
NAV = [("queue.index", "Очередь", ("admin",), 70)]


class ActionForm(FlaskForm):
    """Only the CSRF token: the delivery is in the URL."""


@bp.get("/queue")
@roles_required(Role.ADMIN, Role.MARKETING)
def index():
    settings = current_settings()
    view = deliveries.queue_view(db.session, settings)
    plan_day = params.day("plan")
    plan = None
    if plan_day:
        plan = planner.plan_day(db.session, plan_day, settings, dry_run=True)
        db.session.rollback()
    today = utcnow().astimezone(settings.timezone).date()
    # Due mailings without a ready offer («ждёт предложения»), with their audience.
    waiting = [row for row in readiness_board(db.session, settings, today, days=0) if row.state == "waiting"]
    return render_template(
        "queue/index.html",
        view=view,
        plan=plan,
        plan_day=plan_day or today,
        waiting=waiting,
        form=ActionForm(),
        can_act=current_user.role == Role.ADMIN,
    )


def _act(delivery_id: int, action, done: str, missed: str):
    if not ActionForm().validate_on_submit():
        abort(400, description="Форма устарела: обновите страницу и попробуйте ещё раз.")
    if action(db.session, delivery_id, current_user):
        flash(done, "success")
    else:
        flash(missed, "error")
    return redirect(url_for("queue.index"))


@bp.post("/queue/<int:delivery_id>/retry")
@roles_required(Role.ADMIN)
def retry(delivery_id: int):
    return _act(
        delivery_id,
        deliveries.retry,
        "Письмо поставлено в очередь повторно.",
        "Повторить можно только неотправленное или неизвестное письмо.",
    )


@bp.post("/queue/<int:delivery_id>/mark-sent")
@roles_required(Role.ADMIN)
def mark_sent(delivery_id: int):
    return _act(
        delivery_id,
        deliveries.mark_sent,
        "Письмо отмечено как отправленное.",
        "Отметить отправленным можно только письмо с неизвестной судьбой.",
    )
