"""The API's contacts: the list and the card, creating and editing, notes and calls, consent."""

from __future__ import annotations

from typing import Annotated, Literal

from flask import abort, request
from pydantic import BaseModel, Field, StrictBool, StrictInt, StrictStr
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from ... import calls, consent, contact_pages, contacts
from ...db import db
from ...greeting import greeting, greeting_is_fallback
from ...models import Advisor, Contact, Note, Role
from .. import params
from ..openapi import spec
from .base import (
    UNKNOWN,
    Body,
    CursorQuery,
    DuplicateProblem,
    Invalid,
    TagRef,
    Text,
    api_user,
    body,
    bp,
    errors_for,
    iso,
    keyset_page,
    make_cursor,
    out,
    read_cursor,
    today,
)

# ------------------------------------------------------------------ contacts


class Owner(BaseModel):
    id: int
    name: str


class ConsentOut(BaseModel):
    """The card's consent facts (consent.consent_facts)."""

    mailable: bool = Field(description="Рассылки к нему уходят: не отписан, не в стоп-листе, согласие записано")
    lacks_consent: bool = Field(description="Согласие (источник и дата) не записано, а без него писем нет")
    unsubscribed_at: str | None
    stopped: bool
    stop_reason: str | None = None
    stop_detail: str | None = None


class ContactOut(BaseModel):
    id: int
    first_name: str
    middle_name: str
    last_name: str
    company: str
    company_alias: str
    position: str
    email: str | None
    phone: str | None
    consent_source: str
    tags: list[str]
    tag_ids: list[int]
    owner: Owner
    next_contact_on: str | None
    next_contact_time: str | None = Field(None, description="Время следующего звонка, «11:30»")
    next_contact_topic: str | None = Field(None, description="О чём следующий звонок")
    consent_at: str | None
    unsubscribed_at: str | None
    archived_at: str | None
    updated_at: str | None
    greeting: str
    greeting_is_fallback: bool


class NoteOut(BaseModel):
    id: int
    kind: str
    body: str
    author: str | None
    result: str | None
    interest: bool | None
    objection: str | None
    next_contact_on: str | None
    subject: str | None
    created_at: str | None


class ContactCard(ContactOut):
    notes: list[NoteOut]
    consent: ConsentOut


class ContactPage(BaseModel):
    items: list[ContactOut]
    total: int  # counted up to 10,000
    total_more: bool = False  # more than total
    page: int
    pages: int
    per_page: int
    next_cursor: str | None


class NotePage(BaseModel):
    items: list[NoteOut]
    next_cursor: str | None


def contact_json(contact: Contact) -> dict:
    return {
        "id": contact.id,
        **{
            name: getattr(contact, name)
            for name in (
                "first_name",
                "middle_name",
                "last_name",
                "company",
                "company_alias",
                "position",
                "email",
                "phone",
                "consent_source",
            )
        },
        "tags": [t.name for t in contact.tags],
        "tag_ids": [t.id for t in contact.tags],
        "owner": {"id": contact.owner.id, "name": contact.owner.name},
        "next_contact_on": iso(contact.next_contact_on),
        "next_contact_time": contact.next_contact_time.strftime("%H:%M") if contact.next_contact_time else None,
        "next_contact_topic": contact.next_contact_topic,
        "consent_at": iso(contact.consent_at),
        "unsubscribed_at": iso(contact.unsubscribed_at),
        "archived_at": iso(contact.archived_at),
        "updated_at": iso(contact.updated_at),
        "greeting": greeting(contact.first_name, contact.middle_name),
        "greeting_is_fallback": greeting_is_fallback(contact.first_name, contact.middle_name),
    }


def consent_json(contact: Contact) -> dict:
    facts = consent.consent_facts(db.session, contact)
    stop = getattr(facts, "suppression", None)
    lacks = bool(getattr(facts, "lacks_consent", False))
    return {
        "mailable": facts.mailable and not lacks,
        "lacks_consent": lacks,
        "unsubscribed_at": iso(contact.unsubscribed_at),
        "stopped": stop is not None,
        "stop_reason": stop.reason.value if stop is not None else None,
        "stop_detail": stop.detail if stop is not None else None,
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
        "next_contact_on": iso(note.next_contact_on),
        "subject": note.subject,
        "created_at": iso(note.created_at),
    }


