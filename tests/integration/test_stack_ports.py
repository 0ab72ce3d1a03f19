"""A stack refuses to start beside one already listening on its ports (a benchmark killed before it could
stop its stack leaves one): it would otherwise measure the old stack through the new one's readiness."""

import socket

import pytest

from tutorbook_devstack.stack import PortInUseError, require_free_ports


def test_a_port_something_listens_on_is_refused_and_a_free_one_is_not() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        taken = listener.getsockname()[1]
        with socket.socket() as spare:
            spare.bind(("127.0.0.1", 0))
            free = spare.getsockname()[1]  # bound, not listening: nothing answers there
            require_free_ports("127.0.0.1", [free])
            with pytest.raises(PortInUseError, match=f"port {taken} .* already in use"):
                require_free_ports("127.0.0.1", [free, taken])
