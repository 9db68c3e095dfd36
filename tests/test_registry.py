import pytest

from eblearn.registry import Registry


def test_register_and_get():
    table = Registry[int]("widget")
    table.register("one", 1)

    @table.register("two")
    def two() -> int:
        """Two, as a function."""
        return 2

    assert table.get("one") == 1
    assert table.get("two") is two
    assert table.names() == ["one", "two"]
    assert "one" in table and "three" not in table
    assert len(table) == 2
    assert table.describe("two") == "Two, as a function."


def test_duplicate_name_is_refused():
    table = Registry[int]("widget")
    table.register("one", 1)
    with pytest.raises(ValueError, match="widget 'one' is already registered"):
        table.register("one", 2)
    assert table.get("one") == 1


def test_unknown_name_lists_the_valid_ones():
    table = Registry[int]("method")
    table.register("b", 1)
    table.register("a", 2)
    with pytest.raises(ValueError, match=r"unknown method 'c'; valid methods: a, b"):
        table.get("c")


@pytest.mark.parametrize("name", ["", "Upper", "has space", "with:colon"])
def test_bad_names_are_refused(name):
    with pytest.raises(ValueError, match="lowercase"):
        Registry[int]("widget").register(name, 1)
