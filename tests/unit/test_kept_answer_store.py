"""The store behind kept answers: one data version at a time, and nothing made while the version moved."""

from __future__ import annotations

from libdib.entrypoints.http.answers import Answer, KeptAnswerStore, Key

KEY: Key = ("/records/1", (), b"application/json")
ANSWER = Answer(200, ((b"etag", b'"1-0"'),), b"{}")


def test_meeting_a_new_version_forgets_every_answer_of_the_old_one() -> None:
    store = KeptAnswerStore()
    assert store.get(KEY, "1") is None
    store.keep(KEY, "1", ANSWER)
    assert store.get(KEY, "1") == ANSWER

    assert store.get(KEY, "2") is None
    assert store.get(KEY, "1") is None, "going back to an old version finds nothing either"


def test_an_answer_made_while_the_version_moved_is_not_kept() -> None:
    store = KeptAnswerStore()
    store.get(KEY, "1")
    store.get(("/records/2", (), b""), "2")  # another request met the new version meanwhile

    store.keep(KEY, "1", ANSWER)

    assert store.get(KEY, "2") is None


def test_the_bound_holds_for_all_answers_together_least_recently_used_out_first() -> None:
    store = KeptAnswerStore(capacity=2 * (len(ANSWER.body) + 1))
    keys: list[Key] = [(f"/records/{n}", (), b"") for n in range(3)]
    store.get(keys[0], "1")
    for key in keys:
        store.keep(key, "1", ANSWER)

    assert [store.get(key, "1") is not None for key in keys] == [False, True, True]
