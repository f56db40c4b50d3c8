"""python -m replay [--port 8001] [--recordings sample/replay.json]"""

import argparse
import contextlib
from pathlib import Path

from .server import ReplayServer


def main():
    parser = argparse.ArgumentParser(description="OpenAI-compatible server answering from recorded replies.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument(
        "--recordings", default=str(Path(__file__).resolve().parent.parent / "sample" / "replay.json")
    )
    args = parser.parse_args()
    # A long-running server keeps no request bodies (memory stays flat).
    server = ReplayServer.from_file(args.recordings, host=args.host, port=args.port, record_calls=False)
    print(f"replay server answering at {server.base_url}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


if __name__ == "__main__":
    main()
