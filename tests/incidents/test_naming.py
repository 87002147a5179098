"""Channel names follow the contract's rule."""

import re
from datetime import UTC, datetime

from bot.incidents.naming import channel_name

DAY = datetime(2026, 11, 25, 23, 30, tzinfo=UTC)


def test_a_hub_incident():
    assert channel_name(DAY, "openscapes", "prod", "Hub is DOWN!") == (
        "inc-20261125-openscapes-prod-hub-is-down"
    )


def test_cluster_wide_and_unmapped():
    assert channel_name(DAY, "2i2c", None, "Nodes") == "inc-20261125-2i2c-nodes"
    assert channel_name(DAY, None, None, "Who?") == "inc-20261125-unmapped-who"


def test_long_titles_keep_room_for_a_suffix_and_only_allowed_characters():
    name = channel_name(DAY, "pangeo-hubs", "binder", "Ünïcode & spaces " * 20)
    assert len(name) <= 76
    assert re.fullmatch(r"[a-z0-9_-]+", name)
    second = channel_name(DAY, "pangeo-hubs", "binder", "Ünïcode & spaces " * 20, attempt=12)
    assert second.endswith("-12") and len(second) <= 80


def test_the_date_is_utc():
    evening_in_la = datetime.fromisoformat("2026-11-25T20:00:00-08:00")
    assert channel_name(evening_in_la, "leap", "prod", "x").startswith("inc-20261126-")
