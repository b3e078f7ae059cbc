"""Every way a person reaches newsrag: the CLI, the web chat, the JSON API and the widget."""
