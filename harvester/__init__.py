"""harvester: harvest French open-data portals into Parquet and publish them to CKAN."""

__version__ = "0.1.0"
USER_AGENT = f"harvester/{__version__} (+https://github.com/harvester-fr/harvester; open-data harvester)"
