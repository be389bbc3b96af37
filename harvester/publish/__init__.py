"""Publishing a pipeline's catalogue into CKAN: names, mapping, inventory, plan, writer, and the entry point."""

from harvester.publish.publisher import PublishReport, load_catalogue, publish_pipeline

__all__ = ["PublishReport", "load_catalogue", "publish_pipeline"]
