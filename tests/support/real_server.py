"""A real OpenAI-compatible server for tests and benchmarks: `transformers serve` (the `serving` extra, installed by
`make install`) hosting the converted SmolLM2-135M-Instruct folder on 127.0.0.1, on a free port, started in its own
process group and stopped with it. Beside the scripted server, which pins exact behaviour, it shows what a real
model does to the pipeline. Usage: `python -m tests.support.real_server [--port 8000]` (serves until interrupted)."""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MODEL = "models/smollm2-135m-instruct"  # the model id the server reports is this path, exactly as given
SMOLLM2_CONFIG = REPO / "experiments" / "configs" / "generate" / "smollm2.yaml"
READY_S = 120.0
# Threads for the server's torch. On a 2-core machine busy with other work, two OpenMP threads spin against the other
# processes: measured here, one SmolLM2 reply of 11-27 tokens took 12-48 s with the default threads and 1-2 s with one.
THREADS = 1


def missing() -> str | None:
    """Why the real server cannot start here (None when it can): the CLI, its serving extra, or the model folder."""
    if shutil.which("transformers", path=str(Path(sys.executable).parent)) is None:
        return "the `transformers` command is not installed next to this Python"
    for module in ("fastapi", "uvicorn"):
        if importlib.util.find_spec(module) is None:
            return f"{module} is missing: install the serving extra (make install)"
    if not (REPO / MODEL / "config.json").is_file():
        return prepare_model()
    return None


def prepare_model() -> str | None:
    """Convert the packaged SmolLM2 weights into MODEL once (as `famous-persona fetch-model smollm2` does); the
    reason it could not, or None."""
    from famous_persona.errors import DataError
    from famous_persona.model_assets import fetch

    try:
        fetch("smollm2", REPO / MODEL)
    except DataError as error:
        return f"no {MODEL} and it could not be made ({error}): run `famous-persona fetch-model smollm2`"
    return None


def smollm2_args(out: Path, base_url: str, config: Path = SMOLLM2_CONFIG, **overrides: object) -> list[str]:
    """Command-line arguments of a generation run of the small-model config with every role on `base_url`."""
    options = {"out": out, **{f"{role}_base_url": base_url for role in ("writer", "sampler", "judge")}, **overrides}
    args = ["--config", str(config)]
    for key, value in options.items():
        args += [f"--{key}", *map(str, value)] if isinstance(value, list) else [f"--{key}", str(value)]
    return args


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RealServer:
    """`transformers serve` on 127.0.0.1:`port`; a context manager that waits for /health and stops the server."""

    def __init__(self, port: int | None = None, log: Path | None = None, threads: int = THREADS):
        self.port, self.threads = port or free_port(), threads
        self.log = log or Path(tempfile.mkdtemp(prefix="real-server-")) / "serve.log"
        self.process: subprocess.Popen | None = None
        self.model = MODEL
        self.started_s = 0.0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def command(self) -> list[str]:
        cli = str(Path(sys.executable).parent / "transformers")
        return [cli, "serve", "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning", MODEL]

    def __enter__(self) -> RealServer:
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_VERBOSITY": "error"}
        env |= {"OMP_NUM_THREADS": str(self.threads), "MKL_NUM_THREADS": str(self.threads)}
        start = time.monotonic()
        with open(self.log, "wb") as out:
            self.process = subprocess.Popen(
                self.command(), cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        self._wait_ready(start)
        self.started_s = time.monotonic() - start
        return self

    def _wait_ready(self, start: float) -> None:
        """Poll /health until it answers; a server that exits or takes longer than READY_S is an error with its log."""
        while time.monotonic() - start < READY_S:
            if self.process.poll() is not None:
                raise RuntimeError(f"transformers serve exited {self.process.returncode}: {self.tail()}")
            health = f"http://127.0.0.1:{self.port}/health"
            with contextlib.suppress(OSError), urllib.request.urlopen(health, timeout=2) as reply:
                if reply.status == 200:
                    return
            time.sleep(0.5)
        self.__exit__()
        raise RuntimeError(f"transformers serve was not ready after {READY_S:.0f} s: {self.tail()}")

    def tail(self, lines: int = 15) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:]) if self.log.is_file() else ""

    def __exit__(self, *exc: object) -> None:
        """Stop the server's process group (uvicorn and its workers), by signal, then by force after 10 s."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


def main(args: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--threads", type=int, default=THREADS, help="torch threads of the server")
    options = parser.parse_args(args)
    reason = missing()
    if reason:
        sys.exit(f"error: {reason}")
    with RealServer(options.port, threads=options.threads) as server:
        print(f"transformers serve with {server.model} on {server.base_url} (ready in {server.started_s:.1f} s)")
        with contextlib.suppress(KeyboardInterrupt):
            server.process.wait()


if __name__ == "__main__":
    main()
