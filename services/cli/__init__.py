"""The `crm` command line: one module per command group, registered in `services.cli.main`."""
