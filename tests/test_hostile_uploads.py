"""Hostile and broken files through the real upload form: a clear refusal each, nothing stored or left behind."""

from __future__ import annotations

import gzip
import io
import struct
import zlib

import numpy as np
import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from PIL import Image

from app.clinical.models import Study
from app.jobs.models import Job
from tests.base import PASSWORD


def _png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def _jpeg(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="JPEG")
    return buffer.getvalue()


def _png_declaring(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * 1024)) + chunk(b"IEND", b"")


def _other_format(fmt: str) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((300, 300), 128, np.uint8)).save(buffer, format=fmt)
    return buffer.getvalue()


def _animation() -> bytes:
    buffer = io.BytesIO()
    frames = [Image.new("L", (300, 300), v) for v in (0, 128)]
    frames[0].save(buffer, format="PNG", save_all=True, append_images=frames[1:])
    return buffer.getvalue()


NOISE = np.random.default_rng(0).integers(0, 255, (400, 400), dtype=np.uint8)
DICM = b"\x00" * 128 + b"DICM"

# name -> (file name as uploaded, bytes)
HOSTILE = {
    "empty file": ("chest.png", b""),
    "one byte": ("chest.png", b"\x00"),
    "8-byte text as .dcm": ("x.dcm", b"Etc/UTC\n"),
    "8-byte text without extension": ("x", b"Etc/UTC\n"),
    "text as PNG": ("chest.png", b"just some text, not an image\n" * 20),
    "HTML page": ("chest.jpg", b"<html><body><script>alert(1)</script></body></html>" * 10),
    "PDF document": ("chest.png", b"%PDF-1.7\n" + b"x" * 500),
    "ZIP archive": ("chest.png", b"PK\x03\x04" + b"\x00" * 500),
    "gzip archive": ("chest.dcm", gzip.compress(b"x" * 5000)),
    "ELF executable": ("chest.png", b"\x7fELF" + b"\x00" * 500),
    "Windows executable": ("chest.jpg", b"MZ" + b"\x90" * 500),
    "shell script": ("chest.dcm", b"#!/bin/sh\nrm -rf /\n" * 10),
    "SVG with script": ("chest.png", b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'),
    "truncated PNG": ("chest.png", _png(NOISE)[: len(_png(NOISE)) // 2]),
    "truncated JPEG": ("chest.jpg", _jpeg(NOISE)[: len(_jpeg(NOISE)) // 2]),
    "PNG decompression bomb": ("chest.png", _png_declaring(50_000, 50_000)),
    "enormously wide PNG": ("chest.png", _png_declaring(200_000, 10)),
    "tiny image": ("chest.png", _png(np.zeros((16, 16), np.uint8))),
    "animated PNG": ("chest.png", _animation()),
    "GIF": ("chest.gif", _other_format("GIF")),
    "BMP": ("chest.bmp", _other_format("BMP")),
    "TIFF": ("chest.tif", _other_format("TIFF")),
    "DICOM preamble then garbage": ("chest.dcm", DICM + b"\xff" * 400),
    "DICOM preamble only": ("chest.dcm", DICM),
    "random bytes": ("chest.dcm", np.random.default_rng(1).bytes(4096)),
    "null bytes": ("chest.png", b"\x00" * 100_000),
}


@pytest.mark.django_db
@pytest.mark.parametrize("kind", list(HOSTILE))
def test_it_refuses_each_hostile_file_clearly_and_stores_nothing(kind: str, client: Client) -> None:
    from django.contrib.auth.models import User

    from app.core.models import ClinicSettings
    from app.core.roles import RADIOGRAPHER, grant
    from tests.clinical_factories import PatientFactory

    ClinicSettings.objects.create(pk=1, clinic_name="Riverside Field Clinic")
    grant(User.objects.create_user("bob", password=PASSWORD), RADIOGRAPHER)
    client.login(username="bob", password=PASSWORD)
    patient = PatientFactory()
    name, content = HOSTILE[kind]
    before = sorted(p.name for p in settings.DATA_DIR.originals.iterdir())
    response = client.post(reverse("upload"), {"patient": patient.pk, "files": [SimpleUploadedFile(name, content)]})
    assert response.status_code == 200, kind
    text = response.content.decode()
    # An empty file is refused by the form itself, with Django's own clear words.
    expected = "The submitted file is empty" if not content else "Not stored:"
    assert expected in text, kind
    assert not Study.objects.exists()
    assert not Job.objects.exists()
    assert sorted(p.name for p in settings.DATA_DIR.originals.iterdir()) == before  # nothing stored, nothing left behind
