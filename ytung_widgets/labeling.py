"""The labeling notebook widget (SPEC S6): the Lab's labeling tool in a notebook cell.

    from ytung_widgets.labeling import LabelingWidget
    LabelingWidget(3)              # annotation dataset 3: its first unlabeled image
    LabelingWidget(3, lang="zh_CN")

An anywidget: the canvas editor is ``labeling_editor.js`` (the JavaScript of the Lab's
``labextension/src/labeling/editor.ts``, so one editor serves both; no second npm build), the
glue below connects it to these traits. The kernel does all the talking to the service through
:mod:`ytung_service.client`: it loads the dataset, streams each image file from the service
and sends its bytes to the browser (``image_data``), and saves a Submit. The browser asks
before it leaves an image with unsubmitted changes; nothing of them is kept.

Errors are shown in the widget (``error``), never raised: a cell displaying a widget should not
fail because the service is down.
"""

from __future__ import annotations

from pathlib import Path

import anywidget
from traitlets import Bytes, Dict, Int, List, Unicode, default

from .i18n import default_language, gettext

#: the largest image the widget loads (bytes)
MAX_IMAGE_BYTES = 64 * 1024 * 1024

EDITOR_JS = (Path(__file__).parent / "labeling_editor.js").read_text(encoding="utf-8")

GLUE_JS = r"""
function element(tag, className, text) {
  const node = document.createElement(tag);
  node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function render({ model, el }) {
  const labels = () => model.get("labels") || {};
  const root = element("div", "ytung-labeling ytung-labeling-widget");
  const header = element("div", "ytung-labeling-header");
  const title = element("span", "ytung-labeling-title");
  const progress = element("span", "ytung-labeling-progress");
  header.append(title, progress);
  const host = element("div", "ytung-labeling-center");
  const footer = element("div", "ytung-labeling-footer");
  const status = element("span", "ytung-labeling-status");
  status.setAttribute("role", "status");
  const buttons = element("span", "ytung-labeling-buttons");
  const previous = element("button", "jp-mod-styled ytung-labeling-previous");
  const next = element("button", "jp-mod-styled ytung-labeling-next");
  const submit = element("button", "jp-mod-styled jp-mod-accept ytung-labeling-submit");
  buttons.append(previous, next, submit);
  footer.append(status, buttons);
  root.append(header, host, footer);
  el.appendChild(root);

  let editor = null;
  let url = "";

  function words() {
    const l = labels();
    previous.textContent = l.previous || "Previous";
    next.textContent = l.next || "Next";
    submit.textContent = l.submit || "Submit";
    title.textContent = model.get("dataset_name");
    const p = model.get("progress") || {};
    progress.textContent = l.progress
      ? l.progress.replace("%1", p.labeled ?? 0).replace("%2", p.images ?? 0)
      : "";
  }

  function showStatus() {
    const error = model.get("error");
    status.classList.toggle("ytung-mod-error", Boolean(error));
    let text = error || model.get("status");
    const image = model.get("image");
    if (!error && editor && editor.dirty && image) {
      // the kernel's status counts the submitted objects; while editing, count the drawn ones
      const l = labels();
      // one pass, so that a "%2" in a file name stays as it is
      const objects = (l.objects || "%1: %2 objects").replace(/%([12])/g, (_, n) =>
        n === "1" ? image.file_name : String(editor.shapes.length)
      );
      text = `${objects} · ${l.unsaved || "not submitted"}`;
    }
    status.textContent = text;
  }

  function build() {
    if (editor) editor.dispose();
    editor = new LabelingEditor(host, {
      classes: model.get("classes"),
      objectTypes: model.get("object_types"),
      labels: labels(),
      onChange: showStatus,
    });
    show();
  }

  function show() {
    const image = model.get("image");
    if (!editor || !image) return;
    if (url) URL.revokeObjectURL(url);
    const data = model.get("image_data");
    url = data && data.byteLength ? URL.createObjectURL(new Blob([data])) : "";
    editor.setImage(url, image.width, image.height, model.get("shapes") || []);
    root.dataset.image = String(image.id);
    submit.disabled = false;
    showStatus();
  }

  function leave() {
    return !editor || !editor.dirty || window.confirm(labels().discard || "Discard?");
  }

  previous.addEventListener("click", () => {
    if (leave()) model.send({ type: "open", direction: "previous" });
  });
  next.addEventListener("click", () => {
    if (leave()) model.send({ type: "open", direction: "next" });
  });
  submit.addEventListener("click", () => {
    const image = model.get("image");
    if (!editor || !image) return;
    submit.disabled = true;
    model.send({ type: "submit", image_id: image.id, shapes: editor.getShapes() });
  });
  model.on("change:classes", build);
  model.on("change:labels", () => { words(); build(); });
  model.on("change:revision", show);
  model.on("change:progress", words);
  model.on("change:status", showStatus);
  model.on("change:error", () => { submit.disabled = false; showStatus(); });
  words();
  build();
  return () => {
    if (editor) editor.dispose();
    if (url) URL.revokeObjectURL(url);
  };
}

export default { render };
"""

