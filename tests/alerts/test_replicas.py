"""Several replicas of the service on one database: a storm still opens one incident per hub."""

from concurrent.futures import ThreadPoolExecutor

from pydantic import SecretStr

from bot.config import Settings
from tests.conftest import count, running
from tests.payloads import alert, delivery


def test_two_replicas_share_the_work_without_duplicates(settings: Settings):
    hubs = ["staging", "prod", "workshop"]
    alerts = [alert(f"A{i}", namespace=hubs[i % 3], fingerprint=f"{i:016x}") for i in range(120)]
    # Alertmanager in HA sends the same groups to each replica; here every group goes to both.
    bodies = [delivery(*alerts[i : i + 5], group_key=f"g{i}") for i in range(0, 120, 5)]
    # Slack configured, but away (a refused port): the channel jobs are queued and wait.
    settings = settings.model_copy(
        update={"slack_bot_token": SecretStr("xoxb-x"), "slack_api_url": "http://127.0.0.1:9/"}
    )
    with running(settings) as one, running(settings) as two:
        clients = [one.am, two.am]

        def send(job: tuple[int, dict[str, object]]) -> int:
            n, body = job
            return clients[n % 2].post("/webhooks/alertmanager", json=body).status_code

        work = [(n, b) for b in bodies for n in (0, 1)]
        with ThreadPoolExecutor(8) as pool:
            codes = list(pool.map(send, work))
        for c in clients:
            c.close()
        assert set(codes) == {200}
        assert count(one.engine, "incident") == 3
        assert count(one.engine, "alert") == 120
        assert count(one.engine, "timeline_event", "kind = 'alert_fired'") == 120
        assert count(one.engine, "job", "kind = 'slack.open_channel'") == 3
