"""Tags: the list with each tag's next date, and the form that creates or edits one (name, kind,
date rule with a preview of the next send dates, lead days) through tags.save_tag, as the API does."""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import SelectChoice, SelectField, StringField  # type: ignore[attr-defined]  # in WTForms 3.3, not yet in its stubs
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from .. import calendar, rules_ru, tag_groups, tags
from ..config import current_settings
from ..db import db
from ..models import Role, Tag, TagKind
from .auth import roles_required

bp = Blueprint("tags", __name__)
NAV = [("tags.index", "Теги", ("marketing", "admin"), 23)]
KIND_LABELS = {TagKind.INDUSTRY: "отрасль", TagKind.HOLIDAY: "праздник", TagKind.MONTH: "месяц закупки"}
marketing_only = roles_required(Role.MARKETING, Role.ADMIN)


def _today():
    return datetime.now(current_settings().timezone).date()


def _validate_rule(_form, field):
    """Russian («3-е воскресенье июня, за 21 день») or the short grammar (tags.parse_rule); kept for the preview."""
    try:
        field.canonical, field.lead = tags.parse_rule(field.data or "")
    except ValueError as exc:
        raise ValidationError(str(exc)) from None


def _validate_lead(_form, field):
    if why := tags.lead_problem(field.data):
        raise ValidationError(why)


class TagForm(FlaskForm):
    name = StringField("Название", [DataRequired("Введите название тега."), Length(max=100)])
    kind = SelectField("Вид", choices=[SelectChoice(k.value, label) for k, label in KIND_LABELS.items()])
    rule = StringField("Дата праздника", [_validate_rule])
    lead_days = StringField("За сколько дней до даты отправлять", [_validate_lead], default="21")
    description = StringField("Описание", [Optional(), Length(max=300)])


def _tag_form_page(form, tag):
    preview = []
    canonical = getattr(form.rule, "canonical", None)
    if not form.rule.errors and canonical:
        try:
            lead = form.rule.lead if form.rule.lead is not None else int(form.lead_days.data or 0)
            preview = [
                (year, calendar.parse_rule(canonical).occurrence(year), calendar.send_date(canonical, lead, year))
                for year in (_today().year, _today().year + 1)
            ]
        except ValueError:
            preview = []
    return render_template("tags/edit.html", form=form, tag=tag, preview=preview)


@bp.get("/tags")
@marketing_only
def index():
    # Each tag's count is kept by triggers on contact_tags (migration 0020), not counted here.
    rows = [(tag, tag.contacts_count) for tag in db.session.scalars(select(Tag).order_by(Tag.kind, Tag.name))]
    order = {tag.id: i for i, (_group, tag) in enumerate(tag_groups.ordered(db.session))}
    rows = sorted(rows, key=lambda row: order.get(row[0].id, 0))  # grouped; months in calendar order
    today = _today()
    upcoming = {tag.id: when for tag, when in calendar.upcoming([tag for tag, _ in rows], today, 366)[::-1]}
    return render_template("tags/index.html", rows=rows, upcoming=upcoming, today=today)


@bp.route("/tags/new", methods=["GET", "POST"])
@bp.route("/tags/<int:tag_id>", methods=["GET", "POST"])
@marketing_only
def edit(tag_id: int | None = None):
    tag = db.session.get(Tag, tag_id) if tag_id else None
    if tag_id and tag is None:
        abort(404)
    form = TagForm(obj=tag) if request.method != "POST" and tag else TagForm()
    if request.method != "POST" and tag:
        form.lead_days.data = str(tag.lead_days)
        form.kind.data = tag.kind.value
        form.rule.data = rules_ru.describe(tag.rule)
    if form.validate_on_submit():
        try:
            tag = tags.save_tag(
                db.session,
                tag,
                name=form.name.data or "",
                kind=form.kind.data or "",
                rule=form.rule.data or "",
                lead_days=form.lead_days.data,
                description=form.description.data or "",
            )
        except tags.TagError as exc:  # what the form's own checks cannot see: a name already taken
            db.session.rollback()
            for name, message in exc.errors.items():
                getattr(form, name).errors.append(message)
        else:
            db.session.commit()
            flash(f"Тег «{tag.name}» сохранён.", "success")
            return redirect(url_for("tags.index"))
    return _tag_form_page(form, tag)
