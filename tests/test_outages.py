"""Faults with real processes: a flusher killed mid-batch, Redis stopped and flushed, the database gone."""
from __future__ import annotations

import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from campaigns import clicks
from campaigns.config import ROOT
from campaigns.extensions import redis_client
from campaigns.models import Click, Delivery, DeliveryStatus, Link
from tests.conftest import process_env

pytestmark = pytest.mark.slow

FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:130.0) Gecko/20100101 Firefox/130.0"

# A flush in its own process that is killed (SIGKILL, no clean-up) at the given point.
KILLED_FLUSH = """
import os, signal, sys
from campaigns import clicks, tasks

def die(original):
    def wrapper(*args, **kwargs):
        result = original(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGKILL)
        return result
    return wrapper

if sys.argv[1] == "before-commit":  # the batch is written, not committed
    clicks._write = die(clicks._write)
else:  # committed, the processing list not yet dropped
    clicks._done = lambda redis, unripe: os.kill(os.getpid(), signal.SIGKILL)
tasks.flush_clicks()
"""


def _sent_mail(session, factory):
    offer = factory.offer()
    link = Link(offer=offer, name="catalog", url="https://gifts.example.com/catalog", label="Каталог", weight=1)
    session.add(link)
    delivery = Delivery(offer=offer, contact=factory.contact(), send_on=datetime.now(UTC).date(),
                        status=DeliveryStatus.SENT, sent_at=datetime.now(UTC) - timedelta(days=1))
    session.add(delivery)
    session.commit()
    return delivery, link


@pytest.mark.parametrize("moment", ["before-commit", "after-commit"])
def test_a_flusher_killed_mid_batch_loses_and_doubles_no_click(session, factory, settings, moment):
    delivery, link = _sent_mail(session, factory)
    start = time.time() - 120
    for n in range(30):
        clicks.record_click(redis_client(), delivery.id, link.id, method="GET", ip="95.165.10.20", user_agent=FIREFOX,
                            at=start + n)

    proc = subprocess.run([sys.executable, "-c", KILLED_FLUSH, moment], cwd=ROOT, env=process_env(settings),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    redis_client().delete(clicks.FLUSH_LOCK_KEY)  # what the lock's expiry does for a dead flusher
    session.rollback()

    clicks.flush_clicks(session, redis_client())

    moments = session.scalars(select(Click.clicked_at).where(Click.delivery_id == delivery.id)).all()
    assert len(moments) == 30 and len(set(moments)) == 30
    assert redis_client().llen(clicks.QUEUE_KEY) == 0 and redis_client().llen(clicks.PROCESSING_KEY) == 0
