"""GET /healthz checks the database and Redis."""

from __future__ import annotations

from redis import Redis


def test_it_answers_200_when_everything_is_up(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "database": "ok", "redis": "ok"}


def test_it_answers_503_naming_redis_when_redis_is_down(app, client):
    good = app.extensions["campaigns_redis"]
    app.extensions["campaigns_redis"] = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    try:
        response = client.get("/healthz")
    finally:
        app.extensions["campaigns_redis"] = good
    assert response.status_code == 503
    assert response.json["status"] == "down: redis"
    assert response.json["database"] == "ok"
    assert response.json["redis"].startswith("down:")
