"""Synthesized CloudFormation templates, read as plain data (standard library only).

`cdk synth` writes one `<Stack>.template.json` per stack; values that are only known at deploy time are
intrinsic functions (`Ref`, `Fn::GetAtt`, `Fn::Join`, ...). The readers here turn them into text with
`${LogicalId}` placeholders (`text`) or into the logical ids they point at (`references`), which is all the
cost table, the diagrams and the dashboard pictures need.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_SUB_VARIABLE = re.compile(r"\$\{([A-Za-z0-9]+)(?:\.[A-Za-z0-9.]+)?\}")


@dataclass(frozen=True)
class Resource:
    """One resource of a template: its logical id, type, properties and the rest of its entry."""

    id: str
    type: str
    properties: dict[str, Any]
    entry: dict[str, Any]


class Template:
    """One stack's template, with lookups by type and by logical id."""

    def __init__(self, name: str, body: dict[str, Any]) -> None:
        self.name = name
        self.body = body
        self.resources = {
            logical_id: Resource(logical_id, entry["Type"], entry.get("Properties") or {}, entry)
            for logical_id, entry in (body.get("Resources") or {}).items()
        }

    def of_type(self, *types: str) -> list[Resource]:
        return [resource for resource in self.resources.values() if resource.type in types]

    def get(self, logical_id: str) -> Resource | None:
        return self.resources.get(logical_id)

    def referenced(self, value: Any, *types: str) -> list[Resource]:
        """The resources of `types` that `value` refers to, in order of first reference."""
        found = [self.resources[i] for i in references(value) if i in self.resources]
        return [resource for resource in found if not types or resource.type in types]

    def referring_to(self, target: str, *types: str) -> Iterator[Resource]:
        """The resources of `types` whose properties refer to the logical id `target`."""
        for resource in self.of_type(*types) if types else self.resources.values():
            if target in references(resource.properties):
                yield resource


def load(directory: Path) -> list[Template]:
    """Every stack template in a `cdk synth` output directory, by stack name."""
    paths = sorted(Path(directory).glob("*.template.json"))
    if not paths:
        raise FileNotFoundError(f"no *.template.json in {directory}: synthesize first (make templates)")
    return [Template(path.name.removesuffix(".template.json"), json.loads(path.read_text())) for path in paths]


def references(value: Any) -> list[str]:
    """The logical ids `value` refers to (Ref, Fn::GetAtt, Fn::Sub variables), each once, in order."""
    found: dict[str, None] = {}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("Ref"), str) and not node["Ref"].startswith("AWS::"):
                found.setdefault(node["Ref"])
            attribute = node.get("Fn::GetAtt")
            if isinstance(attribute, list) and attribute:
                found.setdefault(str(attribute[0]))
            sub = node.get("Fn::Sub")
            if isinstance(sub, str) or (isinstance(sub, list) and sub and isinstance(sub[0], str)):
                for name in _SUB_VARIABLE.findall(sub if isinstance(sub, str) else sub[0]):
                    if not name.startswith("AWS"):
                        found.setdefault(name)
            for child in node.values():
                walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    walk(value)
    return list(found)


def text(value: Any) -> str:
    """`value` as text: literals as they are, deploy-time values as `${LogicalId}` or `${AWS::Region}`."""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float, bool)):
        return json.dumps(value)
    if isinstance(value, dict) and len(value) == 1:
        (function, argument), = value.items()
        if function == "Ref":
            return "${%s}" % argument
        if function == "Fn::GetAtt":
            return "${%s}" % ".".join(map(str, argument))
        if function == "Fn::Join":
            separator, parts = argument
            return separator.join(text(part) for part in parts)
        if function == "Fn::Sub":
            return argument if isinstance(argument, str) else argument[0]
        if function == "Fn::Select":
            return "${Select}"
    return "${?}"
