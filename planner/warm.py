"""A step as a fork of its worker rather than a new Python: the worker imports what a step's module imports (torch,
transformers, TRL: 5 to 18 s on two CPU cores, more than a smoke step's work) once, and every step it forks starts with
them loaded; a light step's worker imports nothing heavy. The fork is otherwise a step's own process: its output goes
to the run's log, its exit status is the step's, and a signal ends it alone. Used only where no NVIDIA driver is
present (`start` runs a new Python elsewhere): a forked CUDA runtime is the one thing a CPU cannot rehearse, and
beside GPU work the import is noise."""

from __future__ import annotations

import ast
import atexit
import importlib
import importlib.util
import os
import runpy
import signal
import subprocess
import sys
import traceback
import warnings
from pathlib import Path
from typing import IO

NVIDIA_DRIVER = Path("/dev/nvidiactl")


def available() -> bool:
    return not NVIDIA_DRIVER.exists()


def start(module: str, args: list[str], out: IO, env: dict[str, str]) -> int:
    """`python -m module args` with its output to `out` and `env` on top of this environment: forked with its imports
    loaded where a fork may be, else a new Python. Its exit status (negative: the signal that ended it)."""
    if available():
        preload(module, env)
        return run(module, args, out.fileno(), env)
    argv = [sys.executable, "-m", module, *args]
    return subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **env}).returncode


def preload(module: str, env: dict[str, str]) -> None:
    """Import what `module` imports at its top, with the steps' environment set first (libraries read their
    verbosity and threads at import); the module itself runs in the fork, as `__main__`."""
    os.environ.update(env)
    for name in top_imports(module):
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - the fork imports it again and its log shows the error
            continue


def top_imports(module: str) -> list[str]:
    """The absolute imports at the top level of `module`'s source."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return []
    names: list[str] = []
    for node in ast.parse(Path(spec.origin).read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module != "__future__":
            names.append(node.module)
    return names


def run(module: str, args: list[str], log_fd: int, env: dict[str, str]) -> int:
    """`python -m module args` as a fork writing to `log_fd`; its exit status (negative: the signal that ended it)."""
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        os._exit(_child(module, args, log_fd, env))
    try:
        _, status = os.waitpid(pid, 0)
    except BaseException:  # the worker told to stop (its signal handler raised): the step stops with it
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        raise
    return os.waitstatus_to_exitcode(status)


def _child(module: str, args: list[str], log_fd: int, env: dict[str, str]) -> int:
    """The fork's life: the step's signals, output, environment and exit handlers, then its module as `__main__`."""
    code = 1
    try:
        for number in (signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2):
            signal.signal(number, signal.SIG_DFL)  # the worker's handlers (submitit's) are not the step's
        signal.signal(signal.SIGINT, signal.default_int_handler)  # Ctrl-C raises KeyboardInterrupt, as in a new Python
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        sys.stdout = open(1, "w", encoding="utf-8", buffering=1, closefd=False)  # noqa: SIM115 - the process's own
        sys.stderr = open(2, "w", encoding="utf-8", buffering=1, closefd=False)  # noqa: SIM115
        os.environ.update(env)
        if env.get("PYTHONWARNINGS") == "ignore":
            warnings.simplefilter("ignore")  # the variable acts at interpreter start, which a fork skips
        if env.get("OMP_NUM_THREADS") and "torch" in sys.modules:
            sys.modules["torch"].set_num_threads(int(env["OMP_NUM_THREADS"]))
        atexit._clear()  # the worker's exit handlers are not the step's; the step's own run below
        sys.argv = [module, *args]
        runpy.run_module(module, run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as stop:
        code = _exit_code(stop.code)
    except BaseException:  # noqa: BLE001 - a step's crash is its exit status 1 and a traceback in its log
        traceback.print_exc()
    finally:
        atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()
    return code


def _exit_code(code: object) -> int:
    """What `sys.exit(code)` makes a process's status: None is 0, a message is printed and is 1."""
    if code is None or isinstance(code, int):
        return code or 0
    print(code, file=sys.stderr)
    return 1