class ContactFields(Body):
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


class NewNote(Body):
    kind: Literal["manual", "call"] = "manual"
    body: Text = None
    result: Text = None
    interest: StrictBool | StrictStr | None = None  # true/false, or «да»/«нет» as the form sends it
    objection: Text = None
    next_contact_on: Text = None
    next_contact_time: Text = None  # "11:30"
    topic: Text = None


class ContactQuery(BaseModel):
    search: str | None = Field(None, description="Имя, компания (любое написание), эл. почта, телефон")
    tag: int | None = Field(None, description="Номер тега")
    owner: int | None = Field(None, description="Номер владельца (маркетинг и администратор)")
    today: bool | None = Field(None, description="Только те, кому звонить сегодня")
    not_worked_days: int | None = Field(None, description="Без работы столько дней")
    cursor: str | None = Field(None, description="next_cursor предыдущей страницы")
    page: int | None = Field(
        None,
        description=f"Номер страницы (вместо курсора), не больше {contact_pages.LAST_NUMBERED_PAGE}: дальше — по next_cursor",
    )


UNKNOWN[ContactFields] = "Это поле нельзя изменить"
# How to go past the last page opened by number (params.too_deep).
ONWARD = "по next_cursor (передайте его как ?cursor=)"


def contact_or_404(contact_id: int) -> Contact:
    """The contact if the caller may see it (contacts.get_visible_contact), else 404."""
    contact = contacts.get_visible_contact(db.session, api_user(), contact_id)
    if contact is None:
        abort(404)
    return contact


def editable_or_403(contact_id: int) -> Contact:
    contact = contact_or_404(contact_id)
    if not contacts.can_edit(api_user(), contact):
        abort(403)
    return contact


@bp.get("/contacts")
@spec.validate(query=ContactQuery, resp=errors_for(HTTP_200=ContactPage), tags=["contacts"], skip_validation=True)
def list_contacts():
    """Контакты, которые видит пользователь

    Советник — только свои, маркетинг и администратор — все. Старые по обновлению — первыми.
    """
    args = request.args
    position = read_cursor()
    keyset = (
        position
        if isinstance(position, list)
        and len(position) == 2
        and contact_pages.parse_cursor(position[0])
        and isinstance(position[1], int)
        and 1 <= position[1] <= params.MAX_PAGE
        else None
    )
    if position is not None and not keyset and not (isinstance(position, int) and 1 <= position <= params.MAX_PAGE):
        raise params.BadParameter("cursor", "Неверный курсор: передайте next_cursor из предыдущего ответа как есть.")
    call_today = args.get("today") in ("1", "true")
    if keyset:
        number = keyset[1]
    elif position is not None:  # a numbered cursor (today's calls): OFFSET, as ?page=
        number = position
        if number > contact_pages.LAST_NUMBERED_PAGE:
            raise params.BadParameter("cursor", params.too_deep(number, ONWARD))
    else:
        number = params.page(onward=ONWARD)
    page = contacts.contact_list(
        db.session,
        api_user(),
        search=args.get("search", args.get("q", ""))[:200],
        tag_id=params.record_id("tag"),
        owner_id=params.record_id("owner"),
        call_today=call_today,
        not_worked_days=params.days("not_worked_days"),
        today=today(),
        page=number,
        after=keyset[0] if keyset else None,
    )
    # The next page continues from this one's last row (contact_pages.cursor: keyset, however deep);
    # total counts up to contact_pages.COUNT_LIMIT, total_more says there are more.
    return out(
        ContactPage,
        {
            "items": [contact_json(c) for c in page.items],
            "total": page.total,
            "total_more": page.total_more,
            "page": page.page,
            "pages": page.pages,
            "per_page": page.per_page,
            "next_cursor": (
                make_cursor([page.next_after, page.page + 1])
                if page.next_after
                else make_cursor(page.page + 1)
                if page.has_next
                else None
            ),
        },
    )


@bp.get("/contacts/<int:contact_id>")
@spec.validate(resp=errors_for(HTTP_200=ContactCard), tags=["contacts"], skip_validation=True)
def get_contact(contact_id: int):
    """Карточка контакта: поля, теги, согласие и последние записи"""
    contact = contact_or_404(contact_id)
    return out(
        ContactCard,
        {
            **contact_json(contact),
            "consent": consent_json(contact),
            "notes": [note_json(n) for n in contacts.timeline(db.session, contact, 100)],
        },
    )


