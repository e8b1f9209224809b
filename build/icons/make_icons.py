"""Draw the app icon (two lungs and a trachea on the app's dark panel colour): a PNG that is the
page favicon, the window icon and the Linux launcher icon, and an ICO for the Windows executable
and installer. Run once; the outputs are committed.

    python build/icons/make_icons.py
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

HERE = Path(__file__).resolve().parent
PNG = HERE.parent.parent / "ui" / "static" / "img" / "app-icon.png"
ICO = HERE / "cxr-workstation.ico"
SIZE = 512  # drawn large, scaled down for smoother edges
PANEL = (0x1D, 0x22, 0x29, 255)
LUNG = (0xD8, 0xDE, 0xE6, 255)
ACCENT = (0x4E, 0xA1, 0xFF, 255)


def draw() -> Image.Image:
    image = Image.new("RGBA", (SIZE, SIZE), (0, 0, 0, 0))
    d = ImageDraw.Draw(image)
    d.rounded_rectangle((16, 16, SIZE - 16, SIZE - 16), radius=96, fill=PANEL)
    # Lungs: two tall rounded shapes either side of the midline.
    d.rounded_rectangle((96, 150, 236, 430), radius=70, fill=LUNG)
    d.rounded_rectangle((276, 150, 416, 430), radius=70, fill=LUNG)
    # Trachea and main bronchi in the accent colour.
    d.rounded_rectangle((240, 70, 272, 250), radius=16, fill=ACCENT)
    d.line((256, 240, 200, 300), fill=ACCENT, width=28)
    d.line((256, 240, 312, 300), fill=ACCENT, width=28)
    return image


def main() -> None:
    image = draw()
    image.resize((256, 256), Image.LANCZOS).save(PNG)
    image.save(ICO, sizes=[(16, 16), (24, 24), (32, 32), (48, 48), (64, 64), (128, 128), (256, 256)])


if __name__ == "__main__":
    main()
