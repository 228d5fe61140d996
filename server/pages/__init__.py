"""What people and linked-data clients read: entity pages and their RDF, the dataset
page, the query page, the dumps and the reconciliation service."""
