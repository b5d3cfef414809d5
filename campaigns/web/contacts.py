"""The contact pages: the advisor's list, the card with its timeline, the forms, a sent mail."""

from __future__ import annotations

import email
import email.policy
from datetime import datetime
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import BooleanField, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]  # in WTForms 3.3, not yet in its stubs
from wtforms.widgets import CheckboxInput, ListWidget

from .. import calls, consent, contact_pages, contacts, duplicates, ownership, tag_groups
from ..config import current_settings
from ..db import db
from ..greeting import greeting, greeting_is_fallback
from ..models import Advisor, Role
from . import params
from .auth import roles_required
from .forms import CallForm, DateInput, put_errors

bp = Blueprint("contacts", __name__, url_prefix="/contacts")
NAV = [("contacts.index", "Контакты", ("advisor", "marketing", "admin"), 10)]

EDITORS = (Role.ADVISOR, Role.ADMIN)


class ContactForm(FlaskForm):
    first_name = StringField("Имя")
    middle_name = StringField("Отчество")
    last_name = StringField("Фамилия")
    company = StringField("Компания", description="Второе название можно написать в скобках: «Тойота (Toyota)»")
    company_alias = StringField("Второе название компании")
    position = StringField("Должность")
    email = StringField("Эл. почта")
    phone = StringField("Телефон")
    tags = SelectMultipleField("Теги", coerce=int, widget=ListWidget(prefix_label=False), option_widget=CheckboxInput())
    next_contact_on = DateInput("Следующий контакт")
    consent_source = StringField("Откуда согласие на рассылку", description="Например: визитка на выставке, звонок клиента")
    consent_at = DateInput("Дата согласия")
    owner_id = SelectField("Владелец", coerce=int)
    confirm_different = BooleanField("Я проверил(а): это другой человек или другая компания")


class NoteForm(FlaskForm):
    body = TextAreaField("Примечание")


class ReasonForm(FlaskForm):
    reason = StringField("Причина")


class UnsubscribeForm(FlaskForm):
    how = StringField("Как попросил")
    reason = StringField("Причина")


class ConsentForm(FlaskForm):
    consent_source = StringField("Откуда новое согласие")


class TransferForm(FlaskForm):
    new_owner_id = SelectField("Новый владелец", coerce=int)
    reason = StringField("Причина")


def _user() -> Advisor:
    return current_user._get_current_object()


def _now_local() -> datetime:
    return datetime.now(current_settings().timezone)


def _contact_or_404(contact_id: int):
    contact = contacts.get_visible_contact(db.session, _user(), contact_id)
    if contact is None:
        abort(404)
    return contact


def _editable_or_403(contact_id: int):
    contact = _contact_or_404(contact_id)
    if not contacts.can_edit(_user(), contact):
        abort(403)
    return contact


def _tag_choices() -> list[SelectChoice]:
    """Grouped (отрасли, праздники, месяц закупки), months in calendar order (tag_groups.py)."""
    return [SelectChoice(t.id, t.name, optgroup=group) for group, t in tag_groups.ordered(db.session)]


def _owner_choices(exclude_id: int | None = None) -> list[SelectChoice]:
    return [
        SelectChoice(a.id, a.name + (" (дежурный советник)" if a.is_house else ""))
        for a in ownership.assignable_owners(db.session)
        if a.id != exclude_id
    ]


def _contact_form(with_owner: bool, **kw) -> ContactForm:
    form = ContactForm(**kw)
    form.tags.choices = _tag_choices()
    if with_owner:
        form.owner_id.choices = _owner_choices()
    else:
        del form.owner_id  # only an admin creating a contact names its owner
    return form


def _put_errors(form: FlaskForm, errors: dict[str, str]) -> None:
    put_errors(form, errors, {"owner": "owner_id", "new_owner": "new_owner_id"})


def _form_data(form: ContactForm) -> dict:
    return {name: getattr(form, name).data for name in contacts.FIELDS}


# --- the list ---------------------------------------------------------------------------


