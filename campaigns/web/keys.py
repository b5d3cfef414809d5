"""The user's own API keys: make one (its token shown once), see when each was last used, revoke.
A key acts with its owner's role (apikeys.py, web/api/base.py).

Making a key is POST → redirect → GET: the POST leaves the new token in the session, sealed
(Fernet under a key derived from SECRET_KEY: the session cookie is signed, not encrypted), and
the page GET takes it out and shows it once. A reload shows the page without it and makes no
second key."""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import Blueprint, abort, flash, redirect, render_template, session, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import StringField

from .. import apikeys
from ..config import current_settings
from ..db import db

bp = Blueprint("keys", __name__, url_prefix="/keys")
NAV = [("keys.index", "API", ("advisor", "marketing", "admin"), 90)]


class KeyForm(FlaskForm):
    name = StringField("Название ключа", description="Для чего он: «CRM», «телефония», «отчёты BI»")


class RevokeForm(FlaskForm):
    pass


NEW_KEY = "new_api_key"  # the session's slot for the sealed token, between the POST and the GET
SHOW_FOR = 300  # seconds: a token not shown by then is not shown at all


def _fernet() -> Fernet:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"campaigns: new api key").derive(
        current_settings().secret_key.encode()
    )
    return Fernet(base64.urlsafe_b64encode(derived))


def _take_new_token() -> str | None:
    """The token made by this user's last POST, once: it leaves the session as it is read."""
    sealed = session.pop(NEW_KEY, None)
    if not isinstance(sealed, str):
        return None
    try:
        user_id, _, token = _fernet().decrypt(sealed.encode(), ttl=SHOW_FOR).decode().partition(":")
    except InvalidToken:
        return None
    return token if user_id == str(current_user.id) else None


def _render(form: KeyForm, token: str | None = None, status: int = 200):
    keys = apikeys.user_keys(db.session, current_user._get_current_object())
    return render_template("api/keys.html", form=form, revoke=RevokeForm(), keys=keys, token=token), status


@bp.get("/")
@login_required
def index():
    page, status = _render(KeyForm(), token=_take_new_token())
    return page, status, {"Cache-Control": "no-store"}


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
    session[NEW_KEY] = _fernet().encrypt(f"{current_user.id}:{token}".encode()).decode()
    return redirect(url_for(".index"), code=303)


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
