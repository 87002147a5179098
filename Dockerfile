FROM python:3.11-slim

WORKDIR /app
COPY pyproject.toml README.md hubs.yaml ./
COPY bot ./bot
COPY runbooks ./runbooks
COPY alerts ./alerts
RUN pip install --no-cache-dir . \
    && useradd --system --home /app incident-bot \
    && chown incident-bot /app

USER incident-bot
ENV DATABASE_URL=sqlite:////app/data/incident-bot.db
RUN mkdir -p /app/data
VOLUME ["/app/data"]
EXPOSE 8080
HEALTHCHECK CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz')"
CMD ["incident-bot", "serve", "--host", "0.0.0.0", "--port", "8080"]
