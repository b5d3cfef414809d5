"""JSON API over the contacts, with the web pages' rules: session log-in, the same visibility
(404 for a stranger's contact), CSRF on writes (the X-CSRFToken header), errors as
{"errors": {field: message}}.

Request bodies are checked against pydantic models first: the shape and the JSON types (a
name is a string, tags a list of names or ids, a flag true or false — nothing is coerced), so
a wrong type is a 400 naming the field and nothing is written. What the values may be
(lengths, e-mail, phone, dates, known tags) stays with the domain (contacts.clean_fields).
"""
from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from flask import Blueprint, abort, current_app, jsonify, request
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, ValidationError

from .. import calls, contacts
from ..db import db
from ..greeting import greeting, greeting_is_fallback
from ..models import Advisor, Contact, Note, Role
from . import params

bp = Blueprint("api", __name__, url_prefix="/api")


def _errors(status: int, errors: dict[str, str], **extra):
    return jsonify({"errors": errors, **extra}), status


@bp.before_request
def _require_login():
    if not current_user.is_authenticated:
        return _errors(401, {"auth": "Войдите в систему"})
    return None


@bp.errorhandler(CSRFError)
def _csrf_error(exc):
    return _errors(400, {"csrf": "Нет или устарел токен CSRF: передайте заголовок X-CSRFToken"})


@bp.errorhandler(params.BadParameter)
def _bad_parameter(exc):
    return _errors(400, {exc.parameter: exc.description})


@bp.errorhandler(404)
def _not_found(exc):
    return _errors(404, {"id": "Контакт не найден"})


@bp.errorhandler(403)
def _forbidden(exc):
    return _errors(403, {"role": "Недостаточно прав"})


@bp.errorhandler(contacts.NotAllowed)
def _not_allowed(exc):
    db.session.rollback()
    return _errors(403, {"role": str(exc)})


@bp.errorhandler(contacts.ContactError)
def _invalid(exc):
    db.session.rollback()
    return _errors(400, exc.errors)


@bp.errorhandler(contacts.DuplicateContact)
def _duplicate(exc):
    db.session.rollback()
    message = ("Контакт с этим адресом эл. почты уже есть" if exc.blocking
               else "Похожий контакт уже есть; если это другой, повторите с \"confirm_different\": true")
    matches = [{"contact_id": m.contact_id, "owner_id": m.owner_id, "owner_name": m.owner_name, "reason": m.reason,
                "detail": m.detail, "score": m.score} for m in exc.matches]
    return _errors(409, {"duplicate": message}, matches=matches, can_confirm=not exc.blocking)


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def contact_json(contact: Contact) -> dict:
    return {
        "id": contact.id,
        **{name: getattr(contact, name) for name in
           ("first_name", "middle_name", "last_name", "company", "company_alias", "position", "email", "phone",
            "consent_source")},
        "tags": [t.name for t in contact.tags],
        "owner": {"id": contact.owner.id, "name": contact.owner.name},
        "next_contact_on": _iso(contact.next_contact_on),
        "next_contact_time": contact.next_contact_time.strftime("%H:%M") if contact.next_contact_time else None,
        "next_contact_topic": contact.next_contact_topic,
        "consent_at": _iso(contact.consent_at),
        "unsubscribed_at": _iso(contact.unsubscribed_at),
        "archived_at": _iso(contact.archived_at),
        "updated_at": _iso(contact.updated_at),
        "greeting": greeting(contact.first_name, contact.middle_name),
        "greeting_is_fallback": greeting_is_fallback(contact.first_name, contact.middle_name),
    }


def note_json(note: Note) -> dict:
    return {
        "id": note.id,
        "kind": note.kind.value,
        "body": note.body,
        "author": note.author.name if note.author else None,
        "result": note.result,
        "interest": note.interest,
        "objection": note.objection,
        "next_contact_on": _iso(note.next_contact_on),
        "subject": note.subject,
        "created_at": _iso(note.created_at),
    }


def _user() -> Advisor:
    return current_user._get_current_object()


def _today():
    return datetime.now(current_app.config["SETTINGS"].timezone).date()


# ------------------------------------------------------------------ request bodies

