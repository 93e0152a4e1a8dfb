"""A single-node Slurm cluster on 127.0.0.1 for the tests: Debian's slurmctld, slurmd, munge, and slurmdbd over a
MariaDB on a unix socket (so a job that dies is reported rather than waited on forever), two fake GPUs as gres.
Everything lives in one temporary folder; `stop` cancels every job and ends each daemon it started."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

DAEMONS = ("munged", "munge", "mariadbd", "slurmdbd", "slurmctld", "slurmd", "sbatch", "mariadb-install-db")
MUNGE_KEY = Path("/etc/munge/munge.key")
DBD_PORT = 16819


def listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
    except OSError:
        return False
    return True


def _munge_answers() -> bool:
    """A munged that encodes a credential, not merely a socket file (one killed earlier leaves its socket behind)."""
    return subprocess.run(["munge", "-n"], capture_output=True).returncode == 0


def missing() -> list[str]:
    """The programs this cluster needs that are not installed (`make slurm` installs them as root)."""
    lacking = [name for name in DAEMONS if shutil.which(name) is None and not Path(f"/usr/sbin/{name}").exists()]
    if not MUNGE_KEY.exists():
        lacking.append(str(MUNGE_KEY))
    if os.geteuid() != 0:
        lacking.append("root")
    return lacking


def _slurm_conf(root: Path) -> str:
    return f"""ClusterName=fp
SlurmctldHost=localhost(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/slurmctld.log
SlurmdLogFile={root}/slurmd.log
SlurmctldPort=16817
SlurmdPort=16818
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SwitchType=switch/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerParameters=batch_sched_delay=0
DependencyParameters=kill_invalid_depend
EnforcePartLimits=ALL
MailProg=/bin/true
ReturnToService=2
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=16819
GresTypes=gpu
NodeName=localhost NodeAddr=127.0.0.1 CPUs=2 RealMemory=4096 Gres=gpu:2 State=UNKNOWN
PartitionName=main Nodes=localhost Default=YES MaxTime=INFINITE State=UP
"""


def _slurmdbd_conf(root: Path) -> str:
    return f"""AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=16819
SlurmUser=root
PidFile={root}/slurmdbd.pid
LogFile={root}/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageLoc=slurm_acct
StorageUser=root
"""


class Cluster:
    """Start with `start()`, give clients `env` (SLURM_CONF must be absolute), end with `stop()`."""

    def __init__(self, root: Path):
        self.root = Path(root).resolve()
        self.conf = self.root / "slurm.conf"
        self.processes: list[subprocess.Popen] = []
        self.started_munge = False
        self.env = {**os.environ, "SLURM_CONF": str(self.conf)}

    def _write_config(self) -> None:
        for sub in ("state", "spool", "dev", "db"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        for k in range(2):
            device = self.root / "dev" / f"nvidia{k}"
            if not device.exists():
                subprocess.run(["mknod", str(device), "c", "195", str(k)], check=True)
        self.conf.write_text(_slurm_conf(self.root))
        (self.root / "gres.conf").write_text(
            "".join(f"NodeName=localhost Name=gpu File={self.root}/dev/nvidia{k}\n" for k in range(2))
        )
        dbd = self.root / "slurmdbd.conf"
        dbd.write_text(_slurmdbd_conf(self.root))
        dbd.chmod(0o600)

    def _start_munge(self) -> None:
        run = Path("/run/munge")
        run.mkdir(exist_ok=True)
        shutil.chown(run, "munge", "munge")
        self.started_munge = not _munge_answers()
        if self.started_munge:  # --force: a munged killed earlier leaves its socket behind, and would block a new one
            subprocess.run(["runuser", "-u", "munge", "--", "munged", "--force"], check=True)
            self._wait(_munge_answers, "munged")

    def _start_mariadb(self) -> None:
        data = self.root / "db"
        install = ["mariadb-install-db", "--user=root", f"--datadir={data}", "--auth-root-authentication-method=normal"]
        subprocess.run(install, check=True, capture_output=True)
        sock = self.root / "mysql.sock"
        self.processes.append(subprocess.Popen(
            ["mariadbd", "--user=root", f"--datadir={data}", "--skip-networking", f"--socket={sock}",
             f"--pid-file={self.root}/mariadb.pid"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))  # fmt: skip
        self._wait(sock.exists, "mariadbd")
        self.env["MYSQL_UNIX_PORT"] = str(sock)

    def _wait(self, ready, what: str, timeout: float = 30.0) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if ready():
                return
            time.sleep(0.1)
        raise RuntimeError(f"{what} did not start in {timeout:.0f} s{self._log_tails()}")

    def _log_tails(self) -> str:
        """The end of every daemon log, so a CI failure shows its cause after the temporary folder is gone."""
        tails = [f"\n--- {log.name}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-15:])
                 for log in sorted(self.root.glob("*.log"))]  # fmt: skip
        return "".join(tails)

    def start(self) -> Cluster:
        """Every daemon, then wait for the node to be idle; a failed start stops what it started."""
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> Cluster:
        self._write_config()
        self._start_munge()
        self._start_mariadb()
        subprocess.run(["slurmdbd"], check=True, env=self.env)  # reads slurmdbd.conf beside SLURM_CONF
        self._wait(lambda: listening(DBD_PORT), "slurmdbd")
        subprocess.run(["slurmctld", "-f", str(self.conf)], check=True, env=self.env)
        subprocess.run(["slurmd", "-f", str(self.conf), "-N", "localhost"], check=True, env=self.env)
        self._wait(self._idle, "the Slurm node")
        return self

    def _idle(self) -> bool:
        done = subprocess.run(["sinfo", "-h", "-N", "-o", "%T"], capture_output=True, text=True, env=self.env)
        return done.stdout.strip() == "idle"

    def stop(self) -> None:
        """Cancel every job (running ones outlive slurmd), then end each daemon this cluster started and wait."""
        subprocess.run(["scancel", "--user", "root"], env=self.env, capture_output=True)
        pid_files = [self.root / f"{name}.pid" for name in ("slurmd", "slurmctld", "slurmdbd")]
        if self.started_munge:
            pid_files.append(Path("/run/munge/munged.pid"))
        stopping = []
        for pid_file in pid_files:
            try:
                pid = int(pid_file.read_text().strip())
                os.kill(pid, signal.SIGTERM)
            except (FileNotFoundError, ProcessLookupError, ValueError):
                continue
            stopping.append(pid)
        for pid in stopping:  # told all at once, so they stop side by side; the database after them
            self._wait(lambda pid=pid: not Path(f"/proc/{pid}").exists(), f"stopping pid {pid}", timeout=20)
        for process in self.processes:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
