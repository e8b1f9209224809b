"""Reading radiographs by content: every format variant, and a clear refusal for every bad file."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.uid import MPEG2MPML, ExplicitVRLittleEndian, JPEG2000Lossless, RLELossless

from app.inference.errors import InputError
from app.inference.io.files import load_image
from tests.shared_data import DICOM_MONO1, DICOM_MONO2, requires_shared


def gradient(height: int = 200, width: int = 160) -> np.ndarray:
    yy, xx = np.mgrid[0:height, 0:width]
    return ((xx + yy) / (height + width - 2)).astype(np.float64)


def save(tmp_path: Path, name: str, image: Image.Image, **kwargs) -> Path:
    path = tmp_path / name
    image.save(path, **kwargs)
    return path


# -- PNG and JPEG variants --------------------------------------------------------------------


def test_it_reads_8_bit_grayscale_png(tmp_path: Path) -> None:
    values = np.round(gradient() * 255).astype(np.uint8)
    image = load_image(save(tmp_path, "g.png", Image.fromarray(values)))
    assert image.source_format == "png"
    assert image.pixels.shape == (200, 160)
    assert image.pixels.dtype == np.float32
    np.testing.assert_allclose(image.pixels, values / 255.0, atol=1e-6)


def test_it_stretches_16_bit_png_to_its_own_range(tmp_path: Path) -> None:
    values = np.round(gradient() * 4095).astype(np.uint16)  # 12-bit detector data in a 16-bit PNG
    image = load_image(save(tmp_path, "g16.png", Image.fromarray(values)))
    assert image.bits == 16
    assert image.pixels.min() == 0.0 and image.pixels.max() == 1.0
    assert any("16-bit" in note for note in image.notes)


def test_it_reads_rgb_rgba_palette_and_cmyk(tmp_path: Path) -> None:
    gray = Image.fromarray(np.round(gradient() * 255).astype(np.uint8))
    for name, img, kwargs in [
        ("rgb.png", gray.convert("RGB"), {}),
        ("rgba.png", gray.convert("RGBA"), {}),
        ("palette.png", gray.convert("P"), {}),
        ("cmyk.jpg", gray.convert("CMYK"), {"quality": 95}),
        ("rgb.jpg", gray.convert("RGB"), {"quality": 95}),
    ]:
        image = load_image(save(tmp_path, name, img, **kwargs))
        assert image.pixels.shape == (200, 160), name
        assert image.colourfulness < 0.02, name
        np.testing.assert_allclose(image.pixels.mean(), 0.5, atol=0.05, err_msg=name)


def test_it_measures_colour(tmp_path: Path) -> None:
    rgb = np.zeros((100, 100, 3), np.uint8)
    rgb[..., 0] = 255
    image = load_image(save(tmp_path, "red.png", Image.fromarray(rgb)))
    assert image.colourfulness > 0.9


def test_it_applies_exif_orientation(tmp_path: Path) -> None:
    values = np.zeros((100, 200), np.uint8)
    values[:, :20] = 255  # bright band on the left
    img = Image.fromarray(values)
    exif = img.getexif()
    exif[0x0112] = 6  # stored rotated: display needs a 90° clockwise turn
    path = save(tmp_path, "exif.jpg", img, exif=exif, quality=95)
    image = load_image(path)
    assert image.pixels.shape == (200, 100)
    assert image.pixels[:20].mean() > 0.8  # the band is now at the top
    assert any("EXIF" in note for note in image.notes)


def test_it_reads_by_content_not_extension(tmp_path: Path) -> None:
    values = np.round(gradient() * 255).astype(np.uint8)
    path = save(tmp_path, "really-a-jpeg.png", Image.fromarray(values), format="JPEG")
    assert load_image(path).source_format == "jpeg"


# -- hostile and broken files -----------------------------------------------------------------


def test_it_refuses_an_empty_file(tmp_path: Path) -> None:
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        load_image(tmp_path / "empty.png")


def test_it_refuses_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot be opened"):
        load_image(tmp_path / "nope.png")


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_it_refuses_a_truncated_file(tmp_path: Path, fmt: str) -> None:
    noise = np.random.default_rng(0).integers(0, 255, (400, 400), dtype=np.uint8)
    path = save(tmp_path, "full", Image.fromarray(noise), format=fmt)
    data = path.read_bytes()
    (tmp_path / "cut").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="truncated or damaged"):
        load_image(tmp_path / "cut")


def test_it_names_what_a_non_image_is(tmp_path: Path) -> None:
    (tmp_path / "report.png").write_bytes(b"%PDF-1.7\n" + b"x" * 500)
    with pytest.raises(InputError, match="PDF document"):
        load_image(tmp_path / "report.png")
    (tmp_path / "page.jpg").write_bytes(b"<html><body>hello</body></html>" * 10)
    with pytest.raises(InputError, match="text/HTML"):
        load_image(tmp_path / "page.jpg")


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares the given size but carries one tiny compressed row: a bomb's shape."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_it_refuses_a_decompression_bomb(tmp_path: Path) -> None:
    (tmp_path / "bomb.png").write_bytes(png_header_only(50_000, 50_000))
    with pytest.raises(InputError, match="decompression bomb"):
        load_image(tmp_path / "bomb.png")


def test_it_refuses_an_enormously_wide_image(tmp_path: Path) -> None:
    (tmp_path / "wide.png").write_bytes(png_header_only(200_000, 10))
    with pytest.raises(InputError, match="larger than any radiograph"):
        load_image(tmp_path / "wide.png")


def test_it_refuses_a_tiny_image(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="too small"):
        load_image(save(tmp_path, "icon.png", Image.new("L", (16, 16))))


def test_it_refuses_an_animation(tmp_path: Path) -> None:
    frames = [Image.new("L", (100, 100), v) for v in (0, 128)]
    path = tmp_path / "anim.png"
    frames[0].save(path, save_all=True, append_images=frames[1:])
    with pytest.raises(InputError, match="several images"):
        load_image(path)


# -- DICOM ------------------------------------------------------------------------------------


@requires_shared
def test_real_dicoms_decode_identically_apart_from_monochrome1() -> None:
    mono2 = load_image(DICOM_MONO2)
    mono1 = load_image(DICOM_MONO1)
    assert mono2.pixels.shape == (1024, 1024)
    np.testing.assert_allclose(mono2.pixels, 1.0 - mono1.pixels, atol=1e-6)
    assert any("MONOCHROME1" in note for note in mono1.notes)
    assert mono2.metadata["modality"] == "CR"
    assert mono2.metadata["body_part"] == "CHEST"
    assert mono2.metadata["view_position"] == "PA"
    assert mono2.metadata["patient_id"]
    assert mono2.metadata["study_instance_uid"]


def make_dicom(tmp_path: Path, pixels: np.ndarray, **tags) -> Path:
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import generate_uid

    meta = FileMetaDataset()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"  # Digital X-Ray Image
    meta.MediaStorageSOPInstanceUID = generate_uid()
    ds = pydicom.Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "DX"
    ds.PatientID = "P-001"
    ds.PatientName = "Doe^Jane"
    ds.Rows, ds.Columns = pixels.shape[-2:]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    for key, value in tags.items():
        setattr(ds, key, value)
    ds.PixelData = pixels.astype(np.uint16).tobytes()
    path = tmp_path / f"{generate_uid()}.dcm"
    ds.save_as(path, enforce_file_format=True)
    return path


def test_it_applies_rescale_and_window(tmp_path: Path) -> None:
    raw = np.round(gradient() * 4095).astype(np.uint16)
    plain = load_image(make_dicom(tmp_path, raw))
    np.testing.assert_allclose(plain.pixels, raw / 4095.0, atol=1e-5)
    windowed = load_image(make_dicom(tmp_path, raw, WindowCenter=1024, WindowWidth=1024, RescaleSlope=1, RescaleIntercept=0))
    assert any("VOI" in note for note in windowed.notes)
    assert windowed.pixels[raw < 400].max() == 0.0  # below the window: black
    assert windowed.pixels[raw > 1700].min() == 1.0  # above it: white
    assert plain.metadata["patient_name"] == "Doe Jane"


def test_it_decodes_compressed_transfer_syntaxes_identically(tmp_path: Path) -> None:
    raw = np.round(gradient() * 4095).astype(np.uint16)
    reference = load_image(make_dicom(tmp_path, raw)).pixels
    for syntax in (RLELossless, JPEG2000Lossless):
        ds = pydicom.dcmread(make_dicom(tmp_path, raw))
        ds.compress(syntax)
        path = tmp_path / f"compressed-{syntax.name}.dcm"
        ds.save_as(path)
        np.testing.assert_allclose(load_image(path).pixels, reference, atol=1e-6, err_msg=syntax.name)


def test_it_explains_a_transfer_syntax_without_decoder(tmp_path: Path) -> None:
    from pydicom.encaps import encapsulate

    raw = np.round(gradient() * 4095).astype(np.uint16)
    ds = pydicom.dcmread(make_dicom(tmp_path, raw))
    ds.file_meta.TransferSyntaxUID = MPEG2MPML  # a compressed syntax no installed decoder handles
    ds.PixelData = encapsulate([b"\xff\x0a" + b"\x00" * 64])
    ds["PixelData"].is_undefined_length = True
    path = tmp_path / "jxl.dcm"
    ds.save_as(path)
    with pytest.raises(InputError, match="no decoder for it is installed"):
        load_image(path)


def test_it_refuses_dicom_without_pixel_data(tmp_path: Path) -> None:
    path = make_dicom(tmp_path, np.zeros((100, 100)))
    ds = pydicom.dcmread(path)
    del ds.PixelData
    ds.save_as(path)
    with pytest.raises(InputError, match="contains no image"):
        load_image(path)


def test_it_refuses_multi_frame_dicom(tmp_path: Path) -> None:
    frames = np.zeros((3, 100, 100), np.uint16)
    path = make_dicom(tmp_path, frames, NumberOfFrames=3)
    with pytest.raises(InputError, match="3 frames"):
        load_image(path)


def test_it_refuses_a_ct_slice_by_its_modality(tmp_path: Path) -> None:
    path = make_dicom(tmp_path, np.zeros((100, 100)), Modality="CT")
    with pytest.raises(InputError, match="CT image"):
        load_image(path)


def test_it_refuses_a_truncated_dicom(tmp_path: Path) -> None:
    path = make_dicom(tmp_path, np.round(gradient(400, 400) * 4095))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(InputError, match="damaged|incomplete|truncated"):
        load_image(path)


def test_it_refuses_absurd_dicom_dimensions_before_decoding(tmp_path: Path) -> None:
    path = make_dicom(tmp_path, np.zeros((10, 10)))
    ds = pydicom.dcmread(path)
    ds.Rows, ds.Columns = 60000, 60000
    ds.save_as(path)
    with pytest.raises(InputError, match="larger than any radiograph"):
        load_image(path)
