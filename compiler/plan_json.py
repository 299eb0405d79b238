"""The plan as JSON, laid out like its YAML: what fits on a line within the width is written
on one line (`{"api": "emails", "access": "read_write"}`), the rest one key or item per line,
indented by two spaces; a list of mappings keeps one item per line.

`json.dumps(indent=2)` put every scalar on a line of its own (770 lines for the 83-line
autopilot.syncmap, against 245 of YAML) and ran the pure-Python encoder.
"""

from __future__ import annotations

import json
from typing import Any

from syncmap.compiler.plan_yaml import Layout


class _JsonLayout(Layout):
    def flow_safe(self, spelled: str, v: Any) -> str:
        return spelled  # JSON has one spelling, valid on a line of its own or inside {…}

    def text(self, data: dict[str, Any]) -> str:
        self.value(data, 0, "", "")
        return "\n".join(self.out) + "\n"

    def value(self, v: Any, indent: int, lead: str, tail: str) -> None:
        """`v` starting after `lead` (an indentation and maybe `"key": `), then `tail`."""
        text = self.inline(lead, v)
        if text is not None:
            self.out.append(f"{lead}{text}{tail}")
            return
        pad = " " * (indent + 2)
        if isinstance(v, dict):
            self.out.append(lead + "{")
            for i, (k, x) in enumerate(v.items()):
                self.value(x, indent + 2, f"{pad}{self.spell(k)}: ", "," if i < len(v) - 1 else "")
            self.out.append(" " * indent + "}" + tail)
        else:
            self.out.append(lead + "[")
            for i, x in enumerate(v):
                self.value(x, indent + 2, pad, "," if i < len(v) - 1 else "")
            self.out.append(" " * indent + "]" + tail)


def dump(data: dict[str, Any], width: int) -> str:
    """`data` as JSON text: one line wherever it fits in `width` columns, else indented."""
    strings: dict[str, str] = {}

    def spell(v: Any) -> str:
        if type(v) is str:
            text = strings.get(v)
            if text is None:
                text = strings[v] = json.dumps(v, ensure_ascii=False)
            return text
        return json.dumps(v, ensure_ascii=False)

    return _JsonLayout(spell, width).text(data)
