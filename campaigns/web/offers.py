"""Marketing's workspace: the readiness board, the yearly calendar, the offer editor, preview and
test send, and the public catalog file route (the tags: tags.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, send_file, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from markupsafe import escape
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from wtforms import FieldList, Form, FormField, HiddenField, StringField, TextAreaField
from wtforms.validators import Length, Optional, Regexp, ValidationError

from .. import calendar, clicks, mailings, mails, offer_lint, offer_start, offers, reports, template_sandbox, transport
from ..audience import may_be_mailed
from ..board import readiness_board, without_sender
from ..config import current_settings
from ..db import db
from ..extensions import redis_client
from ..models import Click, Contact, Link, Offer, OfferStatus, Role, Tag, contact_tags
from ..sender import sender_for
from . import params
from .auth import roles_required
from .security import local_target
from .tags import KIND_LABELS

bp = Blueprint("offers", __name__)
NAV = [
    ("offers.board", "Готовность", ("marketing", "admin"), 20),
    ("offers.index", "Предложения", ("marketing", "admin"), 21),
    ("offers.calendar_page", "Календарь", ("advisor", "marketing", "admin"), 22),
]
WEEKDAYS = ("пн", "вт", "ср", "чт", "пт", "сб", "вс")
LATE_WARNING = "Предложение не готово — письма задержаны"
marketing_only = roles_required(Role.MARKETING, Role.ADMIN)


def _settings():
    return current_settings()


def _today():
    return datetime.now(_settings().timezone).date()


@bp.app_template_global()
def late_offers():
    """Offers holding their mails today (for the board and marketing's home page)."""
    return [(offer, offers.offer_send_date(offer)) for offer in offers.offers_not_ready_on(db.session, _today())]


@bp.app_context_processor
def _labels():
    return {
        "weekday_ru": lambda d: WEEKDAYS[d.weekday()],
        "kind_ru": lambda k: KIND_LABELS.get(k, str(k)),
        "late_warning": LATE_WARNING,
    }


# ------------------------------------------------------------------ board, calendar


@bp.get("/board")
@marketing_only
def board():
    today = _today()
    start = params.day("from") or today  # marketing may look further ahead: ?from=2027-07-01
    rows = readiness_board(db.session, _settings(), today, start=start)
    return render_template(
        "offers/board.html",
        rows=rows,
        today=today,
        start=start,
        late=late_offers(),
        missed=reports.missed_mailings(db.session, [today.year - 1, today.year]),
        state_labels=mailings.STATE_LABELS,
        no_sender=without_sender(rows),
        require_consent=_settings().require_consent,
    )


@bp.get("/calendar")
@login_required
def calendar_page():
    today = _today()
    tags = db.session.scalars(select(Tag).order_by(Tag.name)).all()
    year = params.year() or _current_or_coming_year(tags, today)
    rows = [(tag, occurrence, send_on, (send_on - today).days) for tag, occurrence, send_on in calendar.year_calendar(tags, year)]
    # This year's and next year's state of each tag's mailing (ready, draft, missing, waiting, sent, missed).
    years = [today.year, today.year + 1]
    states = {(m.tag.id, m.year): m for m in mailings.mailings(db.session, today, years, tags)}
    return render_template("offers/calendar.html", rows=rows, year=year, today=today, tags=tags, years=years, states=states)


# -------------------------------------------------------------------------- offers


def _current_or_coming_year(tags, today) -> int:
    """The year a page opens on: this one while some mailing of it is still to go out, else the next one
    (in December every row of the year is past: the work is next year's)."""
    try:
        coming = any(send_on >= today for _tag, _occurrence, send_on in calendar.year_calendar(tags, today.year))
    except ValueError:
        coming = True
    return today.year if coming or not tags else today.year + 1


@bp.get("/offers")
@marketing_only
def index():
    tags = db.session.scalars(select(Tag).order_by(Tag.name)).all()
    year = params.year() or _current_or_coming_year(tags, _today())
    by_tag = {o.tag_id: o for o in db.session.scalars(select(Offer).where(Offer.year == year))}
    rows = [(tag, occurrence, send_on, by_tag.get(tag.id)) for tag, occurrence, send_on in calendar.year_calendar(tags, year)]
    return render_template("offers/index.html", rows=rows, year=year, earlier=offer_start.earlier_years(db.session, year))


@bp.post("/offers/create")
@marketing_only
def create():
    tag = db.session.get(Tag, params.record_id("tag_id", request.form) or 0)
    year = params.year("year", request.form)
    if tag is None or year is None:
        abort(400, description="Выберите тег и год предложения.")
    existed = db.session.scalar(select(Offer.id).where(Offer.tag_id == tag.id, Offer.year == year))
    earlier = offer_start.earlier_offer(db.session, tag.id, year) if existed is None else None
    offer = offers.offer_for(db.session, tag, year)
    db.session.commit()
    if earlier is not None:
        flash(f"Черновик начат с предложения {earlier.year} года: тема, текст и ссылки скопированы — обновите их.", "success")
    return redirect(url_for("offers.edit", offer_id=offer.id))


@bp.post("/offers/<int:offer_id>/from-earlier")
@marketing_only
def from_earlier(offer_id: int):
    """«Начать с прошлогоднего» for a blank draft."""
    offer = _offer_or_404(offer_id)
    if FlaskForm().validate_on_submit():
        earlier = offer_start.start_from_earlier(db.session, offer)
        if earlier is None:
            flash("Копировать нечего: черновик уже не пуст или прошлых предложений по этому тегу нет.", "error")
        else:
            db.session.commit()
            flash(f"Черновик начат с предложения {earlier.year} года: тема, текст и ссылки скопированы — обновите их.", "success")
    return redirect(url_for("offers.edit", offer_id=offer.id))


class LinkForm(Form):
    id = HiddenField()
    name = StringField(
        "Имя", [Optional(), Regexp(r"^[a-z][a-z0-9_]{0,49}$", message="Латинские строчные буквы, цифры и _, начиная с буквы.")]
    )
    url = StringField("Адрес")
    label = StringField("Подпись", [Optional(), Length(max=200)])
    weight = StringField("Вес", default="1")

    def validate_url(self, field):
        if self.name.data and (why := offer_lint.url_problem(field.data)):
            raise ValidationError(why[:1].upper() + why[1:] + ".")

    def validate_weight(self, field):
        raw = (field.data or "1").strip()
        if not raw.isdigit() or not 0 <= int(raw) <= 100:
            raise ValidationError("Вес — целое число от 0 до 100.")


def _validate_template(_form, field):
    if problem := template_sandbox.check_template(field.data or ""):
        raise ValidationError(problem)


class OfferForm(FlaskForm):
    subject = StringField("Тема", [Length(max=300), _validate_template])
    body = TextAreaField("Текст письма", [_validate_template])
    links = FieldList(FormField(LinkForm), min_entries=1)


class CatalogForm(FlaskForm):
    catalog = FileField("Каталог (PDF, до 50 МБ)", [FileRequired("Выберите PDF-файл.")])


def _offer_or_404(offer_id: int) -> Offer:
    offer = db.session.scalar(
        select(Offer).options(selectinload(Offer.links), selectinload(Offer.tag)).where(Offer.id == offer_id)
    )
    if offer is None:
        abort(404)
    return offer


def _editable_links(offer: Offer) -> list[Link]:
    # The uploaded catalog's link is managed by the upload, not typed by hand.
    # Trap links belong to click tracking and stay out of the editor.
    return [link for link in offer.links if not link.is_trap and not (offer.catalog_path and link.name == offers.CATALOG_LINK)]


def _preview_contacts(offer: Offer) -> list[Contact]:
    # The first hundred by id (an index range, however big the tag), shown by name: sorting the
    # whole audience by name to keep a hundred took 1.6 s at a million contacts.
    query = select(Contact).where(may_be_mailed()).order_by(Contact.id).limit(100)
    contacts = db.session.scalars(query.join(contact_tags).where(contact_tags.c.tag_id == offer.tag_id)).all()
    return sorted(contacts or db.session.scalars(query).all(), key=lambda c: (c.last_name, c.id))


def _editor(offer: Offer, form: OfferForm | None = None, catalog_form: CatalogForm | None = None, status: int = 200):
    if form is None:
        # Not obj=offer: WTForms would fill the links from offer.links as well as below.
        form = OfferForm(data={"subject": offer.subject, "body": offer.body, "links": []})
        while form.links.entries:  # min_entries made a blank row; the blank row for a new link comes last
            form.links.pop_entry()
        for link in _editable_links(offer):
            form.links.append_entry(
                {"id": str(link.id), "name": link.name, "url": link.url, "label": link.label, "weight": str(link.weight)}
            )
        form.links.append_entry()
        checked: Any = offer  # the stored offer or what the form shows (_Unsaved)
    else:  # the form came back with errors: check what it shows, not what is stored (one consistent check)
        checked = _unsaved_from(offer, form)
    contacts = _preview_contacts(offer)
    earlier = offer_start.earlier_offer(db.session, offer.tag_id, offer.year) if offer_start.is_blank(offer) else None
    return render_template(
        "offers/edit.html",
        offer=offer,
        form=form,
        catalog_form=catalog_form or CatalogForm(),
        problems=offer_lint.lint_offer(checked),
        variables=template_sandbox.VARIABLES,
        contacts=contacts,
        earlier=earlier,
        send_on=offers.offer_send_date(offer),
        catalog_link=offers.catalog_url(_settings(), offer),
        max_subject=template_sandbox.MAX_SUBJECT_LENGTH,
    ), status


def _apply_links(offer: Offer, form: OfferForm) -> bool:
    """Write the link rows onto the offer; False (errors beside the rows) when they clash."""
    existing = {link.id: link for link in _editable_links(offer)}
    seen: dict[str, object] = {}
    keep: set[int] = set()
    ok = True
    for entry in form.links:
        row = entry.form
        name = (row.name.data or "").strip()
        if not name:
            if (row.url.data or "").strip():
                row.name.errors.append("Дайте ссылке имя, например discount.")  # type: ignore[attr-defined]  # a list once validated
                ok = False
            continue
        if name in seen:
            row.name.errors.append("Две ссылки с одним именем.")  # type: ignore[attr-defined]  # a list once validated
            ok = False
        if name == offers.CATALOG_LINK and offer.catalog_path:
            row.name.errors.append("Имя catalog занято загруженным каталогом.")  # type: ignore[attr-defined]  # a list once validated
            ok = False
        seen[name] = row
        link_id = int(row.id.data or "") if (row.id.data or "").isdigit() else None
        if link_id in existing:
            keep.add(link_id)
    gone = [link for link_id, link in existing.items() if link_id not in keep]
    clicked: set[int] = set()
    if gone:
        clicked = set(db.session.scalars(select(Click.link_id).where(Click.link_id.in_([g.id for g in gone])).distinct()))
    for link in gone:
        if link.id in clicked:
            flash(f"Ссылку «{link.name}» нельзя удалить: по ней уже переходили клиенты.", "error")
            ok = False
    if not ok:
        return False
    for link in gone:
        offer.links.remove(link)
    db.session.flush()  # free the names of removed links before reusing them
    for entry in form.links:
        row = entry.form
        name = (row.name.data or "").strip()
        if not name:
            continue
        link_id = int(row.id.data or "") if (row.id.data or "").isdigit() else None
        found = existing.get(link_id) if link_id is not None else None
        if found is None:
            found = Link()
            offer.links.append(found)
        link = found
        link.name, link.url = name, (row.url.data or "").strip()
        link.label, link.weight = (row.label.data or "").strip(), int((row.weight.data or "1").strip())
    return True


@bp.route("/offers/<int:offer_id>", methods=["GET", "POST"])
@marketing_only
def edit(offer_id: int):
    offer = _offer_or_404(offer_id)
    if request.method != "POST":
        return _editor(offer)
    form = OfferForm()
    if not form.validate() or not _apply_links(offer, form):
        db.session.rollback()
        return _editor(_offer_or_404(offer_id), form=form, status=422)
    offer.subject, offer.body = (form.subject.data or "").strip(), (form.body.data or "").replace("\r\n", "\n")
    if offer.status == OfferStatus.READY and (problems := offer_lint.lint_offer(offer)):
        offers.mark_draft(offer)
        flash("Предложение возвращено в черновик: " + " ".join(problems), "error")
    else:
        flash("Предложение сохранено.", "success")
    db.session.commit()
    _publish_links(offer)
    return redirect(url_for("offers.edit", offer_id=offer.id))


@bp.errorhandler(413)
def _too_large(_exc):
    flash("Файл слишком большой: каталог должен быть не больше 50 МБ.", "error")
    return redirect(local_target(request.referrer, url_for("offers.index")))


@bp.post("/offers/<int:offer_id>/catalog")
@marketing_only
def upload_catalog(offer_id: int):
    offer = _offer_or_404(offer_id)
    form = CatalogForm()
    if form.validate_on_submit():
        upload = form.catalog.data
        try:
            offers.save_catalog(offer, upload.stream, upload.filename, _settings())
        except offers.CatalogError as exc:
            form.catalog.errors.append(str(exc))
        else:
            db.session.commit()
            flash(f"Каталог «{offer.catalog_filename}» загружен.", "success")
            return redirect(url_for("offers.edit", offer_id=offer.id))
    return _editor(offer, catalog_form=form, status=422)


def _publish_links(offer: Offer) -> None:
    """Its link targets where the click redirect finds them while the database is away."""
    clicks.publish_link_targets(db.session, redis_client(), offer_id=offer.id)


@bp.post("/offers/<int:offer_id>/ready")
@marketing_only
def make_ready(offer_id: int):
    offer = _offer_or_404(offer_id)
    problems = offers.mark_ready(offer)
    if problems:
        flash("Предложение не может стать готовым, пока есть замечания.", "error")
        return _editor(offer, status=422)
    db.session.commit()
    _publish_links(offer)
    flash("Предложение готово к отправке.", "success")
    return redirect(url_for("offers.edit", offer_id=offer.id))


@bp.post("/offers/<int:offer_id>/draft")
@marketing_only
def make_draft(offer_id: int):
    offer = _offer_or_404(offer_id)
    offers.mark_draft(offer)
    db.session.commit()
    flash("Предложение возвращено в черновик: его письма будут задержаны до готовности.", "info")
    return redirect(url_for("offers.edit", offer_id=offer.id))


# ------------------------------------------------------------ preview, test send


def _build_message(offer: Offer, contact: Contact):
    return mails.offer_message(
        offer=offer, contact=contact, advisor=sender_for(db.session, contact), settings=_settings(), delivery_id=None
    )


def _chosen_contact(offer: Offer, source) -> Contact | None:
    contact_id = params.record_id("contact_id", source)
    if contact_id:
        return db.session.get(Contact, contact_id)
    contacts = _preview_contacts(offer)
    return contacts[0] if contacts else None


def _preview_context(offer, contact: Contact | None) -> dict:
    message = error = None
    if contact is None:
        error = "Нет контакта для предпросмотра: добавьте контакт с эл. почтой."
    else:
        try:
            message = _build_message(offer, contact)
        except (template_sandbox.OfferTemplateError, LookupError, ValueError) as exc:
            error = str(exc)
    return {"contact": contact, "message": message, "error": error, **(_parts(message, offer) if message is not None else {})}


@bp.get("/offers/<int:offer_id>/preview")
@marketing_only
def preview(offer_id: int):
    offer = _offer_or_404(offer_id)
    contact = _chosen_contact(offer, request.args)
    return render_template(
        "offers/preview.html", offer=offer, contacts=_preview_contacts(offer), **_preview_context(offer, contact)
    )


@dataclass
class _Unsaved:
    """The editor's text as it stands, unsaved: what compose needs of an offer, never persisted."""

    id: int
    tag: Tag
    year: int
    subject: str
    body: str
    catalog_path: str | None
    links: list = field(default_factory=list)


def _unsaved_from(offer: Offer, form: OfferForm) -> _Unsaved:
    """The editor's form as an offer: what preview and lint see of the text as typed, never saved."""
    kept = [link for link in offer.links if link not in _editable_links(offer)]
    typed = [
        SimpleNamespace(
            id=int(row.form.id.data or "") if (row.form.id.data or "").isdigit() else 0,
            name=(row.form.name.data or "").strip(),
            url=(row.form.url.data or "").strip(),
            label=row.form.label.data or "",
            is_trap=False,
        )
        for row in form.links
        if (row.form.name.data or "").strip()
    ]
    return _Unsaved(
        id=offer.id,
        tag=offer.tag,
        year=offer.year,
        subject=(form.subject.data or "").strip(),
        body=(form.body.data or "").replace("\r\n", "\n"),
        catalog_path=offer.catalog_path,
        links=kept + typed,
    )


@bp.post("/offers/<int:offer_id>/live-preview")
@marketing_only
def live_preview(offer_id: int):
    """The preview of what is typed in the editor right now (htmx, on input)."""
    offer = _offer_or_404(offer_id)
    unsaved = _unsaved_from(offer, OfferForm())
    contact = _chosen_contact(offer, request.form)
    return render_template("offers/_preview_parts.html", offer=offer, live=True, **_preview_context(unsaved, contact))


# The headers a person reads; the rest (Message-ID, List-Unsubscribe, MIME…) are folded away.
_READABLE_HEADERS = ("From", "To", "Reply-To", "Subject")


def _parts(message, offer) -> dict:
    """The preview's parts: the readable headers, the technical ones apart, and the text and HTML with
    each tracked link shown by its label («[Каталог]»), listed below with where it leads."""
    from .. import tracking

    settings = _settings()
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    text = text.get_content() if text is not None else None
    html = html.get_content() if html is not None else None
    labels: dict[str, str] = {}
    links = []
    for link in offer.links:
        if link.is_trap:
            continue
        tracked = tracking.click_url(settings.public_url, tracking.TEST_DELIVERY_ID, link.id or 0, settings.secret_key)
        label = link.label or link.name
        labels.setdefault(tracked, label)
        links.append({"label": label, "name": link.name, "url": link.url})
    labels[tracking.unsubscribe_url(settings.public_url, tracking.TEST_DELIVERY_ID, settings.secret_key)] = "отписаться"
    for tracked, label in labels.items():
        if text is not None:
            text = text.replace(tracked, f"[{label}]")
        if html is not None:
            html = html.replace(f">{tracked}<", f">[{escape(label)}]<")
    headers = [(name, str(value)) for name, value in message.items()]
    return {
        "headers": [(name, value) for name, value in headers if name in _READABLE_HEADERS],
        "technical_headers": [(name, value) for name, value in headers if name not in _READABLE_HEADERS],
        "links": links,
        "text": text,
        "html": html,
    }


@bp.post("/offers/<int:offer_id>/test-send")
@marketing_only
def test_send(offer_id: int):
    settings = _settings()
    offer = _offer_or_404(offer_id)
    contact = _chosen_contact(offer, request.form)
    if contact is None:
        flash("Нет контакта, от имени которого собрать письмо.", "error")
        return redirect(url_for("offers.edit", offer_id=offer.id))
    try:
        message = mails.test_message(
            offer=offer, contact=contact, advisor=sender_for(db.session, contact), tester=current_user, settings=settings
        )
    except template_sandbox.OfferTemplateError as exc:
        flash(str(exc), "error")
        return redirect(url_for("offers.preview", offer_id=offer.id, contact_id=contact.id))
    try:
        with transport.open_transport(settings.mail) as conn:
            conn.send(message)
    except transport.TransportError as exc:
        flash(f"Тестовое письмо не отправлено: {exc}", "error")
    else:
        flash(f"Тестовое письмо отправлено на {current_user.email}.", "success")
    return redirect(url_for("offers.preview", offer_id=offer.id, contact_id=contact.id))


# ------------------------------------------------------------- the catalog file


@bp.get("/files/catalog/<int:offer_id>/<filename>")
def catalog_file(offer_id: int, filename: str):
    """Public: recipients reach it through their tracked link; the random name is the key."""
    offer = db.session.get(Offer, offer_id)
    path = offers.catalog_file(_settings(), offer, filename)
    if path is None or offer is None:
        abort(404)
    return send_file(
        path, mimetype="application/pdf", download_name=offer.catalog_filename or "catalog.pdf", as_attachment=False, max_age=3600
    )
