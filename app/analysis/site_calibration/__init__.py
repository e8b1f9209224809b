"""Site calibration: this clinic's profile of a model pack, fitted on its radiologists' signed
reads (fitting.py, no Django), kept and activated as versioned records (profiles.py, models.py),
proposed and activated from the administrator's page (views.py) or the command line
(__main__.py). Applying a profile is the engine's: app/inference/site_profile.py."""
