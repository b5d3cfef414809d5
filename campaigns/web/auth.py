"""Log-in and log-out; role checks for the other blueprints."""
from __future__ import annotations

from functools import wraps

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from werkzeug.security import check_password_hash, generate_password_hash
from wtforms import BooleanField, EmailField, PasswordField
from wtforms.validators import DataRequired

from .. import accounts, signin
from ..db import db
from ..extensions import limiter, login_manager
from ..models import Advisor, Role
from .filters import plural
from .security import local_target

bp = Blueprint("auth", __name__)

# A hash to compare against when the e-mail is unknown, so timing does not reveal accounts.
_DUMMY_HASH = generate_password_hash("not-a-password")


def install_user_loader() -> None:
    @login_manager.user_loader
    def load_user(user_id: str):
        return signin.user_for_session(db.session, user_id)


def roles_required(*roles: Role):
    """Allow only the given roles; others get 403 (anonymous users go to log-in)."""

    def decorator(view):
        @wraps(view)
        @login_required
        def wrapped(*args, **kwargs):
            if current_user.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    return decorator


class LoginForm(FlaskForm):
    email = EmailField("Эл. почта", validators=[DataRequired("Введите адрес эл. почты")])
    password = PasswordField("Пароль", validators=[DataRequired("Введите пароль")])
    remember = BooleanField("Запомнить меня")


def authenticate(email: str, password: str) -> Advisor | None:
    user = accounts.find_by_email(db.session, email)
    if user is None or not user.password_hash:
        check_password_hash(_DUMMY_HASH, password)
        return None
    if not check_password_hash(user.password_hash, password) or not user.active:
        return None
    return user


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("home.index"))
    form = LoginForm()
    if form.validate_on_submit():
        throttle = signin.LoginThrottle(limiter.storage)
        address = request.remote_addr or "-"  # the client's own address behind TRUSTED_PROXIES (ProxyFix)
        wait = throttle.wait(address, form.email.data)
        if wait:  # refused unchecked: neither the password nor this attempt counts
            flash(f"Слишком много неудачных попыток входа. Попробуйте снова через {_minutes(wait)}.", "error")
            return render_template("auth/login.html", form=form), 429
        user = authenticate(form.email.data, form.password.data)
        if user:
            signin.ensure_session_key(db.session, user)
            login_user(user, remember=form.remember.data)
            db.session.commit()
            return redirect(local_target(request.args.get("next"), url_for("home.index")))
        throttle.failed(address, form.email.data)
        form.password.errors.append("Неверный адрес или пароль")
    return render_template("auth/login.html", form=form)


def _minutes(seconds: int) -> str:
    return plural(max(1, round(seconds / 60)), "минуту", "минуты", "минут")


@bp.post("/logout")
@login_required
def logout():
    user_id = current_user.id
    logout_user()
    signin.end_sessions(db.session, user_id)  # the other devices and any copied cookie too
    db.session.commit()
    flash("Вы вышли из системы.", "info")
    return redirect(url_for("auth.login"))
