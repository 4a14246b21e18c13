"""Where metrics go: ``metrics.jsonl`` (one JSON object per line), optional TensorBoard, and a progress bar."""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genkit.errors import InputError

if TYPE_CHECKING:
    from rich.progress import Progress as RichProgress
    from rich.progress import TaskID


class MetricsLog:
    """Appends metric lines to ``path`` (rank 0 only); mirrors them to TensorBoard when asked.

    A resumed run first drops lines past the resumed step, so the file reads as one uninterrupted run.
    """

    def __init__(
        self, path: Path, *, tensorboard: bool = False, recipe_key: str = "stage", resume_step: int = 0
    ) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._truncate_after(resume_step)
        self._handle = open(self.path, "a", encoding="utf-8")
        self._tb = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError as exc:
                raise InputError(
                    f"{recipe_key}.tensorboard: needs the tensorboard package ({exc}); "
                    "`pip install 'genkit[tensorboard]'` or set tensorboard: false"
                ) from None
            self._tb = SummaryWriter(log_dir=str(self.path.parent / "tensorboard"))

    def _truncate_after(self, step: int) -> None:
        if not self.path.exists():
            return
        if step <= 0:
            self.path.unlink()
            return
        kept = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                if json.loads(line).get("step", 0) <= step:
                    kept.append(line)
            except json.JSONDecodeError:
                continue
        self.path.write_text("".join(f"{line}\n" for line in kept), encoding="utf-8")

    def write(self, record: dict[str, Any]) -> None:
        clean = {k: (v if not isinstance(v, float) or math.isfinite(v) else str(v)) for k, v in record.items()}
        self._handle.write(json.dumps(clean, sort_keys=False) + "\n")
        self._handle.flush()
        if self._tb is not None:
            prefix = record.get("split", "train")
            for key, value in record.items():
                if isinstance(value, (int, float)) and key not in ("step", "time"):
                    self._tb.add_scalar(f"{prefix}/{key}", value, record.get("step", 0))

    def close(self) -> None:
        self._handle.close()
        if self._tb is not None:
            self._tb.close()


class Progress:
    """A rich progress bar (loss, throughput, ETA) on an interactive terminal; plain lines otherwise."""

    def __init__(self, stage: str, total: int, start: int, enabled: bool) -> None:
        self.stage, self.total, self.start = stage, total, start
        self.enabled = enabled
        self._bar: RichProgress | None = None
        self._task: TaskID | None = None
        self._t0 = time.perf_counter()
        if not enabled:
            return
        from rich.console import Console

        console = Console(stderr=True)
        if not console.is_terminal:
            return
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TextColumn,
            TimeRemainingColumn,
        )
        from rich.progress import (
            Progress as RichProgress,
        )

        self._bar = RichProgress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}"),
            TextColumn("{task.fields[speed]}"),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self._bar.start()
        self._task = self._bar.add_task(stage, total=total, completed=start, loss="-", speed="-")

    def update(self, step: int, loss: float, samples_per_s: float) -> None:
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, completed=step, loss=f"{loss:.4f}", speed=f"{samples_per_s:.1f} samples/s")

    def note(self, text: str) -> None:
        """A line above the bar (or on stderr without one): validations, checkpoints."""
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.console.print(text)
        else:
            print(text, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()


class WorkProgress:
    """A rich progress bar with ETA over one piece of work that is not a training loop (encoding a split,
    decoding samples); a no-op off an interactive terminal or when disabled.

    ``with WorkProgress("encoding train", enabled) as progress: progress(done, total)`` (``total`` None: not known
    yet); ``progress`` is None when no bar is shown, so callers can pass it on as an optional callback.
    """

    def __init__(self, description: str, enabled: bool = True) -> None:
        self.description, self.enabled = description, enabled
        self._bar: RichProgress | None = None
        self._task: TaskID | None = None

    def __enter__(self) -> Callable[[int, int | None], None] | None:
        from rich.console import Console

        console = Console(stderr=True)
        if not (self.enabled and console.is_terminal):
            return None
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TextColumn,
            TimeRemainingColumn,
        )
        from rich.progress import (
            Progress as RichProgress,
        )

        self._bar = RichProgress(
            TextColumn(self.description), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=console
        )
        self._bar.start()
        self._task = self._bar.add_task(self.description, total=None)
        return self.update

    def update(self, done: int, total: int | None) -> None:
        # only handed out by __enter__ once the bar is shown
        assert self._bar is not None and self._task is not None
        self._bar.update(self._task, completed=done, total=total)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()