@bp.post("/contacts")
@spec.validate(
    json=NewContact, resp=errors_for(HTTP_201=ContactOut, HTTP_409=DuplicateProblem), tags=["contacts"], skip_validation=True
)
def create_contact():
    """Новый контакт (советник — свой, администратор — любого советника)"""
    user = api_user()
    if user.role not in (Role.ADVISOR, Role.ADMIN):
        abort(403)
    data = body(NewContact)
    owner = None
    if user.role == Role.ADMIN and data.owner_id is not None:
        owner = db.session.get(Advisor, data.owner_id) if 0 < data.owner_id <= params.MAX_ID else None
        if owner is None:
            raise Invalid({"owner": "Нет такого советника"})
    contact = contacts.create_contact(db.session, user, data.fields(), owner=owner, confirm_different=data.confirm_different)
    db.session.commit()
    return out(ContactOut, contact_json(contact), 201)


@bp.patch("/contacts/<int:contact_id>")
@spec.validate(
    json=ContactFields, resp=errors_for(HTTP_200=ContactOut, HTTP_409=DuplicateProblem), tags=["contacts"], skip_validation=True
)
def update_contact(contact_id: int):
    """Изменить поля и теги контакта (только переданные поля)"""
    contact = editable_or_403(contact_id)
    data = body(ContactFields)
    contacts.update_contact(db.session, api_user(), contact, data.fields(), confirm_different=data.confirm_different)
    db.session.commit()
    return out(ContactOut, contact_json(contact))


@bp.get("/contacts/<int:contact_id>/notes")
@spec.validate(query=CursorQuery, resp=errors_for(HTTP_200=NotePage), tags=["notes"], skip_validation=True)
def list_notes(contact_id: int):
    """Записи контакта (заметки, звонки, письма, клики), новые первыми"""
    contact = contact_or_404(contact_id)
    rows, next_cursor = keyset_page(_notes_query(contact), Note.id)
    return out(NotePage, {"items": [note_json(n) for n in rows], "next_cursor": next_cursor})


def _notes_query(contact: Contact):
    return select(Note).where(Note.contact_id == contact.id).options(selectinload(Note.author))


@bp.post("/contacts/<int:contact_id>/notes")
@spec.validate(json=NewNote, resp=errors_for(HTTP_201=NoteOut), tags=["notes"], skip_validation=True)
def add_note(contact_id: int):
    """Заметка или звонок (kind="call": результат, интерес, возражение, дата следующего контакта)"""
    contact = editable_or_403(contact_id)
    data = body(NewNote)
    if data.kind == "call":
        note = calls.log_call(
            db.session,
            api_user(),
            contact,
            result=data.result or "",
            interest=data.interest,
            objection=data.objection or "",
            next_contact_on=data.next_contact_on,
            next_contact_time=data.next_contact_time,
            topic=data.topic or "",
            today=today(),
        )
    else:
        note = contacts.add_note(db.session, api_user(), contact, data.body or "")
    db.session.commit()
    return out(NoteOut, note_json(note), 201)


# ------------------------------------------------------------------ consent and the stop list


class Unsubscribe(Body):
    how: Literal["по телефону", "письмом", "при встрече"] | None = None
    reason: StrictStr = ""


class ConsentResult(BaseModel):
    changed: bool
    contact: ContactOut
    consent: dict


@bp.post("/contacts/<int:contact_id>/unsubscribe")
@spec.validate(json=Unsubscribe, resp=errors_for(HTTP_200=ConsentResult), tags=["contacts"], skip_validation=True)
def unsubscribe(contact_id: int):
    """Отписать контакт по его просьбе (телефон, письмо, встреча): стоп-лист и отмена писем"""
    contact = editable_or_403(contact_id)
    data = body(Unsubscribe)
    changed = consent.unsubscribe_by_advisor(db.session, api_user(), contact, how=data.how or "", reason=data.reason)
    db.session.commit()
    return out(ConsentResult, {"changed": changed, "contact": contact_json(contact), "consent": consent_json(contact)})
