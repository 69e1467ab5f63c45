from __future__ import annotations

import os
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backchannel.posts.language import detect_language, warm_up


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Heute ist ein schöner Tag in Berlin und wir gehen im Park spazieren.", "de"),
        ("The quick brown fox jumps over the lazy dog while the sun is shining.", "en"),
        ("Bonjour à tous, voici le programme de la conférence de demain matin.", "fr"),
        ("Hoy hace muy buen tiempo en Madrid y vamos a pasear por el parque.", "es"),
        ("Oggi è una bellissima giornata e andiamo a fare una passeggiata nel parco.", "it"),
        ("Vandaag is het mooi weer en we gaan wandelen in het park met de hond.", "nl"),
        ("今日は東京でとても良い天気です。みんなで公園に散歩に行きましょう。", "ja"),
        ("Сегодня в Москве отличная погода, и мы идём гулять в парк с друзьями.", "ru"),
    ],
)
def test_detects_language(text: str, language: str) -> None:
    assert detect_language(text) == language


def test_ignores_links_mentions_and_hashtags() -> None:
    text = (
        "Heute ist ein schöner Tag in Berlin und wir gehen spazieren. "
        "@someone@example.org https://example.org/the/english/words/here "
        "#TheQuickBrownFox #JumpsOverTheLazyDog"
    )
    assert detect_language(text) == "de"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "lol ok",
        "Hello there!",  # too few letters
        "1234567890 1234567890 1234567890 !!!",
        "😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀",
        "#OnlyHashtags #AreHereInThisPost #NothingElseAtAll",
        "@alice@example.org @bob@example.org https://example.org/some/long/path/here",
    ],
)
def test_short_or_letterless_text_has_no_language(text: str) -> None:
    assert detect_language(text) is None


def test_gibberish_is_unsure() -> None:
    assert detect_language("asdf qwer zxcv uiop hjkl bnm ghjk tyui") is None


@settings(max_examples=50, deadline=None)
@given(st.text(max_size=300))
def test_result_is_none_or_two_letters(text: str) -> None:
    result = detect_language(text)
    assert result is None or (len(result) == 2 and result.isascii() and result.islower())


def test_long_text_is_fine() -> None:
    assert detect_language("Das ist ein ganz normaler deutscher Satz. " * 500) == "de"


def test_model_not_loaded_at_import() -> None:
    code = (
        "import sys; import backchannel.posts.language as m; "
        "assert 'fasttext' not in sys.modules, 'loaded at import'; "
        "m.warm_up(); assert 'fasttext' in sys.modules"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)


def test_warm_up_is_idempotent() -> None:
    warm_up()
    warm_up()


def test_lines_capitals_and_lone_surrogates_are_read() -> None:
    # fastText reads one line: a post's line breaks must not be an error.
    assert detect_language("Heute ist ein schöner Tag.\nWir gehen im Park spazieren.") == "de"
    assert detect_language("THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG AGAIN TODAY") == "en"
    # Not UTF-8 (a lone surrogate from a broken client): still an answer, not a crash.
    assert detect_language("Bonjour à tous, voici le programme \ud800 de la conférence") == "fr"


def test_model_ships_in_an_installed_package() -> None:
    from backchannel.posts.language import model_path

    path = model_path()
    assert path.name == "lid.176.ftz" and "site-packages" in str(path)
    assert path.stat().st_size > 500_000
