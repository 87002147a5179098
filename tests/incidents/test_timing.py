"""Durations as 2i2c's reports write them: two units, so their scripts can read them."""

import re
from datetime import timedelta

import pytest

from bot.incidents.timing import duration_text

# The shape 2i2c's scripts/convert_reports.py reads a duration in (see tests/postmortems).
SHAPE = r"(\d+[dhm]\s+\d+[hms](?:\s+\d+[ms])?)"


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(hours=1, minutes=4), "1h 4m"),
        (timedelta(minutes=21, seconds=3), "21m 3s"),
        (timedelta(seconds=45), "0m 45s"),
        (timedelta(0), "0m 0s"),
        (timedelta(hours=2), "2h 0m"),
        (timedelta(days=2, hours=3, minutes=5), "2d 3h"),
        (timedelta(seconds=-5), "0m 0s"),  # clocks that disagree never write a minus
    ],
)
def test_durations_have_two_units(delta: timedelta, text: str):
    assert duration_text(delta) == text
    assert re.fullmatch(SHAPE, text)
