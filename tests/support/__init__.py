"""Test support code: things the test suite needs that are not tests themselves."""
