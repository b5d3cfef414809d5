"""One import's state in Redis (file, options, preview, progress, result) and the step that runs it.

The web request runs a step for small files, the RQ job (tasks.import_contacts) for long ones;
either way the page reads the outcome from the state.

Personal data (152-FZ) lives in an import only while it is needed: the uploaded file under
instance/uploads/imports/ and the preview's rows in Redis go as soon as the import is over (written,
or failed), leaving only counts; a file whose state expired unused is removed by `sweep_uploads`.
An erasure (privacy.erase) ends every unfinished import that names the person: `forget_address`.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path

from .import_check import NEW, ImportOptions, Plan, Progress, preview_import
from .import_commit import ImportHasErrors, commit_import
from .import_read import ImportFileError, read_table

STATE_TTL = 2 * 24 * 3600
KEY_PREFIX = "campaigns:import:"
ERASED_ERROR = (
    "Импорт отменён: по требованию человека из этого файла удалены его персональные данные (152-ФЗ). "
    "Уберите его из файла и загрузите файл заново."
)


def state_key(import_id: str) -> str:
    return f"{KEY_PREFIX}{import_id}"


def upload_dir(instance_path: str | Path) -> Path:
    """Where uploaded import files wait for their preview and commit."""
    path = Path(instance_path) / "uploads" / "imports"
    path.mkdir(parents=True, exist_ok=True)
    return path


def save_state(redis, import_id: str, **values) -> None:
    """One import's state (file, options, preview, progress, result) as JSON fields of a hash."""
    key = state_key(import_id)
    redis.hset(key, mapping={k: json.dumps(v, ensure_ascii=False, default=str) for k, v in values.items()})
    redis.expire(key, STATE_TTL)


def load_state(redis, import_id: str) -> dict | None:
    raw = redis.hgetall(state_key(import_id))
    if not raw:
        return None
    return {k.decode(): json.loads(v) for k, v in raw.items()}


PREVIEW_ROWS = 300  # rows kept for the preview page: problems first, then a sample of new rows
PREVIEW_TEXT = 300  # characters of one value or message kept for the preview page


