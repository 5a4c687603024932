"""Replaying a chain with the tiny model, and reading chains back from every place we store them."""

from __future__ import annotations

import pytest
from PIL import Image

from ip2p_core.cancel import CancelToken
from ip2p_core.errors import EditCancelled, ImageLoadError, InvalidParameterError, ProjectFileError
from ip2p_core.imageio import save_image
from ip2p_core.params import EditParams
from ip2p_core.chain import chain_provenance
from ip2p_core.session import EditSession, load_chain, replay_chain

from .conftest import image_digest

CHAIN = [
    EditParams("make it winter", steps=2, resolution=64, seed=21),
    EditParams("add snow", steps=2, resolution=64, seed=22, scheduler="ddim", text_guidance=6.0),
]


@pytest.fixture(scope="module")
def photo(photos_dir) -> Image.Image:
    return Image.open(photos_dir / "chelsea.png").convert("RGB")  # 451x300


@pytest.fixture
def edited(tiny_engine, photo, sessions_root):
    """A session holding CHAIN as run interactively (one add_result per edit)."""
    s = EditSession.create(photo, root=sessions_root)
    weights = tiny_engine.describe().weights_hash
    parent, current = s.root_id, photo
    for params in CHAIN:
        result = tiny_engine.edit(current, params)
        parent = s.add_result(parent, result, weights_hash=weights).id
        current = result.image
    yield s
    s.close()


def test_replay_with_the_same_seeds_reproduces_the_session_bit_exact(tiny_engine, photo, edited, tmp_path):
    edited.save_project(tmp_path / "p.ip2p")
    chain = load_chain(tmp_path / "p.ip2p")
    assert chain == CHAIN
    results = replay_chain(tiny_engine, photo, chain)
    originals = [n.id for n in edited.nodes()][1:]
    assert [image_digest(r.image) for r in results] == [image_digest(edited.image(i)) for i in originals]


def test_replay_with_new_seeds(tiny_engine, photo):
    results = replay_chain(tiny_engine, photo, CHAIN, new_seeds=True)
    seeds = [r.params.seed for r in results]
    assert all(isinstance(s, int) for s in seeds) and seeds != [21, 22]
    assert [r.params.replace(seed=None) for r in results] == [p.replace(seed=None) for p in CHAIN]


def test_replay_on_another_photo_with_progress(tiny_engine, photos_dir):
    other = Image.open(photos_dir / "coffee.png").convert("RGB")  # 600x400
    seen: list[tuple[int, int]] = []
    results = replay_chain(tiny_engine, other, CHAIN, progress=lambda i, p: seen.append((i, p.step)), keep_images=False)
    assert len(results) == 2 and results[-1].image.size == (600, 400)
    assert results[0].image is None  # intermediate pixels dropped on request
    assert seen == [(0, 1), (0, 2), (1, 1), (1, 2)]


def test_session_replay_adds_each_step_durably_and_stops_on_cancel(tiny_engine, edited):
    chain = edited.chain(edited.cursor)
    added = edited.replay(tiny_engine, chain, parent_id=edited.root_id, new_seeds=True)
    assert [n.parent_id for n in added] == [edited.root_id, added[0].id]
    assert edited.cursor == added[-1].id and len(edited.nodes()) == 5

    token = CancelToken()

    def cancel_in_second(index, progress):
        if index == 1:
            token.cancel()

    with pytest.raises(EditCancelled):
        edited.replay(tiny_engine, chain, parent_id=edited.root_id, progress=cancel_in_second, cancel=token)
    assert len(edited.nodes()) == 6  # the first step finished and was kept; the cancelled one is absent


def test_chain_is_read_from_folder_node_png_and_exported_images(tiny_engine, photo, edited, tmp_path):
    leaf = edited.cursor
    assert load_chain(edited.folder) == CHAIN
    assert load_chain(edited.folder / edited.node(leaf).image_file) == CHAIN
    for name in ("out.png", "out.jpg", "out.webp"):
        save_image(tmp_path / name, edited.image(leaf), provenance=edited.provenance(leaf))
        assert load_chain(tmp_path / name) == CHAIN, name
    results = replay_chain(tiny_engine, photo, CHAIN, new_seeds=True)
    save_image(tmp_path / "replayed.png", results[-1].image, provenance=chain_provenance(results))
    assert load_chain(tmp_path / "replayed.png") == [r.params for r in results]


def test_chain_errors_are_plain_sentences(tmp_path, photo, sessions_root, tiny_engine):
    photo.save(tmp_path / "plain.png")
    with pytest.raises(ProjectFileError, match="carries no edit instructions"):
        load_chain(tmp_path / "plain.png")
    with pytest.raises(ImageLoadError, match="does not exist"):
        load_chain(tmp_path / "missing.ip2p")
    empty = EditSession.create(photo, root=sessions_root)
    empty.save_project(tmp_path / "empty.ip2p")
    empty.close()
    with pytest.raises(ProjectFileError, match="no edits to replay"):
        load_chain(tmp_path / "empty.ip2p")
    with pytest.raises(InvalidParameterError):
        replay_chain(tiny_engine, photo, [])