Text = StrictStr | None
TagRef = StrictInt | Annotated[StrictStr, Field(max_length=100)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ContactFields(_Body):
    first_name: Text = None
    middle_name: Text = None
    last_name: Text = None
    company: Text = None
    company_alias: Text = None
    position: Text = None
    email: Text = None
    phone: Text = None
    tags: Annotated[list[TagRef], Field(max_length=100)] | None = None
    next_contact_on: Text = None
    consent_source: Text = None
    consent_at: Text = None
    confirm_different: StrictBool = False

    def fields(self) -> dict:
        """Only the fields the body names: an absent field is left as it is."""
        return {name: getattr(self, name) for name in contacts.FIELDS if name in self.model_fields_set}


class NewContact(ContactFields):
    owner_id: StrictInt | None = None  # admin only: whose contact it is


class NewNote(_Body):
    kind: Literal["manual", "call"] = "manual"
    body: Text = None
    result: Text = None
    interest: StrictBool | StrictStr | None = None  # true/false, or «да»/«нет» as the form sends it
    objection: Text = None
    next_contact_on: Text = None
    next_contact_time: Text = None  # "11:30"
    topic: Text = None


_TYPE_MESSAGES = {
    "string_type": "Ожидается строка",
    "int_type": "Ожидается целое число",
    "bool_type": "Ожидается true или false",
    "list_type": "Ожидается список",
    "too_long": "Слишком длинно",
    "literal_error": "Недопустимое значение",
    "missing": "Обязательное поле",
}
_FIELD_MESSAGES = {
    "tags": "Теги — список названий или номеров тегов, например [\"Строители\"]",
    "interest": "Интерес — true или false",
    "kind": "Вид записи — \"manual\" или \"call\"",
}
_UNKNOWN = {ContactFields: "Это поле нельзя изменить"}


def _body(model: type[_Body]) -> _Body:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise contacts.ContactError({"body": "Ожидается JSON-объект"})
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors: dict[str, str] = {}
        for error in exc.errors():
            name = str(error["loc"][0]) if error["loc"] else "body"
            if error["type"] == "extra_forbidden":
                message = _UNKNOWN.get(model, "Неизвестное поле")
            else:
                message = _FIELD_MESSAGES.get(name) or _TYPE_MESSAGES.get(error["type"], "Неверное значение")
            errors.setdefault(name, message)
        raise contacts.ContactError(errors) from None


def _contact(contact_id: int) -> Contact:
    contact = contacts.get_visible_contact(db.session, _user(), contact_id)
    if contact is None:
        abort(404)
    return contact


def _editable(contact_id: int) -> Contact:
    contact = _contact(contact_id)
    if not contacts.can_edit(_user(), contact):
        abort(403)
    return contact


@bp.get("/contacts")
def list_contacts():
    args = request.args
    page = contacts.contact_list(
        db.session,
        _user(),
        search=args.get("search", args.get("q", ""))[:200],
        tag_id=params.record_id("tag"),
        owner_id=params.record_id("owner"),
        call_today=args.get("today") in ("1", "true"),
        not_worked_days=params.days("not_worked_days"),
        today=_today(),
        page=params.page(),
    )
    return jsonify({"items": [contact_json(c) for c in page.items], "total": page.total, "page": page.page,
                    "pages": page.pages, "per_page": page.per_page})


@bp.get("/contacts/<int:contact_id>")
def get_contact(contact_id: int):
    contact = _contact(contact_id)
    return jsonify({**contact_json(contact), "notes": [note_json(n) for n in contacts.timeline(db.session, contact, 100)]})


@bp.post("/contacts")
def create_contact():
    user = _user()
    if user.role not in (Role.ADVISOR, Role.ADMIN):
        abort(403)
    data = _body(NewContact)
    owner = None
    if user.role == Role.ADMIN and data.owner_id is not None:
        owner = db.session.get(Advisor, data.owner_id) if 0 < data.owner_id <= params.MAX_ID else None
        if owner is None:
            raise contacts.ContactError({"owner": "Нет такого советника"})
    contact = contacts.create_contact(db.session, user, data.fields(), owner=owner,
                                      confirm_different=data.confirm_different)
    db.session.commit()
    return jsonify(contact_json(contact)), 201


@bp.patch("/contacts/<int:contact_id>")
def update_contact(contact_id: int):
    contact = _editable(contact_id)
    data = _body(ContactFields)
    contacts.update_contact(db.session, _user(), contact, data.fields(), confirm_different=data.confirm_different)
    db.session.commit()
    return jsonify(contact_json(contact))


@bp.post("/contacts/<int:contact_id>/notes")
def add_note(contact_id: int):
    contact = _editable(contact_id)
    data = _body(NewNote)
    if data.kind == "call":
        note = calls.log_call(db.session, _user(), contact, result=data.result or "", interest=data.interest,
                              objection=data.objection or "", next_contact_on=data.next_contact_on,
                              next_contact_time=data.next_contact_time, topic=data.topic or "", today=_today())
    else:
        note = contacts.add_note(db.session, _user(), contact, data.body or "")
    db.session.commit()
    return jsonify(note_json(note)), 201