def _short(value):
    """``value`` with every string cut to PREVIEW_TEXT characters: an overlong cell is an error
    already, and the state (kept two days in Redis) and the page need only its start."""
    if isinstance(value, str):
        return value if len(value) <= PREVIEW_TEXT else value[:PREVIEW_TEXT] + "…"
    if isinstance(value, dict):
        return {k: _short(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_short(v) for v in value]
    return value


def summarize(plan: Plan) -> dict:
    """What the preview page shows, small enough for Redis whatever the file's size."""
    problems = [r for r in plan.rows if r.status != NEW]
    sample = [r for r in plan.rows if r.status == NEW][: max(20, PREVIEW_ROWS - len(problems))]
    shown = sorted((problems[:PREVIEW_ROWS] + sample), key=lambda r: r.number)
    return {
        "filename": plan.filename,
        "counts": plan.counts,
        "total": len(plan.rows),
        "columns": _short(plan.columns),
        "unused_columns": _short(plan.unused_columns),
        "rows": [_short(asdict(r)) for r in shown],
        "truncated": len(shown) < len(plan.rows),
    }


def _progress_writer(redis, import_id: str) -> Progress:
    def progress(phase: str, done: int, total: int) -> None:
        save_state(redis, import_id, phase=phase, done=done, total=total)

    return progress


def start_state(redis, import_id: str, *, path: Path, filename: str, options: ImportOptions) -> None:
    save_state(
        redis,
        import_id,
        path=str(path),
        filename=filename,
        options=asdict(options),
        status="previewing",
        phase="check",
        done=0,
        total=0,
    )


def _drop_personal(redis, import_id: str, path: Path | None) -> None:
    """The file and the preview's rows (names, addresses) go; the counts stay for the page and the API."""
    if path is not None:
        path.unlink(missing_ok=True)
    state = load_state(redis, import_id) or {}
    preview = state.get("preview")
    redis.hdel(state_key(import_id), "path")
    if preview:
        save_state(redis, import_id, preview={**preview, "rows": [], "truncated": False})


def _finish(redis, import_id: str, path: Path) -> None:
    """The import is over (written or failed): nothing personal is kept after it."""
    _drop_personal(redis, import_id, path)


def _names_address(path: Path, filename: str, state: dict, address: str) -> bool:
    """Whether the import's file or its kept preview holds `address` (any cell, any case)."""
    if address in json.dumps(state.get("preview"), ensure_ascii=False).lower():
        return True
    if not path.is_file():
        return False
    try:
        _header, rows = read_table(path, filename)
        return any(address in str(cell).lower() for row in rows for cell in row)
    except ImportFileError:
        return True  # unreadable: it will never be imported, and it may hold the person


def forget_address(redis, address: str) -> int:
    """An erased person leaves no trace in imports: every import whose file or preview names the address
    loses both and, if unfinished, is ended with a Russian reason (its uploader uploads the file again).
    Returns how many imports were touched."""
    address = address.strip().lower()
    touched = 0
    for key in redis.scan_iter(match=f"{KEY_PREFIX}*"):
        import_id = key.decode().removeprefix(KEY_PREFIX)
        if ":" in import_id:
            continue  # a claim, not a state
        state = load_state(redis, import_id)
        if not state or "filename" not in state:
            continue
        path = Path(state.get("path") or "")
        if not _names_address(path, state["filename"], state, address):
            continue
        _drop_personal(redis, import_id, path if state.get("path") else None)
        if state.get("status") != "done":
            save_state(redis, import_id, status="failed", error=ERASED_ERROR)
        touched += 1
    return touched


def sweep_uploads(redis, directory: Path, now: float | None = None) -> int:
    """Remove uploaded files no import state names any more (expired after STATE_TTL unused);
    files younger than that are left alone (an upload being stored). Returns how many went."""
    now = time.time() if now is None else now
    removed = 0
    for path in directory.glob("*"):
        if not path.is_file() or now - path.stat().st_mtime < STATE_TTL:
            continue
        if redis.exists(state_key(path.stem)):
            continue
        path.unlink(missing_ok=True)
        removed += 1
    return removed


def run_step(session, redis, import_id: str, step: str) -> dict | None:
    """Preview or commit one stored import and record the outcome in its state.

    The web request calls this for small files, the RQ job for long ones; either way
    the page reads the outcome from the state.
    """
    state = load_state(redis, import_id)
    if state is None:
        raise ImportFileError("Импорт не найден или устарел: загрузите файл ещё раз.")
    options = ImportOptions(**state["options"])
    path, filename = Path(state["path"]), state["filename"]
    progress = _progress_writer(redis, import_id)
    try:
        if step == "preview":
            plan = preview_import(session, path, filename, options, progress)
            save_state(redis, import_id, status="previewed", preview=summarize(plan), error="")
        else:
            options.skip_errors = bool(state.get("skip_errors"))
            result = commit_import(session, path, filename, options, progress)
            save_state(
                redis,
                import_id,
                status="done",
                result={"created": result.created, "duplicates": result.duplicates, "errors": result.errors},
            )
            _finish(redis, import_id, path)
    except ImportHasErrors as exc:
        redis.delete(state_key(import_id) + ":claim")  # the user may fix things and try again
        save_state(
            redis,
            import_id,
            status="previewed",
            preview=summarize(exc.plan),
            error="Пока готовился импорт, данные изменились: в файле есть строки с ошибками. Ничего не записано.",
        )
    except ImportFileError as exc:
        save_state(redis, import_id, status="failed", error=str(exc))
        _finish(redis, import_id, path)
    except Exception:
        save_state(
            redis,
            import_id,
            status="failed",
            error="Импорт прервался из-за внутренней ошибки; ничего не записано. Попробуйте ещё раз или сообщите администратору.",
        )
        _finish(redis, import_id, path)
        raise
    return load_state(redis, import_id)
