"""An advisor hands own contacts to a colleague or the house advisor: the rule is
ownership.handover; «Переданы мне» and «Переданы мной» are ownership.handed_over."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from .. import contacts, ownership
from ..db import db
from ..models import Advisor, Contact, Role
from . import params
from .auth import roles_required

bp = Blueprint("handover", __name__, url_prefix="/handover")
NAV = [("handover.index", "Передачи", ("advisor",), 6)]

SHOWN = 200  # own contacts offered at once; a search narrows them


def _ids(source, name: str) -> list[int]:
    ids = []
    for raw in source.getlist(name):
        value = params.integer(name, low=1, high=params.MAX_ID, what="Неверный номер контакта", source={name: raw})
        if value:
            ids.append(value)
    return ids


def _page(chosen: list[int], *, reason: str = "", new_owner_id: int | None = None, errors: dict | None = None, status: int = 200):
    user = current_user._get_current_object()
    search = (request.values.get("q") or "").strip()
    query = (
        select(Contact)
        .where(Contact.owner_id == user.id, Contact.archived_at.is_(None))
        .order_by(Contact.company, Contact.last_name, Contact.id)
    )
    if search:
        query = query.where(contacts.search_condition(search))
    own = list(db.session.scalars(query.limit(SHOWN)))
    shown = {c.id for c in own}
    own += [
        c
        for c in db.session.scalars(select(Contact).where(Contact.id.in_(chosen), Contact.owner_id == user.id))
        if c.id not in shown
    ]
    owners = [a for a in ownership.assignable_owners(db.session) if a.id != user.id]
    return render_template(
        "handover/index.html",
        own=own,
        chosen=set(chosen),
        owners=owners,
        search=search,
        reason=reason,
        new_owner_id=new_owner_id,
        errors=errors or {},
        to_me=ownership.handed_over(db.session, user, to_me=True),
        by_me=ownership.handed_over(db.session, user, to_me=False),
    ), status


@bp.get("/")
@roles_required(Role.ADVISOR)
def index():
    return _page(_ids(request.args, "contact"))


@bp.post("/")
@roles_required(Role.ADVISOR)
def hand():
    chosen = _ids(request.form, "contact")
    new_owner_id = params.record_id("new_owner_id", request.form)
    new_owner = db.session.get(Advisor, new_owner_id) if new_owner_id else None
    reason = request.form.get("reason", "")
    if new_owner is None:
        return _page(chosen, reason=reason, errors={"new_owner": "Выберите, кому передать"}, status=422)
    try:
        moved = ownership.handover(db.session, current_user._get_current_object(), chosen, new_owner, reason)
    except contacts.NotAllowed:
        db.session.rollback()
        abort(403)
    except contacts.ContactError as exc:
        db.session.rollback()
        return _page(chosen, reason=reason, new_owner_id=new_owner_id, errors=exc.errors, status=422)
    db.session.commit()
    flash(f"Передано контактов: {moved} → {new_owner.name}.", "success")
    return redirect(url_for(".index"))
