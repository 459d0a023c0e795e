"""CTest entry of the Python binding's tests: pytest, or exit 77 (CTest's
SKIP_RETURN_CODE) with the reason when this build cannot run them."""
import sys

try:
    import pytest
except ImportError:
    print("SKIP: pytest is missing (tools/deps.sh installs python3-pytest)")
    sys.exit(77)
import faulthandler

# A hang prints every thread's stack and fails, well before CTest's
# TIMEOUT would kill the run without a word.
faulthandler.dump_traceback_later(240, exit=True)
sys.exit(pytest.main(sys.argv[1:]))
