"""Patching kubeadm (and other YAML) config documents the way kind does.

kind (pkg/internal/patch: kubeyaml.go, resource.go, matchinfo.go,
mergepatch.go, kubeadm_merge.go, json6902.go) applies, to each document of the
generated kubeadm config:

1. every matching `kubeadmConfigPatches` entry as an RFC 7386 JSON *merge*
   patch (not a Kubernetes strategic merge patch, despite older docs), then
2. every matching `kubeadmConfigPatchesJSON6902` entry as an RFC 6902 patch.

Cluster-level patches run first, then the node's own (create/actions/config).

Matching is on the document's `kind` and `apiVersion`: `kind` must be equal;
a patch without apiVersion matches any version; a JSON 6902 patch with a group
but no version matches any version of that group.

Merge semantics (RFC 7386) differ from a strategic merge patch: mappings merge
recursively and `null` deletes a key, but a list in the patch *replaces* the
whole list (no merge by `name`, no `$patch` directives). kind softens that for
kubeadm in two places, reproduced here: `certSANs` lists are unioned, and for
v1beta4 targets `extraArgs`/`kubeletExtraArgs` are merged by name (a map in a
patch without apiVersion is accepted as the older map form; a null value
deletes the argument).
"""
from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from typing import Any

import yaml

from kindlike.config.types import ClusterConfig, NodeConfig, PatchJSON6902
from kindlike.errors import KindlikeError

OPS = ("add", "remove", "replace", "move", "copy", "test")


class PatchError(KindlikeError):
    """A patch could not be parsed or applied; the message names the operation."""


