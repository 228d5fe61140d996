"""What leaves the graph: dumps and change sets, their sorting and compression, and the
writers of RDF terms, JSON-LD and query results in every format."""
