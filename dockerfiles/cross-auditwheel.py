# auditwheel for a cross build (installed as the cross tools venv's bin/auditwheel).
# auditwheel takes its platform choices from the machine it runs on; the cross stage runs on
# the build machine but repairs wheels for the target, whose machine WHEELHOUSE_TARGET_MACHINE
# names (aarch64): auditwheel is told that is the machine, and everything else (the wheel's
# architecture, library lookup with ELF machine checks) it already does for any target.
import os
import platform
import sys

_machine = os.environ.get("WHEELHOUSE_TARGET_MACHINE")
if _machine:
    platform.machine = lambda: _machine

from auditwheel.main import main  # noqa: E402

sys.exit(main())
