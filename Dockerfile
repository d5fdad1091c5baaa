# The rxtrace server as one image: everything installed at build time (Python packages, zbar,
# the Chinese font for charts and dossiers), so a container starts on a network with no
# package registry at all.
#   docker compose build && docker compose up -d
# The pages' browser libraries, from the npm registry at the pinned versions.
FROM node:20-bookworm-slim AS web
WORKDIR /src
COPY web/package.json web/package-lock.json web/
COPY scripts/web-assets scripts/
RUN mkdir -p api/web/static && scripts/web-assets

FROM python:3.11-slim-bookworm

RUN apt-get update \
 && apt-get install -y --no-install-recommends libzbar0 fonts-wqy-microhei \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --create-home --home-dir /home/rxtrace rxtrace \
 && mkdir /data && chown rxtrace /data

WORKDIR /src
COPY pyproject.toml README.md ./
COPY trace trace
COPY scanners scanners
COPY geo geo
COPY api api
COPY --from=web /src/api/web/static/vendor api/web/static/vendor
RUN pip install --no-cache-dir . && cd / && rm -rf /src \
 && rxtrace --help >/dev/null
COPY scripts/container-start /usr/local/bin/rxtrace-start

USER rxtrace
WORKDIR /data
ENV RXTRACE_DATA_DIR=/data MPLCONFIGDIR=/home/rxtrace/.matplotlib
VOLUME /data
EXPOSE 8000
# matplotlib lists the fonts once, here, not at the first chart.
RUN python -c "import matplotlib.font_manager"
ENTRYPOINT ["rxtrace-start"]
