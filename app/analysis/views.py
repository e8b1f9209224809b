"""Model packs (administrators) and "About this model" (everyone)."""

from __future__ import annotations

import mimetypes
import uuid
from pathlib import Path, PurePosixPath

import markdown
import nh3
from django.conf import settings
from django.contrib import messages
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_POST

from app.analysis import packs
from app.audit import trail as audit
from app.inference.errors import ModelPackError

# What a model card may contain once rendered: text, tables, lists, code and its own images.
CARD_TAGS = {"h1", "h2", "h3", "h4", "p", "br", "hr", "ul", "ol", "li", "strong", "em", "code", "pre", "blockquote", "table", "thead", "tbody", "tr", "th", "td", "img", "a"}
CARD_ATTRIBUTES = {"img": {"src", "alt"}, "a": {"href"}, "th": {"align"}, "td": {"align"}}
IMAGE_TYPES = {".png", ".jpg", ".jpeg"}
MAX_UPLOADED_PACK = 2 * 2**30


def _find(name: str, version: str):  # noqa: ANN202
    from app.inference.packs import registry as pack_registry

    try:
        return pack_registry.find(settings.DATA_DIR.model_packs, name, version)
    except ModelPackError as exc:
        raise Http404(str(exc)) from exc


def render_card(text: str, name: str, version: str) -> str:
    """The pack's Markdown as safe HTML: no script, no style, no outside address; its images are
    served from the pack folder (pack_file), links to the internet are shown as text."""

    def keep(element: str, attribute: str, value: str) -> str | None:
        if element == "img" and attribute == "src":
            relative = PurePosixPath(value)
            if "://" in value or value.startswith("/") or ".." in relative.parts:
                return None
            return reverse("pack_file", kwargs={"name": name, "version": version, "path": str(relative)})
        if element == "a" and attribute == "href":
            return value if value.startswith("#") else None
        return value

    html = markdown.markdown(text, extensions=["tables", "fenced_code"], output_format="html")
    return nh3.clean(html, tags=CARD_TAGS, attributes=CARD_ATTRIBUTES, attribute_filter=keep, url_schemes=set(), link_rel=None)


# The evaluations a pack's manifest may carry, in the order a reader wants them, with what they are.
EVALUATIONS = [
    ("test", _("Held out from training (same collections)")),
    ("external", _("Collections never used in training")),
    ("unused_adult_normals", _("Adult normals left out of training")),
]


def card_summary(manifest: dict) -> list[dict]:
    """One screen before the full card: for each evaluation, each source and true class, how many
    films and how often the pack's finding matched (the plain-language conclusion)."""
    evaluation = manifest.get("evaluation") or {}
    sections = []
    for key, title in EVALUATIONS:
        rows = (evaluation.get(key) or {}).get("per_source") or []
        cleaned = [{"source": r.get("source", ""), "label": r.get("label", ""), "n": r.get("n", 0), "correct": r.get("correct"),
                    "called": max((r.get("predicted") or {"—": 0}).items(), key=lambda kv: kv[1])[0]} for r in rows if isinstance(r, dict)]
        if cleaned:
            sections.append({"title": title, "rows": cleaned})
    return sections


@require_GET
def model_card(request: HttpRequest, name: str | None = None, version: str | None = None) -> HttpResponse:
    pack = _find(name, version) if name else packs.active_pack()
    if pack is None:
        return render(request, "analysis/model_card.html", {"pack": None}, status=404)
    card = pack.root / "MODEL_CARD.md"
    html = render_card(card.read_text(encoding="utf-8"), pack.name, pack.version) if card.is_file() else ""
    from app.analysis.site_calibration.profiles import active_record
    from app.inference.site_profile import SiteProfile

    record = active_record(pack.name, pack.version)
    context = {"pack": pack, "card": html, "active": packs.active_pack(), "site_record": record,
               "site_profile": SiteProfile.from_dict(record.profile) if record else None, "summary": card_summary(pack.manifest)}
    return render(request, "analysis/model_card.html", context)


