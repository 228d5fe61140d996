"""Where the graph lives: the embedded store (the only code that touches pyoxigraph),
its locks and releases, the engine boundary, remote engines and publishing into them."""
