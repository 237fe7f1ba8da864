"""Read a kind `Cluster` config strictly.

kind decodes with yaml.v3 and KnownFields(true) (pkg/internal/apis/config/
encoding/load.go), so an unknown field anywhere, a wrong type, or a missing or
foreign apiVersion/kind is an error. kindlike keeps those rules but collects
every problem before raising one ConfigError, each line naming the field path.

Decoding works on PyYAML's node tree rather than on constructed Python objects
so that scalars keep their original text (a string field gets exactly what the
user typed, as yaml.v3 does) and duplicate keys can be reported.
"""
from __future__ import annotations

import difflib
import os
import sys
from dataclasses import dataclass
from typing import Any, TextIO

import yaml

from kindlike.config import defaulting as _defaults
from kindlike.config import validate as _validate
from kindlike.config.types import API_VERSION, KIND, ClusterConfig
from kindlike.errors import ConfigError

_TAG = "tag:yaml.org,2002:"
_UNSET = object()

# libyaml's parser when PyYAML has it: a big config loads about four times faster.
_FAST_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# A kind config nests about six levels (patches are strings); far deeper input
# is hostile, and must stop well before the interpreter's recursion limit.
MAX_DEPTH = 100
# How many nodes aliases and merge keys may add to what the text itself holds:
# enough to share mount lists or node templates, not to fan 12 KB out into a
# million mounts. yaml.v3, kind's YAML library, likewise refuses excessive aliasing.
MAX_ALIASED_NODES = 10_000


@dataclass(frozen=True)
class LoadedConfig:
    """A defaulted, validated cluster config and what to tell the user about it."""

    cluster: ClusterConfig
    warnings: tuple[str, ...] = ()
    # Where it came from: a path, "<stdin>", or "" for the built-in default config.
    source: str = ""


# ---------------------------------------------------------------------------
# Schema, by kind's field names. A spec is one of:
#   "str" | "int" | "bool" | ("list", spec) | ("map", spec) | ("obj", name) | ("optlist", spec)
# "optlist" keeps null and [] apart (dnsSearch: unset inherits the host's).

_SCHEMAS: dict[str, dict[str, Any]] = {
    "Cluster": {
        "kind": "str",
        "apiVersion": "str",
        "name": "str",
        "nodes": ("list", ("obj", "Node")),
        "networking": ("obj", "Networking"),
        "featureGates": ("map", "bool"),
        "runtimeConfig": ("map", "str"),
        "kubeadmConfigPatches": ("list", "str"),
        "kubeadmConfigPatchesJSON6902": ("list", ("obj", "PatchJSON6902")),
        "containerdConfigPatches": ("list", "str"),
        "containerdConfigPatchesJSON6902": ("list", "str"),
        # kindlike-only settings, kept under one key kind will not take.
        "kindlike": ("obj", "KindlikeCluster"),
    },
    "Node": {
        "role": "str",
        "image": "str",
        "labels": ("map", "str"),
        "extraMounts": ("list", ("obj", "Mount")),
        "extraPortMappings": ("list", ("obj", "PortMapping")),
        "kubeadmConfigPatches": ("list", "str"),
        "kubeadmConfigPatchesJSON6902": ("list", ("obj", "PatchJSON6902")),
        # kindlike-only settings, kept under one key kind will not take.
        "kindlike": ("obj", "KindlikeNode"),
    },
    "KindlikeCluster": {"registry": "str"},
    "KindlikeNode": {"cpus": "str", "memory": "str", "host": "str", "hostAddress": "str"},
    "Networking": {
        "ipFamily": "str",
        "apiServerPort": "int",
        "apiServerAddress": "str",
        "podSubnet": "str",
        "serviceSubnet": "str",
        "disableDefaultCNI": "bool",
        "kubeProxyMode": "str",
        "dnsSearch": ("optlist", "str"),
    },
    "Mount": {
        "containerPath": "str",
        "hostPath": "str",
        "readOnly": "bool",
        "selinuxRelabel": "bool",
        "propagation": "str",
    },
    "PortMapping": {
        "containerPort": "int",
        "hostPort": "int",
        "listenAddress": "str",
        "protocol": "str",
    },
    "PatchJSON6902": {"group": "str", "version": "str", "kind": "str", "patch": "str"},
}

