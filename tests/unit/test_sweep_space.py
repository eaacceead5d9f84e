"""The sweep space: the command line's compact forms, the grid's order (variant by
variant), its JSON round trip, and the checks against the model's max_batch_size."""

import pytest

from pnsuite.sweep.errors import SweepError
from pnsuite.sweep.points import Batching, PointKey, Variant
from pnsuite.sweep.space import (SweepSpace, batching_from_label, check_against_config,
                                 parse_batching, parse_counts)

OFF = Batching()
ON = Batching(True)
D100 = Batching(True, 100)
D500_P48 = Batching(True, 500, (4, 8))


# ------------------------------------------------------------------ counts

@pytest.mark.parametrize("text, counts", [
    ("1-3", (1, 2, 3)),
    ("1,2,4,8", (1, 2, 4, 8)),
    ("1-3,8", (1, 2, 3, 8)),
    ("pow2:1-64", (1, 2, 4, 8, 16, 32, 64)),
    ("pow2:3-20", (4, 8, 16)),
    ("8,1-3,2", (1, 2, 3, 8)),
    (" 4 , 2 ", (2, 4)),
    ("5", (5,)),
    ("pow2:1-8,3", (1, 2, 3, 4, 8)),
])
def test_counts_parse_sorted_and_once(text, counts):
    assert parse_counts(text, "--concurrency") == counts


@pytest.mark.parametrize("text, token", [
    ("0", "0"), ("1-0", "1-0"), ("0-2", "0-2"), ("x", "x"), ("1,,2", ""), ("-1", "-1"),
    ("1.5", "1.5"), ("pow2:5-7", "pow2:5-7"), ("pow2:8", "pow2:8"), ("1-3,4-", "4-"),
    ("pow2:0-4", "pow2:0-4"),
])
def test_a_bad_count_names_the_token_the_option_and_the_forms(text, token):
    with pytest.raises(SweepError) as caught:
        parse_counts(text, "--instances")
    message = str(caught.value)
    assert message.startswith(f"--instances: {token!r} ")
    assert "A-B" in caught.value.hint and "pow2:A-B" in caught.value.hint
    assert "what to do: give --instances as" in message


# ------------------------------------------------------------------ batching

def test_batching_choices_parse_in_order_each_once():
    assert parse_batching("off,on:0,on:100,on:500:4.8") == (
        OFF, Batching(True, 0), D100, D500_P48)
    assert parse_batching("on:100, off ,on:100,ON") == (D100, OFF, ON)


def test_preferred_sizes_are_kept_sorted_and_once():
    assert parse_batching("on:500:8.4.8") == (D500_P48,)
    assert parse_batching("on:500:4.8,on:500:8.4") == (D500_P48,)


def test_preferred_sizes_without_a_delay_keep_tritons_default_delay():
    assert parse_batching("on::2.4") == (Batching(True, None, (2, 4)),)


@pytest.mark.parametrize("token", [
    "onn", "off:100", "on:", "on:-5", "on:1.5", "on:100:", "on:100:0", "on:100:4..8",
    "on:100:4.x", "on:1:2:3", "",
])
def test_a_bad_batching_choice_names_the_token_and_the_forms(token):
    with pytest.raises(SweepError) as caught:
        parse_batching(f"off,{token}")
    assert str(caught.value).startswith(f"--batching: {token!r} ")
    assert "on:DELAY_US:P1.P2" in caught.value.hint


@pytest.mark.parametrize("batching, label", [
    (OFF, "off"), (ON, "on"), (D100, "on-d100"), (Batching(True, 0), "on-d0"),
    (D500_P48, "on-d500-p4.8"), (Batching(True, None, (2, 4)), "on-p2.4"),
])
def test_a_label_reads_back_as_its_batching(batching, label):
    assert batching.label == label
    assert batching_from_label(label) == batching


@pytest.mark.parametrize("label", ["", "of", "on-", "on-d", "on-dx", "on-p", "on-p4.",
                                   "on-p0", "on-p4-d100", "off-d100", "on-d1-p2-x"])
def test_a_bad_label_is_refused(label):
    with pytest.raises(SweepError, match="is not a batching label"):
        batching_from_label(label)


# ------------------------------------------------------------------ the grid

SPACE = SweepSpace((1, 2), (OFF, D100), (1, 4, 16))


