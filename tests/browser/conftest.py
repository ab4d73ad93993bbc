"""Browser tests need Debian's chromium (`.ci/run` installs it); without it they skip with one line."""

from __future__ import annotations

import pytest

from tests.browser.chromium import chromium_path


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if chromium_path() is not None:
        return
    skip = pytest.mark.skip(reason="no chromium installed (apt-get install chromium): browser tests skipped")
    for item in items:
        if "tests/browser/" in str(item.path).replace("\\", "/"):
            item.add_marker(skip)
