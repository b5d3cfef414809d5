"""A person's data (152-FZ): the export (JSON and a readable page) and the erasure; the rules
are privacy.py. Whoever may see the contact may export it; only admin erases."""

from __future__ import annotations

import json

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from .. import contacts, privacy
from ..db import db
from ..models import Role
from .auth import roles_required

bp = Blueprint("privacy", __name__, url_prefix="/contacts")


def _contact(contact_id: int):
    contact = contacts.get_visible_contact(db.session, current_user._get_current_object(), contact_id)
    if contact is None:
        abort(404)
    return contact


@bp.get("/<int:contact_id>/data")
@login_required
def page(contact_id: int):
    contact = _contact(contact_id)
    return render_template("privacy/export.html", contact=contact, data=privacy.export(db.session, contact))


@bp.get("/<int:contact_id>/data.json")
@login_required
def export_json(contact_id: int):
    contact = _contact(contact_id)
    body = json.dumps(privacy.export(db.session, contact), ensure_ascii=False, indent=2)
    return Response(
        body,
        mimetype="application/json",
        headers={"Content-Disposition": f'attachment; filename="contact-{contact.id}.json"', "Cache-Control": "no-store"},
    )


@bp.post("/<int:contact_id>/erase")
@roles_required(Role.ADMIN)
def erase(contact_id: int):
    contact = _contact(contact_id)
    if request.form.get("confirm") != "yes":
        flash("Отметьте, что клиент потребовал удалить его данные: это нельзя отменить.", "error")
        return redirect(url_for(".page", contact_id=contact.id))
    privacy.erase(db.session, current_user._get_current_object(), contact)
    db.session.commit()
    flash("Персональные данные удалены. Адрес остался в стоп-листе только в виде хеша.", "success")
    return redirect(url_for("contacts.card", contact_id=contact_id))
