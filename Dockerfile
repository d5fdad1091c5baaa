# The rxtrace server as one image: everything installed at build time (Python packages, zbar,
# the Chinese font for charts and dossiers), so a container starts on a network with no
# package registry at all.
#   docker compose build && docker compose up -d
# Both stages start from plain Debian 12 and take everything else from Debian's archive, PyPI
# and the npm registry. A builder that cannot pull from Docker Hub makes that base from
# Debian's archive itself (scripts/docker-base) and passes it: --build-arg BASE=rxtrace-base/debian:bookworm
# A builder behind a proxy that inspects TLS passes the proxy's certificate authority, so that
# npm and pip trust it while building (a public certificate, not a secret; the running server
# fetches nothing): --build-arg EXTRA_CA="$(cat proxy-ca.crt)"
ARG BASE=debian:bookworm-slim
ARG EXTRA_CA=""

# The pages' browser libraries, from the npm registry at the pinned versions.
FROM ${BASE} AS web
ARG EXTRA_CA
RUN apt-get update \
 && apt-get install -y --no-install-recommends nodejs npm ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && if [ -n "$EXTRA_CA" ]; then printf '%s\n' "$EXTRA_CA" > /usr/local/share/ca-certificates/extra-ca.crt \
      && update-ca-certificates; fi
ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
WORKDIR /src
COPY web/package.json web/package-lock.json web/
COPY scripts/web-assets scripts/
RUN mkdir -p api/web/static && scripts/web-assets

FROM ${BASE}
ARG EXTRA_CA
# Debian's Python 3.11 in a virtual environment of its own (Debian's pip refuses to install
# into the system's Python).
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv libzbar0 fonts-wqy-microhei ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && if [ -n "$EXTRA_CA" ]; then printf '%s\n' "$EXTRA_CA" > /usr/local/share/ca-certificates/extra-ca.crt \
      && update-ca-certificates; fi \
 && useradd --system --create-home --home-dir /home/rxtrace rxtrace \
 && mkdir /data && chown rxtrace /data \
 && python3 -m venv /opt/rxtrace
ENV PATH=/opt/rxtrace/bin:$PATH

WORKDIR /src
# The dependencies (and what builds rxtrace) first, as pyproject.toml lists them, in a layer of
# their own: a change to rxtrace's code then rebuilds only the small layer below, offline.
COPY pyproject.toml README.md ./
RUN python3 -c 'import tomllib; p = tomllib.load(open("pyproject.toml", "rb")); \
print("\n".join(p["build-system"]["requires"] + p["project"]["dependencies"]))' > /tmp/requirements.txt \
 && PIP_CERT=/etc/ssl/certs/ca-certificates.crt pip install --no-cache-dir -r /tmp/requirements.txt
COPY trace trace
COPY scanners scanners
COPY geo geo
COPY api api
COPY --from=web /src/api/web/static/vendor api/web/static/vendor
RUN pip install --no-cache-dir --no-deps --no-index --no-build-isolation . && cd / && rm -rf /src \
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
