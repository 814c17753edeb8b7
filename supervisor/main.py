"""The supervisor's firmware entry point on the RP2040 (``main.py`` on the board).

It wires the logic to the board and runs the loop: every 10 ms the logic's
tick, then the RP2040's own watchdog is fed, so a hang of this loop restarts
the supervisor itself within 8 s (the latched tamper state is kept in flash).
"""

import time

import image

image.resume()  # an update cut by a power loss is finished before anything else runs

import machine  # noqa: E402
from board import Board, I2CLink  # noqa: E402
from logic import Supervisor  # noqa: E402

TICK_MS = 10


def main() -> None:
    board = Board()
    supervisor = Supervisor(board, board.now_ms())
    I2CLink(
        supervisor.address,
        lambda data: supervisor.on_write(data, board.now_ms()),
        supervisor.on_read,
    )
    watchdog = machine.WDT(timeout=8000)
    while True:
        supervisor.tick(board.now_ms())
        board.feed_watchdog(watchdog)
        time.sleep_ms(TICK_MS)


main()
