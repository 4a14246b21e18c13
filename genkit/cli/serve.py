"""``genkit serve RUN_DIR``: a web page and JSON API for a finished run (needs the ``genkit[serve]`` extra)."""

from __future__ import annotations

import argparse
import ipaddress
import sys
from pathlib import Path

from genkit.errors import InputError

NAME = "serve"
HELP = "serve a finished run as a web page and JSON API: sample, rerank, complete images"
DESCRIPTION = """\
Load the run's export once and serve, from this one process, a page (prompt box, sampling controls defaulting to
the run's stages.sample, results best first with the reranker's scores, live progress, cancel, image completion,
recent results, PNG downloads) and the JSON API under it (schema at /openapi.json; docs/serve.md).

Requests are sampled one at a time by one worker; at most --queue wait behind it and the next gets 429 with a
Retry-After hint. A request that is cancelled, or whose client goes away, stops at its next decode step. Binds
127.0.0.1 (this machine only) unless --host says otherwise; there is no authentication. Needs the serve extra:
pip install 'genkit[serve]'.

examples:
  genkit serve runs/demo                          then open http://127.0.0.1:8000
  genkit serve runs/demo --port 8080 --queue 16 --max-candidates 128
"""


def setup(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", type=Path, help="a run directory written by `genkit run` (uses RUN_DIR/export)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    parser.add_argument("--queue", type=int, default=8, help="requests that may wait behind the running one (8)")
    parser.add_argument("--max-candidates", type=int, default=256, help="most candidates one request may draw (256)")
    parser.add_argument("--max-prompt-chars", type=int, default=300, help="longest prompt accepted, in characters")
    parser.add_argument("--max-upload-mb", type=float, default=4.0, help="largest image upload, in MiB (default 4)")
    parser.add_argument("--threads", type=int, help="torch threads for sampling (default: torch's own choice)")
    parser.add_argument("--device", default="cpu", help="torch device for the model (default cpu)")


def is_loopback(host: str) -> bool:
    """Whether ``host`` names only this machine (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def run(args: argparse.Namespace) -> int:
    from genkit.serve import require_extra

    require_extra()
    for option, value in (("--queue", args.queue), ("--max-candidates", args.max_candidates)):
        if value < 1:
            raise InputError(f"{option} {value}: must be at least 1")
    if args.max_prompt_chars < 1:
        raise InputError(f"--max-prompt-chars {args.max_prompt_chars}: must be at least 1")
    if not 0 < args.port < 65536:
        raise InputError(f"--port {args.port}: must be between 1 and 65535")
    if args.threads is not None and args.threads < 1:
        raise InputError(f"--threads {args.threads}: must be at least 1")
    if not args.max_upload_mb > 0:
        raise InputError(f"--max-upload-mb {args.max_upload_mb}: must be above 0")
    if not args.run_dir.is_dir():
        raise InputError(f"{args.run_dir}: no such run directory")
    import torch
    import uvicorn

    from genkit.sample import Pipeline
    from genkit.serve.app import create_app
    from genkit.serve.limits import FieldError, Limits

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    limits = Limits(
        prompt_chars=args.max_prompt_chars,
        candidates=args.max_candidates,
        queue=args.queue,
        upload_bytes=int(args.max_upload_mb * 1024 * 1024),
    )
    try:
        app = create_app(args.run_dir, limits, Pipeline.from_run(args.run_dir, device=args.device))
    except FieldError as exc:
        raise InputError(exc.message) from None
    if not is_loopback(args.host):
        print(
            f"warning: binding {args.host}: anyone who can reach this machine on port {args.port} can use this "
            f"server (no authentication); the default, 127.0.0.1, serves this machine only",
            file=sys.stderr,
        )
    shown = f"[{args.host}]" if ":" in args.host else args.host
    print(f"genkit serve: {args.run_dir} at http://{shown}:{args.port}  (Ctrl-C stops)", file=sys.stderr)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", timeout_graceful_shutdown=5)
    return 0