# How a schema is named in "check the indentation" hints.
_WHERE = {
    "Cluster": "the top level",
    "Node": "nodes[]",
    "Networking": "networking",
    "Mount": "extraMounts[]",
    "PortMapping": "extraPortMappings[]",
    "PatchJSON6902": "kubeadmConfigPatchesJSON6902[]",
    "KindlikeCluster": "kindlike",
    "KindlikeNode": "nodes[].kindlike",
}

_EXPECTED = {
    "str": "a string",
    "int": "an integer",
    "bool": "true or false",
    "list": "a list",
    "optlist": "a list",
    "map": "a mapping",
    "obj": "a mapping",
}


# ---------------------------------------------------------------------------
# Public entry points


def load_config(source: str | os.PathLike[str] | None = None, *, stdin: TextIO | None = None) -> LoadedConfig:
    """Load, default and validate a config.

    source None (or "", as in kind's Load("")): no file, kind's defaults (one control-plane node).
    source "-": read the YAML from `stdin` (default sys.stdin), like kind's `--config -`.
    Otherwise a file path. Raises ConfigError listing every problem.
    """
    if source is None or str(source) == "":
        return LoadedConfig(cluster=_defaults.default_cluster(), warnings=(), source="")
    if str(source) == "-":
        return load_config_text(_read_stdin(stdin), "<stdin>")
    path = os.fspath(source)
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise ConfigError([f"{path}: no such file"], source=path) from None
    except IsADirectoryError:
        raise ConfigError([f"{path}: is a directory, not a config file"], source=path) from None
    except OSError as e:
        raise ConfigError([f"{path}: cannot be read ({e.strerror or e})"], source=path) from None
    return load_config_text(_utf8(raw, path), path)


def _read_stdin(stdin: TextIO | None) -> str:
    name = "<stdin>"
    stream = stdin if stdin is not None else sys.stdin
    try:
        if stream is None:  # Python's sys.stdin when descriptor 0 is closed
            raise ValueError("closed")
        # Bytes, so that non-UTF-8 input is reported whatever the locale's encoding.
        raw = stream.buffer.read() if stdin is None and hasattr(stream, "buffer") else stream.read()
    except (OSError, ValueError) as e:
        reason = "closed" if isinstance(e, ValueError) else (e.strerror or str(e))
        raise ConfigError([f"{name}: cannot be read ({reason}); pipe the config into --config -, "
                           "or pass --config FILE"], source=name) from None
    text = _utf8(raw, name) if isinstance(raw, bytes) else raw
    if not text.strip():
        raise ConfigError([f"{name}: is empty; pipe the config into --config -, or pass --config FILE"],
                          source=name)
    return text


