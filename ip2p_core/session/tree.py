"""The edit tree: the original photo at the root, one node per finished edit, and a cursor.

Pure data structure (no files, no images): the session layer stores node images on disk and
records only their file names here. Nothing is discarded by undo or by editing an older node;
editing from an older node just starts a new branch. Only :meth:`EditTree.delete_branch` removes
nodes.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from typing import Any

from ..params import EditParams

ROOT_ID = "root"
# Ids become file names, so records read from a (possibly hostile) project may only use these.
_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def valid_node_id(node_id: object) -> bool:
    return isinstance(node_id, str) and bool(_ID_PATTERN.match(node_id))


def new_node_id() -> str:
    # Random rather than sequential so ids stay unique across branches, deletes and merges of files.
    return "n" + secrets.token_hex(6)


@dataclass
class EditNode:
    """One state of the photo: the original (root, ``params is None``) or the result of an edit.

    ``image_file``/``thumb_file`` are paths relative to the session folder; an empty
    ``image_file`` means the image was lost (a damaged project) while the settings survived.
    ``width``/``height`` is the stored image's size, ``working_width``/``working_height`` the
    resolution the model ran at, ``sha256`` the hash of the stored PNG file (integrity check).
    """

    id: str
    parent_id: str | None
    params: EditParams | None
    model_id: str = ""
    weights_hash: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    created: float = 0.0
    image_file: str = ""
    thumb_file: str = ""
    width: int = 0
    height: int = 0
    working_width: int = 0
    working_height: int = 0
    sha256: str = ""

    @property
    def is_root(self) -> bool:
        return self.parent_id is None

    @property
    def image_missing(self) -> bool:
        return not self.image_file

    @property
    def instruction(self) -> str:
        return self.params.instruction if self.params is not None else ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "parent_id": self.parent_id,
            "params": None if self.params is None else self.params.to_dict(),
            "model_id": self.model_id,
            "weights_hash": self.weights_hash,
            "timings": dict(self.timings),
            "created": self.created,
            "image_file": self.image_file,
            "thumb_file": self.thumb_file,
            "width": self.width,
            "height": self.height,
            "working_width": self.working_width,
            "working_height": self.working_height,
            "sha256": self.sha256,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "EditNode":
        """Parse :meth:`to_dict` output; raises ValueError/TypeError/KeyError for malformed records."""
        if not isinstance(data, dict):
            raise ValueError("a node record must be an object")
        node_id = data["id"]
        parent = data.get("parent_id")
        if not valid_node_id(node_id) or (parent is not None and not valid_node_id(parent)):
            raise ValueError("a node needs a valid id and parent id")
        raw_params = data.get("params")
        params = None if raw_params is None else EditParams.from_dict(raw_params)
        if (params is None) != (parent is None):
            raise ValueError("only the root node may have no parameters")
        timings = data.get("timings") or {}
        return cls(
            id=node_id,
            parent_id=parent,
            params=params,
            model_id=str(data.get("model_id") or ""),
            weights_hash=str(data.get("weights_hash") or ""),
            timings={str(k): float(v) for k, v in dict(timings).items()},
            created=float(data.get("created") or 0.0),
            image_file=str(data.get("image_file") or ""),
            thumb_file=str(data.get("thumb_file") or ""),
            width=int(data.get("width") or 0),
            height=int(data.get("height") or 0),
            working_width=int(data.get("working_width") or 0),
            working_height=int(data.get("working_height") or 0),
            sha256=str(data.get("sha256") or ""),
        )


class EditTree:
    """Nodes in creation order, parent/child links, the cursor and each node's last-used child."""

    def __init__(self, root: EditNode) -> None:
        if not root.is_root:
            raise ValueError("the first node of a tree must be a root")
        self._nodes: dict[str, EditNode] = {root.id: root}
        self._children: dict[str, list[str]] = {root.id: []}
        # parent -> the child most recently visited, so redo returns to the branch the user came from.
        self._preferred: dict[str, str] = {}
        self.root_id = root.id
        self.cursor = root.id

    # --- queries ---------------------------------------------------------------------------

    def __contains__(self, node_id: object) -> bool:
        return node_id in self._nodes

    def __len__(self) -> int:
        return len(self._nodes)

    def node(self, node_id: str) -> EditNode:
        try:
            return self._nodes[node_id]
        except KeyError:
            raise KeyError(f"no edit with id {node_id!r} in this session") from None

    def nodes(self) -> list[EditNode]:
        return list(self._nodes.values())

    def children(self, node_id: str) -> list[EditNode]:
        self.node(node_id)
        return [self._nodes[c] for c in self._children[node_id]]

    def path_to(self, node_id: str) -> list[EditNode]:
        """Nodes from the root down to ``node_id`` (inclusive)."""
        path = [self.node(node_id)]
        while path[-1].parent_id is not None:
            path.append(self._nodes[path[-1].parent_id])
        path.reverse()
        return path

    def chain(self, node_id: str) -> list[EditParams]:
        return [n.params for n in self.path_to(node_id) if n.params is not None]

    def descendants(self, node_id: str) -> list[EditNode]:
        """``node_id`` and everything below it, in creation order."""
        found = {node_id}
        stack = [node_id]
        while stack:
            for child in self._children[stack.pop()]:
                found.add(child)
                stack.append(child)
        return [n for n in self._nodes.values() if n.id in found]

    def preferred_child(self, node_id: str) -> str | None:
        kids = self._children[self.node(node_id).id]
        if not kids:
            return None
        chosen = self._preferred.get(node_id)
        return chosen if chosen in kids else kids[-1]

    @property
    def preferred(self) -> dict[str, str]:
        return dict(self._preferred)

    # --- changes ---------------------------------------------------------------------------

    def add(self, node: EditNode) -> None:
        """Attach ``node`` under its parent (the cursor does not move)."""
        if node.id in self._nodes:
            raise ValueError(f"duplicate node id {node.id!r}")
        if node.parent_id is None or node.parent_id not in self._nodes:
            raise KeyError(f"the parent edit {node.parent_id!r} is not in this session (was it deleted?)")
        self._nodes[node.id] = node
        self._children[node.id] = []
        self._children[node.parent_id].append(node.id)

    def move_to(self, node_id: str) -> None:
        self.node(node_id)
        self.cursor = node_id
        # Remember the way down to here so redo from any ancestor comes back along it.
        child = node_id
        parent = self._nodes[node_id].parent_id
        while parent is not None:
            self._preferred[parent] = child
            child, parent = parent, self._nodes[parent].parent_id

    def can_undo(self) -> bool:
        return self._nodes[self.cursor].parent_id is not None

    def undo(self) -> str | None:
        parent = self._nodes[self.cursor].parent_id
        if parent is None:
            return None
        self._preferred[parent] = self.cursor
        self.cursor = parent
        return parent

    def can_redo(self) -> bool:
        return bool(self._children[self.cursor])

    def redo(self) -> str | None:
        child = self.preferred_child(self.cursor)
        if child is None:
            return None
        self.cursor = child
        return child

    def delete_branch(self, node_id: str) -> list[EditNode]:
        """Remove ``node_id`` and its descendants; returns the removed nodes.

        If the cursor was inside the branch it moves to the branch's parent.
        """
        node = self.node(node_id)
        if node.parent_id is None:
            raise ValueError("the original photo cannot be deleted")
        removed = self.descendants(node_id)
        removed_ids = {n.id for n in removed}
        self._children[node.parent_id].remove(node_id)
        for gone in removed_ids:
            del self._nodes[gone]
            del self._children[gone]
        self._preferred = {
            p: c for p, c in self._preferred.items() if p not in removed_ids and c not in removed_ids
        }
        if self.cursor in removed_ids:
            self.cursor = node.parent_id
        return removed

    # --- serialisation ---------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "root_id": self.root_id,
            "cursor": self.cursor,
            "preferred_child": dict(self._preferred),
            "nodes": [n.to_dict() for n in self._nodes.values()],
        }

    @classmethod
    def from_nodes(
        cls,
        nodes: list[EditNode],
        cursor: str | None = None,
        preferred: dict[str, str] | None = None,
    ) -> tuple["EditTree", list[EditNode]]:
        """Rebuild a tree from node records (creation order); returns it and the records left out.

        Records whose parent is unknown (or that form a cycle, or a second root) are left out
        together with everything below them. A missing or unknown cursor falls back to the newest
        node.
        """
        roots = [n for n in nodes if n.parent_id is None]
        if not roots:
            raise ValueError("the edit history has no original photo")
        root = roots[0]
        tree = cls(root)
        pending = [n for n in nodes if n is not root]
        # Repeated passes attach children whose parent has been attached; whatever is left is orphaned.
        progress = True
        while pending and progress:
            progress = False
            rest = []
            for n in pending:
                if n.parent_id in tree._nodes and n.id not in tree._nodes:
                    tree.add(n)
                    progress = True
                else:
                    rest.append(n)
            pending = rest
        for parent, child in (preferred or {}).items():
            if parent in tree._nodes and child in tree._children.get(parent, []):
                tree._preferred[parent] = child
        if cursor in tree._nodes:
            tree.cursor = cursor
        else:
            tree.cursor = list(tree._nodes)[-1]
        return tree, pending

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> tuple["EditTree", list[str]]:
        """Parse :meth:`to_dict` output; returns the tree and a list of problems found."""
        problems: list[str] = []
        nodes: list[EditNode] = []
        for i, raw in enumerate(data.get("nodes") or []):
            try:
                nodes.append(EditNode.from_dict(raw))
            except (KeyError, TypeError, ValueError) as exc:
                problems.append(f"edit record {i + 1} is unreadable ({exc})")
        tree, left_out = cls.from_nodes(nodes, data.get("cursor"), data.get("preferred_child"))
        for n in left_out:
            problems.append(f"edit '{n.instruction}' lost its place in the history")
        return tree, problems


def drop_lost_images(tree: EditTree, lost: set[str]) -> list[EditNode]:
    """Deal with nodes whose image file is lost (damaged project or autosave).

    A lost node with nothing intact below it is removed with its branch; one that still has an
    intact descendant (or is the root) is kept, marked image-missing, because its settings are
    part of the descendants' chain. Returns the removed nodes.
    """
    intact_below: dict[str, bool] = {}
    for node in reversed(tree.nodes()):  # creation order puts children after parents
        intact_below[node.id] = node.id not in lost or any(intact_below[c.id] for c in tree.children(node.id))
    tops = [
        n.id
        for n in tree.nodes()
        if not n.is_root and not intact_below[n.id] and intact_below.get(n.parent_id or "", True)
    ]
    removed: list[EditNode] = []
    for node_id in tops:
        removed.extend(tree.delete_branch(node_id))
    for node in tree.nodes():
        if node.id in lost:
            node.image_file = ""
            node.sha256 = ""
    return removed
