"""The password policy: a domain rule over a strength port, with messages that say what to do."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from libdib.adapters.passwords import ZxcvbnPasswordStrength
from libdib.domain.identity import USERNAME_PATTERN
from libdib.domain.ports import PasswordStrength
from libdib.domain.users import (
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    WeakPassword,
    check_password,
)


class FixedStrength(PasswordStrength):
    """A strength estimator with a fixed verdict, so the policy's own rules are what is tested."""

    def __init__(self, score: int, advice: str = "") -> None:
        self.score, self.advice = score, advice
        self.seen: list[tuple[str, list[str]]] = []

    def estimate(self, password: str, user_inputs: Sequence[str]) -> tuple[int, str]:
        self.seen.append((password, list(user_inputs)))
        return self.score, self.advice


usernames = st.from_regex(USERNAME_PATTERN, fullmatch=True)
STRONG = FixedStrength(4)


@given(username=usernames, password=st.text(max_size=MIN_PASSWORD_LENGTH - 1))
def test_short_passwords_are_refused_with_the_length_used(username: str, password: str) -> None:
    with pytest.raises(WeakPassword) as refused:
        check_password(username, password, STRONG)

    assert str(refused.value) == f"password: use at least 12 characters (you used {len(password)})"


@given(username=usernames, password=st.text(min_size=MAX_PASSWORD_LENGTH + 1, max_size=400))
def test_long_passwords_are_refused(username: str, password: str) -> None:
    with pytest.raises(WeakPassword, match=r"^password: use at most 128 characters"):
        check_password(username, password, STRONG)


@given(
    username=usernames,
    before=st.text(max_size=40),
    after=st.text(min_size=MIN_PASSWORD_LENGTH, max_size=30),
    swap=st.booleans(),
)
def test_a_password_containing_the_username_in_any_case_is_refused(
    username: str, before: str, after: str, swap: bool
) -> None:
    password = before + (username.swapcase() if swap else username) + after

    with pytest.raises(WeakPassword, match=r"^password: must not contain your username"):
        check_password(username, password, STRONG)


@given(username=usernames, password=st.text(min_size=MIN_PASSWORD_LENGTH, max_size=MAX_PASSWORD_LENGTH))
def test_any_long_enough_password_without_the_username_passes_when_strong(username: str, password: str) -> None:
    assume(username.lower() not in password.lower())

    assert check_password(username, password, FixedStrength(3)) == password


def test_a_guessable_password_is_refused_with_the_estimators_advice() -> None:
    strength = FixedStrength(2, "Avoid dates and years.")

    with pytest.raises(WeakPassword) as refused:
        check_password("ada", "summer-of-2024", strength)

    assert str(refused.value) == (
        "password: too easy to guess — add another word or two; avoid common phrases (Avoid dates and years.)"
    )
    assert strength.seen == [("summer-of-2024", ["ada"])]


@pytest.mark.parametrize("password", ["password1234", "qwertyuiop123", "aaaaaaaaaaaaaaaa", "lovelace1815"])
def test_zxcvbn_refuses_common_passwords(password: str) -> None:
    with pytest.raises(WeakPassword, match=r"^password: too easy to guess"):
        check_password("ada", password, ZxcvbnPasswordStrength())


def test_zxcvbn_counts_the_username_as_guessable() -> None:
    score_without, _ = ZxcvbnPasswordStrength().estimate("zebulon-quaffs", [])
    score_with, _ = ZxcvbnPasswordStrength().estimate("zebulon-quaffs", ["zebulon"])

    assert score_with < score_without


@pytest.mark.parametrize("password", ["quartz-lantern-migrates-slowly", "velvet-harbor-sings-quietly", "T4x!k9#Pq2@z"])
def test_zxcvbn_accepts_strong_passwords(password: str) -> None:
    assert check_password("ada", password, ZxcvbnPasswordStrength()) == password


def test_zxcvbn_advice_is_plain_text() -> None:
    score, advice = ZxcvbnPasswordStrength().estimate("password1234", ["ada"])

    assert score < 3
    assert advice == "This is a very common password. Add another word or two. Uncommon words are better."


def test_zxcvbn_judges_passwords_up_to_the_longest_allowed() -> None:
    password = "correct horse battery staple, " * 4 + "zebulon"

    assert len(password) == MAX_PASSWORD_LENGTH - 1
    assert check_password("ada", password, ZxcvbnPasswordStrength()) == password


def test_zxcvbn_is_given_at_most_the_longest_allowed_password() -> None:
    score, _ = ZxcvbnPasswordStrength().estimate("a1b2c3d4" * 10_000, [])

    assert 0 <= score <= 4
