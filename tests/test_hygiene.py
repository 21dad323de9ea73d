"""The suite's own guards: no test reaches beyond loopback, property tests are bounded and untimed."""
from __future__ import annotations

import socket

import pytest
from hypothesis import settings

REAL_CONNECT = socket.socket.connect  # taken at collection, before any test's guard is in place


def test_connections_beyond_loopback_are_refused_by_default():
    # Checked first so that a broken guard fails here instead of sending anything.
    assert socket.socket.connect is not REAL_CONNECT
    with socket.socket() as sock, pytest.raises(OSError, match="test blocked"):
        sock.connect(("192.0.2.1", 9))  # TEST-NET-1: documentation only
    with pytest.raises(socket.gaierror, match="test blocked"):
        socket.getaddrinfo("promptmgr.invalid", 443)


def test_loopback_stays_reachable():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        with socket.create_connection(server.getsockname(), timeout=5):
            conn, _ = server.accept()
            conn.close()


@pytest.mark.allow_network
def test_a_test_can_opt_out_with_a_marker():
    assert socket.socket.connect is REAL_CONNECT


def test_property_tests_are_bounded_and_have_no_deadline():
    assert settings.default.deadline is None
    assert settings.default.max_examples <= 50
