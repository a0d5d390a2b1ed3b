"""Headless rendering shared by the TUI and the printers: ladder rows (`ladder`), render helpers
and the text frame (`render`), theme palette data (`palette`), and the text/ANSI/JSON/CSV
snapshot printers (`snapshot`). Nothing here imports the UI, the feeds or Textual."""
