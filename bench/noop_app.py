"""The baseline of bench/ingest.py: a bare FastAPI app with one no-op endpoint.

    python bench/noop_app.py --port 8099 [--log-level info] [--no-access-log]

It is served the way `incident-bot serve` serves the bot (bot/cli.py `_serve`): the same
`logging.basicConfig`, then `uvicorn.run(app, ...)` in one process with uvicorn's defaults
(loop "auto" and http "auto", i.e. uvloop and httptools when installed) and `ws="none"`.
"""

import argparse
import logging

import uvicorn
from fastapi import FastAPI

app = FastAPI()


@app.post("/noop")
async def noop() -> dict[str, bool]:
    """Answer at once; the body is received by the server but never parsed."""
    return {"ok": True}


def main() -> None:
    parser = argparse.ArgumentParser(description="serve the bare no-op app")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument(
        "--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"]
    )
    parser.add_argument("--no-access-log", dest="access_log", action="store_false")
    args = parser.parse_args()
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        access_log=args.access_log,
        ws="none",
    )


if __name__ == "__main__":
    main()
