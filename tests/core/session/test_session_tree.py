"""The edit tree on its own: undo/redo, branches, deleting branches, serialisation."""

from __future__ import annotations

import pytest

from ip2p_core.params import EditParams
from ip2p_core.session.tree import ROOT_ID, EditNode, EditTree, drop_lost_images


def root() -> EditNode:
    return EditNode(id=ROOT_ID, parent_id=None, params=None, image_file="original.png")


def edit(tree: EditTree, node_id: str, parent: str, instruction: str | None = None) -> str:
    tree.add(EditNode(id=node_id, parent_id=parent, params=EditParams(instruction or node_id), image_file=f"nodes/{node_id}.png"))
    tree.move_to(node_id)
    return node_id


@pytest.fixture
def linear() -> EditTree:
    tree = EditTree(root())
    edit(tree, "a", ROOT_ID)
    edit(tree, "b", "a")
    edit(tree, "c", "b")
    return tree


def test_undo_and_redo_walk_the_chain(linear):
    assert linear.cursor == "c" and not linear.can_redo()
    assert linear.redo() is None
    assert [linear.undo() for _ in range(3)] == ["b", "a", ROOT_ID]
    assert not linear.can_undo() and linear.undo() is None
    assert [linear.redo() for _ in range(3)] == ["a", "b", "c"]


def test_editing_an_older_node_adds_a_branch_and_keeps_the_old_one(linear):
    linear.undo()
    linear.undo()  # at "a"
    edit(linear, "x", "a")
    assert [n.id for n in linear.children("a")] == ["b", "x"]
    assert [n.id for n in linear.nodes()] == [ROOT_ID, "a", "b", "c", "x"]  # nothing discarded
    assert linear.chain("x") == [EditParams("a"), EditParams("x")]
    assert [n.id for n in linear.path_to("c")] == [ROOT_ID, "a", "b", "c"]


def test_redo_follows_the_most_recently_used_child(linear):
    linear.undo()
    linear.undo()
    edit(linear, "x", "a")
    linear.undo()
    assert linear.redo() == "x"  # the branch we just came from, not the first child
    linear.move_to("c")  # jump back to the old branch, e.g. by clicking it in the history
    linear.move_to(ROOT_ID)
    assert [linear.redo() for _ in range(3)] == ["a", "b", "c"]


def test_delete_branch_removes_descendants_and_moves_the_cursor_out(linear):
    removed = linear.delete_branch("b")
    assert [n.id for n in removed] == ["b", "c"]
    assert [n.id for n in linear.nodes()] == [ROOT_ID, "a"]
    assert linear.cursor == "a"
    assert not linear.can_redo()
    with pytest.raises(KeyError):
        linear.node("c")


def test_delete_branch_keeps_siblings_and_redo_goes_to_them(linear):
    linear.move_to("a")
    edit(linear, "x", "a")
    linear.move_to("c")
    linear.delete_branch("b")
    assert linear.cursor == "a"
    assert linear.redo() == "x"


def test_delete_branch_outside_the_cursor_leaves_the_cursor(linear):
    linear.move_to("a")
    edit(linear, "x", "a")
    linear.delete_branch("b")
    assert linear.cursor == "x"


def test_root_cannot_be_deleted(linear):
    with pytest.raises(ValueError):
        linear.delete_branch(ROOT_ID)
    assert len(linear) == 4


def test_adding_under_a_missing_parent_fails(linear):
    with pytest.raises(KeyError):
        linear.add(EditNode(id="z", parent_id="nope", params=EditParams("z")))
    with pytest.raises(ValueError):
        linear.add(EditNode(id="a", parent_id=ROOT_ID, params=EditParams("dup")))


def test_round_trip_keeps_structure_cursor_and_redo_preference(linear):
    linear.move_to("a")
    edit(linear, "x", "a")
    linear.undo()
    copy, problems = EditTree.from_dict(linear.to_dict())
    assert problems == []
    assert [n.to_dict() for n in copy.nodes()] == [n.to_dict() for n in linear.nodes()]
    assert copy.cursor == "a"
    assert copy.redo() == "x"


def test_from_dict_leaves_out_orphans_and_bad_records(linear):
    data = linear.to_dict()
    data["nodes"].append(EditNode(id="orphan", parent_id="gone", params=EditParams("lost")).to_dict())
    data["nodes"].append({"id": "../../etc/passwd", "parent_id": ROOT_ID, "params": {"instruction": "evil"}})
    data["cursor"] = "orphan"
    tree, problems = EditTree.from_dict(data)
    assert [n.id for n in tree.nodes()] == [ROOT_ID, "a", "b", "c"]
    assert tree.cursor == "c"  # unknown cursor: the newest node
    assert len(problems) == 2 and any("lost" in p for p in problems)


def test_drop_lost_images_keeps_settings_needed_by_intact_descendants(linear):
    linear.move_to("a")
    edit(linear, "x", "a")
    edit(linear, "y", "x")
    # "b" lost but "c" below it intact: keep "b" as a settings-only step; "x","y" both lost: drop.
    removed = drop_lost_images(linear, {"b", "x", "y"})
    assert [n.id for n in removed] == ["x", "y"]
    assert [n.id for n in linear.nodes()] == [ROOT_ID, "a", "b", "c"]
    assert linear.node("b").image_missing and not linear.node("c").image_missing
    assert linear.chain("c") == [EditParams("a"), EditParams("b"), EditParams("c")]