@bp.get("/")
@login_required
def index():
    settings = current_settings()
    user = _user()
    not_worked = bool(request.args.get("not_worked"))
    days = params.days() or settings.not_worked_days
    filters: dict[str, Any] = dict(
        search=request.args.get("q", "")[:200],
        tag_id=params.record_id("tag"),
        not_worked_days=days if not_worked else None,
        call_today=bool(request.args.get("today")),
        owner_id=params.record_id("owner") if user.role != Role.ADVISOR else None,
        archived=bool(request.args.get("archived")) and user.role != Role.ADVISOR,
    )
    today = _now_local().date()
    after, before = request.args.get("after"), request.args.get("before")
    page = contacts.contact_list(
        db.session,
        user,
        today=today,
        page=params.page(by_number=contact_pages.by_number(after, before, call_today=filters["call_today"])),
        after=after,
        before=before,
        **filters,
    )
    owners = (
        []
        if user.role == Role.ADVISOR
        else db.session.scalars(
            select(Advisor).where(Advisor.role == Role.ADVISOR).order_by(Advisor.active.desc(), Advisor.name)
        ).all()
    )
    args = {k: v for k, v in request.args.items() if k not in ("page", "after", "before")}
    return render_template(
        "contacts/list.html",
        page=page,
        tags=_tag_choices(),
        owners=owners,
        args=args,
        not_worked=not_worked,
        days=days,
        filters=filters,
        today_local=today,
        heirs=_owner_choices() if user.role == Role.ADMIN else [],
    )


# --- create and edit --------------------------------------------------------------------


@bp.route("/new", methods=["GET", "POST"])
@roles_required(*EDITORS)
def new():
    user = _user()
    form = _contact_form(with_owner=user.role == Role.ADMIN)
    matches = blocking = None
    if request.method != "POST" and user.role == Role.ADMIN:
        house = next((a for a in ownership.assignable_owners(db.session) if a.is_house), None)
        form.owner_id.data = house.id if house else None
    if form.validate_on_submit():
        owner = db.session.get(Advisor, form.owner_id.data) if "owner_id" in form and form.owner_id.data else None
        try:
            contact = contacts.create_contact(
                db.session, user, _form_data(form), owner=owner, confirm_different=form.confirm_different.data
            )
        except contacts.ContactError as exc:
            db.session.rollback()
            _put_errors(form, exc.errors)
        except contacts.DuplicateContact as exc:
            db.session.rollback()
            matches, blocking = exc.matches, exc.blocking
            form.confirm_different.data = False
            if duplicates.record_attempt(db.session, user, matches):  # the owners learn it (digest)
                db.session.commit()
        else:
            db.session.commit()
            flash("Контакт создан.", "success")
            return redirect(url_for(".card", contact_id=contact.id))
    return render_template(
        "contacts/form.html", form=form, contact=None, matches=matches, blocking=blocking, visible_ids=_visible_ids(matches)
    )


def _visible_ids(matches) -> set[int]:
    """Matches the user may open; the others are shown by owner and reason only."""
    if not matches:
        return set()
    ids = [m.contact_id for m in matches]
    query = (
        contacts.visible_contacts(db.session, _user(), include_archived=True)
        .where(contacts.Contact.id.in_(ids))
        .with_only_columns(contacts.Contact.id)
    )
    return set(db.session.scalars(query))


@bp.route("/<int:contact_id>/edit", methods=["GET", "POST"])
@roles_required(*EDITORS)
def edit(contact_id: int):
    contact = _editable_or_403(contact_id)
    form = _contact_form(with_owner=False, obj=contact if request.method != "POST" else None)
    if request.method != "POST":
        form.tags.data = [t.id for t in contact.tags]
        form.consent_at.data = contact.consent_at.date().isoformat() if contact.consent_at else ""
        form.next_contact_on.data = contact.next_contact_on.isoformat() if contact.next_contact_on else ""
    matches = blocking = None
    if form.validate_on_submit():
        try:
            changed = contacts.update_contact(
                db.session, _user(), contact, _form_data(form), confirm_different=form.confirm_different.data
            )
        except contacts.ContactError as exc:
            db.session.rollback()
            _put_errors(form, exc.errors)
        except contacts.DuplicateContact as exc:
            db.session.rollback()
            matches, blocking = exc.matches, exc.blocking
            form.confirm_different.data = False
            if duplicates.record_attempt(db.session, _user(), matches):  # the owners learn it (digest)
                db.session.commit()
        else:
            db.session.commit()
            flash("Сохранено: " + ", ".join(changed) if changed else "Ничего не изменилось.", "success")
            return redirect(url_for(".card", contact_id=contact.id))
        contact = _contact_or_404(contact_id)
    return render_template(
        "contacts/form.html", form=form, contact=contact, matches=matches, blocking=blocking, visible_ids=_visible_ids(matches)
    )


