"""`jobpulse-agent copy` when the storage itself misbehaves: a full disk, a source deleted mid-copy."""

import json
import subprocess
import time

import pytest

from tests.support.disks import make_disk

from ._helpers import AGENT, MiB, start_throttled_copy


@pytest.fixture
def small_filesystem(tmp_path):
    """A real 2 MiB tmpfs as the destination (the tests run as root, as CI does)."""
    mount_point = tmp_path / "full"
    mount_point.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2M", "tmpfs", str(mount_point)],
                            capture_output=True, text=True)
    assert result.returncode == 0, f"cannot mount a small tmpfs for the disk-full test: {result.stderr}"
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], capture_output=True)


def test_disk_full_fails_with_one_clear_line(tmp_path, small_filesystem):
    source = make_disk(tmp_path / "disk0.img", 6 * MiB)
    proc = subprocess.run(
        AGENT + [str(source), "--dest", str(small_filesystem), "--no-telemetry", "--summary-json"],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 1
    failures = [line for line in proc.stderr.splitlines() if "copy failed" in line]
    assert len(failures) == 1, proc.stderr
    assert "no space left" in failures[0].lower()
    assert "Traceback" not in proc.stderr
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["status"] == "failed"
    assert summary["disks"][0]["status"] == "failed"


def test_source_deleted_mid_copy_fails_cleanly(tmp_path):
    source, proc = start_throttled_copy(tmp_path)
    time.sleep(0.8)
    # Replace the file the way a rotated image would be: the old inode is gone from the path.
    source.unlink()
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 1, err
    failures = [line for line in err.splitlines() if "copy failed" in line]
    assert len(failures) == 1 and "vanished" in failures[0], err
    assert json.loads(out.strip().splitlines()[-1])["status"] == "failed"