def _utf8(raw: bytes, name: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        raise ConfigError([f"{name}: is not UTF-8 text (line {line}, byte {e.start + 1})"], source=name) from None


def load_config_text(text: str, source_name: str = "config") -> LoadedConfig:
    """Like load_config, for YAML already in memory; source_name names it in errors."""
    try:
        documents, own_nodes = _compose_all(text)
    except yaml.YAMLError as e:
        raise ConfigError([_yaml_problem(e, text)], source=source_name) from None
    except _Limit as e:
        raise ConfigError([str(e)], source=source_name) from None

    warnings: list[str] = []
    root = documents[0] if documents else None
    extra = [d for d in documents[1:] if not _is_null(d)]
    if extra:
        # yaml.v3's Decode reads the first document only, so kind ignores the rest.
        warnings.append(
            f"only the first YAML document is read; {len(extra)} more document(s) ignored"
        )

    decoder = _Decoder(budget=own_nodes + MAX_ALIASED_NODES)
    try:
        raw = decoder.decode_root(root)
    except _Limit as e:
        raise ConfigError([str(e)], source=source_name) from None
    cluster = _defaults.apply_defaults(raw)
    problems, more_warnings = _validate.validate_cluster(cluster)
    problems = decoder.problems + [p for p in problems if not decoder.explains(p)]
    warnings += decoder.warnings + more_warnings
    if problems:
        raise ConfigError(problems, source=source_name)
    return LoadedConfig(cluster=cluster, warnings=tuple(warnings), source=source_name)


# ---------------------------------------------------------------------------
# Composing YAML text into node trees, within bounds


class _Limit(Exception):
    """The input passes a bound; the message is the one problem to report."""


def _compose_all(text: str) -> tuple[list[yaml.Node | None], int]:
    """Every document's node tree, and how many nodes the text itself holds."""
    try:
        return _compose_with(_FAST_LOADER, text)
    except yaml.YAMLError:
        if _FAST_LOADER is yaml.SafeLoader:
            raise
        # libyaml words errors tersely ("found character that cannot start any
        # token", not naming the tab); PyYAML's parser stops at the same place.
        _compose_with(yaml.SafeLoader, text)
        raise


def _compose_with(loader_class: type, text: str) -> tuple[list[yaml.Node | None], int]:
    """PyYAML's composers recurse once per nesting level (500 levels escape as
    a RecursionError); this one keeps a stack and stops at MAX_DEPTH.

    An alias yields the anchored node itself, so trees share nodes and may
    contain themselves; the decoder bounds its walk. A repeated anchor name
    replaces the earlier one, as in YAML 1.2 and yaml.v3 (PyYAML refuses it).
    """
    loader = loader_class(text)
    documents: list[yaml.Node | None] = []
    anchors: dict[str, yaml.Node] = {}
    stack: list[list[Any]] = []  # [open collection, mapping key awaiting its value]
    scalar_tags: dict[tuple[str, Any], str] = {}
    root = None
    count = 0
    try:
        while loader.check_event():
            event = loader.get_event()
            if isinstance(event, yaml.DocumentStartEvent):
                anchors, root = {}, None
            elif isinstance(event, yaml.DocumentEndEvent):
                documents.append(root)
            elif isinstance(event, yaml.CollectionEndEvent):
                stack.pop()[0].end_mark = event.end_mark
            elif isinstance(event, yaml.NodeEvent):
                if isinstance(event, yaml.AliasEvent):
                    if event.anchor not in anchors:
                        raise yaml.composer.ComposerError(
                            None, None, f"found undefined alias {event.anchor!r}", event.start_mark)
                    node = anchors[event.anchor]
                else:
                    node = _new_node(loader, event, scalar_tags)
                    count += 1
                    if event.anchor is not None:
                        anchors[event.anchor] = node
                root = _attach(stack, node) or root
                if isinstance(event, yaml.CollectionStartEvent):
                    if len(stack) == MAX_DEPTH:
                        m = event.start_mark
                        raise _Limit(f"line {m.line + 1}, column {m.column + 1}: nested deeper than "
                                     f"{MAX_DEPTH} levels (a kind config needs fewer than 10)")
                    stack.append([node, None])
    finally:
        loader.dispose()
    return documents, count


def _new_node(loader: Any, event: yaml.NodeEvent, scalar_tags: dict) -> yaml.Node:
    tag = event.tag
    if isinstance(event, yaml.ScalarEvent):
        if tag is None or tag == "!":
            # Keys and values repeat: resolve each text once.
            key = (event.value, event.implicit)
            tag = scalar_tags.get(key)
            if tag is None:
                tag = scalar_tags[key] = loader.resolve(yaml.ScalarNode, event.value, event.implicit)
        return yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark, style=event.style)
    node_class = yaml.SequenceNode if isinstance(event, yaml.SequenceStartEvent) else yaml.MappingNode
    if tag is None or tag == "!":
        tag = loader.resolve(node_class, None, event.implicit)
    return node_class(tag, [], event.start_mark, None, flow_style=event.flow_style)


