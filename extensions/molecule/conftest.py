# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Shared by the testinfra tests of every scenario (pytest.ini here makes this directory the rootdir): the
helpers in utils/ (mailtest, served_certs, certwitness, ...) are importable by name."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "utils"))
