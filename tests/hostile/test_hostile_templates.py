"""Offer templates that try to eat the server: every render runs on a budget (arguments,
output size, iterations, time), in preview, lint, test send and the workers, and a template
over budget is refused when it is saved (#12 item 4)."""

from __future__ import annotations

import time
from html import unescape

import pytest
from hostile import CYRILLIC, footprint

from campaigns import template_budget, template_sandbox
from campaigns.models import Offer, OfferStatus

GOOD_BODY = "{{ greeting }}\n\n{{ advisor.signature }}\n\nОтписаться: {{ unsubscribe_url }}"
HOSTILE = {
    "center": "{{ 'a'|center(30000000) }}",
    "str.format width": "{{ '{:>30000000}'.format('a') }}",
    "nested format width": "{{ '{0:{1}}'.format('a', 30000000) }}",
    "percent filter": "{{ '%030000000d'|format(1) }}",
    "percent star": "{{ '%*d'|format(30000000, 1) }}",
    "percent operator": "{{ '%030000000d' % 1 }}",
    "ljust": "{{ 'x'.ljust(1000000000) }}",
    "replace chain": "{{ ('x' * 10000)|replace('x', 'y' * 1000)|replace('y', 'zz') }}",
    "indent chain": "{{ ('x\\n' * 5000)|indent(1000)|indent(1000) }}",
    "join": "{{ range(100000)|join('x' * 1000) }}",
    "str.join": "{{ ('x' * 10000).join(['a'] * 10000) }}",
    "batch": "{{ [1]|batch(100000000, 'x')|list }}",
    "list repeat": "{{ [1, 2, 3] * 100000000 }}",
    "string plus": "{% macro d(s, n) %}{% if n %}{{ d(s + s, n - 1) }}{% endif %}{% endmacro %}{{ d('x', 40) }}",
    "string concat": "{% macro d(s, n) %}{% if n %}{{ d(s ~ s, n - 1) }}{% endif %}{% endmacro %}{{ d('x', 40) }}",
    "nested ranges": "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
    "nested strings": "{% set s = 'x' * 10000 %}{% for a in s %}{% for b in s %}{% endfor %}{% endfor %}",
    "long output": "{% for i in range(50000) %}{{ 'x' * 100 }}{% endfor %}",
    "exponential macro": "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(60) }}",
}


@pytest.fixture
def quick_clock(monkeypatch):
    # The wall-clock limit, made short so the suite stays fast; the step budget is untouched.
    monkeypatch.setattr(template_budget, "_MAX_SECONDS", 0.3)


def _variables():
    return template_sandbox.sample_variables(None)


@pytest.mark.parametrize("case", list(HOSTILE))
def test_a_hostile_template_is_stopped_quickly_in_russian(quick_clock, case):
    start = time.monotonic()
    with pytest.raises(template_sandbox.OfferBudgetError) as stopped:
        template_sandbox._render(HOSTILE[case], _variables(), "Текст")
    assert time.monotonic() - start < 2
    assert CYRILLIC.search(str(stopped.value))


@pytest.mark.parametrize("case", list(HOSTILE))
def test_a_hostile_template_is_refused_when_saved(quick_clock, case):
    assert "слишком" in (template_sandbox.check_template(HOSTILE[case]) or "")


def test_the_budget_holds_in_the_subject_too(quick_clock):
    offer = Offer(subject=HOSTILE["center"], body=GOOD_BODY)
    with pytest.raises(template_sandbox.OfferBudgetError, match="Тема"):
        template_sandbox.render_offer(offer, _variables())


def test_ordinary_templates_still_render():
    source = (
        "{{ greeting }} {% for i in range(3) %}{{ i }}{% endfor %} {{ 'abc'|center(9) }} {{ '%05d'|format(7) }} "
        "{{ '{:>4}'.format('x') }} {{ ['a', 'b']|join(', ') }} {{ 'a b'|replace(' ', '-') }} {{ 'x\\ny'|indent(2) }}"
    )
    assert template_sandbox.check_template(source) is None
    out = template_sandbox._render(source, _variables(), "Текст")
    assert out == "Здравствуйте, Василий Иванович! 012    abc    00007    x a, b a-b x\n  y"


def test_an_unsaved_template_over_budget_is_not_saved(app, client, factory, session, world, quick_clock):
    client.login(world.marketing)
    before = footprint()
    response = client.post_form(
        f"/offers/{world.offer_id}", {"subject": "Подарки", "body": HOSTILE["nested ranges"], "links-0-name": ""}
    )
    assert response.status_code == 422
    assert "Шаблон слишком тяжёлый" in unescape(response.get_data(as_text=True))
    assert footprint() == before
    session.expire_all()
    assert "range" not in session.get(Offer, world.offer_id).body


@pytest.fixture
def stored_hostile_offer(session, world):
    # As if saved before the budget existed: every render must still be bounded.
    offer = session.get(Offer, world.offer_id)
    offer.body = HOSTILE["exponential macro"] + GOOD_BODY
    offer.status = OfferStatus.READY
    session.commit()
    return offer


def _budget_stopped(response) -> bool:
    # The step budget or the clock, whichever a machine of that speed reaches first.
    page = unescape(response.get_data(as_text=True))
    return "выполняется дольше" in page or "слишком много повторений" in page


def test_preview_lint_and_test_send_stop_a_stored_template(app, client, world, stored_hostile_offer, quick_clock):
    client.login(world.marketing)
    start = time.monotonic()
    preview = client.get(f"/offers/{world.offer_id}/preview?contact_id={world.contact_id}")
    assert preview.status_code == 200 and _budget_stopped(preview)
    editor = client.get(f"/offers/{world.offer_id}")
    assert editor.status_code == 200 and _budget_stopped(editor)
    sent = client.post_form(f"/offers/{world.offer_id}/test-send", {"contact_id": str(world.contact_id)})
    assert sent.status_code == 302
    assert _budget_stopped(client.get(sent.headers["Location"]))
    assert time.monotonic() - start < 10


def test_a_worker_composing_a_stored_template_stops_on_the_budget(app, session, world, stored_hostile_offer, quick_clock):
    from campaigns import compose
    from campaigns.models import Contact
    from campaigns.sender import sender_for

    contact = session.get(Contact, world.contact_id)
    with pytest.raises(template_sandbox.OfferBudgetError):
        compose.build_offer_message(
            offer=stored_hostile_offer,
            contact=contact,
            advisor=sender_for(session, contact),
            settings=app.config["SETTINGS"],
            delivery_id=None,
        )
