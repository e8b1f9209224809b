"""The inference engine: files in, consensus findings and heatmaps out. No Django here."""
