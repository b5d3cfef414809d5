"""Form pieces more than one page uses: the call form (card and hot list), the date picker,
and putting a domain error beside its field. The rules themselves live in the domain modules;
these forms only carry the input there and show the answer."""

from __future__ import annotations

from datetime import date, timedelta

from flask import flash
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]  # in WTForms 3.3, not yet in its stubs


class DateInput(StringField):
    """A browser date picker; the domain parses the ISO value and words the error."""

    def __call__(self, **kwargs):
        kwargs.setdefault("type", "date")
        return super().__call__(**kwargs)


class CallForm(FlaskForm):
    """The one call form (`calls.log_call` checks it): the card shows one, the hot list one per row
    (`prefix` keeps their fields apart)."""

    class Meta:
        csrf = False  # CSRFProtect checks every POST of the app (the template's csrf_token field)

    result = TextAreaField("Результат звонка")
    interest = SelectField(
        "Интерес",
        choices=[SelectChoice("", "— выберите —"), SelectChoice("yes", "есть интерес"), SelectChoice("no", "нет интереса")],
        validate_choice=False,
    )
    objection = StringField("Возражение")
    next_contact_on = DateInput("Следующий контакт")
    next_contact_time = StringField("Время (необязательно)", render_kw={"type": "time"})
    topic = StringField("Тема следующего звонка")

    @classmethod
    def blank(cls, prefix: str = "", today: date | None = None) -> CallForm:
        # A week ahead is the usual next step; the advisor changes it when the client said otherwise.
        form = cls(prefix=prefix, formdata=None)
        form.next_contact_on.data = ((today or date.today()) + timedelta(days=7)).isoformat()
        return form


def put_errors(form: FlaskForm, errors: dict[str, str], aliases: dict[str, str] | None = None) -> None:
    """Each domain error beside its field; one the form has no field for, as a flash message."""
    for name, message in errors.items():
        field = getattr(form, (aliases or {}).get(name, name), None)
        if field is not None:
            field.errors = [*field.errors, message] if isinstance(field.errors, list) else [message]
        else:
            flash(message, "error")
