# scholarkg: the server with the bundled sample data, built and served with the
# README's commands (scripts/serve-sample.sh). Build: docker build -t scholarkg .
# Run: docker run -p 127.0.0.1:8000:8000 scholarkg   (or: docker compose up)
FROM python:3.11-slim-bookworm

WORKDIR /app
COPY pyproject.toml README.md ./
COPY kg kg
COPY server server
COPY ontology ontology
COPY examples examples
RUN python -m pip install --no-cache-dir -e . \
 && useradd --system --home-dir /app --shell /usr/sbin/nologin kg

# Every kg serve setting is also a KG_* variable (README, "Server settings").
ENV KG_STORE=/app/var/sample-store \
    KG_EXPORTS_DIR=/app/var/exports \
    KG_HOST=0.0.0.0 \
    KG_PORT=8000

# the graph from the bundled sample (captured on 2026-11-21) and its dumps
RUN SOURCE_DATE_EPOCH=1795262400 kg ingest examples/profiles --as-of 2026-11-21 --store "$KG_STORE" \
 && kg export --store "$KG_STORE" --out "$KG_EXPORTS_DIR" \
 && chown -R kg /app/var

USER kg
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s \
  CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"
CMD ["kg", "serve"]