# --- the card ---------------------------------------------------------------------------


def _render_card(contact, *, note_form=None, call_form=None, status=200):
    user = _user()
    transfer_form = None
    if user.role == Role.ADMIN:
        transfer_form = TransferForm()
        transfer_form.new_owner_id.choices = _owner_choices(exclude_id=contact.owner_id)
    html = render_template(
        "contacts/card.html",
        contact=contact,
        notes=contacts.timeline(db.session, contact),
        consent=consent.consent_facts(db.session, contact),
        suppression_labels=consent.SUPPRESSION_LABELS,
        unsubscribe_ways=consent.ADVISOR_WAYS,
        greeting=greeting(contact.first_name, contact.middle_name),
        greeting_fallback=greeting_is_fallback(contact.first_name, contact.middle_name),
        can_edit=contacts.can_edit(user, contact),
        note_form=note_form or NoteForm(formdata=None),
        call_form=call_form or CallForm.blank(today=_now_local().date()),
        reason_form=ReasonForm(formdata=None),
        consent_form=ConsentForm(formdata=None),
        transfer_form=transfer_form,
        today=_now_local().date(),
    )
    return html, status


@bp.get("/<int:contact_id>")
@login_required
def card(contact_id: int):
    return _render_card(_contact_or_404(contact_id))


@bp.post("/<int:contact_id>/notes")
@roles_required(*EDITORS)
def add_note(contact_id: int):
    contact = _editable_or_403(contact_id)
    form = NoteForm()
    if form.validate_on_submit():
        try:
            contacts.add_note(db.session, _user(), contact, form.body.data)
        except contacts.ContactError as exc:
            db.session.rollback()
            _put_errors(form, exc.errors)
            return _render_card(_contact_or_404(contact_id), note_form=form)
        db.session.commit()
        flash("Примечание добавлено.", "success")
    return redirect(url_for(".card", contact_id=contact_id))


@bp.post("/<int:contact_id>/calls")
@roles_required(*EDITORS)
def log_call(contact_id: int):
    contact = _editable_or_403(contact_id)
    form = CallForm()
    try:
        calls.log_call(
            db.session,
            _user(),
            contact,
            result=form.result.data,
            interest=form.interest.data,
            objection=form.objection.data,
            next_contact_on=form.next_contact_on.data,
            next_contact_time=form.next_contact_time.data,
            topic=form.topic.data,
            today=_now_local().date(),
        )
    except contacts.ContactError as exc:
        db.session.rollback()
        _put_errors(form, exc.errors)
        return _render_card(_contact_or_404(contact_id), call_form=form, status=422)
    db.session.commit()
    flash("Звонок записан.", "success")
    return redirect(url_for(".card", contact_id=contact_id))


@bp.post("/<int:contact_id>/archive")
@roles_required(*EDITORS)
def archive(contact_id: int):
    contact = _editable_or_403(contact_id)
    form = ReasonForm()
    if form.validate_on_submit():
        contacts.archive(db.session, _user(), contact, form.reason.data or "")
        db.session.commit()
        flash("Контакт перенесён в архив. Администратор может вернуть его.", "success")
        if _user().role == Role.ADVISOR:
            return redirect(url_for(".index"))
    return redirect(url_for(".card", contact_id=contact_id))


