"""The invariants library asserts on behalf of the tests: let pytest explain its failures."""

import pytest

pytest.register_assert_rewrite("tests.robustness.invariants")
