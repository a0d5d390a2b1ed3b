"""The commands: one module per command (`tui`, `snapshot`, `record`, `calibrate`, `store`,
`convert_bars`).

Each has a typed options object built from the parsed flags and the settings in one place
(`<Command>Options.from_args(args, settings)`) and `run(options, settings) -> int` (the exit
status). `liqtui.cli` builds the parser and dispatches. Only `tui` imports Textual (lazily).
"""
