"""Run a Mosquitto broker (Debian's ``mosquitto``) on a free loopback port.

Used by the tests, the demo and CI: a real broker with TLS, client
certificates and the fleet ACL, started and stopped (or killed and restarted,
to test recovery) like a service.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import random
import shutil
import signal
import socket
import subprocess
import time
import weakref
from pathlib import Path

from central.provision import FleetCA, broker_config


class BrokerError(Exception):
    """The broker could not be started."""


_EPHEMERAL = Path("/proc/sys/net/ipv4/ip_local_port_range")


def free_port() -> int:
    """A loopback TCP port that nothing holds now, chosen below the kernel's ephemeral range.

    Why not ``bind(0)``: that port comes from the ephemeral range, which the kernel also hands
    out as the local port of every outgoing connection. Between choosing a port and the server
    binding it (seconds, when a service starts in another process), a connection to the broker
    or the gateway can take it, and the server fails with "address already in use" (CI saw this
    once). Below the range only another ``free_port`` caller can collide, and it chooses at
    random among thousands of ports.
    """
    low = 32768
    with contextlib.suppress(OSError, ValueError, IndexError):
        low = int(_EPHEMERAL.read_text().split()[0])
    first = 10000 if low > 12000 else 1024
    if low - first < 1000:  # the whole range is ephemeral: nothing better than the kernel's pick
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            return int(sock.getsockname()[1])
    chooser = random.SystemRandom()
    for _ in range(200):
        port = chooser.randrange(first, low)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise BrokerError(f"no free loopback port between {first} and {low - 1}: close some servers")


class MosquittoBroker:
    def __init__(self, directory: str | Path, ca: FleetCA, port: int | None = None) -> None:
        binary = shutil.which("mosquitto") or (
            "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
        )
        if binary is None:
            raise BrokerError(
                "mosquitto is not installed: run 'sudo apt-get install mosquitto' "
                "(./dev installs it)"
            )
        self.binary = binary
        self.dir = Path(directory)
        self.port = port or free_port()
        # Started as root (CI, containers) mosquitto would drop to user 'mosquitto'
        # and lose access to this directory: keep the invoking user instead.
        run_as = pwd.getpwuid(os.geteuid()).pw_name if os.geteuid() == 0 else None
        self.config = broker_config(self.dir, ca, self.port, run_as=run_as)
        self._proc: subprocess.Popen[bytes] | None = None
        self._finalizer: weakref.finalize[[subprocess.Popen[bytes]], MosquittoBroker] | None = None
        self._log = self.dir / "mosquitto.log"

    def start(self, timeout_s: float = 10.0) -> MosquittoBroker:
        # In a process group of its own: a terminal's Ctrl-C goes to its whole foreground group,
        # and a broker in ours died at once, before the gateways using it were stopped (who
        # then logged "cannot reach the broker" as the demo ended). Ours stops it, in order.
        with self._log.open("ab") as log:
            self._proc = subprocess.Popen(
                [self.binary, "-c", str(self.config)], stdout=log, stderr=log, process_group=0
            )
        # The Ctrl-C no longer reaches it, so however this process ends (interrupted before
        # its caller's try/finally, or by an error nobody handles) the broker must not outlive
        # it: the finalizer stops it at exit, or when this object is dropped unstopped.
        self._finalizer = weakref.finalize(self, _terminate, self._proc)
        try:
            self._await_listening(timeout_s)
        except BaseException:
            self.stop()
            raise
        return self

    def _await_listening(self, timeout_s: float) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise BrokerError(
                    f"mosquitto exited at start (code {self._proc.returncode}); "
                    f"see {self._log}: {self._log.read_text()[-500:]}"
                )
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise BrokerError(f"mosquitto did not listen on port {self.port} within {timeout_s} s")

    def stop(self) -> None:
        if self._finalizer is not None:
            self._finalizer()  # terminates the process once; later calls do nothing
        self._finalizer = None
        self._proc = None

    def reload(self) -> None:
        """What ``systemctl reload`` does: re-read the configuration, the ACL and the CRL."""
        if self._proc is not None:
            self._proc.send_signal(signal.SIGHUP)

    def kill(self) -> None:
        """Die like a crashed broker: no clean shutdown."""
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
        self.stop()  # reaped already: only forgets it

    def restart(self) -> None:
        self.stop()
        self.start()

    def log_tail(self, lines: int = 20) -> str:
        """The broker's last log lines (connections, refusals, warnings): what a failed
        system test prints so that a rare failure can be explained after the fact."""
        if not self._log.exists():
            return ""
        return "\n".join(self._log.read_text(errors="replace").splitlines()[-lines:])

    def __enter__(self) -> MosquittoBroker:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def _terminate(proc: subprocess.Popen[bytes]) -> None:
    """Stop a broker process: SIGTERM, and SIGKILL if it has not gone within 5 s."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
