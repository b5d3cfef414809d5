"""JSON API over the contacts, with the web pages' rules: session log-in, the same visibility
(404 for a stranger's contact), CSRF on writes (the X-CSRFToken header), errors as
{"errors": {field: message}}."""
from __future__ import annotations

from datetime import datetime

from flask import Blueprint, abort, current_app, jsonify, request
from flask_login import current_user
from flask_wtf.csrf import CSRFError

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


def _body() -> dict:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise contacts.ContactError({"body": "Ожидается JSON-объект"})
    return data


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
    data = _body()
    owner = None
    if user.role == Role.ADMIN and data.get("owner_id") is not None:
        owner = db.session.get(Advisor, data["owner_id"]) if isinstance(data["owner_id"], int) else None
        if owner is None:
            raise contacts.ContactError({"owner": "Нет такого советника"})
    contact = contacts.create_contact(db.session, user, {k: data[k] for k in contacts.FIELDS if k in data}, owner=owner,
                                      confirm_different=data.get("confirm_different") is True)
    db.session.commit()
    return jsonify(contact_json(contact)), 201


@bp.patch("/contacts/<int:contact_id>")
def update_contact(contact_id: int):
    contact = _editable(contact_id)
    data = _body()
    unknown = sorted(set(data) - set(contacts.FIELDS) - {"confirm_different"})
    if unknown:
        raise contacts.ContactError({name: "Это поле нельзя изменить" for name in unknown})
    contacts.update_contact(db.session, _user(), contact, {k: data[k] for k in contacts.FIELDS if k in data},
                            confirm_different=data.get("confirm_different") is True)
    db.session.commit()
    return jsonify(contact_json(contact))


@bp.post("/contacts/<int:contact_id>/notes")
def add_note(contact_id: int):
    contact = _editable(contact_id)
    data = _body()
    if data.get("kind", "manual") == "call":
        note = calls.log_call(db.session, _user(), contact, result=data.get("result") or "",
                              interest=data.get("interest"), objection=data.get("objection") or "",
                              next_contact_on=data.get("next_contact_on"), today=_today())
    else:
        note = contacts.add_note(db.session, _user(), contact, data.get("body") or "")
    db.session.commit()
    return jsonify(note_json(note)), 201
