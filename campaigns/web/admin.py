"""Administration: users (create, deactivate with an heir) and moving contacts between owners."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from wtforms import IntegerField, PasswordField, SelectField, StringField
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]  # in WTForms 3.3, not yet in its stubs
from wtforms.validators import Optional

from .. import accounts, contacts, ownership
from ..accounts import ROLE_LABELS
from ..db import db
from ..models import Advisor, Contact, Role, Tag
from ..sender import house_advisor
from . import params
from .auth import roles_required
from .forms import put_errors

bp = Blueprint("admin", __name__, url_prefix="/admin")
NAV = [
    ("admin.users", "Пользователи", ("admin",), 80),
    ("admin.transfer", "Передача контактов", ("admin",), 81),
]


class UserForm(FlaskForm):
    """Only carries the input: accounts.create_user checks it, as for the CLI."""

    email = StringField("Эл. почта")
    name = StringField("Имя и фамилия")
    role = SelectField("Роль", choices=[SelectChoice(r.value, ROLE_LABELS[r]) for r in Role])
    phone = StringField("Телефон")
    password = PasswordField("Пароль")


class DeactivateForm(FlaskForm):
    heir_id = SelectField("Кому перейдут контакты", coerce=int, validate_choice=False)
    reason = StringField("Причина")


class TransferForm(FlaskForm):
    owner = IntegerField(validators=[Optional()])
    tag = IntegerField(validators=[Optional()])
    days = IntegerField(validators=[Optional()])
    expected = IntegerField(validators=[Optional()])
    new_owner_id = SelectField("Новый владелец", coerce=int, validate_choice=False)
    reason = StringField("Причина")


def _admin() -> Advisor:
    return current_user._get_current_object()


def _heir_choices(exclude_id: int | None = None) -> list[SelectChoice]:
    return [
        SelectChoice(a.id, a.name + (" (дежурный советник)" if a.is_house else ""))
        for a in ownership.assignable_owners(db.session)
        if a.id != exclude_id
    ]


@bp.get("/users")
@roles_required(Role.ADMIN)
def users():
    counts = ownership.live_counts(db.session)
    people = db.session.scalars(select(Advisor).order_by(Advisor.active.desc(), Advisor.role, Advisor.name)).all()
    return render_template(
        "admin/users.html", people=people, counts=counts, role_labels=ROLE_LABELS, house=house_advisor(db.session)
    )


@bp.route("/users/new", methods=["GET", "POST"])
@roles_required(Role.ADMIN)
def new_user():
    form = UserForm()
    if form.validate_on_submit():
        try:
            user = accounts.create_user(
                db.session,
                email=form.email.data or "",
                name=form.name.data or "",
                role=form.role.data,
                phone=form.phone.data,
                password=form.password.data,
            )
        except accounts.AccountError as exc:
            db.session.rollback()
            put_errors(form, exc.errors)
        else:
            db.session.commit()
            flash(f"Пользователь {user.name} создан.", "success")
            return redirect(url_for(".users"))
    return render_template("admin/user_form.html", form=form)


@bp.route("/users/<int:user_id>/deactivate", methods=["GET", "POST"])
@roles_required(Role.ADMIN)
def deactivate(user_id: int):
    person = db.session.get(Advisor, user_id)
    if person is None:
        abort(404)
    form = DeactivateForm()
    form.heir_id.choices = _heir_choices(exclude_id=person.id)
    house = house_advisor(db.session)
    if not form.is_submitted() and house is not None and house.id != person.id:
        form.heir_id.data = house.id  # the default heir: the house advisor
    owned = db.session.scalar(select(func.count(Contact.id)).where(Contact.owner_id == person.id)) or 0
    if form.validate_on_submit():
        heir_id = params.record_id("heir_id", request.form)
        heir = db.session.get(Advisor, heir_id) if heir_id else None
        try:
            moved = ownership.deactivate_advisor(db.session, _admin(), person, heir, form.reason.data or "")
        except contacts.ContactError as exc:
            db.session.rollback()
            for name, message in exc.errors.items():
                (form.heir_id.errors.append(message) if name == "heir" else flash(message, "error"))  # type: ignore[attr-defined]  # a list once validated
        else:
            db.session.commit()
            flash(
                f"{person.name} деактивирован(а)" + (f"; контакты ({moved}) переданы: {heir.name}." if moved and heir else "."),
                "success",
            )
            return redirect(url_for(".users"))
    return render_template("admin/deactivate.html", form=form, person=person, owned=owned)


def _selection(source):
    return ownership.bulk_selection(
        owner_id=params.record_id("owner", source),
        tag_id=params.record_id("tag", source),
        not_worked_days=params.days("days", source),
    )


@bp.route("/transfer", methods=["GET", "POST"])
@roles_required(Role.ADMIN)
def transfer():
    # GET: the filter from the query string; POST: the same filter from hidden fields.
    source = request.form if request.method == "POST" else request.args
    selection = _selection(source)
    form = TransferForm(formdata=source, meta={"csrf": True})
    form.new_owner_id.choices = _heir_choices()
    count = ownership.count_selection(db.session, selection)
    if request.method == "POST" and form.validate():
        new_owner = db.session.get(Advisor, params.record_id("new_owner_id", request.form) or 0)
        if new_owner is None:
            form.new_owner_id.errors.append("Выберите нового владельца")  # type: ignore[attr-defined]  # a list once validated
        elif form.expected.data is not None and form.expected.data != count:
            flash(f"Пока вы выбирали, список изменился: теперь {count}. Проверьте и передайте ещё раз.", "error")
        else:
            try:
                moved = ownership.transfer_contacts(db.session, _admin(), selection, new_owner, form.reason.data or "")
            except contacts.ContactError as exc:
                db.session.rollback()
                for name, message in exc.errors.items():
                    getattr(form, "new_owner_id" if name == "new_owner" else name).errors.append(message)
            else:
                db.session.commit()
                flash(f"Передано контактов: {moved} → {new_owner.name}.", "success")
                return redirect(
                    url_for(".transfer", owner=form.owner.data or "", tag=form.tag.data or "", days=form.days.data or "")
                )
    owners = db.session.scalars(select(Advisor).where(Advisor.role == Role.ADVISOR).order_by(Advisor.name)).all()
    tags = db.session.scalars(select(Tag).order_by(Tag.name)).all()
    return render_template("admin/transfer.html", form=form, count=count, owners=owners, tags=tags)
