"""The analysis app's records: site profiles (their home is app/analysis/site_calibration)."""

from app.analysis.site_calibration.models import SiteProfileRecord  # noqa: F401