def _attach(stack: list[list[Any]], node: yaml.Node) -> yaml.Node | None:
    """Add node to the open collection; returns it when it is a document's root."""
    if not stack:
        return node
    top = stack[-1]
    if isinstance(top[0], yaml.SequenceNode):
        top[0].value.append(node)
    elif top[1] is None:
        top[1] = node
    else:
        top[0].value.append((top[1], node))
        top[1] = None
    return None


def _yaml_problem(e: yaml.YAMLError, text: str) -> str:
    mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
    what = getattr(e, "problem", None) or str(e)
    context = getattr(e, "context", None)
    if context:
        what = f"{what} ({context})"
    if isinstance(e, yaml.reader.ReaderError):
        # Its str() spans two lines and gives a character offset, not a line.
        what = f"unacceptable character #x{e.character:04x}: {e.reason}"
        mark = yaml.Mark("", e.position, text.count("\n", 0, e.position),
                         e.position - text.rfind("\n", 0, e.position) - 1, None, None)
    if mark is None:
        return f"invalid YAML: {what}"
    return f"line {mark.line + 1}, column {mark.column + 1}: invalid YAML: {what}"


# ---------------------------------------------------------------------------
# YAML node decoding


def _is_null(node: yaml.Node | None) -> bool:
    return node is None or (isinstance(node, yaml.ScalarNode) and node.tag == _TAG + "null")