def test_variants_go_instances_first_then_batching_in_the_order_given():
    assert [v.name for v in SPACE.variants()] == [
        "i1-boff", "i1-bon-d100", "i2-boff", "i2-bon-d100"]
    assert [v.name for v in SweepSpace((2, 1), (D100, OFF), (1,)).variants()] == [
        "i2-bon-d100", "i2-boff", "i1-bon-d100", "i1-boff"]


def test_keys_go_variant_by_variant_with_each_variants_concurrencies_in_a_row():
    assert [k.label for k in SPACE.keys()] == [
        "i1-boff-c1", "i1-boff-c4", "i1-boff-c16",
        "i1-bon-d100-c1", "i1-bon-d100-c4", "i1-bon-d100-c16",
        "i2-boff-c1", "i2-boff-c4", "i2-boff-c16",
        "i2-bon-d100-c1", "i2-bon-d100-c4", "i2-bon-d100-c16"]
    assert SPACE.size == 12 and SPACE.shape == (2, 2, 3)
    assert len(set(SPACE.keys())) == 12


def test_grid_coordinates_and_keys_are_inverse():
    key = PointKey(Variant(2, OFF), 16)
    assert SPACE.coordinates(key) == (1, 0, 2)
    assert SPACE.key_at((1, 0, 2)) == key
    assert [SPACE.key_at(SPACE.coordinates(k)) for k in SPACE.keys()] == SPACE.keys()


def test_a_key_outside_the_space_has_no_coordinates():
    with pytest.raises(SweepError, match="i3-boff-c1 is not in the sweep space"):
        SPACE.coordinates(PointKey(Variant(3, OFF), 1))
    with pytest.raises(SweepError, match="i1-boff-c2 is not in the sweep space"):
        SPACE.coordinates(PointKey(Variant(1, OFF), 2))


def test_the_space_round_trips_through_json():
    space = SweepSpace((1, 3), (OFF, ON, D500_P48, Batching(True, None, (2,))), (1, 64))
    assert space.to_json() == {"instances": [1, 3],
                               "batching": ["off", "on", "on-d500-p4.8", "on-p2"],
                               "concurrency": [1, 64]}
    assert SweepSpace.from_json(space.to_json()) == space


def test_lists_are_kept_as_tuples_so_the_space_is_hashable():
    space = SweepSpace([1, 2], [OFF], [4])
    assert space.instances == (1, 2) and space == SweepSpace((1, 2), (OFF,), (4,))
    assert hash(space) == hash(SweepSpace((1, 2), (OFF,), (4,)))


@pytest.mark.parametrize("instances, batching, concurrency, message", [
    ((), (OFF,), (1,), "no instances"),
    ((1,), (), (1,), "no batching"),
    ((1, 1), (OFF,), (1,), "repeats a value in instances"),
    ((1,), (OFF, OFF), (1,), "repeats a value in batching"),
    ((1,), (OFF,), (0, 2), r"concurrency must be integers >= 1, not \[0\]"),
])
def test_a_malformed_space_is_refused(instances, batching, concurrency, message):
    with pytest.raises(SweepError, match=message):
        SweepSpace(instances, batching, concurrency)


# ------------------------------------------------------------------ against the config

def test_a_space_the_model_can_serve_passes():
    check_against_config(SweepSpace((1,), (OFF, D500_P48), (1,)), max_batch_size=8)
    check_against_config(SweepSpace((1,), (OFF,), (1,)), max_batch_size=0)


def test_batching_a_model_without_a_batch_dimension_is_refused():
    with pytest.raises(SweepError) as caught:
        check_against_config(SweepSpace((1,), (OFF, ON, D100), (1,)), max_batch_size=0)
    assert caught.value.message.startswith("the sweep asks for dynamic batching (on, on-d100)")
    assert "max_batch_size is 0" in caught.value.message
    assert "--batching off" in caught.value.hint


def test_a_preferred_size_above_max_batch_size_is_refused():
    space = SweepSpace((1,), (OFF, Batching(True, 0, (4, 8, 16))), (1,))
    with pytest.raises(SweepError) as caught:
        check_against_config(space, max_batch_size=8)
    assert caught.value.message == ("batching choice on-d0-p4.8.16 prefers batch size 16, "
                                    "above the model's max_batch_size 8")
    assert "at most 8" in caught.value.hint
