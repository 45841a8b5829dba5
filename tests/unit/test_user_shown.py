"""A user name is shown whole only when it looks like one: a password in its place is not."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from redis_enterprise_export.redact import user_shown
from redis_enterprise_export.rs.failures import refusal

SWAPPED = "Xk9#pQ2!zzT7"  # a password in the user variable


@given(st.text(min_size=3).filter(lambda s: not s.islower() or not s.isalnum()))
def test_a_user_that_looks_like_no_name_shows_at_most_its_first_two_characters(user: str) -> None:
    """Whatever the text, unless it looks like an email or a plain name, no more than its
    first two characters and its length are shown."""
    shown = user_shown(user)
    if shown == repr(user):  # looked like a name
        assert "@" in user or user[0].islower()
        return
    assert user not in shown
    assert f"({len(user)} characters" in shown


@given(
    st.from_regex(r"[a-z0-9._+-]{1,20}@[a-z0-9-]{1,20}\.[a-z]{2,6}", fullmatch=True)
    | st.from_regex(r"[a-z][a-z0-9._-]{0,20}", fullmatch=True)
)
def test_emails_and_plain_names_are_shown_whole(user: str) -> None:
    """RS users are emails (or plain names, such as LDAP's): those are shown whole, quoted."""
    assert user_shown(user) == repr(user)


def test_a_401_with_swapped_variables_does_not_print_the_password_as_the_user() -> None:
    """The 401 and 403 hints name the user as shown: a swapped password only in part."""
    for status in (401, 403):
        text = str(refusal(status, {}, "GET", "/v1/bdbs", user=SWAPPED, permission="view"))
        assert SWAPPED not in text
        assert "'Xk'… (12 characters" in text
    text = str(refusal(401, {}, "GET", "/v1/bdbs", user="ops@example.com", permission="view"))
    assert "user 'ops@example.com';" in text
