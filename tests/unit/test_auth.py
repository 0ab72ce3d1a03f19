import pytest

from tutorbook_gateway.auth import KeyRing, Role, authenticate, bearer_token, key_fingerprint
from tutorbook_service.errors import UnauthorizedError

KEYS = KeyRing(api_keys=frozenset({"user-1"}), admin_keys=frozenset({"admin-1"}))


@pytest.mark.parametrize(
    ("header", "token"),
    [("Bearer abc", "abc"), ("bearer  abc ", "abc"), ("Basic abc", None), ("Bearer ", None), (None, None), ("", None)],
)
def test_bearer_token(header: str | None, token: str | None) -> None:
    assert bearer_token(header) == token


def test_roles() -> None:
    user, admin = authenticate("Bearer user-1", KEYS), authenticate("Bearer admin-1", KEYS)
    assert (user.role, admin.role) == (Role.USER, Role.ADMIN)
    assert user.fingerprint == key_fingerprint("user-1") and "user-1" not in user.fingerprint


@pytest.mark.parametrize("header", [None, "Bearer nope", "Token user-1"])
def test_missing_or_wrong_keys_are_refused(header: str | None) -> None:
    with pytest.raises(UnauthorizedError):
        authenticate(header, KEYS)


def test_no_configured_keys_refuses_everyone() -> None:
    with pytest.raises(UnauthorizedError):
        authenticate("Bearer anything", KeyRing(frozenset(), frozenset()))
