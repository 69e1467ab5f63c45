"""Shared pieces of the benchmarks: pinning, CPU accounting, servers, machine info.

Nothing here is part of the package; the benchmarks import it by path
(``python bench/fanout.py`` puts ``bench/`` first on ``sys.path``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import platform
import resource
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine, Iterator, Sequence
from pathlib import Path
from typing import Any

SERVER_CPU = 0
LOAD_CPU = 1
HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
VENV_BIN = Path(sys.executable).parent
CLK_TCK = os.sysconf("SC_CLK_TCK")
PASSWORD = "correct-horse-battery-staple"


def pin(cpu: int) -> None:
    """Pin the calling process to one CPU (when the machine has it)."""
    if cpu < (os.cpu_count() or 1):
        os.sched_setaffinity(0, {cpu})


def pin_server() -> None:
    """``preexec_fn`` for server subprocesses: CPU 0, and their own process group."""
    pin(SERVER_CPU)


def raise_fd_limit(wanted: int = 65536) -> int:
    """Raise the soft RLIMIT_NOFILE towards the hard limit; children inherit it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        stat = f.read()
    # The command name may contain spaces; fields after it start at ') '.
    fields = stat[stat.rindex(b")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def self_cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before listening")
        with socket.socket() as s:
            s.settimeout(0.5)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listening on port {port} after {timeout}s")


def wait_idle(pid: int, *, quiet: float = 0.02, step: float = 0.5, limit: float = 10.0) -> None:
    """Wait until a process spends less than ``quiet`` CPU-seconds per ``step``."""
    deadline = time.monotonic() + limit
    last = cpu_seconds(pid)
    while time.monotonic() < deadline:
        time.sleep(step)
        now = cpu_seconds(pid)
        if now - last < quiet:
            return
        last = now


class Server:
    """A server subprocess on CPU 0; stopped with SIGTERM, then SIGKILL."""

    def __init__(
        self,
        argv: Sequence[str],
        port: int,
        *,
        env: dict[str, str] | None = None,
        log: Path,
    ) -> None:
        self.argv = list(argv)
        self.port = port
        self.env = env
        self.log_path = log
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> Server:
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            self.argv,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=self.env,
            preexec_fn=pin_server,
            start_new_session=True,
        )
        wait_for_port(self.port, self.proc)
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()
        self.proc = None


@contextlib.contextmanager
def running(server: Server) -> Iterator[Server]:
    server.start()
    try:
        yield server
    finally:
        server.stop()


def backchannel_cmd(*args: str) -> list[str]:
    exe = VENV_BIN / "backchannel"
    if exe.exists():
        return [str(exe), *args]
    return [sys.executable, "-m", "backchannel", *args]


def create_user(data_dir: Path, name: str, role: str, env: dict[str, str]) -> None:
    subprocess.run(
        backchannel_cmd("create-user", name, "--role", role, "--data-dir", str(data_dir)),
        input=(PASSWORD + "\n").encode(),
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )


def server_env(data_dir: Path, database_url: str = "", sqlite_driver: str = "") -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BACKCHANNEL_")}
    env["BACKCHANNEL_DATA_DIR"] = str(data_dir)
    env["BACKCHANNEL_SECRET_KEY"] = "bench-secret"
    if database_url:
        env["BACKCHANNEL_DATABASE_URL"] = database_url
    if sqlite_driver:  # else the server's default
        env["BACKCHANNEL_SQLITE_DRIVER"] = sqlite_driver
    return env


def percentile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def machine_info() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_kb = 0
    with contextlib.suppress(OSError, ValueError, IndexError):
        mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    versions: dict[str, str] = {}
    for name in ("backchannel", "starlette", "fastapi", "uvicorn", "uvloop", "httptools"):
        with contextlib.suppress(Exception):
            from importlib.metadata import version

            versions[name] = version(name)
    try:
        load = os.getloadavg()
    except OSError:
        load = (0.0, 0.0, 0.0)
    return {
        "cpu_model": model,
        "cpus": os.cpu_count(),
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "packages": versions,
        "loadavg_at_start": [round(x, 2) for x in load],
        "taskset": shutil.which("taskset") is not None,
        "server_cpu": SERVER_CPU,
        "load_cpu": LOAD_CPU,
    }


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def fmt(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"


def run_and_record(
    main: Callable[[], Coroutine[Any, Any, dict[str, Any]]], output: Path
) -> dict[str, Any]:
    """Run a benchmark's load side on its own core (uvloop where installed), as every
    benchmark does, and write its JSON result to ``output``."""
    import asyncio
    import json

    pin(LOAD_CPU)
    try:
        import uvloop

        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    except ImportError:
        runner = asyncio.Runner()
    with runner:
        result = runner.run(main())
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n")
    return result
