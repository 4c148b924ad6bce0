"""Each drift signal fires right after a known change, never before, and stays quiet when nothing moves."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest

from distillery.errors import ConfigError
from monitors.signals import (
    Agreement,
    CategoryMix,
    CharClassShare,
    Confidence,
    DeadLetterRate,
    InputLength,
    Signal,
    TeacherRejection,
    UnseenTokenShare,
    char_class_shares,
    tokens,
    vocabulary_of,
)

CHANGE = 20_000
WORDS = [f"shop{c}{d}" for c in "abcdefghij" for d in "klmnopqrst"]
NEW_WORDS = [f"brand{c}{d}" for c in "abcdefghij" for d in "klmnopqrst"]
CATS = [f"cat{i:02d}" for i in range(43)]
ZIPF = [1.0 / (i + 1) for i in range(43)]


def _merchant(rng: random.Random, *, n_words: tuple[int, int] = (1, 3), digits: tuple[int, int] = (2, 4),
              title: float = 0.0, prefix: float = 0.3, new: float = 0.0) -> str:
    parts = ["SQ *"] if rng.random() < prefix else []
    parts += [rng.choice(NEW_WORDS if rng.random() < new else WORDS).upper() for _ in range(rng.randint(*n_words))]
    parts.append("#" + "".join(rng.choice("0123456789") for _ in range(rng.randint(*digits))))
    text = " ".join(parts)
    return text.title() if rng.random() < title else text


def _texts(seed: int, n: int, **shift: Any) -> list[str]:
    rng = random.Random(seed)
    return [_merchant(rng) for _ in range(CHANGE)] + [_merchant(rng, **shift) for _ in range(n - CHANGE)]


def _bits(seed: int, p0: float, p1: float, n: int) -> list[bool]:
    rng = random.Random(seed)
    return [rng.random() < (p0 if i < CHANGE else p1) for i in range(n)]


def _share(i: int) -> Callable[[Signal, str], bool]:
    return lambda s, t: s.update(char_class_shares(t)[i])


def _update(s: Signal, x: Any) -> bool:
    return s.update(x)


def _observe(s: Signal, x: Any) -> bool:
    assert isinstance(s, UnseenTokenShare)
    return s.observe(x)


def _with_vocab() -> UnseenTokenShare:
    # the training window knew 90 of the 100 merchants, and the "SQ" prefix
    return UnseenTokenShare(vocabulary_of([" ".join(WORDS[:90]), "SQ"]))


def _cats(seed: int, moved: int, n: int) -> list[str]:
    rng = random.Random(seed)
    after = [w * 0.8 / sum(ZIPF) for w in ZIPF]
    after[moved] += 0.2
    return rng.choices(CATS, ZIPF, k=CHANGE) + rng.choices(CATS, after, k=n - CHANGE)


# name, factory, stream, feed, exact firing index, aim (max delay)
CASES: list[tuple[str, Callable[[], Signal], Callable[[], list[Any]], Callable[[Signal, Any], bool], int, int]] = [
    ("input_length", InputLength, lambda: [len(t) for t in _texts(1, 24_000, n_words=(2, 4))], _update, 20479, 1500),
    ("digit_share", lambda: CharClassShare("digit"), lambda: _texts(2, 24_000, digits=(4, 6)), _share(0), 20191, 1000),
    ("upper_share", lambda: CharClassShare("upper"), lambda: _texts(3, 24_000, title=0.15), _share(1), 20191, 1000),
    ("punct_share", lambda: CharClassShare("punct"), lambda: _texts(4, 24_000, prefix=0.9), _share(2), 20639, 1000),
    ("unseen_token_share", _with_vocab, lambda: _texts(5, 24_000, new=0.2), _observe, 20159, 1000),
    ("category_mix rare +0.2", CategoryMix, lambda: _cats(6, 42, 23_000), _update, 20273, 1000),
    ("category_mix largest -0.2", CategoryMix, lambda: _cats(7, 0, 23_000)[:CHANGE] + _big_down(7), _update,
     20399, 1000),
    ("confidence", Confidence, lambda: _betas(8), _update, 20319, 1000),
    ("agreement", Agreement, lambda: _bits(9, 0.95, 0.85, 24_000), _update, 20447, 1500),
    ("teacher_rejection", TeacherRejection, lambda: _bits(10, 0.05, 0.15, 24_000), _update, 20415, 1500),
    ("dead_letter", DeadLetterRate, lambda: _bits(11, 0.01, 0.05, 24_000), _update, 20543, 2000),
]


def _big_down(seed: int) -> list[str]:
    rng = random.Random(seed + 100)
    total = sum(ZIPF)
    p0 = ZIPF[0] / total
    after = [w / total * (1 - (p0 - 0.2)) / (1 - p0) for w in ZIPF]
    after[0] = p0 - 0.2
    return rng.choices(CATS, after, k=3000)


def _betas(seed: int) -> list[float]:
    rng = random.Random(seed)
    return [rng.betavariate(9, 1) if i < CHANGE else rng.betavariate(17 / 3, 1) for i in range(24_000)]


@pytest.mark.parametrize(("name", "make", "stream", "feed", "index", "aim"), CASES, ids=[c[0] for c in CASES])
def test_signal_fires_once_after_the_change_and_not_before(
    name: str, make: Callable[[], Signal], stream: Callable[[], list[Any]],
    feed: Callable[[Signal, Any], bool], index: int, aim: int,
) -> None:
    signal = make()
    fired = [i for i, x in enumerate(stream()) if feed(signal, x)]
    assert fired == [index], name
    assert CHANGE <= index < CHANGE + aim
    assert signal.last_change is not None and signal.last_change.at == index + 1


@pytest.mark.parametrize(("name", "make", "stream", "feed", "index", "aim"), CASES, ids=[c[0] for c in CASES])
def test_signal_reports_the_move_in_the_right_direction(
    name: str, make: Callable[[], Signal], stream: Callable[[], list[Any]],
    feed: Callable[[Signal, Any], bool], index: int, aim: int,
) -> None:
    signal = make()
    values = stream()
    for x in values[: index + 1]:
        feed(signal, x)
    change = signal.last_change
    assert change is not None and change.before is not None and change.after is not None
    went_up = change.after > change.before
    expected_up = name not in {"upper_share", "confidence", "agreement"}
    assert went_up == expected_up, (name, change)


STATIONARY = 100_000


@pytest.mark.parametrize(
    ("make", "stream", "feed"),
    [
        (InputLength, lambda: [len(_merchant(r)) for r in [random.Random(21)] for _ in range(STATIONARY)], _update),
        (lambda: CharClassShare("digit"), lambda: _stationary_texts(22), _share(0)),
        (lambda: CharClassShare("upper"), lambda: _stationary_texts(23), _share(1)),
        (lambda: CharClassShare("punct"), lambda: _stationary_texts(24), _share(2)),
        (_with_vocab, lambda: _stationary_texts(25), _observe),
        (CategoryMix, lambda: random.Random(26).choices(CATS, ZIPF, k=STATIONARY * 3), _update),
        (Confidence, lambda: [random.Random(27).betavariate(9, 1) for _ in range(STATIONARY)], _update),
        (Agreement, lambda: _bits(28, 0.95, 0.95, STATIONARY * 3), _update),
        (TeacherRejection, lambda: _bits(29, 0.05, 0.05, STATIONARY * 3), _update),
        (DeadLetterRate, lambda: _bits(30, 0.01, 0.01, STATIONARY * 3), _update),
    ],
    ids=["input_length", "digit", "upper", "punct", "unseen", "category_mix", "confidence", "agreement",
         "rejection", "dead_letter"],
)
def test_no_firing_on_a_long_stationary_stream(
    make: Callable[[], Signal], stream: Callable[[], list[Any]], feed: Callable[[Signal, Any], bool]
) -> None:
    signal = make()
    values = stream()
    assert [i for i, x in enumerate(values) if feed(signal, x)] == []
    assert signal.events_seen == len(values)


def _stationary_texts(seed: int) -> list[str]:
    rng = random.Random(seed)
    return [_merchant(rng) for _ in range(STATIONARY)]


def test_estimates_are_in_the_signals_units() -> None:
    length = InputLength()
    for n in (20, 20, 20, 20):
        length.update(n)
    assert length.estimate == pytest.approx(20.0)
    assert Agreement().estimate is None
    mix = CategoryMix(window=10)
    mix.set_reference({"a": 10**6, "b": 10**6})
    for c in ["a", "b"] * 15:
        mix.update(c)
    assert mix.estimate == pytest.approx(0.0, abs=1e-6)


def test_char_class_shares_handles_unicode_like_ascii() -> None:
    assert char_class_shares("AB1!") == (0.25, 0.5, 0.25)
    assert char_class_shares("ÉB1¡") == (0.25, 0.5, 0.25)
    assert char_class_shares("") == (0.0, 0.0, 0.0)


def test_tokens_are_letter_runs() -> None:
    assert tokens("SQ *Café 12 O'Neil") == ["sq", "café", "o", "neil"]


def test_unseen_share_waits_for_a_vocabulary_and_restarts_on_a_new_one() -> None:
    signal = UnseenTokenShare()
    assert signal.observe("NEW SHOP") is False and signal.events_seen == 0
    signal.set_vocabulary({"new"})
    assert signal.unseen_share("NEW SHOP 42") == 0.5
    signal.observe("NEW SHOP")
    signal.set_vocabulary({"new", "shop"})
    assert signal.events_seen == 1 and signal.estimate is None
    assert signal.unseen_share("123") is None


def test_category_mix_pools_categories_past_its_limit() -> None:
    mix = CategoryMix(window=10, warmup_min=6, warmup_per_category=1, max_categories=3)
    for c in ["a", "b", "c"] * 3:
        mix.update(c)
    assert mix.reference_source == "warm-up" and mix.reference == {"a": 2.0, "b": 2.0, "c": 2.0}
    mix.update("zzz")
    assert mix._windows is not None and mix._windows.counts == {"a": 1, "b": 1, "c": 1, "__other__": 1}


@pytest.mark.parametrize("bad", [{"window": 1}, {"warmup_min": 0}, {"delta": 0}, {"return_windows": 0}])
def test_category_mix_refuses_bad_parameters(bad: dict[str, int]) -> None:
    with pytest.raises(ConfigError, match=next(iter(bad))):
        CategoryMix(**bad)


def test_char_class_share_refuses_an_unknown_class() -> None:
    with pytest.raises(ConfigError, match="char_class must be one of digit, upper, punct, got 'space'"):
        CharClassShare("space")  # type: ignore[arg-type]
