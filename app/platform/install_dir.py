"""Where the (read-only) install folder is: the repository in development, sys._MEIPASS in a bundle.

Kept free of heavy imports: settings and the launcher read it before anything else loads.
"""

from __future__ import annotations

import sys
from pathlib import Path

INSTALL_DIR = Path(getattr(sys, "_MEIPASS", Path(__file__).resolve().parents[2]))
BUNDLED_MODELS_DIR = INSTALL_DIR / "bundled_models"
UI_DIR = INSTALL_DIR / "ui"
