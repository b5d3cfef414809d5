"""Users' own settings and the admin's settings of any user.

- /profile: every user edits their name, signature and phone (the password: /password)
- /admin/users/<id>/edit: role, daily cap, working hours, time zone, the house advisor's hot
  contacts; reactivation, the house advisor role and a one-time password-reset link by mail
- /reset/<token>: the page the reset link opens
The rules live in accounts.py; these views only carry the input there.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user, login_required, logout_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]  # in WTForms 3.3, not yet in its stubs
from wtforms.validators import DataRequired, EqualTo

from .. import accounts, mails, transport
from ..accounts import ROLE_LABELS
from ..config import current_settings
from ..db import db
from ..models import Advisor, Role
from ..sender import house_advisor
from .auth import roles_required
from .forms import put_errors

bp = Blueprint("people", __name__)


class ProfileForm(FlaskForm):
    name = StringField("Имя и фамилия")
    signature = TextAreaField("Подпись в письмах", description="Ею заканчиваются письма клиентам от вашего имени.")
    phone = StringField("Телефон")


class UserEditForm(FlaskForm):
    role = SelectField("Роль", choices=[SelectChoice(r.value, ROLE_LABELS[r]) for r in Role])
    daily_cap = StringField("Писем в день", description="Пусто — общее ограничение.")
    work_hours = StringField("Рабочие часы", description="Например, 09:30-18:00. Пусто — общие часы.")
    timezone = StringField("Часовой пояс", description="Например, Asia/Yekaterinburg. Пусто — общий пояс.")
    watches_house = BooleanField("Получает горячие контакты дежурного советника (переходы и ответы)")


class ResetForm(FlaskForm):
    new = PasswordField("Новый пароль", validators=[DataRequired("Задайте новый пароль")])
    repeat = PasswordField(
        "Новый пароль ещё раз", validators=[DataRequired("Повторите новый пароль"), EqualTo("new", "Пароли не совпадают")]
    )


def _settings():
    return current_settings()


def _person(user_id: int) -> Advisor:
    person = db.session.get(Advisor, user_id)
    if person is None:
        abort(404)
    return person


@bp.route("/profile", methods=["GET", "POST"])
@login_required
def profile():
    user = current_user._get_current_object()
    form = ProfileForm(obj=user)
    if form.validate_on_submit():
        try:
            accounts.update_profile(db.session, user, name=form.name.data, signature=form.signature.data, phone=form.phone.data)
        except accounts.AccountError as exc:
            db.session.rollback()
            put_errors(form, exc.errors)
        else:
            db.session.commit()
            flash("Настройки сохранены.", "success")
            return redirect(url_for(".profile"))
    hours = accounts.work_hours(user, _settings())
    return render_template("people/profile.html", form=form, user=user, hours=hours)


@bp.route("/admin/users/<int:user_id>/edit", methods=["GET", "POST"])
@roles_required(Role.ADMIN)
def edit(user_id: int):
    person = _person(user_id)
    form = UserEditForm(obj=person)
    if not form.is_submitted():
        form.role.data = person.role.value
        form.daily_cap.data = str(person.daily_cap or "")
    if form.validate_on_submit():
        try:
            accounts.admin_update(
                db.session,
                current_user._get_current_object(),
                person,
                role=form.role.data,
                daily_cap=form.daily_cap.data,
                work_hours=form.work_hours.data,
                timezone=form.timezone.data,
                watches_house=form.watches_house.data,
            )
        except accounts.AccountError as exc:
            db.session.rollback()
            put_errors(form, exc.errors)
        else:
            db.session.commit()
            flash(f"Настройки пользователя {person.name} сохранены.", "success")
            return redirect(url_for("admin.users"))
    return render_template(
        "people/edit.html", form=form, person=person, house=_house(), hours=accounts.work_hours(person, _settings())
    )


def _house() -> Advisor | None:

    return house_advisor(db.session)


@bp.post("/admin/users/<int:user_id>/reactivate")
@roles_required(Role.ADMIN)
def reactivate(user_id: int):
    person = _person(user_id)
    accounts.reactivate(db.session, current_user._get_current_object(), person)
    db.session.commit()
    flash(f"{person.name} снова может входить в систему. Контакты остались у наследника.", "success")
    return redirect(url_for(".edit", user_id=person.id))


@bp.post("/admin/users/<int:user_id>/house")
@roles_required(Role.ADMIN)
def make_house(user_id: int):
    person = _person(user_id)
    try:
        previous = accounts.make_house(db.session, person)
    except accounts.AccountError as exc:
        db.session.rollback()
        flash(str(exc.errors["house"]), "error")
    else:
        db.session.commit()
        flash(
            f"{person.name} — дежурный советник." + (f" {previous.name} теперь обычный советник." if previous else ""), "success"
        )
    return redirect(url_for(".edit", user_id=person.id))


@bp.post("/admin/users/<int:user_id>/reset")
@roles_required(Role.ADMIN)
def send_reset(user_id: int):
    person = _person(user_id)
    if not person.active:
        flash("Пользователь неактивен: сначала верните его.", "error")
        return redirect(url_for(".edit", user_id=person.id))
    settings = _settings()
    message = mails.password_reset_message(
        user=person,
        token=accounts.reset_token(person, settings.secret_key),
        settings=settings,
        hours=accounts.RESET_MAX_AGE // 3600,
    )
    with transport.open_transport(settings.mail) as conn:
        conn.send(message)
    flash(f"Ссылка для нового пароля отправлена на {person.email}.", "success")
    return redirect(url_for(".edit", user_id=person.id))


@bp.route("/reset/<token>", methods=["GET", "POST"])
def reset(token: str):
    settings = _settings()
    user = accounts.user_for_reset(db.session, token, settings.secret_key)
    if user is None:
        return render_template("people/reset.html", form=None), 404
    form = ResetForm()
    if form.validate_on_submit():
        try:
            accounts.set_password(db.session, user, form.new.data or "")
        except accounts.AccountError as exc:
            db.session.rollback()
            form.new.errors.append(exc.errors["password"])  # type: ignore[attr-defined]  # a list once validated
        else:
            db.session.commit()
            if current_user.is_authenticated:
                logout_user()
            flash("Пароль задан. Войдите с новым паролем.", "success")
            return redirect(url_for("auth.login"))
    return render_template("people/reset.html", form=form, user=user)
