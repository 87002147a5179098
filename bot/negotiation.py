"""Content negotiation: which of a few media types an `Accept` header prefers."""

from collections.abc import Mapping


def preferred(accept: str | None, kinds: Mapping[str, tuple[str, ...]]) -> dict[str, float]:
    """The highest `q` the header gives each kind (its media types), 0 where none is named."""
    best = dict.fromkeys(kinds, 0.0)
    for part in (accept or "").split(","):
        media, *params = (p.strip() for p in part.split(";"))
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        media = media.lower()
        for kind, types in kinds.items():
            if media in types:
                best[kind] = max(best[kind], q)
    return best
