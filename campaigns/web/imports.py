"""Import and export of contacts: upload → preview → commit → result; export as CSV.

Small files are checked and written within the request; long ones by an RQ job
(tasks.import_contacts) while the page shows the progress kept in Redis. The rules
themselves live in campaigns/import_read.py, import_check.py, import_commit.py,
import_jobs.py and export.py.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from flask import Blueprint, Response, abort, current_app, flash, jsonify, redirect, render_template, stream_with_context, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField, FileRequired
from rq import Queue
from sqlalchemy import select
from wtforms import BooleanField, SelectField

from .. import import_jobs
from ..db import db
from ..export import export_csv
from ..extensions import redis_client
from ..import_check import FIELD_LABELS, STATUS_LABELS, ImportOptions
from ..import_read import MAX_FILE_BYTES
from ..models import Advisor, Role
from .auth import roles_required

bp = Blueprint("imports", __name__, url_prefix="/imports")
NAV = [("imports.index", "Импорт", ("advisor", "marketing", "admin"), 70)]

ALL_ROLES = (Role.ADVISOR, Role.MARKETING, Role.ADMIN)
# Files up to this size are handled within the request; bigger ones by the worker.
INLINE_BYTES = 512 * 1024
QUEUE = "default"
_ID_LENGTH = 22


class UploadForm(FlaskForm):
    file = FileField(
        "Файл CSV или Excel (.xlsx)",
        validators=[FileRequired("Выберите файл."), FileAllowed(["csv", "txt", "xlsx"], "Подойдёт файл .csv или .xlsx.")],
    )
    owner_id = SelectField("Ответственный за новые контакты", coerce=int, choices=[])
    use_owner_column = BooleanField("Брать ответственного из столбца «Ответственный», где он заполнен", default=True)


class CommitForm(FlaskForm):
    skip_errors = BooleanField("Пропустить строки с ошибками и загрузить остальные")


def _owner_choices() -> list[tuple[int, str]]:
    advisors = db.session.scalars(
        select(Advisor).where(Advisor.role == Role.ADVISOR, Advisor.active.is_(True)).order_by(Advisor.is_house, Advisor.name)
    )
    return [(a.id, a.name + (" (общий)" if a.is_house else "")) for a in advisors]


def state_or_404(import_id: str) -> dict:
    if len(import_id) != _ID_LENGTH or not import_id.replace("-", "").replace("_", "").isalnum():
        abort(404)
    state = import_jobs.load_state(redis_client(), import_id)
    # Another user's import is as good as absent: its rows may name contacts they cannot see.
    if state is None or state["options"]["user_id"] != current_user.id:
        abort(404)
    return state


def begin_upload(upload, options: ImportOptions) -> tuple[str | None, str | None]:
    """Store an uploaded file and start its preview (the page and the API): (import id, None) or (None, error)."""
    filename = Path(upload.filename or "file.csv").name[:200]
    import_id = secrets.token_urlsafe(16)
    path = import_jobs.upload_dir(current_app.instance_path) / f"{import_id}{Path(filename).suffix.lower()}"
    upload.save(path)
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        path.unlink()
        return None, f"Файл больше {MAX_FILE_BYTES // (1024 * 1024)} МБ: разделите его на части."
    if size == 0:
        path.unlink()
        return None, "Файл пуст."
    import_jobs.start_state(redis_client(), import_id, path=path, filename=filename, options=options)
    import_jobs.save_state(redis_client(), import_id, size=size)
    _run(import_id, "preview", size)
    return import_id, None


def begin_commit(import_id: str, state: dict, skip_errors: bool) -> bool:
    """Start writing a previewed import (the page and the API); False when it already runs or ran."""
    if state["status"] != "previewed":
        return False
    # Claim the step atomically: a double click must not start two imports.
    key = import_jobs.state_key(import_id)
    if not redis_client().set(f"{key}:claim", "1", nx=True, ex=import_jobs.STATE_TTL):
        return False
    import_jobs.save_state(
        redis_client(), import_id, status="committing", phase="check", done=0, total=0, skip_errors=skip_errors
    )
    _run(import_id, "commit", state.get("size", 0))
    return True


def _run(import_id: str, step: str, size: int) -> None:
    if size <= current_app.config.get("IMPORT_INLINE_BYTES", INLINE_BYTES):
        import_jobs.run_step(db.session, redis_client(), import_id, step)
        return
    Queue(QUEUE, connection=redis_client()).enqueue(
        "campaigns.tasks.import_contacts", import_id, step, job_timeout=3600, result_ttl=600, failure_ttl=24 * 3600
    )


@bp.route("/", methods=["GET", "POST"])
@roles_required(*ALL_ROLES)
def index():
    form = UploadForm()
    is_admin = current_user.role == Role.ADMIN
    if is_admin:
        form.owner_id.choices = _owner_choices()
    else:
        del form.owner_id, form.use_owner_column
    if form.validate_on_submit():
        options = ImportOptions(
            user_id=current_user.id,
            owner_id=form.owner_id.data if is_admin else None,
            use_owner_column=bool(is_admin and form.use_owner_column.data),
        )
        import_id, error = begin_upload(form.file.data, options)
        if error:
            form.file.errors.append(error)
        else:
            return redirect(url_for(".show", import_id=import_id))
    return render_template("imports/upload.html", form=form, is_admin=is_admin)


@bp.get("/<import_id>")
@roles_required(*ALL_ROLES)
def show(import_id: str):
    state = state_or_404(import_id)
    return render_template(
        "imports/show.html",
        import_id=import_id,
        state=state,
        form=CommitForm(),
        labels=FIELD_LABELS,
        statuses=STATUS_LABELS,
    )


@bp.get("/<import_id>/progress.json")
@roles_required(*ALL_ROLES)
def progress(import_id: str):
    state = state_or_404(import_id)
    return jsonify({k: state.get(k) for k in ("status", "phase", "done", "total", "error")})


@bp.post("/<import_id>/commit")
@roles_required(*ALL_ROLES)
def commit(import_id: str):
    state = state_or_404(import_id)
    form = CommitForm()
    if not form.validate_on_submit():
        abort(400, description="Форма устарела: обновите страницу и попробуйте ещё раз.")
    if state["status"] != "previewed":
        flash("Этот импорт уже выполняется или завершён.", "info")
        return redirect(url_for(".show", import_id=import_id))
    begin_commit(import_id, state, bool(form.skip_errors.data))
    return redirect(url_for(".show", import_id=import_id))


@bp.get("/export.csv")
@roles_required(*ALL_ROLES)
def export():
    rows = export_csv(db.session, current_user)
    response = Response(stream_with_context(rows), mimetype="text/csv; charset=utf-8")
    response.headers["Content-Disposition"] = "attachment; filename=contacts.csv"
    return response
