"""``/api/v1/devices``: the cluster's nodes and devices, and who holds what."""

from sqlalchemy import select

from .. import orm
from ..permissions import ADMIN, USE, requires
from ..scheduling import capacity, unassigned
from ..vcs import all_vcs, to_scheduling
from .base import APIHandler


class DevicesHandler(APIHandler):
    @requires(USE)
    async def get(self):
        nodes = await self.ytung.nodes()
        held = {
            (a.node, a.device_id): a.workload for a in self.db.scalars(select(orm.DeviceAllocation))
        }
        admin = ADMIN in self.platform_permissions
        out = []
        for node in nodes:
            devices = []
            for device_id in node.devices:
                w = held.get((node.name, device_id))
                holder = None
                if w is not None:
                    holder = {"workload": w.id, "vc": w.vc, "status": w.status}
                    if admin or (self.platform_user and w.owner == self.platform_user.name):
                        holder["owner"] = w.owner
                devices.append(
                    {"id": device_id, "healthy": device_id not in node.unhealthy, "held_by": holder}
                )
            out.append(
                {
                    "name": node.name,
                    "device_type": node.device_type,
                    "arch": node.arch,
                    "devices": devices,
                }
            )
        # allocations on devices the inventory no longer has (a node went away) are shown too
        known = {(n.name, d) for n in nodes for d in n.devices}
        orphans = [
            {"node": node, "device": device_id, "workload": w.id}
            for (node, device_id), w in sorted(held.items())
            if (node, device_id) not in known
        ]
        vcs = [to_scheduling(vc) for vc in all_vcs(self.db)]
        self.write_json(
            {
                "nodes": out,
                "capacity": capacity(nodes),
                "unassigned": unassigned(nodes, vcs),
                "orphans": orphans,
            }
        )


default_handlers = [(r"/api/v1/devices", DevicesHandler)]
