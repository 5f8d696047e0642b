"""The load test's polling screens (bench/loadtest/pacing.py): each polls at its own moments,
from when its page was opened, as real screens do. Locust's constant_pacing counted from the
moment Locust created the user, in a batch each second, so every screen polled in the same
~150 ms of each second and the server saw bursts no dealership makes (docs/benchmarks.md)."""

import importlib.util
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location(
    "loadtest_pacing", Path(__file__).resolve().parents[2] / "bench" / "loadtest" / "pacing.py"
)
pacing = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(pacing)


class Clock:
    def __init__(self, now: float = 0.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


class Screen:
    """A user as Locust drives it: its first request at `opened_at`, each answer taking
    `answer` seconds, then the wait its wait_time gives."""

    def __init__(self, opened_at: float):
        self.opened_at = opened_at


def polls(screen, wait, clock, answers) -> list[float]:
    sent = []
    clock.now = screen.opened_at
    for answer in answers:
        sent.append(clock.now)
        clock.now += answer
        clock.now += wait(screen)
    return sent


def test_screens_opened_at_different_moments_keep_their_own_moments():
    clock = Clock()
    wait = pacing.every(5, clock)
    # two screens Locust created in the same second, opened 0.2 s and 3.7 s into it
    first, second = Screen(100.2), Screen(103.7)
    a = polls(first, wait, clock, [0.03, 0.05, 0.02, 0.04])
    b = polls(second, wait, clock, [0.05, 0.03, 0.04, 0.02])
    assert a == pytest.approx([100.2, 105.2, 110.2, 115.2])
    assert b == pytest.approx([103.7, 108.7, 113.7, 118.7])


def test_a_late_answer_sends_the_next_poll_at_once_and_the_pace_counts_on_from_it():
    clock = Clock()
    wait = pacing.every(5, clock)
    sent = polls(Screen(10.0), wait, clock, [0.1, 6.5, 0.1, 0.1])
    # the second answer took longer than the pace: the third poll goes as it arrives
    assert sent == pytest.approx([10.0, 15.0, 21.5, 26.5])


def test_a_screen_with_no_opening_moment_paces_from_its_first_wait():
    clock = Clock(50.0)
    wait = pacing.every(10, clock)
    screen = object.__new__(Screen)  # no opened_at
    assert wait(screen) == pytest.approx(10.0)
    clock.now = 60.5
    assert wait(screen) == pytest.approx(9.5)
