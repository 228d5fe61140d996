"""The SPARQL services: the 1.1 Protocol endpoint, the Graph Store Protocol and the
service description, and what runs their operations: executor processes, caches, the
fair share of query time."""
