"""What an offer's mail will look like: the preview, the live preview of the editor's text, the test send."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user
from markupsafe import escape

from ... import mails, template_sandbox, tracking, transport
from ...config import current_settings
from ...db import db
from ...models import Contact, Offer
from ...sender import sender_for
from .. import params
from .editor import OfferForm, preview_contacts, unsaved_from
from .pages import bp, marketing_only, offer_or_404

# ------------------------------------------------------------ preview, test send


def _build_message(offer: Offer, contact: Contact):
    return mails.offer_message(
        offer=offer, contact=contact, advisor=sender_for(db.session, contact), settings=current_settings(), delivery_id=None
    )


def _chosen_contact(offer: Offer, source) -> Contact | None:
    contact_id = params.record_id("contact_id", source)
    if contact_id:
        return db.session.get(Contact, contact_id)
    contacts = preview_contacts(offer)
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
    offer = offer_or_404(offer_id)
    contact = _chosen_contact(offer, request.args)
    return render_template(
        "offers/preview.html", offer=offer, contacts=preview_contacts(offer), **_preview_context(offer, contact)
    )


@bp.post("/offers/<int:offer_id>/live-preview")
@marketing_only
def live_preview(offer_id: int):
    """The preview of what is typed in the editor right now (htmx, on input)."""
    offer = offer_or_404(offer_id)
    unsaved = unsaved_from(offer, OfferForm())
    contact = _chosen_contact(offer, request.form)
    return render_template("offers/_preview_parts.html", offer=offer, live=True, **_preview_context(unsaved, contact))


# The headers a person reads; the rest (Message-ID, List-Unsubscribe, MIME…) are folded away.
_READABLE_HEADERS = ("From", "To", "Reply-To", "Subject")


def _parts(message, offer) -> dict:
    """The preview's parts: the readable headers, the technical ones apart, and the text and HTML with
    each tracked link shown by its label («[Каталог]»), listed below with where it leads."""

    settings = current_settings()
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
    settings = current_settings()
    offer = offer_or_404(offer_id)
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
