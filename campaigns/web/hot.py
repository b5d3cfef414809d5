"""The advisor's hot list and the actions on it (log a call, not interested, dismiss)."""

from __future__ import annotations

from datetime import datetime
from functools import wraps

from flask import Blueprint, abort, flash, get_template_attribute, redirect, render_template, url_for
from flask_login import current_user, login_required
from markupsafe import Markup

from .. import calls, hotlist
from ..config import current_settings
from ..contacts import ContactError
from ..db import db
from ..models import Role
from .forms import CallForm, put_errors

bp = Blueprint("hot", __name__, url_prefix="/hot")
# Admin or marketing who get the house advisor's hot contacts find a link on the home page.
NAV = [("hot.index", "Горячие", ("advisor",), 1)]


def _today():
    return datetime.now(current_settings().timezone).date()


# Where a row's contact id goes in the blank call form (its action and its fields' prefix).
ROW = "__contact"


def _blank_call_form(today) -> Markup:
    """The call form of a row nobody has typed into yet, rendered once for the page with ROW for the
    contact's id: rendering it field by field through WTForms for each of 70 rows took 150 ms."""
    action = url_for("hot.call", contact_id=1).replace("/1/", f"/{ROW}/")
    form = CallForm.blank(prefix=f"c{ROW}", today=today)
    return get_template_attribute("_call_form.html", "log_call_form")(form, action, today, submit="Сохранить")


def _render(forms: dict | None = None, status: int = 200):
    """The page; ``forms``: a row's call form as it was sent back (with its errors), by contact id."""
    settings = current_settings()
    user = current_user._get_current_object()
    entries = hotlist.hot_list(db.session, user.id, settings) if user.role == Role.ADVISOR else []
    house, house_entries = hotlist.house_hot_list(db.session, user, settings)
    today = _today()
    return render_template(
        "hot/index.html",
        entries=entries,
        forms=forms or {},
        blank_call_form=_blank_call_form(today),
        row=ROW,
        today=today,
        house=house,
        house_entries=house_entries,
        hot_days=settings.hot_days,
    ), status


def _may_see_hot(view):
    """Advisors, and whoever admin named to get the house advisor's hot contacts (the head of sales)."""

    @wraps(view)
    @login_required
    def wrapped(*args, **kwargs):
        if current_user.role != Role.ADVISOR and not current_user.watches_house:
            abort(403)
        return view(*args, **kwargs)

    return wrapped


@bp.get("/")
@_may_see_hot
def index():
    return _render()


def _own_contact(contact_id: int):
    contact = hotlist.own_contact(db.session, current_user, contact_id)
    if contact is None:
        abort(404)
    return contact


@bp.post("/<int:contact_id>/call")
@_may_see_hot
def call(contact_id: int):
    contact = _own_contact(contact_id)
    form = CallForm(prefix=f"c{contact_id}")
    try:
        calls.log_call(
            db.session,
            current_user,
            contact,
            result=form.result.data,
            interest=form.interest.data,
            next_contact_on=form.next_contact_on.data,
            objection=form.objection.data,
            next_contact_time=form.next_contact_time.data,
            topic=form.topic.data,
            today=_today(),
        )
    except ContactError as exc:
        db.session.rollback()
        put_errors(form, exc.errors)
        return _render({contact_id: form}, status=422)
    db.session.commit()
    flash(f"Звонок записан: {_who(contact)}. Следующий контакт — {contact.next_contact_on:%d.%m.%Y}.", "success")
    return redirect(url_for("hot.index"))


def _who(contact) -> str:
    """The person first, then the company: «Кондрашов Олег (Тойота)»."""
    name = contact.full_name
    if name and contact.company:
        return f"{name} ({contact.company})"
    return name or contact.company or contact.email or "контакт"


@bp.post("/<int:contact_id>/not-interested")
@_may_see_hot
def not_interested(contact_id: int):
    contact = _own_contact(contact_id)
    hotlist.not_interested(db.session, contact, current_user)
    db.session.commit()
    flash(f"{_who(contact)}: отмечено «не интересно».", "success")
    return redirect(url_for("hot.index"))


@bp.post("/<int:contact_id>/dismiss")
@_may_see_hot
def dismiss(contact_id: int):
    contact = _own_contact(contact_id)
    hotlist.dismiss(db.session, contact, current_user)
    db.session.commit()
    flash(f"{_who(contact)}: убран(а) из списка до следующего перехода.", "success")
    return redirect(url_for("hot.index"))
