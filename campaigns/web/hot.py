"""The advisor's hot list and the actions on it (log a call, not interested, dismiss)."""
from __future__ import annotations

from datetime import date, timedelta

from flask import Blueprint, abort, current_app, flash, redirect, render_template, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import DateField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, ValidationError

from .. import hotlist
from ..db import db
from ..models import Role
from .auth import roles_required

bp = Blueprint("hot", __name__, url_prefix="/hot")
NAV = [("hot.index", "Горячие", ("advisor",), 1)]

INTEREST = {"": "не ясно", "yes": "есть интерес", "no": "нет интереса"}


class CallForm(FlaskForm):
    class Meta:
        csrf = False  # CSRFProtect checks every POST of the app already (the page's csrf_token field)

    result = TextAreaField("Итог звонка", validators=[DataRequired("Напишите, чем закончился разговор"), Length(max=2000)])
    interest = SelectField("Интерес", choices=INTEREST, default="")
    objection = StringField("Возражение", validators=[Length(max=500)])
    next_contact_on = DateField("Следующий контакт", validators=[DataRequired("Назначьте дату следующего контакта")])

    def validate_next_contact_on(self, field):
        if field.data and field.data < date.today():
            raise ValidationError("Дата следующего контакта не может быть в прошлом")


def _render(forms: dict | None = None, status: int = 200):
    entries = hotlist.hot_list(db.session, current_user.id, current_app.config["SETTINGS"])
    forms = forms or {}
    for entry in entries:
        if entry.contact_id not in forms:
            form = CallForm(prefix=f"c{entry.contact_id}", formdata=None)
            form.next_contact_on.data = date.today() + timedelta(days=7)
            forms[entry.contact_id] = form
    return render_template("hot/index.html", entries=entries, forms=forms,
                           hot_days=current_app.config["SETTINGS"].hot_days), status


@bp.get("/")
@roles_required(Role.ADVISOR)
def index():
    return _render()


def _own_contact(contact_id: int):
    contact = hotlist.own_contact(db.session, current_user, contact_id)
    if contact is None:
        abort(404)
    return contact


@bp.post("/<int:contact_id>/call")
@roles_required(Role.ADVISOR)
def call(contact_id: int):
    contact = _own_contact(contact_id)
    form = CallForm(prefix=f"c{contact_id}")
    if not form.validate():
        return _render({contact_id: form}, status=422)
    interest = {"yes": True, "no": False}.get(form.interest.data)
    hotlist.log_call(db.session, contact, current_user, result=form.result.data, interest=interest,
                     next_contact_on=form.next_contact_on.data, objection=form.objection.data or "")
    db.session.commit()
    flash(f"Звонок записан: {contact.company or contact.full_name}. Следующий контакт — {form.next_contact_on.data:%d.%m.%Y}.",
          "success")
    return redirect(url_for("hot.index"))


@bp.post("/<int:contact_id>/not-interested")
@roles_required(Role.ADVISOR)
def not_interested(contact_id: int):
    contact = _own_contact(contact_id)
    hotlist.not_interested(db.session, contact, current_user)
    db.session.commit()
    flash(f"{contact.company or contact.full_name}: отмечено «не интересно».", "success")
    return redirect(url_for("hot.index"))


@bp.post("/<int:contact_id>/dismiss")
@roles_required(Role.ADVISOR)
def dismiss(contact_id: int):
    contact = _own_contact(contact_id)
    hotlist.dismiss(db.session, contact, current_user)
    db.session.commit()
    flash(f"{contact.company or contact.full_name} убран из списка до следующего перехода.", "success")
    return redirect(url_for("hot.index"))
