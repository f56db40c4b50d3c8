import json

import pytest

from forecasts.text import MAX_RATIONALE_CHARS, TRUNCATION_MARK, clean_text


def test_plain_text_is_returned_unchanged():
    text = "Will the 2026 vote pass? Ça dépend — 50 %.\n\tIndented line."
    assert clean_text(text) == text


def test_nul_is_removed():
    assert clean_text("a\x00b\x00") == "ab"


@pytest.mark.parametrize("control", ["\x01", "\x08", "\x0b", "\x0c", "\x1b", "\x1f", "\x7f"])
def test_c0_controls_and_del_are_removed(control):
    assert clean_text(f"left{control}right") == "leftright"


@pytest.mark.parametrize("control", ["\x80", "\x85", "\x9b", "\x9f"])
def test_c1_controls_are_removed(control):
    assert clean_text(f"left{control}right") == "leftright"


def test_tab_newline_and_carriage_return_stay():
    assert clean_text("a\tb\nc\rd") == "a\tb\nc\rd"


def test_crlf_becomes_lf():
    assert clean_text("one\r\ntwo\r\n") == "one\ntwo\n"


def test_crlf_split_by_a_removed_control_still_becomes_lf():
    assert clean_text("one\r\x00\ntwo") == "one\ntwo"


def test_xml_noncharacters_are_removed():
    assert clean_text("a\ufffeb\uffffc") == "abc"


def test_lone_high_surrogate_is_removed():
    text = json.loads('"before \\ud800 after"')
    assert clean_text(text) == "before  after"
    clean_text(text).encode("utf-8")


def test_lone_low_surrogate_is_removed():
    assert clean_text("x\udc00y") == "xy"


def test_reversed_surrogates_are_both_removed():
    assert clean_text("x\udc00\ud800y") == "xy"


def test_emoji_stays_intact():
    assert clean_text("rising 📈 fast 😀") == "rising 📈 fast 😀"


def test_emoji_decoded_from_a_json_surrogate_pair_stays_intact():
    text = json.loads('"\\ud83d\\ude00"')
    assert clean_text(text) == "😀"


def test_surrogate_pair_as_two_code_points_is_joined_into_the_character():
    split = "\ud83d\ude00"  # a Python literal does not join the halves
    assert len(split) == 2
    assert clean_text(f"a{split}b") == "a😀b"
    clean_text(split).encode("utf-8")


def test_bidirectional_controls_stay():
    text = "user\u202egnp.exe \u2066isolated\u2069 \u200fmark"
    assert clean_text(text) == text


def test_no_truncation_when_short_enough():
    assert clean_text("abcdef", max_length=6) == "abcdef"


def test_truncation_ends_with_the_mark_and_respects_the_length():
    text = "word " * 100
    cut = clean_text(text, max_length=50)
    assert cut.endswith(TRUNCATION_MARK)
    assert len(cut) <= 50
    assert cut.startswith("word word")
    assert not cut.removesuffix(TRUNCATION_MARK).endswith(" ")


def test_truncation_is_exact_when_no_whitespace_is_trimmed():
    cut = clean_text("x" * 100, max_length=30)
    assert len(cut) == 30
    assert cut == "x" * (30 - len(TRUNCATION_MARK)) + TRUNCATION_MARK


def test_length_is_counted_after_cleaning():
    assert clean_text("ab\x00\x00\x00", max_length=2) == "ab"


def test_tiny_max_length_cuts_without_the_mark():
    assert clean_text("abcdef", max_length=3) == "abc"
    assert clean_text("abcdef", max_length=0) == ""


def test_rationale_limit_applies():
    cut = clean_text("y" * (MAX_RATIONALE_CHARS + 1), max_length=MAX_RATIONALE_CHARS)
    assert len(cut) == MAX_RATIONALE_CHARS
    assert cut.endswith(TRUNCATION_MARK)


def test_refuses_non_strings():
    with pytest.raises(TypeError):
        clean_text(b"bytes")
    with pytest.raises(TypeError):
        clean_text(None)


def test_refuses_negative_max_length():
    with pytest.raises(ValueError):
        clean_text("abc", max_length=-1)
