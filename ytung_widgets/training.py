"""The Training widget: submit a training job from a notebook and watch its log (SPEC T2, T6).

    from ytung_widgets.training import TrainingJob
    job = TrainingJob.submit(name="digits_1", code_dir="/home/me/presets/digits_cnn",
                             start_file="train.py", output_path="/home/me/out/digits",
                             params={"epochs": "3"})
    job            # status, exit code, the log (tagged per rank), Refresh / Stop buttons
    job.watch()    # follow the log until the job ends (in a background thread)

The HTML comes from the pure :func:`render_job` (tested on literal data); the widget only
calls :class:`ytung_service.client.PlatformClient`. Errors are shown, never raised.
"""

from __future__ import annotations

import threading
from html import escape

import ipywidgets as widgets
from traitlets import Dict, Int, List

from .base import PlatformWidget, error_box

#: the statuses after which nothing changes any more
FINAL = ("completed", "failed", "closed", "error", "paused")


def render_job(job: dict, lines: list[dict], _) -> str:
    """Status line and console log (``[rank r] text``) of ``job`` in HTML."""
    status = escape(str(job.get("status", "")))
    head = (
        f'<div class="ytung-training-head"><b>{escape(str(job.get("name", "")))}</b> '
        f"(#{escape(str(job.get('id', '')))}) — {escape(_('Status'))}: "
        f'<span class="ytung-training-status">{status}</span>'
    )
    if job.get("exit_code") is not None:
        head += f" — {escape(_('Exit code'))}: {escape(str(job['exit_code']))}"
    head += "</div>"
    reason = (job.get("reason") or {}).get("text")
    if reason:
        head += f'<div class="ytung-training-reason">{escape(reason)}</div>'
    log = "\n".join(
        f"[rank {line.get('rank')}] {'! ' if line.get('stream') == 'stderr' else ''}"
        f"{line.get('text', '')}"
        for line in lines
    )
    return head + (
        '<pre class="ytung-training-log" style="max-height: 24em; overflow: auto">'
        f"{escape(log) or escape(_('No output yet'))}</pre>"
    )


class TrainingJob(PlatformWidget):
    """One training job: its status and console log, refreshed on demand or followed."""

    job_id = Int(help="The job's id.")
    job = Dict(help="The service's document of the job.")
    lines = List(help="The console log lines read so far ({time, rank, stream, text}).")

    def __init__(self, job_id: int, client=None, lang: str | None = None, load=True, **kw):
        super().__init__(client=client, lang=lang, job_id=int(job_id), **kw)
        self._body = widgets.HTML()
        refresh = widgets.Button(description=self._("Refresh"), icon="refresh")
        refresh.on_click(lambda _b: self.refresh())
        stop = widgets.Button(description=self._("Stop"), icon="stop")
        stop.on_click(lambda _b: self.stop())
        self.children = [self._body, widgets.HBox([refresh, stop])]
        self._watcher: threading.Thread | None = None
        if load:
            self.refresh()

    @classmethod
    def submit(cls, client=None, lang: str | None = None, **form) -> TrainingJob:
        """Create a job from the form fields (as the Lab's form: name, code_dir, start_file,
        output_path, params, distributed, nodes, devices_per_node, …) and show it."""
        from ytung_service.client import PlatformClient

        job = (client or PlatformClient()).submit_job(**form)
        return cls(job["id"], client=client, lang=lang)

    def refresh(self) -> None:
        """Read the job and the log lines written since the last refresh."""
        from ytung_service.client import PlatformError

        try:
            client = self.client()
            self.job = client.job(self.job_id)
            page = client.job_logs(self.job_id, offset=len(self.lines), limit=1000)
            self.lines = self.lines + page["lines"]
            self.error = ""
        except PlatformError as e:
            self.error = e.message
        self._render()

    def stop(self) -> None:
        from ytung_service.client import PlatformError

        try:
            self.job = self.client().stop_job(self.job_id)
        except PlatformError as e:
            self.error = e.message
        self._render()

    def watch(self, interval: float = 2.0) -> None:
        """Follow the log in a background thread until the job ends (the cell returns)."""
        if self._watcher is not None and self._watcher.is_alive():
            return
        done = threading.Event()

        def follow():
            while not done.wait(interval):
                self.refresh()
                if self.job.get("status") in FINAL or self.error:
                    self.refresh()  # the last lines
                    return

        self._watcher = threading.Thread(target=follow, daemon=True)
        self._watcher.start()

    def _render(self) -> None:
        html = render_job(self.job or {"id": self.job_id}, self.lines, self._)
        if self.error:
            html = error_box("ytung-training-error", 0, self.error) + html
        self._body.value = html

    def __repr__(self) -> str:
        return f"<TrainingJob {self.job_id} {self.job.get('status', '?')}>"