CSS = """
.ytung-labeling-widget { display: flex; flex-direction: column; font-size: 13px; }
.ytung-labeling-widget .ytung-labeling-header,
.ytung-labeling-widget .ytung-labeling-footer {
  display: flex; justify-content: space-between; align-items: center; gap: 8px; padding: 4px;
}
.ytung-labeling-widget .ytung-labeling-title { font-weight: 600; }
.ytung-labeling-widget .ytung-labeling-center { display: flex; height: 480px; }
.ytung-labeling-widget .ytung-labeling-editor { flex: 1; display: flex; flex-direction: column; min-width: 0; outline: none; }
.ytung-labeling-widget .ytung-labeling-toolbar { display: flex; gap: 4px; flex-wrap: wrap; padding: 4px; }
.ytung-labeling-widget .ytung-mod-active { background: #1976d2; color: #fff; }
.ytung-labeling-widget .ytung-labeling-body { flex: 1; display: flex; min-height: 0; }
.ytung-labeling-widget .ytung-labeling-stage { flex: 1; position: relative; overflow: hidden; background: #555; }
.ytung-labeling-widget .ytung-labeling-canvas { position: absolute; inset: 0; touch-action: none; }
.ytung-labeling-widget .ytung-labeling-side { width: 170px; overflow-y: auto; padding: 4px; }
.ytung-labeling-widget .ytung-labeling-list { list-style: none; margin: 0; padding: 0; }
.ytung-labeling-widget .ytung-labeling-item { display: flex; gap: 4px; align-items: center; cursor: pointer; }
.ytung-labeling-widget .ytung-labeling-item.ytung-mod-selected { background: #bbdefb; }
.ytung-labeling-widget .ytung-labeling-item.ytung-mod-hidden { opacity: 0.5; }
.ytung-labeling-widget .ytung-labeling-item-name { flex: 1; }
.ytung-labeling-widget .ytung-labeling-item button { border: none; background: none; cursor: pointer; }
.ytung-labeling-widget .ytung-labeling-swatch { width: 10px; height: 10px; border-radius: 2px; }
.ytung-labeling-widget .ytung-labeling-help { color: #777; font-size: 11px; padding: 2px 4px; }
.ytung-labeling-widget .ytung-mod-error { color: #c62828; }
"""


HELP = "B: box · P: polygon (click points; Enter or a click on the first point closes) · V: select, drag to move · Del: delete · H: hide/show · 1-9: class · +/-/0: zoom · Esc: cancel"  # noqa: E501


def editor_labels(_) -> dict[str, str]:
    """The editor's words in the widget's language (``_`` translates)."""
    return {
        "select": _("Select (V)"),
        "bbox": _("Box (B)"),
        "polygon": _("Polygon (P)"),
        "zoomIn": _("Zoom in (+)"),
        "zoomOut": _("Zoom out (-)"),
        "fit": _("Fit (0)"),
        "hideAll": _("Hide all"),
        "showAll": _("Show all"),
        "shapes": _("Objects"),
        "hide": _("Hide (H)"),
        "show": _("Show (H)"),
        "remove": _("Delete (Del)"),
        "className": _("Class"),
        "help": _(HELP),
        "submit": _("Submit"),
        "previous": _("Previous"),
        "next": _("Next"),
        "progress": _("%1 of %2 labeled"),
        "objects": _("%1: %2 objects"),
        "unsaved": _("not submitted"),
        "discard": _("Discard the unsubmitted changes of this image?"),
    }