@bp.post("/<int:contact_id>/restore")
@roles_required(Role.ADMIN)
def restore(contact_id: int):
    contact = _contact_or_404(contact_id)
    if ReasonForm().validate_on_submit():
        contacts.restore(db.session, _user(), contact)
        db.session.commit()
        flash("Контакт возвращён из архива.", "success")
    return redirect(url_for(".card", contact_id=contact_id))


@bp.post("/<int:contact_id>/unsubscribe")
@roles_required(*EDITORS)
def unsubscribe(contact_id: int):
    contact = _editable_or_403(contact_id)
    form = UnsubscribeForm()
    if form.validate_on_submit():
        return _card_action(
            contact_id,
            lambda: consent.unsubscribe_by_advisor(
                db.session, _user(), contact, how=form.how.data or "", reason=form.reason.data or ""
            ),
            "Контакт больше не получит рассылки.",
        )
    return redirect(url_for(".card", contact_id=contact_id))


@bp.post("/<int:contact_id>/resubscribe")
@roles_required(Role.ADMIN)
def resubscribe(contact_id: int):
    contact = _contact_or_404(contact_id)
    form = ConsentForm()
    if form.validate_on_submit():
        return _card_action(
            contact_id,
            lambda: consent.resubscribe(db.session, _user(), contact, form.consent_source.data),
            "Контакт снова в рассылке.",
        )
    return redirect(url_for(".card", contact_id=contact_id))


@bp.post("/<int:contact_id>/transfer")
@roles_required(Role.ADMIN)
def transfer(contact_id: int):
    contact = _contact_or_404(contact_id)
    form = TransferForm()
    form.new_owner_id.choices = _owner_choices()
    if form.validate_on_submit():
        new_owner = db.session.get_one(Advisor, form.new_owner_id.data)  # one of the choices, checked by the form
        return _card_action(
            contact_id,
            lambda: ownership.transfer_contacts(db.session, _user(), [contact.id], new_owner, form.reason.data or ""),
            lambda moved: f"Контакт передан: {new_owner.name}." if moved else "Контакт уже у этого владельца.",
        )
    return redirect(url_for(".card", contact_id=contact_id))


def _card_action(contact_id: int, act, done):
    """Run one action of the card: its errors as messages, else commit and say `done`."""
    try:
        result = act()
    except contacts.ContactError as exc:
        db.session.rollback()
        for message in exc.errors.values():
            flash(message, "error")
    else:
        db.session.commit()
        flash(done(result) if callable(done) else done, "success")
    return redirect(url_for(".card", contact_id=contact_id))


# --- a sent mail ------------------------------------------------------------------------


def _mail_parts(raw: str) -> dict:
    message = email.message_from_string(raw, policy=email.policy.default)
    text_part = message.get_body(preferencelist=("plain",))
    html_part = message.get_body(preferencelist=("html",))
    headers = [
        (name, str(message[name]))
        for name in ("From", "To", "Reply-To", "Subject", "Date", "Message-ID")
        if message[name] is not None
    ]
    attachments = [part.get_filename() or part.get_content_type() for part in message.iter_attachments()]
    return {
        "headers": headers,
        "text": text_part.get_content() if text_part is not None else "",
        "html": html_part.get_content() if html_part is not None else "",
        "attachments": attachments,
    }


@bp.get("/<int:contact_id>/mail/<int:note_id>")
@login_required
def mail(contact_id: int, note_id: int):
    contact = _contact_or_404(contact_id)
    note = contacts.get_mail_note(db.session, contact, note_id)
    if note is None:
        abort(404)
    html = render_template(
        "contacts/mail.html",
        contact=contact,
        note=note,
        mail=_mail_parts(note.raw_message or ""),
        clicks=contacts.delivery_clicks(db.session, note.delivery_id),
    )
    # The stored HTML is shown in a sandboxed frame; the policy also keeps its images and
    # scripts from loading, so opening a mail never fires its tracking or anything else.
    csp = (
        "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "script-src 'self'; connect-src 'self'; frame-src 'self'; form-action 'self'; base-uri 'none'; "
        "frame-ancestors 'none'"
    )
    return html, 200, {"Content-Security-Policy": csp}
