"""The admin's login (docs/security.md, "Admin"): failed logins lock out a username from an
address (django-axes, in the database), and passwords must pass Django's validators."""

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.test import Client

PASSWORD = "correct-horse-battery-staple-9"


@pytest.fixture
def admin_user(db):
    return get_user_model().objects.create_superuser("boss", "boss@localhost", PASSWORD)


def log_in(client: Client, username: str, password: str, address: str = "127.0.0.1"):
    return client.post(
        "/admin/login/?next=/admin/",
        {"username": username, "password": password},
        REMOTE_ADDR=address,
    )


def test_a_right_password_logs_in(admin_user):
    client = Client()
    assert log_in(client, "boss", PASSWORD).status_code == 302
    assert client.get("/admin/").status_code == 200


def test_after_too_many_failures_even_the_right_password_is_refused(admin_user):
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert log_in(client, "boss", "wrong").status_code == 200  # the form again
    locked = log_in(client, "boss", "wrong")
    assert locked.status_code == 429
    assert log_in(Client(), "boss", PASSWORD).status_code == 429
    # Another address (another admin) and another username are not locked out.
    assert log_in(Client(), "boss", PASSWORD, address="127.0.0.2").status_code == 302
    get_user_model().objects.create_superuser("other", "other@localhost", PASSWORD)
    assert log_in(Client(), "other", PASSWORD).status_code == 302


def test_a_success_resets_the_count(admin_user):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        log_in(Client(), "boss", "wrong")
    assert log_in(Client(), "boss", PASSWORD).status_code == 302
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        log_in(Client(), "boss", "wrong")
    assert log_in(Client(), "boss", PASSWORD).status_code == 302


@pytest.mark.parametrize(
    "password",
    ["short-1a", "password1234", "12345678901234", "boss@localhost", "boss@localhost1"],
)
def test_weak_admin_passwords_are_refused(password):
    user = get_user_model()(username="boss", email="boss@localhost")
    with pytest.raises(ValidationError):
        validate_password(password, user)


def test_a_long_random_password_passes():
    validate_password("Vh3q-XmNw_b7TzR9", get_user_model()(username="boss"))