class _Loader(yaml.SafeLoader):
    """YAML as sigs.k8s.io/yaml turns it into JSON: dates stay strings."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _load_all(text: str) -> list[Any]:
    try:
        return list(yaml.load_all(text, Loader=_Loader))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        what = getattr(e, "problem", None) or str(e)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise PatchError(f"not valid YAML ({where}{what})") from None


# ---------------------------------------------------------------------------
# RFC 7386 merge patch


def apply_merge_patch(doc: Any, patch: Any) -> Any:
    """RFC 7386: merge mappings recursively, `None` deletes, anything else replaces.

    Lists are replaced wholesale. Neither argument is modified.
    """
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(doc) if isinstance(doc, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = apply_merge_patch(result.get(key), value)
    return result


# ---------------------------------------------------------------------------
# RFC 6902 JSON patch


def parse_json6902(text: str) -> list[dict[str, Any]]:
    """Parse and check an RFC 6902 patch given as YAML or JSON (a list of operations)."""
    docs = [d for d in _load_all(text) if d is not None]
    if not docs:
        raise PatchError("is empty (expected a list of operations)")
    if len(docs) > 1 or not isinstance(docs[0], list):
        raise PatchError(f"must be a list of operations, got {_kind_of(docs[0] if len(docs) == 1 else docs)}")
    ops = docs[0]
    for i, op in enumerate(ops):
        _check_op(i, op)
    return ops


def _check_op(i: int, op: Any) -> None:
    if not isinstance(op, dict):
        raise PatchError(f"ops[{i}]: must be a mapping with op and path, got {_kind_of(op)}")
    name = op.get("op")
    if name not in OPS:
        shown = "missing" if name is None else f'"{name}" is not valid'
        raise PatchError(f"ops[{i}]: op {shown} (one of {', '.join(OPS)})")
    for key in ("path",) + (("from",) if name in ("move", "copy") else ()):
        pointer = op.get(key)
        if not isinstance(pointer, str):
            raise PatchError(f"ops[{i}] ({name}): {key} must be a JSON pointer string")
        if pointer and not pointer.startswith("/"):
            raise PatchError(f'ops[{i}] ({name}): {key} "{pointer}" must start with "/"')
    if name in ("add", "replace", "test") and "value" not in op:
        raise PatchError(f"ops[{i}] ({name} {op['path']}): value is missing")


def apply_json6902(doc: Any, ops: Sequence[dict[str, Any]]) -> Any:
    """Apply RFC 6902 operations to a copy of `doc` and return it.

    Like the library kind uses (evanphx/json-patch v5 with default options), a
    negative array index counts from the end. Errors name the failing op.
    """
    result = copy.deepcopy(doc)
    for i, op in enumerate(ops):
        _check_op(i, op)
        label = f"ops[{i}] ({op['op']} {op['path']})"
        try:
            result = _apply_op(result, op)
        except _PointerError as e:
            raise PatchError(f"{label}: {e}") from None
    return result


class _PointerError(Exception):
    pass


def _tokens(pointer: str) -> list[str]:
    if pointer == "":
        return []
    return [t.replace("~1", "/").replace("~0", "~") for t in pointer[1:].split("/")]


def _index(token: str, length: int, *, for_add: bool) -> int:
    size = length + 1 if for_add else length
    if for_add and token == "-":
        return length
    try:
        idx = int(token)
    except ValueError:
        raise _PointerError(f'"{token}" is not an array index') from None
    if idx < 0:
        idx += size
    if not 0 <= idx < size:
        raise _PointerError(f"array index {token} is out of range (length {length})")
    return idx


def _walk(doc: Any, tokens: list[str], pointer: str) -> Any:
    node = doc
    for depth, token in enumerate(tokens):
        if isinstance(node, dict):
            if token not in node:
                raise _PointerError(f"path {_pointer(tokens[: depth + 1])} does not exist")
            node = node[token]
        elif isinstance(node, list):
            node = node[_index(token, len(node), for_add=False)]
        else:
            raise _PointerError(f"path {_pointer(tokens[:depth])} is not a mapping or a list")
    return node


def _pointer(tokens: list[str]) -> str:
    return "".join("/" + t.replace("~", "~0").replace("/", "~1") for t in tokens) or '""'


def _get(doc: Any, pointer: str) -> Any:
    return _walk(doc, _tokens(pointer), pointer)


def _add(doc: Any, pointer: str, value: Any) -> Any:
    tokens = _tokens(pointer)
    if not tokens:
        return value
    parent = _walk(doc, tokens[:-1], pointer)
    last = tokens[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        parent.insert(_index(last, len(parent), for_add=True), value)
    else:
        raise _PointerError(f"path {_pointer(tokens[:-1])} is not a mapping or a list")
    return doc


def _remove(doc: Any, pointer: str) -> tuple[Any, Any]:
    tokens = _tokens(pointer)
    if not tokens:
        raise _PointerError("cannot remove the whole document")
    parent = _walk(doc, tokens[:-1], pointer)
    last = tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise _PointerError(f"path {pointer} does not exist")
        return doc, parent.pop(last)
    if isinstance(parent, list):
        return doc, parent.pop(_index(last, len(parent), for_add=False))
    raise _PointerError(f"path {_pointer(tokens[:-1])} is not a mapping or a list")


def _apply_op(doc: Any, op: dict[str, Any]) -> Any:
    name, path = op["op"], op["path"]
    if name == "add":
        return _add(doc, path, copy.deepcopy(op["value"]))
    if name == "remove":
        return _remove(doc, path)[0]
    if name == "replace":
        tokens = _tokens(path)
        if not tokens:
            return copy.deepcopy(op["value"])
        parent = _walk(doc, tokens[:-1], path)
        last = tokens[-1]
        if isinstance(parent, dict):
            if last not in parent:
                raise _PointerError(f"path {path} does not exist")
            parent[last] = copy.deepcopy(op["value"])
        elif isinstance(parent, list):
            parent[_index(last, len(parent), for_add=False)] = copy.deepcopy(op["value"])
        else:
            raise _PointerError(f"path {_pointer(tokens[:-1])} is not a mapping or a list")
        return doc
    if name == "move":
        source = op["from"]
        if path != source and (path + "/").startswith(source + "/"):
            raise _PointerError(f"cannot move {source} into its own child")
        doc, value = _remove(doc, source)
        return _add(doc, path, value)
    if name == "copy":
        return _add(doc, path, copy.deepcopy(_get(doc, op["from"])))
    if name == "test":
        actual = _get(doc, path)
        if not _json_equal(actual, op["value"]):
            raise _PointerError(f"test failed: found {actual!r}, expected {op['value']!r}")
        return doc
    raise AssertionError(name)


def _json_equal(a: Any, b: Any) -> bool:
    # JSON has no bool/number overlap; Python's True == 1 must not leak in.
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def _kind_of(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"{type(value).__name__} {value!r}"


# ---------------------------------------------------------------------------
# Matching patches to documents


def _split_api_version(api_version: str) -> tuple[str, str]:
    group, sep, version = api_version.rpartition("/")
    return (group, version) if sep else ("", api_version)


def matches(doc_kind: str, doc_api_version: str, patch_kind: str, patch_api_version: str) -> bool:
    """kind's rule (pkg/internal/patch/resource.go: matches)."""
    if doc_kind != patch_kind:
        return False
    if not patch_api_version:
        return True
    group, version = _split_api_version(doc_api_version)
    patch_group, patch_version = _split_api_version(patch_api_version)
    return group == patch_group and (patch_version == "" or version == patch_version)


def parse_merge_patches(patches: Iterable[str]) -> list[dict[str, Any]]:
    """Each patch string may hold several YAML documents; each must be a mapping."""
    out: list[dict[str, Any]] = []
    for i, text in enumerate(patches):
        try:
            docs = _load_all(text)
        except PatchError as e:
            raise PatchError(f"merge patch {i}: {e.message}") from None
        for doc in docs:
            if doc is None:
                continue
            if not isinstance(doc, dict):
                raise PatchError(f"merge patch {i}: must be a mapping (a config object), got {_kind_of(doc)}")
            out.append(doc)
    return out


