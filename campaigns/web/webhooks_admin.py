"""Admin's webhooks page: register an endpoint and its events, see its last attempts (status,
response time), pause or resume it. The rules are webhooks.py's."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import SelectMultipleField, StringField
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]  # in WTForms 3.3, not yet in its stubs
from wtforms.widgets import CheckboxInput, ListWidget

from .. import webhooks
from ..db import db
from ..models import Role, WebhookEndpoint
from .auth import roles_required
from .forms import put_errors

bp = Blueprint("webhooks", __name__, url_prefix="/admin/webhooks")
NAV = [("webhooks.index", "Вебхуки", ("admin",), 82)]


class EndpointForm(FlaskForm):
    url = StringField("Адрес (https://…)")
    events = SelectMultipleField(
        "События",
        choices=[SelectChoice(name, f"{name} — {label}") for name, label in webhooks.EVENTS.items()],
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
    )


class ActionForm(FlaskForm):
    pass


def _endpoint_or_404(endpoint_id: int) -> WebhookEndpoint:
    endpoint = db.session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None:
        abort(404)
    return endpoint


@bp.route("/", methods=["GET", "POST"])
@roles_required(Role.ADMIN)
def index():
    form = EndpointForm()
    if form.validate_on_submit():
        try:
            endpoint = webhooks.create_endpoint(
                db.session, current_user._get_current_object(), form.url.data or "", form.events.data
            )
        except webhooks.WebhookError as exc:
            db.session.rollback()
            put_errors(form, exc.errors)
        else:
            db.session.commit()
            flash("Вебхук добавлен. Проверяйте подпись каждого запроса секретом, показанным ниже.", "success")
            return redirect(url_for(".show", endpoint_id=endpoint.id))
    endpoints = db.session.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.id)).all()
    return render_template(
        "admin/webhooks.html", form=form, endpoints=endpoints, events=webhooks.EVENTS, allowed_env=webhooks.ALLOWED_NETWORKS_ENV
    ), 200 if request.method == "GET" else 422


@bp.get("/<int:endpoint_id>")
@roles_required(Role.ADMIN)
def show(endpoint_id: int):
    endpoint = _endpoint_or_404(endpoint_id)
    return render_template(
        "admin/webhook.html",
        endpoint=endpoint,
        action=ActionForm(),
        events=webhooks.EVENTS,
        attempts=webhooks.recent_attempts(db.session, endpoint.id),
    )


@bp.post("/<int:endpoint_id>/<any(pause, resume, delete):action>")
@roles_required(Role.ADMIN)
def act(endpoint_id: int, action: str):
    endpoint = _endpoint_or_404(endpoint_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    if action == "delete":
        db.session.delete(endpoint)
        webhooks.update_endpoint(endpoint)  # forget the cached subscriptions
        db.session.commit()
        flash("Вебхук удалён.", "info")
        return redirect(url_for(".index"))
    webhooks.update_endpoint(endpoint, active=action == "resume")
    db.session.commit()
    flash("Вебхук включён." if action == "resume" else "Вебхук выключен.", "info")
    return redirect(url_for(".show", endpoint_id=endpoint.id))
