"""Ask Prometheus what an alert's expression says now, and draw its last hour."""

import functools
import io
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlparse

from prometheus_api_client import PrometheusConnect
from urllib3.util.retry import Retry

log = logging.getLogger(__name__)

MAX_SERIES = 5


@dataclass(frozen=True)
class Sample:
    labels: dict[str, str]
    value: float


def expression_of(generator_url: str) -> str | None:
    """The `g0.expr` of a Prometheus graph link (Alertmanager's `generatorURL`)."""
    if not generator_url:
        return None
    values = parse_qs(urlparse(generator_url).query).get("g0.expr")
    return values[0] if values else None


class PrometheusContext:
    """A thin use of prometheus-api-client."""

    def __init__(self, url: str, *, timeout: int = 10) -> None:
        # A short retry: Prometheus slow or away only costs the context, never the incident.
        retry = Retry(total=1, backoff_factor=0.2, status_forcelist=[429, 502, 503, 504])
        self.client = PrometheusConnect(
            url=url.rstrip("/"), disable_ssl=True, timeout=timeout, retry=retry
        )

    def now(self, expr: str) -> list[Sample]:
        """The expression's value now, per series (at most a few)."""
        result = self.client.custom_query(expr)
        samples = []
        for item in result[:MAX_SERIES]:
            metric = {k: v for k, v in item.get("metric", {}).items() if k != "__name__"}
            samples.append(Sample(metric, float(item["value"][1])))
        return samples

    def graph(self, expr: str, *, hours: float = 1) -> bytes | None:
        """A PNG of the expression over the last hours; None without matplotlib."""
        plt = _pyplot()
        if plt is None:
            return None
        end = datetime.now(UTC)
        result = self.client.custom_query_range(
            expr, start_time=end - timedelta(hours=hours), end_time=end, step="60s"
        )
        fig, ax = plt.subplots(figsize=(8, 3.2), dpi=100)
        try:
            for item in result[:MAX_SERIES]:
                points = item.get("values", [])
                # Matplotlib's date axis counts days since the epoch.
                xs = [float(t) / 86400 for t, _ in points]
                ys = [float(v) for _, v in points]
                label = ", ".join(
                    f"{k}={v}"
                    for k, v in item.get("metric", {}).items()
                    if k in ("cluster", "namespace", "pod", "instance")
                )
                ax.plot(xs, ys, label=label or None)
            ax.xaxis_date()
            ax.set_title(expr if len(expr) < 90 else expr[:87] + "...", fontsize=9)
            ax.grid(alpha=0.3)
            if any(item.get("metric") for item in result[:MAX_SERIES]):
                ax.legend(fontsize=7, loc="upper left")
            fig.autofmt_xdate()
            out = io.BytesIO()
            fig.savefig(out, format="png", bbox_inches="tight")
            return out.getvalue()
        finally:
            plt.close(fig)


@functools.cache
def _pyplot() -> Any:
    """matplotlib.pyplot, imported on first use; None (said once) when it is not installed."""
    # Imported here: matplotlib is big, an extra (`incident-bot[graphs]`), and only needed
    # once Prometheus is configured.
    try:
        import matplotlib
    except ImportError:
        log.warning(
            "matplotlib is not installed: Prometheus graphs are skipped, values still "
            "posted (pip install 'incident-bot[graphs]')"
        )
        return None
    matplotlib.use("Agg")  # no display here, ever
    import matplotlib.pyplot as plt

    return plt


def describe(expr: str, samples: list[Sample]) -> str:
    """The summary's lines for what Prometheus said."""
    if not samples:
        return f":chart_with_upwards_trend: *Prometheus*: `{expr}` returns nothing now"
    lines = [f":chart_with_upwards_trend: *Prometheus* `{expr}` now:"]
    for s in samples:
        where = ", ".join(
            f"{k}={v}"
            for k, v in s.labels.items()
            if k in ("cluster", "namespace", "pod", "persistentvolumeclaim")
        )
        lines.append(f"• {where or 'value'}: *{s.value:.4g}*")
    return "\n".join(lines)
