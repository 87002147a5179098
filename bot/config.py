"""Settings, read from the environment and a `.env` file (names as in CONTRACT.md)."""

import logging
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

log = logging.getLogger(__name__)

PACKAGE_DIR = Path(__file__).resolve().parent


class Settings(BaseSettings):
    """Everything the service can be configured with; every field has a working default."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    database_url: str = "sqlite:///./incident-bot.db"
    hubs_file: Path = Path("hubs.yaml")
    runbooks_dir: Path = Path("runbooks")
    runbooks_base_url: str = ""
    public_url: str = "http://127.0.0.1:8080"
    api_token: SecretStr = SecretStr("")
    alertmanager_token: SecretStr = SecretStr("")
    slack_bot_token: SecretStr = SecretStr("")
    slack_signing_secret: SecretStr = SecretStr("")
    slack_api_url: str = "https://slack.com/api/"
    pagerduty_api_token: SecretStr = SecretStr("")
    pagerduty_api_url: str = "https://api.pagerduty.com"
    pagerduty_from_email: str = ""
    pagerduty_webhook_secret: SecretStr = SecretStr("")
    prometheus_url: str = ""
    timezone: str = "UTC"
    # Alerts that open no incident, one message per hub per day (a channel id; empty: off).
    observe_channel: str = ""
    # A Jinja2 file that replaces the bundled report template (empty: the bundled one).
    postmortem_template: str = ""
    # Follow-up issues and report pull requests (empty token: off).
    github_token: SecretStr = SecretStr("")
    github_repo: str = ""  # owner/name of the reports repository, and of follow-ups by default
    github_api_url: str = "https://api.github.com"
    github_reports_path: str = "reports/"
    # Not in the contract's table: where the rules live, and tuning knobs with safe defaults.
    alerts_dir: Path = Path("alerts")
    worker_threads: int = Field(default=4, ge=0, le=64)
    # First retry delay of a failed job, doubled each attempt (with jitter), at most a minute.
    worker_backoff_seconds: float = Field(default=2.0, gt=0, le=600)
    # A job's lease, renewed while it runs: a killed replica's jobs are taken over after it.
    worker_lease_seconds: float = Field(default=15.0, ge=1, le=600)
    # A job failing for this long is given up (dead), so it no longer holds up later jobs.
    worker_give_up_seconds: float = Field(default=3600.0, gt=0)
    # Slack's rate-limit windows and the summary edit interval are divided by this: only for
    # fakes that run Slack's clock faster (tests, bench/storm.py).
    slack_rate_scale: float = Field(default=1.0, ge=1, le=1000)

    def resolved_hubs_file(self) -> Path:
        """The registry to load: the configured file, else the bundled example."""
        return _existing_or_bundled(self.hubs_file, Path("hubs.yaml"))

    def resolved_runbooks_dir(self) -> Path:
        """The runbooks folder: the configured one, else the one shipped with the source."""
        return _existing_or_bundled(self.runbooks_dir, Path("runbooks"))

    def resolved_alerts_dir(self) -> Path:
        """The alert rules folder: the configured one, else the one shipped with the source."""
        return _existing_or_bundled(self.alerts_dir, Path("alerts"))

    def log_unconfigured(self) -> list[str]:
        """Log, once, each optional integration that is not configured; return their names."""
        missing = []
        if not self.slack_bot_token.get_secret_value():
            missing.append("Slack (SLACK_BOT_TOKEN)")
        if not self.slack_signing_secret.get_secret_value():
            missing.append(
                "Slack request signing (SLACK_SIGNING_SECRET): /slack/events refuses all"
            )
        if not self.pagerduty_api_token.get_secret_value():
            missing.append("PagerDuty REST API (PAGERDUTY_API_TOKEN)")
        if not self.pagerduty_webhook_secret.get_secret_value():
            missing.append(
                "PagerDuty webhooks (PAGERDUTY_WEBHOOK_SECRET): /webhooks/pagerduty refuses all"
            )
        if not self.alertmanager_token.get_secret_value():
            missing.append("Alertmanager (ALERTMANAGER_TOKEN): /webhooks/alertmanager refuses all")
        if not self.api_token.get_secret_value():
            missing.append("API (API_TOKEN): /api/* is closed")
        if not self.observe_channel:
            missing.append(
                "quiet channel (OBSERVE_CHANNEL): alerts that open no incident are only stored"
            )
        if not self.github_token.get_secret_value():
            missing.append(
                "GitHub (GITHUB_TOKEN, GITHUB_REPO): no follow-up issues or report pull requests"
            )
        if not self.prometheus_url:
            missing.append("Prometheus context (PROMETHEUS_URL)")
        for name in missing:
            log.warning("not configured: %s", name)
        return missing


def _existing_or_bundled(configured: Path, default: Path) -> Path:
    # Only the default name falls back: a path someone set explicitly must exist.
    if configured.exists() or configured != default:
        return configured
    for candidate in (PACKAGE_DIR / "bundled" / default, PACKAGE_DIR.parent / default):
        if candidate.exists():
            return candidate
    return configured
