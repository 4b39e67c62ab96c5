# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
import mailtest  # (utils/, on the path through ../../conftest.py)

# A container's PID does not change during the verify stage; asking docker once per container
# instead of once per handshake saves a docker round trip on each of this scenario's ~70 clients.
_PIDS: dict[str, str] = {}
_container_pid = mailtest.container_pid


def _cached_container_pid(host) -> str:
    name = mailtest.container_name(host)
    if name not in _PIDS:
        _PIDS[name] = _container_pid(host)
    return _PIDS[name]


mailtest.container_pid = _cached_container_pid
