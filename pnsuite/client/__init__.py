"""PeopleNet requests: the gRPC client, shared-memory regions and load patterns."""