class LabelingWidget(anywidget.AnyWidget):
    """Label the images of annotation dataset ``dataset_id`` in a notebook.

    ``client`` is a :class:`ytung_service.client.PlatformClient` (default: one from the
    environment); ``lang`` is ``"en"`` or ``"zh_CN"``. From code: :meth:`show_image`,
    :meth:`open_next`, :meth:`submit` do what the buttons do.
    """

    _esm = EDITOR_JS + "\n" + GLUE_JS
    _css = CSS

    dataset_id = Int(help="The annotation dataset").tag(sync=True)
    dataset_name = Unicode("").tag(sync=True)
    classes = List(Unicode(), help="Its class names").tag(sync=True)
    object_types = List(Unicode(), help="bbox and/or polygon").tag(sync=True)
    labels = Dict(help="The editor's words in the widget's language").tag(sync=True)
    image = Dict(
        allow_none=True, default_value=None, help="The image shown: id, file_name, width, height"
    ).tag(sync=True)
    image_data = Bytes(b"", help="Its file's bytes").tag(sync=True)
    shapes = List(help="Its submitted shapes").tag(sync=True)
    revision = Int(0, help="Bumped when a new image is shown").tag(sync=True)
    progress = Dict(help="labeled and images of the dataset").tag(sync=True)
    status = Unicode("").tag(sync=True)
    error = Unicode("", help="The last error's message, empty after a success").tag(sync=True)
    lang = Unicode(help="Language of the widget: 'en' or 'zh_CN'.")

    def __init__(self, dataset_id: int, client=None, lang: str | None = None, **kwargs):
        if lang is not None:
            kwargs["lang"] = lang
        super().__init__(dataset_id=int(dataset_id), **kwargs)
        self._client = client
        self._ = gettext(self.lang)
        self.labels = editor_labels(self._)
        self.on_msg(self._on_message)
        self.load()

    @default("lang")
    def _default_lang(self):
        return default_language()

    def __repr__(self) -> str:
        name = (self.image or {}).get("file_name")
        return f"<LabelingWidget dataset={self.dataset_id} image={name!r}>"

    @property
    def client(self):
        if self._client is None:
            from ytung_service.client import PlatformClient

            self._client = PlatformClient(lang=self.lang)
        return self._client

    def _failed(self, error: Exception) -> None:
        from ytung_service.client import PlatformError, ServiceUnreachable

        if isinstance(error, ServiceUnreachable):
            self.error = self._("The Ytung service is unreachable: {error}", error=error.reason)
        elif isinstance(error, PlatformError):
            self.error = f"{error.status}: {error.message}" if error.status else error.message
        else:
            self.error = f"{type(error).__name__}: {error}"

    def _progress(self, dataset: dict) -> None:
        self.progress = {"labeled": dataset["labeled"], "images": dataset["images"]}

    def load(self) -> None:
        """Load the dataset and show its first unlabeled image (or its first image)."""
        try:
            dataset = self.client.annotation_dataset(self.dataset_id)
            self.dataset_name = dataset["name"]
            self.object_types = list(dataset["object_types"])
            self.classes = list(dataset["classes"])
            self._progress(dataset)
            first = self.client.next_annotation_image(self.dataset_id, 0)
            if first is None:
                page = self.client.annotation_images(self.dataset_id, limit=1)
                first = page["images"][0] if page["images"] else None
        except Exception as e:
            self._failed(e)
            return
        if first is None:
            self.status = self._("This dataset has no images")
        else:
            self.show_image(first["id"])

    def _image_bytes(self, image_id: int) -> bytes:
        import requests

        url, headers = self.client.annotation_image_request(self.dataset_id, image_id)
        with requests.get(url, headers=headers, stream=True, timeout=60) as resp:
            if resp.status_code >= 400:
                from ytung_service.client import _error_from

                raise _error_from(resp.status_code, resp.text)
            chunks, size = [], 0
            for chunk in resp.iter_content(256 * 1024):
                size += len(chunk)
                if size > MAX_IMAGE_BYTES:
                    raise ValueError(self._("The image is larger than 64 MiB"))
                chunks.append(chunk)
        return b"".join(chunks)

    def show_image(self, image_id: int) -> None:
        """Show image ``image_id`` with its submitted shapes."""
        try:
            image = self.client.annotation_image(self.dataset_id, image_id)
            data = self._image_bytes(image_id)
        except Exception as e:
            self._failed(e)
            return
        with self.hold_sync():
            self.image = {k: image[k] for k in ("id", "file_name", "width", "height", "state")}
            self.image_data = data
            self.shapes = image.get("shapes") or []
            self.error = ""
            self.status = self._(
                "{file}: {count} objects", file=image["file_name"], count=len(self.shapes)
            )
            self.revision += 1

    def _neighbour(self, direction: str) -> int | None:
        """The id of the image before or after the current one in the task list."""
        page = self.client.annotation_images(self.dataset_id, limit=1000)
        ids = [i["id"] for i in page["images"]]
        current = (self.image or {}).get("id")
        if current not in ids:
            return ids[0] if ids else None
        step = 1 if direction == "next" else -1
        index = ids.index(current) + step
        return ids[index] if 0 <= index < len(ids) else None

    def open_next(self, direction: str = "next") -> None:
        try:
            target = self._neighbour(direction)
        except Exception as e:
            self._failed(e)
            return
        if target is None:
            self.status = self._("No more images this way")
        else:
            self.show_image(target)

    def submit(self, shapes: list, image_id: int | None = None) -> bool:
        """Save ``shapes`` for the current image (or ``image_id``) and show the next unlabeled
        image; False (and ``error`` says why) when the service refused them."""
        image_id = image_id if image_id is not None else (self.image or {}).get("id")
        if image_id is None:
            return False
        try:
            answer = self.client.submit_annotation(self.dataset_id, image_id, shapes)
            self._progress(self.client.annotation_dataset(self.dataset_id))
        except Exception as e:
            self._failed(e)
            return False
        submitted = answer["image"]["file_name"]
        if answer["next"]:
            self.show_image(answer["next"]["id"])
            self.status = self._("Submitted {file}; this is the next image", file=submitted)
        else:
            with self.hold_sync():
                self.shapes = answer["image"]["shapes"]
                self.error = ""
                self.status = self._("Submitted {file}; every image is labeled", file=submitted)
                self.revision += 1
        return True

    def _on_message(self, _widget, content, _buffers) -> None:
        if not isinstance(content, dict):
            return
        if content.get("type") == "submit" and isinstance(content.get("shapes"), list):
            self.submit(content["shapes"], content.get("image_id"))
        elif content.get("type") == "open":
            self.open_next("previous" if content.get("direction") == "previous" else "next")
