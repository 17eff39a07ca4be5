"""What an incident is about: a group of cameras of the registry, one household line, or one camera.

A `GroupKey` is parsed once (from a checkpointed incident key) or built from named parts, and written
back as the text the incident keys and checkpoints have always used: "area:A01", "isp:x",
"ispa:x/A01" (an ISP within one area), "line:L", "lcong:L", "cam:C" and "monitor".
"""

from __future__ import annotations

import enum
from typing import Any, NamedTuple


class GroupKind(enum.StrEnum):
    MONITOR = "monitor"  # the whole fleet: the monitor itself could not see
    AREA = "area"
    ISP = "isp"
    ISP_IN_AREA = "ispa"
    LINE = "line"  # one household line (local outage)
    LINE_CONGESTION = "lcong"  # one household line, congested
    CAMERA = "cam"


_KINDS = {k.value: k for k in GroupKind}


class GroupKey(NamedTuple):
    kind: GroupKind
    name: str = ""  # the area, ISP, line or camera; for ISP_IN_AREA the ISP; "" for the monitor
    area: str = ""  # ISP_IN_AREA only: the area the ISP is limited to

    @classmethod
    def parse(cls, text: str) -> GroupKey:
        kind, _, name = text.partition(":")
        if kind == GroupKind.ISP_IN_AREA:
            isp, _, area = name.partition("/")
            return cls(GroupKind.ISP_IN_AREA, isp, area)
        return cls(_KINDS[kind], name)

    def __str__(self) -> str:
        if self.kind is GroupKind.MONITOR:
            return "monitor"
        if self.kind is GroupKind.ISP_IN_AREA:
            return f"ispa:{self.name}/{self.area}"
        return f"{self.kind}:{self.name}"

    def whole_isp(self) -> GroupKey:
        """The ISP of an ISP_IN_AREA group, across all areas."""
        return GroupKey(GroupKind.ISP, self.name)

    def scope(self) -> dict[str, Any]:
        """The incident's scope as decision records carry it."""
        kind = self.kind
        if kind is GroupKind.ISP_IN_AREA:
            return {"isp": self.name, "area": self.area}
        if kind is GroupKind.MONITOR:
            return {"monitor": True}
        if kind is GroupKind.CAMERA:
            return {"camera": self.name}
        if kind in (GroupKind.LINE, GroupKind.LINE_CONGESTION):
            return {"line": self.name}
        return {str(kind): self.name}
