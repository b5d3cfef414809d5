"""Mail that comes back: an advisor's mailbox for replies, and the admin's list of the system
mailbox's messages nobody understood."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import IntegerField, PasswordField, SelectField, StringField
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]  # in WTForms 3.3, not yet in its stubs
from wtforms.validators import DataRequired, NumberRange, Optional

from .. import inbound, replies
from ..config import current_settings
from ..db import db
from ..models import AdvisorMailbox, Role
from .auth import roles_required

bp = Blueprint("mailbox", __name__)
NAV = [
    ("mailbox.settings", "Почта для ответов", ("advisor",), 85),
    ("mailbox.inbound", "Входящая почта", ("admin",), 82),
]

SECURITY = [SelectChoice("tls", "SSL/TLS (порт 993)"), SelectChoice("plain", "без шифрования (только внутри своей сети)")]


class MailboxForm(FlaskForm):
    host = StringField("Сервер IMAP", validators=[DataRequired("Укажите сервер, например imap.yandex.ru")])
    port = IntegerField("Порт", validators=[Optional(), NumberRange(1, 65535, "Порт от 1 до 65535")])
    security = SelectField("Шифрование", choices=SECURITY)
    username = StringField("Имя пользователя", validators=[DataRequired("Укажите имя пользователя (обычно адрес почты)")])
    password = PasswordField("Пароль приложения")
    folder = StringField("Папка", default="INBOX")


def _row() -> AdvisorMailbox | None:
    return db.session.scalar(select(AdvisorMailbox).where(AdvisorMailbox.advisor_id == current_user.id))


def _box(form: MailboxForm, row: AdvisorMailbox | None) -> replies.MailboxSettings | None:
    tls = form.security.data != "plain"
    password = form.password.data or ""
    if not password and row is not None:  # the stored one, when the advisor only changes something else
        password = replies.decrypt_password(row.password_encrypted, current_settings().secret_key)
    if not password:
        form.password.errors = [*form.password.errors, "Укажите пароль приложения"]
        return None
    return replies.MailboxSettings(
        host=(form.host.data or "").strip(),
        port=form.port.data or (993 if tls else 143),
        tls=tls,
        username=(form.username.data or "").strip(),
        password=password,
        folder=(form.folder.data or "INBOX").strip() or "INBOX",
    )


@bp.route("/mailbox", methods=["GET", "POST"])
@roles_required(Role.ADVISOR)
def settings():
    row = _row()
    form = MailboxForm()
    if not form.is_submitted() and row is not None:
        form.host.data, form.port.data, form.username.data, form.folder.data = row.host, row.port, row.username, row.folder
        form.security.data = "tls" if row.tls else "plain"
    result = None
    if form.validate_on_submit():
        try:
            box = _box(form, row)
            if box is not None:
                if request.form.get("action") == "test":
                    result = replies.check(box)
                else:
                    replies.save(db.session, current_user._get_current_object(), box, current_settings().secret_key)
                    db.session.commit()
                    flash("Почта подключена: ответы клиентов будут появляться в карточках и в горячем списке.", "success")
                    return redirect(url_for("mailbox.settings"))
        except replies.MailboxError as exc:
            db.session.rollback()
            form.host.errors = [*form.host.errors, str(exc)]
    return render_template("mailbox/settings.html", form=form, row=row, result=result)


@bp.post("/mailbox/disconnect")
@roles_required(Role.ADVISOR)
def disconnect():
    replies.disconnect(db.session, current_user._get_current_object())
    db.session.commit()
    flash("Почта отключена, пароль удалён.", "success")
    return redirect(url_for("mailbox.settings"))


@bp.get("/admin/inbound", endpoint="inbound")
@roles_required(Role.ADMIN)
def inbound_list():
    settings_ = current_settings()
    return render_template(
        "mailbox/inbound.html",
        messages=inbound.listed(db.session),
        labels=inbound.KIND_LABELS,
        configured=bool(settings_.bounce_url),
    )
