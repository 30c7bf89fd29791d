"""HTML pages: Jinja2 templates, htmx and Alpine, vendored static assets, locales.

``install_web(app, settings)`` mounts the staff application (``/app``) and the citizen portal
(``/portal``) into the platform's FastAPI application; see docs/web.md.
"""

from senhealth.web.app import install_web

__all__ = ["install_web"]
