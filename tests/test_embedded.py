"""The embedded warehouse keeps its generated secrets private and stable."""

from __future__ import annotations

import stat

from customer_health.warehouse.embedded import EmbeddedServer


def test_bi_password_is_generated_once_and_readable_only_by_its_owner(tmp_path):
    server = EmbeddedServer(root=tmp_path, port=1)
    first = server.bi_password()
    assert len(first) >= 20
    assert server.bi_password() == first
    assert stat.S_IMODE(server.bi_password_file.stat().st_mode) == 0o600
