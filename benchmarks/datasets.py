"""Ingest a generated archive over HTTP (chunked upload + safe extraction), next to ``tar -xf`` /
``unzip`` of the same file in the same run.

Starts the real platform (hub, proxy, service) in a temporary directory, signs a user up,
generates a ``.tar`` (default ~1 GB: a mix of 2 MB and 64 KB files of random bytes), uploads it
to ``/services/ytung/api/v1/datasets/uploads`` in 64 MB chunks through the proxy and completes
it, then times ``tar -xf`` of the same file into a fresh directory. Prints both times, the
throughput ratio (system tool time / service time; target ≥ 0.5) and the service's peak RSS
(``VmHWM``; target < 300 MB: the service streams, it never holds the archive).

The service unpacks a tar while its chunks arrive, so most of its unpacking hides in the upload
time; "after the last byte" is what is left when the last chunk is in (a zip: all of it). Dirty
pages are written back (``sync``) before each timed part, so that neither pays for the other's
writes. The service punches what it unpacked out of the upload's file before that reaches the
disk: the service's ``cancelled_write_bytes`` (``/proc/<pid>/io``) shows how much of what it
wrote was dropped from the page cache unwritten.

Run from the repository root: ``python benchmarks/datasets.py [--size-mb 1024] [--format tar|zip]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.harness import RunningPlatform, _cmdline, descendants  # noqa: E402

PASSWORD = "Bench-pass-2026"
CHUNK = 64 << 20


def generate(path: Path, size_mb: int, fmt: str) -> tuple[int, int]:
    """An archive of about ``size_mb`` MB; answers (files, bytes of content)."""
    target = size_mb << 20
    files = written = 0
    block = os.urandom(2 << 20)
    small = os.urandom(64 << 10)
    if fmt == "zip":
        archive = zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED)
        add = archive.writestr
    else:
        archive = tarfile.open(path, "w")

        def add(name: str, data: bytes) -> None:
            import io

            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))

    with archive:
        while written < target:
            # 1 in 4 directories holds many small files (images), the rest large ones
            if files % 4 == 0:
                for i in range(16):
                    add(f"small/{files:05d}/{i:02d}.bin", small)
                    written += len(small)
                files += 16
            else:
                add(f"large/{files:05d}.bin", block[files % 7 :] + block[: files % 7])
                written += len(block)
                files += 1
    return files, written


def service_pid(platform: RunningPlatform) -> int:
    pids = [p for p in descendants(platform.proc.pid) if "-m ytung_service" in _cmdline(p)]
    assert pids, "no service process"
    return pids[0]


def io_mb(pid: int) -> tuple[float, float]:
    """MB the process wrote (into the page cache) and MB of that dropped before writeback."""
    counters = {}
    with open(f"/proc/{pid}/io") as f:
        for line in f:
            key, _, value = line.partition(":")
            counters[key] = int(value)
    return counters["write_bytes"] / 2**20, counters["cancelled_write_bytes"] / 2**20


def peak_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def upload(platform: RunningPlatform, token: str, archive: Path, direct: bool) -> dict:
    base = platform.url
    if direct:  # as the Lab's server extension does: straight to the service, no proxy
        base = f"http://127.0.0.1:{platform.env['YTUNG_SERVICE_PORT']}"
    api = f"{base}/services/ytung/api/v1/datasets/uploads"
    headers = {"Authorization": f"token {token}"}
    size = archive.stat().st_size
    r = requests.post(
        api,
        json={"filename": archive.name, "size": size, "name": f"bench-{archive.name}"},
        headers=headers,
        timeout=60,
    )
    r.raise_for_status()
    uid = r.json()["id"]
    with open(archive, "rb") as f:
        offset = 0
        while offset < size:
            data = f.read(CHUNK)
            end = offset + len(data) - 1
            r = requests.put(
                f"{api}/{uid}",
                data=data,
                headers={**headers, "Content-Range": f"bytes {offset}-{end}/{size}"},
                timeout=600,
            )
            r.raise_for_status()
            offset = r.json()["offset"]
    sent = time.perf_counter()
    r = requests.post(f"{api}/{uid}/complete", headers=headers, timeout=3600)
    r.raise_for_status()
    return r.json(), sent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=int, default=1024, help="archive size (default 1024)")
    parser.add_argument("--format", choices=["tar", "zip"], default="tar")
    parser.add_argument(
        "--direct",
        action="store_true",
        help="upload straight to the service (as the Lab does) instead of through the proxy",
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="ytung-bench-") as tmp:
        tmp = Path(tmp)
        archive = tmp / f"bench.{args.format}"
        t0 = time.perf_counter()
        files, content = generate(archive, args.size_mb, args.format)
        size = archive.stat().st_size
        print(
            f"archive: {archive.name} {size / 2**20:.0f} MB, {files} files "
            f"(generated in {time.perf_counter() - t0:.1f} s)"
        )

        with RunningPlatform.running(tmp / "platform") as platform:
            r = platform.signup("benchuser", "Bench", PASSWORD)
            assert r.status_code < 400, r.text[:500]
            token = platform.token("benchuser", PASSWORD)
            pid = service_pid(platform)
            rss_before = peak_rss_mb(pid)
            io_before = io_mb(pid)
            os.sync()
            t0 = time.perf_counter()
            dataset, sent = upload(platform, token, archive, args.direct)
            service_s = time.perf_counter() - t0
            upload_s = sent - t0
            rss_peak = peak_rss_mb(pid)
            io_after = io_mb(pid)
            assert dataset["file_count"] == files, dataset
            assert dataset["size_bytes"] == content, dataset

        out = tmp / "tool"
        out.mkdir()
        tool = ["tar", "-xf", str(archive), "-C", str(out)]
        if args.format == "zip":
            tool = ["unzip", "-q", str(archive), "-d", str(out)]
        if shutil.which(tool[0]) is None:
            sys.exit(f"{tool[0]} is not installed")
        os.sync()
        t0 = time.perf_counter()
        subprocess.run(tool, check=True)
        tool_s = time.perf_counter() - t0

    mb = size / 2**20
    via = "direct" if args.direct else "via the proxy"
    print(f"service (HTTP upload {via} + extract): {service_s:6.2f} s  {mb / service_s:7.1f} MB/s")
    print(
        f"  of which upload {upload_s:.2f} s, after the last byte (unpacking left, "
        f"commit) {service_s - upload_s:.2f} s"
    )
    print(f"{tool[0]} (local extract only):     {tool_s:6.2f} s  {mb / tool_s:7.1f} MB/s")
    ratio = tool_s / service_s
    print(f"throughput ratio service / {tool[0]}: {ratio:.2f}x  (target >= 0.5x)")
    print(f"service peak RSS: {rss_peak:.0f} MB (at start {rss_before:.0f} MB)  (target < 300 MB)")
    wrote, dropped = (after - before for after, before in zip(io_after, io_before, strict=True))
    print(f"service wrote {wrote:.0f} MB, of which {dropped:.0f} MB dropped before writeback")


if __name__ == "__main__":
    main()
