"""labgrid resources of the HOTSPOT rig that labgrid does not ship.

Loaded by the environment files (``imports:``) in the separate labgrid
environment only; nothing else of the project imports labgrid.
"""

from __future__ import annotations

import attr
from labgrid.factory import target_factory
from labgrid.resource.common import Resource


@target_factory.reg_resource
@attr.s(eq=False)
class HotspotI2CBus(Resource):
    """Where the handheld's I2C devices are: a bus number or ``unix:PATH`` (emulated bus)."""

    bus = attr.ib(default="1", converter=str)
