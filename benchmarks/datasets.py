"""Ingest a generated archive over HTTP (chunked upload + safe extraction), next to ``tar -xf`` /
``unzip`` of the same file in the same run.

Starts the real platform (hub, proxy, service) in a temporary directory, signs a user up,
generates a ``.tar`` (default ~1 GB: a mix of 2 MB and 64 KB files of random bytes), then, for
each of ``--rounds`` rounds, uploads it to ``/services/ytung/api/v1/datasets/uploads`` in 64 MB
chunks through the proxy (sent with ``sendfile``: the client's copying is not the server's
cost) and completes it, and times ``tar -xf`` of the same file into a fresh
directory (which of the two goes first alternates between rounds). Prints both times per
round, the median throughput ratio (system tool time / service time; target ≥ 0.5), the user
and system CPU seconds per GB of the service, the proxy and the tool (the wall times swing with
the disk; the CPU shows where the time goes), and the service's peak RSS (``VmHWM``; target
< 300 MB: the service streams, it never holds the archive).

A tar is unpacked while its chunks arrive, so its unpacking hides in the upload time; "after
the last byte" is what is left when the last chunk is in (a zip: all of it). Dirty pages are
written back (``sync``) before each timed part, so that neither pays for the other's writes.
Nothing is deleted until the end: on a filesystem without a journal, ext4 creates files slowly
for a minute or more after many were deleted (``recently_deleted()`` skips those inodes), which
would tax whichever part came next.

Run from the repository root:
``python benchmarks/datasets.py [--size-mb 1024] [--format tar|zip] [--rounds 3]``.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from pathlib import Path
from urllib.parse import urlsplit

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


def platform_pid(platform: RunningPlatform, marker: str) -> int:
    """The process of the platform whose command line holds ``marker``."""
    pids = [p for p in descendants(platform.proc.pid) if marker in _cmdline(p)]
    assert pids, f"no {marker} process"
    return pids[0]


def cpu_seconds(pid: int | None = None) -> tuple[float, float]:
    """User and system CPU time of process ``pid``; without one, of this process's
    waited-for children (``tar``, ``unzip``)."""
    if pid is None:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return usage.ru_utime, usage.ru_stime
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def add_cpu(total: list[float], before: tuple[float, float], after: tuple[float, float]):
    total[0] += after[0] - before[0]
    total[1] += after[1] - before[1]


def written_mb(pid: int) -> float:
    """MB the process wrote (into the page cache: ``write_bytes`` of ``/proc/<pid>/io``)."""
    with open(f"/proc/{pid}/io") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key == "write_bytes":
                return int(value) / 2**20
    return float("nan")


def peak_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def upload(platform: RunningPlatform, token: str, archive: Path, direct: bool, n: int = 0):
    base = platform.url
    if direct:  # as the Lab's server extension does: straight to the service, no proxy
        base = f"http://127.0.0.1:{platform.env['YTUNG_SERVICE_PORT']}"
    api = f"{base}/services/ytung/api/v1/datasets/uploads"
    headers = {"Authorization": f"token {token}"}
    size = archive.stat().st_size
    r = requests.post(
        api,
        json={"filename": archive.name, "size": size, "name": f"bench-{n}-{archive.name}"},
        headers=headers,
        timeout=60,
    )
    r.raise_for_status()
    uid = r.json()["id"]
    url = urlsplit(f"{api}/{uid}")
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=600)
    with open(archive, "rb") as f, contextlib.closing(conn):
        offset = 0
        while offset < size:
            count = min(CHUNK, size - offset)
            # the bytes go from the page cache to the socket (sendfile): a real client runs on
            # another machine, and its copying should not take this one's CPU from the server
            conn.putrequest("PUT", url.path)
            conn.putheader("Authorization", headers["Authorization"])
            conn.putheader("Content-Range", f"bytes {offset}-{offset + count - 1}/{size}")
            conn.putheader("Content-Length", str(count))
            conn.endheaders()
            conn.sock.sendfile(f, offset, count)
            answer = conn.getresponse()
            body = answer.read()
            if answer.status != 200:
                raise RuntimeError(f"chunk at {offset}: {answer.status} {body[:300]!r}")
            offset = json.loads(body)["offset"]
    sent = time.perf_counter()
    r = requests.post(f"{api}/{uid}/complete", headers=headers, timeout=3600)
    r.raise_for_status()
    return r.json(), sent


def time_tool(archive: Path, fmt: str, out: Path, cpu: dict[str, list[float]]) -> float:
    out.mkdir()
    tool = ["tar", "-xf", str(archive), "-C", str(out)]
    if fmt == "zip":
        tool = ["unzip", "-q", str(archive), "-d", str(out)]
    if shutil.which(tool[0]) is None:
        sys.exit(f"{tool[0]} is not installed")
    os.sync()
    before = cpu_seconds()
    t0 = time.perf_counter()
    subprocess.run(tool, check=True)
    took = time.perf_counter() - t0
    add_cpu(cpu[tool[0]], before, cpu_seconds())
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=int, default=1024, help="archive size (default 1024)")
    parser.add_argument("--format", choices=["tar", "zip"], default="tar")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of both (default 3)")
    parser.add_argument(
        "--direct",
        action="store_true",
        help="upload straight to the service (as the Lab does) instead of through the proxy",
    )
    args = parser.parse_args()
    tool_name = "unzip" if args.format == "zip" else "tar"
    via = "direct" if args.direct else "via the proxy"

    with tempfile.TemporaryDirectory(prefix="ytung-bench-") as tmp:
        tmp = Path(tmp)
        archive = tmp / f"bench.{args.format}"
        t0 = time.perf_counter()
        files, content = generate(archive, args.size_mb, args.format)
        size = archive.stat().st_size
        mb = size / 2**20
        print(
            f"archive: {archive.name} {mb:.0f} MB, {files} files "
            f"(generated in {time.perf_counter() - t0:.1f} s)"
        )
        ratios = []
        with RunningPlatform.running(tmp / "platform") as platform:
            r = platform.signup("benchuser", "Bench", PASSWORD)
            assert r.status_code < 400, r.text[:500]
            token = platform.token("benchuser", PASSWORD)
            pid = platform_pid(platform, "-m ytung_service")
            proxy = platform_pid(platform, "configurable-http-proxy")
            cpu = {"service": [0.0, 0.0], "proxy": [0.0, 0.0], tool_name: [0.0, 0.0]}
            rss_before = peak_rss_mb(pid)
            wrote_before = written_mb(pid)
            for round_ in range(args.rounds):
                if round_ % 2:
                    tool_s = time_tool(archive, args.format, tmp / f"tool-{round_}", cpu)
                os.sync()
                before = cpu_seconds(pid), cpu_seconds(proxy)
                t0 = time.perf_counter()
                dataset, sent = upload(platform, token, archive, args.direct, round_)
                service_s = time.perf_counter() - t0
                add_cpu(cpu["service"], before[0], cpu_seconds(pid))
                add_cpu(cpu["proxy"], before[1], cpu_seconds(proxy))
                upload_s = sent - t0
                assert dataset["file_count"] == files, dataset
                assert dataset["size_bytes"] == content, dataset
                if not round_ % 2:
                    tool_s = time_tool(archive, args.format, tmp / f"tool-{round_}", cpu)
                ratios.append(tool_s / service_s)
                print(
                    f"round {round_ + 1}: service (HTTP upload {via} + extract) {service_s:6.2f} s"
                    f" {mb / service_s:6.1f} MB/s (upload {upload_s:.2f} s + after the last byte"
                    f" {service_s - upload_s:.2f} s); {tool_name} {tool_s:6.2f} s"
                    f" {mb / tool_s:6.1f} MB/s; ratio {ratios[-1]:.2f}x"
                )
            rss_peak = peak_rss_mb(pid)
            wrote = written_mb(pid) - wrote_before

    print(
        f"throughput ratio service / {tool_name}: median {statistics.median(ratios):.2f}x"
        f" of {len(ratios)} rounds  (target >= 0.5x)"
    )
    gb = size * len(ratios) / 2**30
    print(
        "CPU seconds per GB, user + system (the kernel's file creation is in both): "
        + ", ".join(f"{name} {u / gb:.2f} + {s / gb:.2f}" for name, (u, s) in cpu.items())
        + ("" if args.direct else " (the proxy: configurable-http-proxy, not ours)")
    )
    print(f"service peak RSS: {rss_peak:.0f} MB (at start {rss_before:.0f} MB)  (target < 300 MB)")
    print(
        f"service wrote {wrote / len(ratios):.0f} MB per {mb:.0f} MB archive"
        f" (tar: unpacked once; zip: stored, then unpacked)"
    )


if __name__ == "__main__":
    main()