@require_GET
def pack_file(request: HttpRequest, name: str, version: str, path: str) -> FileResponse:
    """An image the model card shows (plots, heatmap examples); nothing else of the pack."""
    pack = _find(name, version)
    target = (pack.root / path).resolve()
    if pack.root.resolve() not in target.parents or target.suffix.lower() not in IMAGE_TYPES or not target.is_file():
        raise Http404("no such image in this pack")
    return FileResponse(target.open("rb"), content_type=mimetypes.guess_type(target.name)[0])


@require_GET
def pack_list(request: HttpRequest) -> HttpResponse:
    rows, problems = packs.installed_packs()
    jobs = packs.import_jobs()
    context = {
        "rows": rows,
        "problems": problems,
        "jobs": jobs,
        "previous": packs.previous_choice(),
        "fixed_by_env": settings.MODEL_PACK,
        "importing": any(j.state in ("queued", "running") for j in jobs),
    }
    template = "analysis/_pack_jobs.html" if request.headers.get("HX-Request") else "analysis/packs.html"
    return render(request, template, context)


@require_POST
def pack_import(request: HttpRequest) -> HttpResponse:
    """From a path on this computer (a USB stick) or a .zip chosen in the browser."""
    upload = request.FILES.get("archive")
    source_text = request.POST.get("source", "").strip()
    if upload is not None:
        if upload.size > MAX_UPLOADED_PACK:
            messages.error(request, gettext("That file is larger than any model pack (2 GB); nothing was installed."))
            return redirect("pack_list")
        folder = settings.DATA_DIR.model_packs / ".uploads"
        folder.mkdir(parents=True, exist_ok=True)
        source = folder / f"{uuid.uuid4().hex}.zip"
        with source.open("wb") as handle:
            for chunk in upload.chunks():
                handle.write(chunk)
        uploaded = True
    elif source_text and Path(source_text).is_absolute() and Path(source_text).exists():
        source, uploaded = Path(source_text), False
    else:
        messages.error(request, gettext("Choose a .zip file, or give the full path of a pack folder or .zip on this computer (for example /media/usb/cxr-pack-2.1.zip)."))
        return redirect("pack_list")
    job = packs.queue_import(source, activate_after=request.POST.get("activate") == "on")
    if uploaded:
        job.payload["uploaded"] = True
        job.save(update_fields=["payload"])
    audit.record(request.user, audit.CREATED, job, f"Model pack import from {upload.name if upload else source} started", activate=request.POST.get("activate") == "on")
    messages.success(request, gettext("The pack is being checked and installed; this page shows when it is done."))
    return redirect("pack_list")


@require_POST
def pack_activate(request: HttpRequest) -> HttpResponse:
    return _switch(request, request.POST.get("name", ""), request.POST.get("version", ""), "activated")


@require_POST
def pack_rollback(request: HttpRequest) -> HttpResponse:
    previous = packs.previous_choice()
    if previous is None:
        messages.error(request, gettext("There is no previous pack to go back to."))
        return redirect("pack_list")
    return _switch(request, previous["name"], previous.get("version", ""), "rolled back to")


def _switch(request: HttpRequest, name: str, version: str, verb: str) -> HttpResponse:
    try:
        pack, replaced = packs.activate(name, version)
    except ModelPackError as exc:
        messages.error(request, gettext("The pack was not activated: %(reason)s") % {"reason": exc})
        return redirect("pack_list")
    was = replaced.label if replaced else "none"
    audit.record(request.user, audit.CHANGED, None, f"Model pack {verb} {pack.label} (was {was})", pack=pack.name, version=pack.version, previous=was)
    messages.success(request, gettext("%(pack)s is now the active pack. Analyses that are already running finish with %(was)s; the next one uses %(pack)s.") % {"pack": pack.label, "was": was})
    return redirect("pack_list")
