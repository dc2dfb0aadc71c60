"""`python -m localcloud.vertex --port N`: run the emulator until SIGTERM or SIGINT."""

from __future__ import annotations

import sys

from localcloud.serving.command import command_line, serve
from localcloud.vertex.config import SettingError
from localcloud.vertex.server import VertexEmulator


def main(argv: list[str] | None = None) -> int:
    parser = command_line(
        "python -m localcloud.vertex",
        "Vertex AI batch prediction emulator (faults: VERTEX_EMULATOR_* variables).",
    )
    args = parser.parse_args(argv)
    try:
        return serve(lambda: VertexEmulator(args.host, args.port))
    except SettingError as exc:
        parser.error(str(exc))


if __name__ == "__main__":
    sys.exit(main())
