"""The run report page: runs/<run_id>/report.html, built from the JSON reports of that run's stages."""

from harvester.runreport.render import HTML_NAME, write_html_report

__all__ = ["HTML_NAME", "write_html_report"]
