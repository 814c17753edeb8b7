"""The broker as a process of ours: a Ctrl-C at the terminal is ours to handle, not the broker's."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

SCRIPT = """
import signal, socket, sys, time
from pathlib import Path
# As a program in a terminal's foreground has it: a runner started in the background (nohup,
# '&' without job control) ignores SIGINT, and its children would inherit that.
signal.signal(signal.SIGINT, signal.default_int_handler)
from central.broker import MosquittoBroker
from central.provision import FleetCA
base = Path(sys.argv[1])
broker = MosquittoBroker(base / "broker", FleetCA.create(base / "ca")).start()
try:
    # Inside the try: the test's Ctrl-C may arrive while print() is still returning.
    print("ready", flush=True)
    time.sleep(60)
except KeyboardInterrupt:
    time.sleep(1.0)  # time enough for a broker that got the Ctrl-C too to be gone
    try:
        socket.create_connection(("127.0.0.1", broker.port), timeout=1).close()
        print("up", flush=True)
    except OSError:
        print("down", flush=True)
finally:
    broker.stop()
"""


def test_a_ctrl_c_at_the_terminal_leaves_the_broker_to_be_stopped_in_order(tmp_path: Path) -> None:
    """The terminal sends Ctrl-C's SIGINT to its whole foreground process group. A broker in it
    died at once, before the gateways that use it were stopped, and the person who pressed
    Ctrl-C on the demo read "cannot reach the broker ... is mosquitto running?" as it ended."""
    process = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own foreground group, as under a terminal
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "ready"
        os.killpg(process.pid, signal.SIGINT)  # what the terminal does on Ctrl-C
        assert process.stdout.readline().strip() == "up"
        assert process.wait(30) == 0
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


ABANDONED = """
import sys
from pathlib import Path
from central.broker import MosquittoBroker
from central.provision import FleetCA
base = Path(sys.argv[1])
broker = MosquittoBroker(base / "broker", FleetCA.create(base / "ca")).start()
print(broker._proc.pid, flush=True)
raise KeyboardInterrupt  # a Ctrl-C before any try/finally of the caller's could stop it
"""


def test_a_broker_never_outlives_the_process_that_started_it(tmp_path: Path) -> None:
    """Its own process group keeps the terminal's Ctrl-C from it, so a demo interrupted while it
    was still starting (System.start, before any try/finally) exited and left mosquitto
    running."""
    done = subprocess.run(
        [sys.executable, "-c", ABANDONED, str(tmp_path)], capture_output=True, text=True
    )
    assert "KeyboardInterrupt" in done.stderr
    pid = int(done.stdout.strip())
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return  # gone, as it should be
    os.kill(pid, signal.SIGKILL)
    raise AssertionError(f"mosquitto (pid {pid}) outlived the process that started it")


def test_free_ports_are_outside_the_range_outgoing_connections_take() -> None:
    """A port from ``free_port`` is bound seconds later by another process; an outgoing
    connection's local port, taken from the kernel's ephemeral range meanwhile, must not be it."""
    import socket

    from central.broker import free_port

    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    ports = {free_port() for _ in range(50)}
    assert all(1024 <= p < low for p in ports), sorted(p for p in ports if p >= low)
    assert len(ports) > 40  # chosen at random, so two callers rarely meet
    port = ports.pop()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", port))  # and it is free
