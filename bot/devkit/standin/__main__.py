"""``python -m bot.devkit.standin``: a stand-in for other processes, until interrupted."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from bot.devkit.standin.server import SlackStandIn


def main(argv: list[str] | None = None) -> int:
    """``python -m bot.devkit.standin [--host H] [--port N] [--state-file F]``: serve until interrupted."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m bot.devkit.standin",
                                     description="A local Slack Web API stand-in.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--state-file", type=Path, default=None,
                        help="JSON file to load the channel from and save it to")
    args = parser.parse_args(argv)
    import signal

    def _interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _interrupt)
    standin = SlackStandIn(host=args.host, port=args.port, state_file=args.state_file).start()
    print(f"SLACK_API_URL={standin.base_url}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        standin.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
