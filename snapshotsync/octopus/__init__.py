"""Everything that knows the Octopus REST API: the client and the registry of kinds."""
