"""The contacts list's selection: one POST with the ids ticked and the action's button (bulk.py)."""

from __future__ import annotations

from flask import Blueprint, Response, abort, flash, redirect, request, stream_with_context, url_for
from flask_login import current_user
from flask_wtf import FlaskForm

from .. import bulk, contacts, ownership
from ..db import db
from ..export import export_csv
from ..models import Advisor, Role, Tag
from . import params
from .auth import roles_required
from .filters import plural
from .security import local_target

bp = Blueprint("bulk", __name__, url_prefix="/contacts")

ACTIONS = ("tag", "untag", "archive", "restore", "transfer", "export")


def _ids() -> list[int]:
    ids = []
    for raw in request.form.getlist("ids")[: bulk.MAX_SELECTED]:
        if not raw.isdigit() or int(raw) > params.MAX_ID:
            abort(400)
        ids.append(int(raw))
    return ids


def _back():
    return redirect(local_target(request.form.get("next", ""), url_for("contacts.index")))


def _count(n: int) -> str:

    return plural(n, "контакт", "контакта", "контактов")


@bp.post("/bulk")
@roles_required(Role.ADVISOR, Role.MARKETING, Role.ADMIN)
def act():
    if not FlaskForm().validate_on_submit():  # the CSRF token
        abort(400)
    action = request.form.get("action", "")
    if action not in ACTIONS:
        abort(400)
    ids = _ids()
    user = current_user._get_current_object()
    if not ids:
        flash("Отметьте контакты в списке.", "error")
        return _back()
    if action == "export":  # every role exports what it may see
        response = Response(stream_with_context(export_csv(db.session, user, ids)), mimetype="text/csv; charset=utf-8")
        response.headers["Content-Disposition"] = "attachment; filename=contacts-selected.csv"
        return response
    if user.role == Role.MARKETING:
        abort(403)
    if action in ("tag", "untag"):
        tag_id = params.record_id("tag_id", request.form)
        the_tag = db.session.get(Tag, tag_id) if tag_id else None
        if the_tag is None:
            flash("Выберите тег.", "error")
            return _back()
        if action == "tag":
            n = bulk.tag(db.session, user, ids, the_tag)
            message = f"Тег «{the_tag.name}» добавлен: {_count(n)}." if n else f"У выбранных уже есть тег «{the_tag.name}»."
        else:
            n = bulk.untag(db.session, user, ids, the_tag)
            message = f"Тег «{the_tag.name}» снят: {_count(n)}." if n else f"У выбранных нет тега «{the_tag.name}»."
    elif action == "archive":
        n = bulk.archive(db.session, user, ids, request.form.get("reason", "")[:300])
        message = f"В архив: {_count(n)}. Администратор может вернуть их."
    elif action == "restore":
        if user.role != Role.ADMIN:
            abort(403)
        n = bulk.restore(db.session, user, ids)
        message = f"Возвращены из архива: {_count(n)}."
    else:  # transfer
        if user.role != Role.ADMIN:
            abort(403)
        owner_id = params.record_id("new_owner_id", request.form)
        new_owner = db.session.get(Advisor, owner_id) if owner_id else None
        if new_owner is None:
            flash("Выберите, кому передать контакты.", "error")
            return _back()
        try:
            n = ownership.transfer_contacts(db.session, user, ids, new_owner, request.form.get("reason", "")[:300])
        except contacts.ContactError as exc:
            db.session.rollback()
            for text in exc.errors.values():
                flash(text, "error")
            return _back()
        message = f"Переданы {new_owner.name}: {_count(n)}." if n else f"Выбранные уже у {new_owner.name}."
    db.session.commit()
    flash(message, "success")
    return _back()
