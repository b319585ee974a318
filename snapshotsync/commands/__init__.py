"""One module per command: each composes the stages and returns an `ExitCode`."""
