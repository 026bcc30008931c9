"""The checks of folk tunes in ABC notation (seqmodels.inference.abc_checks) on tunes written by hand, with
every expected answer worked out by hand in the comments, and on the real test tunes."""

from __future__ import annotations

import json
import sys
from fractions import Fraction as F
from pathlib import Path

import pytest

pytest.importorskip("music21", reason="the ABC checks need music21: pip install 'seqmodels[music]'")

from seqmodels.data.corpora.abc import NottinghamABC  # noqa: E402
from seqmodels.inference.abc_checks import (  # noqa: E402
    BarCheck,
    ParseResult,
    ScaleCheck,
    TuneCheck,
    check_bars,
    check_tune,
    main,
    music21,
    parses,
    read_key,
    read_tune,
    scale_share,
    summarize,
)

# 6/8, no L: (an eighth, 6/8 = 0.75), K:G. Bars: d (1/8, an anacrusis), gdB GBd (6/8), g2f a2g (2+1+2+1 = 6/8),
# e2d B3c (2+1+3+1 = 7/8: one eighth too long), d3 -d2 (5/8, the last bar). 17 notes, all in G major.
TOO_LONG = 'X:1\nM:6/8\nK:G\nd|"G"gdB GBd|g2f a2g|e2d B3c|d3 -d2:|\n'


def test_a_bar_too_long_is_found():
    bars = check_bars(TOO_LONG)
    assert bars.lengths == (F(1, 8), F(3, 4), F(3, 4), F(7, 8), F(5, 8))
    assert bars.expected == (F(3, 4),) * 5
    assert bars.wrong == (3,) and bars.all_right is False
    assert check_bars(TOO_LONG.replace("B3c", "B3")).all_right is True
    assert check_bars(TOO_LONG.replace("d3 -d2", "d3 -d3 d")).wrong == (3, 4)  # a last bar may be short, not long
    assert check_bars(TOO_LONG.replace("d|", "d2g3d2|", 1)).wrong == (0, 3)  # so may a first bar (7/8: too long)


def test_lengths_follow_the_default_unit_broken_rhythm_tuplets_chords_and_grace_notes():
    # M:2/4 without L: the unit is a sixteenth (2/4 = 0.5 < 0.75). Bar 1: A<B twice = 2 x (1/32 + 3/32), B4 = 1/4.
    # Bar 2: A>B and c>d = 2 x (3/32 + 1/32), e4 = 1/4. Bar 3: (3cde = 3 x 2/3 x 1/16 = 1/8, f2 = 1/8, g4 = 1/4.
    # Bar 4: [DF]4 = 1/4, {g} no time, a4 = 1/4. Every bar is 1/2.
    text = "X:1\nM:2/4\nK:D\nA<B A<B B4|A>B c>d e4|(3cdef2 g4|[DF]4 {g}a4|\n"
    reading = read_tune(text)
    assert [e.length for e in reading.events if e.bar == 0] == [F(1, 32), F(3, 32), F(1, 32), F(3, 32), F(1, 4)]
    assert [e.length for e in reading.events if e.bar == 1] == [F(3, 32), F(1, 32), F(3, 32), F(1, 32), F(1, 4)]
    assert [e.length for e in reading.events if e.bar == 2] == [F(1, 24)] * 3 + [F(1, 8), F(1, 4)]
    assert [(e.midi, e.length, e.grace) for e in reading.events if e.bar == 3] == [
        ((62, 66), F(1, 4), False),  # D4 F#4 in D
        ((79,), F(0), True),  # the grace note g = G5
        ((81,), F(1, 4), False),
    ]
    bars = check_bars(reading)
    assert bars.lengths == (F(1, 2),) * 4 and bars.all_right is True
    # with L:1/8 written out the same notes are twice as long
    assert check_bars(text.replace("K:D", "L:1/8\nK:D")).lengths == (F(1),) * 4


def test_meter_changes_and_multi_bar_rests():
    # 4/4, L:1/4: A4 (1), then M:3/4 from the next line: A3 (3/4), [M:2/4] A2 (1/2), Z4 (a rest of 4 bars), z4 (1 in 2/4)
    text = "X:1\nM:4/4\nL:1/4\nK:C\nA4|\nM:3/4\nA3|[M:2/4]A2|Z4|z4|A2|\n"
    bars = check_bars(text)
    assert bars.expected == (F(1), F(3, 4), F(1, 2), None, F(1, 2), F(1, 2))
    assert bars.wrong == (4,)
    assert check_bars("X:1\nM:none\nL:1/8\nK:C\nABC|DEFGA|\n").all_right is None  # a free meter: nothing to check
    assert check_bars("X:1\nM:2/4\nL:1/8\nK:C\nAB cd|A/0 B|cd ef|\n").wrong == (1,)  # a length that means nothing


def test_bars_split_at_a_part_or_a_repeat_count_as_one():
    # 6/8: the last bar of part A (e3 d2 = 5/8) and the pickup of part B (B = 1/8) make one bar across ":| |:"
    parts = "X:1\nM:6/8\nL:1/8\nK:G\n|:d|g3 f3|e3 d2:|\n|:B|c3 B3|A3 G2:|\n"
    assert check_bars(parts).all_right is True
    assert check_bars(parts.replace(":|\n|:", "|")).wrong == (2, 3)  # without a section mark they are two bad bars
    assert check_bars(parts.replace(":|\n|:", "|\nP:B\n")).all_right is True  # a part label marks a section too
    # a first ending (5/8) and the anacrusis the repeat goes back to (1/8)
    endings = "X:1\nM:6/8\nL:1/8\nK:G\nd|g3 f3|[1 e3 d2:|[2 e3 d3||\n"
    assert check_bars(endings).all_right is True
    assert check_bars(endings.replace("d|", "", 1)).wrong == (1,)  # no anacrusis to complete it


