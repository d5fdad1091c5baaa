# The rxtrace server as one image: everything installed at build time (Python packages, zbar,
# the Chinese font for charts and dossiers), so a container starts on a network with no
# package registry at all.
#   docker compose build && docker compose up -d
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
