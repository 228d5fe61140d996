"""scholarkg: researcher profiles published as a scholarly knowledge graph.

The library (`kg`) never imports the web layer (`server`).
"""

__version__ = "0.1.0"
