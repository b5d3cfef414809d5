"""GET /healthz: 200 when the database and Redis answer, 503 naming what is down."""

from __future__ import annotations

from flask import Blueprint, jsonify
from sqlalchemy import text

from ..db import db
from ..extensions import csrf, limiter, redis_client

bp = Blueprint("health", __name__)


def check_components() -> dict[str, str]:
    status: dict[str, str] = {}
    try:
        db.session.execute(text("SELECT 1"))
        status["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 — any failure means "down"; the reason is shown
        db.session.rollback()
        status["database"] = f"down: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
    try:
        redis_client().ping()
        status["redis"] = "ok"
    except Exception as exc:  # noqa: BLE001
        status["redis"] = f"down: {type(exc).__name__}: {str(exc)[:200]}"
    return status


@bp.get("/healthz")
@csrf.exempt
@limiter.exempt
def healthz():
    status = check_components()
    down = [name for name, state in status.items() if state != "ok"]
    body = {"status": "ok" if not down else "down: " + ", ".join(down), **status}
    return jsonify(body), (503 if down else 200)
