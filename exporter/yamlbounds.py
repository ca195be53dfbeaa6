"""Reading a YAML config file within bounds: a regular file of at most 1 MiB, opened without
blocking on a FIFO, whose aliases expand to at most 100,000 nodes (an 857-byte alias bomb would
otherwise expand to billions). Used for the exporter's config and its web config."""

from __future__ import annotations

import os
import stat

import yaml


class ConfigError(Exception):
    """A configuration that cannot be used; ``problems`` lists every reason."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


MAX_CONFIG_BYTES = 1 << 20  # a config is a few KB; anything this large is a mistake or an attack
MAX_EXPANDED_NODES = 100_000  # YAML nodes after alias expansion (an alias bomb expands to billions)
MAX_PROBLEMS = 100  # problems listed in one error


def read_config_file(path: str | os.PathLike) -> str:
    """The text of a regular file of at most MAX_CONFIG_BYTES, opened without blocking on a FIFO."""
    source = str(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise ConfigError([f"{source}: cannot read: {exc.strerror or exc}"]) from None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ConfigError([f"{source}: cannot read: not a regular file"])
        data = handle.read(MAX_CONFIG_BYTES + 1)
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError([f"{source}: the file is larger than {MAX_CONFIG_BYTES >> 20} MiB"])
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{source}: cannot read: not UTF-8 ({exc.reason} at byte {exc.start})"]) from None


def expanded_size(root: yaml.Node, limit: int = MAX_EXPANDED_NODES) -> int:
    """How many nodes ``root`` stands for once every alias is expanded (counted once per node, in
    time linear in the composed graph); ValueError past ``limit``. A recursive alias counts once
    here; the reader reports it where it is, with its line."""
    sizes: dict[int, int] = {}
    in_progress: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if key in sizes:
            continue
        children = _children(node)
        if children_done:
            in_progress.discard(key)
            sizes[key] = 1 + sum(sizes.get(id(child), 1) for child in children)
            if sizes[key] > limit:
                raise ValueError(f"aliases expand to more than {limit:,} YAML nodes")
            continue
        in_progress.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in children if id(child) not in in_progress)
    return sizes[id(root)]


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


