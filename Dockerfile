# The auditor as a container image: collects under --root /host (the host's / mounted read-only),
# evaluates, writes evidence, results and HTML into /reports. No shell at run time: the runtime
# stage is distroless (Python and its libraries only); the entry point is exec form.
#
# Published image (see README "Whole cluster"):
#   docker build -t auditor:0.1.0 .            # after `python3 -m pip wheel --no-deps -w dist .`
# builds FROM python:3.11-slim-bookworm (pip installs the wheel and its dependencies into
# /opt/auditor) and runs on gcr.io/distroless/python3-debian12:nonroot (the same Python 3.11 and
# glibc). The tests build it here FROM images made by `docker import` (nothing can be pulled),
# with PIP_OPTIONS="--no-deps" because their Python already holds the dependencies.
ARG BUILD_BASE=python:3.11-slim-bookworm
ARG RUNTIME_BASE=gcr.io/distroless/python3-debian12:nonroot

FROM ${BUILD_BASE} AS build
ARG PIP_OPTIONS=""
COPY dist/ /tmp/dist/
RUN python3 -m pip install --no-cache-dir --no-compile --disable-pip-version-check --target /opt/auditor \
        ${PIP_OPTIONS} /tmp/dist/auditor-*.whl \
    && mkdir -p /reports && chown 65532:65532 /reports

FROM ${RUNTIME_BASE}
COPY --from=build /opt/auditor /opt/auditor
COPY --from=build --chown=65532:65532 /reports /reports
# PDF reports need Pango and Cairo, which the distroless runtime does not carry: the image writes
# evidence, results and HTML; `auditor report RESULTS.json --format pdf` renders the PDF elsewhere.
ENV PYTHONPATH=/opt/auditor \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    AUDITOR_NO_PDF=1
WORKDIR /reports
# Non-root by default; the node collector's Job runs as root only because the host files CIS
# names are root-only (mode 0600) and /proc/PID/environ of root processes needs it.
USER 65532:65532
ENTRYPOINT ["python3", "-m", "auditor"]
CMD ["--help"]
