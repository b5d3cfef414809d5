"""Log-in and log-out; role checks for the other blueprints."""

from __future__ import annotations

from functools import wraps

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from werkzeug.security import check_password_hash, generate_password_hash
from wtforms import BooleanField, EmailField, PasswordField
from wtforms.validators import DataRequired, EqualTo

from .. import accounts, signin
from ..db import db
from ..extensions import limiter, login_manager
from ..models import Advisor, Role
from ..ru_format import plural
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
        guard = _PasswordGuard(form.email.data or "")
        if guard.wait:  # refused unchecked: neither the password nor this attempt counts
            return guard.refuse("auth/login.html", form)
        user = authenticate(form.email.data or "", form.password.data or "")
        if user:
            signin.ensure_session_key(db.session, user)
            login_user(user, remember=form.remember.data)
            db.session.commit()
            return redirect(local_target(request.args.get("next"), url_for("home.index")))
        guard.failed()
        form.password.errors.append("Неверный адрес или пароль")  # type: ignore[attr-defined]  # a list once validated
    return render_template("auth/login.html", form=form)


class _PasswordGuard:
    """The failed-log-in limits (signin.LoginThrottle) for one typed password, from this client's address
    (its own behind TRUSTED_PROXIES: ProxyFix)."""

    def __init__(self, email: str):
        self.throttle = signin.LoginThrottle(limiter.storage)
        self.address, self.email = request.remote_addr or "-", email
        self.wait = self.throttle.wait(self.address, email)

    def refuse(self, template: str, form):
        minutes = plural(max(1, round(self.wait / 60)), "минуту", "минуты", "минут")
        flash(f"Слишком много неудачных попыток входа. Попробуйте снова через {minutes}.", "error")
        return render_template(template, form=form), 429

    def failed(self) -> None:
        self.throttle.failed(self.address, self.email)


@bp.post("/logout")
@login_required
def logout():
    user_id = current_user.id
    logout_user()
    signin.end_sessions(db.session, user_id)  # the other devices and any copied cookie too
    db.session.commit()
    flash("Вы вышли из системы.", "info")
    return redirect(url_for("auth.login"))


class PasswordForm(FlaskForm):
    current = PasswordField("Текущий пароль", validators=[DataRequired("Введите текущий пароль")])
    new = PasswordField("Новый пароль", validators=[DataRequired("Задайте новый пароль")])
    repeat = PasswordField(
        "Новый пароль ещё раз", validators=[DataRequired("Повторите новый пароль"), EqualTo("new", "Пароли не совпадают")]
    )


@bp.route("/password", methods=["GET", "POST"])
@login_required
def password():
    """A person changes their own password; their other sessions end, this one goes on."""
    form = PasswordForm()
    if form.validate_on_submit():
        user = current_user._get_current_object()
        # A wrong current password is a failed log-in: a borrowed session must not become a way to guess.
        guard = _PasswordGuard(user.email)
        if guard.wait:
            return guard.refuse("auth/password.html", form)
        if authenticate(user.email, form.current.data or "") is None:
            guard.failed()
            form.current.errors.append("Неверный пароль")  # type: ignore[attr-defined]  # a list once validated
        else:
            try:
                accounts.set_password(db.session, user, form.new.data or "")
            except accounts.AccountError as exc:
                db.session.rollback()
                form.new.errors.append(exc.errors["password"])  # type: ignore[attr-defined]  # a list once validated
            else:
                db.session.refresh(user)
                # This browser goes on with the new key (and keeps "remember me" if it had it).
                login_user(
                    user,
                    remember=request.cookies.get(current_app.config.get("REMEMBER_COOKIE_NAME", "remember_token")) is not None,
                )
                db.session.commit()
                flash("Пароль изменён. На других устройствах нужно войти заново.", "success")
                return redirect(url_for("home.index"))
    return render_template("auth/password.html", form=form)
