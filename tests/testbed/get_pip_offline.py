# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Stand-in for the pip bootstrap script that ansible-test downloads from its own CI file host.

That host is not reachable from these machines (only PyPI is), so dev.sh places this file where
ansible-test looks for a cached copy (~/.ansible/test/cache/get_pip_<version>.py). It does what the
real script does for ansible-test: put pip into the fresh virtual environment (here from the
interpreter's bundled ensurepip wheel), then install the exact packages ansible-test asked for
(``pip==<version>``) from PyPI.
"""

import subprocess
import sys

# get-pip.py options that are not pip options.
BOOTSTRAP_ONLY = {"--no-setuptools", "--no-wheel"}

args = [arg for arg in sys.argv[1:] if arg not in BOOTSTRAP_ONLY]
subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"], stdout=subprocess.DEVNULL)
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install", "--quiet", *[a for a in args if a != "install"]]))
