"""YAML composed with bounds: a policy file cannot make the loader take long or use much memory.

PyYAML's own composer recurses once per nesting level (a file of a few thousand `[` ends in a
RecursionError, or a crash with libyaml's composer) and expands aliases as often as they are used
(a 2 KB "billion laughs" file builds millions of values). This composer reads the parser's events in
a loop, refuses nesting deeper than MAX_DEPTH (before the parser goes further: its cost per token grows
with the depth), and counts what aliases would add when expanded, refusing more than
MAX_ALIAS_NODES. An anchor can be used only after its node ends, so no structure refers to itself.
libyaml's event parser is used when PyYAML has it (about 25 times faster than the pure-Python one).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

MAX_DEPTH = 64  # a policy nests about 6 levels
MAX_ALIAS_NODES = 10_000  # values that aliases may add to the document, all uses together
_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class YAMLRefused(Exception):
    """The text is not a YAML document the loader accepts; `line` is 1-based."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


@dataclass(slots=True)
class _Open:
    node: yaml.CollectionNode
    anchor: str | None
    items: list[yaml.Node] = field(default_factory=list)
    size: int = 1  # nodes in this subtree with aliases expanded


def _line(mark: yaml.Mark | None) -> int:
    return mark.line + 1 if mark is not None else 1


def compose(text: str) -> yaml.Node | None:
    """The single document in `text` as nodes (None when empty), or YAMLRefused / yaml.MarkedYAMLError."""
    loader: Any = _Loader(text)  # PyYAML's parser and resolver methods carry no type hints
    try:
        return _compose(loader)
    finally:
        loader.dispose()


def _compose(loader: Any) -> yaml.Node | None:
    stack: list[_Open] = []
    anchors: dict[str, tuple[yaml.Node, int]] = {}
    expanded = 0
    root: yaml.Node | None = None
    documents = 0
    while True:
        event = loader.get_event()
        kind = type(event)  # most events are scalars: test them first
        node: yaml.Node
        size = 1
        if kind is yaml.ScalarEvent:
            tag = event.tag if event.tag not in (None, "!") else loader.resolve(yaml.ScalarNode, event.value, event.implicit)
            node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark, style=event.style)
            if event.anchor is not None:
                anchors[event.anchor] = (node, 1)
        elif kind is yaml.MappingStartEvent or kind is yaml.SequenceStartEvent:
            if len(stack) >= MAX_DEPTH:
                raise YAMLRefused(_line(event.start_mark), f"nesting deeper than {MAX_DEPTH} levels")
            node_kind = yaml.SequenceNode if kind is yaml.SequenceStartEvent else yaml.MappingNode
            tag = event.tag if event.tag not in (None, "!") else loader.resolve(node_kind, None, event.implicit)
            stack.append(_Open(node_kind(tag, [], event.start_mark, None, flow_style=event.flow_style), event.anchor))
            continue
        elif kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
            done = stack.pop()
            node, size = done.node, done.size
            node.end_mark = event.end_mark
            if isinstance(node, yaml.MappingNode):
                node.value = list(zip(done.items[::2], done.items[1::2], strict=True))
            else:
                node.value = done.items
            if done.anchor is not None:
                anchors[done.anchor] = (node, size)
        elif kind is yaml.AliasEvent:
            if event.anchor not in anchors:
                raise YAMLRefused(_line(event.start_mark), f"alias *{event.anchor} names no anchor defined before it")
            node, size = anchors[event.anchor]
            expanded += size
            if expanded > MAX_ALIAS_NODES:
                raise YAMLRefused(_line(event.start_mark), f"aliases expand to more than {MAX_ALIAS_NODES} values")
        elif kind is yaml.DocumentStartEvent:
            documents += 1
            if documents > 1:
                raise YAMLRefused(_line(event.start_mark), "expected a single document in the file, found another")
            continue
        elif kind is yaml.StreamEndEvent:
            return root
        else:  # StreamStart, DocumentEnd
            continue
        if stack:
            stack[-1].items.append(node)
            stack[-1].size += size
        else:
            root = node
