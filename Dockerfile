FROM python:3.11-slim

# `graphs` draws the Prometheus graph posted with an incident; build with EXTRAS= to leave
# matplotlib (about half the image's Python packages) out.
ARG EXTRAS=graphs
WORKDIR /app
COPY pyproject.toml README.md hubs.yaml ./
COPY bot ./bot
COPY runbooks ./runbooks
COPY alerts ./alerts
RUN pip install --no-cache-dir ".${EXTRAS:+[$EXTRAS]}" \
    && useradd --system --uid 10001 --gid 0 --home-dir /app --no-create-home incident-bot \
    && mkdir -p /app/data \
    && chown -R 10001:0 /app/data

# Numeric, so that Kubernetes' runAsNonRoot can check it without a passwd file.
USER 10001
ENV DATABASE_URL=sqlite:////app/data/incident-bot.db
# matplotlib's cache: the home folder is not writable by the bot's user.
ENV MPLCONFIGDIR=/tmp/matplotlib
VOLUME ["/app/data"]
EXPOSE 8080
HEALTHCHECK CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz')"
CMD ["incident-bot", "serve", "--host", "0.0.0.0", "--port", "8080"]
