"""The offer editor: subject, text and links (offer_links.py's rules), the catalog upload, ready and draft."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from sqlalchemy import select
from wtforms import FieldList, Form, FormField, HiddenField, StringField, TextAreaField
from wtforms.validators import Length, ValidationError

from ... import clicks, offer_links, offer_lint, offer_start, offers, template_sandbox
from ...audience import may_be_mailed
from ...config import current_settings
from ...db import db
from ...extensions import redis_client
from ...models import Contact, Offer, OfferStatus, Tag, contact_tags
from ..security import local_target
from .pages import bp, marketing_only, offer_or_404


class LinkForm(Form):
    """One link row; its rules are offer_links.py's (the API applies the same)."""

    id = HiddenField()
    name = StringField("Имя")
    url = StringField("Адрес")
    label = StringField("Подпись")
    weight = StringField("Вес", default="1")

    def validate_name(self, field):
        if why := offer_links.name_problem((field.data or "").strip()):
            raise ValidationError(why)

    def validate_url(self, field):
        if (self.name.data or "").strip() and (why := offer_links.url_problem(field.data or "")):
            raise ValidationError(why)

    def validate_label(self, field):
        if why := offer_links.label_problem(field.data or ""):
            raise ValidationError(why)

    def validate_weight(self, field):
        if why := offer_links.weight_problem(field.data or ""):
            raise ValidationError(why)


def _validate_template(_form, field):
    if problem := template_sandbox.check_template(field.data or ""):
        raise ValidationError(problem)


class OfferForm(FlaskForm):
    subject = StringField("Тема", [Length(max=300), _validate_template])
    body = TextAreaField("Текст письма", [_validate_template])
    links = FieldList(FormField(LinkForm), min_entries=1)


class CatalogForm(FlaskForm):
    catalog = FileField("Каталог (PDF, до 50 МБ)", [FileRequired("Выберите PDF-файл.")])


def preview_contacts(offer: Offer) -> list[Contact]:
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
        for link in offer_links.editable_links(offer):
            form.links.append_entry(
                {"id": str(link.id), "name": link.name, "url": link.url, "label": link.label, "weight": str(link.weight)}
            )
        form.links.append_entry()
        checked: Any = offer  # the stored offer or what the form shows (_Unsaved)
    else:  # the form came back with errors: check what it shows, not what is stored (one consistent check)
        checked = unsaved_from(offer, form)
    contacts = preview_contacts(offer)
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
        catalog_link=offers.catalog_url(current_settings(), offer),
        max_subject=template_sandbox.MAX_SUBJECT_LENGTH,
    ), status


def _apply_links(offer: Offer, form: OfferForm) -> bool:
    """Write the link rows onto the offer (offer_links.replace_links); False, with the errors beside
    the rows, when they are refused."""
    rows = [
        offer_links.LinkRow(
            id=int(row.form.id.data or "") if (row.form.id.data or "").isdigit() else None,
            name=row.form.name.data or "",
            url=row.form.url.data or "",
            label=row.form.label.data or "",
            weight=row.form.weight.data or "1",
        )
        for row in form.links
    ]
    try:
        offer_links.replace_links(db.session, offer, rows)
    except offer_links.LinksRefused as refused:
        for index, fields in refused.rows.items():
            for name, message in fields.items():
                getattr(form.links[index].form, name).errors.append(message)
        for message in refused.general:
            flash(message, "error")
        return False
    return True


@bp.route("/offers/<int:offer_id>", methods=["GET", "POST"])
@marketing_only
def edit(offer_id: int):
    offer = offer_or_404(offer_id)
    if request.method != "POST":
        return _editor(offer)
    form = OfferForm()
    if not form.validate() or not _apply_links(offer, form):
        db.session.rollback()
        return _editor(offer_or_404(offer_id), form=form, status=422)
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
    offer = offer_or_404(offer_id)
    form = CatalogForm()
    if form.validate_on_submit():
        upload = form.catalog.data
        try:
            offers.save_catalog(offer, upload.stream, upload.filename, current_settings())
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
    offer = offer_or_404(offer_id)
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
    offer = offer_or_404(offer_id)
    offers.mark_draft(offer)
    db.session.commit()
    flash("Предложение возвращено в черновик: его письма будут задержаны до готовности.", "info")
    return redirect(url_for("offers.edit", offer_id=offer.id))


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


def unsaved_from(offer: Offer, form: OfferForm) -> _Unsaved:
    """The editor's form as an offer: what preview and lint see of the text as typed, never saved."""
    kept = [link for link in offer.links if link not in offer_links.editable_links(offer)]
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
