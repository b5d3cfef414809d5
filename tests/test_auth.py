"""Log-in with e-mail and password; CSRF on forms; rate-limited attempts."""

from __future__ import annotations

from tests.support import PASSWORD


def test_it_logs_in_with_the_right_password(client, factory, session):
    user = factory.advisor(email="anna@studio.example.com")
    session.commit()
    response = client.login(user)
    assert response.headers["Location"] == "/"
    assert "Здравствуйте, " + user.name in client.get("/").get_data(as_text=True)


def test_it_refuses_a_wrong_password_with_a_message_beside_the_field(client, factory, session):
    user = factory.advisor()
    session.commit()
    token = client.csrf_token()
    response = client.post("/login", data={"email": user.email, "password": "nope", "csrf_token": token})
    assert response.status_code == 200
    assert "Неверный адрес или пароль" in response.get_data(as_text=True)
    assert client.get("/").status_code == 302


def test_it_refuses_a_deactivated_user(client, factory, session):
    user = factory.advisor(active=False)
    session.commit()
    token = client.csrf_token()
    response = client.post("/login", data={"email": user.email, "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 200


def test_a_form_without_csrf_token_is_refused(client, factory, session):
    user = factory.advisor()
    session.commit()
    response = client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 400


def test_log_in_attempts_are_rate_limited(client, factory, session):
    user = factory.advisor()
    session.commit()
    token = client.csrf_token()
    codes = [
        client.post("/login", data={"email": user.email, "password": "wrong", "csrf_token": token}).status_code for _ in range(12)
    ]
    assert codes[:10] == [200] * 10
    assert codes[10:] == [429, 429]


def test_it_never_redirects_off_site_after_log_in(client, factory, session):
    user = factory.advisor()
    session.commit()
    token = client.csrf_token()
    response = client.post(
        "/login?next=//evil.example.com/x", data={"email": user.email, "password": PASSWORD, "csrf_token": token}
    )
    assert response.headers["Location"] == "/"
