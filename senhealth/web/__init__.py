"""HTML pages: Jinja2 templates, htmx and Alpine, vendored static assets, locales."""