def _child(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _describe(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    tag = node.tag[len(_TAG):] if node.tag.startswith(_TAG) else node.tag
    if tag == "str":
        return f'string "{node.value}"'
    if tag == "int":
        return f"integer {node.value}"
    if tag == "float":
        return f"number {node.value}"
    if tag == "bool":
        return node.value
    return f"{tag} {node.value}".strip()


class _Decoder:
    def __init__(self, budget: int) -> None:
        self.problems: list[str] = []
        self.warnings: list[str] = []
        # Where decoding already complained, so validation need not repeat it.
        self._bad_values: set[str] = set()
        self._objects_with_unknown_fields: set[str] = set()
        # Aliases make the tree a graph: every node visited (again) costs one,
        # so shared subtrees cannot multiply the work past what the text holds.
        self._budget = budget
        # Merge keys: each mapping's items are worked out once, with what they
        # would cost merged anew each time, as yaml.v3 does: a chain of
        # `<<: [*prev, *prev]` doubles that at every level and so runs out of
        # budget, like kind, but quickly. The mappings being merged right now
        # catch a merge key that reaches its own mapping.
        self._merged: dict[int, tuple[list[tuple[str, yaml.Node, yaml.Node]], int]] = {}
        self._merging: list[int] = []

    def _spend(self, n: int, path: str) -> None:
        self._budget -= n
        if self._budget < 0:
            raise _Limit(f"{path or '(top level)'}: aliases and merge keys expand the config past "
                         f"{MAX_ALIASED_NODES} extra values (write the repeated parts out, or share less)")

    def explains(self, problem: str) -> bool:
        """True when a validation problem only restates a decoding problem.

        A value that failed to decode falls back to its default, which may then
        fail validation ("containerPort: required" after `containerPort: "80"`);
        a misspelt field leaves its real one unset the same way.
        """
        path, _, message = problem.partition(": ")
        if path in self._bad_values:
            return True
        parent = path.rpartition(".")[0]
        return message.startswith("required") and parent in self._objects_with_unknown_fields

    def decode_root(self, root: yaml.Node | None) -> dict[str, Any]:
        if _is_null(root):
            self.problems.append(f'apiVersion: missing (set apiVersion: {API_VERSION})')
            self.problems.append(f"kind: missing (set kind: {KIND})")
            return {}
        if not isinstance(root, yaml.MappingNode):
            self.problems.append(f"(top level): must be a mapping, got {_describe(root)}")
            return {}
        # Type-meta problems first: they are the most fundamental, and kind checks them first.
        raw = self._object(root, "Cluster", "")
        self._check_type_meta(raw)
        return raw

    def _check_type_meta(self, raw: dict[str, Any]) -> None:
        meta: list[str] = []
        api_version = raw.pop("apiVersion", "")
        kind = raw.pop("kind", "")
        if not api_version:
            meta.append(f"apiVersion: missing (set apiVersion: {API_VERSION})")
        elif api_version != API_VERSION:
            meta.append(f'apiVersion: "{api_version}" is not supported (use {API_VERSION})')
        if not kind:
            meta.append(f"kind: missing (set kind: {KIND})")
        elif kind != KIND:
            meta.append(f'kind: "{kind}" is not supported (use {KIND})')
        self.problems[:0] = meta

    def decode(self, node: yaml.Node, spec: Any, path: str) -> Any:
        self._spend(1, path)
        kind = spec if isinstance(spec, str) else spec[0]
        if _is_null(node):
            # yaml.v3 leaves the Go zero value for null, which kind then defaults.
            return _UNSET
        if kind in ("str", "int", "bool"):
            return self._scalar(node, kind, path)
        if kind == "obj":
            return self._object(node, spec[1], path)
        if kind in ("list", "optlist"):
            return self._list(node, spec[1], path)
        if kind == "map":
            return self._map(node, spec[1], path)
        raise AssertionError(f"unknown spec {spec!r}")

    def _type_problem(self, node: yaml.Node, kind: str, path: str) -> object:
        self._bad_values.add(path)
        self.problems.append(f"{path}: must be {_EXPECTED[kind]}, got {_describe(node)}")
        return _UNSET

    def _scalar(self, node: yaml.Node, kind: str, path: str) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            return self._type_problem(node, kind, path)
        if kind == "str":
            # yaml.v3 stores any scalar's text into a string field (`name: 123` is "123").
            return node.value
        if kind == "int":
            if node.tag != _TAG + "int":
                return self._type_problem(node, kind, path)
            try:
                value = _parse_int(node.value)
            except ValueError:
                return self._type_problem(node, kind, path)
            if not -(2**63) <= value < 2**63:
                # kind's fields are Go ints; yaml.v3 refuses what does not fit.
                self._bad_values.add(path)
                self.problems.append(f"{path}: {node.value} is out of range for an integer")
                return _UNSET
            return value
        if node.tag != _TAG + "bool":
            return self._type_problem(node, kind, path)
        # PyYAML resolves yes/no/on/off as booleans, as yaml.v3 does for bool fields.
        return node.value.lower() in ("true", "yes", "on")

    def _list(self, node: yaml.Node, item_spec: Any, path: str) -> Any:
        if not isinstance(node, yaml.SequenceNode):
            return self._type_problem(node, "list", path)
        out = []
        for i, item in enumerate(node.value):
            value = self.decode(item, item_spec, f"{path}[{i}]")
            out.append(_zero(item_spec) if value is _UNSET else value)
        return out

    def _map(self, node: yaml.Node, value_spec: Any, path: str) -> Any:
        if not isinstance(node, yaml.MappingNode):
            return self._type_problem(node, "map", path)
        out = {}
        for key, _, value_node in self._items(node, path, map_style=True):
            sub = f'{path}["{key}"]'
            value = self.decode(value_node, value_spec, sub)
            out[key] = _zero(value_spec) if value is _UNSET else value
        return out

    def _object(self, node: yaml.Node, schema: str, path: str) -> Any:
        if not isinstance(node, yaml.MappingNode):
            return self._type_problem(node, "obj", path)
        fields = _SCHEMAS[schema]
        out: dict[str, Any] = {}
        for key, _, value_node in self._items(node, path, map_style=False):
            sub = _child(path, key)
            if key not in fields:
                self._objects_with_unknown_fields.add(path)
                self.problems.append(f"{sub}: unknown field{_unknown_hint(key, schema)}")
                continue
            value = self.decode(value_node, fields[key], sub)
            if value is not _UNSET:
                out[key] = value
        return out

    def _items(self, node: yaml.MappingNode, path: str, *, map_style: bool):
        """(key, key node, value node) of a mapping, honouring `<<` merge keys.

        Explicit keys win over merged ones, as in YAML merge semantics (which
        yaml.v3 supports); duplicate explicit keys are an error, as in yaml.v3.
        """
        if id(node) in self._merged:
            return self._merged[id(node)][0]
        cost = 0
        explicit: list[tuple[str, yaml.Node, yaml.Node]] = []
        merged: dict[str, tuple[str, yaml.Node, yaml.Node]] = {}
        first_line: dict[str, int] = {}
        self._merging.append(id(node))
        for key_node, value_node in node.value:
            if key_node.tag == _TAG + "merge":
                sources = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
                for src in sources:
                    where = path or "(top level)"
                    if not isinstance(src, yaml.MappingNode):
                        self.problems.append(f"{where}: a << merge key needs a mapping, got {_describe(src)}")
                    elif id(src) in self._merging:
                        self.problems.append(f"{where}: a << merge key refers to a mapping that contains it")
                    elif len(self._merging) > MAX_DEPTH:
                        raise _Limit(f"{where}: << merge keys chained more than {MAX_DEPTH} deep")
                    else:
                        items = self._items(src, path, map_style=map_style)
                        cost += self._merged[id(src)][1]
                        self._spend(self._merged[id(src)][1], path)
                        for item in items:
                            merged.setdefault(item[0], item)
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                self.problems.append(f"{path or '(top level)'}: keys must be strings, got {_describe(key_node)}")
                continue
            key = key_node.value
            line = key_node.start_mark.line + 1
            if key in first_line:
                where = f'{path}["{key}"]' if map_style else _child(path, key)
                self.problems.append(f"{where}: duplicate key (first set on line {first_line[key]})")
                continue
            first_line[key] = line
            explicit.append((key, key_node, value_node))
        self._merging.pop()
        items = explicit + [item for k, item in merged.items() if k not in first_line]
        self._merged[id(node)] = (items, cost + len(explicit))
        return items


def _parse_int(text: str) -> int:
    cleaned = text.replace("_", "")
    if len(cleaned) > 80:
        # Far out of range anyway; int() of a huge text is slow or refused.
        return 2**63
    sign = -1 if cleaned.startswith("-") else 1
    digits = cleaned.lstrip("+-")
    if digits[:2].lower() in ("0x", "0o", "0b"):
        return sign * int(digits, 0)
    return sign * int(digits, 10)


def _zero(spec: Any) -> Any:
    kind = spec if isinstance(spec, str) else spec[0]
    return {"str": "", "int": 0, "bool": False, "obj": {}, "list": [], "optlist": [], "map": {}}[kind]


# kind's v1alpha3 patches carried name/namespace; v1alpha4 dropped them (strict decoding rejects them).
_SPECIAL_HINTS = {
    ("PatchJSON6902", "name"): " (v1alpha4 patches have no name; the target is matched by group, version and kind)",
    ("PatchJSON6902", "namespace"): " (v1alpha4 patches have no namespace; the target is matched by group, version and kind)",
}


def _unknown_hint(key: str, schema: str) -> str:
    if (schema, key) in _SPECIAL_HINTS:
        return _SPECIAL_HINTS[(schema, key)]
    fields = [f for f in _SCHEMAS[schema] if not (schema == "Cluster" and f in ("kind", "apiVersion"))]
    lowered = {f.lower(): f for f in fields}
    if key.lower() in lowered:
        return f' (did you mean "{lowered[key.lower()]}"?)'
    close = difflib.get_close_matches(key, fields, n=1, cutoff=0.75)
    if close:
        return f' (did you mean "{close[0]}"?)'
    elsewhere = [name for name, s in _SCHEMAS.items() if name != schema and key in s and not (name == "Cluster" and key in ("kind", "apiVersion"))]
    if elsewhere:
        return f' ("{key}" belongs in {_WHERE[elsewhere[0]]}; check the indentation)'
    return f" (valid fields: {', '.join(fields)})"
