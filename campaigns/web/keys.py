"""The user's own API keys: make one (its token shown once, on this answer only), see when each
was last used, revoke. A key acts with its owner's role (apikeys.py, web/api/base.py)."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import StringField

from .. import apikeys
from ..db import db

bp = Blueprint("keys", __name__, url_prefix="/keys")
NAV = [("keys.index", "API", ("advisor", "marketing", "admin"), 90)]


class KeyForm(FlaskForm):
    name = StringField("Название ключа", description="Для чего он: «CRM», «телефония», «отчёты BI»")


class RevokeForm(FlaskForm):
    pass


def _render(form: KeyForm, token: str | None = None, status: int = 200):
    keys = apikeys.user_keys(db.session, current_user._get_current_object())
    # The token is in this page only (not in a flash: the session cookie is signed, not encrypted).
    return render_template("api/keys.html", form=form, revoke=RevokeForm(), keys=keys, token=token), status


@bp.get("/")
@login_required
def index():
    return _render(KeyForm())


@bp.post("/")
@login_required
def create():
    form = KeyForm()
    if not form.validate_on_submit():
        return _render(form, status=400)
    try:
        key, token = apikeys.create_key(db.session, current_user._get_current_object(), form.name.data or "")
    except apikeys.ApiKeyError as exc:
        db.session.rollback()
        form.name.errors = [exc.errors["name"]]
        return _render(form, status=422)
    db.session.commit()
    response = _render(KeyForm(formdata=None), token=token)
    return response[0], 201, {"Cache-Control": "no-store"}


@bp.post("/<int:key_id>/revoke")
@login_required
def revoke(key_id: int):
    if not RevokeForm().validate_on_submit():
        abort(400)
    key = apikeys.revoke_key(db.session, current_user._get_current_object(), key_id)
    if key is None:
        abort(404)
    db.session.commit()
    flash(f"Ключ «{key.name}» отозван: запросы с ним больше не принимаются.", "success")
    return redirect(url_for(".index"))
