"""The web console at /app: server-rendered pages (Jinja2, htmx only enhancing plain links and
forms) over the same application, read models, role rules and masking as the HTTP API, called in
process. `services.console.app.install_console` mounts it on the API's app."""