def test_in_scale_share_follows_modes_accidentals_and_key_changes():
    # K:Ador has A B C D E F# G. Bar 1: A B c d e f(#) g a: 8 in. Bar 2: ^G (G#) out, =F out, G still G# (the
    # accidental holds to the end of the bar) out, F still natural out. 8 of 12.
    assert scale_share("X:1\nM:4/4\nL:1/8\nK:Ador\nABcd efga|^G=F G F|\n") == ScaleCheck(12, 8)
    # K:Gmix has G A B C D E F. F (F4) in, f (F5) in, ^F (F#4) out, f: the sharp was on F4, not F5: in. 3 of 4.
    assert scale_share("X:1\nM:4/4\nL:1/8\nK:Gmix\nFf^Ff|\n") == ScaleCheck(4, 3)
    # a tie carries the sharp across the bar line; the next bar's F is F again
    assert scale_share("X:1\nM:2/4\nL:1/8\nK:C\nC2 C^F-|F2 F2|\n") == ScaleCheck(5, 3)
    # header C (C E in), then K:F (Bb F in), then [K:D] (F# C# in): 6 of 6; a reader ignoring the changes
    # would count Bb, F#, C# out
    assert scale_share("X:1\nM:4/4\nL:1/4\nK:C\nC2 E2|\nK:F\n_B2 F2|[K:D] ^F2 ^c2|\n") == ScaleCheck(6, 6)
    # chord notes count one by one, grace notes and rests not: C E in, F# out, A in
    assert scale_share("X:1\nM:4/4\nL:1/8\nK:C\n[CE^F]2 {^g}z2 A4|\n") == ScaleCheck(4, 3)
    assert scale_share("X:1\nM:4/4\nK:C\nz8|\n").share is None


@pytest.mark.parametrize(
    ("value", "scale"),
    [
        ("G", {7, 9, 11, 0, 2, 4, 6}),
        ("Ador", {9, 11, 0, 2, 4, 6, 7}),  # the G major signature
        ("Gmix", {7, 9, 11, 0, 2, 4, 5}),  # the C major signature
        ("F#m", {6, 8, 9, 11, 1, 2, 4}),
        ("Bb", {10, 0, 2, 3, 5, 7, 9}),
        ("D loc", {2, 3, 5, 7, 8, 10, 0}),  # Eb major's: music21's own reader lacks locrian
        ("E phrygian", {4, 5, 7, 9, 11, 0, 2}),
        ("HP", {0, 2, 4, 5, 7, 9, 11}),
        ("none", {0, 2, 4, 5, 7, 9, 11}),
    ],
)
def test_key_scales(value, scale):
    assert read_key(value).scale == frozenset(scale)


def test_the_parse_check():
    assert parses(TOO_LONG) == ParseResult(True, 17)
    bad = parses("X:1\nM:4/4\nL:1/8\nK:G\nABc [dfa |\n")  # a chord never closed
    assert bad.ok is False and bad.notes == 0 and "chord" in bad.error
    silent = parses('X:1\nM:4/4\nL:1/8\nK:G\n"Am" z8|\n')  # a chord symbol and a rest: no note
    assert silent == ParseResult(False, 0, "no note")


def test_all_three_checks_and_their_summary():
    check = check_tune(TOO_LONG)
    assert (check.parse.ok, check.bars.all_right, check.scale.share) == (True, False, 1.0)
    checks = [
        TuneCheck(ParseResult(True, 5), BarCheck((), (), (), True), ScaleCheck(4, 3)),
        TuneCheck(ParseResult(True, 5), BarCheck((), (), (1,), False), ScaleCheck(2, 2)),
        TuneCheck(ParseResult(False, 0, "x"), BarCheck((), (), (), None), ScaleCheck(0, 0)),
    ]
    # parse 2 of 3; bars right 1 of the 2 with bars; in-scale mean (3/4 + 1) / 2
    assert summarize(checks) == {
        "tunes": 3,
        "parse_share": 2 / 3,
        "bars_checked": 2,
        "bars_share": 0.5,
        "scale_mean": 0.875,
    }


def test_without_music21_the_error_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "music21", None)
    with pytest.raises(ImportError, match=r"pip install 'seqmodels\[music\]'"):
        music21()
    with pytest.raises(ImportError, match=r"seqmodels\[music\]"):
        parses(TOO_LONG)


def test_the_command_prints_the_figures(tmp_path, capsys):
    (tmp_path / "two.abc").write_text(TOO_LONG + "\n" + TOO_LONG.replace("X:1", "X:2").replace("B3c", "B3"))
    assert main([str(tmp_path), "--split", "all"]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "tunes": 2,
        "parse_share": 1.0,
        "bars_checked": 2,
        "bars_share": 0.5,
        "scale_mean": 1.0,
    }


def test_real_test_tunes_have_their_bars_and_keys_right(data_dir: Path):
    folder = data_dir / "nottingham"
    if not (folder / "ABC_cleaned").is_dir():
        pytest.skip(f"{folder}/ABC_cleaned not found: the Nottingham ABC files are not in the shared data")
    tunes = NottinghamABC(folder).tunes("test")
    bars = [check_bars(t.text).all_right for t in tunes]
    shares = [scale_share(t.text).share for t in tunes]
    assert None not in bars and sum(bars) >= 0.98 * len(tunes)  # the real tunes keep their meter
    assert sum(shares) / len(shares) > 0.95  # and their key (chromatic passing notes aside)
