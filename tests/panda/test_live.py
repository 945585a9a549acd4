"""Against a real PanDA server: run only when MSPROC_LIVE_PANDA_URL (and a token) are configured."""

from __future__ import annotations

import os

import pytest

from campaigns.backends.panda.client import PandaConfig, idds_call

pytestmark = [
    pytest.mark.live_panda,
    pytest.mark.skipif(not os.environ.get("MSPROC_LIVE_PANDA_URL"), reason="MSPROC_LIVE_PANDA_URL is not set"),
]


def test_it_reaches_idds_through_the_live_panda_relay():
    config = PandaConfig.from_mapping({**os.environ, "MSPROC_PANDA_URL": os.environ["MSPROC_LIVE_PANDA_URL"]})
    assert idds_call(config, "ping") is not None


def test_an_unknown_workflow_name_is_not_found():
    config = PandaConfig.from_mapping({**os.environ, "MSPROC_PANDA_URL": os.environ["MSPROC_LIVE_PANDA_URL"]})
    found = idds_call(config, "get_request_id_by_name", name="msproc-no-such-workflow-0000")
    assert not found
