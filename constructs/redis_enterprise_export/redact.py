"""Redaction, in one home: secrets, userinfo and passwords taken out of text before it is
shown, recorded or put in a message.

``scrub`` replaces known secrets in every form a server may echo them in;
``redact_url`` hides a URL's userinfo; ``Redacted`` and ``Hidden`` stand for a config
value in a message.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable
from contextlib import suppress
from functools import lru_cache
from urllib.parse import quote, quote_plus, unquote, unquote_plus, urlsplit


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with each secret replaced by ``***``: as itself, and in the forms a
    server echoes it in (percent-encoded in a URL, escaped in JSON or HTML).

    Exact forms are replaced exactly. Beyond them, any word (a run without
    spaces, such as a URL) that decodes to text holding a secret is replaced
    whole: encoders differ in which characters they escape. Secrets shorter than
    MIN_SECRET characters are left: they would blank out ordinary words.

    Call it on the whole text, before it is put on one line or cut short: either
    could leave part of a secret that no longer matches.
    """
    secrets = tuple(secrets)
    for form in _forms(secrets):
        text = text.replace(form, "***")
    wanted = [secret for secret in secrets if len(secret) >= MIN_SECRET]
    if wanted and any(mark in text for mark in _MARKS):
        text = _WORD.sub(lambda word: "***" if _hides(word.group(), wanted) else word.group(), text)
    return text


MIN_SECRET = 4
_WORD = re.compile(r"\S+")


def _hides(word: str, secrets: list[str]) -> bool:
    """Whether ``word``, percent-, plus-, HTML- or JSON-decoded, in any mix of them up to
    DECODE_ROUNDS deep (a proxy may encode what it echoes once more), holds one of
    ``secrets``."""
    seen = layer = {word}
    for _ in range(DECODE_ROUNDS):
        layer = {text for encoded in layer for text in _decodings(encoded)} - seen
        if any(secret in text for text in layer for secret in secrets):
            return True
        seen = seen | layer
        layer = {text for text in layer if any(mark in text for mark in _MARKS)}
        if not layer:
            return False
    return False


# Deep enough for a secret encoded by each of three layers (client, proxy, error page) and
# escaped once more; bounded, so a hostile answer of nested escapes costs little.
DECODE_ROUNDS = 4
_MARKS = "%&+\\"
# surrogateescape: a secret from undecodable environment bytes is those bytes.
_UTF8 = {"encoding": "utf-8", "errors": "surrogateescape"}


def _decodings(word: str) -> set[str]:
    """``word`` decoded one step in each of the ways a server may have encoded it."""
    decoded = {unquote(word, **_UTF8), unquote_plus(word, **_UTF8), html.unescape(word)}
    with suppress(ValueError):  # not a JSON string's inside
        decoded.add(json.loads(f'"{word}"'))
    return decoded


@lru_cache(maxsize=8)  # one client scrubs every string of an answer with the same secrets
def _forms(secrets: tuple[str, ...]) -> tuple[str, ...]:
    forms: set[str] = set()
    for secret in secrets:
        if len(secret) < MIN_SECRET:
            continue
        encoded = {
            quote(secret, safe="", **_UTF8),
            quote(secret, **_UTF8),
            quote_plus(secret, **_UTF8),
        }
        # Percent-encoding's hex digits come in either case.
        encoded |= {re.sub("%[0-9A-F]{2}", lambda m: m.group().lower(), e) for e in encoded}
        escaped = {json.dumps(secret, ensure_ascii=a)[1:-1] for a in (True, False)}
        escaped |= {html.escape(secret, quote=q) for q in (True, False)}
        forms |= {secret} | encoded | escaped
    # Longest first: a secret inside another is not left half-replaced.
    return tuple(sorted(forms, key=len, reverse=True))


# Everything before the text's last "@" may be userinfo, however the URL is misspelt
# (ftp:/u:PW@h, u:PW@h, a "/" or "@" inside the password): all of it is hidden.
_USERINFO = re.compile(r"\A([A-Za-z][A-Za-z0-9+.-]*:/{0,2})?.*@", re.DOTALL)


def redact_url(url: str) -> str:
    """Return ``url`` with its userinfo (user and password) replaced by ``***``.

    Works on any text, also text that ``urlsplit`` rejects.
    """
    return _USERINFO.sub(lambda m: f"{m.group(1) or ''}***@", url, count=1)


class Redacted:
    """Any config value as a message shows it: userinfo in its text hidden."""

    def __init__(self, value: object) -> None:
        self.text = repr(redact_url(value)) if isinstance(value, str) else redact_url(repr(value))

    def __repr__(self) -> str:
        return self.text


def hidden(value: object) -> object:
    """A value for a message: a non-name given where a name belongs may be a secret."""
    if isinstance(value, str):
        return Hidden(f"a value not shown, {len(value)} characters")
    return Hidden(f"a value not shown, of type {type(value).__name__}")


class Hidden:
    """Stands in a message for a value that must not be shown."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return f"<{self.text}>"


def url_shown(url: str) -> str:
    """A URL a server sent (a redirect's Location), without user and password, on one
    line and bounded: safe to show."""
    try:
        parts = urlsplit(url)
        if parts.username is not None or parts.password is not None:
            url = parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()
    except ValueError:
        return "(an unreadable URL)"
    return clipped(url, 200)


# user:password@ in any URL of a text: the password goes, the user stays.
_URL_PASSWORD = re.compile(r"(://[^/@:\s]*):[^/@\s]*@")
# password=... in a connection string's key=value form, should a tool quote one.
_PASSWORD_SETTING = re.compile(r"(password\s*=\s*)\S+", re.IGNORECASE)


def hide_passwords(text: str) -> str:
    """``text`` with every URL's password and every ``password=`` setting replaced by ``***``."""
    return _PASSWORD_SETTING.sub(r"\1***", _URL_PASSWORD.sub(r"\1:***@", text))


def clipped(text: str, limit: int) -> str:
    """``text`` on one line (whitespace runs made one space), at most ``limit`` characters."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# What a user name looks like: RS users are emails, or plain names (LDAP, "admin").
_EMAIL = re.compile(r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+\Z")
_PLAIN_NAME = re.compile(r"[a-z][a-z0-9._-]{0,63}\Z")


def user_shown(user: str) -> str:
    """A user name as a message shows it: whole (quoted) if it looks like one, else only
    its first 2 characters and its length, as it may be a password put in its place
    (the user and password variables swapped)."""
    if _EMAIL.match(user) or _PLAIN_NAME.match(user):
        return repr(user)
    start = user[:2] if len(user) >= 8 else ""
    return f"{start!r}… ({len(user)} characters, not shown whole: not like a user name)"
