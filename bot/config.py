"""Settings, read from the environment and a `.env` file (names as in CONTRACT.md)."""

import logging
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.db import normalize_url, shown_url

log = logging.getLogger(__name__)

PACKAGE_DIR = Path(__file__).resolve().parent


DEFAULT_DATABASE_URL = "sqlite:///./incident-bot.db"


class Settings(BaseSettings):
    """Everything the service can be configured with; every field has a working default."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    database_url: str = DEFAULT_DATABASE_URL
    hubs_file: Path = Path("hubs.yaml")
    runbooks_dir: Path = Path("runbooks")
    runbooks_base_url: str = ""
    public_url: str = "http://127.0.0.1:8080"
    api_token: SecretStr = SecretStr("")
    alertmanager_token: SecretStr = SecretStr("")
    slack_bot_token: SecretStr = SecretStr("")
    slack_signing_secret: SecretStr = SecretStr("")
    slack_api_url: str = "https://slack.com/api/"
    # An app-level token (xapp-...): Slack events arrive over Socket Mode, no public URL needed.
    slack_app_token: SecretStr = SecretStr("")
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
    # `json`: one JSON object a line (time, level, logger, message, exception), access log too.
    log_format: Literal["text", "json"] = "text"

    @field_validator("database_url", mode="before")
    @classmethod
    def _known_database(cls, url: object) -> object:
        # Set but empty (a Helm secret left blank): the default, as for every other setting.
        if url == "":
            url = DEFAULT_DATABASE_URL
        return normalize_url(url) if isinstance(url, str) else url

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        # Postmortem timelines would otherwise be written in UTC without a word.
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {name!r}: use an IANA name such as UTC or Europe/Paris"
            ) from None
        return name

    def resolved_hubs_file(self) -> Path:
        """The registry to load: the configured file, else the bundled example."""
        return _existing_or_bundled(self.hubs_file, Path("hubs.yaml"))

    def resolved_runbooks_dir(self) -> Path:
        """The runbooks folder: the configured one, else the one shipped with the source."""
        return _existing_or_bundled(self.runbooks_dir, Path("runbooks"))

    def resolved_alerts_dir(self) -> Path:
        """The alert rules folder: the configured one, else the one shipped with the source."""
        return _existing_or_bundled(self.alerts_dir, Path("alerts"))

    def log_configured(self) -> None:
        """Log which database the service uses (password hidden) and each configured
        integration; `log_unconfigured` names the others."""
        log.info("database: %s", shown_url(self.database_url))
        configured = {
            "Slack": self.slack_bot_token.get_secret_value(),
            "Slack request signing": self.slack_signing_secret.get_secret_value(),
            "PagerDuty REST API": self.pagerduty_api_token.get_secret_value(),
            "PagerDuty webhooks": self.pagerduty_webhook_secret.get_secret_value(),
            "Alertmanager webhook": self.alertmanager_token.get_secret_value(),
            "API": self.api_token.get_secret_value(),
            "quiet channel": self.observe_channel,
            "GitHub": self.github_token.get_secret_value(),
            "Prometheus context": self.prometheus_url,
        }
        for name, value in configured.items():
            if value:
                log.info("configured: %s", name)

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
        if self.slack_app_token.get_secret_value():
            if self.slack_bot_token.get_secret_value():
                log.info("Slack events arrive over Socket Mode (SLACK_APP_TOKEN)")
            else:
                log.warning("Socket Mode (SLACK_APP_TOKEN) is off: it needs SLACK_BOT_TOKEN too")
        elif self.slack_bot_token.get_secret_value():
            log.info(
                "Slack events arrive at %s/slack/events (set SLACK_APP_TOKEN for Socket Mode)",
                self.public_url.rstrip("/"),
            )
        return missing


def _existing_or_bundled(configured: Path, default: Path) -> Path:
    # Only the default name falls back: a path someone set explicitly must exist.
    if configured.exists() or configured != default:
        return configured
    for candidate in (PACKAGE_DIR / "bundled" / default, PACKAGE_DIR.parent / default):
        if candidate.exists():
            return candidate
    return configured


def settings_error(exc: ValidationError) -> str:
    """A `Settings` validation error on one line, each problem under its environment variable."""
    problems = []
    for error in exc.errors(include_url=False):
        field = str(error["loc"][0]) if error["loc"] else ""
        message = error["msg"].removeprefix("Value error, ")
        secret = field in _SECRET_FIELDS
        if error["type"] != "value_error" and not secret and isinstance(error["input"], str):
            message += f" (got {error['input']!r})"
        problems.append(f"{field.upper()}: {message}" if field else message)
    return "; ".join(problems)


# Their values never appear in an error message (the URL may hold a password).
_SECRET_FIELDS = frozenset(
    {"database_url"}
    | {name for name, field in Settings.model_fields.items() if field.annotation is SecretStr}
)
