"""One import's state in Redis (file, options, preview, progress, result) and the step that runs it.

The web request runs a step for small files, the RQ job (tasks.import_contacts) for long ones;
either way the page reads the outcome from the state.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from .import_check import NEW, ImportOptions, Plan, Progress, preview_import
from .import_commit import ImportHasErrors, commit_import
from .import_read import ImportFileError

STATE_TTL = 2 * 24 * 3600


def state_key(import_id: str) -> str:
    return f"campaigns:import:{import_id}"


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
    except Exception:
        save_state(
            redis,
            import_id,
            status="failed",
            error="Импорт прервался из-за внутренней ошибки; ничего не записано. Попробуйте ещё раз или сообщите администратору.",
        )
        raise
    return load_state(redis, import_id)