def _type_meta(doc: dict[str, Any]) -> tuple[str, str]:
    kind = doc.get("kind")
    api_version = doc.get("apiVersion")
    return (kind if isinstance(kind, str) else "", api_version if isinstance(api_version, str) else "")


def patch_documents(
    docs: Sequence[dict[str, Any]],
    merge_patches: Sequence[str],
    json6902: Sequence[PatchJSON6902],
) -> list[dict[str, Any]]:
    """Apply kind-style patches to parsed config documents; returns new documents."""
    merges = parse_merge_patches(merge_patches)
    parsed_6902: list[tuple[PatchJSON6902, list[dict[str, Any]]]] = []
    for i, p in enumerate(json6902):
        try:
            parsed_6902.append((p, parse_json6902(p.patch)))
        except PatchError as e:
            raise PatchError(f"JSON 6902 patch {i} ({p.kind}): {e.message}") from None

    out = []
    for doc in docs:
        current = copy.deepcopy(doc)
        for patch in merges:
            doc_kind, doc_api = _type_meta(current)
            patch_kind, patch_api = _type_meta(patch)
            if matches(doc_kind, doc_api, patch_kind, patch_api):
                current = _kubeadm_merge(current, patch, doc_api, patch_api)
        for i, (p, ops) in enumerate(parsed_6902):
            doc_kind, doc_api = _type_meta(current)
            if matches(doc_kind, doc_api, p.kind, p.api_version):
                try:
                    current = apply_json6902(current, ops)
                except PatchError as e:
                    raise PatchError(f"JSON 6902 patch {i} ({p.kind}): {e.message}") from None
        out.append(current)
    return out


def patch_kubeadm_documents(
    docs: Sequence[dict[str, Any]], cluster: ClusterConfig, node: NodeConfig | None = None
) -> list[dict[str, Any]]:
    """Cluster-level patches, then (when given) the node's own, as kind orders them."""
    patched = patch_documents(docs, cluster.kubeadm_config_patches, cluster.kubeadm_config_patches_json6902)
    if node is not None and (node.kubeadm_config_patches or node.kubeadm_config_patches_json6902):
        patched = patch_documents(patched, node.kubeadm_config_patches, node.kubeadm_config_patches_json6902)
    return patched


# ---------------------------------------------------------------------------
# kind's kubeadm-aware pre-merge (pkg/internal/patch/kubeadm_merge.go)

_EXTRA_ARGS = ("extraArgs", "kubeletExtraArgs")


def _kubeadm_merge(target: dict[str, Any], patch: dict[str, Any], target_version: str, patch_version: str) -> dict[str, Any]:
    target = copy.deepcopy(target)
    stripped = copy.deepcopy(patch)
    _walk_and_merge(target, stripped, target_version, patch_version)
    return apply_merge_patch(target, stripped)


def _walk_and_merge(target: dict[str, Any], patch: dict[str, Any], target_version: str, patch_version: str) -> None:
    for key in list(patch):
        value = patch[key]
        if key in _EXTRA_ARGS:
            if target_version.endswith("v1beta4"):
                _merge_extra_args(target, patch, key, patch_version)
                del patch[key]
            continue
        if key == "certSANs":
            _merge_cert_sans(target, patch, key)
            del patch[key]
            continue
        if isinstance(value, dict):
            if key not in target:
                target[key] = {}
            if isinstance(target[key], dict):
                _walk_and_merge(target[key], value, target_version, patch_version)


def _args_from_map(old: dict[str, Any]) -> list[Any]:
    return [{"name": k, "value": v} for k, v in old.items()]


def _merge_extra_args(target: dict[str, Any], patch: dict[str, Any], key: str, patch_version: str) -> None:
    value = patch[key]
    if isinstance(value, list):
        patch_args = value
    elif patch_version == "" and isinstance(value, dict):
        patch_args = _args_from_map(value)
    else:
        patch_args = []
    existing = target.get(key)
    if isinstance(existing, list):
        target_args = existing
    elif isinstance(existing, dict):
        target_args = _args_from_map(existing)
    else:
        target_args = []
    for item in patch_args:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            continue
        name, new = item["name"], item.get("value")
        found = next(
            (i for i, t in enumerate(target_args) if isinstance(t, dict) and t.get("name") == name),
            -1,
        )
        if found >= 0:
            if new is None:
                del target_args[found]
            else:
                target_args[found]["value"] = new
        elif new is not None:
            target_args.append({"name": name, "value": new})
    target[key] = target_args


def _merge_cert_sans(target: dict[str, Any], patch: dict[str, Any], key: str) -> None:
    existing = target.get(key)
    sans = list(existing) if isinstance(existing, list) else []
    additions = patch.get(key)
    for san in additions if isinstance(additions, list) else []:
        if san not in sans:
            sans.append(san)
    # kind writes back a nil slice (JSON null) when there was nothing at all.
    target[key] = sans if (sans or isinstance(existing, list)) else None
