"""logdot.tools.digest: content digests change with every field, type and tensor element;
source digests with every file's name and bytes."""

import dataclasses

import pytest
import torch

from logdot.golden.mapping import map_layer
from logdot.tools.digest import content_digest, generator_source_digest, source_digest
from tests.support.layers import random_conv_spec


@dataclasses.dataclass(frozen=True)
class _Pair:
    a: object
    b: object


@dataclasses.dataclass(frozen=True)
class _OtherPair:
    a: object
    b: object


def test_equal_values_give_equal_digests_and_every_change_another():
    t = torch.arange(6, dtype=torch.int64).reshape(2, 3)
    base = _Pair(t, {"x": (1, 2.5, "s"), "y": None})
    same = _Pair(t.clone(), {"y": None, "x": (1, 2.5, "s")})
    assert content_digest(base) == content_digest(same)
    changed = t.clone()
    changed[1, 2] += 1
    variants = [
        _Pair(changed, base.b),  # one element
        _Pair(t.to(torch.int32), base.b),  # dtype
        _Pair(t.reshape(3, 2), base.b),  # shape
        _Pair(t, {"x": (1, 2.5, "t"), "y": None}),  # a nested string
        _Pair(t, {"x": [1, 2.5, "s"], "y": None}),  # tuple -> list
        _Pair(t, {"x": (True, 2.5, "s"), "y": None}),  # 1 -> True
        _Pair(t, {"z": (1, 2.5, "s"), "y": None}),  # a key
        _OtherPair(t, base.b),  # the type
        _Pair(base.b, t),  # the fields swapped
    ]
    digests = {content_digest(v) for v in variants}
    assert len(digests) == len(variants) and content_digest(base) not in digests


def test_a_mapped_layer_digest_follows_its_weights(seed):
    g = torch.Generator().manual_seed(seed)
    spec = random_conv_spec(g, base="sqrt2")
    ml = map_layer(spec, lanes=1, pes=1)
    assert content_digest(ml) == content_digest(map_layer(spec, lanes=1, pes=1))
    assert content_digest(ml) != content_digest(map_layer(spec, lanes=2, pes=1))
    codes = spec.weight_codes.clone()
    codes.view(-1)[0] ^= 1
    other = dataclasses.replace(spec, weight_codes=codes)
    assert content_digest(ml) != content_digest(map_layer(other, lanes=1, pes=1))


def test_unknown_types_have_no_digest():
    with pytest.raises(TypeError, match="no content digest for a object"):
        content_digest(_Pair(1, object()))


def test_source_digest_follows_names_and_bytes(tmp_path):
    (tmp_path / "p" / "sub").mkdir(parents=True)
    (tmp_path / "p" / "a.py").write_text("x = 1\n")
    (tmp_path / "p" / "sub" / "b.py").write_text("y = 2\n")
    (tmp_path / "p" / "notes.txt").write_text("not code")
    roots = {"pkg": tmp_path / "p"}
    first = source_digest(roots, "v1")
    assert source_digest(roots, "v1") == first
    (tmp_path / "p" / "notes.txt").write_text("changed, but not a module")
    assert source_digest(roots, "v1") == first
    assert source_digest(roots, "v2") != first
    (tmp_path / "p" / "sub" / "b.py").write_text("y = 3\n")
    second = source_digest(roots, "v1")
    assert second != first
    (tmp_path / "p" / "sub" / "b.py").rename(tmp_path / "p" / "sub" / "c.py")
    assert source_digest(roots, "v1") not in (first, second)
    assert len(generator_source_digest()) == 64
