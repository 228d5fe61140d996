"""Records to RDF under the data-model contract: IRIs, vocabularies, identity keys,
identifiers, link sets, the single-value rules and migrations of older stores."""
